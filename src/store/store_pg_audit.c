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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/audit_parse.h"
#include "store_pg_int.h"

/* The audit lock's first key (the migration lock's is 1882289509). */
#define AUDIT_LOCK_CLASS "1882289510"
#define FETCH_ROWS "1000"

/* Runs sql with params; want: the status expected. *out (may be NULL) gets
 * the result to clear. P11E_FAIL with the server's message otherwise. */
static p11e_rc run(const p11e_pg_conn *c, const char *sql, int n, const char *const *params,
		   ExecStatusType want, PGresult **out, const char *what, p11e_err *err)
{
	PGresult *res = n > 0 ? c->pq->exec_params(c->conn, sql, n, NULL, params, NULL, NULL, 0)
			      : c->pq->exec(c->conn, sql);
	char line[300];

	if (out != NULL)
		*out = NULL;
	if (res == NULL || c->pq->result_status(res) != want) {
		p11e_errf(err, P11E_FAIL, "store: audit chain: %s: %s", what,
			  p11e_pg_one_line(res ? c->pq->result_error_message(res)
					       : c->pq->error_message(c->conn),
					   line, sizeof(line)));
		c->pq->clear(res);
		return P11E_FAIL;
	}
	if (out != NULL)
		*out = res;
	else
		c->pq->clear(res);
	return P11E_OK;
}

static void rollback(const p11e_pg_conn *c)
{
	p11e_err ignored;

	run(c, "ROLLBACK", 0, NULL, PGRES_COMMAND_OK, NULL, "rolling back", &ignored);
}

/* The head's row into h (found 0 without one). */
static p11e_rc read_head(const p11e_pg_conn *c, int for_update, p11e_store_audit_head *h,
			 p11e_err *err)
{
	char sql[300];
	PGresult *res;
	p11e_rc rc;

	memset(h, 0, sizeof(*h));
	h->atomic = 1;
	strcpy(h->sha256, P11E_AUDIT_ZERO_HASH);
	snprintf(h->where, sizeof(h->where), "%s.audit (PostgreSQL)", c->schema);
	snprintf(h->head_where, sizeof(h->head_where), "%s.audit_head (PostgreSQL)", c->schema);
	snprintf(h->unit, sizeof(h->unit), "entry");
	snprintf(sql, sizeof(sql), "SELECT seq, sha256 FROM %s.audit_head%s", c->schema_sql,
		 for_update ? " FOR UPDATE" : "");
	if ((rc = run(c, sql, 0, NULL, PGRES_TUPLES_OK, &res, "reading the head", err)) != P11E_OK)
		return rc;
	if (c->pq->ntuples(res) == 1) {
		h->found = 1;
		h->seq = strtoll(c->pq->getvalue(res, 0, 0), NULL, 10);
		snprintf(h->sha256, sizeof(h->sha256), "%s", c->pq->getvalue(res, 0, 1));
	}
	c->pq->clear(res);
	return P11E_OK;
}

