/* The config's strictness: a typo must never pass silently. json-c keeps the
 * last of two equal keys without a word, so duplicates are found in the text
 * (p11e_json_duplicate_key); unknown keys are found in the tree, each CA and
 * the vault against the list its backend declares next to its vtable, so a
 * backend's keys are written down once. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/ca.h"
#include "p11enroll/conf.h"
#include "p11enroll/publish.h"
#include "p11enroll/store.h"
#include "p11enroll/vault.h"
#include "config_check.h"

static const char *const top_keys[] = {"module",	  "state_dir",	 "pin_source", "default_ca",
				       "default_profile", "cas",	 "profiles",   "vault",
				       "audit_log",	  "module_args", "publishers",
				       "renew_within_days", "renew_reuse_key",
				       "keep_old_encryption_keys", "post_renew_command", "portal", "store",
				       "kerberos_realm", NULL};
/* `serve`'s section (src/portal/portal_conf.c reads it; docs/config.md). */
static const char *const portal_keys[] = {"listen",	 "tls_cert",	"tls_key",
					  "client_cas",	 "client_crl",	"self_service_profiles",
					  "session_minutes", "officer_key", "workers",
					  /* the pages' frame (portal_conf.c) */
					  "organisation", "logo", "help_contact",
					  "max_connections", "max_connections_per_client",
					  "request_timeout_seconds", NULL};

/* The type of a backend entry, or NULL if it has none that is a string. */
static const char *entry_type(json_object *entry)
{
	json_object *t;

	if (!json_object_is_type(entry, json_type_object) ||
	    !json_object_object_get_ex(entry, "type", &t) ||
	    !json_object_is_type(t, json_type_string))
		return NULL;
	return json_object_get_string(t);
}

/* entry (at where: "cas.corp", "vault") against a backend's list. */
static p11e_rc check_entry(const char *file, const char *where, const char *what,
			   json_object *entry, const char *const *known, p11e_err *err)
{
	char path[200], list[300], prefix[200], owner[240];
	const char *dot;

	if (known == NULL || !p11e_conf_unknown_key(entry, known, 0, path, sizeof(path)))
		return P11E_OK;
	if (path[0] == '_' && strchr(path, '.') == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: %s.%.80s: keys starting with '_' are reserved for "
				 "p11enroll itself; remove it",
				 file, where, path);
	/* The keys allowed where the unknown one is (inside "approle": its own). */
	dot = strrchr(path, '.');
	snprintf(prefix, sizeof(prefix), "%.*s", dot ? (int)(dot - path + 1) : 0, path);
	p11e_conf_known_list(known, prefix, list, sizeof(list));
	if (prefix[0] != '\0')
		snprintf(owner, sizeof(owner), "%s.%.*s", where, (int)strlen(prefix) - 1, prefix);
	else
		snprintf(owner, sizeof(owner), "%s", what);
	return p11e_errf(err, P11E_CONFIG,
			 "config %s: unknown key '%s.%.80s' (%s takes: %s; see docs/config.md)",
			 file, where, path, owner, list);
}

static p11e_rc check_cas(const char *file, json_object *cas, p11e_err *err)
{
	json_object_object_foreach(cas, name, entry)
	{
		const char *type = entry_type(entry);
		const p11e_ca_ops *ops = NULL;
		char where[120], what[80], types[120] = "";
		p11e_rc rc;

		if (type == NULL)
			continue; /* config.c says what is missing */
		for (size_t i = 0; (ops = p11e_ca_backend(i)) != NULL; i++) {
			if (strcmp(ops->type, type) == 0)
				break;
			snprintf(types + strlen(types), sizeof(types) - strlen(types), "%s%s",
				 i ? ", " : "", ops->type);
		}
		if (ops == NULL)
			return p11e_errf(
			    err, P11E_CONFIG,
			    "config %s: cas.%.60s.type '%.40s' is not a CA type (known: "
			    "%s)",
			    file, name, type, types);
		snprintf(where, sizeof(where), "cas.%.100s", name);
		snprintf(what, sizeof(what), "a %s CA", ops->type);
		rc = check_entry(file, where, what, entry, ops->config_keys, err);
		if (rc != P11E_OK)
			return rc;
	}
	return P11E_OK;
}

