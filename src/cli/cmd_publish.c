/* p11enroll publish: put an identity's certificate into the directories its
 * profile publishes to, or finish what the enrollment could not
 * (include/p11enroll/publish.h). */
#include <stdio.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/publish.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_publish_params p = {
	    .retry = cli_flag(a, "retry"),
	    .remove = cli_flag(a, "remove"),
	};
	json_object *list = NULL, *pubs = NULL;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err), first = P11E_OK;

	if (rc != P11E_OK)
		return rc;
	if (p.retry && p.remove)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "publish: --retry and --remove exclude each other");
	/* Nothing to publish to is no success: say so before any record is
	 * touched (exit 8, the configuration's). */
	if (ctx->config.root == NULL ||
	    !json_object_object_get_ex(ctx->config.root, "publishers", &pubs) ||
	    !json_object_is_type(pubs, json_type_object) || json_object_object_length(pubs) == 0)
		return p11e_errf(
		    &ctx->err, P11E_CONFIG,
		    "publish: no publisher is configured (the config's \"publishers\", "
		    "docs/config.md): nothing to publish to");
	list = ctx->json ? json_object_new_array() : NULL;
	for (int i = 0; i < a->npos; i++) {
		p11e_publish_result res;
		p11e_err err = {0};
		p.identity = a->pos[i];
		rc = p11e_publish_identity(&ctx->config, &p, &res, &err);
		if (list != NULL) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "identity", json_object_new_string(a->pos[i]));
			json_object_object_add(o, "outcome",
					       json_object_new_string(p11e_rc_name(rc)));
			json_object_object_add(o, p.remove ? "removed" : "published",
					       json_object_new_int((int)res.done));
			json_object_object_add(o, "already", json_object_new_int((int)res.already));
			json_object_object_add(o, "pending", json_object_new_int((int)res.pending));
			if (rc != P11E_OK)
				json_object_object_add(o, "error", json_object_new_string(err.msg));
			json_object_array_add(list, o);
		} else if (rc == P11E_OK) {
			printf("%s: %s %zu publisher%s (%zu already %s)\n", a->pos[i],
			       p.remove ? "removed from" : "published to", res.done,
			       res.done == 1 ? "" : "s", res.already,
			       p.remove ? "without it" : "had it");
		}
		/* Each identity is tried; the first failure is the exit code. */
		if (rc != P11E_OK && first == P11E_OK) {
			first = rc;
			ctx->err = err;
		} else if (rc != P11E_OK && list == NULL) {
			cli_report_error("publish", 0, rc, err.msg);
		}
	}
	if (list != NULL)
		cli_print_json(list);
	return first;
}

const cli_command cmd_publish = {
    .name = "publish",
    .usage = "IDENTITY... [--retry] [--remove] [--wait SECONDS]",
    .summary = "publish identities' certificates to the directories their profile names",
    .help = "Adds each identity's certificate to the publishers its profile publishes to\n"
	    "(the config's \"publishers\"; the S/MIME profiles: all of them), as a value\n"
	    "beside any others. Finishes what an enrollment left pending; a value that is\n"
	    "already there is success. --retry publishes again to those done before too.\n"
	    "--remove takes exactly this certificate out again (after a revocation),\n"
	    "leaving every other value. Each change is in the audit log. Exit codes:\n"
	    "1 directory unreachable (nothing lost: run again), 8 bind refused (fix the\n"
	    "config), 10 no directory entry for the address (or no certificate yet),\n"
	    "2 several entries match; 8 also when no publisher is configured.",
    .opts =
	(const cli_opt[]){
	    {"retry", NULL, "publish again to the publishers already done"},
	    {"remove", NULL, "remove the certificate from every publisher instead"},
	    {"wait", "SECONDS", "wait this long for a run of the identity (default 5; 0: not)"},
	    {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = CLI_MAX_POS,
    .run = run,
};
