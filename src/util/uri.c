/* RFC 7512 PKCS#11 URIs. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "p11enroll/uri.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes [s, s+len) into a malloc'd buffer; NULL on bad encoding. */
static unsigned char *pct_decode(const char *s, size_t len, size_t *out_len)
{
	unsigned char *out = malloc(len + 1);
	size_t n = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[n++] = (unsigned char)s[i];
			continue;
		}
		int hi = i + 1 < len ? hexval((unsigned char)s[i + 1]) : -1;
		int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[n++] = (unsigned char)(hi << 4 | lo);
		i += 2;
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* Where a string attribute goes in the struct, by name. */
static char **string_slot(p11e_uri *u, const char *name, int query)
{
	if (!query) {
		if (strcmp(name, "token") == 0)
			return &u->token;
		if (strcmp(name, "serial") == 0)
			return &u->serial;
		if (strcmp(name, "manufacturer") == 0)
			return &u->manufacturer;
		if (strcmp(name, "model") == 0)
			return &u->model;
		if (strcmp(name, "object") == 0)
			return &u->object;
		if (strcmp(name, "type") == 0)
			return &u->type;
	} else {
		if (strcmp(name, "module-path") == 0)
			return &u->module_path;
		if (strcmp(name, "pin-source") == 0)
			return &u->pin_source;
	}
	return NULL;
}

static int ignored(const char *name, int query)
{
	static const char *const path_ignored[] = {"library-manufacturer", "library-description",
						   "library-version", NULL};
	if (query)
		return strcmp(name, "module-name") == 0;
	for (size_t i = 0; path_ignored[i] != NULL; i++)
		if (strcmp(name, path_ignored[i]) == 0)
			return 1;
	return 0;
}

static p11e_rc attribute(p11e_uri *u, const char *attr, size_t len, int query, p11e_err *err)
{
	const char *eq = memchr(attr, '=', len);
	char name[32];
	size_t nlen, vlen;
	unsigned char *value = NULL;
	char **slot;

	if (len == 0)
		return P11E_OK;
	if (eq == NULL)
		return p11e_errf(err, P11E_USAGE, "URI: attribute '%.*s' has no '='",
				 (int)(len > 40 ? 40 : len), attr);
	nlen = (size_t)(eq - attr);
	if (nlen == 0 || nlen >= sizeof(name))
		return p11e_errf(err, P11E_USAGE, "URI: bad attribute name '%.*s'",
				 (int)(nlen > 40 ? 40 : nlen), attr);
	memcpy(name, attr, nlen);
	name[nlen] = '\0';
	if (strcmp(name, "pin-value") == 0)
		return p11e_errf(err, P11E_USAGE,
				 "URI: pin-value is refused: a PIN in a URI ends up in shell "
				 "history; use pin-source");
	if (!query && strncmp(name, "slot-", 5) == 0)
		return p11e_errf(
		    err, P11E_USAGE,
		    "URI: %s is not supported: select tokens by token label or serial, "
		    "slot numbers change",
		    name);
	if (ignored(name, query))
		return P11E_OK;
	value = pct_decode(eq + 1, len - nlen - 1, &vlen);
	if (value == NULL)
		return p11e_errf(err, P11E_USAGE, "URI: bad percent-encoding in '%s'", name);
	if (!query && strcmp(name, "id") == 0) {
		if (u->has_id) {
			free(value);
			return p11e_errf(err, P11E_USAGE, "URI: attribute 'id' appears twice");
		}
		if (vlen == 0 || vlen > P11E_ID_MAX) {
			free(value);
			return p11e_errf(err, P11E_USAGE, "URI: id must be 1 to %d bytes",
					 P11E_ID_MAX);
		}
		memcpy(u->id, value, vlen);
		u->id_len = vlen;
		u->has_id = 1;
		free(value);
		return P11E_OK;
	}
	slot = string_slot(u, name, query);
	if (slot == NULL) {
		free(value);
		return p11e_errf(err, P11E_USAGE, "URI: unknown attribute '%s'", name);
	}
	if (*slot != NULL) {
		free(value);
		return p11e_errf(err, P11E_USAGE, "URI: attribute '%s' appears twice", name);
	}
	if (strlen((char *)value) != vlen) {
		free(value);
		return p11e_errf(err, P11E_USAGE, "URI: '%s' contains a NUL byte", name);
	}
	*slot = (char *)value;
	if (slot == &u->type && strcmp(u->type, "private") != 0 && strcmp(u->type, "public") != 0 &&
	    strcmp(u->type, "cert") != 0 && strcmp(u->type, "secret-key") != 0 &&
	    strcmp(u->type, "data") != 0)
		return p11e_errf(err, P11E_USAGE,
				 "URI: type must be private, public, cert, secret-key or data");
	return P11E_OK;
}

