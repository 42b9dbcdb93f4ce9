/* What the PostgreSQL store's files share (src/store/store_pg*.c): not
 * public.
 *   store_pg.c       config, the lazy connection, migrate and info
 *   store_pg_doc.c   documents and counters
 *   store_pg_lock.c  locks, and the fencing of identity writes by them
 *
 * One pg_store per open store, shared by every thread of the process (batch
 * workers, the portal's workers): everything in it is used under mu. */
#ifndef P11ENROLL_STORE_PG_INT_H
#define P11ENROLL_STORE_PG_INT_H

#include <pthread.h>
#include <libpq-fe.h>
#include "store_int.h"

/* The libpq calls used, typed by its own declarations. */
typedef struct pq_api {
	__typeof__(&PQconnectdbParams) connectdb_params;
	__typeof__(&PQconninfoParse) conninfo_parse;
	__typeof__(&PQconninfoFree) conninfo_free;
	__typeof__(&PQstatus) status;
	__typeof__(&PQerrorMessage) error_message;
	__typeof__(&PQfinish) finish;
	__typeof__(&PQexec) exec;
	__typeof__(&PQexecParams) exec_params;
	__typeof__(&PQresultStatus) result_status;
	__typeof__(&PQresultErrorMessage) result_error_message;
	__typeof__(&PQresultErrorField) result_error_field;
	__typeof__(&PQclear) clear;
	__typeof__(&PQntuples) ntuples;
	__typeof__(&PQgetvalue) getvalue;
	__typeof__(&PQgetlength) getlength;
	__typeof__(&PQgetisnull) getisnull;
	__typeof__(&PQcmdTuples) cmd_tuples;
	__typeof__(&PQescapeIdentifier) escape_identifier;
	__typeof__(&PQfreemem) freemem;
	__typeof__(&PQdb) db;
	__typeof__(&PQhost) host;
	__typeof__(&PQport) port;
	__typeof__(&PQparameterStatus) parameter_status;
	__typeof__(&PQsetNoticeProcessor) set_notice_processor;
} pq_api;

/* A lock this process holds: its connection holds the advisory lock. */
typedef struct pg_held {
	struct pg_held *next;
	char *kind, *name;
	PGconn *conn;
	unsigned int key1, key2;
	pthread_t owner; /* the thread that took it: its next lock shares conn */
	int tainted;	 /* conn may hold a lock no one holds: close, never pool */
	int schema_ok;	 /* the schema's version was checked on conn */
} pg_held;

/* Idle lock connections kept for the next lock (store_pg_lock.c). */
#define PG_IDLE_MAX 4

typedef struct pg_store {
	pthread_mutex_t mu;
	int loaded; /* pq filled */
	pq_api pq;
	/* The config, checked by open; the secret is read at each connect. */
	char *source; /* conninfo_source, or NULL: libpq's PG* environment */
	char *ca;     /* ca_bundle, or NULL */
	char timeout[16];
	char *schema; /* the schema's name, and quoted for SQL */
	char *schema_sql;
	char where[128];
	char app_name[80]; /* "p11enroll pid N on host H": names a lock's holder */
	/* The shared connection (documents, counters, info, migrate): NULL
	 * until the first operation, and again after it was found broken. */
	PGconn *conn;
	int schema_ok; /* the schema's version was checked on conn */
	pg_held *held; /* the locks held, for fencing */
	PGconn *idle[PG_IDLE_MAX];
	int idle_schema_ok[PG_IDLE_MAX]; /* as pg_held's, for each idle one */
	int n_idle;
} pg_store;

/* store_pg.c */
/* libpq's message on one line. */
const char *pg_one_line(const char *msg, char *buf, size_t cap);
/* Loads libpq if need be and opens a new connection (the shared one or a
 * lock's): P11E_CONFIG for a bad conninfo_source, P11E_FAIL saying why it
 * cannot connect. Under mu. */
p11e_rc pg_connect(pg_store *s, PGconn **out, p11e_err *err);
/* The shared connection, connected (again) if need be; with docs, the
 * schema checked to be at this binary's version (once per connection). */
p11e_rc pg_shared(pg_store *s, int docs, p11e_err *err);
/* The connection the calling thread's document operations run on, the
 * schema checked on it: the one of a lock it holds (one connection per
 * enrollment, not a lock's and a shared one), else the shared one. */
p11e_rc pg_doc_conn(pg_store *s, PGconn **conn, p11e_err *err);
/* The schema's version checked on conn (P11E_CONFIG saying which command
 * sets it right), once per connection. */
p11e_rc pg_check_schema(pg_store *s, PGconn *conn, p11e_err *err);
/* A failed result on conn as err: the lost connection (conn then CONNECTION_BAD,
 * and the shared one dropped for the next operation to reconnect), a
 * standby refusing a write, else the server's message after what. */
p11e_rc pg_fail(pg_store *s, PGconn *conn, PGresult *res, const char *what, p11e_err *err);
/* One statement without parameters on conn. */
p11e_rc pg_run(pg_store *s, PGconn *conn, const char *sql, const char *what, p11e_err *err);

/* store_pg_lock.c */
p11e_rc pg_lock(void *state, const char *kind, const char *name, long wait_ms, void **held,
		p11e_err *err);
void pg_unlock(void *state, void *held);
/* The connection a write of document kind/name must run on: the identity
 * lock's own when this process holds it, else NULL (the shared one). Under
 * mu. */
pg_held *pg_fence_for(pg_store *s, const char *kind, const char *name);
/* A lock the calling thread holds on a connection still up, or NULL. Under
 * mu. */
pg_held *pg_thread_lock(pg_store *s);
/* Every lock on h's connection: its schema was checked. Under mu. */
void pg_schema_checked(pg_store *s, const pg_held *h);
void pg_locks_close(pg_store *s);

/* store_pg_doc.c */
p11e_rc pg_get(void *state, const p11e_store_kind *k, const char *name, unsigned char **data,
	       size_t *len, p11e_err *err);
p11e_rc pg_put(void *state, const p11e_store_kind *k, const char *name, const void *data,
	       size_t len, int flags, p11e_err *err);
p11e_rc pg_remove(void *state, const p11e_store_kind *k, const char *name, p11e_err *err);
p11e_rc pg_list(void *state, const p11e_store_kind *k, p11e_store_doc **docs, size_t *n,
		p11e_err *err);
p11e_rc pg_counter_next(void *state, const char *name, unsigned long long first,
			unsigned long long *out, p11e_err *err);
p11e_rc pg_counter_list(void *state, p11e_store_counter **out, size_t *n, p11e_err *err);
p11e_rc pg_counter_raise(void *state, const char *name, unsigned long long at_least,
			 unsigned long long *now, p11e_err *err);

/* store_pg_audit.c: the audit chain on tables audit and audit_head, on the
 * shared connection. */
p11e_rc pg_audit_read(void *state, int flags, p11e_store_audit_head *head,
		      enum p11e_store_audit_given *given, p11e_store_audit_fn fn, void *arg,
		      p11e_err *err);
p11e_rc pg_audit_append(void *state, int flags, p11e_store_audit_head *head,
			const p11e_store_audit_append_cb *cb, void *arg, p11e_err *err);

#endif
