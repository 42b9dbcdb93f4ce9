/* SCEP's pkiMessage (RFC 8894 3): a CMS SignedData whose signed attributes
 * carry messageType, transactionID and the nonces, around an EnvelopedData
 * holding the request (or, in a CertRep, the certificates). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include "ca/ca_scep.h"
#include "p11enroll/peer.h"

/* SCEP's attributes (RFC 8894 3.2.1), by OID: never registered as NIDs, so
 * the library adds nothing to OpenSSL's global object table. */
#define OID_MESSAGE_TYPE "2.16.840.1.113733.1.9.2"
#define OID_PKI_STATUS "2.16.840.1.113733.1.9.3"
#define OID_FAIL_INFO "2.16.840.1.113733.1.9.4"
#define OID_SENDER_NONCE "2.16.840.1.113733.1.9.5"
#define OID_RECIPIENT_NONCE "2.16.840.1.113733.1.9.6"
#define OID_TRANSACTION_ID "2.16.840.1.113733.1.9.7"
#define OID_FAIL_INFO_TEXT "1.3.6.1.5.5.7.24.1"

/* len is the data's length: never -1, which would take data for an ASN1 object. */
static int add_attr(CMS_SignerInfo *si, const char *oid, int type, const void *data, int len)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	int ok = o != NULL && CMS_signed_add1_attr_by_OBJ(si, o, type, data, len) == 1;

	ASN1_OBJECT_free(o);
	return ok;
}

static p11e_rc to_der(CMS_ContentInfo *cms, unsigned char **der, size_t *der_len, p11e_err *err)
{
	unsigned char *p = NULL;
	int n = i2d_CMS_ContentInfo(cms, &p);

	if (n <= 0)
		return p11e_errf_ssl(err, P11E_FAIL, "scep: cannot encode a message");
	*der = malloc((size_t)n);
	if (*der == NULL) {
		OPENSSL_free(p);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	memcpy(*der, p, (size_t)n);
	*der_len = (size_t)n;
	OPENSSL_free(p);
	return P11E_OK;
}

p11e_rc scep_request_encode(scep_request *req, unsigned char **der, size_t *der_len, p11e_err *err)
{
	STACK_OF(X509) *rcpt = sk_X509_new_null();
	CMS_ContentInfo *env = NULL, *sd = NULL;
	CMS_SignerInfo *si;
	unsigned char *env_der = NULL;
	size_t env_len = 0;
	BIO *in = NULL;
	p11e_rc rc = P11E_FAIL;

	*der = NULL;
	*der_len = 0;
	ERR_clear_error();
	if (rcpt == NULL || sk_X509_push(rcpt, req->recipient) == 0) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if (RAND_bytes(req->nonce, SCEP_NONCE_LEN) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "scep: no random nonce");
		goto out;
	}
	/* pkcsPKIEnvelope: the request, readable by the CA alone. */
	in = BIO_new_mem_buf(req->content, (int)req->content_len);
	if (in == NULL || (env = CMS_encrypt(rcpt, in, req->cipher, CMS_BINARY)) == NULL) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "scep: cannot encrypt the request to the CA");
		goto out;
	}
	if ((rc = to_der(env, &env_der, &env_len, err)) != P11E_OK)
		goto out;
	BIO_free(in);
	in = NULL;
	/* The SignedData around it, signed by the requester's key. */
	rc = P11E_FAIL;
	sd = CMS_sign(NULL, NULL, NULL, NULL, CMS_PARTIAL | CMS_BINARY);
	si = sd ? CMS_add1_signer(sd, req->signer, req->key, req->md,
				  CMS_BINARY | CMS_NOSMIMECAP | CMS_PARTIAL)
		: NULL;
	if (si == NULL ||
	    !add_attr(si, OID_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING, req->message_type,
		      (int)strlen(req->message_type)) ||
	    !add_attr(si, OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING, req->transaction_id,
		      (int)strlen(req->transaction_id)) ||
	    !add_attr(si, OID_SENDER_NONCE, V_ASN1_OCTET_STRING, req->nonce, SCEP_NONCE_LEN)) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "scep: cannot build the signed message");
		goto out;
	}
	in = BIO_new_mem_buf(env_der, (int)env_len);
	if (in == NULL || CMS_final(sd, in, NULL, CMS_BINARY) != 1) {
		rc =
		    p11e_errf_ssl(err, P11E_FAIL, "scep: the token key could not sign the request");
		goto out;
	}
	rc = to_der(sd, der, der_len, err);
