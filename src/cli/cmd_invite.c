/* p11enroll invite EMAIL: a one-time code with which a user who has no
 * certificate yet signs in to the portal (include/p11enroll/portal.h). The
 * code is printed once; only its hash is kept. */
#include <stdio.h>
#include <stdlib.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include "cli.h"
#include "p11enroll/audit.h"
#include "p11enroll/portal.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *hours_text = cli_value(a, "hours");
	char code[64], *end = NULL;
	long hours = 72;
	p11e_err audit_err;
	p11e_rc rc;

	if (hours_text != NULL) {
		hours = strtol(hours_text, &end, 10);
		if (hours_text[0] == '\0' || *end != '\0' || hours < 1 || hours > 720)
			return p11e_errf(&ctx->err, P11E_USAGE,
					 "invite: --hours must be a number of hours, 1 to 720");
	}
	rc = p11e_portal_invite(&ctx->config, a->pos[0], (int)hours, code, sizeof(code), &ctx->err);
	/* Who invited whom is the audit trail's; the code never is. */
	if (p11e_audit(&ctx->config, "portal-invite", a->pos[0], rc, &ctx->err, &audit_err) !=
		P11E_OK &&
	    rc == P11E_OK) {
		OPENSSL_cleanse(code, sizeof(code));
		ctx->err = audit_err;
		return audit_err.rc;
	}
	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		json_object *doc = json_object_new_object();

		json_object_object_add(doc, "email", json_object_new_string(a->pos[0]));
		json_object_object_add(doc, "code", json_object_new_string(code));
		json_object_object_add(doc, "hours", json_object_new_int((int)hours));
		cli_print_json(doc);
	} else {
		printf("%s\n", code);
	}
	OPENSSL_cleanse(code, sizeof(code));
	return P11E_OK;
}

const cli_command cmd_invite = {
    .name = "invite",
    .usage = "EMAIL [--hours N]",
    .summary = "a one-time sign-in code for the portal, for a user without a certificate",
    .help = "Prints a code of 256 random bits (base64url) that signs EMAIL in to the portal\n"
	    "once (`serve`, POST /api/v1/session or the sign-in page). Only its SHA-256 is\n"
	    "kept, in STATE_DIR/portal/invites/; it expires after --hours (default 72).\n"
	    "Give it to the user over a channel you trust.",
    .opts = (const cli_opt[]){{"hours", "N", "valid for N hours (1 to 720, default 72)"},
			      {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
