/* p11enroll config: the configuration as this station reads it. `check`
 * says whether it is valid (loading it is the check: strict keys, no
 * duplicates, every CA and profile resolvable); `cas` and `profiles` list
 * the names a command accepts, for people and for shell completion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/profile.h"

/* The names under the config's top-level key (an object), in file order. */
static void config_names(const cli_ctx *ctx, const char *key, json_object *out)
{
	json_object *v = NULL;

	if (ctx->config.root == NULL || !json_object_object_get_ex(ctx->config.root, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return;
	json_object_object_foreach(v, name, entry)
	{
		(void)entry;
		json_object_array_add(out, json_object_new_string(name));
	}
}

static int listed(json_object *names, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(names); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(names, i)), name) == 0)
			return 1;
	return 0;
}

static void print_names(const cli_ctx *ctx, json_object *names)
{
	if (ctx->json) {
		cli_print_json(names);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		const char *n = json_object_get_string(json_object_array_get_idx(names, i));
		char *safe = cli_safe_text(n, strlen(n));

		printf("%s\n", safe ? safe : "?");
		free(safe);
	}
	json_object_put(names);
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	json_object *names = json_object_new_array();
	const char *action = a->pos[0];

	if (names == NULL)
		return p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
	if (strcmp(action, "cas") == 0) {
		config_names(ctx, "cas", names);
		print_names(ctx, names);
		return P11E_OK;
	}
	if (strcmp(action, "profiles") == 0) {
		const char *const *builtin = p11e_profile_builtin_names();
		json_object *own = json_object_new_array();

		for (size_t i = 0; builtin[i] != NULL; i++)
			json_object_array_add(names, json_object_new_string(builtin[i]));
		config_names(ctx, "profiles", own);
		for (size_t i = 0; i < json_object_array_length(own); i++) {
			const char *n = json_object_get_string(json_object_array_get_idx(own, i));
			if (!listed(names, n))
				json_object_array_add(names, json_object_new_string(n));
		}
		json_object_put(own);
		print_names(ctx, names);
		return P11E_OK;
	}
	json_object_put(names);
	if (strcmp(action, "check") != 0)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "config: unknown action '%.40s' (check, cas or profiles)", action);
	if (ctx->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(
		    o, "file", ctx->config.path ? json_object_new_string(ctx->config.path) : NULL);
		json_object_object_add(o, "valid", json_object_new_boolean(1));
		json_object_object_add(o, "state_dir",
				       json_object_new_string(ctx->config.state_dir));
		json_object_object_add(o, "default_ca",
				       json_object_new_string(ctx->config.default_ca));
		json_object_object_add(o, "default_profile",
				       json_object_new_string(ctx->config.default_profile));
		cli_print_json(o);
	} else if (ctx->config.path != NULL)
		printf("config %s: valid (state_dir %s, default_ca %s, default_profile %s)\n",
		       ctx->config.path, ctx->config.state_dir, ctx->config.default_ca,
		       ctx->config.default_profile);
	else
		printf("no config file: built-in defaults (state_dir %s)\n", ctx->config.state_dir);
	return P11E_OK;
}

const cli_command cmd_config = {
    .name = "config",
    .usage = "check | cas | profiles",
    .summary = "check the configuration; list its CA and profile names",
    .help = "check: loads the config (--config FILE, $P11ENROLL_CONFIG or\n"
	    "/etc/p11enroll/config.json) as every command does, strictly (an unknown or\n"
	    "duplicate key is exit 8, naming it), and says what it resolved to.\n"
	    "cas: the names of its CAs. profiles: the built-in profiles and its own.\n"
	    "One a line, or a JSON array with --json.",
    .opts = (const cli_opt[]){{NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
    .actions = (const char *const[]){"check", "cas", "profiles", NULL},
};
