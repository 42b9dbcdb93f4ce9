/* The store registry (include/p11enroll/store.h): the config's "store"
 * object picks a p11e_store_ops table by its "type"; without one the state
 * lives in files under STATE_DIR, as it always has. */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/store.h"
#include "store_int.h"

struct p11e_store {
	const p11e_store_ops *ops;
	void *state;
};

/* One entry per backend file (src/store/store_*.c). */
static const p11e_store_ops *const backends[] = {
    &p11e_store_file_ops,
    &p11e_store_pg_ops,
    NULL,
};

const p11e_store_ops *p11e_store_backend(size_t i)
{
	return i < sizeof(backends) / sizeof(backends[0]) ? backends[i] : NULL;
}

p11e_rc p11e_store_open(const p11e_config *cfg, p11e_store **out, p11e_err *err)
{
	json_object *conf = NULL, *jt;
	const p11e_store_ops *ops = &p11e_store_file_ops;
	p11e_store *s;
	p11e_rc rc;

	*out = NULL;
	if (cfg->root != NULL && json_object_object_get_ex(cfg->root, "store", &conf)) {
		const char *type = NULL;

		if (!json_object_is_type(conf, json_type_object))
			return p11e_errf(
			    err, P11E_CONFIG,
			    "config %s: store must be an object with a \"type\" (file, "
			    "postgresql)",
			    cfg->path);
		if (json_object_object_get_ex(conf, "type", &jt) &&
		    json_object_is_type(jt, json_type_string))
			type = json_object_get_string(jt);
		ops = NULL;
		for (size_t i = 0; type != NULL && backends[i] != NULL; i++)
			if (strcmp(backends[i]->type, type) == 0)
				ops = backends[i];
		if (ops == NULL)
			return p11e_errf(
			    err, P11E_CONFIG,
			    "config %s: store.type '%.40s' is not a store type (known: "
			    "file, postgresql)",
			    cfg->path, type ? type : "");
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return p11e_errf(err, P11E_FAIL, "store: out of memory");
	s->ops = ops;
	if ((rc = ops->open(cfg, conf, &s->state, err)) != P11E_OK) {
		free(s);
		return rc;
	}
	*out = s;
	return P11E_OK;
}

void p11e_store_close(p11e_store *s)
{
	if (s == NULL)
		return;
	s->ops->close(s->state);
	free(s);
}

p11e_rc p11e_store_migrate(p11e_store *s, int create, int *from, int *to, p11e_err *err)
{
	return s->ops->migrate(s->state, create, from, to, err);
}

p11e_rc p11e_store_info_get(p11e_store *s, p11e_store_info *out, p11e_err *err)
{
	memset(out, 0, sizeof(*out));
	return s->ops->info(s->state, out, err);
}
