/* The store registry (include/p11enroll/store.h): the config's "store"
 * object picks a p11e_store_ops table by its "type"; without one the state
 * lives in files under STATE_DIR, as it always has. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "p11enroll/store.h"
#include "p11enroll/util.h"
#include "store_int.h"

struct p11e_store {
	const p11e_store_ops *ops;
	void *state;
	json_object *env_conf; /* the "store" P11ENROLL_STORE stands for, kept while open */
	/* Its holders beyond the opener: p11e_store_open_home_in hands the
	 * config's shared store to the CAs of the same process (threads of a
	 * batch among them), and the last close closes it. */
	atomic_int extra_refs;
};

/* One entry per backend file (src/store/store_*.c). */
static const p11e_store_ops *const backends[] = {
    &p11e_store_file_ops,
    &p11e_store_pg_ops,
    NULL,
};

/* Every kind of document: a new kind of state is a line here. */
static const p11e_store_kind kinds[] = {
    {"identity", "identities", ".json", 1024 * 1024, 0},
    {"key", "keys", ".p8", 64 * 1024, 0},
    {"pfx", "pfx", ".p12", 1024 * 1024, 0},
    /* The file vault's entries (vault_file.c), named and hashed as they
     * always were: an escaped name past 236 characters is SHA256-<hex>, the
     * name then kept only in its metadata document. */
    {"escrow", "escrow", ".cms", 1024 * 1024, 236},
    {"escrow-meta", "escrow", ".meta", 64 * 1024, 236},
    /* Invitation codes: named by the code's SHA-256 (portal_invite.c). */
    {"invite", "portal/invites", ".json", 4096, 0},
    /* The portal's sessions and failed sign-in counts, named by SHA-256
     * (portal_session.c, portal_state.c), and its CSRF key. */
    {"session", "portal/sessions", ".json", 16 * 1024, 0},
    {"attempt", "portal/attempts", ".json", 16 * 1024, 0},
    {"portal-secret", "portal/secrets", ".key", 4 * 1024, 0},
    {"ca-cert", "ca-certs", ".json", 64 * 1024, 0},
    {"ca-request", "ca-requests", ".json", 64 * 1024, 0},
    /* ACME account state (ca_acme*.c), named HASH/... (HASH: 16 hex digits
     * of the directory URL's SHA-256); the file store, rooted at the CA's
     * acme-HASH directory or its "dir", keeps today's files there:
     * HASH/account as account.json and account.key, HASH/REQUEST_KEY as
     * orders/REQUEST_KEY.json, HASH/chain as chain.pem. */
    {"acme-account", "", ".json", 64 * 1024, 0},
    {"acme-key", "", ".key", 64 * 1024, 0},
    {"acme-order", "orders", ".json", 256 * 1024, 0},
    {"acme-chain", "", ".pem", 256 * 1024, 0},
    /* certsrv's requests (ca_certsrv.c), named HASH/REQUEST_KEY as ACME's
     * orders: requests/REQUEST_KEY.json in the CA's certsrv-HASH home. */
    {"certsrv-request", "requests", ".json", 4 * 1024, 0},
    /* CMP transactions (ca_cmp*.c), named HASH/REQUEST_KEY (HASH: 16 hex
     * digits of the CA url's SHA-256); the file store keeps them in the
     * CA's cmp-HASH directory (or its "dir"), requests/. */
    {"cmp-request", "requests", ".json", 256 * 1024, 0},
    /* The card registry (card.c): one card, named by its token serial. */
    {"card", "cards", ".json", 1024 * 1024, 0},
    /* EST requests (ca_est.c), named HASH-REQUEST_KEY (HASH: 16 hex digits
     * of the EST url's SHA-256): sent, pending, issued or unsettled. */
    {"est-request", "requests", ".json", 256 * 1024, 0},
};

static const p11e_store_kind *kind_of(const char *name, p11e_err *err)
{
	for (size_t i = 0; name != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].name, name) == 0)
			return &kinds[i];
	p11e_errf(err, P11E_USAGE, "store: no kind of document '%.40s'", name ? name : "");
	return NULL;
}

