/* What the PostgreSQL store's files share (src/store/store_pg*.c): not
 * public. store_pg.c owns the connection and lends it. */
#ifndef P11ENROLL_STORE_PG_INT_H
#define P11ENROLL_STORE_PG_INT_H

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
	__typeof__(&PQclear) clear;
	__typeof__(&PQntuples) ntuples;
	__typeof__(&PQgetvalue) getvalue;
	__typeof__(&PQgetisnull) getisnull;
	__typeof__(&PQescapeIdentifier) escape_identifier;
	__typeof__(&PQfreemem) freemem;
	__typeof__(&PQdb) db;
	__typeof__(&PQhost) host;
	__typeof__(&PQport) port;
	__typeof__(&PQparameterStatus) parameter_status;
} pq_api;

/* The store's connection, lent between p11e_pg_acquire and
 * p11e_pg_release (the store's turn: one user of the connection at a time).
 * P11E_FAIL when it is lost. */
typedef struct p11e_pg_conn {
	const pq_api *pq;
	PGconn *conn;
	const char *schema;	/* its name */
	const char *schema_sql; /* quoted for SQL */
} p11e_pg_conn;

p11e_rc p11e_pg_acquire(void *state, p11e_pg_conn *out, p11e_err *err);
void p11e_pg_release(void *state);

/* libpq's message on one line (no newlines, no runs of spaces). */
const char *p11e_pg_one_line(const char *msg, char *buf, size_t cap);

/* The audit chain on tables audit and audit_head (store_pg_audit.c): the
 * store's audit_read and audit_append. */
p11e_rc p11e_pg_audit_read(void *state, int flags, p11e_store_audit_head *head,
			   enum p11e_store_audit_given *given, p11e_store_audit_fn fn, void *arg,
			   p11e_err *err);
p11e_rc p11e_pg_audit_append(void *state, int flags, p11e_store_audit_head *head,
			     const p11e_store_audit_append_cb *cb, void *arg, p11e_err *err);

#endif
