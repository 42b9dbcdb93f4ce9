/* The JSON configuration file: found, parsed, validated (unknown keys are
 * errors, so typos never pass silently), defaults filled in. Relative paths
 * in the file are resolved against its directory here, once, so nothing
 * downstream depends on the working directory. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "p11enroll/ca.h"
#include "p11enroll/conf.h"
#include "p11enroll/config.h"
#include "p11enroll/renew.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"
#include "p11enroll/validate.h"
#include "config_check.h"

#define SYSTEM_CONFIG "/etc/p11enroll/config.json"
#define CONFIG_MAX (1024 * 1024)

/* A path in the file is relative to the file's directory ("config.json"
 * alone: the working directory, made absolute so the result does not
 * depend on where a later step runs). */
static char *resolve(const char *config_path, const char *value)
{
	const char *slash;
	char *dir, *out;

	if (value[0] == '/' || value[0] == '\0' || config_path == NULL)
		return strdup(value);
	slash = strrchr(config_path, '/');
	if (slash == NULL) {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return strdup(value);
		return p11e_path_join(cwd, value);
	}
	dir = strndup(config_path, (size_t)(slash - config_path));
	if (dir == NULL)
		return NULL;
	out = p11e_path_join(dir[0] ? dir : "/", value);
	free(dir);
	return out;
}

/* "scheme:REL" with a relative path after the scheme, resolved the same way;
 * anything else unchanged. */
static char *resolve_prefixed(const char *config_path, const char *prefix, const char *value)
{
	size_t pl = strlen(prefix);
	char *path, *out;

	if (strncmp(value, prefix, pl) != 0)
		return strdup(value);
	path = resolve(config_path, value + pl);
	if (path == NULL)
		return NULL;
	out = malloc(pl + strlen(path) + 1);
	if (out != NULL) {
		memcpy(out, prefix, pl);
		strcpy(out + pl, path);
	}
	free(path);
	return out;
}

/* A module named without a '/' ("p11-kit-proxy.so") is for dlopen's search
 * path; one with a '/' is a file. */
static char *resolve_module(const char *config_path, const char *value)
{
	return strchr(value, '/') ? resolve(config_path, value) : strdup(value);
}

typedef enum str_kind { S_PLAIN, S_PATH, S_MODULE, S_PIN_SOURCE, S_CA_SPEC } str_kind;

static char *resolve_kind(const char *config_path, str_kind kind, const char *value)
{
	switch (kind) {
	case S_PATH:
		return resolve(config_path, value);
	case S_MODULE:
		return resolve_module(config_path, value);
	case S_PIN_SOURCE:
		return resolve_prefixed(config_path, "file:", value);
	case S_CA_SPEC:
		return resolve_prefixed(config_path, "local:", value);
	case S_PLAIN:
		break;
	}
	return strdup(value);
}

static p11e_rc get_string(const p11e_config *c, const char *key, str_kind kind, char **out,
			  p11e_err *err)
{
	json_object *v;

	if (c->root == NULL || !json_object_object_get_ex(c->root, key, &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_string))
		return p11e_errf(err, P11E_CONFIG, "config %s: '%s' must be a string", c->path,
				 key);
	if (json_object_get_string_len(v) == 0)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: '%s' is empty (remove it to use the default)", c->path,
				 key);
	*out = resolve_kind(c->path, kind, json_object_get_string(v));
	return *out ? P11E_OK : p11e_errf(err, P11E_FAIL, "config %s: out of memory", c->path);
}

static char *default_state_dir(void)
{
	const char *env = getenv("P11ENROLL_STATE_DIR");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char buf[PATH_MAX];
	int n;

	if (env != NULL && env[0] != '\0')
		return strdup(env);
	/* The XDG spec says a relative XDG_STATE_HOME is invalid: ignore it. */
	if (xdg != NULL && xdg[0] == '/') {
		n = snprintf(buf, sizeof(buf), "%s/p11enroll", xdg);
	} else {
		if (home == NULL || home[0] == '\0') {
			/* Cron and systemd services may run without HOME. */
			const struct passwd *pw = getpwuid(getuid());
			home = pw != NULL ? pw->pw_dir : NULL;
		}
		if (home == NULL || home[0] == '\0')
			return NULL;
		n = snprintf(buf, sizeof(buf), "%s/.local/state/p11enroll", home);
	}
	return n > 0 && (size_t)n < sizeof(buf) ? strdup(buf) : NULL;
}

