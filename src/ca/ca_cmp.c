/* CMP (RFC 4210, RFC 9480): certificates through libcrypto's own CMP client
 * (OSSL_CMP_*), the messages carried by p11enroll's HTTP (RFC 6712).
 *
 *   { "type": "cmp", "url": "http://ca.example.com:8080/pkix/",
 *     "reference": "4711", "secret_file": "cmp-secret",
 *     "srv_cert_file": "cmp-server.pem", "request": "ir", "wait": 60 }
 *
 * Protection: MAC (PBM) from "reference" and a secret read from
 * "secret_source" (env:VAR, file:PATH) or "secret_file"; or a signature with
 * an existing certificate and key ("cert_file", "key_file"). Answers are
 * checked against "srv_cert_file" (the CA's CMP signer, pinned) or
 * "trusted_file" (CAs its signer must chain to), or, under PBM alone, by
 * the MAC. "request": "ir" (CRMF, the proof of possession signed by the
 * token key through libp11) or "p10cr" (the CSR as signed on the token).
 * Renewal is a kur protected by the certificate being renewed and its key;
 * revocation an rr. Implicit confirmation is never asked for: every
 * certificate is confirmed by a certConf after it is kept.
 *
 * Each certificate request is one transaction, kept in the store (kind
 * "cmp-request", name HASH/REQUEST_KEY) from before its first message to its
 * pkiConf; ca_cmp_ses.c explains how a rerun resumes it instead of making a
 * second one. The request id is "cmp:REQUEST_KEY". A transaction's document
 * is read and written only by submit and poll, which the pipeline calls
 * under the identity's lock: two runs never drive one transaction at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include "ca/ca_cmp.h"
#include "ca/ca_home.h"
#include "p11enroll/conf.h"
#include "p11enroll/csr.h"
#include "p11enroll/pem.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"

#define WAIT_DEFAULT_S 60

void pipe_crash_point(const char *name);

static const char *const known_keys[] = {
    "type",	     "url",	     "dir",	      "ca_bundle",   "timeout",	  "connect_timeout",
    "retries",	     "reference",    "secret_source", "secret_file", "cert_file", "key_file",
    "srv_cert_file", "trusted_file", "request",	      "wait",	     NULL,
};

static void cmp_close(void *state)
{
	cmp *c = state;

	if (c == NULL)
		return;
	free(c->secret_source);
	X509_free(c->prot_cert);
	EVP_PKEY_free(c->prot_key);
	X509_free(c->srv_cert);
	X509_STORE_free(c->trusted);
	sk_X509_pop_free(c->chain, X509_free);
	p11e_store_close(c->store);
	json_object_put(c->conf);
	free(c);
}

/* A string member, NULL when absent; *bad when present but not a string. */
static const char *member(const cmp *c, const char *key, int *bad)
{
	json_object *v;

	if (!json_object_object_get_ex(c->conf, key, &v))
		return NULL;
	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
		*bad = 1;
		return NULL;
	}
	return json_object_get_string(v);
}

static STACK_OF(X509) * read_certs(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	STACK_OF(X509) *out = sk_X509_new_null();
	X509 *x;

	while (b != NULL && out != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(out, x))
			X509_free(x);
	ERR_clear_error();
	BIO_free(b);
	if (sk_X509_num(out) <= 0) {
		sk_X509_free(out);
		return NULL;
	}
	return out;
}

static p11e_rc read_files(cmp *c, const char *cert, const char *key, const char *srv,
			  const char *trusted, p11e_err *err)
{
	STACK_OF(X509) * certs;
	BIO *b;

	if (cert != NULL) {
		if ((certs = read_certs(cert)) == NULL)
			return p11e_errf(err, P11E_CONFIG,
					 "ca cmp: \"cert_file\" %s holds no PEM certificate", cert);
		c->prot_cert = sk_X509_shift(certs);
		sk_X509_pop_free(certs, X509_free);
		b = BIO_new_file(key, "r");
		c->prot_key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		if (c->prot_key == NULL || X509_check_private_key(c->prot_cert, c->prot_key) != 1) {
			ERR_clear_error();
			return p11e_errf(err, P11E_CONFIG,
					 "ca cmp: \"key_file\" %s is not the (unencrypted PEM) key "
					 "of \"cert_file\"",
					 key);
		}
	}
	if (srv != NULL) {
		if ((certs = read_certs(srv)) == NULL)
			return p11e_errf(err, P11E_CONFIG,
					 "ca cmp: \"srv_cert_file\" %s holds no PEM certificate",
					 srv);
		c->srv_cert = sk_X509_shift(certs);
		sk_X509_pop_free(certs, X509_free);
	}
	if (trusted != NULL) {
		if ((c->chain = read_certs(trusted)) == NULL ||
		    (c->trusted = X509_STORE_new()) == NULL)
			return p11e_errf(err, P11E_CONFIG,
					 "ca cmp: \"trusted_file\" %s holds no PEM certificate",
					 trusted);
		for (int i = 0; i < sk_X509_num(c->chain); i++)
			if (!X509_STORE_add_cert(c->trusted, sk_X509_value(c->chain, i)))
				return p11e_errf_ssl(err, P11E_FAIL, "ca cmp: trusted_file");
	}
	return P11E_OK;
}

