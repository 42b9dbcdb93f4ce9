/* The PostgreSQL store's documents and counters (store.h), in the tables of
 * schema 1 (store_pg_schema.c): documents (kind, name, data bytea, with a
 * row version and who wrote it last) and counters.
 *
 * Data goes both ways in binary (PQexecParams' binary parameters and
 * results): a document is bytes, NULs and all, never text to escape.
 *
 * Durability: a put with P11E_STORE_DURABLE is one statement, committed as
 * the server's synchronous_commit says (on by default: on disk, and on a
 * synchronous standby where one is configured, when put returns). A put
 * without it is one statement too, whose transaction sets
 * synchronous_commit to off for itself:
 * the server may lose the last few such commits if it crashes (never a part
 * of one, never out of order), which is what "soon" promises. Removes and
 * counters are always durable.
 *
 * Fencing: a put or remove of an identity's document while this process
 * holds that identity's lock runs on the lock's own connection
 * (store_pg_lock.c); every other operation of a thread that holds a lock
 * runs on its lock's connection too (pg_doc_conn), else on the shared one. A station that lost that connection lost the lock with
 * it, and another may hold it now: its write then fails instead of
 * overwriting the other's record. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/util.h"
#include "store_pg_int.h"

/* The connection a write of k/name runs on, the shared one connected and
 * the schema checked; *fence the lock it is fenced by, or NULL. */
static p11e_rc write_conn(pg_store *s, const p11e_store_kind *k, const char *name, PGconn **conn,
			  pg_held **fence, p11e_err *err)
{
	*conn = NULL;
	if ((*fence = pg_fence_for(s, k->name, name)) == NULL)
		return pg_doc_conn(s, conn, err);
	*conn = (*fence)->conn;
	return P11E_OK;
}

/* A failure on a fenced write's connection: the lock may be another
 * station's by now, so nothing is retried elsewhere. */
static p11e_rc fenced_fail(pg_store *s, pg_held *fence, PGresult *res, const char *what,
			   p11e_err *err)
{
	p11e_err inner = {0};
	p11e_rc rc = pg_fail(s, fence->conn, res, what, &inner);

	if (s->pq.status(fence->conn) != CONNECTION_BAD &&
	    strncmp(inner.msg, "store: lost the connection", 26) != 0)
		return p11e_errf(err, rc, "%s", inner.msg);
	return p11e_errf(err, P11E_FAIL,
			 "store: lost the connection that held the lock on %s %.100s, so the "
			 "lock too: nothing was written; rerun (%.200s)",
			 fence->kind, fence->name,
			 inner.msg + (strncmp(inner.msg, "store: ", 7) ? 0 : 7));
}

/* SELECT COLUMNS FROM SCHEMA.documents WHERE kind = $1 [AND name = $2] on
 * this thread's connection (pg_doc_conn: its lock's, else the shared one),
 * binary results: *res (clear it) on success, else what went wrong, doing
 * what, in err. */
static p11e_rc select_docs(pg_store *s, const char *columns, const char *const *vals, int nvals,
			   const char *doing, PGresult **res, p11e_err *err)
{
	char sql[200];
	PGconn *conn;
	p11e_rc rc;

	*res = NULL;
	if ((rc = pg_doc_conn(s, &conn, err)) != P11E_OK)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s.documents WHERE kind = $1%s", columns,
		 s->schema_sql, nvals > 1 ? " AND name = $2" : "");
	*res = s->pq.exec_params(conn, sql, nvals, NULL, vals, NULL, NULL, 1);
	if (*res == NULL || s->pq.result_status(*res) != PGRES_TUPLES_OK) {
		rc = pg_fail(s, conn, *res, doing, err);
		s->pq.clear(*res);
		*res = NULL;
	}
	return rc;
}

/* A document past its kind's bound, as both readers refuse it. */
static p11e_rc too_big(const p11e_store_kind *k, const char *name, size_t n, p11e_err *err)
{
	return p11e_errf(err, P11E_FAIL, "store: %s %.100s: %zu bytes, more than %zu", k->name,
			 name, n, k->max);
}

static p11e_rc get_locked(pg_store *s, const p11e_store_kind *k, const char *name,
			  unsigned char **data, size_t *len, p11e_err *err)
{
	const char *vals[2] = {k->name, name};
	PGresult *res;
	p11e_rc rc;
	size_t n;

	if ((rc = select_docs(s, "data", vals, 2, "reading a document", &res, err)) != P11E_OK)
		return rc;
	if (s->pq.ntuples(res) == 0) {
		rc = p11e_errf(err, P11E_NOT_FOUND, "store: no %s %.100s in %s", k->name, name,
			       s->where);
		goto out;
	}
	n = (size_t)s->pq.getlength(res, 0, 0);
	if (n > k->max) {
		rc = too_big(k, name, n, err);
		goto out;
	}
	if ((*data = malloc(n + 1)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "store: out of memory");
		goto out;
	}
	memcpy(*data, s->pq.getvalue(res, 0, 0), n);
	(*data)[n] = '\0';
	*len = n;
out:
	s->pq.clear(res);
	return rc;
}

