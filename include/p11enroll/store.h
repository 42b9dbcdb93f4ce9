/* Where p11enroll keeps its state: the store (docs/store.md). One vtable,
 * one file per backend (src/store/):
 *   "file"        STATE_DIR on this machine (the default; nothing to set up)
 *   "postgresql"  one database that several stations, the portal and the
 *                 renewal timer share (libpq, opened on first use)
 * chosen by the config's "store" object:
 *
 *   "store": { "type": "postgresql", "conninfo_source": "env:PGCONN",
 *              "schema": "p11enroll", "ca_bundle": "/etc/p11enroll/pg-ca.pem",
 *              "connect_timeout": 10 }
 *
 * This first step of the fleet (issue 21) gives every backend its life
 * cycle: open, create (`store init`), bring up to date (`store migrate`,
 * versioned migrations; a schema newer than the binary is refused) and
 * describe (`store status`). The state itself moves behind this vtable in
 * the steps that follow; until then the file backend is where it lives. */
#ifndef P11ENROLL_STORE_H
#define P11ENROLL_STORE_H

#include "p11enroll/config.h"
#include "p11enroll/error.h"

struct json_object;

/* What `store status` shows. */
typedef struct p11e_store_info {
	char type[16];	    /* "file", "postgresql" */
	char where[256];    /* the directory, or "db NAME on HOST:PORT, schema S" */
	int schema_version; /* 0: not created yet */
	int known_version;  /* the newest this binary knows */
	char server[64];    /* the server's version ("15.18"), or "" */
	int read_only;	    /* connected to a standby: nothing can be written */
} p11e_store_info;

typedef struct p11e_store p11e_store;

typedef struct p11e_store_ops {
	const char *type;
	/* The keys the config's "store" object may hold (p11e_conf_unknown_key). */
	const char *const *config_keys;
	/* Reads conf (the "store" object, NULL for the default file store) and
	 * connects; *state is the backend's own. P11E_CONFIG naming the key on a
	 * bad value; P11E_FAIL when the store cannot be reached, saying why. */
	p11e_rc (*open)(const p11e_config *cfg, const struct json_object *conf, void **state,
			p11e_err *err);
	void (*close)(void *state);
	/* Creates what is missing and applies every migration: *from is the
	 * version found (0: none), *to the version now. Idempotent, and safe
	 * when several stations run it at once (one of them migrates, the
	 * others find it done). create=0 (`store migrate`) refuses a store
	 * that was never initialised (P11E_NOT_FOUND). */
	p11e_rc (*migrate)(void *state, int create, int *from, int *to, p11e_err *err);
	p11e_rc (*info)(void *state, p11e_store_info *out, p11e_err *err);
} p11e_store_ops;

/* The registry, index i (NULL past the last): config checks and messages. */
const p11e_store_ops *p11e_store_backend(size_t i);

/* The store cfg names (its "store", else the file store under state_dir). */
p11e_rc p11e_store_open(const p11e_config *cfg, p11e_store **out, p11e_err *err);
void p11e_store_close(p11e_store *s);
p11e_rc p11e_store_migrate(p11e_store *s, int create, int *from, int *to, p11e_err *err);
p11e_rc p11e_store_info_get(p11e_store *s, p11e_store_info *out, p11e_err *err);

#endif
