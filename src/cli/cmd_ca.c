/* p11enroll ca: set up the embedded CA, print a CA's chain, revoke a
 * certificate at the CA, or have the embedded CA sign a CRL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include "cli.h"
#include "p11enroll/ca.h"
#include "p11enroll/conf.h"
#include "p11enroll/pem.h"
#include "p11enroll/util.h"

/* The directory ca init makes the CA in: --dir, or the dir of the local CA
 * that --ca names (a config entry or local:DIR), so the CA that enroll
 * --ca NAME will use is the one made. *conf keeps the string alive. */
static p11e_rc init_dir(cli_ctx *ctx, const cli_args *a, const char **dir,
			struct json_object **conf)
{
	const char *spec = cli_value(a, "ca"), *type;
	p11e_rc rc;

	*dir = cli_value(a, "dir");
	*conf = NULL;
	if (*dir != NULL && spec != NULL)
		return p11e_errf(&ctx->err, P11E_USAGE, "ca: give --dir or --ca, not both");
	if (spec == NULL && *dir == NULL)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "dir: --dir DIR or --ca NAME (a local CA of the config) is "
				 "required");
	if (spec == NULL)
		return P11E_OK;
	if ((rc = p11e_config_ca(&ctx->config, spec, conf, &ctx->err)) != P11E_OK)
		return rc;
	type = p11e_conf_string(*conf, "type");
	if (type == NULL || strcmp(type, "local") != 0)
		return p11e_errf(
		    &ctx->err, P11E_USAGE,
		    "ca: '%.60s' is a %.20s CA: ca init makes only an embedded (local) "
		    "one",
		    spec, type ? type : "typeless");
	if ((*dir = p11e_conf_string(*conf, "dir")) == NULL)
		return p11e_errf(&ctx->err, P11E_CONFIG, "cas.%.60s: a local CA needs \"dir\"",
				 spec);
	return P11E_OK;
}

static p11e_rc ca_init(cli_ctx *ctx, const cli_args *a)
{
	const char *days = cli_value(a, "days");
	struct json_object *conf = NULL;
	char *end = NULL;
	long d = 0;
	p11e_ca_local_init_params p = {
	    .subject = cli_value(a, "subject"),
	    .key_type = cli_value(a, "key"),
	    .key_uri = cli_value(a, "key-uri"),
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	};
	p11e_rc rc;

	if ((rc = init_dir(ctx, a, &p.dir, &conf)) != P11E_OK)
		goto out;
	if (days != NULL) {
		d = strtol(days, &end, 10);
		if (*days == '\0' || *end != '\0' || d < 1 || d > 36500) {
			rc = p11e_errf(&ctx->err, P11E_USAGE, "days: '%.20s' is not 1 to 36500",
				       days);
			goto out;
		}
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
out:
	json_object_put(conf);
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
		rc = p11e_ca_open_in(conf, ctx->config.store, &ca, &ctx->err);
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

/* The CA a revoke or crl speaks to: --dir DIR (the embedded CA there),
 * --ca CA, or the config's default_ca. */
static p11e_rc open_ca(cli_ctx *ctx, const cli_args *a, p11e_ca **ca)
{
	const char *dir = cli_value(a, "dir"), *spec = cli_value(a, "ca");
	struct json_object *conf = NULL;
	char *local = NULL;
	p11e_rc rc;

	*ca = NULL;
	if (dir != NULL && spec != NULL)
		return p11e_errf(&ctx->err, P11E_USAGE, "ca: give --dir or --ca, not both");
	if (dir != NULL && (local = malloc(strlen(dir) + 7)) != NULL)
		sprintf(local, "local:%s", dir);
	if (dir != NULL && local == NULL)
		return p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
	rc = p11e_config_ca(&ctx->config,
			    local  ? local
			    : spec ? spec
				   : ctx->config.default_ca,
			    &conf, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_ca_open_in(conf, ctx->config.store, ca, &ctx->err);
	json_object_put(conf);
	free(local);
	return rc;
}

static p11e_rc read_cert_file(cli_ctx *ctx, const char *path, X509 **out)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	p11e_rc rc = p11e_read_file(path, 1024 * 1024, &pem, &len, &ctx->err);

	*out = NULL;
	if (rc != P11E_OK)
		return rc;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (*out = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL)
		rc = p11e_errf(&ctx->err, P11E_USAGE, "cert: %s holds no PEM certificate", path);
	BIO_free(bio);
	free(pem);
	return rc;
}

/* The serial to revoke, from --serial or from the certificate in --cert. */
static p11e_rc revoke_target(cli_ctx *ctx, const cli_args *a, char serial[65], X509 **cert)
{
	const char *given = cli_value(a, "serial"), *path = cli_value(a, "cert");
	p11e_rc rc;

	*cert = NULL;
	if ((given == NULL) == (path == NULL))
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "revoke: give the certificate by --serial HEX or --cert FILE");
	if (given != NULL)
		return p11e_serial_canonical("serial", given, serial, 65, &ctx->err);
	if ((rc = read_cert_file(ctx, path, cert)) != P11E_OK)
		return rc;
	return p11e_cert_serial("cert", *cert, serial, 65, &ctx->err);
}

static p11e_rc ca_revoke(cli_ctx *ctx, const cli_args *a)
{
	const char *reason_name = cli_value(a, "reason");
	int reason = p11e_revoke_reason_parse(reason_name), already = 0;
	char serial[65];
	X509 *cert = NULL;
	p11e_ca *ca = NULL;
	p11e_rc rc;

	if (reason_name == NULL || reason < 0)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "reason: --reason is one of keyCompromise, cACompromise, "
				 "affiliationChanged, superseded, cessationOfOperation, "
				 "certificateHold, privilegeWithdrawn, aACompromise, unspecified");
	if ((rc = revoke_target(ctx, a, serial, &cert)) == P11E_OK &&
	    (rc = open_ca(ctx, a, &ca)) == P11E_OK)
		rc = p11e_ca_revoke(ca, serial, cert, reason, &already, &ctx->err);
	if (rc == P11E_OK && ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "serial", json_object_new_string(serial));
		json_object_object_add(o, "reason",
				       json_object_new_string(p11e_revoke_reason_name(reason)));
		json_object_object_add(o, "already_revoked", json_object_new_boolean(already));
		cli_print_json(o);
	} else if (rc == P11E_OK)
		printf("serial %s %s\n", serial,
		       already ? "was already revoked (nothing changed)" : "revoked");
	X509_free(cert);
	p11e_ca_close(ca);
	return rc;
}

