/* p11enroll tokens: what the module shows, with the flags an operator needs
 * before touching a card (initialised? PIN counters low? pinpad?). */
#include <stdio.h>
#include <stdlib.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/session.h"
#include "p11enroll/token.h"
#include "p11enroll/uri.h"

static void flags_text(const p11e_token_info *t, char *out, size_t len)
{
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

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *path = p11e_session_module_path(&ctx->config, NULL, ctx->module);
	p11e_module *m = NULL;
	p11e_token_info *infos = NULL;
	json_object *list = NULL;
	size_t n = 0;
	p11e_rc rc;

	rc = p11e_module_load(path, &m, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_module_tokens(m, &infos, &n, &ctx->err);
	if (rc != P11E_OK)
		goto out;
	if (ctx->json) {
		json_object *doc = json_object_new_object();
		list = json_object_new_array();
		json_object_object_add(doc, "module", json_object_new_string(path));
		for (size_t i = 0; i < n; i++) {
			char *uri = p11e_uri_format(infos[i].label, infos[i].manufacturer,
						    infos[i].serial, infos[i].model, NULL, 0, NULL);
			json_object_array_add(list, token_json(&infos[i], uri));
			free(uri);
		}
		json_object_object_add(doc, "tokens", list);
		cli_print_json(doc);
		goto out;
	}
	printf("module: %s\n", path);
	if (n == 0)
		printf("no tokens present\n");
	for (size_t i = 0; i < n; i++) {
		char flags[256];
		char *uri = p11e_uri_format(infos[i].label, infos[i].manufacturer, infos[i].serial,
					    infos[i].model, NULL, 0, NULL);
		flags_text(&infos[i], flags, sizeof(flags));
		printf("\nslot:   %s\n  token:  %s\n  model:  %s (%s)\n  serial: %s\n  flags:  %s\n"
		       "  uri:    %s\n",
		       infos[i].slot_description, infos[i].label, infos[i].model,
		       infos[i].manufacturer, infos[i].serial, flags, uri ? uri : "");
		free(uri);
	}
out:
	free(infos);
	if (m != NULL)
		p11e_module_free(m);
	return rc;
}

const cli_command cmd_tokens = {
    .name = "tokens",
    .usage = "[--module PATH] [--json]",
    .summary = "list the slots and tokens a PKCS#11 module shows",
    .help = "Shows every slot with a token, initialised or not, with its label, model, serial,\n"
	    "flags (login required, PIN pad, PIN counters) and the RFC 7512 URI to select it.",
    .opts = (const cli_opt[]){{NULL, NULL, NULL}},
    .min_pos = 0,
    .max_pos = 0,
    .run = run,
};
