/* The identities a logon certificate carries (include/p11enroll/validate.h):
 * a user principal name, a Kerberos principal and realm, a security
 * identifier. Checked before anything exists, like the address and the CN;
 * ASCII classes by hand, as in validate.c, so LANG changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/validate.h"

/* AD's rangeUpper for userPrincipalName; a principal gets the same bound. */
#define LOGON_NAME_MAX 1024

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int realm_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
	       c == '-' || c == '_';
}

/* s is UTF-8 of at most LOGON_NAME_MAX bytes without control characters:
 * P11E_OK, else P11E_USAGE naming field (what and where, never the bytes,
 * which could garble a terminal). */
static p11e_rc text_check(const char *s, const char *field, const char *what, p11e_err *err)
{
	size_t at = 0;

	if (strlen(s) > LOGON_NAME_MAX)
		return p11e_errf(err, P11E_USAGE, "%s: longer than %d bytes; give a shorter %s",
				 field, LOGON_NAME_MAX, what);
	if (!p11e_utf8_valid(s, &at))
		return p11e_errf(err, P11E_USAGE, "%s: not UTF-8 (byte %zu); give the %s in UTF-8",
				 field, at + 1, what);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		/* C1 controls are two bytes in UTF-8: C2 80 to C2 9F. */
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
			return p11e_errf(err, P11E_USAGE,
					 "%s: a control character at byte %zu; a %s is one line "
					 "of text",
					 field, (size_t)(p - (const unsigned char *)s) + 1, what);
	return P11E_OK;
}

p11e_rc p11e_upn_check(const char *upn, const char *field, p11e_err *err)
{
	const char *at;
	p11e_rc rc;

	if (upn == NULL || upn[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "%s: empty; give a UPN like alice@example.com",
				 field);
	if ((rc = text_check(upn, field, "UPN", err)) != P11E_OK)
		return rc;
	at = strrchr(upn, '@');
	if (at == NULL || at == upn || at[1] == '\0' || strchr(upn, '@') != at)
		return p11e_errf(err, P11E_USAGE,
				 "%s: '%.100s' is not a UPN: one '@' between a name and a suffix, "
				 "like alice@example.com",
				 field, upn);
	return P11E_OK;
}

p11e_rc p11e_realm_check(const char *realm, const char *field, p11e_err *err)
{
	size_t n = realm != NULL ? strlen(realm) : 0;

	if (n == 0 || n > 255 || realm[0] == '.' || realm[n - 1] == '.')
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!realm_char_ok((unsigned char)realm[i]))
			goto bad;
	return P11E_OK;
bad:
	return p11e_errf(err, P11E_USAGE,
			 "%s: '%.100s' is not a Kerberos realm like EXAMPLE.COM (letters, digits, "
			 "'.', '-', '_'; at most 255)",
			 field, realm != NULL ? realm : "");
}

p11e_rc p11e_principal_canonical(const char *principal, const char *field, char **out,
				 p11e_err *err)
{
	const char *at;
	char *copy;
	p11e_rc rc;

	*out = NULL;
	if (principal == NULL || principal[0] == '\0')
		return p11e_errf(err, P11E_USAGE,
				 "%s: empty; give a principal like alice@EXAMPLE.COM", field);
	if ((rc = text_check(principal, field, "principal", err)) != P11E_OK)
		return rc;
	at = strrchr(principal, '@');
	/* Escapes ('\@', '\/') are refused rather than half-understood. */
	if (at == NULL || at == principal || strchr(principal, '@') != at ||
	    strchr(principal, '\\') != NULL || principal[0] == '/' || at[-1] == '/' ||
	    strstr(principal, "//") != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "%s: '%.100s' is not a principal name@REALM (components "
				 "separated by '/', none empty, no '\\')",
				 field, principal);
	if ((rc = p11e_realm_check(at + 1, field, err)) != P11E_OK)
		return rc;
	if ((copy = strdup(principal)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* The KDC maps realms case-sensitively, and realms are upper case. */
	for (char *c = copy + (at - principal) + 1; *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	*out = copy;
	return P11E_OK;
}

/* A decimal number without a leading zero, at most max; *end past it. */
static int parse_decimal(const char *s, uint64_t max, uint64_t *v, const char **end)
{
	uint64_t n = 0;
	const char *p = s;

	if (!is_digit((unsigned char)*p) || (p[0] == '0' && is_digit((unsigned char)p[1])))
		return 0;
	for (; is_digit((unsigned char)*p); p++) {
		if (n > (max - (uint64_t)(*p - '0')) / 10)
			return 0;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*v = n;
	*end = p;
	return 1;
}

p11e_rc p11e_sid_check(const char *sid, const char *field, p11e_err *err)
{
	const char *p;
	uint64_t v;
	int subs = 0;

	if (sid == NULL || strncmp(sid, "S-1-", 4) != 0)
		goto bad;
	/* The identifier authority: 48 bits. */
	if (!parse_decimal(sid + 4, (UINT64_C(1) << 48) - 1, &v, &p))
		goto bad;
	while (*p == '-') {
		if (!parse_decimal(p + 1, UINT32_MAX, &v, &p) || ++subs > 15)
			goto bad;
	}
	if (*p != '\0' || subs == 0)
		goto bad;
	return P11E_OK;
bad:
	return p11e_errf(err, P11E_USAGE,
			 "%s: '%.100s' is not a SID in its text form S-1-AUTHORITY-SUB... (1 to "
			 "15 sub-authorities, decimal), like S-1-5-21-1004336348-1177238915-"
			 "682003330-1106",
			 field, sid != NULL ? sid : "");
}
