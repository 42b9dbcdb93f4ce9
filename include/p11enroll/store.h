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
 * Everything p11enroll keeps goes through it as documents: bytes under a
 * KIND and a NAME (p11e_store_get/put/remove/list), with named locks beside
 * them (p11e_lock_acquire, lock.h). Nothing outside src/store/ knows where a
 * document lives: a file under STATE_DIR or a row in PostgreSQL.
 *
 * Kinds (store.c's table; the file store's directory and suffix beside):
 *   identity  an identity's record, JSON (identities/NAME.json)
 *   key       a software key in progress, encrypted (keys/NAME.p8)
 *   pfx       a software key's PKCS#12 file (pfx/NAME.p12)
 *   escrow    the file vault's encrypted entries, CMS (escrow/NAME.cms)
 *   escrow-meta  beside each, its metadata, JSON (escrow/NAME.meta)
 *   invite    the portal's invitation codes, as hashes (portal/invites/H.json)
 *   session   a portal session, named by its token's SHA-256
 *             (portal/sessions/NAME.json)
 *   attempt   a portal's failed sign-in count, named by its key's SHA-256
 *             (portal/attempts/NAME.json)
 *   portal-secret  the portal's CSRF key (portal/secrets/csrf.key)

 *   ca-cert   the embedded CA's index: one certificate it issued, JSON, named
 *             CAID/SERIAL (ca-certs/NAME.json; CAID: the CA key's SHA-256)
 *   ca-request  the certificate it issued for one request, JSON with the PEM,
 *             named CAID/REQUEST_KEY (ca-requests/NAME.json)
 *   acme-account, acme-key, acme-order, acme-chain  an ACME CA's account,
 *             account key, orders in progress and last chain, named HASH/...
 *             (HASH: of the directory URL); the file store, rooted at the
 *             CA's dir, keeps account.json, account.key, orders/KEY.json and
 *             chain.pem there (docs/store.md#acme-account-state)
 *   card      the card registry: one card by its token serial, JSON
 *             (cards/SERIAL.json; include/p11enroll/card.h)
 * Locks are named by a kind of their own ("identity", "token", "escrow",
 * "portal", "acme"): flock(2) on files under STATE_DIR/locks in the file store,
 * advisory locks held by a connection of their own in PostgreSQL; either
 * way a holder that dies releases them. */
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
struct p11e_store_kind; /* store_int.h */

/* One document of a list. */
typedef struct p11e_store_doc {
	char *name;	     /* as the store keeps it: see p11e_store_same_name */
	unsigned char *data; /* len bytes, and a NUL after them */
	size_t len;
} p11e_store_doc;

/* One counter of a list: its name and the last value it handed out. */
typedef struct p11e_store_counter {
	char *name;
	unsigned long long value;
} p11e_store_counter;
/* The audit chain as the store keeps it (audit.h has its rules; the chain
 * code in src/core/audit*.c builds and checks every line, for both
 * backends). The head: the chain's last entry, written with each append. */
typedef struct p11e_store_audit_head {
	int found;	  /* there is a head (file: STATE_DIR/audit.head; pg: audit_head's row) */
	int other_log;	  /* file: the head is about another log (the config's audit_log changed) */
	int atomic;	  /* written in one transaction with its line (pg): a head behind the
			   * chain is then tampering, not a crash between the two */
	long long seq;	  /* its last seq (0 with other_log or none) */
	char sha256[65];  /* the last line's SHA-256 (hex) */
	char where[300];  /* the chain, for messages: the log's path, "PostgreSQL table S.audit" */
	char head_where[300]; /* the head, for messages */
	char unit[8];	  /* what an entry is called there: "line" (file), "entry" (pg) */
} p11e_store_audit_head;

/* One entry handed to the chain code, in the chain's order. */
typedef struct p11e_store_audit_entry {
	char *line;	    /* len bytes without the newline, a NUL after them; the
			     * callback may change them while it runs but restores them */
	size_t len;
	int unterminated;   /* file: the last line had no newline (a torn write) */
	long long seq;	    /* pg: the row's seq; 0 in a file (the line says) */
	const char *sha256; /* pg: the row's sha256 column; NULL in a file */
	int tail;	    /* the chain's last entry, handed without those before it */
	const p11e_store_audit_head *head; /* the head, read under the same lock */
} p11e_store_audit_entry;

/* Which entries a read or an append hands over (*given). */
enum p11e_store_audit_given {
	P11E_STORE_AUDIT_ALL,	 /* every entry from the first */
	P11E_STORE_AUDIT_TAIL,	 /* the last entry only (none: the store holds none) */
	P11E_STORE_AUDIT_VOUCHED /* none: the store vouches that the chain ends as the
				  * head says (file: the log is exactly as the last
				  * append left it) */
};

/* p11e_store_audit_read's and _append's flags. */
#define P11E_STORE_AUDIT_TAIL 1	    /* hand over only what checks the chain's end */
#define P11E_STORE_AUDIT_EXISTING 2 /* append: to a chain that exists, else P11E_NOT_FOUND */

typedef p11e_rc (*p11e_store_audit_fn)(void *arg, p11e_store_audit_entry *e, p11e_err *err);

/* An append's callbacks, called under the store's lock (or transaction). */
typedef struct p11e_store_audit_append_cb {
	p11e_store_audit_fn entry; /* each entry given, before build */
	/* The next line (malloc'd into *line, len bytes without a newline and
	 * 2 bytes more, where the store may put one; NULL: write nothing), its
	 * seq and SHA-256, built on the chain checked so far. */
	p11e_rc (*build)(void *arg, const p11e_store_audit_head *head,
			 enum p11e_store_audit_given given, char **line, size_t *len,
			 long long *seq, char sha256[65], p11e_err *err);
} p11e_store_audit_append_cb;

typedef struct p11e_store_ops {
	const char *type;
	/* The keys the config's "store" object may hold (p11e_conf_unknown_key). */
	const char *const *config_keys;
	/* Reads conf (the "store" object, NULL for the default file store);
	 * *state is the backend's own. P11E_CONFIG naming the key on a bad
	 * value. Every command opens the store: no I/O here (PostgreSQL
	 * connects on the first operation, which fails with P11E_FAIL saying
	 * why when the store cannot be reached). */
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
	/* Documents and locks: as p11e_store_get... below, the kind already
	 * checked against store.c's table. */
	p11e_rc (*get)(void *state, const struct p11e_store_kind *k, const char *name,
		       unsigned char **data, size_t *len, p11e_err *err);
	p11e_rc (*put)(void *state, const struct p11e_store_kind *k, const char *name,
		       const void *data, size_t len, int flags, p11e_err *err);
	p11e_rc (*remove)(void *state, const struct p11e_store_kind *k, const char *name,
			  p11e_err *err);
	p11e_rc (*list)(void *state, const struct p11e_store_kind *k, p11e_store_doc **docs,
			size_t *n, p11e_err *err);
	int (*same_name)(void *state, const struct p11e_store_kind *k, const char *stored,
			 const char *name);
	void (*describe)(void *state, const struct p11e_store_kind *k, const char *name,
			 char *buf, size_t cap);
	/* Takes the lock kind/name, waiting up to wait_ms (0: try once); *held
	 * is the backend's handle for unlock. P11E_BUSY naming the holder when
	 * it is still held after that. */
	p11e_rc (*lock)(void *state, const char *kind, const char *name, long wait_ms,
			void **held, p11e_err *err);
	void (*unlock)(void *state, void *held);
	/* Counters: as p11e_store_counter_next. */
	p11e_rc (*counter_next)(void *state, const char *name, unsigned long long first,
				unsigned long long *out, p11e_err *err);
	/* As p11e_store_counter_list and _raise. */
	p11e_rc (*counter_list)(void *state, struct p11e_store_counter **out, size_t *n,
				p11e_err *err);
	p11e_rc (*counter_raise)(void *state, const char *name, unsigned long long at_least,
				 unsigned long long *now, p11e_err *err);
	/* The audit chain: as p11e_store_audit_read and _append. */
	p11e_rc (*audit_read)(void *state, int flags, p11e_store_audit_head *head,
			      enum p11e_store_audit_given *given, p11e_store_audit_fn fn, void *arg,
			      p11e_err *err);
	p11e_rc (*audit_append)(void *state, int flags, p11e_store_audit_head *head,
				const p11e_store_audit_append_cb *cb, void *arg, p11e_err *err);
} p11e_store_ops;

/* The registry, index i (NULL past the last): config checks and messages. */
const p11e_store_ops *p11e_store_backend(size_t i);

/* The store cfg names (its "store", else the file store under state_dir). */
p11e_rc p11e_store_open(const p11e_config *cfg, p11e_store **out, p11e_err *err);
void p11e_store_close(p11e_store *s);
p11e_rc p11e_store_migrate(p11e_store *s, int create, int *from, int *to, p11e_err *err);
p11e_rc p11e_store_info_get(p11e_store *s, p11e_store_info *out, p11e_err *err);

/* A file store on dir, whatever the config says (tests, `store migrate
 * --from file:DIR`). */
p11e_rc p11e_store_open_dir(const char *dir, p11e_store **out, p11e_err *err);

/* The same with the audit log at audit_log (NULL: STATE_DIR/audit.jsonl),
 * as a station whose config names its "audit_log" keeps it. */
p11e_rc p11e_store_open_station(const char *dir, const char *audit_log, p11e_store **out,
				p11e_err *err);

/* A file store whose documents are files directly in dir, whatever their
 * kind's directory (a file vault's configured "dir", docs/vault.md). */
p11e_rc p11e_store_open_flat(const char *dir, p11e_store **out, p11e_err *err);

/* The store for the state that belongs to directory dir (the embedded CA's
 * index and counters): conf is the config's "store" object (NULL: none, and
 * then P11ENROLL_STORE's, as p11e_store_open).
 * The file store keeps that state in dir itself, so that one directory is
 * one CA whichever config uses it; a shared store (PostgreSQL) is the one
 * conf names, dir unused. */
p11e_rc p11e_store_open_home(const struct json_object *conf, const char *dir, p11e_store **out,
			     p11e_err *err);

/* The same for a process whose config's store is open already (cfg->store):
 * a shared store is shared itself, not opened again (one PostgreSQL session
 * and one pool of lock connections per process, not one per CA), handed
 * back with one more reference that p11e_store_close drops; the file store
 * is opened on dir, as p11e_store_open_home does. */
p11e_rc p11e_store_open_home_in(p11e_store *shared, const char *dir, p11e_store **out,
				p11e_err *err);

/* Documents. */

/* p11e_store_put's flags. */
#define P11E_STORE_DURABLE 1 /* on stable storage when put returns (else soon) */
#define P11E_STORE_CREATE 2  /* only if there is none yet: else P11E_EXISTS, nothing
			      * written (an escrowed password is never replaced) */

/* The document KIND/NAME into *data (malloc'd, len bytes and a NUL after
 * them; free it, or p11e_secret_free it where the document is a secret).
 * P11E_NOT_FOUND when there is none; P11E_USAGE for a kind the store does
 * not know; P11E_FAIL when the store cannot be read or reached (a line
 * saying why). */
p11e_rc p11e_store_get(p11e_store *s, const char *kind, const char *name, unsigned char **data,
		       size_t *len, p11e_err *err);
/* Stores it whole (a reader sees the old document or the new one, never a
 * part), readable only by p11enroll's own user. flags: P11E_STORE_DURABLE,
 * P11E_STORE_CREATE (two stations creating one document at once: one of
 * them gets P11E_EXISTS). */
p11e_rc p11e_store_put(p11e_store *s, const char *kind, const char *name, const void *data,
		       size_t len, int flags, p11e_err *err);
/* Removes it, durably; P11E_NOT_FOUND when there was none. */
p11e_rc p11e_store_remove(p11e_store *s, const char *kind, const char *name, p11e_err *err);
/* The kinds of document the store keeps, index i (NULL past the last): how
 * `store migrate --from` copies every kind, a new one included. */
const char *p11e_store_kind_name(size_t i);
/* Every document of kind, sorted by name (none: *n 0). */
p11e_rc p11e_store_list(p11e_store *s, const char *kind, p11e_store_doc **docs, size_t *n,
			p11e_err *err);
void p11e_store_docs_free(p11e_store_doc *docs, size_t n);
/* 1 when the document a list gave as stored_name is the one NAME stands for
 * (the file store lists its escaped file names, or a hash for a long one):
 * how a record that was copied under another name is caught. */
int p11e_store_same_name(p11e_store *s, const char *kind, const char *stored_name,
			 const char *name);
/* Where the document kind/name is, for messages, into buf (returned): the
 * file ("/var/lib/p11enroll/identities/bob@example.com.json"), or "identity
 * bob@example.com in PostgreSQL schema p11enroll (table documents)". */
const char *p11e_store_describe(p11e_store *s, const char *kind, const char *name, char *buf,
				size_t cap);

/* Named locks, as p11e_lock_acquire (lock.h) takes them: *held for
 * p11e_store_unlock. */
p11e_rc p11e_store_lock(p11e_store *s, const char *kind, const char *name, long wait_ms,
			void **held, p11e_err *err);
void p11e_store_unlock(p11e_store *s, void *held);

/* Counters that never hand out a value twice, across every station of the
 * store, even after a crash (the embedded CA's serial and CRL numbers): the
 * counter NAME's next value into *out, first when it has none yet; durable
 * before it returns. The file store keeps STATE_DIR/counters/<base>.count,
 * and never goes below first (an older CA's crlnumber file). */
p11e_rc p11e_store_counter_next(p11e_store *s, const char *name, unsigned long long first,
				unsigned long long *out, p11e_err *err);
/* Every counter with the last value it handed out, sorted by name. */
p11e_rc p11e_store_counter_list(p11e_store *s, p11e_store_counter **out, size_t *n,
				p11e_err *err);
void p11e_store_counters_free(p11e_store_counter *c, size_t n);
/* Makes the counter NAME's last value at least at_least (created at it when
 * it has none; a higher one is left as it is), durably: its next value is
 * then past every value another store handed out (`store migrate --from`).
 * *now: its last value after. */
p11e_rc p11e_store_counter_raise(p11e_store *s, const char *name, unsigned long long at_least,
				 unsigned long long *now, p11e_err *err);

/* The audit chain (audit.h; only src/core/audit*.c calls these). */

/* Reads the head and hands fn the entries in order, all under one lock or
 * snapshot (no append half-seen): every entry, or with P11E_STORE_AUDIT_TAIL
 * only what the chain code needs to check the chain's end against the head
 * (*given says which). P11E_NOT_FOUND when the store holds no chain and no head
 * (head still filled in); P11E_FAIL when it cannot be read, or a log is
 * missing though its head says it held entries. */
p11e_rc p11e_store_audit_read(p11e_store *s, int flags, p11e_store_audit_head *head,
			      enum p11e_store_audit_given *given, p11e_store_audit_fn fn,
			      void *arg, p11e_err *err);
/* Appends one line: under the store's lock (file: flock; pg: the head's row
 * FOR UPDATE, in one transaction) hands cb->entry what p11e_store_audit_read
 * would (with P11E_STORE_AUDIT_TAIL: only the end), then stores the line
 * cb->build makes with the new head, durably, or nothing when it makes
 * none. Appends from every station take turns on one chain. *head: as
 * read (its where filled in whenever the store could be reached). */
p11e_rc p11e_store_audit_append(p11e_store *s, int flags, p11e_store_audit_head *head,
				const p11e_store_audit_append_cb *cb, void *arg, p11e_err *err);

#endif
