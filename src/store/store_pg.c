/* The "postgresql" store: one database that every station, the portal and
 * the renewal timer share (docs/store.md). This file: the config, the
 * connection, migrate and info; documents and counters are in
 * store_pg_doc.c, locks in store_pg_lock.c (store_pg_int.h).
 *
 *   "store": { "type": "postgresql", "conninfo_source": "env:PGCONN",
 *              "schema": "p11enroll", "ca_bundle": "pg-ca.pem",
 *              "connect_timeout": 10 }
 *
 * The connection string is a secret (it may hold a password): it comes from
 * conninfo_source (env:VAR or file:PATH, as PINs do), or, without one, from
 * libpq's own PG* environment and ~/.pgpass. libpq's multi-host strings
 * (host=a,b target_session_attrs=read-write) are how a standby that was
 * promoted is found. With ca_bundle the server's certificate is verified
 * (sslmode=verify-full) against that file, whatever the string says.
 *
 * Lazy: open (every command loads the config) only checks the keys. The
 * first operation opens libpq (dlopen, as libcurl and libldap are), reads
 * the secret and connects; a connection found broken fails its operation
 * in one line and is made again, from the same multi-host string, by the
 * next one: that is how a station finds the standby promoted after a
 * failover. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "p11enroll/conf.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"
#include "store_pg_int.h"

static int load_pq(pq_api *api)
{
	static const char *const names[] = {"PQconnectdbParams",
					    "PQconninfoParse",
					    "PQconninfoFree",
					    "PQstatus",
					    "PQerrorMessage",
					    "PQfinish",
					    "PQexec",
					    "PQexecParams",
					    "PQresultStatus",
					    "PQresultErrorMessage",
					    "PQresultErrorField",
					    "PQclear",
					    "PQntuples",
					    "PQgetvalue",
					    "PQgetlength",
					    "PQgetisnull",
					    "PQcmdTuples",
					    "PQescapeIdentifier",
					    "PQfreemem",
					    "PQdb",
					    "PQhost",
					    "PQport",
					    "PQparameterStatus",
					    "PQsetNoticeProcessor"};
	void **slots[] = {(void **)&api->connectdb_params,
			  (void **)&api->conninfo_parse,
			  (void **)&api->conninfo_free,
			  (void **)&api->status,
			  (void **)&api->error_message,
			  (void **)&api->finish,
			  (void **)&api->exec,
			  (void **)&api->exec_params,
			  (void **)&api->result_status,
			  (void **)&api->result_error_message,
			  (void **)&api->result_error_field,
			  (void **)&api->clear,
			  (void **)&api->ntuples,
			  (void **)&api->getvalue,
			  (void **)&api->getlength,
			  (void **)&api->getisnull,
			  (void **)&api->cmd_tuples,
			  (void **)&api->escape_identifier,
			  (void **)&api->freemem,
			  (void **)&api->db,
			  (void **)&api->host,
			  (void **)&api->port,
			  (void **)&api->parameter_status,
			  (void **)&api->set_notice_processor};
	static const char *const sonames[] = {"libpq.so.5", NULL};

	_Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(slots) / sizeof(slots[0]),
		       "one slot per name");
	return p11e_dl_symbols(sonames, names, slots, sizeof(names) / sizeof(names[0]));
}

static const char *const pg_keys[] = {"type",	   "conninfo_source", "schema",
				      "ca_bundle", "connect_timeout", NULL};

const char *pg_one_line(const char *msg, char *buf, size_t cap)
{
	size_t o = 0;

	for (; msg != NULL && *msg != '\0' && o + 1 < cap; msg++) {
		char c = *msg == '\n' || *msg == '\t' ? ' ' : *msg;

		if (c == ' ' && (o == 0 || buf[o - 1] == ' '))
			continue;
		buf[o++] = c;
	}
	while (o > 0 && buf[o - 1] == ' ')
		o--;
	buf[o] = '\0';
	return buf;
}

/* The schema name: letters, digits and '_', as a PostgreSQL identifier. */
static int schema_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* The connection string from conninfo_source ("" without one: PG*), checked
 * by libpq's own parser first, so that a malformed one is refused without
 * libpq echoing a piece of it (it may hold a password). */
