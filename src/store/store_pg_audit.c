/* The PostgreSQL store's audit chain (store.h, audit.h), on the tables of
 * schema 1 (store_pg_schema.c):
 *   audit       (seq, line, sha256, written_at): one row per entry, the line
 *               as the chain code built it and its SHA-256
 *   audit_head  (seq, sha256): one row, the chain's last entry
 * An append is one transaction: the audit lock (a transaction-scoped
 * advisory lock, so that even the very first appends, with no head row yet
 * to lock, take turns), the head's row FOR UPDATE, the chain's end handed to
 * the chain code (src/core/audit.c) to check against the head, the new row
 * and the new head, COMMIT. Appends from every station thus form one chain,
 * never forked, and the head is never behind its chain (a head behind is
 * rows added without p11enroll). An append reads the last row alone, by
 * the key: a walk of every row per append took 3.4 s at 100,000 rows, and
 * even a count of them made an append 9 times slower there than the 1.7 ms
 * it takes at any size (bench/audit_pg.sh, docs/performance.md). So an
 * append refuses an end that does not match the head; `audit head` also
 * counts the rows (a row deleted or added before the end), and `audit
 * verify` walks every row. Reads run in one REPEATABLE READ READ ONLY
 * snapshot, the rows through a cursor a batch at a time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/audit_parse.h"
#include "store_pg_int.h"

/* The audit lock's first key (the migration lock's is 1882289509). */
#define AUDIT_LOCK_CLASS "1882289510"
#define FETCH_ROWS "1000"

/* Runs sql with params on the shared connection; want: the status
 * expected. *out (may be NULL) gets the result to clear. P11E_FAIL saying
 * why otherwise (pg_fail: a lost connection is dropped, to reconnect). */
static p11e_rc run(pg_store *s, const char *sql, int n, const char *const *params,
		   ExecStatusType want, PGresult **out, const char *what, p11e_err *err)
{
	PGresult *res;

	if (out != NULL)
		*out = NULL;
	if (s->conn == NULL)
		return p11e_errf(err, P11E_FAIL, "store: lost the connection to PostgreSQL");
	res = n > 0 ? s->pq.exec_params(s->conn, sql, n, NULL, params, NULL, NULL, 0)
		    : s->pq.exec(s->conn, sql);
	if (res == NULL || s->pq.result_status(res) != want) {
		p11e_rc rc = pg_fail(s, s->conn, res, what, err);

		s->pq.clear(res);
		return rc;
	}
	if (out != NULL)
		*out = res;
	else
		s->pq.clear(res);
	return P11E_OK;
}

static void rollback(pg_store *s)
{
	p11e_err ignored;

	if (s->conn != NULL)
		run(s, "ROLLBACK", 0, NULL, PGRES_COMMAND_OK, NULL, "rolling back", &ignored);
}

/* The head's row into h (found 0 without one). */
static p11e_rc read_head(pg_store *s, int for_update, p11e_store_audit_head *h,
			 p11e_err *err)
{
	char sql[300];
	PGresult *res;
	p11e_rc rc;

	memset(h, 0, sizeof(*h));
	h->atomic = 1;
	strcpy(h->sha256, P11E_AUDIT_ZERO_HASH);
	snprintf(h->where, sizeof(h->where), "%s.audit (PostgreSQL)", s->schema);
	snprintf(h->head_where, sizeof(h->head_where), "%s.audit_head (PostgreSQL)", s->schema);
	snprintf(h->unit, sizeof(h->unit), "entry");
	snprintf(sql, sizeof(sql), "SELECT seq, sha256 FROM %s.audit_head%s", s->schema_sql,
		 for_update ? " FOR UPDATE" : "");
	if ((rc = run(s, sql, 0, NULL, PGRES_TUPLES_OK, &res, "reading the head", err)) != P11E_OK)
		return rc;
	if (s->pq.ntuples(res) == 1) {
		h->found = 1;
		h->seq = strtoll(s->pq.getvalue(res, 0, 0), NULL, 10);
		snprintf(h->sha256, sizeof(h->sha256), "%s", s->pq.getvalue(res, 0, 1));
	}
	s->pq.clear(res);
	return P11E_OK;
}

