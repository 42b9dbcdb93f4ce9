/* DigiCert CertCentral reissues, for `p11enroll renew`: the certificate of
 * the order being renewed is reissued for the new CSR instead of a new
 * order being placed (a reissue is free for the order's life):
 *
 *   GET  {url}/order/certificate/{ORDER}            the order must be issued
 *   GET  {url}/order/certificate/{ORDER}/reissue    a reissue with this CSR already?
 *   POST {url}/order/certificate/{ORDER}/reissue    {"certificate": {"csr": PEM}}:
 *        {"id": ORDER, "requests": [...]}, with "certificate_chain" when issued at once
 *
 * The request id is "ORDER:reissue:KEY": polls find the reissue in the
 * order's list by its CSR (KEY is the SHA-256 of the CSR's DER), never by
 * the order's certificate, which is the old one until the reissue is
 * issued; a listed reissue that is the certificate being renewed (the same
 * CSR again, for a reused RSA key) is never ours. The POST
 * is never resent blind: after a failed transfer or a 5xx, the list is
 * looked at first, as orders are searched before ordering again.
 *
 * An order that is not issued (expired, revoked, rejected...) cannot be
 * reissued. Then no new order is placed: a new order is paid for, and an
 * order revoked may have been revoked for a reason someone must see. The
 * error says so; `p11enroll enroll` places a new order. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include "ca/ca_digicert.h"
#include "p11enroll/csr.h"
#include "p11enroll/peer.h"
#include "p11enroll/util.h"

#define REISSUE_TAG ":reissue:"

int digicert_reissue_id_make(int64_t order_id, const char *request_key, char *out, size_t out_len)
{
	int n = snprintf(out, out_len, "%" PRId64 REISSUE_TAG "%s", order_id, request_key);

	return n > 0 && (size_t)n < out_len ? 0 : -1;
}

int64_t digicert_request_order(const char *request_id)
{
	char digits[20];
	size_t n = request_id ? strspn(request_id, "0123456789") : 0;

	if (n == 0 || n >= sizeof(digits) || (request_id[n] != '\0' && request_id[n] != ':'))
		return 0;
	memcpy(digits, request_id, n);
	digits[n] = '\0';
	return digicert_is_id(digits) ? strtoll(digits, NULL, 10) : 0;
}

int digicert_reissue_id_parse(const char *request_id, int64_t *order_id, char *key, size_t key_len)
{
	const char *tag = request_id ? strstr(request_id, REISSUE_TAG) : NULL;
	const char *k = tag ? tag + strlen(REISSUE_TAG) : NULL;
	size_t n = k ? strspn(k, "0123456789abcdefABCDEF") : 0;

	*order_id = digicert_request_order(request_id);
	if (*order_id == 0 || tag == NULL || tag != request_id + strspn(request_id, "0123456789") ||
	    n != 64 || k[n] != '\0' || n >= key_len)
		return 0;
	memcpy(key, k, n + 1);
	return 1;
}

/* The reissue DigiCert lists for key: *found 0 when none. A list the API
 * refuses (4xx) has none; a CA that fails (5xx, down) is an error, so that
 * no second reissue is asked for blind. */
static p11e_rc find_reissue(const digicert *d, const char *devkey, int64_t order_id,
			    const char *key, int *found, int64_t *cert_id, char *status,
			    size_t status_len, p11e_err *err)
{
	char path[96];
	digicert_exchange x;
	p11e_rc rc;

	*found = 0;
	snprintf(path, sizeof(path), "/order/certificate/%" PRId64 "/reissue", order_id);
	rc = digicert_api(d, devkey, "GET", path, NULL, 0, &x, err);
	if (rc == P11E_OK)
		rc = digicert_common_status(&x, "reissue list", err);
	if (rc == P11E_OK && x.resp.status / 100 == 2) {
		int r = digicert_parse_reissues(x.resp.body, x.resp.body_len, key, d->renew_serial,
						cert_id, status, status_len);
		if (r < 0)
			rc = p11e_errf(err, P11E_FAIL,
				       "ca digicert: the reissues of order %" PRId64
				       " are not a list of certificates; rerun later",
				       order_id);
		*found = r == 1;
	}
	digicert_exchange_free(&x);
	return rc;
}