p11e_rc pg_get(void *state, const p11e_store_kind *k, const char *name, unsigned char **data,
	       size_t *len, p11e_err *err)
{
	pg_store *s = state;
	p11e_rc rc;

	pthread_mutex_lock(&s->mu);
	rc = get_locked(s, k, name, data, len, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static p11e_rc put_locked(pg_store *s, const p11e_store_kind *k, const char *name, const void *data,
			  size_t len, int flags, p11e_err *err)
{
	const char *vals[3] = {k->name, name, len > 0 ? data : ""};
	const int lens[3] = {0, 0, (int)len}, formats[3] = {0, 0, 1};
	int exists = 0;
	char sql[700];
	pg_held *fence;
	PGconn *conn;
	PGresult *res = NULL;
	p11e_rc rc;

	if ((rc = write_conn(s, k, name, &conn, &fence, err)) != P11E_OK)
		return rc;
	/* P11E_STORE_CREATE: a document there already is left as it is (no
	 * row inserted: P11E_EXISTS); the unique (kind, name) decides between
	 * two stations creating one at once. Without P11E_STORE_DURABLE the
	 * statement's own transaction commits without waiting for its WAL
	 * flush: set_config(..., true) lasts until that transaction's end,
	 * which is its commit, so one round trip does what BEGIN, SET LOCAL
	 * synchronous_commit TO off, the INSERT and COMMIT did in three. */
	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s.documents AS d (kind, name, data, updated_by) "
		 "SELECT $1::text, $2::text, $3::bytea, current_setting('application_name')%s %s",
		 s->schema_sql,
		 (flags & P11E_STORE_DURABLE)
		     ? ""
		     : " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async",
		 (flags & P11E_STORE_CREATE)
		     ? "ON CONFLICT (kind, name) DO NOTHING"
		     : "ON CONFLICT (kind, name) DO UPDATE SET data = EXCLUDED.data, "
		       "row_version = d.row_version + 1, updated_at = now(), "
		       "updated_by = EXCLUDED.updated_by");
	res = s->pq.exec_params(conn, sql, 3, NULL, vals, lens, formats, 0);
	if (res == NULL || s->pq.result_status(res) != PGRES_COMMAND_OK)
		goto failed;
	exists = (flags & P11E_STORE_CREATE) && strcmp(s->pq.cmd_tuples(res), "0") == 0;
	s->pq.clear(res);
	res = NULL;
	if (exists)
		return p11e_errf(err, P11E_EXISTS,
				 "store: %s %.100s exists already; it is never replaced", k->name,
				 name);
	return P11E_OK;
failed:
	rc = fence != NULL ? fenced_fail(s, fence, res, "writing a document", err)
			   : pg_fail(s, conn, res, "writing a document", err);
	s->pq.clear(res);
	return rc;
}

p11e_rc pg_put(void *state, const p11e_store_kind *k, const char *name, const void *data,
	       size_t len, int flags, p11e_err *err)
{
	pg_store *s = state;
	p11e_rc rc;

	if (len > INT32_MAX)
		return p11e_errf(err, P11E_FAIL, "store: %s %.100s: too large", k->name, name);
	pthread_mutex_lock(&s->mu);
	rc = put_locked(s, k, name, data, len, flags, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static p11e_rc remove_locked(pg_store *s, const p11e_store_kind *k, const char *name, p11e_err *err)
{
	const char *vals[2] = {k->name, name};
	char sql[200];
	pg_held *fence;
	PGconn *conn;
	PGresult *res;
	p11e_rc rc;

	if ((rc = write_conn(s, k, name, &conn, &fence, err)) != P11E_OK)
		return rc;
	snprintf(sql, sizeof(sql), "DELETE FROM %s.documents WHERE kind = $1 AND name = $2",
		 s->schema_sql);
	res = s->pq.exec_params(conn, sql, 2, NULL, vals, NULL, NULL, 0);
	if (res == NULL || s->pq.result_status(res) != PGRES_COMMAND_OK)
		rc = fence != NULL ? fenced_fail(s, fence, res, "removing a document", err)
				   : pg_fail(s, conn, res, "removing a document", err);
	else if (strcmp(s->pq.cmd_tuples(res), "0") == 0)
		rc = p11e_errf(err, P11E_NOT_FOUND, "store: no %s %.100s to remove in %s", k->name,
			       name, s->where);
	s->pq.clear(res);
	return rc;
}

p11e_rc pg_remove(void *state, const p11e_store_kind *k, const char *name, p11e_err *err)
{
	pg_store *s = state;
	p11e_rc rc;

	pthread_mutex_lock(&s->mu);
	rc = remove_locked(s, k, name, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static p11e_rc list_locked(pg_store *s, const p11e_store_kind *k, p11e_store_doc **docs, size_t *n,
			   p11e_err *err)
{
	const char *vals[1] = {k->name};
	PGresult *res;
	p11e_rc rc;
	int rows;

	if ((rc = select_docs(s, "name, data", vals, 1, "listing documents", &res, err)) != P11E_OK)
		return rc;
	if ((rows = s->pq.ntuples(res)) == 0)
		goto out;
	if ((*docs = calloc((size_t)rows, sizeof(**docs))) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "store: out of memory");
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		size_t nl = (size_t)s->pq.getlength(res, i, 0),
		       dl = (size_t)s->pq.getlength(res, i, 1);
		p11e_store_doc *d = &(*docs)[i];

		if (dl > k->max) {
			rc = too_big(k, s->pq.getvalue(res, i, 0), dl, err);
			goto out;
		}
		if ((d->name = malloc(nl + 1)) == NULL || (d->data = malloc(dl + 1)) == NULL) {
			free(d->name);
			d->name = NULL;
			rc = p11e_errf(err, P11E_FAIL, "store: out of memory");
			goto out;
		}
		memcpy(d->name, s->pq.getvalue(res, i, 0), nl);
		d->name[nl] = '\0';
		memcpy(d->data, s->pq.getvalue(res, i, 1), dl);
		d->data[dl] = '\0';
		d->len = dl;
		*n = (size_t)i + 1;
	}
out:
	s->pq.clear(res);
	return rc;
}

p11e_rc pg_list(void *state, const p11e_store_kind *k, p11e_store_doc **docs, size_t *n,
		p11e_err *err)
{
	pg_store *s = state;
	p11e_rc rc;

	pthread_mutex_lock(&s->mu);
	rc = list_locked(s, k, docs, n, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* The counter name inserted at value, or on conflict updated as on_conflict
 * says ("c" the row, EXCLUDED the value given), in one statement committed
 * durably before the value is handed out: a crash after the commit skips a
 * value, never repeats one. *out (may be NULL): the value now. */
static p11e_rc counter_upsert(pg_store *s, const char *name, unsigned long long value,
			      const char *on_conflict, const char *what, unsigned long long *out,
			      p11e_err *err)
{
	char sql[300], num[24];
	const char *vals[2] = {name, num};
	PGconn *conn;
	PGresult *res;
	p11e_rc rc;

	if (value > INT64_MAX)
		return p11e_errf(err, P11E_USAGE, "store: counter %.100s: %llu is too large", name,
				 value);
	if ((rc = pg_doc_conn(s, &conn, err)) != P11E_OK)
		return rc;
	snprintf(num, sizeof(num), "%llu", value);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s.counters AS c (name, value) VALUES ($1, $2) "
		 "ON CONFLICT (name) DO UPDATE SET value = %s RETURNING value",
		 s->schema_sql, on_conflict);
	res = s->pq.exec_params(conn, sql, 2, NULL, vals, NULL, NULL, 0);
	if (res == NULL || s->pq.result_status(res) != PGRES_TUPLES_OK || s->pq.ntuples(res) != 1)
		rc = pg_fail(s, conn, res, what, err);
	else if (out != NULL)
		*out = strtoull(s->pq.getvalue(res, 0, 0), NULL, 10);
	s->pq.clear(res);
	return rc;
}

p11e_rc pg_counter_next(void *state, const char *name, unsigned long long first,
			unsigned long long *out, p11e_err *err)
{
	pg_store *s = state;
	p11e_rc rc;

	pthread_mutex_lock(&s->mu);
	rc = counter_upsert(s, name, first, "c.value + 1", "counting", out, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static p11e_rc counter_list_locked(pg_store *s, p11e_store_counter **out, size_t *n, p11e_err *err)
{
	char sql[200];
	PGresult *res;
	p11e_rc rc;
	int rows;

	if ((rc = pg_shared(s, 1, err)) != P11E_OK)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT name, value FROM %s.counters", s->schema_sql);
	res = s->pq.exec_params(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	if (res == NULL || s->pq.result_status(res) != PGRES_TUPLES_OK) {
		rc = pg_fail(s, s->conn, res, "listing counters", err);
		goto out;
	}
	if ((rows = s->pq.ntuples(res)) == 0)
		goto out;
	if ((*out = calloc((size_t)rows, sizeof(**out))) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "store: out of memory");
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		if (((*out)[i].name = strdup(s->pq.getvalue(res, i, 0))) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "store: out of memory");
			goto out;
		}
		(*out)[i].value = strtoull(s->pq.getvalue(res, i, 1), NULL, 10);
		*n = (size_t)i + 1;
	}
out:
	s->pq.clear(res);
	return rc;
}

p11e_rc pg_counter_list(void *state, p11e_store_counter **out, size_t *n, p11e_err *err)
{
	pg_store *s = state;
	p11e_rc rc;

	pthread_mutex_lock(&s->mu);
	rc = counter_list_locked(s, out, n, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

p11e_rc pg_counter_raise(void *state, const char *name, unsigned long long at_least,
			 unsigned long long *now, p11e_err *err)
{
	pg_store *s = state;
	p11e_rc rc;

	/* GREATEST in the one statement: a station counting at the same time
	 * either counts before (and the value is raised past it) or after (and
	 * counts on from the raised value); never below. */
	pthread_mutex_lock(&s->mu);
	rc = counter_upsert(s, name, at_least, "GREATEST(c.value, EXCLUDED.value)",
			    "raising a counter", now, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