static p11e_rc read_conninfo(pg_store *s, char **out, p11e_err *err)
{
	PQconninfoOption *opts;
	char *parse_err = NULL;
	p11e_rc rc;

	*out = NULL;
	if (s->source == NULL) {
		if ((*out = strdup("")) == NULL)
			return p11e_errf(err, P11E_FAIL, "store: out of memory");
		return P11E_OK;
	}
	if ((rc = p11e_secret_read(s->source, "store.conninfo_source", out, err)) != P11E_OK)
		return rc;
	if ((opts = s->pq.conninfo_parse(*out, &parse_err)) == NULL) {
		if (parse_err != NULL)
			s->pq.freemem(parse_err);
		p11e_secret_free(*out, (size_t)-1);
		*out = NULL;
		return p11e_errf(err, P11E_CONFIG,
				 "store.conninfo_source %.60s: not a libpq connection string "
				 "(key=value pairs or a postgresql:// URI)",
				 s->source);
	}
	s->pq.conninfo_free(opts);
	return P11E_OK;
}

/* libpq prints the server's notices and warnings on stderr by default
 * ("WARNING: terminating connection due to immediate shutdown"), a second
 * line beside the one p11enroll says: they are dropped, the failure that
 * follows says what happened. */
static void no_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

p11e_rc pg_connect(pg_store *s, PGconn **out, p11e_err *err)
{
	const char *keys[8], *vals[8];
	char *conninfo = NULL, host[64] = "unknown", line[400];
	PGconn *conn;
	p11e_rc rc;
	int n = 0;

	*out = NULL;
	if (!s->loaded) {
		if (load_pq(&s->pq) != 0)
			return p11e_errf(err, P11E_FAIL,
					 "store: cannot load libpq.so.5 (apt-get install libpq5)");
		s->loaded = 1;
	}
	if ((rc = read_conninfo(s, &conninfo, err)) != P11E_OK)
		return rc;
	/* Who holds a lock, as a waiter names it (pg_stat_activity): taken
	 * now, not at open, so that it is this process's pid. */
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	/* PostgreSQL keeps 63 bytes of it. */
	snprintf(s->app_name, sizeof(s->app_name), "p11enroll pid %ld on host %.28s",
		 (long)getpid(), host);
	/* The string first: what follows it overrides it (libpq's rule for
	 * expand_dbname), so ca_bundle always means verify-full. */
	keys[n] = "dbname", vals[n++] = conninfo;
	keys[n] = "connect_timeout", vals[n++] = s->timeout;
	keys[n] = "application_name", vals[n++] = s->app_name;
	if (s->ca != NULL) {
		keys[n] = "sslmode", vals[n++] = "verify-full";
		keys[n] = "sslrootcert", vals[n++] = s->ca;
	}
	keys[n] = NULL, vals[n] = NULL;
	conn = s->pq.connectdb_params(keys, vals, 1);
	p11e_secret_free(conninfo, (size_t)-1);
	if (conn == NULL)
		return p11e_errf(err, P11E_FAIL, "store: out of memory");
	if (s->pq.status(conn) != CONNECTION_OK) {
		rc = p11e_errf(err, P11E_FAIL, "store: cannot connect to PostgreSQL: %s",
			       pg_one_line(s->pq.error_message(conn), line, sizeof(line)));
		s->pq.finish(conn);
		return rc;
	}
	s->pq.set_notice_processor(conn, no_notices, NULL);
	if (s->schema_sql == NULL &&
	    (s->schema_sql = s->pq.escape_identifier(conn, s->schema, strlen(s->schema))) == NULL) {
		s->pq.finish(conn);
		return p11e_errf(err, P11E_FAIL, "store: out of memory");
	}
	*out = conn;
	return P11E_OK;
}

static void drop_shared(pg_store *s)
{
	if (s->conn != NULL)
		s->pq.finish(s->conn);
	s->conn = NULL;
	s->schema_ok = 0;
}