static p11e_rc name_ok(const char *name, p11e_err *err)
{
	if (name == NULL || name[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "store: a document needs a name");
	return P11E_OK;
}

const char *p11e_store_kind_name(size_t i)
{
	return i < sizeof(kinds) / sizeof(kinds[0]) ? kinds[i].name : NULL;
}

/* The kinds named HOME/REST (store_int.h). */
static const char *const home_prefixed[] = {"acme-account", "acme-key", "acme-order", "acme-chain",
					    "certsrv-request", NULL};

int p11e_store_kind_home_prefixed(const char *kind)
{
	for (size_t i = 0; home_prefixed[i] != NULL; i++)
		if (strcmp(home_prefixed[i], kind) == 0)
			return 1;
	return 0;
}

const p11e_store_ops *p11e_store_backend(size_t i)
{
	return i < sizeof(backends) / sizeof(backends[0]) ? backends[i] : NULL;
}

static p11e_rc open_with(const p11e_store_ops *ops, const p11e_config *cfg, json_object *conf,
			 json_object *env_conf, p11e_store **out, p11e_err *err)
{
	p11e_store *s;
	p11e_rc rc;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		json_object_put(env_conf);
		return p11e_errf(err, P11E_FAIL, "store: out of memory");
	}
	s->ops = ops;
	s->env_conf = env_conf;
	atomic_init(&s->extra_refs, 0);
	if ((rc = ops->open(cfg, conf, &s->state, err)) != P11E_OK) {
		json_object_put(env_conf);
		free(s);
		return rc;
	}
	*out = s;
	return P11E_OK;
}

/* Without a "store" in the config: P11ENROLL_STORE names the type ("file",
 * "postgresql": the database then comes from libpq's own PG* environment
 * and ~/.pgpass), as P11ENROLL_STATE_DIR names the directory. For a service
 * unit's Environment= and the test suite's second run over PostgreSQL. */
static p11e_rc env_store(json_object **conf, p11e_err *err)
{
	const char *type = getenv("P11ENROLL_STORE");

	*conf = NULL;
	if (type == NULL || type[0] == '\0' || strcmp(type, "file") == 0)
		return P11E_OK;
	if (strcmp(type, "postgresql") != 0)
		return p11e_errf(err, P11E_CONFIG,
				 "P11ENROLL_STORE '%.40s' is not a store type (known: file, "
				 "postgresql)",
				 type);
	if ((*conf = json_object_new_object()) == NULL ||
	    json_object_object_add(*conf, "type", json_object_new_string(type)) != 0) {
		json_object_put(*conf);
		*conf = NULL;
		return p11e_errf(err, P11E_FAIL, "store: out of memory");
	}
	return P11E_OK;
}

p11e_rc p11e_store_open_dir(const char *dir, p11e_store **out, p11e_err *err)
{
	p11e_config cfg = {.state_dir = (char *)dir};

	*out = NULL;
	return open_with(&p11e_store_file_ops, &cfg, NULL, NULL, out, err);
}

p11e_rc p11e_store_open_station(const char *dir, const char *audit_log, p11e_store **out,
				p11e_err *err)
{
	p11e_config cfg = {.state_dir = (char *)dir};
	p11e_rc rc;

	*out = NULL;
	if (audit_log == NULL)
		return p11e_store_open_dir(dir, out, err);
	if ((cfg.root = json_object_new_object()) == NULL ||
	    json_object_object_add(cfg.root, "audit_log", json_object_new_string(audit_log)) != 0) {
		json_object_put(cfg.root);
		return p11e_errf(err, P11E_FAIL, "store: out of memory");
	}
	rc = open_with(&p11e_store_file_ops, &cfg, NULL, NULL, out, err);
	json_object_put(cfg.root);
	return rc;
}

