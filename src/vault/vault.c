/* The vault backend registry: the config's "vault" object picks a
 * p11e_vault_ops table by its "type", and every call goes through it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "p11enroll/clock.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"

struct p11e_vault {
	const p11e_vault_ops *ops;
	void *state;
};

/* One entry per backend file (src/vault/vault_*.c). */
static const p11e_vault_ops *const backends[] = {
    &p11e_vault_file_ops,
    &p11e_vault_kv2_ops,
    &p11e_vault_cyberark_ops,
    NULL,
};

p11e_rc p11e_vault_open(const p11e_config *cfg, const p11e_vault_open_params *p, p11e_vault **out,
			p11e_err *err)
{
	struct json_object *conf = NULL, *jt = NULL;
	const char *type = NULL;
	p11e_vault *v;
	p11e_rc rc;

	*out = NULL;
	if (cfg->root == NULL || !json_object_object_get_ex(cfg->root, "vault", &conf))
		return p11e_errf(err, P11E_CONFIG,
				 "vault: none configured; add a \"vault\" object to the config "
				 "(see docs/config.md)");
	if (json_object_object_get_ex(conf, "type", &jt))
		type = json_object_get_string(jt);
	for (size_t i = 0; type != NULL && backends[i] != NULL; i++) {
		if (strcmp(type, backends[i]->type) != 0)
			continue;
		if ((v = calloc(1, sizeof(*v))) == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		v->ops = backends[i];
		rc = v->ops->open(cfg, conf, p, &v->state, err);
		if (rc != P11E_OK) {
			free(v);
			return rc;
		}
		*out = v;
		return P11E_OK;
	}
	return p11e_errf(err, P11E_CONFIG,
			 "vault: unknown type '%.40s' (known: file, vault-kv2, cyberark)",
			 type ? type : "");
}

p11e_rc p11e_vault_put(p11e_vault *v, const char *name, const unsigned char *secret, size_t len,
		       p11e_err *err)
{
	return v->ops->put(v->state, name, secret, len, NULL, err);
}

p11e_rc p11e_vault_put_meta(p11e_vault *v, const char *name, const unsigned char *secret,
			    size_t len, const p11e_vault_meta *meta, p11e_err *err)
{
	return v->ops->put(v->state, name, secret, len, meta, err);
}

p11e_rc p11e_vault_set_meta(p11e_vault *v, const char *name, const p11e_vault_meta *meta,
			    p11e_err *err)
{
	if (v->ops->set_meta == NULL)
		return p11e_errf(err, P11E_UNSUPPORTED, "vault: a %s vault keeps no metadata",
				 v->ops->type);
	return v->ops->set_meta(v->state, name, meta, err);
}

void p11e_vault_meta_now(p11e_vault_meta *meta)
{
	time_t now = p11e_now();
	struct tm tm;

	memset(meta, 0, sizeof(*meta));
	if (gmtime_r(&now, &tm) != NULL)
		strftime(meta->created, sizeof(meta->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int by_entry_name(const void *a, const void *b)
{
	return strcmp(((const p11e_vault_entry *)a)->name, ((const p11e_vault_entry *)b)->name);
}

p11e_rc p11e_vault_list_entries(p11e_vault *v, p11e_vault_entry **entries, size_t *n, p11e_err *err)
{
	p11e_rc rc;

	*entries = NULL;
	*n = 0;
	rc = v->ops->list(v->state, entries, n, err);
	if (rc == P11E_OK && *n > 1)
		qsort(*entries, *n, sizeof(**entries), by_entry_name);
	return rc;
}

void p11e_vault_entries_free(p11e_vault_entry *entries, size_t n)
{
	for (size_t i = 0; entries != NULL && i < n; i++)
		free(entries[i].name);
	free(entries);
}

p11e_rc p11e_vault_get(p11e_vault *v, const char *name, unsigned char **out, size_t *len,
		       p11e_err *err)
{
	*out = NULL;
	*len = 0;
	return v->ops->get(v->state, name, out, len, err);
}

p11e_rc p11e_vault_list(p11e_vault *v, char ***names, size_t *n, p11e_err *err)
{
	p11e_vault_entry *entries = NULL;
	size_t count = 0;
	p11e_rc rc;

	*names = NULL;
	*n = 0;
	if ((rc = p11e_vault_list_entries(v, &entries, &count, err)) != P11E_OK)
		return rc;
	if (count > 0 && (*names = calloc(count, sizeof(char *))) == NULL) {
		p11e_vault_entries_free(entries, count);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	/* The names move over; the entries array goes. */
	for (size_t i = 0; i < count; i++)
		(*names)[i] = entries[i].name;
	*n = count;
	free(entries);
	return P11E_OK;
}

p11e_rc p11e_vault_delete(p11e_vault *v, const char *name, p11e_err *err)
{
	return v->ops->del(v->state, name, err);
}

const char *p11e_vault_type(const p11e_vault *v)
{
	return v->ops->type;
}

const char *p11e_vault_reader(const p11e_vault *v)
{
	return v->ops->reader != NULL ? v->ops->reader(v->state) : NULL;
}

void p11e_vault_close(p11e_vault *v)
{
	if (v == NULL)
		return;
	if (v->ops->close != NULL)
		v->ops->close(v->state);
	free(v);
}

const p11e_vault_ops *p11e_vault_backend(size_t i)
{
	for (size_t k = 0; backends[k] != NULL; k++)
		if (k == i)
			return backends[k];
	return NULL;
}

char *p11e_vault_resolve_source(const p11e_config *cfg, const char *src)
{
	const char *slash = cfg->path ? strrchr(cfg->path, '/') : NULL;
	char *dir, *path, *out;

	if (strncmp(src, "file:", 5) != 0 || src[5] == '/' || slash == NULL)
		return strdup(src);
	if ((dir = strndup(cfg->path, (size_t)(slash - cfg->path))) == NULL)
		return NULL;
	path = p11e_path_join(dir[0] ? dir : "/", src + 5);
	free(dir);
	if (path == NULL || (out = malloc(strlen(path) + 6)) == NULL) {
		free(path);
		return NULL;
	}
	snprintf(out, strlen(path) + 6, "file:%s", path);
	free(path);
	return out;
}
