/* Every path under STATE_DIR, computed in one place (src/core/state_paths.c):
 *
 *   identities/<base>.json     an identity's record (record.c)
 *   keys/<base>.p8             a software key, encrypted, until its PFX exists
 *                              (the store's kind "key", store.c's kinds[])
 *   pfx/<base>.p12             a software key's default PKCS#12 file (kind "pfx")
 *   locks/<kind>/<base>.lock   named locks (lock.c): kinds "identity", "token",
 *                              "portal"
 *   audit.jsonl, audit.head    the audit log (unless the config's audit_log
 *                              puts it elsewhere) and its chain's head (audit.c)
 *   escrow/<base>.cms, .meta   the file vault's entries (kinds "escrow",
 *                              "escrow-meta"; hashed past 236 escaped
 *                              characters), unless its "dir" says otherwise
 *   portal/invites/<hash>.json the portal's invitation codes, as hashes (kind
 *                              "invite")
 *   portal/sessions/, portal/attempts/, portal/secrets/
 *                              the portal's sessions, sign-in counts and
 *                              CSRF key: store documents (store.c's kinds)
 *   acme-<hash>/               an ACME CA's account and orders without a "dir"
 *                              (ca_acme.c)
 *
 * <base> is the name with every character outside [a-z0-9@._+-] %XX-escaped
 * (and a leading '.'), as records have always been named; a name whose
 * escaped form is too long for a file name (and its temp files) is named
 * SHA256-<hex of the name's SHA-256> instead, and the record inside says
 * whose it is. Escaped names never hold an upper-case letter outside a %XX,
 * so the two kinds of names cannot meet. */
#ifndef P11ENROLL_STATE_PATHS_H
#define P11ENROLL_STATE_PATHS_H

#include <stddef.h>

/* The longest escaped base kept as is: every name that fitted before
 * (".json.tmp.XXXXXX" after it within NAME_MAX) keeps its file. */
#define P11E_STATE_BASE_MAX 239

/* <base> for name, malloc'd (NULL: out of memory). */
char *p11e_state_base_name(const char *name);
/* The same, hashed past max escaped characters (the file vault's entries:
 * 236). */
char *p11e_state_base_name_max(const char *name, size_t max);
/* STATE_DIR/identities/<base>.json, malloc'd. */
char *p11e_state_record_path(const char *state_dir, const char *identity);
/* STATE_DIR/locks/<kind>/<base>.lock, malloc'd. */
char *p11e_state_lock_path(const char *state_dir, const char *kind, const char *name);
/* STATE_DIR/audit.jsonl and STATE_DIR/audit.head, malloc'd. */
char *p11e_state_audit_path(const char *state_dir);
char *p11e_state_audit_head_path(const char *state_dir);
/* STATE_DIR/acme-<the first 16 hex digits of the directory URL's SHA-256>,
 * malloc'd (NULL: out of memory or no hash). */
char *p11e_state_acme_dir(const char *state_dir, const char *url);

#endif