/* What a listed reissue's status means for out. */
static p11e_rc listed_state(const digicert *d, const char *devkey, int64_t order_id,
			    int64_t cert_id, const char *status, p11e_ca_result *out, p11e_err *err)
{
	digicert_exchange none = {0};

	if (strcmp(status, "issued") == 0) {
		if (cert_id <= 0)
			return p11e_errf(err, P11E_FAIL,
					 "ca digicert: the reissue of order %" PRId64
					 " is issued but names no certificate id",
					 order_id);
		return digicert_download(d, devkey, cert_id, out, err);
	}
	if (digicert_final_refusal(status)) {
		out->state = P11E_CA_STATE_REJECTED;
		snprintf(out->reason, sizeof(out->reason),
			 "DigiCert %s the reissue of order %" PRId64, status, order_id);
		return P11E_OK;
	}
	digicert_set_pending(d, &none, out);
	return P11E_OK;
}

p11e_rc digicert_reissue_state(const digicert *d, const char *devkey, int64_t order_id,
			       const char *key, p11e_ca_result *out, p11e_err *err)
{
	char status[32];
	int64_t cert_id = 0;
	int found = 0;
	p11e_rc rc;

	if (digicert_reissue_id_make(order_id, key, out->request_id, sizeof(out->request_id)) != 0)
		return p11e_errf(err, P11E_FAIL, "ca digicert: request id too long");
	rc = find_reissue(d, devkey, order_id, key, &found, &cert_id, status, sizeof(status), err);
	if (rc == P11E_OK && !found)
		rc = p11e_errf(err, P11E_FAIL,
			       "ca digicert: DigiCert lists no reissue of order %" PRId64
			       " for this request; was the reissue canceled in CertCentral?",
			       order_id);
	if (rc == P11E_OK)
		rc = listed_state(d, devkey, order_id, cert_id, status, out, err);
	return rc;
}

/* The order being renewed must be issued: DigiCert reissues only that. */
static p11e_rc check_order(const digicert *d, const char *devkey, int64_t order_id, p11e_err *err)
{
	char path[64], reason[300];
	digicert_order_doc doc = {0};
	digicert_exchange x;
	p11e_rc rc;

	snprintf(path, sizeof(path), "/order/certificate/%" PRId64, order_id);
	rc = digicert_api(d, devkey, "GET", path, NULL, 0, &x, err);
	if (rc == P11E_OK)
		rc = digicert_common_status(&x, "the order to reissue", err);
	if (rc != P11E_OK)
		goto out;
	if (x.resp.status == 404) {
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "ca digicert: order %" PRId64 ", to be reissued, is unknown to "
			       "DigiCert (HTTP 404); is it the account the API key belongs to?",
			       order_id);
	} else if (x.resp.status / 100 != 2 ||
		   digicert_parse_order(x.resp.body, x.resp.body_len, NULL, &doc) != 0) {
		digicert_api_reason(&x, reason, sizeof(reason));
		rc = p11e_errf(err, P11E_FAIL, "ca digicert: order %" PRId64 ": %s", order_id,
			       reason);
	} else if (strcmp(doc.status, "issued") != 0 &&
		   strcmp(doc.status, "reissue_pending") != 0) {
		rc = p11e_errf(err, P11E_CA_REJECTED,
			       "ca digicert: order %" PRId64 " is %s: DigiCert reissues only an "
			       "issued order's certificate, and no new (paid) order was placed; "
			       "order one with p11enroll enroll",
			       order_id, doc.status);
	}
out:
	digicert_order_doc_clear(&doc);
	digicert_exchange_free(&x);
	return rc;
}

/* The POST's answer: 2xx names our order (and may carry the certificate),
 * 4xx is DigiCert's refusal in its words. */
static p11e_rc posted(const digicert *d, const char *devkey, int64_t order_id,
		      const digicert_exchange *x, p11e_ca_result *out, p11e_err *err)
{
	char reason[200], *chain_pem = NULL;
	int64_t id = 0;
	p11e_rc rc = P11E_OK;

	if (x->resp.status / 100 != 2) {
		digicert_api_reason(x, reason, sizeof(reason));
		out->state = P11E_CA_STATE_REJECTED;
		snprintf(out->reason, sizeof(out->reason), "DigiCert refused the reissue (%s)",
			 reason);
		return P11E_OK;
	}
	if (digicert_parse_new_order(x->resp.body, x->resp.body_len, &id, &chain_pem) != 0 ||
	    id != order_id) {
		rc = p11e_errf(err, P11E_FAIL,
			       "ca digicert: the reissue was taken (HTTP %ld) but the answer names "
			       "another order than %" PRId64 " or none; rerun later",
			       x->resp.status, order_id);
	} else if (chain_pem != NULL && strstr(chain_pem, "-----BEGIN") != NULL) {
		rc = digicert_take_pem(chain_pem, "the reissue's certificate_chain", out, err);
	} else {
		digicert_set_pending(d, x, out);
	}
	free(chain_pem);
	return rc;
}

