/* Where a CA backend that keeps documents of its own (ACME, certsrv) has
 * them: the store's home for that CA, named after a hash of its URL. */
#ifndef P11ENROLL_CA_HOME_H
#define P11ENROLL_CA_HOME_H

/* The first 16 hex digits of url's SHA-256 in hash: 0, or -1. */
int ca_url_hash(const char *url, char hash[17]);

/* The file store's home for a CA without "dir": STATE/PREFIX-HASH, STATE
 * the config's state dir (which p11e_config_ca passes as "_state_dir"),
 * else its defaults ($P11ENROLL_STATE_DIR, $XDG_STATE_HOME/p11enroll,
 * ~/.local/state/p11enroll). malloc'd; NULL when none of them is set. */
char *ca_home_default_dir(const char *state_dir, const char *prefix, const char *hash);

#endif
