/* p11enroll store init|migrate|status: the store's life cycle (docs/store.md). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/store.h"
#include "p11enroll/store_import.h"

/* How long `store migrate --from` waits for another import into the same
 * store: imports take turns (the store's lock "store"/"import"). */
#define IMPORT_WAIT_MS (30L * 60 * 1000)

/* A refused document: one line each on stderr, kind and name (names are
 * an identity's or a hash: no secret). */
static void report_conflict(void *arg, const char *kind, const char *name, const char *why)
{
	(void)arg;
	fprintf(stderr, "p11enroll store: conflict: %s %.200s: %s\n", kind, name, why);
}

/* The CA's counts added to the station's, kind by kind (the same kinds). */
static void add_counts(p11e_import_report *rep, const p11e_import_report *ca)
{
	for (size_t i = 0; i < rep->n && i < ca->n; i++) {
		rep->counts[i].imported += ca->counts[i].imported;
		rep->counts[i].present += ca->counts[i].present;
		rep->counts[i].conflicts += ca->counts[i].conflicts;
	}
	rep->conflicts += ca->conflicts;
}

static void print_ca(const p11e_ca_import *ca)
{
	if (!ca->found)
		return;
	printf("embedded CA in %s: its index, request answers and CRL number imported "
	       "(%zu certificates only in its index.jsonl added, %zu there already).\n"
	       "Its key and certificate were not moved: point the CA \"dir\" of the stations "
	       "on this store at that directory (or a copy of ca.pem and ca.key).\n",
	       ca->dir, ca->legacy, ca->legacy_present);
}

static void print_import(const cli_ctx *ctx, const char *source, const p11e_store_info *in,
			 const p11e_import_report *rep, const p11e_ca_import *ca)
{
	if (ctx->json) {
		json_object *o = json_object_new_object(), *kinds = json_object_new_array();

		json_object_object_add(o, "from", json_object_new_string(source));
		json_object_object_add(o, "type", json_object_new_string(in->type));
		json_object_object_add(o, "where", json_object_new_string(in->where));
		for (size_t i = 0; i < rep->n; i++) {
			const p11e_import_count *c = &rep->counts[i];
			json_object *k = json_object_new_object();

			json_object_object_add(k, "kind", json_object_new_string(c->kind));
			json_object_object_add(k, "imported",
					       json_object_new_int64((int64_t)c->imported));
			json_object_object_add(k, "already_there",
					       json_object_new_int64((int64_t)c->present));
			json_object_object_add(k, "conflicts",
					       json_object_new_int64((int64_t)c->conflicts));
			json_object_array_add(kinds, k);
		}
		json_object_object_add(o, "kinds", kinds);
		json_object_object_add(o, "conflicts",
				       json_object_new_int64((int64_t)rep->conflicts));
		if (ca->found) {
			json_object *c = json_object_new_object();

			json_object_object_add(c, "dir", json_object_new_string(ca->dir));
			json_object_object_add(c, "ca_id", json_object_new_string(ca->id));
			json_object_object_add(c, "index_only_imported",
					       json_object_new_int64((int64_t)ca->legacy));
			json_object_object_add(c, "index_only_already_there",
					       json_object_new_int64((int64_t)ca->legacy_present));
			json_object_object_add(c, "key_moved", json_object_new_boolean(0));
			json_object_object_add(o, "embedded_ca", c);
		}
		cli_print_json(o);
		return;
	}
	printf("store: %s, %s: imported from %s\n", in->type, in->where, source);
	printf("%-14s %9s %14s %10s\n", "kind", "imported", "already there", "conflicts");
	for (size_t i = 0; i < rep->n; i++)
		printf("%-14s %9zu %14zu %10zu\n", rep->counts[i].kind, rep->counts[i].imported,
		       rep->counts[i].present, rep->counts[i].conflicts);
	print_ca(ca);
}

/* store migrate --from file:DIR: the configured store brought up to date,
 * then DIR's state copied into it (store_import.h). */
