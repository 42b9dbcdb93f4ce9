/* Every path under STATE_DIR, computed in one place (src/core/state_paths.c):
 *
 *   identities/<base>.json     an identity's record (record.c)
 *   keys/<base>.p8             a software key, encrypted, until its PFX exists
 *   pfx/<base>.p12             a software key's default PKCS#12 file
 *   locks/<kind>/<base>.lock   named locks (lock.c): kinds "identity", "token"
 *
 * <base> is the name with every character outside [a-z0-9@._+-] %XX-escaped
 * (and a leading '.'), as records have always been named; a name whose
 * escaped form is too long for a file name (and its temp files) is named
 * SHA256-<hex of the name's SHA-256> instead, and the record inside says
 * whose it is. Escaped names never hold an upper-case letter outside a %XX,
 * so the two kinds of names cannot meet. */
#ifndef P11ENROLL_STATE_PATHS_H
#define P11ENROLL_STATE_PATHS_H

/* The longest escaped base kept as is: every name that fitted before
 * (".json.tmp.XXXXXX" after it within NAME_MAX) keeps its file. */
#define P11E_STATE_BASE_MAX 239

/* <base> for name, malloc'd (NULL: out of memory). */
char *p11e_state_base_name(const char *name);
/* STATE_DIR/SUB, malloc'd. */
char *p11e_state_dir(const char *state_dir, const char *sub);
/* STATE_DIR/identities/<base>.json, malloc'd. */
char *p11e_state_record_path(const char *state_dir, const char *identity);
/* STATE_DIR/keys/<base>.p8, malloc'd. */
char *p11e_state_key_path(const char *state_dir, const char *identity);
/* STATE_DIR/pfx/<base>.p12, malloc'd. */
char *p11e_state_pfx_path(const char *state_dir, const char *identity);
/* STATE_DIR/locks/<kind>/<base>.lock, malloc'd. */
char *p11e_state_lock_path(const char *state_dir, const char *kind, const char *name);

#endif