out:
	BIO_free(in);
	free(env_der);
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(sd);
	sk_X509_free(rcpt);
	return rc;
}

void scep_reply_clear(scep_reply *r)
{
	sk_X509_pop_free(r->certs, X509_free);
	memset(r, 0, sizeof(*r));
}

/* The attribute's single value as a string (PrintableString, UTF8String,
 * OCTET STRING...), or NULL when the signer left it out. */
static const ASN1_STRING *attr_value(CMS_SignerInfo *si, const char *oid)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	int idx = o ? CMS_signed_get_attr_by_OBJ(si, o, -1) : -1;
	X509_ATTRIBUTE *a = idx >= 0 ? CMS_signed_get_attr(si, idx) : NULL;
	ASN1_TYPE *t = a && X509_ATTRIBUTE_count(a) == 1 ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;

	ASN1_OBJECT_free(o);
	if (t == NULL || t->type == V_ASN1_BOOLEAN || t->type == V_ASN1_NULL ||
	    t->type == V_ASN1_OBJECT || t->type == V_ASN1_SEQUENCE || t->type == V_ASN1_SET)
		return NULL;
	return t->value.asn1_string;
}

static int attr_equals(CMS_SignerInfo *si, const char *oid, const void *v, size_t len)
{
	const ASN1_STRING *s = attr_value(si, oid);

	return s != NULL && (size_t)ASN1_STRING_length(s) == len &&
	       memcmp(ASN1_STRING_get0_data(s), v, len) == 0;
}

