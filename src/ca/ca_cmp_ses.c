/* One CMP transaction through libcrypto's client (OSSL_CMP_try_certreq,
 * OSSL_CMP_exec_RR_ses), with p11enroll's HTTP underneath (the transfer
 * callback: libcurl, the CA entry's TLS and timeouts).
 *
 * Resuming after a crash. OpenSSL 3.0 keeps a transaction's state (its
 * nonces, "waiting") only inside an OSSL_CMP_CTX, and a new process has a new
 * one. So every answer OpenSSL accepted is kept in the transaction's document
 * before the next message leaves, and a rerun builds a context with the same
 * transactionID and replays those answers through the transfer callback: the
 * messages OpenSSL builds meanwhile are dropped, never sent, and before each
 * replayed answer the context's senderNonce is set to that answer's
 * recipNonce (the nonce of the message that really left then), so OpenSSL's
 * own checks pass and it ends where the crashed run was: waiting (its next
 * message is a pollReq with the CA's latest nonce), or holding the
 * certificate (its next message is the certConf). A transaction that got its
 * pkiConf is final: its certificate is in the document and a rerun sends
 * nothing. The one window left is between an answer's arrival and its
 * keeping (the crash point "cmp-answered"): a rerun then sends the same
 * transaction's message again, and for a certificate the CA never got a
 * certConf (RFC 4210 5.3.18: it must not be published). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "ca/ca_cmp.h"
#include "p11enroll/peer.h"
#include "p11enroll/pem.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"

void pipe_crash_point(const char *name);

typedef struct cmp_ses {
	cmp *c;
	const char *request_key;
	cmp_doc *d; /* NULL: a transaction nothing resumes (rr) */
	unsigned char txid[16];
	size_t replayed;      /* d->kept[0..replayed) handed to OpenSSL */
	unsigned char *fresh; /* the last answer from the wire, not kept yet */
	size_t fresh_len;
	EVP_PKEY *want; /* the key the certificate must be for */
	int sent;	/* messages that really left */
	int failed;	/* the transfer or the keeping failed: err says why */
	p11e_err err;
} cmp_ses;

/* OpenSSL's CMP log goes to stdout by default; its errors reach us through
 * the error queue instead. */
static int quiet_log(const char *func, const char *file, int line, OSSL_CMP_severity level,
		     const char *msg)
{
	(void)func, (void)file, (void)line, (void)level, (void)msg;
	return 1;
}

/* The answer that came from the wire was accepted (OpenSSL sends nothing
 * after one it refuses): into the document, durably, before anything else. */
static p11e_rc keep_fresh(cmp_ses *s)
{
	p11e_rc rc = P11E_OK;

	if (s->fresh == NULL || s->d == NULL)
		return P11E_OK;
	if (cmp_doc_keep(s->d, s->fresh, s->fresh_len) != 0)
		rc = p11e_errf(&s->err, P11E_FAIL,
			       "ca cmp: the transaction has more answers than it can keep");
	else
		rc = cmp_doc_save(s->c, s->request_key, s->d, &s->err);
	s->replayed = s->d->n_kept; /* handed to OpenSSL already: never replayed now */
	free(s->fresh);
	s->fresh = NULL;
	if (rc != P11E_OK)
		s->failed = 1;
	return rc;
}

static OSSL_CMP_MSG *replay(OSSL_CMP_CTX *ctx, cmp_ses *s)
{
	const unsigned char *p = s->d->kept[s->replayed];
	OSSL_CMP_MSG *m = d2i_OSSL_CMP_MSG(NULL, &p, (long)s->d->kept_len[s->replayed]);
	const ASN1_OCTET_STRING *nonce;

	s->replayed++;
	nonce = m ? OSSL_CMP_HDR_get0_recipNonce(OSSL_CMP_MSG_get0_header(m)) : NULL;
	if (nonce == NULL || !OSSL_CMP_CTX_set1_senderNonce(ctx, nonce)) {
		OSSL_CMP_MSG_free(m);
		s->failed = 1;
		p11e_errf(&s->err, P11E_FAIL,
			  "ca cmp: a kept answer of transaction %s cannot be read back",
			  s->d->txid);
		return NULL;
	}
	return m;
}