p11e_rc p11e_store_open_flat(const char *dir, p11e_store **out, p11e_err *err)
{
	p11e_config cfg = {.state_dir = (char *)dir};
	p11e_rc rc;

	*out = NULL;
	if ((rc = open_with(&p11e_store_file_ops, &cfg, NULL, NULL, out, err)) == P11E_OK)
		p11e_store_file_set_flat((*out)->state);
	return rc;
}

p11e_rc p11e_store_open_home(const struct json_object *conf, const char *dir, p11e_store **out,
			     p11e_err *err)
{
	json_object *root = NULL, *jt = NULL, *env_conf = NULL;
	p11e_config cfg = {.path = (char *)"the config", .state_dir = (char *)dir};
	p11e_rc rc;

	*out = NULL;
	/* No "store" in the config: P11ENROLL_STORE's, as p11e_store_open. */
	if (conf == NULL && (rc = env_store(&env_conf, err)) != P11E_OK)
		return rc;
	if (env_conf != NULL)
		return open_with(&p11e_store_pg_ops, &cfg, env_conf, env_conf, out, err);
	/* The file store keeps it in dir itself: one CA directory is one CA,
	 * whichever config or STATE_DIR uses it, as it always was. */
	if (conf == NULL ||
	    (json_object_object_get_ex(conf, "type", &jt) &&
	     json_object_is_type(jt, json_type_string) &&
	     strcmp(json_object_get_string(jt), p11e_store_file_ops.type) == 0))
		return p11e_store_open_dir(dir, out, err);
	if ((root = json_object_new_object()) == NULL ||
	    json_object_object_add(root, "store", json_object_get((json_object *)conf)) != 0) {
		json_object_put(root);
		return p11e_errf(err, P11E_FAIL, "store: out of memory");
	}
	cfg.root = root;
	rc = p11e_store_open(&cfg, out, err);
	json_object_put(root);
	return rc;
}

p11e_rc p11e_store_open_home_in(p11e_store *shared, const char *dir, p11e_store **out,
				p11e_err *err)
{
	*out = NULL;
	/* The file store keeps a home's state in dir (p11e_store_open_home). */
	if (shared->ops == &p11e_store_file_ops)
		return p11e_store_open_dir(dir, out, err);
	atomic_fetch_add(&shared->extra_refs, 1);
	*out = shared;
	return P11E_OK;
}

p11e_rc p11e_store_open(const p11e_config *cfg, p11e_store **out, p11e_err *err)
{
	json_object *conf = NULL, *env_conf = NULL, *jt;
	const p11e_store_ops *ops = &p11e_store_file_ops;
	const char *type = NULL;
	p11e_rc rc;

	*out = NULL;
	if (cfg->root == NULL || !json_object_object_get_ex(cfg->root, "store", &conf)) {
		if ((rc = env_store(&env_conf, err)) != P11E_OK)
			return rc;
		if (env_conf != NULL)
			ops = &p11e_store_pg_ops;
		return open_with(ops, cfg, env_conf, env_conf, out, err);
	}
	if (!json_object_is_type(conf, json_type_object))
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: store must be an object with a \"type\" (file, "
				 "postgresql)",
				 cfg->path);
	if (json_object_object_get_ex(conf, "type", &jt) && json_object_is_type(jt, json_type_string))
		type = json_object_get_string(jt);
	ops = NULL;
	for (size_t i = 0; type != NULL && backends[i] != NULL; i++)
		if (strcmp(backends[i]->type, type) == 0)
			ops = backends[i];
	if (ops == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: store.type '%.40s' is not a store type (known: file, "
				 "postgresql)",
				 cfg->path, type ? type : "");
	return open_with(ops, cfg, conf, NULL, out, err);
}