static p11e_rc import(cli_ctx *ctx, p11e_store *to, const char *source, const char *audit_log)
{
	p11e_import_report rep = {0};
	p11e_ca_import ca = {0};
	p11e_store *from = NULL;
	p11e_store_info info;
	int v0 = 0, v1 = 0;
	p11e_rc rc;

	if (strncmp(source, "file:", 5) != 0 || source[5] == '\0')
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "store migrate: --from '%.100s' is not file:DIR (a station's "
				 "STATE_DIR)",
				 source);
	if ((rc = p11e_store_open_station(source + 5, audit_log, &from, &ctx->err)) != P11E_OK)
		return rc;
	/* The source as it is: no directory made (migrate without create). */
	if ((rc = p11e_store_info_get(from, &info, &ctx->err)) != P11E_OK)
		goto out;
	if (info.schema_version == 0) {
		rc = p11e_errf(&ctx->err, P11E_NOT_FOUND,
			       "store migrate: --from %.200s: no such directory", source + 5);
		goto out;
	}
	if ((rc = p11e_store_migrate(to, 0, &v0, &v1, &ctx->err)) != P11E_OK ||
	    (rc = p11e_store_info_get(to, &info, &ctx->err)) != P11E_OK)
		goto out;
	rc = p11e_store_import(to, from, IMPORT_WAIT_MS, report_conflict, NULL, &rep, &ctx->err);
	/* Then the station's default embedded CA, DIR/ca, if it holds one:
	 * its index is the one the stations on this store must share. */
	/* A station on a file store keeps its CA's index in the CA's own
	 * directory (p11e_store_open_home), not in its STATE_DIR: nothing to
	 * copy there. */
	if ((rc == P11E_OK || rc == P11E_EXISTS) && strcmp(info.type, "file") != 0) {
		p11e_err ca_err = {0};
		p11e_rc ca_rc = p11e_ca_local_import(to, source + 5, IMPORT_WAIT_MS,
						     report_conflict, NULL, &ca, &ca_err);

		size_t before = rep.conflicts;

		add_counts(&rep, &ca.rep);
		if (ca_rc != P11E_OK && (rc == P11E_OK || ca_rc != P11E_EXISTS)) {
			rc = ca_rc;
			ctx->err = ca_err;
		}
		/* And its ACME CAs' accounts, keys, orders and chains (acme-HASH). */
		if (rc == P11E_OK || rc == P11E_EXISTS) {
			p11e_err acme_err = {0};
			p11e_rc acme_rc = p11e_store_import_acme(to, source + 5, IMPORT_WAIT_MS,
								 report_conflict, NULL, &rep,
								 &acme_err);

			if (acme_rc != P11E_OK && (rc == P11E_OK || acme_rc != P11E_EXISTS)) {
				rc = acme_rc;
				ctx->err = acme_err;
			}
		}
		if (rc == P11E_EXISTS && rep.conflicts > before)
			rc = p11e_errf(&ctx->err, P11E_EXISTS,
				       "%zu document%s refused (named above): the target holds "
				       "other bytes under that name; everything else was imported. "
				       "Resolve each (keep one of the two) and rerun",
				       rep.conflicts, rep.conflicts == 1 ? "" : "s");
	}
	if (rc == P11E_OK || rc == P11E_EXISTS)
		print_import(ctx, source, &info, &rep, &ca);
out:
	p11e_ca_import_free(&ca);
	p11e_import_report_free(&rep);
	p11e_store_close(from);
	return rc;
}