static OSSL_CMP_MSG *transfer(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	/* Each message on a connection of its own, closed after the answer
	 * (RFC 6712 3.4 allows either): a connection left open and then
	 * dropped reads to OpenSSL's server as a transmission error, which
	 * cancels the transaction. */
	static const char *const headers[] = {"Connection: close", NULL};
	cmp_ses *s = OSSL_CMP_CTX_get_transfer_cb_arg(ctx);
	p11e_http_req hr = {.method = "POST",
			    .url = s->c->url,
			    .content_type = "application/pkixcmp",
			    .headers = headers,
			    .no_retry = 1};
	p11e_http_resp resp = {0};
	unsigned char *der = NULL;
	char *ctype = NULL;
	OSSL_CMP_MSG *m = NULL;
	int der_len;

	if (s->d != NULL && s->replayed < s->d->n_kept)
		return replay(ctx, s);
	if (keep_fresh(s) != P11E_OK)
		return NULL;
	if ((der_len = i2d_OSSL_CMP_MSG(req, &der)) <= 0) {
		p11e_errf_ssl(&s->err, P11E_FAIL, "ca cmp: cannot encode the request");
		goto out;
	}
	hr.body = der;
	hr.body_len = (size_t)der_len;
	s->sent++;
	if (p11e_http_request(&s->c->http, &hr, &resp, &s->err) != P11E_OK)
		goto out;
	pipe_crash_point("cmp-answered");
	ctype = p11e_http_resp_header(&resp, "Content-Type");
	if (ctype != NULL)
		p11e_peer_clean(ctype); /* the peer's words, into a message */
	if (resp.status != 200) {
		p11e_errf(&s->err, P11E_FAIL,
			  "ca cmp: %s answered HTTP %ld; run enroll again later", s->c->url,
			  resp.status);
		goto out;
	}
	if (ctype == NULL || strncasecmp(ctype, "application/pkixcmp", 19) != 0) {
		p11e_errf(&s->err, P11E_FAIL,
			  "ca cmp: %s answered with Content-Type %.60s, not application/pkixcmp",
			  s->c->url, ctype ? ctype : "(none)");
		goto out;
	}
	m = cmp_answer_parse((const unsigned char *)resp.body, resp.body_len, s->txid,
			     sizeof(s->txid), &s->err);
	if (m != NULL && s->d != NULL) {
		s->fresh = malloc(resp.body_len);
		if (s->fresh == NULL) {
			OSSL_CMP_MSG_free(m);
			m = NULL;
			p11e_errf(&s->err, P11E_FAIL, "out of memory");
			goto out;
		}
		memcpy(s->fresh, resp.body, resp.body_len);
		s->fresh_len = resp.body_len;
	}
out:
	if (m == NULL)
		s->failed = 1;
	free(ctype);
	OPENSSL_free(der);
	p11e_http_resp_free(&resp);
	return m;
}

/* OpenSSL calls this with the certificate before it sends the certConf: the
 * certificate must be for our key, and is kept before the CA hears that we
 * took it. */
static int cert_conf(OSSL_CMP_CTX *ctx, X509 *cert, int fail_info, const char **text)
{
	cmp_ses *s = OSSL_CMP_CTX_get_certConf_cb_arg(ctx);

	if (fail_info != 0)
		return fail_info;
	if (s->want != NULL && EVP_PKEY_eq(X509_get0_pubkey(cert), s->want) != 1) {
		ERR_clear_error();
		*text = "the certificate is not for the key requested";
		return 1 << OSSL_CMP_PKIFAILUREINFO_badCertTemplate;
	}
	if (keep_fresh(s) != P11E_OK) {
		*text = "the client cannot keep the certificate";
		return 1 << OSSL_CMP_PKIFAILUREINFO_systemFailure;
	}
	pipe_crash_point("cmp-cert-kept");
	return 0;
}

/* A context for one transaction: protected by sig_cert and sig_key when
 * given (kur: the certificate being renewed), else by the CA entry's
 * certificate and key, else by PBM from its reference and secret. */
