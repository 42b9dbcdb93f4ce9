/* Small pieces of the scep backend: the transient self-signed certificate,
 * GetCertInitial's IssuerAndSubject, the request id, GetCACert's answer. */
#include <stdlib.h>
#include <string.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "ca/ca_scep.h"

X509 *scep_transient_cert(const X509_NAME *subject, EVP_PKEY *pub, EVP_PKEY *key, const EVP_MD *md)
{
	unsigned char serial[8];
	ASN1_INTEGER *sn = NULL;
	BIGNUM *bn = NULL;
	X509 *x = X509_new();
	int ok = 0;

	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	serial[0] |= 0x40; /* positive, 8 bytes */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	/* An hour back for clock skew; a day is plenty for one exchange. */
	ok = sn != NULL && X509_set_version(x, 2) == 1 && X509_set_serialNumber(x, sn) == 1 &&
	     X509_set_subject_name(x, subject) == 1 && X509_set_issuer_name(x, subject) == 1 &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
	     X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL &&
	     X509_set_pubkey(x, pub) == 1 && X509_sign(x, key, md) > 0;
out:
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

p11e_rc scep_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject,
				unsigned char **der, size_t *der_len, p11e_err *err)
{
	unsigned char *a = NULL, *b = NULL, *out;
	int la = i2d_X509_NAME(issuer, &a), lb = i2d_X509_NAME(subject, &b);
	size_t body, hdr, pos = 0;

	*der = NULL;
	if (la <= 0 || lb <= 0) {
		OPENSSL_free(a);
		OPENSSL_free(b);
		return p11e_errf_ssl(err, P11E_FAIL, "scep: cannot encode IssuerAndSubject");
	}
	body = (size_t)la + (size_t)lb;
	hdr = body < 0x80 ? 2 : body < 0x100 ? 3 : body < 0x10000 ? 4 : 5;
	out = malloc(hdr + body);
	if (out == NULL || body >= 0x1000000) {
		free(out);
		OPENSSL_free(a);
		OPENSSL_free(b);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	out[pos++] = 0x30; /* SEQUENCE */
	if (hdr > 2)
		out[pos++] = (unsigned char)(0x80 | (hdr - 2));
	for (size_t i = hdr - 2; i > 0 && hdr > 2; i--)
		out[pos++] = (unsigned char)(body >> (8 * (i - 1)));
	if (hdr == 2)
		out[pos++] = (unsigned char)body;
	memcpy(out + pos, a, (size_t)la);
	memcpy(out + pos + (size_t)la, b, (size_t)lb);
	OPENSSL_free(a);
	OPENSSL_free(b);
	*der = out;
	*der_len = hdr + body;
	return P11E_OK;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char renewal_suffix[] = ":renewal";

int scep_request_id_make(const char *transaction_id, const X509_NAME *subject, int renewal,
			 char *out, size_t out_len)
{
	unsigned char *der = NULL;
	int len = i2d_X509_NAME(subject, &der);
	size_t pos = strlen(transaction_id), need;
	unsigned v = 0;
	int bits = 0;

	need = pos + 1 + ((size_t)(len > 0 ? len : 0) * 4 + 2) / 3 + 1 +
	       (renewal ? sizeof(renewal_suffix) - 1 : 0);
	if (len <= 0 || need > out_len) {
		OPENSSL_free(der);
		return -1;
	}
	memcpy(out, transaction_id, pos);
	out[pos++] = ':';
	for (int i = 0; i < len; i++) {
		v = (v << 8) | der[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[pos++] = b64url[(v >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		out[pos++] = b64url[(v << (6 - bits)) & 0x3f];
	out[pos] = '\0';
	if (renewal)
		memcpy(out + pos, renewal_suffix, sizeof(renewal_suffix));
	OPENSSL_free(der);
	return 0;
}

int scep_request_id_parse(const char *request_id, char *transaction_id, size_t tid_len,
			  X509_NAME **subject, int *renewal)
{
	const char *colon = strchr(request_id, ':'), *s, *end;
	unsigned char *der;
	const unsigned char *p;
	size_t n = 0;
	unsigned v = 0;
	int bits = 0;

	*subject = NULL;
	*renewal = 0;
	if (colon == NULL || colon == request_id || (size_t)(colon - request_id) >= tid_len)
		return -1;
	end = colon + strlen(colon);
	if ((size_t)(end - colon) > sizeof(renewal_suffix) &&
	    strcmp(end - (sizeof(renewal_suffix) - 1), renewal_suffix) == 0) {
		end -= sizeof(renewal_suffix) - 1;
		*renewal = 1;
	}
	for (s = request_id; s < colon; s++)
		if (*s < 0x20 || *s > 0x7e)
			return -1;
	memcpy(transaction_id, request_id, (size_t)(colon - request_id));
	transaction_id[colon - request_id] = '\0';
	der = malloc(strlen(colon) * 3 / 4 + 1);
	if (der == NULL)
		return -1;
	for (s = colon + 1; s < end; s++) {
		const char *at = strchr(b64url, *s);

		if (*s == '\0' || at == NULL) {
			free(der);
			return -1;
		}
		v = (v << 6) | (unsigned)(at - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			der[n++] = (unsigned char)(v >> bits);
		}
	}
	p = der;
	*subject = d2i_X509_NAME(NULL, &p, (long)n);
	if (*subject != NULL && p != der + n) {
		X509_NAME_free(*subject);
		*subject = NULL;
	}
	free(der);
	return *subject ? 0 : -1;
}

STACK_OF(X509) * scep_parse_ca_certs(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	STACK_OF(X509) *certs = NULL;
	CMS_ContentInfo *cms;
	X509 *one = d2i_X509(NULL, &p, (long)len);

	if (one != NULL && p == der + len) {
		certs = sk_X509_new_null();
		if (certs == NULL || sk_X509_push(certs, one) == 0) {
			sk_X509_free(certs);
			X509_free(one);
			return NULL;
		}
		return certs;
	}
	X509_free(one);
	p = der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms != NULL && OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed)
		certs = CMS_get1_certs(cms);
	CMS_ContentInfo_free(cms);
	if (certs != NULL && sk_X509_num(certs) == 0) {
		sk_X509_free(certs);
		certs = NULL;
	}
	return certs;
}

int scep_use_renewal(const scep *s)
{
	int use;

	if (s->old_cert == NULL || s->old_key == NULL || !s->renewal || s->issuer == NULL)
		return 0;
	/* A certificate from another CA (the CA was changed) is renewed by a
	 * first request to this one: it could not check the old signature. */
	use = EVP_PKEY_get_base_id(s->old_key) == EVP_PKEY_RSA &&
	      X509_check_issued(s->issuer, s->old_cert) == X509_V_OK &&
	      EVP_PKEY_eq(X509_get0_pubkey(s->old_cert), s->old_key) == 1;
	ERR_clear_error();
	return use;
}

p11e_rc scep_request_signer(const scep *s, scep_request *req, int renewal, const X509_NAME *subject,
			    EVP_PKEY *pub, X509 **transient, p11e_err *err)
{
	*transient = NULL;
	if (renewal) {
		req->key = s->old_key;
		req->signer = s->old_cert;
		return P11E_OK;
	}
	req->key = s->key;
	req->signer = *transient = scep_transient_cert(subject, pub, s->key, EVP_sha256());
	if (*transient == NULL)
		return p11e_errf_ssl(err, P11E_FAIL,
				     "ca scep: cannot make the signing certificate");
	return P11E_OK;
}
