/* The PostgreSQL store's named locks (lock.h): a session advisory lock,
 * pg_try_advisory_lock(key1, key2), held by a connection of the lock's own,
 * so that the server releases it when the holder dies or its network goes
 * (the connection ends with it), and so that two threads of one process
 * exclude each other as two processes do (an advisory lock is re-entrant
 * within one session).
 *
 * The two int4 keys are the first 64 bits of SHA-256 over the schema, the
 * kind and the name: two stores in one database never share a lock, and a
 * collision (2^-64 for a pair of names) only makes two names wait for each
 * other, never lets two holders in.
 *
 * Waiting polls with a growing pause, as the file store does (an advisory
 * lock has no timeout of its own but lock_timeout, which would hide who
 * holds it); a waiter that gives up names the holder by the
 * application_name of the holding backend (pg_locks, pg_stat_activity):
 * "p11enroll pid N on host H" (store_pg.c).
 *
 * A released lock's connection is kept idle for the next lock (up to
 * PG_IDLE_MAX), as connecting costs more than the lock itself (one
 * authentication round, docs/performance.md). A thread that already holds
 * a lock takes its next one (another name: the token's inside the
 * identity's) on the same connection: one connection less per enrollment,
 * and still one connection per thread, so threads exclude each other as
 * before. A connection is pooled or closed with the last lock on it.
 *
 * Fencing: the locks held are listed in the store's state, so that a write
 * of an identity's document while its lock is held runs on the lock's
 * connection (store_pg_doc.c). And every other document operation of a
 * thread that holds a lock runs there too (pg_doc_conn): an enrollment,
 * which works under its identity's lock, needs no second connection (a
 * backend start and, over TCP, an authentication and a TLS handshake,
 * docs/performance.md). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>
#include "p11enroll/util.h"
#include "store_pg_int.h"

static p11e_rc lock_keys(const pg_store *s, const char *kind, const char *name, unsigned int *k1,
			 unsigned int *k2, p11e_err *err)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	size_t ls = strlen(s->schema) + 1, lk = strlen(kind) + 1, ln = strlen(name);
	unsigned char *buf = malloc(ls + lk + ln);

	if (buf == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* The NULs between them keep ("ab", "c") apart from ("a", "bc"). */
	memcpy(buf, s->schema, ls);
	memcpy(buf + ls, kind, lk);
	memcpy(buf + ls + lk, name, ln);
	SHA256(buf, ls + lk + ln, md);
	free(buf);
	*k1 = (unsigned int)md[0] << 24 | (unsigned int)md[1] << 16 | (unsigned int)md[2] << 8 |
	      md[3];
	*k2 = (unsigned int)md[4] << 24 | (unsigned int)md[5] << 16 | (unsigned int)md[6] << 8 |
	      md[7];
	return P11E_OK;
}

/* Whether a lock other than h is held on conn. Under mu. */
static int conn_shared(const pg_store *s, const pg_held *h, const PGconn *conn)
{
	for (const pg_held *o = s->held; o != NULL; o = o->next)
		if (o != h && o->conn == conn)
			return 1;
	return 0;
}

/* conn (shared) keeps a lock that nobody holds: the locks still on it
 * close it when the last goes, rather than pool it. Under mu. */
static void taint(pg_store *s, const PGconn *conn)
{
	for (pg_held *o = s->held; o != NULL; o = o->next)
		if (o->conn == conn)
			o->tainted = 1;
}

/* A connection for a lock on k1/k2: the one of a lock this thread holds
 * (unless it is that very lock: a session's advisory locks are re-entrant,
 * and a second take of one name must wait as in the file store), an idle
 * one, else a new one. Under mu. */
static p11e_rc lock_conn(pg_store *s, unsigned int k1, unsigned int k2, PGconn **conn, int *pooled,
			 int *schema_ok, p11e_err *err)
{
	pthread_t self = pthread_self();
	PGconn *mine = NULL;

	*pooled = 0;
	*schema_ok = 0;
	for (const pg_held *h = s->held; h != NULL; h = h->next) {
		if (!pthread_equal(h->owner, self))
			continue;
		if (h->key1 == k1 && h->key2 == k2) {
			mine = NULL;
			break;
		}
		if (mine == NULL && s->pq.status(h->conn) == CONNECTION_OK) {
			mine = h->conn;
			*schema_ok = h->schema_ok;
		}
	}
	if (mine != NULL) {
		*conn = mine;
		return P11E_OK;
	}
	*schema_ok = 0;
	while (s->n_idle > 0) {
		*conn = s->idle[--s->n_idle];
		*schema_ok = s->idle_schema_ok[s->n_idle];
		*pooled = 1;
		if (s->pq.status(*conn) == CONNECTION_OK)
			return P11E_OK;
		s->pq.finish(*conn);
	}
	*pooled = 0;
	*schema_ok = 0;
	return pg_connect(s, conn, err);
}

