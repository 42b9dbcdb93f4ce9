/* Identity checks (include/p11enroll/validate.h): addresses, host names and
 * CNs, all before a key exists, so a bad one costs nothing to correct. */
#include <stdlib.h>
#include <string.h>
#include "p11enroll/validate.h"

static int is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext plus '.', whose placement is checked separately. */
static int local_char_ok(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~.-", c) != NULL);
}

/* A host name: LDH labels of 1 to 63 characters, no leading or trailing
 * hyphen, at least two labels, at most 253 characters. */
int p11e_dns_name_valid(const char *name)
{
	const char *label = name;
	int dots = 0;

	if (name == NULL || strlen(name) < 1 || strlen(name) > 253)
		return 0;
	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t ll = (size_t)(p - label);
			if (ll < 1 || ll > 63 || label[0] == '-' || p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			dots++;
			label = p + 1;
		} else if (!is_alnum((unsigned char)*p) && *p != '-') {
			return 0;
		}
	}
	return dots > 0;
}

int p11e_email_valid(const char *email)
{
	const char *at;
	size_t local_len;

	if (email == NULL || (at = strchr(email, '@')) == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	/* RFC 5321 4.5.3.1: a path holds at most 256 octets with its angle
	 * brackets, so an address at most 254. */
	if (strlen(email) > 254)
		return 0;
	local_len = (size_t)(at - email);
	if (local_len < 1 || local_len > 64)
		return 0;
	if (email[0] == '.' || at[-1] == '.')
		return 0;
	for (const char *p = email; p < at; p++)
		if (!local_char_ok((unsigned char)*p) || (p[0] == '.' && p[1] == '.'))
			return 0;
	return p11e_dns_name_valid(at + 1);
}

/* The code point at s (NUL-terminated), its length in *len; -1 when the
 * bytes there are not well-formed UTF-8 (RFC 3629). */
char *p11e_email_canonical(const char *email)
{
	char *out = strdup(email), *at = out ? strrchr(out, '@') : NULL;

	for (char *c = at; c != NULL && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return out;
}

static long utf8_decode(const unsigned char *s, size_t *len)
{
	long cp, min;
	size_t n;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return -1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = n;
	return cp;
}

int p11e_utf8_valid(const char *s, size_t *chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t count = 0, len;

	while (*p) {
		if (utf8_decode(p, &len) < 0) {
			if (chars != NULL)
				*chars = (size_t)(p - (const unsigned char *)s);
			return 0;
		}
		p += len;
		count++;
	}
	if (chars != NULL)
		*chars = count;
	return 1;
}

p11e_rc p11e_name_check(const char *name, const char *field, p11e_err *err)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t n = 0, len;

	if (name == NULL || name[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "%s: empty; give the certificate's name (CN)",
				 field);
	for (; *p; p += len, n++) {
		long cp = utf8_decode(p, &len);
		/* The bad bytes are not echoed: they would garble a terminal. */
		if (cp < 0)
			return p11e_errf(err, P11E_USAGE,
					 "%s: not UTF-8 (byte %zu); give the name in UTF-8 (check "
					 "the terminal's or the file's encoding)",
					 field, (size_t)(p - (const unsigned char *)name) + 1);
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			return p11e_errf(err, P11E_USAGE,
					 "%s: a control character at byte %zu; a CN is one line "
					 "of text",
					 field, (size_t)(p - (const unsigned char *)name) + 1);
	}
	if (n > P11E_CN_MAX)
		return p11e_errf(err, P11E_USAGE,
				 "%s: %zu characters; a certificate's CN holds at most %d: give a "
				 "shorter name",
				 field, n, P11E_CN_MAX);
	return P11E_OK;
}

char *p11e_default_cn(const char *identity)
{
	size_t cut;

	if (strlen(identity) <= P11E_CN_MAX)
		return strdup(identity);
	cut = strcspn(identity, strchr(identity, '@') != NULL ? "@" : ".");
	return strndup(identity, cut < P11E_CN_MAX ? cut : P11E_CN_MAX);
}
