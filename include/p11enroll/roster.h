/* Rosters for batch enrollment: CSV with a header row (columns email, name,
 * profile, token, key, ca, upn, principal, sid; only email is required) or JSON lines with the
 * same keys. A token is a PKCS#11 URI or a bare serial number. */
#ifndef P11ENROLL_ROSTER_H
#define P11ENROLL_ROSTER_H

#include <stddef.h>
#include "p11enroll/error.h"

typedef struct p11e_roster_row {
	size_t line; /* 1-based line in the file */
	char *email;
	char *name;
	char *profile;
	char *token; /* as a URI: a bare serial becomes pkcs11:serial=... */
	char *key;
	char *ca;
	char *upn; /* logon identities (smartcard-logon; checked by the pipeline) */
	char *principal;
	char *sid;
	char *error; /* set when the line itself is bad: the row is reported, not run */
} p11e_roster_row;

typedef struct p11e_roster {
	p11e_roster_row *rows;
	size_t n;
} p11e_roster;

/* Columns (CSV) or keys (JSON lines) other than the nine: ignored, instead
 * of refused (an HR export with a "department" column). */
#define P11E_ROSTER_ALLOW_EXTRA_COLUMNS 1u

/* Reads path (".jsonl"/".json" or a first non-blank character '{' means JSON
 * lines, else CSV; a leading UTF-8 byte-order mark is skipped). A bad file is
 * P11E_USAGE naming the line and what is wrong: unreadable, a NUL byte, a
 * header with an unknown, unnamed or repeated column or no email column, a
 * quote that does not close on its line or text after a closing quote. A bad
 * row (wrong number of fields, an unknown or repeated JSON key, a value that
 * is not a string, no email) is a row with .error set: the batch reports it
 * and goes on. flags: P11E_ROSTER_*. */
p11e_rc p11e_roster_load(const char *path, unsigned flags, p11e_roster *out, p11e_err *err);
/* The same from a buffer (len bytes, no NUL needed); name stands for the
 * path (in messages, and its extension picks the format). */
p11e_rc p11e_roster_parse(const char *name, const char *text, size_t len, unsigned flags,
			  p11e_roster *out, p11e_err *err);
void p11e_roster_clear(p11e_roster *r);

/* A field of a roster row fit for a one-line message (and --json's report):
 * at most its first 100 bytes (cut where a UTF-8 character starts), then
 * "...(N bytes)" when it was longer: a 10 MB line is not echoed whole. Into
 * buf, which is returned; "" for NULL. */
#define P11E_ROSTER_SHOWN 136
const char *p11e_roster_shown(const char *field, char buf[P11E_ROSTER_SHOWN]);

#endif
