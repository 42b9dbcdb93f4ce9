/* The "file" store: STATE_DIR on this machine, today's layout
 * (core/state_paths.c names every path in it). Its only schema is that
 * layout; records carry their own version and migrate on their next write,
 * so `store migrate` has nothing to do but make the directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "p11enroll/audit.h"
#include "p11enroll/util.h"
#include "store_int.h"

#define FILE_LAYOUT_VERSION 1

typedef struct file_store {
	char *dir;
	char *audit_log; /* the config's "audit_log", else STATE_DIR/audit.jsonl */
	p11e_err audit_log_err; /* why there is none: told when the log is used */
	int flat; /* every kind's documents in dir itself (p11e_store_open_flat) */
} file_store;

void p11e_store_file_set_flat(void *state)
{
	((file_store *)state)->flat = 1;
}

/* The directory of kind k's documents, malloc'd (NULL: out of memory). */
static char *kind_dir(const file_store *f, const p11e_store_kind *k)
{
	return f->flat ? strdup(f->dir) : p11e_path_join(f->dir, k->dir);
}

static const char *const file_keys[] = {"type", NULL};

static p11e_rc file_open(const p11e_config *cfg, const struct json_object *conf, void **state,
			 p11e_err *err)
{
	file_store *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->dir = strdup(cfg->state_dir)) == NULL) {
		free(f);
		return p11e_errf(err, P11E_FAIL, "store: out of memory");
	}
	/* A bad "audit_log" fails what audits, as it always has, not the rest. */
	if (p11e_audit_path(cfg, &f->audit_log, &f->audit_log_err) != P11E_OK)
		f->audit_log = NULL;
	*state = f;
	return P11E_OK;
}

static void file_close(void *state)
{
	file_store *f = state;

	free(f->dir);
	free(f->audit_log);
	free(f);
}

static p11e_rc file_migrate(void *state, int create, int *from, int *to, p11e_err *err)
{
	file_store *f = state;
	struct stat st;
	p11e_rc rc;

	*from = *to = 0;
	if (stat(f->dir, &st) == 0 && S_ISDIR(st.st_mode))
		*from = FILE_LAYOUT_VERSION;
	else if (!create)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "store: %s does not exist yet; `p11enroll store init` makes it",
				 f->dir);
	if ((rc = p11e_mkdirs(f->dir, 0700, err)) != P11E_OK)
		return rc;
	*to = FILE_LAYOUT_VERSION;
	return P11E_OK;
}

static p11e_rc file_info(void *state, p11e_store_info *out, p11e_err *err)
{
	file_store *f = state;
	struct stat st;

	snprintf(out->type, sizeof(out->type), "file");
	snprintf(out->where, sizeof(out->where), "%s", f->dir);
	out->known_version = FILE_LAYOUT_VERSION;
	out->schema_version =
	    stat(f->dir, &st) == 0 && S_ISDIR(st.st_mode) ? FILE_LAYOUT_VERSION : 0;
	return P11E_OK;
}

#define WITH_KIND_DIR(call)                                                                \
	do {                                                                               \
		char *dir = kind_dir(state, k);                                            \
		p11e_rc rc_;                                                               \
		if (dir == NULL)                                                           \
			return p11e_errf(err, P11E_FAIL, "out of memory");                 \
		rc_ = (call);                                                              \
		free(dir);                                                                 \
		return rc_;                                                                \
	} while (0)

static p11e_rc file_get(void *state, const p11e_store_kind *k, const char *name,
			unsigned char **data, size_t *len, p11e_err *err)
{
	WITH_KIND_DIR(p11e_store_file_get(dir, k, name, data, len, err));
}

static p11e_rc file_put(void *state, const p11e_store_kind *k, const char *name, const void *data,
			size_t len, int flags, p11e_err *err)
{
	WITH_KIND_DIR(p11e_store_file_put(dir, k, name, data, len, flags, err));
}

static p11e_rc file_remove(void *state, const p11e_store_kind *k, const char *name, p11e_err *err)
{
	WITH_KIND_DIR(p11e_store_file_remove(dir, k, name, err));
}

static p11e_rc file_list(void *state, const p11e_store_kind *k, p11e_store_doc **docs, size_t *n,
			 p11e_err *err)
{
	WITH_KIND_DIR(p11e_store_file_list(dir, k, docs, n, err));
}

static int file_same_name(void *state, const p11e_store_kind *k, const char *stored,
			  const char *name)
{
	(void)state;
	return p11e_store_file_same_name(k, stored, name);
}

static void file_describe(void *state, const p11e_store_kind *k, const char *name, char *buf,
			  size_t cap)
{
	char *dir = kind_dir(state, k), *path = dir ? p11e_store_file_doc_path(dir, k, name) : NULL;

	if (path != NULL)
		snprintf(buf, cap, "%s", path);
	free(path);
	free(dir);
}

static p11e_rc file_lock(void *state, const char *kind, const char *name, long wait_ms,
			 void **held, p11e_err *err)
{
	return p11e_store_file_lock(((file_store *)state)->dir, kind, name, wait_ms, held, err);
}

static void file_unlock(void *state, void *held)
{
	(void)state;
	p11e_store_file_unlock(held);
}

static p11e_rc file_audit_read(void *state, int flags, p11e_store_audit_head *head,
			       enum p11e_store_audit_given *given, p11e_store_audit_fn fn,
			       void *arg, p11e_err *err)
{
	file_store *f = state;

	if (f->audit_log == NULL) {
		*err = f->audit_log_err;
		return err->rc;
	}
	return p11e_store_file_audit_read(f->dir, f->audit_log, flags, head, given, fn, arg, err);
}

static p11e_rc file_audit_append(void *state, int flags, p11e_store_audit_head *head,
				 const p11e_store_audit_append_cb *cb, void *arg, p11e_err *err)
{
	file_store *f = state;

	if (f->audit_log == NULL) {
		*err = f->audit_log_err;
		return err->rc;
	}
	return p11e_store_file_audit_append(f->dir, f->audit_log, flags, head, cb, arg, err);
}

static p11e_rc file_counter_next(void *state, const char *name, unsigned long long first,
				 unsigned long long *out, p11e_err *err)
{
	return p11e_store_file_counter_next(((file_store *)state)->dir, name, first, out, err);
}

static p11e_rc file_counter_list(void *state, p11e_store_counter **out, size_t *n, p11e_err *err)
{
	return p11e_store_file_counter_list(((file_store *)state)->dir, out, n, err);
}

static p11e_rc file_counter_raise(void *state, const char *name, unsigned long long at_least,
				  unsigned long long *now, p11e_err *err)
{
	return p11e_store_file_counter_raise(((file_store *)state)->dir, name, at_least, now, err);
}

const p11e_store_ops p11e_store_file_ops = {
    .type = "file",
    .config_keys = file_keys,
    .open = file_open,
    .close = file_close,
    .migrate = file_migrate,
    .info = file_info,
    .get = file_get,
    .put = file_put,
    .remove = file_remove,
    .list = file_list,
    .same_name = file_same_name,
    .describe = file_describe,
    .lock = file_lock,
    .unlock = file_unlock,
    .audit_read = file_audit_read,
    .audit_append = file_audit_append,
    .counter_next = file_counter_next,
    .counter_list = file_counter_list,
    .counter_raise = file_counter_raise,
};