static p11e_rc new_ctx(cmp_ses *s, X509 *sig_cert, EVP_PKEY *sig_key, OSSL_CMP_CTX **out,
		       p11e_err *err)
{
	cmp *c = s->c;
	OSSL_CMP_CTX *ctx = OSSL_CMP_CTX_new(NULL, NULL);
	char *secret = NULL;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (ctx == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (sig_cert == NULL) {
		sig_cert = c->prot_cert;
		sig_key = c->prot_key;
	}
	if (!OSSL_CMP_CTX_set_log_cb(ctx, quiet_log) ||
	    !OSSL_CMP_CTX_set_transfer_cb(ctx, transfer) ||
	    !OSSL_CMP_CTX_set_transfer_cb_arg(ctx, s) ||
	    !OSSL_CMP_CTX_set_certConf_cb(ctx, cert_conf) ||
	    !OSSL_CMP_CTX_set_certConf_cb_arg(ctx, s) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_IMPLICIT_CONFIRM, 0) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_UNPROTECTED_ERRORS, 0)) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca cmp: cannot set up the CMP context");
		goto out;
	}
	if (sig_cert != NULL) {
		if (!OSSL_CMP_CTX_set1_cert(ctx, sig_cert) || !OSSL_CMP_CTX_set1_pkey(ctx, sig_key))
			rc = p11e_errf_ssl(err, P11E_FAIL,
					   "ca cmp: cannot sign the requests with the certificate");
	} else {
		p11e_err inner = {0};

		if (p11e_secret_read(c->secret_source, "CMP secret", &secret, &inner) != P11E_OK)
			rc = p11e_errf(err, P11E_CONFIG, "ca cmp: secret: %s", inner.msg);
		else if (!OSSL_CMP_CTX_set1_referenceValue(ctx, (const unsigned char *)c->reference,
							   (int)strlen(c->reference)) ||
			 !OSSL_CMP_CTX_set1_secretValue(ctx, (const unsigned char *)secret,
							(int)strlen(secret)))
			rc = p11e_errf_ssl(err, P11E_FAIL, "ca cmp: cannot set the PBM secret");
	}
	if (rc == P11E_OK && c->srv_cert != NULL && !OSSL_CMP_CTX_set1_srvCert(ctx, c->srv_cert))
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca cmp: cannot set the server's certificate");
	if (rc == P11E_OK && c->srv_cert == NULL && c->trusted != NULL) {
		if (!X509_STORE_up_ref(c->trusted))
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
		else if (!OSSL_CMP_CTX_set0_trustedStore(ctx, c->trusted)) {
			X509_STORE_free(c->trusted);
			rc = p11e_errf_ssl(err, P11E_FAIL, "ca cmp: cannot set the trusted CAs");
		}
	}
out:
	p11e_secret_free(secret, (size_t)-1);
	if (rc != P11E_OK) {
		OSSL_CMP_CTX_free(ctx);
		return rc;
	}
	*out = ctx;
	return P11E_OK;
}

static p11e_rc set_txid(cmp_ses *s, OSSL_CMP_CTX *ctx, const char *hex, p11e_err *err)
{
	ASN1_OCTET_STRING *tid = ASN1_OCTET_STRING_new();
	size_t n = 0;
	int ok;

	if (p11e_hex_decode(hex, s->txid, sizeof(s->txid), &n) != 0 || n != sizeof(s->txid)) {
		ASN1_OCTET_STRING_free(tid);
		return p11e_errf(err, P11E_FAIL, "ca cmp: transaction id '%.40s' is not ours", hex);
	}
	ok = tid != NULL && ASN1_OCTET_STRING_set(tid, s->txid, (int)sizeof(s->txid)) &&
	     OSSL_CMP_CTX_set1_transactionID(ctx, tid);
	ASN1_OCTET_STRING_free(tid);
	return ok ? P11E_OK : p11e_errf_ssl(err, P11E_FAIL, "ca cmp: cannot set the transaction");
}

/* What to ask, from the CSR: p10cr sends it as it is; ir and kur a CRMF
 * template with its subject and extensions, the proof of possession signed
 * by the key being certified (on the token, through libp11). */
static p11e_rc set_request(cmp_ses *s, OSSL_CMP_CTX *ctx, int req_type, X509_REQ *csr,
			   p11e_err *err)
{
	cmp *c = s->c;
	X509_EXTENSIONS *exts;
	int ok = 1;

	if (req_type == OSSL_CMP_P10CR)
		ok = OSSL_CMP_CTX_set1_p10CSR(ctx, csr);
	else if (c->key == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "ca cmp: no requester key: ir and kur prove possession with the "
				 "key being certified");
	else if (!EVP_PKEY_up_ref(c->key))
		ok = 0;
	else if (!OSSL_CMP_CTX_set0_newPkey(ctx, 1, c->key)) {
		EVP_PKEY_free(c->key);
		ok = 0;
	}
	if (ok && req_type != OSSL_CMP_P10CR) {
		ok = OSSL_CMP_CTX_set1_subjectName(ctx, X509_REQ_get_subject_name(csr));
		exts = X509_REQ_get_extensions(csr);
		if (ok && exts != NULL && !OSSL_CMP_CTX_set0_reqExtensions(ctx, exts)) {
			sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
			ok = 0;
		}
	}
	if (ok && req_type == OSSL_CMP_KUR)
		ok = OSSL_CMP_CTX_set1_oldCert(ctx, c->old_cert);
	return ok ? P11E_OK : p11e_errf_ssl(err, P11E_FAIL, "ca cmp: cannot build the request");
}

