/* p11enroll tokens: what the module shows, with the flags an operator needs
 * before touching a card (initialised? PIN counters low? pinpad?). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/session.h"
#include "p11enroll/token.h"
#include "p11enroll/uri.h"

static void flags_text(const p11e_token_info *t, char *out, size_t len)
{
	/* PIN counters mean nothing before there are PINs (SoftHSM's blank
	 * token reports its SO PIN locked). */
	if (!t->initialized) {
		snprintf(out, len, "NOT initialised%s", t->protected_auth_path ? ", PIN pad" : "");
		return;
	}
	snprintf(out, len, "%s%s%s%s%s%s%s%s", t->initialized ? "initialised" : "NOT initialised",
		 t->login_required ? ", login required" : "",
		 t->protected_auth_path ? ", PIN pad" : "",
		 t->write_protected ? ", write-protected" : "",
		 t->user_pin_count_low ? ", user PIN count low" : "",
		 t->user_pin_final_try ? ", user PIN FINAL TRY" : "",
		 t->user_pin_locked ? ", user PIN LOCKED" : "",
		 t->so_pin_locked ? ", SO PIN LOCKED" : "");
}

static json_object *token_json(const p11e_token_info *t, const char *uri)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "uri", json_object_new_string(uri ? uri : ""));
	json_object_object_add(o, "slot", json_object_new_string(t->slot_description));
	json_object_object_add(o, "label", json_object_new_string(t->label));
	json_object_object_add(o, "manufacturer", json_object_new_string(t->manufacturer));
	json_object_object_add(o, "model", json_object_new_string(t->model));
	json_object_object_add(o, "serial", json_object_new_string(t->serial));
	json_object_object_add(o, "initialized", json_object_new_boolean(t->initialized));
	json_object_object_add(o, "login_required", json_object_new_boolean(t->login_required));
	json_object_object_add(o, "protected_auth_path",
			       json_object_new_boolean(t->protected_auth_path));
	json_object_object_add(o, "write_protected", json_object_new_boolean(t->write_protected));
	json_object_object_add(o, "user_pin_count_low",
			       json_object_new_boolean(t->user_pin_count_low));
	json_object_object_add(o, "user_pin_final_try",
			       json_object_new_boolean(t->user_pin_final_try));
	json_object_object_add(o, "user_pin_locked", json_object_new_boolean(t->user_pin_locked));
	json_object_object_add(o, "so_pin_count_low", json_object_new_boolean(t->so_pin_count_low));
	json_object_object_add(o, "so_pin_final_try", json_object_new_boolean(t->so_pin_final_try));
	json_object_object_add(o, "so_pin_locked", json_object_new_boolean(t->so_pin_locked));
	return o;
}

/* One module's tokens: printed, or added to json (an array) when given. m is
 * the loaded module, or NULL with failed saying why: a module that fails to
 * load or initialise is reported in its place, not fatal. */
static p11e_rc list_module(const char *name, const char *path, p11e_module *m, const char *failed,
			   json_object *json, p11e_err *err)
{
	p11e_token_info *infos = NULL;
	json_object *mod = NULL, *tokens = NULL;
	size_t n = 0;
	p11e_rc rc = P11E_FAIL;

	if (m != NULL)
		rc = p11e_module_tokens(m, &infos, &n, err);
	else
		p11e_errf(err, P11E_FAIL, "%s", failed);
	if (json != NULL) {
		mod = json_object_new_object();
		tokens = json_object_new_array();
		if (name != NULL)
			json_object_object_add(mod, "name", json_object_new_string(name));
		json_object_object_add(mod, "path", json_object_new_string(path));
		if (rc != P11E_OK)
			json_object_object_add(mod, "error", json_object_new_string(err->msg));
		json_object_object_add(mod, "tokens", tokens);
		json_object_array_add(json, mod);
	} else {
		printf("module: %s%s%s%s\n", name ? name : "", name ? " (" : "", path,
		       name ? ")" : "");
		if (rc != P11E_OK)
			printf("  cannot list: %s\n", err->msg);
		else if (n == 0)
			printf("  no tokens present\n");
	}
	for (size_t i = 0; rc == P11E_OK && i < n; i++) {
		char flags[256];
		char *uri = p11e_uri_format(infos[i].label, infos[i].manufacturer, infos[i].serial,
					    infos[i].model, NULL, 0, NULL);
		if (tokens != NULL) {
			json_object_array_add(tokens, token_json(&infos[i], uri));
		} else {
			flags_text(&infos[i], flags, sizeof(flags));
			printf("  slot:   %s\n    token:  %s\n    model:  %s (%s)\n    serial: %s\n"
			       "    flags:  %s\n    uri:    %s\n",
			       infos[i].slot_description, infos[i].label, infos[i].model,
			       infos[i].manufacturer, infos[i].serial, flags, uri ? uri : "");
		}
		free(uri);
	}
	free(infos);
	return rc;
}

