/* The JSON configuration file: found, parsed, validated (unknown keys are
 * errors, so typos never pass silently), defaults filled in. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "p11enroll/config.h"
#include "p11enroll/util.h"

#define SYSTEM_CONFIG "/etc/p11enroll/config.json"
#define CONFIG_MAX (1024 * 1024)

static const char *const top_keys[] = {"module",	  "state_dir", "pin_source", "default_ca",
				       "default_profile", "cas",       "profiles",   NULL};

static int in_list(const char *key, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(key, list[i]) == 0)
			return 1;
	return 0;
}

/* A path in the file is relative to the file's directory. */
static char *resolve(const char *config_path, const char *value)
{
	const char *slash;
	char *dir, *out;

	if (value[0] == '/' || config_path == NULL || (slash = strrchr(config_path, '/')) == NULL)
		return strdup(value);
	dir = strndup(config_path, (size_t)(slash - config_path));
	if (dir == NULL)
		return NULL;
	out = p11e_path_join(dir[0] ? dir : "/", value);
	free(dir);
	return out;
}

static p11e_rc get_string(const p11e_config *c, const char *key, char **out, int is_path,
			  p11e_err *err)
{
	json_object *v;

	if (c->root == NULL || !json_object_object_get_ex(c->root, key, &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_string))
		return p11e_errf(err, P11E_CONFIG, "config %s: '%s' must be a string", c->path,
				 key);
	*out = is_path ? resolve(c->path, json_object_get_string(v))
		       : strdup(json_object_get_string(v));
	return *out ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
}

static char *default_state_dir(void)
{
	const char *env = getenv("P11ENROLL_STATE_DIR");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char buf[PATH_MAX];

	if (env != NULL && env[0] != '\0')
		return strdup(env);
	if (xdg != NULL && xdg[0] == '/')
		snprintf(buf, sizeof(buf), "%s/p11enroll", xdg);
	else
		snprintf(buf, sizeof(buf), "%s/.local/state/p11enroll",
			 home != NULL && home[0] != '\0' ? home : ".");
	return strdup(buf);
}

