/* Rosters for batch enrollment: CSV with a header row (columns email, name,
 * profile, token, key, ca; only email is required) or JSON lines with the
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
	char *error; /* set when the line itself is bad: the row is reported, not run */
} p11e_roster_row;

typedef struct p11e_roster {
	p11e_roster_row *rows;
	size_t n;
} p11e_roster;

/* Reads path (".jsonl"/".json" or a first non-blank character '{' means JSON
 * lines, else CSV). A bad file (unreadable, no email column) is an error; a
 * bad line is a row with .error set. */
p11e_rc p11e_roster_load(const char *path, p11e_roster *out, p11e_err *err);
void p11e_roster_clear(p11e_roster *r);

#endif