/* Hands fn the rows of res (seq, line, sha256); *rows counts them. */
static p11e_rc hand_rows(pg_store *s, PGresult *res, const p11e_store_audit_head *h,
			 int tail, p11e_store_audit_fn fn, void *arg, long long *rows,
			 p11e_err *err)
{
	int n = s->pq.ntuples(res);

	for (int i = 0; i < n; i++) {
		p11e_store_audit_entry e = {.line = s->pq.getvalue(res, i, 1),
					    .seq = strtoll(s->pq.getvalue(res, i, 0), NULL, 10),
					    .sha256 = s->pq.getvalue(res, i, 2),
					    .tail = tail,
					    .head = h};
		p11e_rc rc;

		e.len = strlen(e.line);
		(*rows)++;
		if (fn != NULL && (rc = fn(arg, &e, err)) != P11E_OK)
			return rc;
	}
	return P11E_OK;
}

/* The chain's last row alone, and with count set the count of rows: seqs
 * run from 1 with no gap (the table's key and check), so a count other than
 * the last seq is a row deleted or added before it. */
static p11e_rc hand_tail(pg_store *s, int count_rows, const p11e_store_audit_head *h,
			 p11e_store_audit_fn fn, void *arg, long long *rows, p11e_err *err)
{
	char sql[400];
	PGresult *res;
	long long count, last;
	p11e_rc rc;

	if (count_rows)
		snprintf(sql, sizeof(sql),
			 "SELECT seq, line, sha256, (SELECT count(*) FROM %s.audit) "
			 "FROM %s.audit ORDER BY seq DESC LIMIT 1",
			 s->schema_sql, s->schema_sql);
	else
		snprintf(sql, sizeof(sql),
			 "SELECT seq, line, sha256, seq FROM %s.audit ORDER BY seq DESC LIMIT 1",
			 s->schema_sql);
	if ((rc = run(s, sql, 0, NULL, PGRES_TUPLES_OK, &res, "reading the last entry", err)) !=
		P11E_OK)
		return rc;
	if (s->pq.ntuples(res) == 1) {
		last = strtoll(s->pq.getvalue(res, 0, 0), NULL, 10);
		count = strtoll(s->pq.getvalue(res, 0, 3), NULL, 10);
		if (count != last)
			rc = p11e_errf(err, P11E_FAIL,
				       "audit log %s holds %lld entries but its last is entry "
				       "%lld: entries before it were deleted or added without "
				       "p11enroll; `p11enroll audit verify` names the first, see "
				       "p11enroll(1) AUDIT LOG",
				       h->where, count, last);
		else
			rc = hand_rows(s, res, h, 1, fn, arg, rows, err);
	}
	s->pq.clear(res);
	return rc;
}

/* Every row in seq order, through a cursor (in the caller's transaction). */
static p11e_rc hand_all(pg_store *s, const p11e_store_audit_head *h,
			p11e_store_audit_fn fn, void *arg, long long *rows, p11e_err *err)
{
	char sql[300];
	PGresult *res;
	p11e_rc rc;

	snprintf(sql, sizeof(sql),
		 "DECLARE p11e_audit_rows NO SCROLL CURSOR FOR "
		 "SELECT seq, line, sha256 FROM %s.audit ORDER BY seq",
		 s->schema_sql);
	if ((rc = run(s, sql, 0, NULL, PGRES_COMMAND_OK, NULL, "reading the entries", err)) !=
		P11E_OK)
		return rc;
	for (;;) {
		if ((rc = run(s, "FETCH " FETCH_ROWS " FROM p11e_audit_rows", 0, NULL,
			      PGRES_TUPLES_OK, &res, "reading the entries", err)) != P11E_OK)
			return rc;
		if (s->pq.ntuples(res) == 0) {
			s->pq.clear(res);
			break;
		}
		rc = hand_rows(s, res, h, 0, fn, arg, rows, err);
		s->pq.clear(res);
		if (rc != P11E_OK)
			return rc;
	}
	return run(s, "CLOSE p11e_audit_rows", 0, NULL, PGRES_COMMAND_OK, NULL,
		   "reading the entries", err);
}