static p11e_rc parse_file(p11e_config *c, p11e_err *err)
{
	char *text = NULL;
	size_t len = 0;
	json_tokener *tok = NULL;
	p11e_rc rc;

	errno = 0;
	rc = p11e_read_file(c->path, CONFIG_MAX, &text, &len, NULL);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "config %s: cannot read: %s", c->path,
				 errno ? strerror(errno) : "too large");
	tok = json_tokener_new();
	if (tok == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	c->root = json_tokener_parse_ex(tok, text, (int)len);
	if (c->root == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < len) {
		size_t at = json_tokener_get_parse_end(tok), line = 1;
		for (size_t i = 0; i < at && i < len; i++)
			line += text[i] == '\n';
		rc = p11e_errf(err, P11E_CONFIG, "config %s: not valid JSON near line %zu: %s",
			       c->path, line,
			       json_tokener_get_error(tok) == json_tokener_continue
				   ? "unexpected end of file"
				   : json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	if (!json_object_is_type(c->root, json_type_object)) {
		rc = p11e_errf(err, P11E_CONFIG, "config %s: must be a JSON object", c->path);
		goto out;
	}
	json_object_object_foreach(c->root, key, val)
	{
		(void)val;
		if (!in_list(key, top_keys)) {
			rc = p11e_errf(err, P11E_CONFIG, "config %s: unknown key '%s'", c->path,
				       key);
			goto out;
		}
	}
	const char *objects[] = {"cas", "profiles"};
	for (size_t i = 0; i < 2; i++) {
		json_object *v;
		if (json_object_object_get_ex(c->root, objects[i], &v) &&
		    !json_object_is_type(v, json_type_object)) {
			rc = p11e_errf(err, P11E_CONFIG, "config %s: '%s' must be an object",
				       c->path, objects[i]);
			goto out;
		}
	}
	json_object *cas;
	if (json_object_object_get_ex(c->root, "cas", &cas)) {
		json_object_object_foreach(cas, name, ca)
		{
			json_object *type;
			if (!json_object_is_type(ca, json_type_object) ||
			    !json_object_object_get_ex(ca, "type", &type) ||
			    !json_object_is_type(type, json_type_string)) {
				rc = p11e_errf(err, P11E_CONFIG,
					       "config %s: cas.%s needs a string \"type\"", c->path,
					       name);
				goto out;
			}
		}
	}
	rc = P11E_OK;
out:
	if (tok != NULL)
		json_tokener_free(tok);
	free(text);
	return rc;
}

p11e_rc p11e_config_load(const char *explicit_path, p11e_config *c, p11e_err *err)
{
	const char *env = getenv("P11ENROLL_CONFIG");
	const char *path = explicit_path;
	p11e_rc rc = P11E_OK;

	memset(c, 0, sizeof(*c));
	if (path == NULL && env != NULL && env[0] != '\0')
		path = env;
	if (path == NULL && access(SYSTEM_CONFIG, F_OK) == 0)
		path = SYSTEM_CONFIG;
	if (path != NULL) {
		c->path = strdup(path);
		if (c->path == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		rc = parse_file(c, err);
		if (rc != P11E_OK)
			goto out;
	}
	rc = get_string(c, "module", &c->module, 1, err);
	if (rc == P11E_OK)
		rc = get_string(c, "state_dir", &c->state_dir, 1, err);
	if (rc == P11E_OK)
		rc = get_string(c, "pin_source", &c->pin_source, 0, err);
	if (rc == P11E_OK)
		rc = get_string(c, "default_ca", &c->default_ca, 0, err);
	if (rc == P11E_OK)
		rc = get_string(c, "default_profile", &c->default_profile, 0, err);
	if (rc != P11E_OK)
		goto out;
	if (c->state_dir == NULL)
		c->state_dir = default_state_dir();
	if (c->default_profile == NULL)
		c->default_profile = strdup("smime");
	if (c->default_ca == NULL && c->state_dir != NULL) {
		size_t len = strlen(c->state_dir) + sizeof("local:/ca");
		c->default_ca = malloc(len);
		if (c->default_ca != NULL)
			snprintf(c->default_ca, len, "local:%s/ca", c->state_dir);
	}
	if (c->state_dir == NULL || c->default_profile == NULL || c->default_ca == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	if (rc != P11E_OK)
		p11e_config_clear(c);
	return rc;
}

void p11e_config_clear(p11e_config *c)
{
	free(c->path);
	free(c->module);
	free(c->state_dir);
	free(c->pin_source);
	free(c->default_ca);
	free(c->default_profile);
	if (c->root != NULL)
		json_object_put(c->root);
	memset(c, 0, sizeof(*c));
}

static p11e_rc profile_string(const char *path, const char *name, json_object *def,
			      const char *field, char *out, size_t cap, p11e_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(def, field, &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_string) || strlen(json_object_get_string(v)) >= cap)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.%s must be a string of at most %zu "
				 "characters",
				 path, name, field, cap - 1);
	snprintf(out, cap, "%s", json_object_get_string(v));
	return P11E_OK;
}

static p11e_rc profile_bool(const char *path, const char *name, json_object *def, const char *field,
			    int *out, p11e_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(def, field, &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_boolean))
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.%s must be true or false", path, name,
				 field);
	*out = json_object_get_boolean(v);
	return P11E_OK;
}

static p11e_rc profile_purposes(const char *path, const char *name, json_object *def, unsigned *out,
				p11e_err *err)
{
	json_object *v;
	unsigned purposes = 0;

	if (!json_object_object_get_ex(def, "purposes", &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
		goto bad;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(v, i));
		if (s == NULL)
			goto bad;
		if (strcmp(s, "sign") == 0)
			purposes |= P11E_PURPOSE_SIGN;
		else if (strcmp(s, "encrypt") == 0)
			purposes |= P11E_PURPOSE_ENCRYPT;
		else if (strcmp(s, "client-auth") == 0)
			purposes |= P11E_PURPOSE_CLIENT_AUTH;
		else
			goto bad;
	}
	*out = purposes;
	return P11E_OK;
bad:
	return p11e_errf(err, P11E_CONFIG,
			 "config %s: profiles.%s.purposes must list sign, encrypt or client-auth",
			 path, name);
}

static const char *const profile_keys[] = {
    "base", "subject", "validity_days", "key", "digest", "purposes", "email_san", "dns_san", NULL};

