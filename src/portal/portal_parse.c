/* The portal's request parsers: every byte here comes from a network peer,
 * so each function bounds its input and output and gives a verdict for
 * anything (fuzzed by tests/fuzz/fuzz_portal_*.c). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "p11enroll/conf.h"
#include "p11enroll/portal.h"
#include "p11enroll/util.h"

/* Percent-decodes len bytes into out (cap with the NUL); plus_space: '+' is
 * a space (forms). -1 on a bad escape, a NUL, or no room. */
static int url_decode(const char *in, size_t len, int plus_space, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				return -1;
			hi = p11e_hex_digit((unsigned char)in[i + 1]);
			lo = p11e_hex_digit((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == 0 || o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* An identity from a URL: one segment of the raw path, split on '/' before
 * it is decoded, so "%2F" is part of the identity (an address may hold a
 * '/'); decoded, non-empty, no control character. */
static int identity_segment(const char *seg, size_t len, char *id)
{
	if (len == 0 || url_decode(seg, len, 0, id, P11E_PORTAL_ID_MAX) != 0 || id[0] == '\0')
		return -1;
	for (const char *c = id; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -1;
	return 0;
}

/* /cards/SERIAL/lost and /api/v1/cards/SERIAL/lost (the serial's syntax is
 * checked where it is used: p11e_card_serial_check). */
static p11e_portal_route card_route(const char *path, char *id)
{
	int is_api = path[1] == 'a';
	const char *rest = path + (is_api ? 14 : 7), *slash = strchr(rest, '/');

	if (slash == NULL || strcmp(slash, "/lost") != 0 ||
	    identity_segment(rest, (size_t)(slash - rest), id) != 0) {
		id[0] = '\0';
		return P11E_ROUTE_NONE;
	}
	return is_api ? P11E_ROUTE_CARD_LOST : P11E_ROUTE_PAGE_LOST;
}

p11e_portal_route p11e_portal_route_parse(const char *path, char *id)
{
	static const char api[] = "/api/v1/identities/", page[] = "/identities/";
	const char *rest, *slash;
	int is_api;

	id[0] = '\0';
	if (path == NULL)
		return P11E_ROUTE_NONE;
	if (strcmp(path, "/") == 0)
		return P11E_ROUTE_PAGE_HOME;
	if (strcmp(path, "/signin") == 0)
		return P11E_ROUTE_PAGE_SIGNIN;
	if (strcmp(path, "/signout") == 0)
		return P11E_ROUTE_PAGE_SIGNOUT;
	if (strcmp(path, "/identities") == 0)
		return P11E_ROUTE_PAGE_REQUEST;
	if (strcmp(path, "/ca-chain.pem") == 0)
		return P11E_ROUTE_PAGE_CA_CHAIN;
	if (strcmp(path, "/static/portal.css") == 0)
		return P11E_ROUTE_STATIC_CSS;
	if (strcmp(path, "/static/portal.js") == 0)
		return P11E_ROUTE_STATIC_JS;
	if (strcmp(path, "/static/logo") == 0)
		return P11E_ROUTE_STATIC_LOGO;
	if (strcmp(path, "/api/v1/me") == 0)
		return P11E_ROUTE_ME;
	if (strcmp(path, "/api/v1/session") == 0)
		return P11E_ROUTE_SESSION;
	if (strcmp(path, "/api/v1/identities") == 0)
		return P11E_ROUTE_IDENTITIES;
	if (strcmp(path, "/cards") == 0)
		return P11E_ROUTE_PAGE_CARDS;
	if (strcmp(path, "/api/v1/cards") == 0)
		return P11E_ROUTE_CARDS;
	if (strncmp(path, "/cards/", 7) == 0 || strncmp(path, "/api/v1/cards/", 14) == 0)
		return card_route(path, id);
	if (strncmp(path, api, sizeof(api) - 1) == 0) {
		rest = path + sizeof(api) - 1;
		is_api = 1;
	} else if (strncmp(path, page, sizeof(page) - 1) == 0) {
		rest = path + sizeof(page) - 1;
		is_api = 0;
	} else {
		return P11E_ROUTE_NONE;
	}
	slash = strchr(rest, '/');
	if (slash == NULL || identity_segment(rest, (size_t)(slash - rest), id) != 0) {
		id[0] = '\0';
		return P11E_ROUTE_NONE;
	}
	if (is_api && strcmp(slash, "/certificate") == 0)
		return P11E_ROUTE_CERTIFICATE;
	if (is_api && strcmp(slash, "/pfx") == 0)
		return P11E_ROUTE_PFX;
	if (strcmp(slash, "/renew") == 0)
		return is_api ? P11E_ROUTE_RENEW : P11E_ROUTE_PAGE_RENEW;
	if (strcmp(slash, "/password") == 0)
		return is_api ? P11E_ROUTE_PASSWORD : P11E_ROUTE_PAGE_PASSWORD;
	if (strcmp(slash, "/revoke") == 0)
		return is_api ? P11E_ROUTE_REVOKE : P11E_ROUTE_PAGE_REVOKE;
	id[0] = '\0';
	return P11E_ROUTE_NONE;
}

int p11e_portal_form_value(const char *text, size_t len, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name), i = 0;

	if (text == NULL || cap == 0)
		return 0;
	while (i < len) {
		size_t end = i, eq;

		while (end < len && text[end] != '&')
			end++;
		for (eq = i; eq < end && text[eq] != '='; eq++)
			;
		if (eq - i == nlen && memcmp(text + i, name, nlen) == 0) {
			size_t vstart = eq < end ? eq + 1 : end;

			return url_decode(text + vstart, end - vstart, 1, out, cap) == 0 ? 1 : -1;
		}
		i = end + 1;
	}
	return 0;
}

static int base64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int p11e_portal_cookie_value(const char *header, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *p = header;

	if (header == NULL || cap == 0)
		return 0;
	while (*p != '\0') {
		const char *end, *eq;

		while (*p == ' ' || *p == '\t')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
			size_t vlen = (size_t)(end - eq - 1);

			while (vlen > 0 && (eq[vlen] == ' ' || eq[vlen] == '\t'))
				vlen--;
			if (vlen + 1 > cap)
				return -1;
			for (size_t i = 0; i < vlen; i++)
				if (!base64url_char(eq[1 + i]))
					return -1;
			memcpy(out, eq + 1, vlen);
			out[vlen] = '\0';
			return 1;
		}
		p = *end == ';' ? end + 1 : end;
	}
	return 0;
}

p11e_rc p11e_portal_json_strings(const char *body, size_t len, const char *const *keys, char **vals,
				 p11e_err *err)
{
	json_tokener *tok = NULL;
	json_object *root = NULL;
	p11e_rc rc = P11E_USAGE;
	size_t nkeys = 0;
	char dup[64] = "";

	while (keys[nkeys] != NULL)
		vals[nkeys++] = NULL;
	if (len == 0 || len > 8192) {
		p11e_errf(err, rc, "request body: send one JSON object of at most 8 KiB");
		goto out;
	}
	if ((tok = json_tokener_new_ex(8)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "request body: out of memory");
		goto out;
	}
	root = json_tokener_parse_ex(tok, body, (int)len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		p11e_errf(err, rc, "request body: not one JSON object; send {\"key\": \"value\"}");
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		p11e_errf(err, rc, "request body: not a JSON object");
		goto out;
	}
	/* json-c keeps the last of two equal members: a second "email" could
	 * override the one a check looked at. */
	if (p11e_json_duplicate_key(body, len, dup, sizeof(dup)) != 0) {
		p11e_errf(err, rc, "request body: member '%.40s' given twice; send each once", dup);
		goto out;
	}
	json_object_object_foreach(root, key, val)
	{
		size_t i;

		for (i = 0; i < nkeys && strcmp(keys[i], key) != 0; i++)
			;
		if (i == nkeys) {
			p11e_errf(err, rc, "request body: unknown member '%.40s'", key);
			goto out;
		}
		if (!json_object_is_type(val, json_type_string) ||
		    json_object_get_string_len(val) > 1024 ||
		    strlen(json_object_get_string(val)) !=
			(size_t)json_object_get_string_len(val)) {
			p11e_errf(err, rc, "request body: '%s' must be a string of at most 1 KiB",
				  keys[i]);
			goto out;
		}
		free(vals[i]);
		if ((vals[i] = strdup(json_object_get_string(val))) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "request body: out of memory");
			goto out;
		}
	}
	rc = P11E_OK;
out:
	json_object_put(root);
	if (tok != NULL)
		json_tokener_free(tok);
	return rc;
}

int p11e_portal_json_media_type(const char *content_type)
{
	static const char json[] = "application/json";
	const char *p = content_type;

	if (p == NULL)
		return 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, json, sizeof(json) - 1) != 0)
		return 0;
	p += sizeof(json) - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0' || *p == ';';
}