p11e_rc pg_fail(pg_store *s, PGconn *conn, PGresult *res, const char *what, p11e_err *err)
{
	const char *state = res ? s->pq.result_error_field(res, PG_DIAG_SQLSTATE) : NULL;
	char line[400];
	p11e_rc rc;

	pg_one_line(res ? s->pq.result_error_message(res) : s->pq.error_message(conn), line,
		    sizeof(line));
	if (line[0] == '\0')
		pg_one_line(s->pq.error_message(conn), line, sizeof(line));
	/* Class 08 (connection exception) and 57P (the server shut down or
	 * terminated us) end the session, whatever PQstatus says yet. */
	if (s->pq.status(conn) == CONNECTION_BAD ||
	    (state != NULL && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0))) {
		rc =
		    p11e_errf(err, P11E_FAIL, "store: lost the connection to PostgreSQL: %s", line);
		if (conn == s->conn)
			drop_shared(s);
		return rc;
	}
	if (state != NULL && strcmp(state, "25006") == 0)
		return p11e_errf(err, P11E_FAIL,
				 "store: the server is a standby (read-only), nothing can be "
				 "written; connect to the primary (libpq: "
				 "target_session_attrs=read-write)");
	return p11e_errf(err, P11E_FAIL, "store: %s: %s", what, line);
}

p11e_rc pg_run(pg_store *s, PGconn *conn, const char *sql, const char *what, p11e_err *err)
{
	PGresult *res = s->pq.exec(conn, sql);
	ExecStatusType st = res ? s->pq.result_status(res) : PGRES_FATAL_ERROR;
	p11e_rc rc = P11E_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = pg_fail(s, conn, res, what, err);
	s->pq.clear(res);
	return rc;
}

/* The first column of a one-row query on the shared connection with one
 * text parameter (or none), as a long (-1: SQL NULL). */
static p11e_rc query_int(pg_store *s, const char *sql, const char *param, long *out,
			 const char *what, p11e_err *err)
{
	PGresult *res =
	    s->pq.exec_params(s->conn, sql, param ? 1 : 0, NULL,
			      param ? (const char *const[]){param} : NULL, NULL, NULL, 0);
	p11e_rc rc = P11E_OK;

	if (res == NULL || s->pq.result_status(res) != PGRES_TUPLES_OK || s->pq.ntuples(res) != 1)
		rc = pg_fail(s, s->conn, res, what, err);
	else
		*out =
		    s->pq.getisnull(res, 0, 0) ? -1 : strtol(s->pq.getvalue(res, 0, 0), NULL, 10);
	s->pq.clear(res);
	return rc;
}

/* The schema's version: 0 when it has no p11e_schema table yet. */
static p11e_rc schema_version(pg_store *s, long *version, p11e_err *err)
{
	char sql[200];
	long exists = 0;
	p11e_rc rc;

	if ((rc = query_int(s,
			    "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 "
			    "AND tablename = 'p11e_schema'",
			    s->schema, &exists, "reading the schema's version", err)) != P11E_OK)
		return rc;
	*version = 0;
	if (exists == 0)
		return P11E_OK;
	snprintf(sql, sizeof(sql), "SELECT coalesce(max(version), 0) FROM %s.p11e_schema",
		 s->schema_sql);
	return query_int(s, sql, NULL, version, "reading the schema's version", err);
}

/* The same, outside a transaction, in one round trip (once per connection,
 * before its first document): the version table read at once, and its
 * absence (undefined table or schema) taken for version 0. */
