/* Backend config entries: strings and the known-keys check. */
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/conf.h"

const char *p11e_conf_string(const struct json_object *conf, const char *key)
{
	json_object *v;

	if (conf != NULL && json_object_object_get_ex(conf, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

p11e_rc p11e_conf_check_keys(const struct json_object *conf, const char *const *known,
			     const char *where, p11e_err *err)
{
	json_object_object_foreach((json_object *)conf, key, val)
	{
		size_t i;

		(void)val;
		if (key[0] == '_') /* set by p11enroll itself (p11e_config_ca) */
			continue;
		for (i = 0; known[i] != NULL && strcmp(known[i], key) != 0; i++)
			;
		if (known[i] == NULL)
			return p11e_errf(err, P11E_CONFIG,
					 "%s: unknown key '%.60s' (see docs/config.md)", where,
					 key);
	}
	return P11E_OK;
}
