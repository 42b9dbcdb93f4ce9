/* Reading a backend's JSON config entry (cas.NAME, vault): the helpers every
 * backend file would otherwise write again. */
#ifndef P11ENROLL_CONF_H
#define P11ENROLL_CONF_H

#include "p11enroll/error.h"

struct json_object;

/* The string under key, or NULL when absent or not a string. The pointer
 * lives as long as conf. */
const char *p11e_conf_string(const struct json_object *conf, const char *key);

/* P11E_CONFIG naming the first key of conf not in known (NULL-terminated):
 * "WHERE: unknown key 'K' (see docs/config.md)". Keys starting with '_' are
 * p11enroll's own (p11e_config_ca adds "_state_dir") and always allowed. */
p11e_rc p11e_conf_check_keys(const struct json_object *conf, const char *const *known,
			     const char *where, p11e_err *err);

#endif
