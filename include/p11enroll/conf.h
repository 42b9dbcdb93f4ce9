/* Reading a backend's JSON config entry (cas.NAME, vault): the helpers every
 * backend file would otherwise write again. */
#ifndef P11ENROLL_CONF_H
#define P11ENROLL_CONF_H

#include <stddef.h>
#include "p11enroll/error.h"

struct json_object;

/* The string under key, or NULL when absent or not a string. The pointer
 * lives as long as conf. */
const char *p11e_conf_string(const struct json_object *conf, const char *key);

/* A backend's list of the keys its config entry may hold (the config_keys of
 * p11e_ca_ops and p11e_vault_ops), NULL-terminated:
 *   "url"          the entry may hold "url";
 *   "approle.mount" "approle" is an object whose keys are the "approle.*" entries
 *                  (checked too);
 *   "profiles.*"   "profiles" is an object with keys of the user's choosing.
 * A key with a '.' in it is never one of these. */

/* The first key of conf that known does not allow, as a path from conf
 * ("approle.mont") into path; 1 if there is one, else 0. Keys starting with
 * '_' are p11enroll's own at the top of an entry (p11e_config_ca adds
 * "_state_dir") and pass when allow_internal is set. */
int p11e_conf_unknown_key(const struct json_object *conf, const char *const *known,
			  int allow_internal, char *path, size_t cap);

/* The names known allows inside prefix ("" for the top, "approle." for the
 * approle object), comma-separated, into buf: for messages. */
void p11e_conf_known_list(const char *const *known, const char *prefix, char *buf, size_t cap);

/* P11E_CONFIG naming the first key of conf not in known:
 * "WHERE: unknown key 'K' (see docs/config.md)". Keys starting with '_' are
 * p11enroll's own (p11e_config_ca adds "_state_dir") and always allowed. */
p11e_rc p11e_conf_check_keys(const struct json_object *conf, const char *const *known,
			     const char *where, p11e_err *err);

/* The first key that appears twice in one object of the JSON text, as a
 * path from the top ("cas.corp.url", array elements "[N]"), into path:
 * 1 if there is one, 0 if not, -1 if the text is not JSON it can follow.
 * Meant for texts a parser accepted: json-c keeps the last of two equal keys
 * silently. */
int p11e_json_duplicate_key(const char *text, size_t len, char *path, size_t cap);

#endif