static p11e_rc ca_crl(cli_ctx *ctx, const cli_args *a)
{
	const char *days_text = cli_value(a, "days"), *out = cli_value(a, "out");
	char *end = NULL, *pem = NULL;
	long days = 7;
	X509_CRL *crl = NULL;
	p11e_ca *ca = NULL;
	BIO *bio = NULL;
	long len = 0;
	p11e_rc rc;

	if (days_text != NULL) {
		days = strtol(days_text, &end, 10);
		if (*days_text == '\0' || *end != '\0' || days < 1 || days > 3650)
			return p11e_errf(&ctx->err, P11E_USAGE, "days: '%.20s' is not 1 to 3650",
					 days_text);
	}
	if ((rc = open_ca(ctx, a, &ca)) != P11E_OK ||
	    (rc = p11e_ca_crl(ca, (int)days, &crl, &ctx->err)) != P11E_OK)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509_CRL(bio, crl) != 1 ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		rc = p11e_errf(&ctx->err, P11E_FAIL, "cannot encode the CRL");
		goto out;
	}
	/* A CRL is public: 0644, but written whole or not at all. */
	if (out != NULL)
		rc = p11e_write_file_atomic(out, pem, (size_t)len, 0644, &ctx->err);
	else
		fwrite(pem, 1, (size_t)len, stdout);
out:
	BIO_free(bio);
	X509_CRL_free(crl);
	p11e_ca_close(ca);
	return rc;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	if (strcmp(a->pos[0], "init") == 0)
		return ca_init(ctx, a);
	if (strcmp(a->pos[0], "cert") == 0)
		return ca_cert(ctx, a);
	if (strcmp(a->pos[0], "revoke") == 0)
		return ca_revoke(ctx, a);
	if (strcmp(a->pos[0], "crl") == 0)
		return ca_crl(ctx, a);
	return p11e_errf(&ctx->err, P11E_USAGE,
			 "ca: unknown action '%.40s' (init, cert, revoke or crl)", a->pos[0]);
}

const cli_command cmd_ca = {
    .name = "ca",
    .usage = "init (--dir DIR|--ca NAME) [--subject DN] [--key TYPE] [--days N] [--key-uri URI]\n"
	     "       | cert [--ca CA]\n"
	     "       | revoke [--dir DIR|--ca CA] (--serial HEX|--cert FILE) --reason R\n"
	     "       | crl [--dir DIR|--ca CA] [--out FILE] [--days N]",
    .summary = "create the embedded CA, print a CA's chain, revoke, sign a CRL",
    .help = "init: in --dir DIR (or the \"dir\" of the config's local CA --ca NAME) a CA key\n"
	    "(DIR/ca.key, mode 0600; or generated on a token with --key-uri, recorded in\n"
	    "DIR/ca-key.json with --module and --pin-source) and a self-signed certificate\n"
	    "(DIR/ca.pem); then enroll with --ca local:DIR (or --ca NAME). cert: the chain of\n"
	    "the CA (default: the config's default_ca) in PEM, for `openssl verify -CAfile`;\n"
	    "with --json, {\"certificates\": [{subject, issuer, not_after, sha256, pem}, ...]}.\n"
	    "revoke: the CA takes the certificate back (RFC 5280 reason, e.g. keyCompromise,\n"
	    "superseded); the embedded CA logs it in DIR/index.jsonl; again is no change.\n"
	    "crl: the embedded CA signs a CRL (v2, CRL number, authority key identifier)\n"
	    "of what it revoked, valid --days N (default 7), PEM to stdout or --out FILE.",
    .opts = (const cli_opt[]){{"dir", "DIR", "init: where the CA lives"},
			      {"subject", "DN", "init: subject, e.g. \"/O=Example/CN=Example CA\""},
			      {"key", "TYPE", "init: CA key type (default ec:P-256)"},
			      {"key-uri", "URI", "init: make the CA key on this token (rsa or ec)"},
			      {"days", "N", "init: validity in days (default 3650); crl: (7)"},
			      {"ca", "CA", "a CA of the config, or local:DIR (init: a local one)"},
			      {"serial", "HEX", "revoke: the certificate's serial number"},
			      {"cert", "FILE", "revoke: the certificate (PEM)"},
			      {"reason", "R", "revoke: RFC 5280 reason (keyCompromise, ...)"},
			      {"out", "FILE", "crl: write the CRL here (PEM, atomically)"},
			      {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
    .actions = (const char *const[]){"init", "cert", "revoke", "crl", NULL},
};
