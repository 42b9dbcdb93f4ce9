/* The config's "portal" object (docs/config.md): read once at start, each
 * value checked, relative paths resolved against the config file's
 * directory, so a bad value stops `serve` before it listens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/util.h"
#include "portal_int.h"

static char *resolve(const p11e_config *cfg, const char *value)
{
	const char *slash = cfg->path ? strrchr(cfg->path, '/') : NULL;
	char *dir, *out;

	if (value[0] == '/' || strncmp(value, "pkcs11:", 7) == 0 || slash == NULL)
		return strdup(value);
	if ((dir = strndup(cfg->path, (size_t)(slash - cfg->path))) == NULL)
		return NULL;
	out = p11e_path_join(dir[0] ? dir : "/", value);
	free(dir);
	return out;
}

/* A string member into *out (resolved as a path when path): P11E_CONFIG
 * naming it when it is required and missing, or not a non-empty string. */
static p11e_rc get_string(const p11e_config *cfg, json_object *portal, const char *key, int path,
			  int required, char **out, p11e_err *err)
{
	json_object *v;
	const char *s;

	*out = NULL;
	if (portal == NULL || !json_object_object_get_ex(portal, key, &v)) {
		if (!required)
			return P11E_OK;
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: portal.%s is missing; `serve` needs it (see "
				 "docs/config.md, portal)",
				 cfg->path ? cfg->path : "(none)", key);
	}
	if (!json_object_is_type(v, json_type_string) || (s = json_object_get_string(v))[0] == '\0')
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: portal.%s must be a non-empty string",
				 cfg->path ? cfg->path : "(none)", key);
	if ((*out = path ? resolve(cfg, s) : strdup(s)) == NULL)
		return p11e_errf(err, P11E_FAIL, "portal: out of memory");
	return P11E_OK;
}

static p11e_rc get_profiles(const p11e_config *cfg, json_object *portal, char ***out, p11e_err *err)
{
	json_object *v;
	size_t n = 0;

	if (portal != NULL && json_object_object_get_ex(portal, "self_service_profiles", &v)) {
		if (!json_object_is_type(v, json_type_array))
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: portal.self_service_profiles must be an "
					 "array of profile names",
					 cfg->path);
		n = json_object_array_length(v);
	}
	if ((*out = calloc(n + 1, sizeof(char *))) == NULL)
		return p11e_errf(err, P11E_FAIL, "portal: out of memory");
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string))
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: portal.self_service_profiles[%zu] must be a "
					 "profile name",
					 cfg->path, i);
		if (((*out)[i] = strdup(json_object_get_string(e))) == NULL)
			return p11e_errf(err, P11E_FAIL, "portal: out of memory");
	}
	return P11E_OK;
}

static p11e_rc get_int(const p11e_config *cfg, json_object *portal, const char *key, long lo,
		       long hi, long *out, p11e_err *err)
{
	json_object *v;

	if (portal == NULL || !json_object_object_get_ex(portal, key, &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < lo ||
	    json_object_get_int64(v) > hi)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: portal.%s must be a number, %ld to %ld", cfg->path,
				 key, lo, hi);
	*out = (long)json_object_get_int64(v);
	return P11E_OK;
}

/* portal.logo read now (at most 256 KiB), so a missing or odd file stops
 * `serve` before it listens: a PNG (its signature checked) or an SVG (by
 * its name; served as image/svg+xml under the same CSP as the pages). */
static p11e_rc load_logo(const p11e_config *cfg, p11e_portal_conf *out, p11e_err *err)
{
	static const char png_magic[] = "\x89PNG\r\n\x1a\n";
	size_t n = strlen(out->logo);
	p11e_err rerr;

	if (p11e_read_file(out->logo, 256 * 1024, &out->logo_data, &out->logo_len, &rerr) !=
	    P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "config %s: portal.logo: %s", cfg->path,
				 rerr.msg);
	if (out->logo_len >= 8 && memcmp(out->logo_data, png_magic, 8) == 0)
		out->logo_type = "image/png";
	else if (n > 4 && strcmp(out->logo + n - 4, ".svg") == 0)
		out->logo_type = "image/svg+xml";
	else
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: portal.logo: %s is neither a PNG nor an .svg file",
				 cfg->path, out->logo);
	return P11E_OK;
}

p11e_rc p11e_portal_conf_load(const p11e_config *cfg, const char *listen, p11e_portal_conf *out,
			      p11e_err *err)
{
	json_object *portal = NULL;
	long workers = 4;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	out->session_minutes = 30;
	out->max_connections = 512;
	out->max_connections_per_client = 32;
	out->request_timeout_seconds = 10;
	if (cfg->root != NULL && json_object_object_get_ex(cfg->root, "portal", &portal) &&
	    !json_object_is_type(portal, json_type_object))
		return p11e_errf(err, P11E_CONFIG, "config %s: portal must be an object",
				 cfg->path);
	if ((rc = get_string(cfg, portal, "listen", 0, listen == NULL, &out->listen, err)) !=
		P11E_OK ||
	    (rc = get_string(cfg, portal, "tls_cert", 1, 1, &out->tls_cert, err)) != P11E_OK ||
	    (rc = get_string(cfg, portal, "tls_key", 1, 1, &out->tls_key, err)) != P11E_OK ||
	    (rc = get_string(cfg, portal, "client_cas", 1, 1, &out->client_cas, err)) != P11E_OK ||
	    (rc = get_string(cfg, portal, "client_crl", 1, 0, &out->client_crl, err)) != P11E_OK ||
	    (rc = get_string(cfg, portal, "officer_key", 1, 0, &out->officer_key, err)) !=
		P11E_OK ||
	    (rc = get_profiles(cfg, portal, &out->profiles, err)) != P11E_OK ||
	    (rc = get_int(cfg, portal, "session_minutes", 1, 24 * 60, &out->session_minutes,
			  err)) != P11E_OK ||
	    (rc = get_int(cfg, portal, "workers", 1, 64, &workers, err)) != P11E_OK ||
	    (rc = get_string(cfg, portal, "organisation", 0, 0, &out->organisation, err)) !=
		P11E_OK ||
	    (rc = get_string(cfg, portal, "help_contact", 0, 0, &out->help_contact, err)) !=
		P11E_OK ||
	    (rc = get_string(cfg, portal, "logo", 1, 0, &out->logo, err)) != P11E_OK ||
	    (out->logo != NULL && (rc = load_logo(cfg, out, err)) != P11E_OK) ||
	    (rc = get_int(cfg, portal, "max_connections", 1, 1000000, &out->max_connections,
			  err)) != P11E_OK ||
	    (rc = get_int(cfg, portal, "max_connections_per_client", 1, 1000000,
			  &out->max_connections_per_client, err)) != P11E_OK ||
	    (rc = get_int(cfg, portal, "request_timeout_seconds", 1, 300,
			  &out->request_timeout_seconds, err)) != P11E_OK)
		return rc;
	out->workers = (int)workers;
	if (listen != NULL) {
		free(out->listen);
		if ((out->listen = strdup(listen)) == NULL)
			return p11e_errf(err, P11E_FAIL, "portal: out of memory");
	}
	return P11E_OK;
}

void p11e_portal_conf_clear(p11e_portal_conf *c)
{
	free(c->listen);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->client_cas);
	free(c->client_crl);
	free(c->officer_key);
	free(c->organisation);
	free(c->help_contact);
	free(c->logo);
	free(c->logo_data);
	for (size_t i = 0; c->profiles != NULL && c->profiles[i] != NULL; i++)
		free(c->profiles[i]);
	free(c->profiles);
	memset(c, 0, sizeof(*c));
}
