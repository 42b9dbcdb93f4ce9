/* Every path under STATE_DIR, computed in one place (src/core/state_paths.c):
 *
 *   identities/<base>.json     an identity's record (record.c)
 *   keys/<base>.p8             a software key, encrypted, until its PFX exists
 *   pfx/<base>.p12             a software key's default PKCS#12 file
 *   locks/<kind>/<base>.lock   named locks (lock.c): kinds "identity", "token",
 *                              "portal"
 *   audit.jsonl, audit.head    the audit log (unless the config's audit_log
 *                              puts it elsewhere) and its chain's head (audit.c)
 *   escrow/                    the file vault's entries, unless its "dir" says
 *                              otherwise (vault_file.c)
 *   portal/invites/            the portal's invitation codes, as hashes
 *                              (portal_invite.c)
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
/* STATE_DIR/audit.jsonl and STATE_DIR/audit.head, malloc'd. */
char *p11e_state_audit_path(const char *state_dir);
char *p11e_state_audit_head_path(const char *state_dir);
/* STATE_DIR/escrow, malloc'd. */
char *p11e_state_escrow_dir(const char *state_dir);
/* STATE_DIR/portal/invites, malloc'd. */
char *p11e_state_invites_dir(const char *state_dir);
/* STATE_DIR/acme-<the first 16 hex digits of the directory URL's SHA-256>,
 * malloc'd (NULL: out of memory or no hash). */
char *p11e_state_acme_dir(const char *state_dir, const char *url);

#endif