p11e_rc p11e_uri_parse(const char *text, p11e_uri *out, p11e_err *err)
{
	const char *p, *query;
	p11e_rc rc = P11E_OK;

	memset(out, 0, sizeof(*out));
	if (text == NULL || strncasecmp(text, "pkcs11:", 7) != 0)
		return p11e_errf(err, P11E_USAGE,
				 "URI: a token is selected by a PKCS#11 URI such as "
				 "pkcs11:token=NAME");
	p = text + 7;
	query = strchr(p, '?');
	for (const char *end = query ? query : p + strlen(p); rc == P11E_OK && p < end;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi ? semi : end;
		rc = attribute(out, p, (size_t)(stop - p), 0, err);
		p = stop + 1;
	}
	if (rc == P11E_OK && query != NULL) {
		for (p = query + 1; rc == P11E_OK && *p;) {
			const char *amp = strchr(p, '&');
			const char *stop = amp ? amp : p + strlen(p);
			rc = attribute(out, p, (size_t)(stop - p), 1, err);
			p = *stop ? stop + 1 : stop;
		}
	}
	if (rc != P11E_OK)
		p11e_uri_clear(out);
	return rc;
}

void p11e_uri_clear(p11e_uri *u)
{
	free(u->token);
	free(u->serial);
	free(u->manufacturer);
	free(u->model);
	free(u->object);
	free(u->type);
	free(u->module_path);
	free(u->pin_source);
	memset(u, 0, sizeof(*u));
}

/* RFC 7512 pchar without the separators ';' '?' '&' '/' and '%'. */
static int plain(unsigned char c)
{
	return isalnum(c) || strchr("-._~:[]@!$'()*+,=", c) != NULL;
}

static size_t put(char *out, size_t at, const char *name, const unsigned char *v, size_t len,
		  int always_pct)
{
	static const char digits[] = "0123456789ABCDEF";

	if (out != NULL) {
		if (at > 7)
			out[at] = ';';
		memcpy(out + at + (at > 7), name, strlen(name));
		out[at + (at > 7) + strlen(name)] = '=';
	}
	at += (at > 7) + strlen(name) + 1;
	for (size_t i = 0; i < len; i++) {
		if (!always_pct && plain(v[i])) {
			if (out != NULL)
				out[at] = (char)v[i];
			at++;
		} else {
			if (out != NULL) {
				out[at] = '%';
				out[at + 1] = digits[v[i] >> 4];
				out[at + 2] = digits[v[i] & 0xf];
			}
			at += 3;
		}
	}
	return at;
}

static size_t format(char *out, const char *token, const char *manufacturer, const char *serial,
		     const char *model, const unsigned char *id, size_t id_len, const char *type)
{
	size_t at = 7;

	if (out != NULL)
		memcpy(out, "pkcs11:", 7);
	if (model != NULL)
		at = put(out, at, "model", (const unsigned char *)model, strlen(model), 0);
	if (manufacturer != NULL)
		at = put(out, at, "manufacturer", (const unsigned char *)manufacturer,
			 strlen(manufacturer), 0);
	if (serial != NULL)
		at = put(out, at, "serial", (const unsigned char *)serial, strlen(serial), 0);
	if (token != NULL)
		at = put(out, at, "token", (const unsigned char *)token, strlen(token), 0);
	if (id != NULL && id_len > 0)
		at = put(out, at, "id", id, id_len, 1);
	if (type != NULL)
		at = put(out, at, "type", (const unsigned char *)type, strlen(type), 0);
	if (out != NULL)
		out[at] = '\0';
	return at;
}

char *p11e_uri_format(const char *token, const char *manufacturer, const char *serial,
		      const char *model, const unsigned char *id, size_t id_len, const char *type)
{
	size_t len = format(NULL, token, manufacturer, serial, model, id, id_len, type);
	char *out = malloc(len + 1);

	if (out != NULL)
		format(out, token, manufacturer, serial, model, id, id_len, type);
	return out;
}
