/* Checking what network peers send: their words made safe for a terminal,
 * their waits bounded (include/p11enroll/peer.h). */
#include <stdint.h>
#include <stdio.h>
#include <json-c/json.h>
#include "p11enroll/peer.h"

long p11e_peer_wait_s(long seconds)
{
	if (seconds < 0)
		return 0;
	return seconds > P11E_PEER_WAIT_MAX_S ? P11E_PEER_WAIT_MAX_S : seconds;
}

/* Length of a well-formed UTF-8 sequence (2 to 4 bytes, no overlong forms,
 * no surrogates) at p, else 0. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n;
	unsigned min, cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	/* U+0080..U+009F encoded in UTF-8 are C1 controls too (CSI is U+009B). */
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	return n;
}

char *p11e_peer_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	if (s == NULL)
		return s;
	while (*p) {
		size_t n;

		if (*p == '\n' || *p == '\r' || *p == '\t') {
			*p++ = ' '; /* a CA's multi-line message, made one line */
		} else if (*p < 0x20 || *p == 0x7f) {
			*p++ = '?';
		} else if (*p < 0x80) {
			p++;
		} else if ((n = utf8_len(p)) > 0) {
			p += n;
		} else {
			*p++ = '?'; /* a stray byte: C1 (0x9b is CSI on some terminals) or worse */
		}
	}
	return s;
}

void p11e_peer_copy(char *out, size_t len, const char *peer_text)
{
	if (len == 0)
		return;
	snprintf(out, len, "%s", peer_text ? peer_text : "");
	p11e_peer_clean(out);
}

struct json_object *p11e_peer_json_object(const char *body, size_t len)
{
	json_tokener *tok;
	json_object *o;
	size_t used;

	if (body == NULL || len == 0 || len > INT32_MAX)
		return NULL;
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	used = json_tokener_get_parse_end(tok);
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success) {
		/* Only white space may follow the object. */
		while (used < len && (body[used] == ' ' || body[used] == '\t' ||
				      body[used] == '\r' || body[used] == '\n'))
			used++;
	}
	if (o == NULL || used != len || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}
