/* p11enroll export: "download certificate". The PFX of a software key, or
 * the certificate with its chain in PEM, DER (the certificate alone) or a
 * certs-only PKCS#7 (.p7b). Every export leaves an audit record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include "cli.h"
#include "p11enroll/audit.h"
#include "p11enroll/lock.h"
#include "p11enroll/pem.h"
#include "p11enroll/record.h"
#include "p11enroll/software.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"

typedef struct blob {
	unsigned char *data;
	size_t len;
	int binary;
	int secret;	  /* the PFX: 0600 */
	int openssl_heap; /* data from i2d_*: OPENSSL_free */
} blob;

static p11e_rc need_cert(cli_ctx *ctx, const p11e_record *r)
{
	if (r->cert_pem == NULL)
		return p11e_errf(&ctx->err, P11E_NOT_FOUND,
				 "'%.200s' has no certificate yet (step %s): run enroll again",
				 r->identity, p11e_step_name(r->step));
	return P11E_OK;
}

static p11e_rc make_pfx(cli_ctx *ctx, const p11e_record *r, blob *b)
{
	char *data = NULL;
	p11e_rc rc;

	if (r->pfx_path == NULL)
		return p11e_errf(&ctx->err, P11E_NOT_FOUND,
				 "'%.200s' has no PFX: its key is on the token (use --format "
				 "pem, der or p7b)",
				 r->identity);
	rc = p11e_soft_pfx_read(ctx->config.store, r->pfx_path, &data, &b->len, &ctx->err);
	if (rc == P11E_NOT_FOUND)
		return p11e_errf(&ctx->err, P11E_NOT_FOUND, "'%.200s': the PFX %s is missing",
				 r->identity, r->pfx_path);
	if (rc != P11E_OK)
		return rc;
	b->data = (unsigned char *)data;
	b->binary = b->secret = 1;
	return P11E_OK;
}

static p11e_rc make_pem(cli_ctx *ctx, const p11e_record *r, blob *b)
{
	size_t a = strlen(r->cert_pem), c = r->chain_pem ? strlen(r->chain_pem) : 0;
	int nl = a > 0 && r->cert_pem[a - 1] != '\n';

	if ((b->data = malloc(a + nl + c + 1)) == NULL)
		return p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
	memcpy(b->data, r->cert_pem, a);
	if (nl)
		b->data[a] = '\n';
	if (c > 0)
		memcpy(b->data + a + nl, r->chain_pem, c);
	b->len = a + nl + c;
	return P11E_OK;
}

static p11e_rc make_der(cli_ctx *ctx, const p11e_record *r, blob *b)
{
	X509 *cert = p11e_x509_from_pem(r->cert_pem);
	unsigned char *der = NULL;
	int n;

	if (cert == NULL)
		return p11e_errf_ssl(&ctx->err, P11E_FAIL,
				     "'%.200s': the recorded certificate is "
				     "unreadable",
				     r->identity);
	n = i2d_X509(cert, &der);
	X509_free(cert);
	if (n <= 0)
		return p11e_errf_ssl(&ctx->err, P11E_FAIL, "cannot encode the certificate");
	b->data = der;
	b->len = (size_t)n;
	b->binary = b->openssl_heap = 1;
	return P11E_OK;
}

/* A degenerate SignedData holding the certificate, then its chain. */
static p11e_rc make_p7b(cli_ctx *ctx, const p11e_record *r, blob *b)
{
	X509 *cert = p11e_x509_from_pem(r->cert_pem);
	STACK_OF(X509) *chain = p11e_chain_from_pem(r->chain_pem);
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	int n = 0, ok;

	ok = cert != NULL && chain != NULL && p7 != NULL && PKCS7_set_type(p7, NID_pkcs7_signed) &&
	     PKCS7_content_new(p7, NID_pkcs7_data) && PKCS7_add_certificate(p7, cert);
	for (int i = 0; ok && i < sk_X509_num(chain); i++)
		ok = PKCS7_add_certificate(p7, sk_X509_value(chain, i));
	if (ok)
		n = i2d_PKCS7(p7, &der);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	PKCS7_free(p7);
	if (!ok || n <= 0)
		return p11e_errf_ssl(&ctx->err, P11E_FAIL, "'%.200s': cannot build the PKCS#7",
				     r->identity);
	b->data = der;
	b->len = (size_t)n;
	b->binary = b->openssl_heap = 1;
	return P11E_OK;
}

