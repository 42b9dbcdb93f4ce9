/* p11enroll store init|migrate|status: the store's life cycle (docs/store.md). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/store.h"

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
	if ((rc = p11e_store_open(&ctx->config, &s, &ctx->err)) != P11E_OK)
		return rc;
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
    .usage = "init|migrate|status [--json]",
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
	    "and for PostgreSQL the server's version and whether it is a standby.",
    .opts = (const cli_opt[]){{NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
    .actions = (const char *const[]){"init", "migrate", "status", NULL},
};
