/* p11enroll csr: a token-signed CSR on stdout, for CAs that take a web form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/session.h"
#include "p11enroll/validate.h"

/* The URI names an existing key (id=... or object=LABEL): certify that key,
 * record nothing. */
static p11e_rc csr_for_existing_key(cli_ctx *ctx, const cli_args *a, const p11e_uri *uri)
{
	p11e_session_params sp = {
	    .uri = a->pos[0], .module = ctx->module, .pin_source = ctx->pin_source, .login = 1};
	p11e_session s;
	p11e_profile profile;
	p11e_id id;
	X509_REQ *req = NULL;
	char *pem = NULL, *principal = NULL;
	const char *pname = cli_value(a, "profile");

	if (pname == NULL && cli_value(a, "dns") != NULL)
		pname = "tls-server";
	p11e_rc rc;

	rc = p11e_config_profile(&ctx->config, pname ? pname : ctx->config.default_profile,
				 &profile, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	p11e_csr_params cp = {.email = cli_value(a, "email"),
			      .dns = cli_value(a, "dns"),
			      .name = cli_value(a, "name"),
			      .upn = cli_value(a, "upn"),
			      .sid = cli_value(a, "sid"),
			      .profile = &profile,
			      .digest = cli_value(a, "digest"),
			      .rsa_pss = cli_flag(a, "rsa-pss")};
	/* The logon names as the pipeline checks them (validate.h). */
	if ((cp.upn != NULL && (rc = p11e_upn_check(cp.upn, "upn", &ctx->err)) != P11E_OK) ||
	    (cp.sid != NULL && (rc = p11e_sid_check(cp.sid, "sid", &ctx->err)) != P11E_OK) ||
	    (cli_value(a, "principal") != NULL &&
	     (rc = p11e_principal_canonical(cli_value(a, "principal"), "principal", &principal,
					    &ctx->err)) != P11E_OK))
		return rc;
	cp.principal = principal;
	memcpy(id.v, uri->id, uri->id_len);
	id.len = uri->id_len;
	rc = p11e_session_open(&ctx->config, &sp, &s, &ctx->err);
	if (rc != P11E_OK) {
		free(principal);
		return rc;
	}
	if (!uri->has_id)
		rc = p11e_token_key_id_by_label(s.token, uri->object, &id, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_token_csr(s.token, &id, &cp, 0, &req, &ctx->err);
	if (rc == P11E_OK && (pem = p11e_csr_to_pem(req)) == NULL)
		rc = p11e_errf(&ctx->err, P11E_FAIL, "cannot encode the CSR");
	if (rc == P11E_OK)
		fputs(pem, stdout);
	free(pem);
	free(principal);
	X509_REQ_free(req);
	p11e_session_close(&s);
	return rc;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_enroll_params p;
	p11e_uri uri = {0};
	p11e_record rec;
	p11e_rc rc;

	rc = cli_enroll_params(ctx, a, &p, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	p.stop_after = P11E_STEP_CSR_BUILT;
	rc = p11e_uri_parse(a->pos[0], &uri, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (uri.has_id || uri.object != NULL) {
		rc = csr_for_existing_key(ctx, a, &uri);
		p11e_uri_clear(&uri);
		return rc;
	}
	p11e_uri_clear(&uri);
	/* Otherwise: the enrollment pipeline up to the CSR, so a later
	 * `p11enroll enroll` continues with this very key and request. */
	rc = p11e_enroll(&ctx->config, &p, &rec, &ctx->err);
	if (rc == P11E_OK && rec.csr_pem != NULL)
		fputs(rec.csr_pem, stdout);
	p11e_record_clear(&rec);
	return rc;
}

const cli_command cmd_csr = {
    .name = "csr",
    .usage = "URI (--email EMAIL | --dns HOST) [--name NAME] [--profile P] [--key TYPE]",
    .summary = "print a token-signed PEM CSR, for CAs that take a web form",
    .help = "With id=... or object=LABEL in the URI, certifies that existing key. Otherwise runs\n"
	    "the enrollment\n"
	    "pipeline up to the CSR (generating the key on the token if the identity has none):\n"
	    "a later `p11enroll enroll` with the same email continues with that key.",
    .opts = (const cli_opt[]){{"email", "EMAIL", "the address: rfc822Name SAN"},
			      {"dns", "HOST", "a server's host name: dNSName SAN"},
			      {"name", "NAME", "subject common name (default: the email)"},
			      {"upn", "UPN", "logon: the user principal name"},
			      {"principal", "NAME@REALM", "logon: the Kerberos principal"},
			      {"sid", "SID", "logon: the account's SID S-1-5-..."},
			      {"profile", "P", "certificate profile"},
			      {"key", "TYPE", "key type for a new key"},
			      {"label", "LABEL", "CKA_LABEL for a new key (default: the email)"},
			      {"digest", "MD", "sha256 (default), sha384, sha512"},
			      {"rsa-pss", NULL, "sign with RSASSA-PSS"},
			      {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
