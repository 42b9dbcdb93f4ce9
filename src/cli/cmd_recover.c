/* p11enroll recover: an archived key and its certificate onto a token (see
 * include/p11enroll/recover.h). */
#include <stdio.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/recover.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_recover_params p = {
	    .identity = a->pos[0],
	    .token_uri = a->pos[1],
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	    .officer_key = cli_value(a, "officer-key"),
	    .officer_pin_source = cli_value(a, "officer-pin-source"),
	    .pfx_path = cli_value(a, "pfx"),
	    .label = cli_value(a, "label"),
	};
	p11e_recover_result res;
	p11e_rc rc = p11e_recover(&ctx->config, &p, &res, &ctx->err);

	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "identity", json_object_new_string(res.identity));
		json_object_object_add(o, "key_id", json_object_new_string(res.key_id));
		json_object_object_add(o, "token_label", json_object_new_string(res.token_label));
		json_object_object_add(o, "token_serial", json_object_new_string(res.token_serial));
		json_object_object_add(o, "already_there", json_object_new_boolean(res.already));
		cli_print_json(o);
	} else if (res.already) {
		printf("recovered %s: key %s and its certificate were already on token '%s' "
		       "(serial %s); nothing was changed\n",
		       res.identity, res.key_id, res.token_label, res.token_serial);
	} else {
		printf("recovered %s: key %s and its certificate imported onto token '%s' "
		       "(serial %s)\n",
		       res.identity, res.key_id, res.token_label, res.token_serial);
	}
	return P11E_OK;
}

const cli_command cmd_recover = {
    .name = "recover",
    .usage = "IDENTITY URI [--officer-key FILE|URI] [--officer-pin-source SRC] [--pfx FILE]",
    .summary = "put an archived key and its certificate onto another token",
    .help = "For an identity enrolled with --archive (or --software): reads its PFX (the\n"
	    "record's, or --pfx FILE), fetches its password from the vault (the file vault needs\n"
	    "an escrow officer's key, --officer-key, as for `escrow show`), and imports the key\n"
	    "(sensitive, not extractable), its public key, certificate and chain onto the token\n"
	    "URI (logged in with the usual PIN source), under CKA_ID = SHA-1 of the public key.\n"
	    "What is already there is kept: a second run says so and changes nothing. Each run\n"
	    "is recorded in the audit log before the key goes onto the token. An identity whose\n"
	    "key was made on its token was never archived: exit 10.",
    .opts =
	(const cli_opt[]){
	    {"officer-key", "KEY", "file vault: an escrow officer's key, FILE or pkcs11: URI"},
	    {"officer-pin-source", "SRC", "where the officer key's PIN or passphrase comes from"},
	    {"pfx", "FILE", "the archived PKCS#12 file (default: the record's pfx_path)"},
	    {"label", "LABEL", "CKA_LABEL on the token (default: the record's label)"},
	    {NULL, NULL, NULL}},
    .min_pos = 2,
    .max_pos = 2,
    .run = run,
};