/* leaf's chain, issuer first, from what the CA sent and the trusted CAs. */
static STACK_OF(X509) * chain_for(const cmp *c, OSSL_CMP_CTX *ctx, X509 *leaf)
{
	STACK_OF(X509) *pool = sk_X509_new_null(), *out = sk_X509_new_null(), *more;
	X509 *at = leaf;

	if (pool == NULL || out == NULL)
		goto fail;
	for (int k = 0; k < 3; k++) {
		more = k == 0	? OSSL_CMP_CTX_get1_caPubs(ctx)
		       : k == 1 ? OSSL_CMP_CTX_get1_extraCertsIn(ctx)
				: X509_chain_up_ref(c->chain);
		while (sk_X509_num(more) > 0) {
			X509 *x = sk_X509_shift(more);
			if (!sk_X509_push(pool, x))
				X509_free(x);
		}
		sk_X509_free(more);
	}
	for (int depth = 0; depth < 8; depth++) {
		X509 *next = NULL;

		for (int i = 0; i < sk_X509_num(pool) && next == NULL; i++) {
			X509 *x = sk_X509_value(pool, i);
			if (X509_check_issued(x, at) == X509_V_OK && X509_cmp(x, at) != 0)
				next = x;
		}
		if (next == NULL || !X509_up_ref(next))
			break;
		if (!sk_X509_push(out, next)) {
			X509_free(next);
			goto fail;
		}
		if (X509_check_issued(next, next) == X509_V_OK)
			break; /* the root */
		at = next;
	}
	sk_X509_pop_free(pool, X509_free);
	return out;
fail:
	sk_X509_pop_free(pool, X509_free);
	sk_X509_pop_free(out, X509_free);
	return NULL;
}

/* The CA's status and words, for a rejection. */
static void status_words(OSSL_CMP_CTX *ctx, char *out, size_t len)
{
	static const char prefix[] = "CMP ";
	char buf[512];
	size_t n;

	if (len < sizeof(prefix)) {
		if (len > 0)
			out[0] = '\0';
		return;
	}
	if (OSSL_CMP_CTX_snprint_PKIStatus(ctx, buf, sizeof(buf)) == NULL)
		snprintf(buf, sizeof(buf), "status %d", OSSL_CMP_CTX_get_status(ctx));
	p11e_peer_clean(buf); /* the CA's words: one line, no control characters */
	n = strlen(buf);
	if (n > len - sizeof(prefix))
		n = len - sizeof(prefix); /* cut to fit, with its NUL */
	memcpy(out, prefix, sizeof(prefix) - 1);
	memcpy(out + sizeof(prefix) - 1, buf, n);
	out[sizeof(prefix) - 1 + n] = '\0';
}

