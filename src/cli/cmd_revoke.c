/* p11enroll revoke: one generation of an identity's certificate revoked
 * through its CA (include/p11enroll/revoke.h). */
#include <stdio.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/ca.h"
#include "p11enroll/revoke.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *reason = cli_value(a, "reason");
	p11e_revoke_params p = {
	    .identity = a->pos[0],
	    .remove = cli_flag(a, "remove"),
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	};
	p11e_revoke_result res;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err);

	if (rc == P11E_OK)
		rc = cli_generation(a, &p.generation, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (reason == NULL || (p.reason = p11e_revoke_reason_parse(reason)) < 0)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "reason: give an RFC 5280 reason: keyCompromise, "
				 "affiliationChanged, superseded, cessationOfOperation, "
				 "certificateHold, privilegeWithdrawn or unspecified");
	rc = p11e_revoke_identity(&ctx->config, &p, &res, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "identity", json_object_new_string(a->pos[0]));
		json_object_object_add(o, "generation", json_object_new_int(res.generation));
		json_object_object_add(o, "serial", json_object_new_string(res.serial));
		json_object_object_add(o, "reason", json_object_new_string(res.reason));
		json_object_object_add(o, "already", json_object_new_boolean(res.already));
		json_object_object_add(o, "removed_objects", json_object_new_int(res.removed));
		json_object_object_add(o, "unpublished", json_object_new_int(res.withdrawn));
		if (res.note[0] != '\0')
			json_object_object_add(o, "note", json_object_new_string(res.note));
		cli_print_json(o);
	} else {
		printf("%s: generation %d (serial %s) %s (%s)%s\n", a->pos[0], res.generation,
		       res.serial, res.already ? "was already revoked" : "revoked", res.reason,
		       p.remove ? "; removed from the token" : "");
	}
	if (res.note[0] != '\0')
		fprintf(stderr, "p11enroll revoke: %s\n", res.note);
	return P11E_OK;
}

const cli_command cmd_revoke = {
    .name = "revoke",
    .usage = "IDENTITY [--generation N] --reason R [--remove]",
    .summary = "revoke an identity's certificate through the CA that issued it",
    .help = "Revokes the current generation's certificate (or --generation N's) at its CA,\n"
	    "for an RFC 5280 reason: keyCompromise, affiliationChanged, superseded,\n"
	    "cessationOfOperation, certificateHold, privilegeWithdrawn, unspecified. The\n"
	    "embedded CA records it in its index (p11enroll ca crl lists it); CFSSL, ACME\n"
	    "(revokeCert) and DigiCert are asked over their APIs; SCEP has no revocation\n"
	    "(exit 11: revoke at the CA itself). Revoking twice is success and reports the\n"
	    "reason recorded by the first revocation (the one the CA keeps). The record and\n"
	    "the audit log say it; publishers drop exactly that certificate. Nothing leaves\n"
	    "the token unless --remove (the certificate, and its key unless the current\n"
	    "generation reuses it). A revoked current generation is due for renewal.\n"
	    "Exit codes: 2 bad reason or generation, 10 no such identity or generation,\n"
	    "11 the CA cannot revoke, 1 the CA failed (nothing recorded: run again).",
    .opts =
	(const cli_opt[]){
	    {"reason", "R", "the RFC 5280 reason (required)"},
	    {"generation", "N", "an earlier generation (default: the current one)"},
	    {"remove", NULL, "also take it off the token"},
	    {"wait", "SECONDS", "wait this long for a run of the identity (default 5; 0: not)"},
	    {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