p11e_rc p11e_config_profile(const p11e_config *c, const char *name, p11e_profile *out,
			    p11e_err *err)
{
	json_object *profiles, *def = NULL, *v;
	const char *base = "smime";
	p11e_keytype kt;
	p11e_rc rc;

	if (c->root != NULL && json_object_object_get_ex(c->root, "profiles", &profiles))
		json_object_object_get_ex(profiles, name, &def);
	if (def == NULL) {
		rc = p11e_profile_builtin(name, out, err);
		if (rc == P11E_NOT_FOUND)
			return p11e_errf(
			    err, P11E_NOT_FOUND,
			    "profile '%s' is not defined (built-in: smime, smime-sign, "
			    "smime-encrypt, client-auth)",
			    name);
		return rc;
	}
	if (!json_object_is_type(def, json_type_object))
		return p11e_errf(err, P11E_CONFIG, "config %s: profiles.%s must be an object",
				 c->path, name);
	json_object_object_foreach(def, key, val)
	{
		(void)val;
		if (!in_list(key, profile_keys))
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: profiles.%s: unknown key '%s'", c->path, name,
					 key);
	}
	if (json_object_object_get_ex(def, "base", &v))
		base = json_object_get_string(v);
	rc = p11e_profile_builtin(base, out, err);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.base '%s' is not a built-in profile",
				 c->path, name, base);
	snprintf(out->name, sizeof(out->name), "%s", name);
	rc = profile_string(c->path, name, def, "subject", out->subject, sizeof(out->subject), err);
	if (rc == P11E_OK)
		rc = profile_string(c->path, name, def, "key", out->default_key,
				    sizeof(out->default_key), err);
	if (rc == P11E_OK)
		rc = profile_string(c->path, name, def, "digest", out->digest, sizeof(out->digest),
				    err);
	if (rc == P11E_OK)
		rc = profile_bool(c->path, name, def, "email_san", &out->allow_email_san, err);
	if (rc == P11E_OK)
		rc = profile_bool(c->path, name, def, "dns_san", &out->allow_dns_san, err);
	if (rc == P11E_OK)
		rc = profile_purposes(c->path, name, def, &out->purposes, err);
	if (rc != P11E_OK)
		return rc;
	if (json_object_object_get_ex(def, "validity_days", &v)) {
		int64_t days = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || days < 1 || days > 3650)
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: profiles.%s.validity_days must be 1 to 3650",
					 c->path, name);
		out->validity_days = (int)days;
	}
	if (p11e_keytype_parse(out->default_key, &kt, NULL) != P11E_OK)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.key '%s' is not a key type", c->path, name,
				 out->default_key);
	if (EVP_get_digestbyname(out->digest) == NULL)
		return p11e_errf(err, P11E_CONFIG, "config %s: profiles.%s.digest '%s' is unknown",
				 c->path, name, out->digest);
	return P11E_OK;
}

p11e_rc p11e_config_ca(const p11e_config *c, const char *spec, json_object **out, p11e_err *err)
{
	json_object *cas, *def, *copy = NULL, *dir;
	char *resolved = NULL;

	*out = NULL;
	if (spec == NULL || spec[0] == '\0')
		return p11e_errf(err, P11E_CONFIG, "ca: none given (use --ca NAME or local:DIR)");
	if (strncmp(spec, "local:", 6) == 0) {
		char abs[PATH_MAX];
		const char *d = spec + 6;
		if (d[0] == '\0')
			return p11e_errf(err, P11E_USAGE, "ca: local: needs a directory");
		if (d[0] != '/' && getcwd(abs, sizeof(abs)) != NULL) {
			resolved = p11e_path_join(abs, d);
			d = resolved;
		}
		copy = json_object_new_object();
		json_object_object_add(copy, "type", json_object_new_string("local"));
		json_object_object_add(copy, "dir", json_object_new_string(d ? d : spec + 6));
		free(resolved);
		*out = copy;
		return P11E_OK;
	}
	if (c->root == NULL || !json_object_object_get_ex(c->root, "cas", &cas) ||
	    !json_object_object_get_ex(cas, spec, &def))
		return p11e_errf(err, P11E_CONFIG,
				 "ca '%s' is not defined in the config (or use local:DIR)", spec);
	if (json_object_deep_copy(def, &copy, NULL) != 0)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (json_object_object_get_ex(copy, "dir", &dir) &&
	    json_object_is_type(dir, json_type_string)) {
		resolved = resolve(c->path, json_object_get_string(dir));
		if (resolved != NULL)
			json_object_object_add(copy, "dir", json_object_new_string(resolved));
		free(resolved);
	}
	*out = copy;
	return P11E_OK;
}
