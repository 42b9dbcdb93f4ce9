/* p11enroll enroll: the whole pipeline for one identity (see pipeline.h). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/pipeline.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_enroll_params p;
	p11e_record rec;
	p11e_rc rc;

	rc = cli_enroll_params(ctx, a, &p, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	rc = p11e_enroll(&ctx->config, &p, &rec, &ctx->err);
	if (rc == P11E_OK || rc == P11E_PENDING) {
		if (ctx->json) {
			cli_print_json(cli_record_json(&rec));
		} else if (rc == P11E_OK) {
			printf("enrolled %s: key %s (%s) and certificate %s on token serial %s, "
			       "valid until %s\n",
			       rec.identity, rec.key_id, rec.key_type, rec.cert_sha256,
			       rec.token_serial ? rec.token_serial : "?", rec.not_after);
		}
	}
	p11e_record_clear(&rec);
	return rc;
}

const cli_command cmd_enroll = {
    .name = "enroll",
    .usage = "URI (--email EMAIL | --dns HOST) [--name NAME] [--profile P] [--key TYPE] [--ca CA] "
	     "[OPTIONS]",
    .summary = "generate a key on the token, get it certified, write the certificate back",
    .help = "Runs, or resumes, the enrollment of one identity: key pair generated on the token\n"
	    "(sensitive, never extractable), CSR signed on the token, issued by the CA,\n"
	    "certificate and chain written to the token under the key's CKA_ID. Every step is\n"
	    "recorded in the state dir: rerun the same command after any failure to resume.\n"
	    "Key types: rsa:2048 rsa:3072 rsa:4096 ec:P-256 ec:P-384 ec:P-521 ed25519.\n"
	    "CA: a name from the config, or local:DIR for an embedded CA.",
    .opts =
	(const cli_opt[]){
	    {"email", "EMAIL", "the address: rfc822Name SAN and the record's key"},
	    {"dns", "HOST",
	     "a server instead: dNSName SAN and the record's key (profile tls-server)"},
	    {"name", "NAME", "subject common name (default: the email or host)"},
	    {"profile", "P",
	     "smime, smime-sign, smime-encrypt, client-auth, tls-server or a config profile"},
	    {"key", "TYPE", "key type (default: the profile's)"},
	    {"ca", "CA", "a CA from the config, or local:DIR"},
	    {"label", "LABEL", "CKA_LABEL (default: the email)"},
	    {"id", "HEX", "CKA_ID (default: SHA-1 of the public key)"},
	    {"digest", "MD", "CSR digest: sha256 (default), sha384, sha512"},
	    {"rsa-pss", NULL, "sign the CSR with RSASSA-PSS"},
	    {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