static void print_info(const cli_ctx *ctx, const p11e_store_info *in)
{
	const char *state = in->schema_version == 0		     ? "not created"
			    : in->schema_version < in->known_version ? "migrations pending"
			    : in->schema_version > in->known_version ? "newer than this p11enroll"
								     : "up to date";

	if (ctx->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string(in->type));
		json_object_object_add(o, "where", json_object_new_string(in->where));
		json_object_object_add(o, "schema_version",
				       json_object_new_int(in->schema_version));
		json_object_object_add(o, "known_version", json_object_new_int(in->known_version));
		json_object_object_add(o, "state", json_object_new_string(state));
		if (in->server[0] != '\0')
			json_object_object_add(o, "server", json_object_new_string(in->server));
		json_object_object_add(o, "read_only", json_object_new_boolean(in->read_only));
		cli_print_json(o);
		return;
	}
	printf("store: %s, %s\n", in->type, in->where);
	printf("schema: version %d, this p11enroll knows %d: %s%s\n", in->schema_version,
	       in->known_version, state,
	       in->schema_version == 0			? " (p11enroll store init)"
	       : in->schema_version < in->known_version ? " (p11enroll store migrate)"
							: "");
	if (in->server[0] != '\0')
		printf("server: PostgreSQL %s%s\n", in->server,
		       in->read_only ? ", a standby (read-only)" : "");
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *verb = a->pos[0];
	int create = strcmp(verb, "init") == 0, from = 0, to = 0;
	p11e_store *s = NULL;
	p11e_store_info info;
	p11e_rc rc;

	if (!create && strcmp(verb, "migrate") != 0 && strcmp(verb, "status") != 0)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "store: unknown action '%.40s' (init, migrate, status)", verb);
	if (cli_value(a, "from") != NULL && strcmp(verb, "migrate") != 0)
		return p11e_errf(&ctx->err, P11E_USAGE, "store %s: --from is for migrate", verb);
	if (cli_value(a, "audit-log") != NULL && cli_value(a, "from") == NULL)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "store %s: --audit-log is for migrate --from", verb);
	if ((rc = p11e_store_open(&ctx->config, &s, &ctx->err)) != P11E_OK)
		return rc;
	if (cli_value(a, "from") != NULL) {
		rc = import(ctx, s, cli_value(a, "from"), cli_value(a, "audit-log"));
		goto out;
	}
	if (strcmp(verb, "status") == 0) {
		if ((rc = p11e_store_info_get(s, &info, &ctx->err)) == P11E_OK)
			print_info(ctx, &info);
		goto out;
	}
	if ((rc = p11e_store_migrate(s, create, &from, &to, &ctx->err)) != P11E_OK ||
	    (rc = p11e_store_info_get(s, &info, &ctx->err)) != P11E_OK)
		goto out;
	if (ctx->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string(info.type));
		json_object_object_add(o, "where", json_object_new_string(info.where));
		json_object_object_add(o, "from_version", json_object_new_int(from));
		json_object_object_add(o, "to_version", json_object_new_int(to));
		cli_print_json(o);
	} else if (from == to) {
		printf("store: %s, %s: up to date at version %d\n", info.type, info.where, to);
	} else {
		printf("store: %s, %s: %s version %d to %d\n", info.type, info.where,
		       from == 0 ? "created, schema" : "migrated from", from, to);
	}
out:
	p11e_store_close(s);
	return rc;
}

const cli_command cmd_store = {
    .name = "store",
    .usage = "init|migrate|status [--from file:DIR [--audit-log FILE]] [--json]",
    .summary = "create, migrate or show the state store (files or PostgreSQL)",
    .help = "Where p11enroll keeps its state: the config's \"store\" (docs/store.md); without\n"
	    "one, files under STATE_DIR.\n"
	    "init: creates the store (the directory, or the PostgreSQL schema and its tables)\n"
	    "and applies every migration; nothing when it exists and is up to date.\n"
	    "migrate: applies the migrations this p11enroll knows to a store made by an\n"
	    "older one (exit 10 when it was never initialised). Several stations may run\n"
	    "either at once: one migrates, the others wait and find it done. A schema newer\n"
	    "than this p11enroll is refused (exit 8): upgrade p11enroll first.\n"
	    "status: the store, its schema version against the one this p11enroll knows,\n"
	    "and for PostgreSQL the server's version and whether it is a standby.\n"
	    "migrate --from file:DIR: then copies a station's STATE_DIR into this store\n"
	    "(every kind of document, and counters raised to DIR's), DIR only read. A\n"
	    "document already there with the same bytes is skipped, so a rerun after a crash\n"
	    "finishes the job and a second station's directory merges; one with other bytes\n"
	    "is a conflict, a line naming kind and name, left as it is (exit 9 once the rest\n"
	    "is imported). Two imports into one store take turns. DIR's audit chain is\n"
	    "verified first (a broken one: exit 1, nothing imported) and appended last to\n"
	    "this store's chain, one audit-import entry per entry, never twice.\n"
	    "--audit-log FILE: DIR's audit log, where the station's config put it.",
    .opts = (const cli_opt[]){{"from", "file:DIR", "import a station's STATE_DIR (migrate)"},
			      {"audit-log", "FILE",
			       "the station's audit log, where its config put it (--from)"},
			      {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
    .actions = (const char *const[]){"init", "migrate", "status", NULL},
};
