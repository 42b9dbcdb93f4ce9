/* RFC 7512 PKCS#11 URIs: "pkcs11:" path-attributes ['?' query-attributes],
 * path attributes separated by ';', query attributes by '&'. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "p11enroll/uri.h"
#include "p11enroll/util.h"

typedef enum attr_kind {
	A_STRING,    /* a percent-decoded string stored at offset */
	A_ID,	     /* bytes into id/id_len */
	A_IGNORED,   /* valid, but nothing here uses it */
	A_SLOT,	     /* refused: slot numbers are not stable */
	A_PIN_VALUE, /* refused: a PIN in a URI ends up in shell history */
} attr_kind;

typedef struct attr_def {
	const char *name;
	int query; /* 1: after '?' */
	attr_kind kind;
	size_t offset; /* A_STRING: where the char * lives in p11e_uri */
} attr_def;

static const attr_def attrs[] = {
    {"token", 0, A_STRING, offsetof(p11e_uri, token)},
    {"serial", 0, A_STRING, offsetof(p11e_uri, serial)},
    {"manufacturer", 0, A_STRING, offsetof(p11e_uri, manufacturer)},
    {"model", 0, A_STRING, offsetof(p11e_uri, model)},
    {"object", 0, A_STRING, offsetof(p11e_uri, object)},
    {"type", 0, A_STRING, offsetof(p11e_uri, type)},
    {"id", 0, A_ID, 0},
    {"library-manufacturer", 0, A_IGNORED, 0},
    {"library-description", 0, A_IGNORED, 0},
    {"library-version", 0, A_IGNORED, 0},
    {"slot-id", 0, A_SLOT, 0},
    {"slot-description", 0, A_SLOT, 0},
    {"slot-manufacturer", 0, A_SLOT, 0},
    {"module-path", 1, A_STRING, offsetof(p11e_uri, module_path)},
    {"pin-source", 1, A_STRING, offsetof(p11e_uri, pin_source)},
    {"module-name", 1, A_STRING, offsetof(p11e_uri, module_name)},
    {"pin-value", 1, A_PIN_VALUE, 0},
};
#define NATTRS (sizeof(attrs) / sizeof(attrs[0]))
_Static_assert(NATTRS <= 32, "a uint32_t tracks which attributes were seen");

static const char *const types[] = {"private", "public", "cert", "secret-key", "data", NULL};

/* Percent-decodes [s, s+len) into a malloc'd, NUL-terminated buffer. NULL
 * with *bad set on bad encoding, without it when out of memory. */
static unsigned char *pct_decode(const char *s, size_t len, size_t *out_len, int *bad)
{
	unsigned char *out = malloc(len + 1);
	size_t n = 0;

	*bad = 0;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[n++] = (unsigned char)s[i];
			continue;
		}
		int hi = i + 1 < len ? p11e_hex_digit((unsigned char)s[i + 1]) : -1;
		int lo = i + 2 < len ? p11e_hex_digit((unsigned char)s[i + 2]) : -1;
		if (hi < 0 || lo < 0) {
			free(out);
			*bad = 1;
			return NULL;
		}
		out[n++] = (unsigned char)(hi << 4 | lo);
		i += 2;
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

static const attr_def *lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < NATTRS; i++)
		if (strlen(attrs[i].name) == len && memcmp(attrs[i].name, name, len) == 0)
			return &attrs[i];
	return NULL;
}

/* Shown in messages: an attribute name, cut short. A URI is not a secret
 * (pin-value is refused by name, its value never shown). */
#define NAME_SHOWN(len) ((int)((len) > 40 ? 40 : (len)))

/* One "name=value" of the path (query == 0) or the query. *seen has a bit
 * per attrs[] entry, so a repeated attribute is caught. */