/* Parses text (len bytes) into c->root: a JSON object, nothing after it,
 * then checks it strictly (config_check.c). c->path names it. */
static p11e_rc parse_text(p11e_config *c, const char *text, size_t len, p11e_err *err)
{
	json_tokener *tok = NULL;
	enum json_tokener_error jerr;
	p11e_rc rc;

	if (len > INT_MAX)
		return p11e_errf(err, P11E_CONFIG, "config %s: too large", c->path);
	tok = json_tokener_new();
	if (tok == NULL)
		return p11e_errf(err, P11E_FAIL, "config %s: out of memory", c->path);
	/* Standard JSON only: json-c would otherwise take 'single quotes',
	 * which other tools reading the same file would not. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	c->root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	if (c->root == NULL || jerr != json_tokener_success ||
	    json_tokener_get_parse_end(tok) < len) {
		size_t at = json_tokener_get_parse_end(tok), line = 1;
		for (size_t i = 0; i < at && i < len; i++)
			line += text[i] == '\n';
		rc = p11e_errf(err, P11E_CONFIG, "config %s: parse error at line %zu: %s", c->path,
			       line,
			       c->root != NULL && jerr == json_tokener_success
				   ? "text after the end of the JSON object"
			       : jerr == json_tokener_continue ? "unexpected end of file"
							       : json_tokener_error_desc(jerr));
		goto out;
	}
	if (!json_object_is_type(c->root, json_type_object)) {
		rc = p11e_errf(err, P11E_CONFIG, "config %s: must be a JSON object ({ ... })",
			       c->path);
		goto out;
	}
	rc = p11e_config_check_strict(c->path, text, len, c->root, err);
out:
	json_tokener_free(tok);
	return rc;
}

/* Reads c->path and parses it. */
static p11e_rc parse_file(p11e_config *c, p11e_err *err)
{
	char *text = NULL;
	size_t len = 0;
	p11e_rc rc;

	rc = p11e_read_file(c->path, CONFIG_MAX, &text, &len, NULL);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "config %s: cannot read: %s", c->path,
				 errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
	rc = parse_text(c, text, len, err);
	free(text);
	return rc;
}

/* What kind of string a backend key holds, by naming rule, so that every
 * backend (CA or vault) gets its relative paths resolved against the config
 * file the same way: "dir", "webroot", "ca_bundle" and every "*_file" are
 * paths; "module" a module; "pin_source" and every "*_source" (API keys,
 * passwords: file:PATH, env:VAR) a secret source. */
static str_kind backend_key_kind(const char *key)
{
	size_t n = strlen(key);

	if (strcmp(key, "dir") == 0 || strcmp(key, "webroot") == 0 ||
	    strcmp(key, "ca_bundle") == 0 || (n > 5 && strcmp(key + n - 5, "_file") == 0))
		return S_PATH;
	if (strcmp(key, "module") == 0)
		return S_MODULE;
	if (n > 7 && strcmp(key + n - 7, "_source") == 0)
		return S_PIN_SOURCE;
	return S_PLAIN;
}

/* Rewrites the relative paths of a backend entry (cas.NAME, vault) in place. */
static p11e_rc resolve_backend(const p11e_config *c, const char *where, json_object *obj,
			       p11e_err *err)
{
	json_object_object_foreach(obj, key, v)
	{
		str_kind kind = backend_key_kind(key);
		char *resolved;

		if (kind == S_PLAIN)
			continue;
		if (!json_object_is_type(v, json_type_string))
			return p11e_errf(err, P11E_CONFIG, "config %s: %s.%s must be a string",
					 c->path, where, key);
		resolved = resolve_kind(c->path, kind, json_object_get_string(v));
		if (resolved == NULL)
			return p11e_errf(err, P11E_FAIL, "config %s: out of memory", c->path);
		json_object_object_add(obj, key, json_object_new_string(resolved));
		free(resolved);
	}
	return P11E_OK;
}

/* "publishers": an object of entries, each with a string "type" (its keys:
 * config_check.c), relative paths resolved like a CA's. */
static p11e_rc validate_publishers(p11e_config *c, p11e_err *err)
{
	json_object *v;
	p11e_rc rc;

	if (!json_object_object_get_ex(c->root, "publishers", &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_object))
		return p11e_errf(err, P11E_CONFIG, "config %s: 'publishers' must be an object",
				 c->path);
	json_object_object_foreach(v, name, pub)
	{
		json_object *type;
		char where[160];
		if (!json_object_is_type(pub, json_type_object) ||
		    !json_object_object_get_ex(pub, "type", &type) ||
		    !json_object_is_type(type, json_type_string))
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: publishers.%.60s needs a string \"type\" "
					 "(ldap; see docs/config.md)",
					 c->path, name);
		snprintf(where, sizeof(where), "publishers.%.100s", name);
		if ((rc = resolve_backend(c, where, pub, err)) != P11E_OK)
			return rc;
	}
	return P11E_OK;
}