void p11e_store_close(p11e_store *s)
{
	if (s == NULL)
		return;
	/* Another holder still uses it (p11e_store_open_home_in). */
	if (atomic_fetch_sub(&s->extra_refs, 1) > 0)
		return;
	s->ops->close(s->state);
	json_object_put(s->env_conf);
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

p11e_rc p11e_store_get(p11e_store *s, const char *kind, const char *name, unsigned char **data,
		       size_t *len, p11e_err *err)
{
	const p11e_store_kind *k = kind_of(kind, err);

	*data = NULL;
	*len = 0;
	if (k == NULL)
		return P11E_USAGE;
	if (name_ok(name, err) != P11E_OK)
		return P11E_USAGE;
	return s->ops->get(s->state, k, name, data, len, err);
}

p11e_rc p11e_store_put(p11e_store *s, const char *kind, const char *name, const void *data,
		       size_t len, int flags, p11e_err *err)
{
	const p11e_store_kind *k = kind_of(kind, err);

	if (k == NULL)
		return P11E_USAGE;
	if (name_ok(name, err) != P11E_OK)
		return P11E_USAGE;
	if (len > k->max)
		return p11e_errf(err, P11E_FAIL, "store: %s %.100s: %zu bytes, more than %zu",
				 kind, name, len, k->max);
	return s->ops->put(s->state, k, name, data, len, flags, err);
}

p11e_rc p11e_store_remove(p11e_store *s, const char *kind, const char *name, p11e_err *err)
{
	const p11e_store_kind *k = kind_of(kind, err);

	if (k == NULL)
		return P11E_USAGE;
	if (name_ok(name, err) != P11E_OK)
		return P11E_USAGE;
	return s->ops->remove(s->state, k, name, err);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const p11e_store_doc *)a)->name, ((const p11e_store_doc *)b)->name);
}

p11e_rc p11e_store_list(p11e_store *s, const char *kind, p11e_store_doc **docs, size_t *n,
			p11e_err *err)
{
	const p11e_store_kind *k = kind_of(kind, err);
	p11e_rc rc;

	*docs = NULL;
	*n = 0;
	if (k == NULL)
		return P11E_USAGE;
	if ((rc = s->ops->list(s->state, k, docs, n, err)) != P11E_OK) {
		p11e_store_docs_free(*docs, *n);
		*docs = NULL;
		*n = 0;
	} else if (*n > 1) {
		qsort(*docs, *n, sizeof(**docs), by_name);
	}
	return rc;
}

void p11e_store_docs_free(p11e_store_doc *docs, size_t n)
{
	for (size_t i = 0; docs != NULL && i < n; i++) {
		free(docs[i].name);
		/* Documents may be secrets (a key in progress): wiped. */
		p11e_secret_free((char *)docs[i].data, docs[i].len + 1);
	}
	free(docs);
}

int p11e_store_same_name(p11e_store *s, const char *kind, const char *stored_name,
			 const char *name)
{
	p11e_err ignored;
	const p11e_store_kind *k = kind_of(kind, &ignored);

	return k != NULL && s->ops->same_name(s->state, k, stored_name, name);
}

const char *p11e_store_describe(p11e_store *s, const char *kind, const char *name, char *buf,
				size_t cap)
{
	p11e_err ignored;
	const p11e_store_kind *k = kind_of(kind, &ignored);

	snprintf(buf, cap, "%.40s %.200s in the store", kind, name);
	if (k != NULL)
		s->ops->describe(s->state, k, name, buf, cap);
	return buf;
}

static int lock_kind_ok(const char *kind)
{
	if (kind == NULL || kind[0] == '\0')
		return 0;
	for (const char *c = kind; *c; c++)
		if (*c < 'a' || *c > 'z')
			return 0;
	return 1;
}