/* host without a trailing ":443" (the default port a browser leaves out of
 * Origin) as a length. */
static size_t without_default_port(const char *host, size_t len)
{
	return len > 4 && memcmp(host + len - 4, ":443", 4) == 0 ? len - 4 : len;
}

int p11e_portal_origin_ok(const char *origin, const char *host, const char *fetch_site)
{
	static const char https[] = "https://";
	const char *o;
	size_t olen, hlen;

	/* Fetch metadata: only the portal's own pages (same-origin) or the user
	 * (none: typed, a bookmark); same-site is another origin too. */
	if (fetch_site != NULL && strcasecmp(fetch_site, "same-origin") != 0 &&
	    strcasecmp(fetch_site, "none") != 0)
		return 0;
	if (origin == NULL)
		return 1; /* not a browser, or one too old to say: the CSRF token decides */
	/* Under Referrer-Policy: no-referrer a browser hides even a same-origin
	 * form's Origin as "null"; it is believed only where the browser also
	 * says same-origin. */
	if (strcmp(origin, "null") == 0)
		return fetch_site != NULL && strcasecmp(fetch_site, "same-origin") == 0;
	if (host == NULL || strncasecmp(origin, https, sizeof(https) - 1) != 0)
		return 0;
	o = origin + sizeof(https) - 1;
	olen = without_default_port(o, strlen(o));
	hlen = without_default_port(host, strlen(host));
	return olen > 0 && olen == hlen && strncasecmp(o, host, olen) == 0;
}