/* A connection put back in the pool. Under mu. */
static void pool(pg_store *s, PGconn *conn, int schema_ok)
{
	s->idle_schema_ok[s->n_idle] = schema_ok;
	s->idle[s->n_idle++] = conn;
}

/* Closes every idle connection: one was found dead (the server restarted,
 * or a standby was promoted), and so are the others. Under mu. */
static void drop_idle(pg_store *s)
{
	while (s->n_idle > 0)
		s->pq.finish(s->idle[--s->n_idle]);
}

/* pg_try_advisory_lock: 1 taken, 0 held by another, -1 failed (err set). */
static int try_lock(pg_store *s, PGconn *conn, unsigned int k1, unsigned int k2, p11e_err *err)
{
	char a[16], b[16];
	const char *vals[2] = {a, b};
	PGresult *res;
	int got = -1;

	/* int4 keys: the bits, read as signed. */
	snprintf(a, sizeof(a), "%d", (int)(int32_t)k1);
	snprintf(b, sizeof(b), "%d", (int)(int32_t)k2);
	res = s->pq.exec_params(conn, "SELECT pg_try_advisory_lock($1::int4, $2::int4)", 2, NULL,
				vals, NULL, NULL, 0);
	if (res == NULL || s->pq.result_status(res) != PGRES_TUPLES_OK || s->pq.ntuples(res) != 1)
		pg_fail(s, conn, res, "taking a lock", err);
	else
		got = strcmp(s->pq.getvalue(res, 0, 0), "t") == 0;
	s->pq.clear(res);
	return got;
}

/* Who holds k1/k2 in this database, as the file store says it: "pid N on
 * host H" for a p11enroll, else the holding session's application_name. */
static void holder_of(pg_store *s, PGconn *conn, unsigned int k1, unsigned int k2, char *out,
		      size_t cap)
{
	char a[16], b[16];
	const char *vals[2] = {a, b}, *app;
	PGresult *res;

	snprintf(out, cap, "another process");
	snprintf(a, sizeof(a), "%u", k1);
	snprintf(b, sizeof(b), "%u", k2);
	res = s->pq.exec_params(
	    conn,
	    "SELECT a.application_name, a.pid FROM pg_catalog.pg_locks l "
	    "JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
	    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid "
	    "AND l.objid = $2::oid AND l.objsubid = 2 AND l.database = "
	    "(SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())",
	    2, NULL, vals, NULL, NULL, 0);
	if (res != NULL && s->pq.result_status(res) == PGRES_TUPLES_OK && s->pq.ntuples(res) > 0) {
		app = s->pq.getvalue(res, 0, 0);
		if (strncmp(app, "p11enroll pid ", 14) == 0)
			snprintf(out, cap, "%s", app + 10);
		else if (app[0] != '\0')
			snprintf(out, cap, "%.100s (PostgreSQL backend %s)", app,
				 s->pq.getvalue(res, 0, 1));
		else
			snprintf(out, cap, "PostgreSQL backend %s", s->pq.getvalue(res, 0, 1));
	}
	s->pq.clear(res);
}