static p11e_rc check_vault(const char *file, json_object *vault, p11e_err *err)
{
	const char *type = entry_type(vault);
	const p11e_vault_ops *ops = NULL;
	char what[80], types[120] = "";

	if (type == NULL)
		return P11E_OK; /* config.c says what is missing */
	for (size_t i = 0; (ops = p11e_vault_backend(i)) != NULL; i++) {
		if (strcmp(ops->type, type) == 0)
			break;
		snprintf(types + strlen(types), sizeof(types) - strlen(types), "%s%s",
			 i ? ", " : "", ops->type);
	}
	if (ops == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: vault.type '%.40s' is not a vault type (known: %s)",
				 file, type, types);
	snprintf(what, sizeof(what), "a %s vault", ops->type);
	return check_entry(file, "vault", what, vault, ops->config_keys, err);
}

static p11e_rc check_store(const char *file, json_object *store, p11e_err *err)
{
	const char *type = entry_type(store);
	const p11e_store_ops *ops = NULL;
	char what[80];

	if (type == NULL)
		return P11E_OK; /* config.c says what is missing */
	for (size_t i = 0; (ops = p11e_store_backend(i)) != NULL; i++)
		if (strcmp(ops->type, type) == 0)
			break;
	if (ops == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: store.type '%.40s' is not a store type (known: file, "
				 "postgresql)",
				 file, type);
	snprintf(what, sizeof(what), "the %s store", ops->type);
	return check_entry(file, "store", what, store, ops->config_keys, err);
}

static p11e_rc check_publishers(const char *file, json_object *pubs, p11e_err *err)
{
	json_object_object_foreach(pubs, name, entry)
	{
		const char *type = entry_type(entry);
		const p11e_publish_ops *ops = NULL;
		char where[120], what[80], types[120] = "";

		if (type == NULL)
			continue; /* config.c says what is missing */
		for (size_t i = 0; (ops = p11e_publish_backend(i)) != NULL; i++) {
			if (strcmp(ops->type, type) == 0)
				break;
			snprintf(types + strlen(types), sizeof(types) - strlen(types), "%s%s",
				 i ? ", " : "", ops->type);
		}
		if (ops == NULL)
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: publishers.%.60s.type '%.40s' is not a "
					 "publisher type (known: %s)",
					 file, name, type, types);
		snprintf(where, sizeof(where), "publishers.%.100s", name);
		snprintf(what, sizeof(what), "an %s publisher", ops->type);
		p11e_rc rc = check_entry(file, where, what, entry, ops->config_keys, err);
		if (rc != P11E_OK)
			return rc;
	}
	return P11E_OK;
}

p11e_rc p11e_config_check_strict(const char *file, const char *text, size_t len, json_object *root,
				 p11e_err *err)
{
	char path[200], list[300];
	json_object *v;
	p11e_rc rc;

	if (p11e_json_duplicate_key(text, len, path, sizeof(path)) == 1)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: duplicate key '%s': a key may appear once in an "
				 "object; remove one of them",
				 file, path);
	if (p11e_conf_unknown_key(root, top_keys, 0, path, sizeof(path))) {
		p11e_conf_known_list(top_keys, "", list, sizeof(list));
		return p11e_errf(err, P11E_CONFIG, "config %s: unknown key '%.80s' (known: %s)",
				 file, path, list);
	}
	if (json_object_object_get_ex(root, "cas", &v) &&
	    json_object_is_type(v, json_type_object) && (rc = check_cas(file, v, err)) != P11E_OK)
		return rc;
	if (json_object_object_get_ex(root, "vault", &v) &&
	    (rc = check_vault(file, v, err)) != P11E_OK)
		return rc;
	if (json_object_object_get_ex(root, "store", &v) &&
	    (rc = check_store(file, v, err)) != P11E_OK)
		return rc;
	if (json_object_object_get_ex(root, "portal", &v) &&
	    (rc = check_entry(file, "portal", "the portal", v, portal_keys, err)) != P11E_OK)
		return rc;
	if (json_object_object_get_ex(root, "publishers", &v) &&
	    json_object_is_type(v, json_type_object) &&
	    (rc = check_publishers(file, v, err)) != P11E_OK)
		return rc;
	return P11E_OK;
}
