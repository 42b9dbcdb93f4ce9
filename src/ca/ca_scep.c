/* SCEP (RFC 8894): GetCACaps, GetCACert, then a PKCSReq (the CSR with the
 * challenge password, enveloped to the CA and signed with the token key
 * through a transient self-signed certificate) by PKIOperation, POST where
 * the CA offers it; a PENDING CertRep is polled with GetCertInitial.
 *
 *   { "type": "scep", "url": "https://scep.example.com/scep", "ca_bundle": "tls-ca.pem",
 *     "challenge_password_file": "scep-challenge", "ca_fingerprint": "AB:CD:..." }
 *
 * The transactionID is the pipeline's request key (hex SHA-256 of the CSR),
 * so a resent request is the same transaction. The request id is
 * "TRANSACTIONID:SUBJECT" (subject DER, base64url): with the key, all that
 * GetCertInitial needs after a restart. See ca_scep_msg.c for the messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include "ca/ca_scep.h"
#include "p11enroll/ca.h"
#include "p11enroll/conf.h"
#include "p11enroll/http.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"

#define DEFAULT_POLL_INTERVAL 300

static const char *const known_keys[] = {
    "type",
    "url",
    "ca_bundle",
    "timeout",
    "connect_timeout",
    "retries",
    "challenge_password_source",
    "challenge_password_file",
    "ca_fingerprint",
    "ca_identifier",
    "poll_interval",
    NULL,
};

/* Plain http only to this machine, as for every backend: SCEP's CMS hides
 * the challenge and the certificate, but over plain http GetCACert's answer
 * (the certificate the challenge is encrypted to) is not authenticated, and
 * the request shows who enrolls. */
static int url_ok(const char *url)
{
	const char *host = url + 7, *end;

	if (strncasecmp(url, "https://", 8) == 0)
		return 1;
	if (strncasecmp(url, "http://", 7) != 0)
		return 0;
	end = host + strcspn(host, ":/?");
	if (strncmp(host, "[::1]", 5) == 0)
		return host[5] == '\0' || host[5] == ':' || host[5] == '/';
	if ((size_t)(end - host) == 9 && strncasecmp(host, "localhost", 9) == 0)
		return 1;
	/* 127.0.0.0/8 as digits and dots: not a name like 127.example.com */
	if (strncmp(host, "127.", 4) != 0)
		return 0;
	for (const char *c = host; c < end; c++)
		if ((*c < '0' || *c > '9') && *c != '.')
			return 0;
	return 1;
}

/* Reads the challenge password, or NULL with P11E_OK when none is set. */
static p11e_rc read_challenge(const scep *s, char **out, p11e_err *err)
{
	p11e_err inner = {0};

	*out = NULL;
	if (s->challenge_source == NULL)
		return P11E_OK;
	if (p11e_secret_read(s->challenge_source, "SCEP challenge password", out, &inner) !=
	    P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "ca scep: challenge password: %s", inner.msg);
	return P11E_OK;
}