/* A top-level backend entry ("vault", "store"), when present: an object with
 * a string "type" (its keys: config_check.c), relative paths resolved like
 * a CA's. */
static p11e_rc validate_top_backend(p11e_config *c, const char *key, const char *types,
				    p11e_err *err)
{
	json_object *v, *type;

	if (!json_object_object_get_ex(c->root, key, &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_object) ||
	    !json_object_object_get_ex(v, "type", &type) ||
	    !json_object_is_type(type, json_type_string))
		return p11e_errf(err, P11E_CONFIG, "config %s: '%s' needs a string \"type\" (%s)",
				 c->path, key, types);
	return resolve_backend(c, key, v, err);
}

/* The shape of the file: right types, every CA with a type (the known keys:
 * config_check.c). */
static p11e_rc validate(p11e_config *c, p11e_err *err)
{
	json_object *v;
	p11e_rc rc;

	if (json_object_object_get_ex(c->root, "profiles", &v) &&
	    !json_object_is_type(v, json_type_object))
		return p11e_errf(err, P11E_CONFIG, "config %s: 'profiles' must be an object",
				 c->path);
	if ((rc = validate_top_backend(c, "vault", "file, vault-kv2 or cyberark", err)) !=
		P11E_OK ||
	    (rc = validate_top_backend(c, "store", "file or postgresql", err)) != P11E_OK)
		return rc;
	if ((rc = validate_publishers(c, err)) != P11E_OK)
		return rc;
	if ((rc = p11e_renew_policy_check(c, err)) != P11E_OK)
		return rc;
	if (!json_object_object_get_ex(c->root, "cas", &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_object))
		return p11e_errf(err, P11E_CONFIG, "config %s: 'cas' must be an object", c->path);
	json_object_object_foreach(v, name, ca)
	{
		json_object *type;
		if (!json_object_is_type(ca, json_type_object) ||
		    !json_object_object_get_ex(ca, "type", &type) ||
		    !json_object_is_type(type, json_type_string))
			return p11e_errf(
			    err, P11E_CONFIG,
			    "config %s: cas.%s needs a string \"type\" (see docs/config.md)",
			    c->path, name);
		char where[160];
		snprintf(where, sizeof(where), "cas.%s", name);
		rc = resolve_backend(c, where, ca, err);
		if (rc != P11E_OK)
			return rc;
	}
	return P11E_OK;
}

/* Every profile and the two defaults are checked at load, so a typo is
 * reported whichever command runs, not only when the profile is first used. */
