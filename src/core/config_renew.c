/* The renewal settings (include/p11enroll/renew.h): "renew_within_days",
 * "renew_reuse_key", "keep_old_encryption_keys" in a profile or at the top,
 * and the top-level "post_renew_command". Checked at load, so a typo in
 * them stops every command, not the nightly renewal alone. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/renew.h"

#define WITHIN_MAX 3650

typedef struct renew_key {
	const char *key;
	int is_bool;
	int min, max;
} renew_key;

static const renew_key keys[] = {
    {"renew_within_days", 0, 1, WITHIN_MAX},
    {"renew_reuse_key", 1, 0, 1},
    {"keep_old_encryption_keys", 0, 0, 1000},
};

/* Reads key from obj into *out when present; where names obj in messages. */
static p11e_rc read_key(const p11e_config *cfg, json_object *obj, const renew_key *k,
			const char *where, int *out, p11e_err *err)
{
	json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, k->key, &v))
		return P11E_OK;
	if (k->is_bool) {
		if (!json_object_is_type(v, json_type_boolean))
			return p11e_errf(err, P11E_CONFIG, "config %s: %s%s must be true or false",
					 cfg->path, where, k->key);
		*out = json_object_get_boolean(v);
		return P11E_OK;
	}
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < k->min ||
	    json_object_get_int64(v) > k->max)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: %s%s must be a whole number from %d to %d", cfg->path,
				 where, k->key, k->min, k->max);
	*out = (int)json_object_get_int64(v);
	return P11E_OK;
}

static json_object *profile_entry(const p11e_config *cfg, const char *profile)
{
	json_object *profiles, *def;

	if (cfg->root == NULL || profile == NULL ||
	    !json_object_object_get_ex(cfg->root, "profiles", &profiles) ||
	    !json_object_is_type(profiles, json_type_object) ||
	    !json_object_object_get_ex(profiles, profile, &def) ||
	    !json_object_is_type(def, json_type_object))
		return NULL;
	return def;
}

p11e_rc p11e_renew_policy_get(const p11e_config *cfg, const char *profile, p11e_renew_policy *out,
			      p11e_err *err)
{
	json_object *def = profile_entry(cfg, profile), *v;
	char where[160];
	int *slots[] = {&out->within_days, &out->reuse_key, &out->keep_old_enc_keys};
	p11e_rc rc = P11E_OK;

	out->within_days = 30;
	out->reuse_key = 0;
	out->keep_old_enc_keys = -1;
	out->post_renew_command = NULL;
	snprintf(where, sizeof(where), "profiles.%.100s.", profile != NULL ? profile : "");
	for (size_t i = 0; rc == P11E_OK && i < sizeof(keys) / sizeof(keys[0]); i++) {
		rc = read_key(cfg, cfg->root, &keys[i], "", slots[i], err);
		if (rc == P11E_OK)
			rc = read_key(cfg, def, &keys[i], where, slots[i], err);
	}
	if (rc == P11E_OK && cfg->root != NULL &&
	    json_object_object_get_ex(cfg->root, "post_renew_command", &v)) {
		if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: post_renew_command must be a non-empty string "
					 "(a shell command)",
					 cfg->path);
		out->post_renew_command = json_object_get_string(v);
	}
	return rc;
}

p11e_rc p11e_renew_policy_check(const p11e_config *cfg, p11e_err *err)
{
	json_object *profiles;
	p11e_renew_policy ignored;
	p11e_rc rc = p11e_renew_policy_get(cfg, NULL, &ignored, err);

	if (rc != P11E_OK || cfg->root == NULL ||
	    !json_object_object_get_ex(cfg->root, "profiles", &profiles) ||
	    !json_object_is_type(profiles, json_type_object))
		return rc;
	json_object_object_foreach(profiles, name, def)
	{
		(void)def;
		if ((rc = p11e_renew_policy_get(cfg, name, &ignored, err)) != P11E_OK)
			return rc;
	}
	return P11E_OK;
}