static p11e_rc issued(cmp_ses *s, OSSL_CMP_CTX *ctx, p11e_ca_result *out, p11e_err *err)
{
	X509 *cert = OSSL_CMP_CTX_get0_newCert(ctx);
	cmp_doc *d = s->d;
	p11e_rc rc;

	if (cert == NULL || !X509_up_ref(cert))
		return p11e_errf(err, P11E_FAIL, "ca cmp: the CA confirmed no certificate");
	out->cert = cert;
	if ((out->chain = chain_for(s->c, ctx, cert)) == NULL ||
	    (d->cert_pem = p11e_x509_to_pem(cert)) == NULL ||
	    (d->chain_pem = p11e_chain_to_pem(out->chain)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	d->confirmed = 1;
	/* Final: a rerun takes the certificate from here and sends nothing. */
	if ((rc = cmp_doc_save(s->c, s->request_key, d, err)) != P11E_OK)
		return rc;
	pipe_crash_point("cmp-confirmed");
	out->state = P11E_CA_STATE_ISSUED;
	return P11E_OK;
}

/* try_certreq said 0: our transfer's error, the CA's rejection (the
 * transaction is over: its document goes, a rerun starts a new one), or an
 * answer OpenSSL refused. */
static p11e_rc failed(cmp_ses *s, OSSL_CMP_CTX *ctx, p11e_ca_result *out, p11e_err *err)
{
	int status = OSSL_CMP_CTX_get_status(ctx);

	if (s->failed) {
		ERR_clear_error();
		*err = s->err;
		return s->err.rc != P11E_OK ? s->err.rc : P11E_FAIL;
	}
	if (status == OSSL_CMP_PKISTATUS_rejection) {
		status_words(ctx, out->reason, sizeof(out->reason));
		ERR_clear_error();
		out->state = P11E_CA_STATE_REJECTED;
		return cmp_doc_remove(s->c, s->request_key, err);
	}
	return p11e_errf_ssl(err, P11E_FAIL,
			     "ca cmp: transaction %s failed (the identity stays resumable)",
			     s->d->txid);
}

static void nap(long seconds)
{
	struct timespec ts = {.tv_sec = seconds, .tv_nsec = 0};

	while (nanosleep(&ts, &ts) != 0)
		;
}

p11e_rc cmp_certreq(cmp *c, const char *request_key, X509_REQ *csr, cmp_doc *d, p11e_ca_result *out,
		    p11e_err *err)
{
	cmp_ses s = {.c = c, .request_key = request_key, .d = d};
	OSSL_CMP_CTX *ctx = NULL;
	time_t until = time(NULL) + c->wait_s;
	int check_after = 0, r;
	p11e_rc rc;

	s.want = X509_REQ_get0_pubkey(csr);
	if (d->req_type == OSSL_CMP_KUR && (c->old_cert == NULL || c->old_key == NULL))
		return p11e_errf(
		    err, P11E_FAIL,
		    "ca cmp: transaction %s is a key update (kur): it is signed with "
		    "the renewed certificate's key, which is not at hand (no longer on "
		    "the token?); ask the CA's operator about it",
		    d->txid);
	rc = new_ctx(&s, d->req_type == OSSL_CMP_KUR ? c->old_cert : NULL,
		     d->req_type == OSSL_CMP_KUR ? c->old_key : NULL, &ctx, err);
	if (rc == P11E_OK)
		rc = set_txid(&s, ctx, d->txid, err);
	if (rc == P11E_OK)
		rc = set_request(&s, ctx, d->req_type, csr, err);
	while (rc == P11E_OK) {
		int sent = s.sent;

		r = OSSL_CMP_try_certreq(ctx, d->req_type, NULL, &check_after);
		if (r == 1) {
			rc = issued(&s, ctx, out, err);
			break;
		}
		if (r == 0) {
			rc = failed(&s, ctx, out, err);
			break;
		}
		/* waiting: the pollRep is kept, so a later run polls on */
		if ((rc = keep_fresh(&s)) != P11E_OK) {
			*err = s.err;
			break;
		}
		if (s.sent == sent)
			continue; /* replayed "waiting": now the real pollReq */
		pipe_crash_point("cmp-waiting");
		/* the CA's checkAfter: bounded to a day, as every peer's wait */
		check_after = (int)p11e_peer_wait_s(check_after);
		if (c->wait_s == 0 || time(NULL) + check_after > until) {
			out->state = P11E_CA_STATE_PENDING;
			out->retry_after = check_after > 0 ? check_after : 1;
			break;
		}
		nap(check_after);
	}
	free(s.fresh);
	OSSL_CMP_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

p11e_rc cmp_revoke_cert(cmp *c, X509 *cert, int reason, int *already, p11e_err *err)
{
	cmp_ses s = {.c = c};
	OSSL_CMP_CTX *ctx = NULL;
	char hex[33];
	p11e_rc rc;

	*already = 0;
	if (RAND_bytes(s.txid, sizeof(s.txid)) != 1)
		return p11e_errf_ssl(err, P11E_FAIL, "ca cmp: no random bytes");
	p11e_hex_encode(s.txid, sizeof(s.txid), hex);
	rc = new_ctx(&s, NULL, NULL, &ctx, err);
	if (rc == P11E_OK)
		rc = set_txid(&s, ctx, hex, err);
	if (rc == P11E_OK &&
	    (!OSSL_CMP_CTX_set1_oldCert(ctx, cert) ||
	     !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_REVOCATION_REASON, reason)))
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca cmp: cannot build the revocation request");
	if (rc == P11E_OK && OSSL_CMP_exec_RR_ses(ctx) != 1) {
		if (s.failed) {
			*err = s.err;
			rc = s.err.rc != P11E_OK ? s.err.rc : P11E_FAIL;
		} else if (OSSL_CMP_CTX_get_status(ctx) == OSSL_CMP_PKISTATUS_rejection &&
			   (OSSL_CMP_CTX_get_failInfoCode(ctx) &
			    (1 << OSSL_CMP_PKIFAILUREINFO_certRevoked)) != 0) {
			*already = 1;
		} else if (OSSL_CMP_CTX_get_status(ctx) == OSSL_CMP_PKISTATUS_rejection) {
			char words[256];

			status_words(ctx, words, sizeof(words));
			rc = p11e_errf(err, P11E_CA_REJECTED,
				       "ca cmp: the CA refused the revocation: %s", words);
		} else {
			rc = p11e_errf_ssl(err, P11E_FAIL, "ca cmp: the revocation failed");
		}
	}
	OSSL_CMP_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}