p11e_rc digicert_reissue(const digicert *d, const char *devkey, X509_REQ *csr, p11e_ca_result *out,
			 p11e_err *err)
{
	int64_t order_id = d->renew_order, cert_id = 0;
	json_object *body = NULL, *cert;
	char path[96], status[32], request_key[65], *csr_pem = p11e_csr_to_pem(csr);
	unsigned char *der = NULL, md[32];
	unsigned int md_len = 0;
	int der_len = i2d_X509_REQ(csr, &der);
	digicert_exchange x = {0};
	int found = 0;
	p11e_rc rc;

	/* The pipeline's request key tells generations apart; DigiCert's list
	 * knows only the CSR. */
	if (csr_pem == NULL || der_len <= 0 ||
	    EVP_Digest(der, (size_t)der_len, md, &md_len, EVP_sha256(), NULL) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca digicert: cannot encode the CSR");
		goto out;
	}
	p11e_hex_encode(md, sizeof(md), request_key);
	if (digicert_reissue_id_make(order_id, request_key, out->request_id,
				     sizeof(out->request_id)) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "ca digicert: request id too long");
		goto out;
	}
	if ((rc = check_order(d, devkey, order_id, err)) != P11E_OK)
		goto out;
	snprintf(path, sizeof(path), "/order/certificate/%" PRId64 "/reissue", order_id);
	for (int attempt = 0;; attempt++) {
		rc = find_reissue(d, devkey, order_id, request_key, &found, &cert_id, status,
				  sizeof(status), err);
		if (rc != P11E_OK)
			goto out;
		if (found) {
			rc = listed_state(d, devkey, order_id, cert_id, status, out, err);
			goto out;
		}
		if (body == NULL) {
			body = json_object_new_object();
			cert = json_object_new_object();
			json_object_object_add(cert, "csr", json_object_new_string(csr_pem));
			json_object_object_add(body, "certificate", cert);
			if (d->opts.skip_approval == 1)
				json_object_object_add(body, "skip_approval",
						       json_object_new_boolean(1));
		}
		digicert_exchange_free(&x);
		rc = digicert_api(d, devkey, "POST", path, json_object_to_json_string(body), 1, &x,
				  err);
		if (rc == P11E_OK &&
		    (x.resp.status / 100 == 2 || (x.resp.status < 500 && x.resp.status != 401 &&
						  x.resp.status != 403 && x.resp.status != 429))) {
			rc = posted(d, devkey, order_id, &x, out, err);
			goto out;
		}
		if (rc == P11E_OK && x.resp.status < 500)
			break; /* the key's problem, or a rate limit */
		/* Down, slow, or failing: DigiCert may have the reissue or not. */
		if (attempt >= (d->http.retries < 0 ? 0 : d->http.retries))
			break;
		digicert_pause_before(attempt);
	}
	if (rc == P11E_OK)
		rc = digicert_common_status(&x, "reissue", err);
out:
	json_object_put(body);
	digicert_exchange_free(&x);
	OPENSSL_free(der);
	free(csr_pem);
	return rc;
}

/* A renewal reissues the old order's certificate when the old request id
 * names a DigiCert order; without one (the certificate came from another
 * CA) it is a new order. */
p11e_rc digicert_set_renewal(void *state, const p11e_ca_renewal *renewal, p11e_err *err)
{
	digicert *d = state;

	(void)err;
	const ASN1_INTEGER *sn =
	    renewal && renewal->old_cert ? X509_get0_serialNumber(renewal->old_cert) : NULL;
	BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	d->renew_order = renewal ? digicert_request_order(renewal->old_request_id) : 0;
	d->renew_serial[0] = '\0';
	if (hex == NULL || p11e_serial_canonical("serial", hex, d->renew_serial,
						 sizeof(d->renew_serial), NULL) != P11E_OK)
		d->renew_serial[0] = '\0';
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return P11E_OK;
}