/* What can be known before anything is written: so a refused export is
 * not first recorded as done. */
static p11e_rc preflight(cli_ctx *ctx, const char *out, const char *format, const blob *b)
{
	if (out != NULL && access(out, F_OK) == 0)
		return p11e_errf(&ctx->err, P11E_EXISTS,
				 "%s already exists: it is never overwritten", out);
	if (out == NULL && b->binary && isatty(STDOUT_FILENO))
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "--format %s is binary: give --out FILE or redirect stdout",
				 format);
	return P11E_OK;
}

/* What a file name's extension says it holds (case-insensitive): the
 * format chosen when --format is not given, and the formats it may hold
 * (a .cer or .crt is a certificate in PEM or DER by custom: either, never a
 * PFX). NULL for a name that says nothing. */
typedef struct name_kind {
	const char *ext, *format, *allowed, *what;
} name_kind;

static const name_kind *kind_of_name(const char *path)
{
	static const name_kind kinds[] = {
	    {".pem", "pem", "pem", "a PEM file"},
	    {".crt", "pem", "pem der", "a certificate (pem or der)"},
	    {".cer", "der", "pem der", "a certificate (pem or der)"},
	    {".der", "der", "der", "a DER certificate"},
	    {".p7b", "p7b", "p7b", "a PKCS#7 file (p7b)"},
	    {".p7c", "p7b", "p7b", "a PKCS#7 file (p7b)"},
	    {".p12", "pfx", "pfx", "a PKCS#12 file (pfx)"},
	    {".pfx", "pfx", "pfx", "a PKCS#12 file (pfx)"},
	};
	size_t len = strlen(path);

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (len > 4 && strcasecmp(path + len - 4, kinds[i].ext) == 0)
			return &kinds[i];
	return NULL;
}

/* Whether format is one of the space-separated words of allowed. */
static int among(const char *format, const char *allowed)
{
	size_t n = strlen(format);

	for (const char *w = allowed; (w = strstr(w, format)) != NULL; w += n)
		if ((w == allowed || w[-1] == ' ') && (w[n] == '\0' || w[n] == ' '))
			return 1;
	return 0;
}