static p11e_rc attribute(p11e_uri *u, const char *attr, size_t len, int query, uint32_t *seen,
			 p11e_err *err)
{
	const char *eq = memchr(attr, '=', len);
	const attr_def *def;
	unsigned char *value = NULL;
	size_t nlen, vlen = 0;
	int bad;
	p11e_rc rc = P11E_OK;

	/* "pkcs11:token=a;" and "?&x=y" have empty attributes: harmless. */
	if (len == 0)
		return P11E_OK;
	if (eq == NULL)
		return p11e_errf(err, P11E_USAGE, "URI: attribute '%.*s' has no '=' (name=value)",
				 NAME_SHOWN(len), attr);
	nlen = (size_t)(eq - attr);
	def = lookup(attr, nlen);
	if (def == NULL)
		return p11e_errf(err, P11E_USAGE, "URI: unknown attribute '%.*s'", NAME_SHOWN(nlen),
				 attr);
	if (def->kind == A_PIN_VALUE)
		return p11e_errf(err, P11E_USAGE,
				 "URI: pin-value is refused: a PIN in a URI ends up in shell "
				 "history; use pin-source");
	if (def->kind == A_SLOT)
		return p11e_errf(
		    err, P11E_USAGE,
		    "URI: %s is not supported: select tokens by token label or serial, "
		    "slot numbers change",
		    def->name);
	if (def->query != query)
		return p11e_errf(err, P11E_USAGE, "URI: '%s' belongs %s", def->name,
				 def->query ? "in the query, after '?'"
					    : "in the path, before '?'");
	if (*seen & (UINT32_C(1) << (def - attrs)))
		return p11e_errf(err, P11E_USAGE, "URI: attribute '%s' appears twice", def->name);
	*seen |= UINT32_C(1) << (def - attrs);
	if (def->kind == A_IGNORED)
		return P11E_OK;
	value = pct_decode(eq + 1, len - nlen - 1, &vlen, &bad);
	if (value == NULL)
		return p11e_errf(err, bad ? P11E_USAGE : P11E_FAIL,
				 bad ? "URI: bad percent-encoding in '%s' (use %%XX)"
				     : "URI: out of memory reading '%s'",
				 def->name);
	if (def->kind == A_ID) {
		/* An empty id would select objects without one: never what is meant. */
		if (vlen == 0 || vlen > P11E_ID_MAX) {
			rc = p11e_errf(err, P11E_USAGE, "URI: id must be 1 to %d bytes",
				       P11E_ID_MAX);
			goto out;
		}
		memcpy(u->id, value, vlen);
		u->id_len = vlen;
		u->has_id = 1;
		goto out;
	}
	/* Labels and paths are C strings: a %00 would silently cut them. */
	if (strlen((char *)value) != vlen) {
		rc = p11e_errf(err, P11E_USAGE, "URI: '%s' contains a NUL byte (%%00)", def->name);
		goto out;
	}
	if (strcmp(def->name, "type") == 0) {
		size_t i;
		for (i = 0; types[i] != NULL && strcmp(types[i], (char *)value) != 0; i++)
			;
		if (types[i] == NULL) {
			rc = p11e_errf(err, P11E_USAGE,
				       "URI: type must be private, public, cert, secret-key or "
				       "data");
			goto out;
		}
	}
	*(char **)((char *)u + def->offset) = (char *)value;
	value = NULL;
out:
	free(value);
	return rc;
}

p11e_rc p11e_uri_parse(const char *text, p11e_uri *out, p11e_err *err)
{
	const char *p, *query, *end;
	uint32_t seen = 0;
	p11e_rc rc = P11E_OK;

	memset(out, 0, sizeof(*out));
	if (text == NULL || strncasecmp(text, "pkcs11:", 7) != 0)
		return p11e_errf(err, P11E_USAGE,
				 "URI: a token is selected by a PKCS#11 URI such as "
				 "pkcs11:token=NAME");
	p = text + 7;
	query = strchr(p, '?');
	end = query ? query : p + strlen(p);
	while (rc == P11E_OK && p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi ? semi : end;
		rc = attribute(out, p, (size_t)(stop - p), 0, &seen, err);
		p = stop + 1;
	}
	if (query != NULL) {
		p = query + 1;
		while (rc == P11E_OK && *p != '\0') {
			const char *amp = strchr(p, '&');
			const char *stop = amp ? amp : p + strlen(p);
			rc = attribute(out, p, (size_t)(stop - p), 1, &seen, err);
			p = *stop ? stop + 1 : stop;
		}
	}
	if (rc != P11E_OK)
		p11e_uri_clear(out);
	return rc;
}

void p11e_uri_clear(p11e_uri *u)
{
	if (u == NULL)
		return;
	free(u->token);
	free(u->serial);
	free(u->manufacturer);
	free(u->model);
	free(u->object);
	free(u->type);
	free(u->module_path);
	free(u->module_name);
	free(u->pin_source);
	memset(u, 0, sizeof(*u));
}

/* RFC 7512 pk11-pchar for path values: unreserved and
 * ":[]@!$'()*+,=&"; ';', '?', '/', '%' and all else are %XX. */
static int plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-._~:[]@!$'()*+,=&", c) != NULL);
}

/* Appends ";name=value" (no ';' first) at out+at, or only counts when out is
 * NULL, so one function both sizes and fills the buffer. */
static size_t put(char *out, size_t at, const char *name, const unsigned char *v, size_t len,
		  int always_pct)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t nl = strlen(name);
	int sep = at > 7; /* after "pkcs11:" */

	if (out != NULL) {
		if (sep)
			out[at] = ';';
		memcpy(out + at + sep, name, nl);
		out[at + sep + nl] = '=';
	}
	at += (size_t)sep + nl + 1;
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

static size_t put_str(char *out, size_t at, const char *name, const char *v)
{
	return v == NULL ? at : put(out, at, name, (const unsigned char *)v, strlen(v), 0);
}

static size_t format(char *out, const char *token, const char *manufacturer, const char *serial,
		     const char *model, const unsigned char *id, size_t id_len, const char *type)
{
	size_t at = 7;

	if (out != NULL)
		memcpy(out, "pkcs11:", 7);
	/* The order p11tool and p11-kit print, so URIs compare by eye. */
	at = put_str(out, at, "model", model);
	at = put_str(out, at, "manufacturer", manufacturer);
	at = put_str(out, at, "serial", serial);
	at = put_str(out, at, "token", token);
	/* id bytes are always %XX: they are binary, and "%41" reads as a byte
	 * where "A" might read as a character. */
	if (id != NULL && id_len > 0)
		at = put(out, at, "id", id, id_len, 1);
	at = put_str(out, at, "type", type);
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
