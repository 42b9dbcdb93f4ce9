/* p11enroll forget: discard an enrollment without a certificate, and what
 * p11enroll made for it (include/p11enroll/forget.h). */
#include <stdio.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/forget.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_forget_params p = {
	    .identity = a->pos[0],
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	    .abandon_request = cli_flag(a, "abandon-request"),
	};
	p11e_forget_result res;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err);

	if (rc == P11E_OK)
		rc = p11e_forget(&ctx->config, &p, &res, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "identity", json_object_new_string(a->pos[0]));
		json_object_object_add(o, "step", json_object_new_string(p11e_step_name(res.step)));
		json_object_object_add(o, "token_objects_destroyed",
				       json_object_new_int((int)res.token_objects));
		json_object_object_add(o, "key_file_removed",
				       json_object_new_boolean(res.key_file_removed));
		json_object_object_add(o, "escrow_deleted",
				       json_object_new_boolean(res.escrow_deleted));
		if (res.request_id[0] != '\0')
			json_object_object_add(o, "abandoned_request",
					       json_object_new_string(res.request_id));
		cli_print_json(o);
		return P11E_OK;
	}
	printf("forgot %s (step %s): %zu key objects destroyed on the token%s%s\n", a->pos[0],
	       p11e_step_name(res.step), res.token_objects,
	       res.key_file_removed ? ", software key file removed" : "",
	       res.escrow_deleted ? ", escrowed password deleted" : "");
	if (res.request_id[0] != '\0')
		printf("the CA still holds request %s: cancel it there; a certificate it issues "
		       "would certify a key that no longer exists\n",
		       res.request_id);
	return P11E_OK;
}

const cli_command cmd_forget = {
    .name = "forget",
    .usage = "IDENTITY [--abandon-request] [--wait SECONDS]",
    .summary = "discard an enrollment that has no certificate, and the key made for it",
    .help = "Starts an identity over: removes its record and what p11enroll made for it, the\n"
	    "key pair on the token (under the record's IDs only), or a software key's\n"
	    "encrypted key file and its escrowed PFX password (audited). Refused once a\n"
	    "certificate was issued (revocation is not a p11enroll feature yet). A request\n"
	    "the CA holds (step submitted) is abandoned only with --abandon-request.\n"
	    "While nothing exists yet (step new, or a failed key generation) a plain rerun\n"
	    "of enroll with other options also starts over.",
    .opts =
	(const cli_opt[]){
	    {"abandon-request", NULL, "step submitted: forget although the CA holds the request"},
	    {"wait", "SECONDS", "wait this long for a run of the identity (default 5; 0: not)"},
	    {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