static p11e_rc schema_version_now(pg_store *s, PGconn *conn, long *version, p11e_err *err)
{
	char sql[200];
	PGresult *res;
	const char *state;
	p11e_rc rc = P11E_OK;

	*version = 0;
	snprintf(sql, sizeof(sql), "SELECT coalesce(max(version), 0) FROM %s.p11e_schema",
		 s->schema_sql);
	res = s->pq.exec_params(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	state = res != NULL ? s->pq.result_error_field(res, PG_DIAG_SQLSTATE) : NULL;
	if (res != NULL && s->pq.result_status(res) == PGRES_TUPLES_OK && s->pq.ntuples(res) == 1)
		*version = strtol(s->pq.getvalue(res, 0, 0), NULL, 10);
	else if (state == NULL || (strcmp(state, "42P01") != 0 && strcmp(state, "3F000") != 0))
		rc = pg_fail(s, conn, res, "reading the schema's version", err);
	s->pq.clear(res);
	return rc;
}

/* Documents need the schema this binary was built for: the user is told
 * which command makes it so (exit 8: the store is not set up). */
p11e_rc pg_check_schema(pg_store *s, PGconn *conn, p11e_err *err)
{
	long found = 0;
	int known = 0;
	p11e_rc rc;

	p11e_pg_migrations(&known);
	if ((rc = schema_version_now(s, conn, &found, err)) != P11E_OK)
		return rc;
	if (found == 0)
		return p11e_errf(err, P11E_CONFIG,
				 "store: schema %s has no p11enroll tables yet; run `p11enroll "
				 "store init`",
				 s->schema);
	if (found < known)
		return p11e_errf(err, P11E_CONFIG,
				 "store: schema %s is at version %ld, this p11enroll needs %d; run "
				 "`p11enroll store migrate`",
				 s->schema, found, known);
	if (found > known)
		return p11e_errf(err, P11E_CONFIG,
				 "store: schema %s is at version %ld, newer than this p11enroll "
				 "knows (%d): upgrade p11enroll on this machine",
				 s->schema, found, known);
	return P11E_OK;
}

p11e_rc pg_shared(pg_store *s, int docs, p11e_err *err)
{
	char line[400];
	p11e_rc rc;

	if (s->conn != NULL && s->pq.status(s->conn) == CONNECTION_BAD) {
		rc = p11e_errf(err, P11E_FAIL, "store: lost the connection to PostgreSQL: %s",
			       pg_one_line(s->pq.error_message(s->conn), line, sizeof(line)));
		drop_shared(s);
		return rc;
	}
	if (s->conn == NULL && (rc = pg_connect(s, &s->conn, err)) != P11E_OK)
		return rc;
	if (docs && !s->schema_ok) {
		if ((rc = pg_check_schema(s, s->conn, err)) != P11E_OK)
			return rc;
		s->schema_ok = 1;
	}
	return P11E_OK;
}

p11e_rc pg_doc_conn(pg_store *s, PGconn **conn, p11e_err *err)
{
	pg_held *h = pg_thread_lock(s);
	p11e_rc rc;

	*conn = NULL;
	if (h == NULL) {
		if ((rc = pg_shared(s, 1, err)) == P11E_OK)
			*conn = s->conn;
		return rc;
	}
	if (!h->schema_ok) {
		if ((rc = pg_check_schema(s, h->conn, err)) != P11E_OK)
			return rc;
		pg_schema_checked(s, h);
	}
	*conn = h->conn;
	return P11E_OK;
}

static void pg_close(void *state)
{
	pg_store *s = state;

	if (s == NULL)
		return;
	if (s->loaded) {
		pg_locks_close(s);
		drop_shared(s);
		if (s->schema_sql != NULL)
			s->pq.freemem(s->schema_sql);
	}
	pthread_mutex_destroy(&s->mu);
	free(s->source);
	free(s->ca);
	free(s->schema);
	free(s);
}

/* Checks the keys and keeps them: no I/O, no secret read. */
static p11e_rc pg_open(const p11e_config *cfg, const struct json_object *conf, void **state,
		       p11e_err *err)
{
	const char *schema = p11e_conf_string(conf, "schema"),
		   *ca = p11e_conf_string(conf, "ca_bundle"),
		   *source = p11e_conf_string(conf, "conninfo_source");
	json_object *jt;
	pg_store *s = calloc(1, sizeof(*s));
	p11e_rc rc = P11E_OK;

	(void)cfg;
	*state = NULL;
	if (s == NULL)
		return p11e_errf(err, P11E_FAIL, "store: out of memory");
	pthread_mutex_init(&s->mu, NULL);
	snprintf(s->timeout, sizeof(s->timeout), "10");
	if (schema == NULL && json_object_object_get_ex(conf, "schema", NULL))
		schema = "";
	if (schema != NULL && !schema_name_ok(schema)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "store.schema '%.70s': 1 to 63 of a-z, 0-9 and _, not starting "
			       "with a digit",
			       schema);
		goto out;
	}
	if (json_object_object_get_ex(conf, "connect_timeout", &jt)) {
		if (!json_object_is_type(jt, json_type_int) || json_object_get_int(jt) < 1 ||
		    json_object_get_int(jt) > 600) {
			rc =
			    p11e_errf(err, P11E_CONFIG, "store.connect_timeout: seconds, 1 to 600");
			goto out;
		}
		snprintf(s->timeout, sizeof(s->timeout), "%d", json_object_get_int(jt));
	}
	if (ca == NULL && json_object_object_get_ex(conf, "ca_bundle", NULL)) {
		rc = p11e_errf(err, P11E_CONFIG, "store.ca_bundle: a PEM file's path");
		goto out;
	}
	if (source == NULL && json_object_object_get_ex(conf, "conninfo_source", NULL)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "store.conninfo_source: must be env:VAR or file:PATH");
		goto out;
	}
	if (source != NULL && strncmp(source, "env:", 4) != 0 && strncmp(source, "file:", 5) != 0) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "store.conninfo_source: must be env:VAR or file:PATH (a "
			       "connection string may hold a password: never in the config)");
		goto out;
	}
	if ((s->schema = strdup(schema ? schema : "p11enroll")) == NULL ||
	    (source != NULL && (s->source = strdup(source)) == NULL) ||
	    (ca != NULL && (s->ca = strdup(ca)) == NULL)) {
		rc = p11e_errf(err, P11E_FAIL, "store: out of memory");
		goto out;
	}
	snprintf(s->where, sizeof(s->where), "PostgreSQL schema %s (table documents)", s->schema);
	*state = s;
	return P11E_OK;