static p11e_rc read_protection(cmp *c, int *bad, p11e_err *err)
{
	const char *src = member(c, "secret_source", bad), *file = member(c, "secret_file", bad);
	const char *cert = member(c, "cert_file", bad), *key = member(c, "key_file", bad);
	const char *srv = member(c, "srv_cert_file", bad),
		   *trusted = member(c, "trusted_file", bad);
	char *probe = NULL;
	p11e_err inner = {0};
	size_t n;

	c->reference = member(c, "reference", bad);
	if (*bad)
		return p11e_errf(err, P11E_CONFIG, "ca cmp: every key but \"wait\" is a string");
	if ((cert == NULL) != (key == NULL))
		return p11e_errf(err, P11E_CONFIG,
				 "ca cmp: signature protection needs both \"cert_file\" and "
				 "\"key_file\"");
	if (src != NULL && file != NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "ca cmp: give \"secret_source\" or \"secret_file\", not both");
	if (src != NULL && strncmp(src, "env:", 4) != 0 && strncmp(src, "file:", 5) != 0)
		return p11e_errf(err, P11E_CONFIG,
				 "ca cmp: \"secret_source\" must be env:VAR or file:PATH (never "
				 "the secret itself)");
	if ((c->reference != NULL) != (src != NULL || file != NULL))
		return p11e_errf(err, P11E_CONFIG,
				 "ca cmp: MAC protection needs both \"reference\" and a secret "
				 "(\"secret_source\" or \"secret_file\")");
	if (c->reference == NULL && cert == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "ca cmp: no protection: give \"reference\" and \"secret_file\" "
				 "(MAC), or \"cert_file\" and \"key_file\" (signature)");
	if (c->reference == NULL && srv == NULL && trusted == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "ca cmp: signed answers need \"srv_cert_file\" or "
				 "\"trusted_file\" to be checked against");
	if (src != NULL)
		c->secret_source = strdup(src);
	else if (file != NULL && (c->secret_source = malloc((n = strlen(file) + 6))) != NULL)
		snprintf(c->secret_source, n, "file:%s", file);
	if (c->reference != NULL) {
		if (c->secret_source == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		/* Read once now, so a missing secret stops enroll before a key is made. */
		if (p11e_secret_read(c->secret_source, "CMP secret", &probe, &inner) != P11E_OK)
			return p11e_errf(err, P11E_CONFIG, "ca cmp: secret: %s", inner.msg);
		p11e_secret_free(probe, (size_t)-1);
	}
	return read_files(c, cert, key, srv, trusted, err);
}

static p11e_rc open_conf(cmp *c, p11e_store *shared, p11e_err *err)
{
	const char *request, *dir;
	json_object *v, *js;
	char *home;
	int bad = 0;
	p11e_rc rc;

	if ((rc = p11e_conf_check_keys(c->conf, known_keys, "ca cmp", err)) != P11E_OK)
		return rc;
	c->url = member(c, "url", &bad);
	request = member(c, "request", &bad);
	dir = member(c, "dir", &bad);
	if (c->url == NULL || strchr(c->url, '#') != NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "ca cmp: \"url\" is required: the CA's CMP endpoint over HTTP, "
				 "like http://ca.example.com:8080/pkix/");
	if (request != NULL && strcmp(request, "ir") != 0 && strcmp(request, "p10cr") != 0)
		return p11e_errf(err, P11E_CONFIG,
				 "ca cmp: \"request\" must be \"ir\" or \"p10cr\"");
	c->p10cr = request != NULL && strcmp(request, "p10cr") == 0;
	c->wait_s = WAIT_DEFAULT_S;
	if (json_object_object_get_ex(c->conf, "wait", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > 3600)
			return p11e_errf(err, P11E_CONFIG,
					 "ca cmp: \"wait\" must be 0 to 3600 seconds");
		c->wait_s = (long)json_object_get_int64(v);
	}
	if ((rc = read_protection(c, &bad, err)) != P11E_OK)
		return rc;
	if (ca_url_hash(c->url, c->hash) != 0)
		return p11e_errf_ssl(err, P11E_FAIL, "ca cmp: cannot hash the url");
	if ((rc = p11e_http_from_config(c->conf, "cmp", &c->http, err)) != P11E_OK)
		return rc;
	/* Plain http is CMP's usual transport (RFC 6712): the messages are
	 * protected themselves. */
	home = dir ? strdup(dir)
		   : ca_home_default_dir(p11e_conf_string(c->conf, "_state_dir"), "cmp", c->hash);
	if (home == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "ca cmp: no \"dir\" for its transactions and no state directory");
	if (!json_object_object_get_ex(c->conf, "_store", &js))
		js = NULL;
	rc = shared != NULL ? p11e_store_open_home_in(shared, home, &c->store, err)
			    : p11e_store_open_home(js, home, &c->store, err);
	free(home);
	return rc;
}

/* store: the config's store open in this process (p11e_ca_open_in), shared
 * for the transactions; NULL: opened from the config's "_store". */
static p11e_rc cmp_open_in(const json_object *conf, p11e_store *store, void **state, p11e_err *err)
{
	cmp *c = calloc(1, sizeof(*c));
	p11e_rc rc;

	*state = NULL;
	if (c == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	c->conf = json_object_get((json_object *)conf);
	if ((rc = open_conf(c, store, err)) != P11E_OK) {
		cmp_close(c);
		return rc;
	}
	*state = c;
	return P11E_OK;
}

static p11e_rc cmp_open(const json_object *conf, void **state, p11e_err *err)
{
	return cmp_open_in(conf, NULL, state, err);
}

static p11e_rc cmp_set_requester(void *state, EVP_PKEY *key, const char *identity, p11e_err *err)
{
	cmp *c = state;

	(void)identity, (void)err;
	c->key = key;
	return P11E_OK;
}

static p11e_rc cmp_set_renewal(void *state, const p11e_ca_renewal *renewal, p11e_err *err)
{
	cmp *c = state;

	(void)err;
	c->old_cert = renewal ? renewal->old_cert : NULL;
	c->old_key = renewal ? renewal->old_key : NULL;
	return P11E_OK;
}

static void forget_keys(cmp *c)
{
	c->key = NULL;
	c->old_cert = NULL;
	c->old_key = NULL;
}

static void set_request_id(p11e_ca_result *out, const char *request_key)
{
	snprintf(out->request_id, sizeof(out->request_id), "cmp:%s", request_key);
}

/* A transaction confirmed before: its certificate from the document. */
static p11e_rc from_doc(const cmp_doc *d, p11e_ca_result *out, p11e_err *err)
{
	out->cert = p11e_x509_from_pem(d->cert_pem);
	out->chain = d->chain_pem ? p11e_chain_from_pem(d->chain_pem) : sk_X509_new_null();
	if (out->cert == NULL || out->chain == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "ca cmp: transaction %s's certificate cannot be read back",
				 d->txid);
	out->state = P11E_CA_STATE_ISSUED;
	return P11E_OK;
}

static p11e_rc new_doc(cmp *c, const char *request_key, X509_REQ *csr, cmp_doc *d, p11e_err *err)
{
	unsigned char tid[16];
	p11e_rc rc;

	memset(d, 0, sizeof(*d));
	if (RAND_bytes(tid, sizeof(tid)) != 1)
		return p11e_errf_ssl(err, P11E_FAIL, "ca cmp: no random bytes");
	p11e_hex_encode(tid, sizeof(tid), d->txid);
	/* A renewal is a kur where the old certificate and its key are at hand
	 * (the key still on the token) and the CA's answers can be checked
	 * without the MAC secret: a kur is signed with the old key, and OpenSSL
	 * protects by MAC whenever it has a secret, so the secret is not given
	 * to it then. Else an ordinary request. */
	if (c->old_cert != NULL && c->old_key != NULL &&
	    (c->srv_cert != NULL || c->trusted != NULL))
		d->req_type = OSSL_CMP_KUR;
	else
		d->req_type = c->p10cr ? OSSL_CMP_P10CR : OSSL_CMP_IR;
	if ((d->csr_pem = p11e_csr_to_pem(csr)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* Before anything leaves: a rerun finds the transaction and goes on
	 * with it. */
	if ((rc = cmp_doc_save(c, request_key, d, err)) != P11E_OK)
		return rc;
	pipe_crash_point("cmp-saved");
	return P11E_OK;
}

static p11e_rc cmp_submit(void *state, X509_REQ *csr, const p11e_profile *profile,
			  const char *request_key, p11e_ca_result *out, p11e_err *err)
{
	cmp *c = state;
	cmp_doc d;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	set_request_id(out, request_key);
	rc = cmp_doc_load(c, request_key, &d, err);
	if (rc == P11E_NOT_FOUND)
		rc = new_doc(c, request_key, csr, &d, err);
	if (rc == P11E_OK)
		rc = d.confirmed ? from_doc(&d, out, err)
				 : cmp_certreq(c, request_key, csr, &d, out, err);
	if (rc != P11E_OK) {
		p11e_ca_result_clear(out);
		set_request_id(out, request_key);
	}
	cmp_doc_clear(&d);
	forget_keys(c);
	return rc;
}

static p11e_rc cmp_poll(void *state, const char *request_id, const p11e_profile *profile,
			p11e_ca_result *out, p11e_err *err)
{
	cmp *c = state;
	const char *key = strncmp(request_id, "cmp:", 4) == 0 ? request_id + 4 : NULL;
	X509_REQ *csr = NULL;
	cmp_doc d = {0};
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	if (key == NULL || strlen(key) != 64 || strspn(key, "0123456789abcdef") != 64) {
		rc = p11e_errf(err, P11E_FAIL,
			       "ca cmp: request id '%.80s' is not one of ours; remove the "
			       "identity's record to start over",
			       request_id);
		goto out;
	}
	set_request_id(out, key);
	rc = cmp_doc_load(c, key, &d, err);
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(err, P11E_FAIL,
			       "ca cmp: no transaction is kept for request %.80s (the CA rejected "
			       "it, or the store lost it); run enroll again to make a new request",
			       request_id);
	if (rc != P11E_OK)
		goto out;
	if (d.confirmed) {
		rc = from_doc(&d, out, err);
		goto out;
	}
	if ((csr = p11e_csr_from_pem(d.csr_pem)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "ca cmp: transaction %s's CSR cannot be read back",
			       d.txid);
		goto out;
	}
	rc = cmp_certreq(c, key, csr, &d, out, err);
out:
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	X509_REQ_free(csr);
	cmp_doc_clear(&d);
	forget_keys(c);
	return rc;
}

static p11e_rc cmp_chain(void *state, STACK_OF(X509) * *out, p11e_err *err)
{
	cmp *c = state;

	*out = NULL;
	if (c->chain == NULL)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "ca cmp: CMP has no \"get the CA chain\" without a transaction; "
				 "the chain comes with each certificate (or set \"trusted_file\")");
	if ((*out = X509_chain_up_ref(c->chain)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	return P11E_OK;
}

static p11e_rc cmp_revoke(void *state, const char *serial, X509 *cert, int reason, int *already,
			  p11e_err *err)
{
	cmp *c = state;
	char have[80];

	*already = 0;
	if (cert == NULL)
		return p11e_errf(
		    err, P11E_USAGE,
		    "ca cmp: an rr names the certificate by its issuer and serial: "
		    "revoke it through its identity (the record holds the certificate)");
	if (p11e_cert_serial("certificate", cert, have, sizeof(have), err) != P11E_OK)
		return P11E_USAGE;
	if (serial != NULL && strcmp(serial, have) != 0)
		return p11e_errf(err, P11E_USAGE, "ca cmp: serial %s is not the certificate's (%s)",
				 serial, have);
	return cmp_revoke_cert(c, cert, reason, already, err);
}

const p11e_ca_ops p11e_ca_cmp_ops = {
    .type = "cmp",
    .open = cmp_open,
    .open_in = cmp_open_in,
    .submit = cmp_submit,
    .poll = cmp_poll,
    .chain = cmp_chain,
    .close = cmp_close,
    .set_requester = cmp_set_requester,
    .config_keys = known_keys,
    .revoke = cmp_revoke,
    .set_renewal = cmp_set_renewal,
};
