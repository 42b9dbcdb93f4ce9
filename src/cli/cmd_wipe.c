/* p11enroll wipe: remove what p11enroll put on a token, for re-issue on a
 * fresh card (include/p11enroll/wipe.h). */
#include <stdio.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/wipe.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_wipe_params p = {
	    .uri = a->pos[0],
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	    .confirm = cli_value(a, "confirm"),
	    .revoke_reason = cli_value(a, "revoke"),
	    .keep_valid = cli_flag(a, "keep-valid"),
	};
	p11e_wipe_result res;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err);

	if (rc == P11E_OK)
		rc = p11e_wipe(&ctx->config, &p, &res, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		const struct {
			const char *name;
			size_t n;
		} counts[] = {
		    {"identities_retired", res.identities},
		    {"key_objects_destroyed", res.key_objects},
		    {"certificates_destroyed", res.certificates},
		    {"ca_certificates_destroyed", res.ca_certificates},
		    {"ca_certificates_kept", res.ca_kept},
		    {"generations_removed", res.generations},
		    {"certificates_revoked", res.revoked},
		    {"certificates_kept_valid", res.kept_valid},
		    {"key_objects_without_id_destroyed", res.idless_keys},
		};
		json_object *o = json_object_new_object();

		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
			json_object_object_add(o, counts[i].name,
					       json_object_new_int64((int64_t)counts[i].n));
		cli_print_json(o);
		return P11E_OK;
	}
	printf("wiped: %zu identities retired, %zu key objects, %zu certificates and %zu CA "
	       "certificates removed",
	       res.identities, res.key_objects, res.certificates, res.ca_certificates);
	if (res.generations > 0)
		printf(", %zu earlier generations among them", res.generations);
	if (res.idless_keys > 0)
		printf(", and %zu key objects without CKA_ID carrying their labels",
		       res.idless_keys);
	if (res.revoked > 0)
		printf("; %zu valid certificates revoked", res.revoked);
	if (res.kept_valid > 0)
		printf("; %zu valid certificates kept valid (--keep-valid)", res.kept_valid);
	if (res.ca_kept > 0)
		printf(" (%zu CA certificates kept: certificates on the token still need them)",
		       res.ca_kept);
	printf("\n");
	return P11E_OK;
}

const cli_command cmd_wipe = {
    .name = "wipe",
    .usage = "URI --confirm LABEL [--revoke REASON | --keep-valid] [--wait SECONDS]",
    .summary = "remove what p11enroll put on a token, and retire its records",
    .help = "For re-issue on a fresh card: removes the keys and certificates of every\n"
	    "identity whose key p11enroll made on (or imported onto) this token, under the\n"
	    "records' IDs only, then the CA certificates of their chains that no certificate\n"
	    "left on the token needs; objects no record names (a user's own) stay. The\n"
	    "records are marked retired (status and list show it); the next enroll of such\n"
	    "an identity is its next generation, the wiped ones kept in its history.\n"
	    "Key objects without CKA_ID that carry such an identity's label (left by a\n"
	    "kill inside key generation) go too. A certificate still valid whose key goes\n"
	    "is revoked through its CA first (reason cessationOfOperation, or --revoke\n"
	    "REASON); if its CA cannot revoke, nothing is removed (exit 11) unless\n"
	    "--keep-valid. --confirm must repeat the token's label exactly. A wipe cut\n"
	    "short is finished by running it again. Each identity is audited, with the\n"
	    "serials of its certificates removed, revoked and kept valid.",
    .opts =
	(const cli_opt[]){
	    {"confirm", "LABEL", "the token's label, exactly (required)"},
	    {"revoke", "REASON",
	     "revoke the valid certificates whose keys go for this RFC 5280 "
	     "reason (default cessationOfOperation)"},
	    {"keep-valid", NULL, "leave them valid (needed where their CA cannot revoke)"},
	    {"wait", "SECONDS", "wait this long for runs of its identities (default 5; 0: not)"},
	    {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