out:
	pg_close(s);
	return rc;
}

/* In the migration's transaction, under its advisory lock. */
static p11e_rc apply_migrations(pg_store *s, int create, long found, int known, p11e_err *err)
{
	const p11e_pg_migration *m = p11e_pg_migrations(&known);
	char sql[400];
	p11e_rc rc;

	if (found > known)
		return p11e_errf(err, P11E_CONFIG,
				 "store: schema %s is at version %ld, newer than this p11enroll "
				 "knows (%d): upgrade p11enroll on this machine",
				 s->schema, found, known);
	if (found == 0 && !create)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "store: schema %s has no p11enroll tables yet; `p11enroll store "
				 "init` creates them",
				 s->schema);
	if (found == 0) {
		snprintf(sql, sizeof(sql),
			 "CREATE SCHEMA IF NOT EXISTS %s; CREATE TABLE %s.p11e_schema ("
			 "version integer PRIMARY KEY, summary text NOT NULL, "
			 "applied_at timestamptz NOT NULL DEFAULT now(), "
			 "applied_by text NOT NULL DEFAULT current_user)",
			 s->schema_sql, s->schema_sql);
		if ((rc = pg_run(s, s->conn, sql, "creating the schema", err)) != P11E_OK)
			return rc;
	}
	snprintf(sql, sizeof(sql), "SET LOCAL search_path TO %s", s->schema_sql);
	if ((rc = pg_run(s, s->conn, sql, "choosing the schema", err)) != P11E_OK)
		return rc;
	for (long v = found; v < known; v++) {
		char what[80], num[24];
		PGresult *res;

		snprintf(what, sizeof(what), "migration %ld", v + 1);
		if ((rc = pg_run(s, s->conn, m[v].sql, what, err)) != P11E_OK)
			return rc;
		snprintf(num, sizeof(num), "%ld", v + 1);
		res = s->pq.exec_params(
		    s->conn, "INSERT INTO p11e_schema (version, summary) VALUES ($1, $2)", 2, NULL,
		    (const char *const[]){num, m[v].summary}, NULL, NULL, 0);
		if (res == NULL || s->pq.result_status(res) != PGRES_COMMAND_OK)
			rc = pg_fail(s, s->conn, res, "recording a migration", err);
		s->pq.clear(res);
		if (rc != P11E_OK)
			return rc;
	}
	return P11E_OK;
}

