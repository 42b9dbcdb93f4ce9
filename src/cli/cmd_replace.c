/* p11enroll replace: a lost or broken card replaced by a new one
 * (include/p11enroll/replace.h). */
#include <stdio.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/ca.h"
#include "p11enroll/replace.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *reason = cli_value(a, "reason");
	p11e_replace_params p = {
	    .identity = a->pos[0],
	    .token_uri = a->pos[1],
	    .reason = P11E_REASON_KEY_COMPROMISE,
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	    .officer_key = cli_value(a, "officer-key"),
	    .officer_pin_source = cli_value(a, "officer-pin-source"),
	};
	p11e_replace_result res;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err);

	if (rc != P11E_OK)
		return rc;
	if (reason != NULL && (p.reason = p11e_revoke_reason_parse(reason)) < 0)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "reason: give an RFC 5280 reason: keyCompromise (the default), "
				 "affiliationChanged, superseded, cessationOfOperation, "
				 "privilegeWithdrawn or unspecified");
	rc = p11e_replace(&ctx->config, &p, &res, &ctx->err);
	if (rc != P11E_OK && res.renewal.outcome != P11E_RENEW_RENEWED)
		return rc;
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "identity", json_object_new_string(a->pos[0]));
		json_object_object_add(o, "generation",
				       json_object_new_int(res.renewal.generation));
		json_object_object_add(o, "revoked", json_object_new_int(res.revoked));
		json_object_object_add(o, "already_revoked",
				       json_object_new_int(res.already_revoked));
		json_object_object_add(o, "not_after",
				       json_object_new_string(res.renewal.not_after));
		json_object_object_add(o, "already_replaced",
				       json_object_new_boolean(res.already_replaced));
		cli_print_json(o);
	} else if (res.already_replaced) {
		printf("%s: already replaced: generation %d on the new card, valid until %s; "
		       "the old card's certificates are revoked (%d); nothing to do\n",
		       a->pos[0], res.renewal.generation, res.renewal.not_after,
		       res.already_revoked);
	} else {
		printf("%s: old card's certificates revoked (%d now, %d before); generation %d "
		       "on the new card, valid until %s\n",
		       a->pos[0], res.revoked, res.already_revoked, res.renewal.generation,
		       res.renewal.not_after);
	}
	return rc;
}

const cli_command cmd_replace = {
    .name = "replace",
    .usage = "IDENTITY NEW-URI [--reason R] [--officer-key KEY]",
    .summary = "replace a lost or broken card: revoke its certificates, enrol a new one",
    .help = "Revokes every certificate of IDENTITY still valid on its old card (reason\n"
	    "keyCompromise unless --reason says otherwise), then makes a new generation on\n"
	    "the card at NEW-URI: a new key, certified by the identity's CA. For an archived\n"
	    "identity (enroll --archive) every archived generation's key is recovered onto\n"
	    "the new card from its PFX and escrowed password (the file vault: --officer-key),\n"
	    "so mail encrypted to the lost card still decrypts. A replacement cut short is\n"
	    "finished by running replace again; once finished, replace again with the same\n"
	    "NEW-URI does nothing and exits 0 (\"already replaced\"). Before the first\n"
	    "revocation everything is checked: the new card (logged in), the CAs, and for\n"
	    "archived keys the PFX files and the vault with --officer-key; a stop after it\n"
	    "says what was done and the command that finishes it. Exit codes: 2 NEW-URI is\n"
	    "the old card, or --officer-key is missing, 3 wrong PIN, 5 the new card is not\n"
	    "there, 11 the CA cannot revoke (SCEP: revoke at the CA first).",
    .opts =
	(const cli_opt[]){
	    {"reason", "R", "why the old card's certificates are revoked (default keyCompromise)"},
	    {"officer-key", "KEY", "file vault: an escrow officer's key (archived identities)"},
	    {"officer-pin-source", "SRC", "its PIN or passphrase source"},
	    {"wait", "SECONDS", "wait this long for a run of the identity (default 5; 0: not)"},
	    {NULL, NULL, NULL}},
    .min_pos = 2,
    .max_pos = 2,
    .run = run,
};
