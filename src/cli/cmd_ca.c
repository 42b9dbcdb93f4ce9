/* p11enroll ca: set up the embedded CA, or print a CA's chain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/ca.h"
#include "p11enroll/pem.h"

static p11e_rc ca_init(cli_ctx *ctx, const cli_args *a)
{
	const char *days = cli_value(a, "days");
	char *end = NULL;
	long d = 0;
	p11e_ca_local_init_params p = {
	    .dir = cli_value(a, "dir"),
	    .subject = cli_value(a, "subject"),
	    .key_type = cli_value(a, "key"),
	    .key_uri = cli_value(a, "key-uri"),
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	};
	p11e_rc rc;

	if (p.dir == NULL)
		return p11e_errf(&ctx->err, P11E_USAGE, "dir: --dir DIR is required");
	if (days != NULL) {
		d = strtol(days, &end, 10);
		if (*days == '\0' || *end != '\0' || d < 1 || d > 36500)
			return p11e_errf(&ctx->err, P11E_USAGE, "days: '%.20s' is not 1 to 36500",
					 days);
		p.validity_days = (int)d;
	}
	rc = p11e_ca_local_init(&p, &ctx->err);
	if (rc == P11E_OK && !ctx->json)
		printf("embedded CA created in %s (certificate %s/ca.pem); use --ca local:%s\n",
		       p.dir, p.dir, p.dir);
	else if (rc == P11E_OK) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "dir", json_object_new_string(p.dir));
		cli_print_json(o);
	}
	return rc;
}

/* One certificate of a chain for --json: what it is, and its PEM. */
static json_object *cert_json(X509 *cert)
{
	json_object *o = json_object_new_object();
	char *subject = cli_x509_name(X509_get_subject_name(cert));
	char *issuer = cli_x509_name(X509_get_issuer_name(cert));
	char *pem = p11e_x509_to_pem(cert);
	char not_after[32] = "", sha256[65] = "";

	p11e_asn1_time_iso(X509_get0_notAfter(cert), not_after, sizeof(not_after));
	p11e_x509_sha256_hex(cert, sha256);
	json_object_object_add(o, "subject", json_object_new_string(subject ? subject : ""));
	json_object_object_add(o, "issuer", json_object_new_string(issuer ? issuer : ""));
	json_object_object_add(o, "not_after", json_object_new_string(not_after));
	json_object_object_add(o, "sha256", json_object_new_string(sha256));
	json_object_object_add(o, "pem", json_object_new_string(pem ? pem : ""));
	free(subject);
	free(issuer);
	free(pem);
	return o;
}

/* --json: {"certificates": [...]}, the CA's own certificate first as in the PEM. */
static void print_chain_json(STACK_OF(X509) * chain)
{
	json_object *doc = json_object_new_object(), *list = json_object_new_array();

	for (int i = 0; i < sk_X509_num(chain); i++)
		json_object_array_add(list, cert_json(sk_X509_value(chain, i)));
	json_object_object_add(doc, "certificates", list);
	cli_print_json(doc);
}

static p11e_rc ca_cert(cli_ctx *ctx, const cli_args *a)
{
	const char *spec = cli_value(a, "ca");
	struct json_object *conf = NULL;
	STACK_OF(X509) *chain = NULL;
	p11e_ca *ca = NULL;
	char *pem = NULL;
	p11e_rc rc;

	rc = p11e_config_ca(&ctx->config, spec ? spec : ctx->config.default_ca, &conf, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_ca_open(conf, &ca, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_ca_chain(ca, &chain, &ctx->err);
	if (rc == P11E_OK && ctx->json)
		print_chain_json(chain);
	else if (rc == P11E_OK && (pem = p11e_chain_to_pem(chain)) == NULL)
		rc = p11e_errf(&ctx->err, P11E_FAIL, "cannot encode the CA chain");
	else if (rc == P11E_OK)
		fputs(pem, stdout);
	free(pem);
	sk_X509_pop_free(chain, X509_free);
	if (ca != NULL)
		p11e_ca_close(ca);
	json_object_put(conf);
	return rc;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	if (strcmp(a->pos[0], "init") == 0)
		return ca_init(ctx, a);
	if (strcmp(a->pos[0], "cert") == 0)
		return ca_cert(ctx, a);
	return p11e_errf(&ctx->err, P11E_USAGE, "ca: unknown action '%.40s' (init or cert)",
			 a->pos[0]);
}

const cli_command cmd_ca = {
    .name = "ca",
    .usage =
	"init --dir DIR [--subject DN] [--key TYPE] [--days N] [--key-uri URI] | cert [--ca CA]",
    .summary = "create the embedded CA, or print a CA's certificate chain",
    .help = "init: a CA key (DIR/ca.key, mode 0600; or generated on a token with --key-uri,\n"
	    "recorded in DIR/ca-key.json with --module and --pin-source) and a self-signed\n"
	    "certificate (DIR/ca.pem);\n"
	    "then enroll with --ca local:DIR. cert: the chain of the CA (default: the config's\n"
	    "default_ca) in PEM, for `openssl verify -CAfile`; with --json, {\"certificates\":\n"
	    "[{subject, issuer, not_after, sha256, pem}, ...]}.",
    .opts = (const cli_opt[]){{"dir", "DIR", "init: where the CA lives"},
			      {"subject", "DN", "init: subject, e.g. \"/O=Example/CN=Example CA\""},
			      {"key", "TYPE", "init: CA key type (default ec:P-256)"},
			      {"key-uri", "URI", "init: make the CA key on this token (rsa or ec)"},
			      {"days", "N", "init: validity in days (default 3650)"},
			      {"ca", "CA", "cert: a CA from the config, or local:DIR"},
			      {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
