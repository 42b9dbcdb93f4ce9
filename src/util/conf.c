/* Backend config entries: strings and the known-keys check. */
#include <stdio.h>
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

/* Whether known has prefix+key exactly (tail NULL) or prefix+key+tail. */
static int listed(const char *const *known, const char *prefix, const char *key, const char *tail)
{
	size_t pl = strlen(prefix), kl = strlen(key);

	for (size_t i = 0; known[i] != NULL; i++) {
		const char *e = known[i];
		if (strncmp(e, prefix, pl) != 0 || strncmp(e + pl, key, kl) != 0)
			continue;
		if (tail == NULL ? e[pl + kl] == '\0'
				 : strncmp(e + pl + kl, tail, strlen(tail)) == 0)
			return 1;
	}
	return 0;
}

static int unknown_in(const json_object *obj, const char *const *known, const char *prefix,
		      int allow_internal, char *path, size_t cap)
{
	json_object_object_foreach((json_object *)obj, key, val)
	{
		char inner[256];

		if (allow_internal && prefix[0] == '\0' && key[0] == '_')
			continue;
		/* A dotted key could pose as a nested entry of the list. */
		if (strchr(key, '.') != NULL ||
		    (!listed(known, prefix, key, NULL) && !listed(known, prefix, key, "."))) {
			snprintf(path, cap, "%s%s", prefix, key);
			return 1;
		}
		if (!json_object_is_type(val, json_type_object) ||
		    !listed(known, prefix, key, ".") || listed(known, prefix, key, ".*"))
			continue;
		if ((size_t)snprintf(inner, sizeof(inner), "%s%s.", prefix, key) >= sizeof(inner)) {
			snprintf(path, cap, "%s%s", prefix, key);
			return 1;
		}
		if (unknown_in(val, known, inner, 0, path, cap))
			return 1;
	}
	return 0;
}

int p11e_conf_unknown_key(const struct json_object *conf, const char *const *known,
			  int allow_internal, char *path, size_t cap)
{
	if (conf == NULL || !json_object_is_type((json_object *)conf, json_type_object))
		return 0;
	return unknown_in(conf, known, "", allow_internal, path, cap);
}

/* Whether an entry before i starts with the same first n characters, ending
 * there or at a '.'. */
static int named_before(const char *const *known, size_t i, size_t n)
{
	for (size_t j = 0; j < i; j++)
		if (strncmp(known[j], known[i], n) == 0 &&
		    (known[j][n] == '\0' || known[j][n] == '.'))
			return 1;
	return 0;
}

void p11e_conf_known_list(const char *const *known, const char *prefix, char *buf, size_t cap)
{
	size_t used = 0, pl = strlen(prefix);

	buf[0] = '\0';
	for (size_t i = 0; known[i] != NULL && used < cap; i++) {
		const char *name = known[i] + pl;
		size_t len;
		int n;

		if (strncmp(known[i], prefix, pl) != 0)
			continue;
		len = strcspn(name, ".");
		/* "approle" and "approle.role_id" name "approle" once. */
		if (named_before(known, i, pl + len))
			continue;
		n = snprintf(buf + used, cap - used, "%s%.*s", used ? ", " : "", (int)len, name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

p11e_rc p11e_conf_check_keys(const struct json_object *conf, const char *const *known,
			     const char *where, p11e_err *err)
{
	char path[128];

	if (p11e_conf_unknown_key(conf, known, 1, path, sizeof(path)))
		return p11e_errf(err, P11E_CONFIG, "%s: unknown key '%.60s' (see docs/config.md)",
				 where, path);
	return P11E_OK;
}