/* Hands fn the rows of res (seq, line, sha256); *rows counts them. */
static p11e_rc hand_rows(const p11e_pg_conn *c, PGresult *res, const p11e_store_audit_head *h,
			 int tail, p11e_store_audit_fn fn, void *arg, long long *rows,
			 p11e_err *err)
{
	int n = c->pq->ntuples(res);

	for (int i = 0; i < n; i++) {
		p11e_store_audit_entry e = {.line = c->pq->getvalue(res, i, 1),
					    .seq = strtoll(c->pq->getvalue(res, i, 0), NULL, 10),
					    .sha256 = c->pq->getvalue(res, i, 2),
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
static p11e_rc hand_tail(const p11e_pg_conn *c, int count_rows, const p11e_store_audit_head *h,
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
			 c->schema_sql, c->schema_sql);
	else
		snprintf(sql, sizeof(sql),
			 "SELECT seq, line, sha256, seq FROM %s.audit ORDER BY seq DESC LIMIT 1",
			 c->schema_sql);
	if ((rc = run(c, sql, 0, NULL, PGRES_TUPLES_OK, &res, "reading the last entry", err)) !=
		P11E_OK)
		return rc;
	if (c->pq->ntuples(res) == 1) {
		last = strtoll(c->pq->getvalue(res, 0, 0), NULL, 10);
		count = strtoll(c->pq->getvalue(res, 0, 3), NULL, 10);
		if (count != last)
			rc = p11e_errf(err, P11E_FAIL,
				       "audit log %s holds %lld entries but its last is entry "
				       "%lld: entries before it were deleted or added without "
				       "p11enroll; `p11enroll audit verify` names the first, see "
				       "p11enroll(1) AUDIT LOG",
				       h->where, count, last);
		else
			rc = hand_rows(c, res, h, 1, fn, arg, rows, err);
	}
	c->pq->clear(res);
	return rc;
}

/* Every row in seq order, through a cursor (in the caller's transaction). */
static p11e_rc hand_all(const p11e_pg_conn *c, const p11e_store_audit_head *h,
			p11e_store_audit_fn fn, void *arg, long long *rows, p11e_err *err)
{
	char sql[300];
	PGresult *res;
	p11e_rc rc;

	snprintf(sql, sizeof(sql),
		 "DECLARE p11e_audit_rows NO SCROLL CURSOR FOR "
		 "SELECT seq, line, sha256 FROM %s.audit ORDER BY seq",
		 c->schema_sql);
	if ((rc = run(c, sql, 0, NULL, PGRES_COMMAND_OK, NULL, "reading the entries", err)) !=
		P11E_OK)
		return rc;
	for (;;) {
		if ((rc = run(c, "FETCH " FETCH_ROWS " FROM p11e_audit_rows", 0, NULL,
			      PGRES_TUPLES_OK, &res, "reading the entries", err)) != P11E_OK)
			return rc;
		if (c->pq->ntuples(res) == 0) {
			c->pq->clear(res);
			break;
		}
		rc = hand_rows(c, res, h, 0, fn, arg, rows, err);
		c->pq->clear(res);
		if (rc != P11E_OK)
			return rc;
	}
	return run(c, "CLOSE p11e_audit_rows", 0, NULL, PGRES_COMMAND_OK, NULL,
		   "reading the entries", err);
}

p11e_rc p11e_pg_audit_read(void *state, int flags, p11e_store_audit_head *head,
			   enum p11e_store_audit_given *given, p11e_store_audit_fn fn, void *arg,
			   p11e_err *err)
{
	p11e_pg_conn c;
	long long rows = 0;
	p11e_rc rc;

	if ((rc = p11e_pg_acquire(state, &c, err)) != P11E_OK)
		return rc;
	*given = (flags & P11E_STORE_AUDIT_TAIL) ? P11E_STORE_AUDIT_TAIL : P11E_STORE_AUDIT_ALL;
	/* One snapshot: the head and the rows as one commit left them. */
	if ((rc = run(&c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
		      PGRES_COMMAND_OK, NULL, "starting to read", err)) != P11E_OK)
		goto out;
	if ((rc = read_head(&c, 0, head, err)) == P11E_OK)
		rc = *given == P11E_STORE_AUDIT_TAIL ? hand_tail(&c, 1, head, fn, arg, &rows, err)
						     : hand_all(&c, head, fn, arg, &rows, err);
	rollback(&c); /* read only: nothing to keep */
	if (rc == P11E_OK && rows == 0 && !head->found)
		rc = P11E_NOT_FOUND;
out:
	p11e_pg_release(state);
	return rc;
}

p11e_rc p11e_pg_audit_append(void *state, int flags, p11e_store_audit_head *head,
			     const p11e_store_audit_append_cb *cb, void *arg, p11e_err *err)
{
	enum p11e_store_audit_given given =
	    (flags & P11E_STORE_AUDIT_TAIL) ? P11E_STORE_AUDIT_TAIL : P11E_STORE_AUDIT_ALL;
	char sql[400], seq_text[24], *line = NULL, sha256[65];
	long long rows = 0, seq = 0;
	size_t len = 0;
	p11e_pg_conn c;
	p11e_rc rc;

	if ((rc = p11e_pg_acquire(state, &c, err)) != P11E_OK)
		return rc;
	if ((rc = run(&c, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, "starting an append", err)) !=
		P11E_OK)
		goto out;
	/* Appends take turns, the first ones too (no head row to lock yet). */
	if ((rc = run(&c, "SELECT pg_advisory_xact_lock(" AUDIT_LOCK_CLASS ", hashtext($1))", 1,
		      (const char *const[]){c.schema}, PGRES_TUPLES_OK, NULL,
		      "waiting for the audit lock", err)) != P11E_OK ||
	    (rc = read_head(&c, 1, head, err)) != P11E_OK)
		goto fail;
	rc = given == P11E_STORE_AUDIT_TAIL ? hand_tail(&c, 0, head, cb->entry, arg, &rows, err)
					    : hand_all(&c, head, cb->entry, arg, &rows, err);
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
		 c.schema_sql);
	if ((rc = run(&c, sql, 3, (const char *const[]){seq_text, line, sha256},
		      PGRES_COMMAND_OK, NULL, "appending", err)) != P11E_OK)
		goto fail;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO %s.audit_head (one, seq, sha256) VALUES (true, $1, $2) "
		 "ON CONFLICT (one) DO UPDATE SET seq = EXCLUDED.seq, sha256 = EXCLUDED.sha256",
		 c.schema_sql);
	if ((rc = run(&c, sql, 2, (const char *const[]){seq_text, sha256}, PGRES_COMMAND_OK,
		      NULL, "writing the head", err)) != P11E_OK)
		goto fail;
	/* Durable when COMMIT returns (synchronous_commit, the server's). */
	rc = run(&c, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, "committing the append", err);
	goto out;
fail:
	rollback(&c);
out:
	free(line);
	p11e_pg_release(state);
	return rc;
}