p11e_rc p11e_store_lock(p11e_store *s, const char *kind, const char *name, long wait_ms,
			void **held, p11e_err *err)
{
	*held = NULL;
	if (!lock_kind_ok(kind) || name == NULL || name[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "lock: a kind [a-z]+ and a name are needed");
	return s->ops->lock(s->state, kind, name, wait_ms, held, err);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void p11e_store_wait_start(p11e_store_wait *w, long wait_ms)
{
	w->deadline = now_ms() + (wait_ms > 0 ? wait_ms : 0);
	w->pause = 10;
}

int p11e_store_wait_more(p11e_store_wait *w)
{
	long left = w->deadline - now_ms(), ms;
	struct timespec ts;

	if (left <= 0)
		return 0;
	ms = w->pause < left ? w->pause : left;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	if (w->pause < 200)
		w->pause *= 2;
	return 1;
}

p11e_rc p11e_store_busy(p11e_err *err, const char *kind, const char *name, const char *holder)
{
	return p11e_errf(err, P11E_BUSY,
			 "busy: %s %.200s is being %s by %s; retry when it is done, or wait "
			 "longer (--wait SECONDS)",
			 kind, name, strcmp(kind, "identity") == 0 ? "enrolled" : "worked on",
			 holder);
}

void p11e_store_unlock(p11e_store *s, void *held)
{
	if (held != NULL)
		s->ops->unlock(s->state, held);
}

p11e_rc p11e_store_counter_next(p11e_store *s, const char *name, unsigned long long first,
				unsigned long long *out, p11e_err *err)
{
	if (name_ok(name, err) != P11E_OK)
		return P11E_USAGE;
	if (s->ops->counter_next == NULL)
		return p11e_errf(err, P11E_FAIL, "store: %s keeps no counters yet", s->ops->type);
	return s->ops->counter_next(s->state, name, first, out, err);
}

static int counter_by_name(const void *a, const void *b)
{
	return strcmp(((const p11e_store_counter *)a)->name, ((const p11e_store_counter *)b)->name);
}

p11e_rc p11e_store_counter_list(p11e_store *s, p11e_store_counter **out, size_t *n,
				p11e_err *err)
{
	p11e_rc rc;

	*out = NULL;
	*n = 0;
	if (s->ops->counter_list == NULL)
		return p11e_errf(err, P11E_FAIL, "store: %s keeps no counters yet", s->ops->type);
	if ((rc = s->ops->counter_list(s->state, out, n, err)) != P11E_OK) {
		p11e_store_counters_free(*out, *n);
		*out = NULL;
		*n = 0;
	} else if (*n > 1) {
		qsort(*out, *n, sizeof(**out), counter_by_name);
	}
	return rc;
}

void p11e_store_counters_free(p11e_store_counter *c, size_t n)
{
	for (size_t i = 0; c != NULL && i < n; i++)
		free(c[i].name);
	free(c);
}

p11e_rc p11e_store_counter_raise(p11e_store *s, const char *name, unsigned long long at_least,
				 unsigned long long *now, p11e_err *err)
{
	if (name_ok(name, err) != P11E_OK)
		return P11E_USAGE;
	if (s->ops->counter_raise == NULL)
		return p11e_errf(err, P11E_FAIL, "store: %s keeps no counters yet", s->ops->type);
	return s->ops->counter_raise(s->state, name, at_least, now, err);
}

p11e_rc p11e_store_audit_read(p11e_store *s, int flags, p11e_store_audit_head *head,
			      enum p11e_store_audit_given *given, p11e_store_audit_fn fn,
			      void *arg, p11e_err *err)
{
	memset(head, 0, sizeof(*head));
	*given = P11E_STORE_AUDIT_ALL;
	if (s->ops->audit_read == NULL)
		return p11e_errf(err, P11E_FAIL, "store: %s keeps no audit chain yet", s->ops->type);
	return s->ops->audit_read(s->state, flags, head, given, fn, arg, err);
}

p11e_rc p11e_store_audit_append(p11e_store *s, int flags, p11e_store_audit_head *head,
				const p11e_store_audit_append_cb *cb, void *arg, p11e_err *err)
{
	memset(head, 0, sizeof(*head));
	if (s->ops->audit_append == NULL)
		return p11e_errf(err, P11E_FAIL, "store: %s keeps no audit chain yet", s->ops->type);
	return s->ops->audit_append(s->state, flags, head, cb, arg, err);
}