static p11e_rc check_names(const p11e_config *c, p11e_err *err)
{
	json_object *profiles, *ca = NULL;
	p11e_profile prof;
	p11e_err inner = {0};
	p11e_rc rc;

	if (json_object_object_get_ex(c->root, "profiles", &profiles)) {
		json_object_object_foreach(profiles, name, def)
		{
			(void)def;
			if ((rc = p11e_config_profile(c, name, &prof, err)) != P11E_OK)
				return rc;
		}
	}
	if (p11e_config_profile(c, c->default_profile, &prof, &inner) != P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "config %s: default_profile: %s", c->path,
				 inner.msg);
	rc = p11e_config_ca(c, c->default_ca, &ca, &inner);
	json_object_put(ca);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "config %s: default_ca: %s", c->path, inner.msg);
	return P11E_OK;
}

/* After the file (or none): its top strings, the defaults, and the names
 * every command may use. */
static p11e_rc complete(p11e_config *c, p11e_err *err)
{
	p11e_rc rc;

	if ((rc = get_string(c, "module", S_MODULE, &c->module, err)) != P11E_OK ||
	    (rc = get_string(c, "module_args", S_PLAIN, &c->module_args, err)) != P11E_OK ||
	    (rc = get_string(c, "state_dir", S_PATH, &c->state_dir, err)) != P11E_OK ||
	    (rc = get_string(c, "pin_source", S_PIN_SOURCE, &c->pin_source, err)) != P11E_OK ||
	    (rc = get_string(c, "default_ca", S_CA_SPEC, &c->default_ca, err)) != P11E_OK ||
	    (rc = get_string(c, "default_profile", S_PLAIN, &c->default_profile, err)) != P11E_OK ||
	    (rc = get_string(c, "kerberos_realm", S_PLAIN, &c->kerberos_realm, err)) != P11E_OK)
		return rc;
	if (c->kerberos_realm != NULL) {
		p11e_err inner = {0};
		if (p11e_realm_check(c->kerberos_realm, "kerberos_realm", &inner) != P11E_OK)
			return p11e_errf(err, P11E_CONFIG, "config %s: %s", c->path, inner.msg);
		/* Realms are upper case, and a KDC compares them exactly. */
		for (char *r = c->kerberos_realm; *r; r++)
			if (*r >= 'a' && *r <= 'z')
				*r = (char)(*r - 'a' + 'A');
	}
	if (c->state_dir == NULL && (c->state_dir = default_state_dir()) == NULL) {
		return p11e_errf(
		    err, P11E_CONFIG,
		    "no state directory: set P11ENROLL_STATE_DIR, HOME or \"state_dir\" "
		    "in the config");
	}
	if (c->default_profile == NULL && (c->default_profile = strdup("smime")) == NULL) {
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	if (c->default_ca == NULL) {
		size_t len = strlen(c->state_dir) + sizeof("local:/ca");
		c->default_ca = malloc(len);
		if (c->default_ca == NULL) {
			return p11e_errf(err, P11E_FAIL, "out of memory");
		}
		snprintf(c->default_ca, len, "local:%s/ca", c->state_dir);
	}
	if (c->root != NULL)
		rc = check_names(c, err);
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
	/* Only the system file may be absent: a named one was meant to exist. */
	if (path == NULL && access(SYSTEM_CONFIG, F_OK) == 0)
		path = SYSTEM_CONFIG;
	if (path != NULL) {
		c->path = strdup(path);
		if (c->path == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		rc = parse_file(c, err);
		if (rc == P11E_OK)
			rc = validate(c, err);
		if (rc != P11E_OK)
			goto out;
	}
	if ((rc = complete(c, err)) == P11E_OK)
		rc = p11e_store_open(c, &c->store, err);
out:
	if (rc != P11E_OK)
		p11e_config_clear(c);
	return rc;
}

p11e_rc p11e_config_parse(const char *name, const char *text, size_t len, p11e_config *c,
			  p11e_err *err)
{
	p11e_rc rc;

	memset(c, 0, sizeof(*c));
	if ((c->path = strdup(name)) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	else if ((rc = parse_text(c, text, len, err)) == P11E_OK &&
		 (rc = validate(c, err)) == P11E_OK &&
		 (rc = complete(c, err)) == P11E_OK)
		rc = p11e_store_open(c, &c->store, err);
	if (rc != P11E_OK)
		p11e_config_clear(c);
	return rc;
}

void p11e_config_clear(p11e_config *c)
{
	if (c == NULL)
		return;
	p11e_store_close(c->store);
	free(c->path);
	free(c->module);
	free(c->module_args);
	free(c->state_dir);
	free(c->pin_source);
	free(c->default_ca);
	free(c->default_profile);
	free(c->kerberos_realm);
	if (c->root != NULL)
		json_object_put(c->root);
	memset(c, 0, sizeof(*c));
}

/* The config's "store" object, copied into a CA's entry as "_store": where
 * the embedded CA keeps its index and counters (p11e_store_open_home). */
static int add_store(const p11e_config *c, json_object *o)
{
	json_object *st = NULL, *copy = NULL;

	if (c->root == NULL || !json_object_object_get_ex(c->root, "store", &st))
		return 0;
	if (json_object_deep_copy(st, &copy, NULL) != 0)
		return -1;
	return json_object_object_add(o, "_store", copy);
}

p11e_rc p11e_config_ca(const p11e_config *c, const char *spec, json_object **out, p11e_err *err)
{
	json_object *cas, *def, *o = NULL;
	char *dir = NULL;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (spec == NULL || spec[0] == '\0')
		return p11e_errf(err, P11E_CONFIG, "ca: none given (use --ca NAME or local:DIR)");
	if (strncmp(spec, "local:", 6) == 0) {
		const char *d = spec + 6;
		if (d[0] == '\0')
			return p11e_errf(err, P11E_USAGE,
					 "ca: local: needs a directory (local:DIR)");
		/* Given on the command line: relative to where the user is. A
		 * relative one from the file was resolved when it was loaded. */
		if (d[0] != '/') {
			char cwd[PATH_MAX];
			if (getcwd(cwd, sizeof(cwd)) == NULL)
				return p11e_errf(err, P11E_FAIL,
						 "ca %s: cannot resolve the directory: %s", spec,
						 strerror(errno));
			dir = p11e_path_join(cwd, d);
		} else {
			dir = strdup(d);
		}
		o = json_object_new_object();
		if (dir == NULL || o == NULL ||
		    json_object_object_add(o, "type", json_object_new_string("local")) != 0 ||
		    json_object_object_add(o, "dir", json_object_new_string(dir)) != 0 ||
		    add_store(c, o) != 0) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		goto out;
	}
	if (c->root == NULL || !json_object_object_get_ex(c->root, "cas", &cas) ||
	    !json_object_object_get_ex(cas, spec, &def))
		return p11e_errf(err, P11E_CONFIG,
				 "ca '%s' is not defined in the config (or use local:DIR)", spec);
	/* Paths in the entry were made absolute by p11e_config_load; a copy
	 * lets the caller keep it past p11e_config_clear. */
	if (json_object_deep_copy(def, &o, NULL) != 0)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	/* Where a backend keeps its own state when its entry does not say
	 * (ACME's account and orders). */
	else if (json_object_object_add(o, "_state_dir", json_object_new_string(c->state_dir)) != 0 ||
		 add_store(c, o) != 0)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	free(dir);
	if (rc != P11E_OK) {
		json_object_put(o);
		o = NULL;
	}
	*out = o;
	return rc;
}

p11e_rc p11e_config_open_ca(const p11e_config *c, const char *spec, p11e_ca **out, p11e_err *err)
{
	json_object *conf = NULL;
	p11e_rc rc = p11e_config_ca(c, spec, &conf, err);

	*out = NULL;
	if (rc == P11E_OK)
		rc = p11e_ca_open_in(conf, c->store, out, err);
	json_object_put(conf);
	return rc;
}
