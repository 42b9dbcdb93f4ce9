/* Text from tokens and certificates, made safe to print: UTF-8 stays UTF-8
 * (a subject "Renée" reads as such, not as \xC3\xA9), while anything that
 * could drive a terminal or hide what is shown is spelled out as an escape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include "cli.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes) and its code
 * point, or 0 if none (overlong forms, surrogates and > U+10FFFF refused). */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t len, i;
	unsigned long c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		c = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		c = s[0] & 0x0F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
	    (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

/* Code points a terminal acts on or that reorder what is displayed: C0 and C1
 * controls (ESC, CSI), DEL, and the bidirectional overrides and isolates. */
static int neutralised(unsigned long cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

char *cli_safe_text(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	/* Worst case: every byte becomes "\xHH" (4), or 3 bytes "\uHHHH" (6). */
	char *out = malloc(4 * len + 1), *o = out;
	size_t i = 0;

	if (out == NULL)
		return NULL;
	while (i < len) {
		unsigned long cp = 0;
		size_t n = utf8_seq(s + i, len - i, &cp);
		if (n == 0) {
			o += sprintf(o, "\\x%02X", s[i]);
			i++;
		} else if (neutralised(cp)) {
			o += cp < 0x80 ? sprintf(o, "\\x%02lX", cp) : sprintf(o, "\\u%04lX", cp);
			i += n;
		} else {
			memcpy(o, s + i, n);
			o += n;
			i += n;
		}
	}
	*o = '\0';
	return out;
}

char *cli_x509_name(const X509_NAME *name)
{
	size_t cap = 256, len = 0;
	char *raw = malloc(cap), *safe;

	if (raw == NULL)
		return NULL;
	raw[0] = '\0';
	for (int i = 0; i < X509_NAME_entry_count(name); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
		const char *sn = OBJ_nid2sn(OBJ_obj2nid(obj));
		unsigned char *value = NULL;
		char oid[80];
		int vlen = ASN1_STRING_to_UTF8(&value, X509_NAME_ENTRY_get_data(e));
		size_t need;

		if (sn == NULL || OBJ_obj2nid(obj) == NID_undef) {
			OBJ_obj2txt(oid, sizeof(oid), obj, 1);
			sn = oid;
		}
		if (vlen < 0) {
			free(raw);
			return NULL;
		}
		need = len + 1 + strlen(sn) + 1 + (size_t)vlen + 1;
		if (need > cap) {
			char *bigger = realloc(raw, need * 2);
			if (bigger == NULL) {
				OPENSSL_free(value);
				free(raw);
				return NULL;
			}
			raw = bigger;
			cap = need * 2;
		}
		/* The same "/O=Example/CN=Alice" form as X509_NAME_oneline, values
		 * as UTF-8 (memcpy: a value may hold a NUL, escaped below). */
		len += (size_t)sprintf(raw + len, "/%s=", sn);
		memcpy(raw + len, value, (size_t)vlen);
		len += (size_t)vlen;
		raw[len] = '\0';
		OPENSSL_free(value);
	}
	safe = cli_safe_text(raw, len);
	free(raw);
	return safe;
}
