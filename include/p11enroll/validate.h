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

#endif
