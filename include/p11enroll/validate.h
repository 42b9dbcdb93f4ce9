/* What an identity is made of, checked before anything exists for it
 * (src/util/validate.c): the address or host name and the CN. ASCII classes
 * by hand: <ctype.h> follows the locale, and what is accepted must not
 * change with LANG. */
#ifndef P11ENROLL_VALIDATE_H
#define P11ENROLL_VALIDATE_H

#include <stddef.h>
#include "p11enroll/error.h"

/* ub-common-name (RFC 5280): a CN holds at most 64 characters. */
#define P11E_CN_MAX 64

/* An email address as RFC 5321 bounds it: local@domain, a dot-atom local
 * part of printable ASCII (at most 64), a host name domain, at most 254 in
 * all. */
int p11e_email_valid(const char *email);
/* The address as it is certified and recorded: the local part as given
 * (RFC 5321: it may be case-sensitive), the domain lower-cased. malloc'd;
 * NULL on allocation failure. Identities match case-insensitively
 * (p11e_record_identity lower-cases the whole address). */
char *p11e_email_canonical(const char *email);
/* Whether name is a host name fit for a dNSName SAN (LDH labels of at most
 * 63, at least one dot, at most 253 in all, no wildcard). */
int p11e_dns_name_valid(const char *name);

/* Whether s is well-formed UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF); *chars (if not NULL) gets its count of characters,
 * or the byte offset of the first bad byte when it is not. */
int p11e_utf8_valid(const char *s, size_t *chars);

/* A subject CN given by the user (--name, roster column): UTF-8, 1 to 64
 * characters, no control characters. P11E_USAGE naming field otherwise. */
p11e_rc p11e_name_check(const char *name, const char *field, p11e_err *err);

/* The CN for an identity given without a name: the identity itself when it
 * fits a CN, else the part before its '@' (an address's local part, at most
 * 64 characters) or, for a host name, its first label (at most 63).
 * malloc'd; NULL on allocation failure. */
char *p11e_default_cn(const char *identity);

/* What a logon certificate names (src/util/validate_logon.c), each
 * P11E_USAGE naming field when bad. A user principal name (AD
 * userPrincipalName): NAME@SUFFIX, UTF-8, no control characters, at most
 * 1024 bytes. */
p11e_rc p11e_upn_check(const char *upn, const char *field, p11e_err *err);
/* A Kerberos realm: letters, digits, '.', '-', '_', at most 255. */
p11e_rc p11e_realm_check(const char *realm, const char *field, p11e_err *err);
/* A Kerberos principal name@REALM (components separated by '/', no escapes);
 * *out: malloc'd, its realm upper-cased (realms are upper case, and a KDC
 * compares them exactly). */
p11e_rc p11e_principal_canonical(const char *principal, const char *field, char **out,
				 p11e_err *err);
/* A security identifier in its text form S-1-AUTHORITY-SUB..., as AD shows
 * objectSid: decimal, no leading zeros, a 48-bit authority, 1 to 15 32-bit
 * sub-authorities. */
p11e_rc p11e_sid_check(const char *sid, const char *field, p11e_err *err);

#endif