p11e_rc pg_lock(void *state, const char *kind, const char *name, long wait_ms, void **held,
		p11e_err *err)
{
	pg_store *s = state;
	PGconn *conn = NULL;
	pg_held *h = NULL;
	unsigned int k1 = 0, k2 = 0;
	p11e_store_wait w;
	char holder[200];
	p11e_rc rc;
	int got, pooled = 0, schema_ok = 0;

	*held = NULL;
	if ((rc = lock_keys(s, kind, name, &k1, &k2, err)) != P11E_OK)
		return rc;
	pthread_mutex_lock(&s->mu);
	rc = lock_conn(s, k1, k2, &conn, &pooled, &schema_ok, err);
	pthread_mutex_unlock(&s->mu);
	if (rc != P11E_OK)
		return rc;
	/* The connection is this call's alone until it is listed: no mu. */
	p11e_store_wait_start(&w, wait_ms);
again:
	while ((got = try_lock(s, conn, k1, k2, err)) == 0) {
		if (!p11e_store_wait_more(&w)) {
			holder_of(s, conn, k1, k2, holder, sizeof(holder));
			rc = p11e_store_busy(err, kind, name, holder);
			goto out;
		}
	}
	/* An idle connection that died while it waited in the pool held
	 * nothing: after a failover the lock is taken on a new connection
	 * (the same multi-host string finds the new primary), rather than the
	 * enrollment failing on the old server's corpse. */
	if (got < 0 && pooled && s->pq.status(conn) == CONNECTION_BAD) {
		s->pq.finish(conn);
		conn = NULL;
		pooled = 0;
		schema_ok = 0;
		pthread_mutex_lock(&s->mu);
		drop_idle(s);
		pthread_mutex_unlock(&s->mu);
		if ((rc = pg_connect(s, &conn, err)) != P11E_OK)
			return rc;
		goto again;
	}
	if (got < 0) {
		rc = P11E_FAIL;
		goto out;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL || (h->kind = strdup(kind)) == NULL ||
	    (h->name = strdup(name)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	h->conn = conn;
	h->key1 = k1;
	h->key2 = k2;
	h->owner = pthread_self();
	h->schema_ok = schema_ok;
	pthread_mutex_lock(&s->mu);
	h->next = s->held;
	s->held = h;
	pthread_mutex_unlock(&s->mu);
	*held = h;
	return P11E_OK;
out:
	if (h != NULL) {
		free(h->kind);
		free(h->name);
		free(h);
	}
	/* Not holding anything on it (a lock taken is never left here): it
	 * may serve the next lock. */
	pthread_mutex_lock(&s->mu);
	if (conn_shared(s, NULL, conn)) {
		/* Another lock of this thread's is on it: it stays. */
		if (got == 1)
			taint(s, conn);
	} else if (rc == P11E_BUSY && s->pq.status(conn) == CONNECTION_OK &&
		   s->n_idle < PG_IDLE_MAX)
		pool(s, conn, schema_ok);
	else /* broken, or holding the lock after running out of memory */
		s->pq.finish(conn);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void pg_unlock(void *state, void *held)
{
	pg_store *s = state;
	pg_held *h = held, **p;
	char a[16], b[16];
	const char *vals[2] = {a, b};
	PGresult *res;
	int released = 0;

	pthread_mutex_lock(&s->mu);
	for (p = &s->held; *p != NULL; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	snprintf(a, sizeof(a), "%d", (int)(int32_t)h->key1);
	snprintf(b, sizeof(b), "%d", (int)(int32_t)h->key2);
	if (s->pq.status(h->conn) == CONNECTION_OK) {
		res = s->pq.exec_params(h->conn, "SELECT pg_advisory_unlock($1::int4, $2::int4)", 2,
					NULL, vals, NULL, NULL, 0);
		released = res != NULL && s->pq.result_status(res) == PGRES_TUPLES_OK &&
			   s->pq.ntuples(res) == 1 && strcmp(s->pq.getvalue(res, 0, 0), "t") == 0;
		s->pq.clear(res);
	}
	/* A connection whose lock could not be released is closed: that
	 * releases it (and any other lock on it, all of them lost if it is
	 * broken); one that still holds another lock stays. */
	if (conn_shared(s, h, h->conn)) {
		/* Closed or pooled with the last lock on it. */
		if (!released)
			taint(s, h->conn);
	} else if (released && !h->tainted && s->n_idle < PG_IDLE_MAX)
		pool(s, h->conn, h->schema_ok);
	else
		s->pq.finish(h->conn);
	pthread_mutex_unlock(&s->mu);
	free(h->kind);
	free(h->name);
	free(h);
}

pg_held *pg_fence_for(pg_store *s, const char *kind, const char *name)
{
	if (strcmp(kind, "identity") != 0)
		return NULL;
	for (pg_held *h = s->held; h != NULL; h = h->next)
		if (strcmp(h->kind, "identity") == 0 && strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

pg_held *pg_thread_lock(pg_store *s)
{
	pthread_t self = pthread_self();

	for (pg_held *h = s->held; h != NULL; h = h->next)
		if (pthread_equal(h->owner, self) && s->pq.status(h->conn) == CONNECTION_OK)
			return h;
	return NULL;
}

void pg_schema_checked(pg_store *s, const pg_held *h)
{
	for (pg_held *o = s->held; o != NULL; o = o->next)
		if (o->conn == h->conn)
			o->schema_ok = 1;
}

void pg_locks_close(pg_store *s)
{
	while (s->held != NULL) {
		pg_held *h = s->held;

		s->held = h->next;
		if (!conn_shared(s, h, h->conn))
			s->pq.finish(h->conn);
		free(h->kind);
		free(h->name);
		free(h);
	}
	drop_idle(s);
}