/* A module named with --module or the config: loaded directly, with the
 * init arguments of --module-args or the config's module_args. */
static p11e_rc list_direct(cli_ctx *ctx, const char *path, json_object *json)
{
	p11e_module *m = NULL;
	p11e_rc rc;

	rc = p11e_module_load_args(path, p11e_session_module_args(&ctx->config, path), &m,
				   &ctx->err);
	if (rc == P11E_USAGE)
		return rc;
	if (rc != P11E_OK) {
		/* The error says it all: listed in the module's place. */
		char why[sizeof(ctx->err.msg)];
		snprintf(why, sizeof(why), "%s", ctx->err.msg);
		list_module(NULL, path, NULL, why, json, &ctx->err);
		return rc;
	}
	rc = list_module(NULL, path, m, NULL, json, &ctx->err);
	p11e_module_free(m);
	return rc;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *path = p11e_session_module_path(&ctx->config, NULL, ctx->module);
	json_object *json = ctx->json ? json_object_new_array() : NULL;
	p11e_registered_module *mods = NULL;
	size_t n = 0;
	p11e_rc rc;

	(void)a;
	if (strcmp(path, P11E_DEFAULT_MODULE) != 0 ||
	    p11e_session_module_args(&ctx->config, path) != NULL) {
		rc = list_direct(ctx, path, json);
		goto out;
	}
	/* Through p11-kit-proxy every registered module's tokens show, but not
	 * which module has which: list them module by module, each initialised
	 * by p11-kit as the proxy would. */
	rc = p11e_registered_modules(&mods, &n, &ctx->err);
	if (rc != P11E_OK)
		goto out;
	if (json == NULL)
		printf("%zu module%s registered with p11-kit (the default module, %s, shows them "
		       "all)\n\n",
		       n, n == 1 ? "" : "s", P11E_DEFAULT_MODULE);
	for (size_t i = 0; i < n; i++) {
		p11e_err err = {0};
		list_module(mods[i].name, mods[i].path, mods[i].module, mods[i].error, json, &err);
		if (json == NULL && i + 1 < n)
			printf("\n");
	}
	rc = P11E_OK;
out:
	if (json != NULL) {
		json_object *doc = json_object_new_object();
		json_object_object_add(doc, "modules", json);
		/* A module that failed is listed with its error: the
		 * document is printed (and the exit code says it failed). */
		if (rc == P11E_OK || json_object_array_length(json) > 0)
			cli_print_json(doc);
		else
			json_object_put(doc);
	}
	p11e_registered_modules_free(mods, n);
	return rc;
}

const cli_command cmd_tokens = {
    .name = "tokens",
    .usage = "[--module PATH [--module-args ARGS]] [--json]",
    .summary = "list PKCS#11 modules, their slots and tokens",
    .help = "With the default module (p11-kit-proxy), lists every module registered with\n"
	    "p11-kit and its tokens; with --module, that module's. Each token, initialised or\n"
	    "not, with its label, model, serial, flags (login required, PIN pad, PIN counters)\n"
	    "and the RFC 7512 URI to select it. Registered modules are initialised through\n"
	    "p11-kit with their module files' arguments (x-init-reserved); one that fails is\n"
	    "listed with its error in one line (what it printed on stderr summed up in it;\n"
	    "P11ENROLL_MODULE_STDERR=show lets it through). A module given with --module\n"
	    "gets --module-args.",
    .opts = (const cli_opt[]){{NULL, NULL, NULL}},
    .min_pos = 0,
    .max_pos = 0,
    .run = run,
};