/* A short decimal string attribute ("0".."4"), or -1. */
static int attr_number(CMS_SignerInfo *si, const char *oid)
{
	const ASN1_STRING *s = attr_value(si, oid);
	const unsigned char *p;
	int len, v = 0;

	if (s == NULL || (len = ASN1_STRING_length(s)) < 1 || len > 3)
		return -1;
	p = ASN1_STRING_get0_data(s);
	for (int i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* The context the CA's answer is opened in: OpenSSL's default provider and
 * its legacy one, for CAs that encrypt their answer with single DES (as
 * scepserver does). The answer holds certificates, which are public: the
 * cipher only has to be readable. Requests are never sent with these ciphers.
 * NULL (the default context) if the legacy provider cannot be loaded. */
static OSSL_LIB_CTX *reply_ctx;
static CRYPTO_ONCE reply_once = CRYPTO_ONCE_STATIC_INIT;

static void make_reply_ctx(void)
{
	OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();

	if (c != NULL && OSSL_PROVIDER_load(c, "default") != NULL &&
	    OSSL_PROVIDER_load(c, "legacy") != NULL) {
		reply_ctx = c;
		return;
	}
	OSSL_LIB_CTX_free(c);
	ERR_clear_error();
}

/* SUCCESS: the envelope, for our key; inside, a certs-only SignedData. */
static p11e_rc open_envelope(const scep_request *req, BIO *content, scep_reply *out, p11e_err *err)
{
	const unsigned char *p;
	unsigned char *data = NULL;
	long len = BIO_get_mem_data(content, &data);
	CMS_ContentInfo *env = NULL, *deg = NULL;
	BIO *plain = BIO_new(BIO_s_mem());
	p11e_rc rc = P11E_FAIL;

	if (plain == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	p = data;
	CRYPTO_THREAD_run_once(&reply_once, make_reply_ctx);
	if (reply_ctx != NULL && (env = CMS_ContentInfo_new_ex(reply_ctx, NULL)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if (len <= 0 || d2i_CMS_ContentInfo(&env, &p, len) == NULL ||
	    OBJ_obj2nid(CMS_get0_type(env)) != NID_pkcs7_enveloped) {
		rc = p11e_errf_ssl(err, P11E_FAIL,
				   "scep: the CA's success answer holds no envelope");
		goto out;
	}
	if (CMS_decrypt(env, req->key, req->signer, NULL, plain, CMS_BINARY) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL,
				   "scep: cannot open the CA's answer with the token key (SCEP "
				   "encrypts it to the key being certified, which must be an RSA "
				   "key allowed to decrypt)");
		goto out;
	}
	len = BIO_get_mem_data(plain, &data);
	p = data;
	deg = len > 0 ? d2i_CMS_ContentInfo(NULL, &p, len) : NULL;
	if (deg == NULL || (out->certs = CMS_get1_certs(deg)) == NULL ||
	    sk_X509_num(out->certs) == 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "scep: the CA's answer holds no certificate");
		goto out;
	}
	rc = P11E_OK;
out:
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(deg);
	BIO_free(plain);
	return rc;
}

p11e_rc scep_reply_decode(const scep_request *req, const unsigned char *der, size_t der_len,
			  STACK_OF(X509) * ca_certs, scep_reply *out, p11e_err *err)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) * sis;
	CMS_SignerInfo *si;
	ASN1_OCTET_STRING **econtent;
	BIO *content = BIO_new(BIO_s_mem()), *empty = NULL;
	const ASN1_STRING *text;
	int status;
	p11e_rc rc = P11E_FAIL;

	memset(out, 0, sizeof(*out));
	out->fail_info = -1;
	ERR_clear_error();
	if (content == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
	if (cms == NULL || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    (sis = CMS_get0_SignerInfos(cms)) == NULL || sk_CMS_SignerInfo_num(sis) != 1) {
		rc = p11e_errf(err, P11E_FAIL,
			       "scep: the CA's answer is not a SCEP message (CMS SignedData with "
			       "one signer)");
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	/* A FAILURE or PENDING answer may carry no content at all. */
	econtent = CMS_get0_content(cms);
	if (econtent == NULL || *econtent == NULL)
		empty = BIO_new_mem_buf("", 0);
	/* Only the CA's own certificates (GetCACert) may sign: NOINTERN ignores
	 * any certificate the message brings along. */
	if (CMS_verify(cms, ca_certs, NULL, empty, content,
		       CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL,
				   "scep: the CA's answer is not signed by the CA from GetCACert");
		goto out;
	}
	if (!attr_equals(si, OID_MESSAGE_TYPE, SCEP_CERTREP, strlen(SCEP_CERTREP))) {
		rc = p11e_errf(err, P11E_FAIL, "scep: the CA's answer is not a CertRep");
		goto out;
	}
	if (!attr_equals(si, OID_TRANSACTION_ID, req->transaction_id,
			 strlen(req->transaction_id))) {
		rc = p11e_errf(err, P11E_FAIL, "scep: the CA answered another transaction than %s",
			       req->transaction_id);
		goto out;
	}
	if (!attr_equals(si, OID_RECIPIENT_NONCE, req->nonce, SCEP_NONCE_LEN)) {
		rc =
		    p11e_errf(err, P11E_FAIL,
			      "scep: the CA's answer does not echo our nonce (a replayed answer?)");
		goto out;
	}
	status = attr_number(si, OID_PKI_STATUS);
	switch (status) {
	case SCEP_SUCCESS:
		out->status = SCEP_SUCCESS;
		rc = open_envelope(req, content, out, err);
		break;
	case SCEP_PENDING:
		out->status = SCEP_PENDING;
		rc = P11E_OK;
		break;
	case SCEP_FAILURE:
		out->status = SCEP_FAILURE;
		out->fail_info = attr_number(si, OID_FAIL_INFO);
		text = attr_value(si, OID_FAIL_INFO_TEXT);
		if (text != NULL)
			snprintf(out->fail_text, sizeof(out->fail_text), "%.*s",
				 ASN1_STRING_length(text),
				 (const char *)ASN1_STRING_get0_data(text));
		p11e_peer_clean(out->fail_text);
		rc = P11E_OK;
		break;
	default:
		rc = p11e_errf(err, P11E_FAIL, "scep: the CA's answer has no valid pkiStatus");
	}
out:
	if (rc != P11E_OK)
		scep_reply_clear(out);
	CMS_ContentInfo_free(cms);
	BIO_free(content);
	BIO_free(empty);
	return rc;
}

const char *scep_fail_info_words(int fail_info)
{
	switch (fail_info) {
	case 0:
		return "badAlg (the CA does not support an algorithm in the request)";
	case 1:
		return "badMessageCheck (the CA could not verify the request's signature)";
	case 2:
		return "badRequest (the CA does not permit this request: a wrong or used "
		       "challenge password, or a subject it refuses)";
	case 3:
		return "badTime (the request's signing time is too far from the CA's clock)";
	case 4:
		return "badCertId (the CA found no certificate or request matching ours)";
	default:
		return "no failInfo given";
	}
}