static p11e_rc migrate_locked(pg_store *s, int create, int *from, int *to, p11e_err *err)
{
	long found = 0, recovery = 0;
	int known = 0;
	p11e_rc rc;

	p11e_pg_migrations(&known);
	*from = *to = 0;
	if ((rc = pg_shared(s, 0, err)) != P11E_OK ||
	    (rc = query_int(s, "SELECT pg_is_in_recovery()::int", NULL, &recovery,
			    "asking the server's role", err)) != P11E_OK)
		return rc;
	if (recovery == 1)
		return p11e_errf(err, P11E_FAIL,
				 "store: the server is a standby (read-only); connect to the "
				 "primary (libpq: target_session_attrs=read-write)");
	if ((rc = pg_run(s, s->conn, "BEGIN", "starting the migration", err)) != P11E_OK)
		return rc;
	/* One migrator at a time per schema: a second station waits here, then
	 * finds the work done. */
	if ((rc = query_int(s, "SELECT 0 FROM pg_advisory_xact_lock(1882289509, hashtext($1))",
			    s->schema, &(long){0}, "waiting for the migration lock", err)) !=
		P11E_OK ||
	    (rc = schema_version(s, &found, err)) != P11E_OK ||
	    (rc = apply_migrations(s, create, found, known, err)) != P11E_OK) {
		p11e_err ignored;

		if (s->conn != NULL)
			pg_run(s, s->conn, "ROLLBACK", "rolling back", &ignored);
		return rc;
	}
	if ((rc = pg_run(s, s->conn, "COMMIT", "committing the migration", err)) != P11E_OK)
		return rc;
	s->schema_ok = 0; /* checked again by the next document */
	*from = (int)found;
	*to = known;
	return P11E_OK;
}

static p11e_rc pg_migrate(void *state, int create, int *from, int *to, p11e_err *err)
{
	pg_store *s = state;
	p11e_rc rc;

	pthread_mutex_lock(&s->mu);
	rc = migrate_locked(s, create, from, to, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static p11e_rc info_locked(pg_store *s, p11e_store_info *out, p11e_err *err)
{
	const char *ver;
	long version = 0, recovery = 0;
	p11e_rc rc;

	snprintf(out->type, sizeof(out->type), "postgresql");
	p11e_pg_migrations(&out->known_version);
	if ((rc = pg_shared(s, 0, err)) != P11E_OK)
		return rc;
	ver = s->pq.parameter_status(s->conn, "server_version");
	snprintf(out->where, sizeof(out->where), "database %s on %s port %s, schema %s",
		 s->pq.db(s->conn), s->pq.host(s->conn), s->pq.port(s->conn), s->schema);
	snprintf(out->server, sizeof(out->server), "%s", ver ? ver : "");
	if ((rc = schema_version(s, &version, err)) != P11E_OK ||
	    (rc = query_int(s, "SELECT pg_is_in_recovery()::int", NULL, &recovery,
			    "asking the server's role", err)) != P11E_OK)
		return rc;
	out->schema_version = (int)version;
	out->read_only = recovery == 1;
	return P11E_OK;
}

static p11e_rc pg_info(void *state, p11e_store_info *out, p11e_err *err)
{
	pg_store *s = state;
	p11e_rc rc;

	pthread_mutex_lock(&s->mu);
	rc = info_locked(s, out, err);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Names are kept as given: exact equality. */
static int pg_same_name(void *state, const p11e_store_kind *k, const char *stored, const char *name)
{
	(void)state;
	(void)k;
	return strcmp(stored, name) == 0;
}

static void pg_describe(void *state, const p11e_store_kind *k, const char *name, char *buf,
			size_t cap)
{
	snprintf(buf, cap, "%s %.200s in %s", k->name, name, ((pg_store *)state)->where);
}

const p11e_store_ops p11e_store_pg_ops = {
    .type = "postgresql",
    .config_keys = pg_keys,
    .open = pg_open,
    .close = pg_close,
    .migrate = pg_migrate,
    .info = pg_info,
    .get = pg_get,
    .put = pg_put,
    .remove = pg_remove,
    .list = pg_list,
    .same_name = pg_same_name,
    .describe = pg_describe,
    .lock = pg_lock,
    .unlock = pg_unlock,
    .counter_next = pg_counter_next,
    .counter_list = pg_counter_list,
    .counter_raise = pg_counter_raise,
    .audit_read = pg_audit_read,
    .audit_append = pg_audit_append,
};