static p11e_rc emit(cli_ctx *ctx, const char *out, const blob *b)
{
	if (out != NULL)
		return p11e_write_file_new(out, b->data, b->len, b->secret ? 0600 : 0644,
					   &ctx->err);
	if (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout) != 0)
		return p11e_errf(&ctx->err, P11E_FAIL, "cannot write to stdout");
	return P11E_OK;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *format = cli_value(a, "format"), *out = cli_value(a, "out");
	const name_kind *kind;
	const char *extra[] = {"format", NULL, "out", out ? out : "stdout", NULL, NULL, NULL};
	p11e_record r = {0};
	blob b = {0};
	char *identity = NULL;
	p11e_err audit_err = {0};
	p11e_lock lock = P11E_LOCK_INIT;
	long wait_ms = 0;
	int generation = 0;
	char gen_text[16] = "current";
	p11e_rc rc;

	if ((rc = cli_generation(a, &generation, &ctx->err)) != P11E_OK)
		return rc;
	if (generation > 0)
		snprintf(gen_text, sizeof(gen_text), "%d", generation);
	extra[4] = "generation";
	extra[5] = gen_text;
	if (a->pos[0][0] == '\0' || (identity = p11e_record_identity(a->pos[0])) == NULL)
		return p11e_errf(&ctx->err, P11E_USAGE, "export: IDENTITY is empty");
	if (format != NULL && strcmp(format, "pfx") != 0 && strcmp(format, "pem") != 0 &&
	    strcmp(format, "der") != 0 && strcmp(format, "p7b") != 0) {
		free(identity);
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "format: '%.20s' is not pfx, pem, der or p7b", format);
	}
	/* --out dave.pem is a PEM: a file's name is how people and tools tell
	 * what it holds, so it chooses the format when --format does not, and
	 * a name that says another format than --format is refused (a PFX,
	 * a secret, named like a certificate would be handed out as one). */
	kind = out != NULL ? kind_of_name(out) : NULL;
	if (format != NULL && kind != NULL && !among(format, kind->allowed)) {
		free(identity);
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "out: '%.200s' is named as %s, but --format is %s: name it for "
				 "the format, or drop --format",
				 out, kind->what, format);
	}
	if (format == NULL && kind != NULL)
		format = kind->format;
	/* Not while a run of the identity changes its record or its PFX. */
	rc = cli_wait_ms(a, &wait_ms, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_lock_acquire(ctx->config.store, "identity", identity,
				       wait_ms < 0   ? 0
				       : wait_ms > 0 ? wait_ms
						     : P11E_LOCK_WAIT_DEFAULT_MS,
				       &lock, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_record_load(ctx->config.store, identity, &r, &ctx->err);
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(&ctx->err, P11E_NOT_FOUND,
			       "no identity '%.200s' in %s (see p11enroll status)", identity,
			       ctx->config.state_dir);
	if (rc == P11E_OK && generation > 0)
		rc = p11e_record_select_generation(&r, generation, &ctx->err);
	if (rc == P11E_OK && format == NULL)
		format = r.pfx_path != NULL ? "pfx" : "pem";
	extra[1] = format;
	if (rc == P11E_OK && strcmp(format, "pfx") == 0)
		rc = make_pfx(ctx, &r, &b);
	else if (rc == P11E_OK && (rc = need_cert(ctx, &r)) == P11E_OK)
		rc = strcmp(format, "pem") == 0	  ? make_pem(ctx, &r, &b)
		     : strcmp(format, "der") == 0 ? make_der(ctx, &r, &b)
						  : make_p7b(ctx, &r, &b);
	if (rc == P11E_OK)
		rc = preflight(ctx, out, format, &b);
	/* The record first: an export that cannot be recorded does not happen.
	 * Only a write failing after it adds a second record, of the failure. */
	if (p11e_audit_write(&ctx->config, "export", identity, extra, rc, &ctx->err, &audit_err) !=
	    P11E_OK) {
		if (rc == P11E_OK)
			rc = p11e_errf(&ctx->err, P11E_FAIL, "%s; nothing was exported",
				       audit_err.msg);
		else
			fprintf(stderr, "p11enroll export: %s\n", audit_err.msg);
	} else if (rc == P11E_OK && (rc = emit(ctx, out, &b)) != P11E_OK) {
		p11e_audit_write(&ctx->config, "export", identity, extra, rc, &ctx->err,
				 &audit_err);
	}
	if (rc == P11E_OK && out != NULL && !ctx->json)
		fprintf(stderr, "p11enroll export: wrote %s (%s)\n", out, format);
	if (b.openssl_heap)
		OPENSSL_free(b.data);
	else
		free(b.data);
	p11e_record_clear(&r);
	p11e_lock_release(&lock);
	free(identity);
	return rc;
}

const cli_command cmd_export = {
    .name = "export",
    .usage = "IDENTITY [--format pfx|pem|der|p7b] [--out FILE] [--generation N]",
    .summary = "write an identity's PFX, or its certificate with the chain",
    .help = "pfx: the PKCS#12 file of a software key, as written at enrollment (its password:\n"
	    "p11enroll escrow show). pem: the certificate, then the CA chain. der: the\n"
	    "certificate alone. p7b: a certs-only PKCS#7 (DER) with the certificate and chain.\n"
	    "Default: the format --out's name says (.pem, .crt: pem; .der, .cer: der; .p7b,\n"
	    ".p7c; .p12, .pfx; a --format the name contradicts is refused), else pfx when\n"
	    "the identity has one, else pem. --out FILE is created 0600 for a PFX, 0644\n"
	    "otherwise, and never overwritten (exit 9); without it, stdout (binary\n"
	    "formats not to a terminal). Every export is recorded in the audit log before\n"
	    "anything is written; if the record cannot be written, nothing is exported.\n"
	    "--generation N: an earlier generation's (see status IDENTITY --json); a\n"
	    "renewed software identity keeps each generation's PFX.",
    .opts =
	(const cli_opt[]){
	    {"format", "F", "pfx, pem, der or p7b"},
	    {"generation", "N", "an earlier generation (default: the current one)"},
	    {"out", "FILE", "write here instead of stdout"},
	    {"wait", "SECONDS", "wait this long for a run of the identity (default 5; 0: not)"},
	    {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