static p11e_rc open_conf(scep *s, const json_object *conf, p11e_err *err)
{
	const char *src = p11e_conf_string(conf, "challenge_password_source");
	const char *file = p11e_conf_string(conf, "challenge_password_file");
	const char *fp = p11e_conf_string(conf, "ca_fingerprint");
	json_object *v;
	char *probe = NULL;
	size_t len = 0;
	p11e_rc rc;

	if ((rc = p11e_conf_check_keys(conf, known_keys, "ca scep", err)) != P11E_OK)
		return rc;
	s->url = p11e_conf_string(conf, "url");
	if (s->url == NULL || strchr(s->url, '#') != NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "ca scep: \"url\" is required: the SCEP endpoint, like "
				 "https://ca.example.com/scep");
	if (!url_ok(s->url))
		return p11e_errf(err, P11E_CONFIG,
				 "ca scep: url %s: use https:// (plain http only to this machine: "
				 "it would not authenticate the CA certificate the challenge "
				 "password is encrypted to)",
				 s->url);
	s->ca_identifier = p11e_conf_string(conf, "ca_identifier");
	if (src != NULL && file != NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "ca scep: give challenge_password_source or "
				 "challenge_password_file, not both");
	if (src != NULL && strncmp(src, "env:", 4) != 0 && strncmp(src, "file:", 5) != 0)
		return p11e_errf(err, P11E_CONFIG,
				 "ca scep: \"challenge_password_source\" must be env:VAR or "
				 "file:PATH (never the password itself)");
	if (src != NULL)
		s->challenge_source = strdup(src);
	else if (file != NULL && (s->challenge_source = malloc(strlen(file) + 6)) != NULL)
		snprintf(s->challenge_source, strlen(file) + 6, "file:%s", file);
	if ((src != NULL || file != NULL) && s->challenge_source == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* Read once now, so a missing password stops enroll before a key is made. */
	if ((rc = read_challenge(s, &probe, err)) != P11E_OK)
		return rc;
	p11e_secret_free(probe, (size_t)-1);
	if (fp != NULL) {
		if (p11e_hex_decode(fp, s->pin, sizeof(s->pin), &len) != 0 || len != sizeof(s->pin))
			return p11e_errf(
			    err, P11E_CONFIG,
			    "ca scep: \"ca_fingerprint\" must be the SHA-256 of the CA "
			    "certificate in hex (openssl x509 -noout -fingerprint "
			    "-sha256)");
		s->pinned = 1;
	}
	s->poll_interval = DEFAULT_POLL_INTERVAL;
	if (json_object_object_get_ex(conf, "poll_interval", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
		    json_object_get_int64(v) > 86400)
			return p11e_errf(err, P11E_CONFIG,
					 "ca scep: \"poll_interval\" must be 1 to 86400 seconds");
		s->poll_interval = (int)json_object_get_int64(v);
	}
	return p11e_http_from_config(conf, "scep", &s->http, err);
}

static void scep_close(void *state)
{
	scep *s = state;

	if (s == NULL)
		return;
	sk_X509_pop_free(s->ca_certs, X509_free);
	free(s->challenge_source);
	json_object_put(s->conf);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

static p11e_rc scep_open(const json_object *conf, void **state, p11e_err *err)
{
	scep *s = calloc(1, sizeof(*s));
	p11e_rc rc;

	*state = NULL;
	if (s == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	s->conf = json_object_get((json_object *)conf);
	rc = open_conf(s, conf, err);
	if (rc != P11E_OK) {
		scep_close(s);
		return rc;
	}
	*state = s;
	return P11E_OK;
}

static p11e_rc scep_set_requester(void *state, EVP_PKEY *key, const char *identity, p11e_err *err)
{
	scep *s = state;

	s->key = key;
	if (key != NULL && EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "identity %s: SCEP needs an RSA key (the CA encrypts its answer "
				 "to the key being certified); enroll with --key rsa:2048",
				 identity ? identity : "?");
	return P11E_OK;
}

static p11e_rc scep_chain(void *state, STACK_OF(X509) * *out, p11e_err *err)
{
	scep *s = state;
	STACK_OF(X509) * rest;
	p11e_rc rc;

	*out = NULL;
	if ((rc = scep_fetch_ca(s, err)) != P11E_OK)
		return rc;
	rest = scep_chain_for(s, s->issuer);
	if (rest == NULL || !X509_up_ref(s->issuer) || sk_X509_unshift(rest, s->issuer) == 0) {
		sk_X509_pop_free(rest, X509_free);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	*out = rest;
	return P11E_OK;
}

/* One PKIOperation and what came of it; an issued certificate must be for
 * the public key want (the key being certified, whoever signed). */
static p11e_rc exchange(scep *s, scep_request *req, const EVP_PKEY *want, p11e_ca_result *out,
			p11e_err *err)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	char *b64 = NULL;
	p11e_http_resp resp = {0};
	scep_reply reply = {0};
	p11e_rc rc;

	req->md = EVP_sha256();
	req->cipher = s->aes ? EVP_aes_128_cbc() : EVP_des_ede3_cbc();
	req->recipient = s->recipient;
	rc = scep_request_encode(req, &der, &der_len, err);
	if (rc != P11E_OK)
		return rc;
	if (s->post) {
		rc = scep_call(s, "PKIOperation", NULL, der, der_len, 0, &resp, err);
	} else if ((b64 = malloc(4 * ((der_len + 2) / 3) + 1)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	} else {
		EVP_EncodeBlock((unsigned char *)b64, der, (int)der_len);
		rc = scep_call(s, "PKIOperation", b64, NULL, 0, 0, &resp, err);
	}
	if (rc == P11E_OK)
		rc = scep_reply_decode(req, (const unsigned char *)resp.body, resp.body_len,
				       s->ca_certs, &reply, err);
	if (rc != P11E_OK)
		goto out;
	switch (reply.status) {
	case SCEP_PENDING:
		out->state = P11E_CA_STATE_PENDING;
		out->retry_after = s->poll_interval;
		break;
	case SCEP_FAILURE:
		out->state = P11E_CA_STATE_REJECTED;
		snprintf(out->reason, sizeof(out->reason), "SCEP failInfo %s%s%s",
			 scep_fail_info_words(reply.fail_info), reply.fail_text[0] ? ": " : "",
			 reply.fail_text);
		break;
	case SCEP_SUCCESS:
		for (int i = 0; i < sk_X509_num(reply.certs) && out->cert == NULL; i++) {
			X509 *c = sk_X509_value(reply.certs, i);

			if (EVP_PKEY_eq(X509_get0_pubkey(c), want) == 1 && X509_up_ref(c))
				out->cert = c;
		}
		ERR_clear_error();
		if (out->cert == NULL) {
			rc = p11e_errf(err, P11E_FAIL,
				       "ca scep: the CA's answer holds no certificate for our key");
			goto out;
		}
		if ((out->chain = scep_chain_for(s, out->cert)) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		out->state = P11E_CA_STATE_ISSUED;
		break;
	}
out:
	scep_reply_clear(&reply);
	p11e_http_resp_free(&resp);
	free(b64);
	free(der);
	return rc;
}

/* The CSR as the CA gets it: with the challenge password, signed again by
 * the key. DER, malloc'd; wipe it with OPENSSL_clear_free. */
static p11e_rc inner_csr(const scep *s, X509_REQ *csr, unsigned char **der, int *len, p11e_err *err)
{
	X509_REQ *copy = NULL;
	char *pw = NULL;
	p11e_rc rc;

	*der = NULL;
	if ((rc = read_challenge(s, &pw, err)) != P11E_OK)
		return rc;
	if (pw == NULL) {
		*len = i2d_X509_REQ(csr, der);
	} else if ((copy = X509_REQ_dup(csr)) == NULL ||
		   X509_REQ_add1_attr_by_NID(copy, NID_pkcs9_challengePassword, MBSTRING_UTF8,
					     (const unsigned char *)pw, -1) != 1 ||
		   X509_REQ_sign(copy, s->key, EVP_sha256()) <= 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL,
				   "ca scep: cannot sign the request with its challenge password");
	} else {
		*len = i2d_X509_REQ(copy, der);
	}
	if (rc == P11E_OK && (*der == NULL || *len <= 0))
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca scep: cannot encode the request");
	p11e_secret_free(pw, (size_t)-1);
	X509_REQ_free(copy);
	return rc;
}

static p11e_rc need_key(const scep *s, p11e_err *err)
{
	if (s->key == NULL)
		return p11e_errf(
		    err, P11E_FAIL,
		    "ca scep: no requester key: SCEP signs with the key being certified");
	if (EVP_PKEY_get_base_id(s->key) != EVP_PKEY_RSA)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "ca scep: SCEP needs an RSA key; enroll with --key rsa:2048");
	return P11E_OK;
}

/* Signs req's content (scep_request_signer) and sends it; the certificate
 * issued must be for pub. */
static p11e_rc send_signed(scep *s, scep_request *req, int renewal, const X509_NAME *subject,
			   EVP_PKEY *pub, p11e_ca_result *out, p11e_err *err)
{
	X509 *transient = NULL;
	p11e_rc rc = scep_request_signer(s, req, renewal, subject, pub, &transient, err);

	if (rc == P11E_OK)
		rc = exchange(s, req, pub, out, err);
	X509_free(transient);
	req->signer = NULL;
	req->key = NULL;
	return rc;
}

/* What set_renewal gave is the caller's, for one submit or poll only. */
static void forget_keys(scep *s)
{
	s->key = NULL;
	s->old_cert = NULL;
	s->old_key = NULL;
}

static p11e_rc scep_submit(void *state, X509_REQ *csr, const p11e_profile *profile,
			   const char *request_key, p11e_ca_result *out, p11e_err *err)
{
	scep *s = state;
	scep_request req = {.message_type = SCEP_PKCSREQ, .transaction_id = request_key};
	const X509_NAME *subject = X509_REQ_get_subject_name(csr);
	unsigned char *inner = NULL;
	int inner_len = 0, renewal = 0;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	if ((rc = need_key(s, err)) != P11E_OK || (rc = scep_fetch_ca(s, err)) != P11E_OK)
		goto out;
	/* The same CSR is the same transaction: a RenewalReq resent after a
	 * crash stays one, as long as the old certificate is given again. */
	renewal = scep_use_renewal(s);
	if (renewal)
		req.message_type = SCEP_RENEWALREQ;
	if (scep_request_id_make(request_key, subject, renewal, out->request_id,
				 sizeof(out->request_id)) != 0) {
		rc = p11e_errf(err, P11E_USAGE,
			       "ca scep: the subject is too long to be polled for; shorten the "
			       "profile's subject or --name");
		goto out;
	}
	if ((rc = inner_csr(s, csr, &inner, &inner_len, err)) != P11E_OK)
		goto out;
	req.content = inner;
	req.content_len = (size_t)inner_len;
	rc = send_signed(s, &req, renewal, subject, X509_REQ_get0_pubkey(csr), out, err);
out:
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	OPENSSL_clear_free(inner, inner_len > 0 ? (size_t)inner_len : 0);
	forget_keys(s); /* the caller's, freed after this call */
	return rc;
}

static p11e_rc scep_poll(void *state, const char *request_id, const p11e_profile *profile,
			 p11e_ca_result *out, p11e_err *err)
{
	scep *s = state;
	scep_request req = {.message_type = SCEP_CERTPOLL};
	char tid[128];
	X509_NAME *subject = NULL;
	unsigned char *ias = NULL;
	size_t ias_len = 0;
	int renewal = 0;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	if (strlen(request_id) >= sizeof(out->request_id) ||
	    scep_request_id_parse(request_id, tid, sizeof(tid), &subject, &renewal) != 0) {
		rc = p11e_errf(err, P11E_FAIL,
			       "ca scep: request id '%.80s' is not one of ours; remove the "
			       "identity's record to start over",
			       request_id);
		goto out;
	}
	snprintf(out->request_id, sizeof(out->request_id), "%s", request_id);
	req.transaction_id = tid;
	if ((rc = need_key(s, err)) != P11E_OK || (rc = scep_fetch_ca(s, err)) != P11E_OK)
		goto out;
	/* The CA knows a RenewalReq's transaction by the old certificate's
	 * signature: its polls need that key, whatever the CA offers now. */
	if (renewal && (s->old_cert == NULL || s->old_key == NULL)) {
		rc = p11e_errf(
		    err, P11E_FAIL,
		    "ca scep: request %.40s... is a renewal (RenewalReq): its poll must "
		    "be signed with the renewed certificate's key, which is not at hand (no "
		    "longer on the token?); ask the CA's operator about this transaction",
		    tid);
		goto out;
	}
	rc =
	    scep_issuer_and_subject(X509_get_subject_name(s->issuer), subject, &ias, &ias_len, err);
	if (rc != P11E_OK)
		goto out;
	req.content = ias;
	req.content_len = ias_len;
	rc = send_signed(s, &req, renewal, subject, s->key, out, err);
out:
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	X509_NAME_free(subject);
	free(ias);
	forget_keys(s);
	return rc;
}

/* The certificate the next request renews and its key (both the
 * caller's): a RenewalReq where scep_use_renewal allows one. NULL: a first
 * request again. */
static p11e_rc scep_set_renewal(void *state, const p11e_ca_renewal *renewal, p11e_err *err)
{
	scep *s = state;

	(void)err;
	s->old_cert = renewal ? renewal->old_cert : NULL;
	s->old_key = renewal ? renewal->old_key : NULL;
	return P11E_OK;
}

const p11e_ca_ops p11e_ca_scep_ops = {
    .type = "scep",
    .open = scep_open,
    .submit = scep_submit,
    .poll = scep_poll,
    .chain = scep_chain,
    .close = scep_close,
    .set_requester = scep_set_requester,
    .config_keys = known_keys,
    .set_renewal = scep_set_renewal,
};