p11e_rc pg_audit_read(void *state, int flags, p11e_store_audit_head *head,
		      enum p11e_store_audit_given *given, p11e_store_audit_fn fn, void *arg,
		      p11e_err *err)
{
	pg_store *s = state;
	long long rows = 0;
	p11e_rc rc;

	/* The shared connection, under the store's mutex throughout. */
	pthread_mutex_lock(&s->mu);
	if ((rc = pg_shared(s, 1, err)) != P11E_OK)
		goto out;
	*given = (flags & P11E_STORE_AUDIT_TAIL) ? P11E_STORE_AUDIT_TAIL : P11E_STORE_AUDIT_ALL;
	/* One snapshot: the head and the rows as one commit left them. */
	if ((rc = run(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
		      PGRES_COMMAND_OK, NULL, "starting to read", err)) != P11E_OK)
		goto out;
	if ((rc = read_head(s, 0, head, err)) == P11E_OK)
		rc = *given == P11E_STORE_AUDIT_TAIL ? hand_tail(s, 1, head, fn, arg, &rows, err)
						     : hand_all(s, head, fn, arg, &rows, err);
	rollback(s); /* read only: nothing to keep */
	if (rc == P11E_OK && rows == 0 && !head->found)
		rc = P11E_NOT_FOUND;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

p11e_rc pg_audit_append(void *state, int flags, p11e_store_audit_head *head,
			const p11e_store_audit_append_cb *cb, void *arg, p11e_err *err)
{
	pg_store *s = state;
	enum p11e_store_audit_given given =
	    (flags & P11E_STORE_AUDIT_TAIL) ? P11E_STORE_AUDIT_TAIL : P11E_STORE_AUDIT_ALL;
	char sql[400], seq_text[24], *line = NULL, sha256[65];
	long long rows = 0, seq = 0;
	size_t len = 0;
	p11e_rc rc;

	pthread_mutex_lock(&s->mu);
	if ((rc = pg_shared(s, 1, err)) != P11E_OK)
		goto out;
	if ((rc = run(s, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, "starting an append", err)) !=
		P11E_OK)
		goto out;
	/* Appends take turns, the first ones too (no head row to lock yet). */
	if ((rc = run(s, "SELECT pg_advisory_xact_lock(" AUDIT_LOCK_CLASS ", hashtext($1))", 1,
		      (const char *const[]){s->schema}, PGRES_TUPLES_OK, NULL,
		      "waiting for the audit lock", err)) != P11E_OK ||
	    (rc = read_head(s, 1, head, err)) != P11E_OK)
		goto fail;
	rc = given == P11E_STORE_AUDIT_TAIL ? hand_tail(s, 0, head, cb->entry, arg, &rows, err)
					    : hand_all(s, head, cb->entry, arg, &rows, err);
	if (rc != P11E_OK)
		goto fail;
	if ((flags & P11E_STORE_AUDIT_EXISTING) && rows == 0 && !head->found) {
		rc = P11E_NOT_FOUND;
		goto fail;
	}
	if ((rc = cb->build(arg, head, given, &line, &len, &seq, sha256, err)) != P11E_OK ||
	    line == NULL)
		goto fail; /* nothing to write: rolled back */
	snprintf(seq_text, sizeof(seq_text), "%lld", seq);
	snprintf(sql, sizeof(sql), "INSERT INTO %s.audit (seq, line, sha256) VALUES ($1, $2, $3)",
		 s->schema_sql);
	if ((rc = run(s, sql, 3, (const char *const[]){seq_text, line, sha256},
		      PGRES_COMMAND_OK, NULL, "appending", err)) != P11E_OK)
		goto fail;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s.audit_head (one, seq, sha256) VALUES (true, $1, $2) "
		 "ON CONFLICT (one) DO UPDATE SET seq = EXCLUDED.seq, sha256 = EXCLUDED.sha256",
		 s->schema_sql);
	if ((rc = run(s, sql, 2, (const char *const[]){seq_text, sha256}, PGRES_COMMAND_OK,
		      NULL, "writing the head", err)) != P11E_OK)
		goto fail;
	/* Durable when COMMIT returns (synchronous_commit, the server's). */
	rc = run(s, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, "committing the append", err);
	goto out;
fail:
	rollback(s);
out:
	free(line);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
