/* SCEP renewal (RFC 8894 3.3.1.2) without a server: when a request is a
 * RenewalReq (the CA offers "Renewal", issued the old certificate, and its
 * key is given), that such a request is signed by the old certificate and
 * key (decoded back from the pkiMessage that is sent), that a first request
 * is still a PKCSReq signed through a self-signed certificate for the new
 * key, that the request id remembers a renewal for its polls, and that
 * such a poll without the old key stops before anything is sent. */
#include <stdlib.h>
#include <string.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "ca/ca_scep.h"
#include "p11enroll/ca.h"

static EVP_PKEY *rsa_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
}

/* A certificate for key named cn, signed by issuer_key as issuer (itself
 * when NULL). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
	X509_NAME_free(name);
	return x;
}

/* The messageType a pkiMessage carries, and its one signer's certificate
 * (from the message itself), which must have made the signature. */
static int decode(const unsigned char *der, size_t len, char *type, size_t type_len, X509 **signer)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	STACK_OF(CMS_SignerInfo) *sis = cms ? CMS_get0_SignerInfos(cms) : NULL;
	CMS_SignerInfo *si =
	    sis && sk_CMS_SignerInfo_num(sis) == 1 ? sk_CMS_SignerInfo_value(sis, 0) : NULL;
	ASN1_OBJECT *oid = OBJ_txt2obj("2.16.840.1.113733.1.9.2", 1);
	STACK_OF(X509) * signers;
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	int ok = 0, idx;

	*signer = NULL;
	if (si == NULL ||
	    CMS_verify(cms, NULL, NULL, NULL, NULL, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1)
		goto out;
	idx = CMS_signed_get_attr_by_OBJ(si, oid, -1);
	a = idx >= 0 ? CMS_signed_get_attr(si, idx) : NULL;
	t = a ? X509_ATTRIBUTE_get0_type(a, 0) : NULL;
	if (t == NULL || t->type != V_ASN1_PRINTABLESTRING)
		goto out;
	snprintf(type, type_len, "%.*s", t->value.asn1_string->length,
		 (const char *)t->value.asn1_string->data);
	signers = CMS_get0_signers(cms);
	if (signers != NULL && sk_X509_num(signers) == 1) {
		*signer = sk_X509_value(signers, 0);
		X509_up_ref(*signer);
		ok = 1;
	}
	sk_X509_free(signers);
out:
	ASN1_OBJECT_free(oid);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ok;
}

/* The pkiMessage sent for s (the renewal decision as ca_scep.c takes it). */
static int build(const scep *s, X509 *ca, EVP_PKEY *new_key, char *type, size_t type_len,
		 X509 **signer)
{
	X509_NAME *subject = X509_NAME_new();
	int renewal = scep_use_renewal(s);
	scep_request req = {
	    .message_type = renewal ? SCEP_RENEWALREQ : SCEP_PKCSREQ,
	    .transaction_id = "00ff",
	    .md = EVP_sha256(),
	    .recipient = ca,
	    .cipher = EVP_aes_128_cbc(),
	    .content = (const unsigned char *)"a CSR",
	    .content_len = 5,
	};
	X509 *transient = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	p11e_err err = {0};
	int ok = 0;

	X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)"new", -1,
				   -1, 0);
	if (scep_request_signer(s, &req, renewal, subject, new_key, &transient, &err) == P11E_OK &&
	    scep_request_encode(&req, &der, &len, &err) == P11E_OK)
		ok = decode(der, len, type, type_len, signer);
	if (!ok)
		fprintf(stderr, "build: %s\n", err.msg);
	free(der);
	X509_free(transient);
	X509_NAME_free(subject);
	return ok;
}

int main(void)
{
	EVP_PKEY *ca_key = rsa_key(), *other_ca_key = rsa_key(), *old_key = rsa_key(),
		 *new_key = rsa_key(), *ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca = make_cert("SCEP CA", ca_key, NULL, NULL, 1);
	X509 *other_ca = make_cert("Other CA", other_ca_key, NULL, NULL, 1);
	X509 *old_cert = make_cert("alice", old_key, ca, ca_key, 0);
	X509 *foreign_cert = make_cert("alice", old_key, other_ca, other_ca_key, 0);
	X509 *ec_cert = make_cert("alice", ec_key, ca, ca_key, 0);
	scep s = {
	    .renewal = 1, .issuer = ca, .key = new_key, .old_cert = old_cert, .old_key = old_key};
	X509 *signer = NULL;
	X509_NAME *subject = X509_NAME_new(), *back = NULL;
	char type[8] = "", tid[64], id[512];
	int renewal = -1;

	/* A RenewalReq: messageType 17, signed by the old certificate. */
	CHECK(scep_use_renewal(&s) == 1);
	CHECK(build(&s, ca, new_key, type, sizeof(type), &signer));
	CHECK(strcmp(type, SCEP_RENEWALREQ) == 0);
	CHECK(signer != NULL && X509_cmp(signer, old_cert) == 0);
	X509_free(signer);

	/* The same with the key kept (renew --reuse-key): still the old certificate. */
	s.key = old_key;
	CHECK(build(&s, ca, old_key, type, sizeof(type), &signer));
	CHECK(strcmp(type, SCEP_RENEWALREQ) == 0 && signer && X509_cmp(signer, old_cert) == 0);
	X509_free(signer);
	s.key = new_key;

	/* No "Renewal" in GetCACaps: a PKCSReq, self-signed with the new key. */
	s.renewal = 0;
	CHECK(scep_use_renewal(&s) == 0);
	CHECK(build(&s, ca, new_key, type, sizeof(type), &signer));
	CHECK(strcmp(type, SCEP_PKCSREQ) == 0);
	CHECK(signer != NULL && X509_cmp(signer, old_cert) != 0 &&
	      EVP_PKEY_eq(X509_get0_pubkey(signer), new_key) == 1 &&
	      X509_check_issued(signer, signer) == X509_V_OK);
	X509_free(signer);
	s.renewal = 1;

	/* No old key given, a certificate from another CA, a key that is not
	 * the certificate's, an EC key: a PKCSReq. */
	s.old_key = NULL;
	CHECK(scep_use_renewal(&s) == 0);
	s.old_key = old_key;
	s.old_cert = foreign_cert;
	CHECK(scep_use_renewal(&s) == 0);
	s.old_cert = old_cert;
	s.old_key = new_key;
	CHECK(scep_use_renewal(&s) == 0);
	s.old_cert = ec_cert;
	s.old_key = ec_key;
	CHECK(scep_use_renewal(&s) == 0);
	s.old_cert = NULL;
	CHECK(scep_use_renewal(&s) == 0);

	/* The request id says "renewal", so a poll signs with the old key too. */
	X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)"alice", -1,
				   -1, 0);
	CHECK(scep_request_id_make("00ff", subject, 1, id, sizeof(id)) == 0);
	CHECK(strstr(id, ":renewal") != NULL);
	CHECK(scep_request_id_parse(id, tid, sizeof(tid), &back, &renewal) == 0);
	CHECK(renewal == 1 && strcmp(tid, "00ff") == 0 && back &&
	      X509_NAME_cmp(back, subject) == 0);
	X509_NAME_free(back);
	CHECK(scep_request_id_make("00ff", subject, 0, id, sizeof(id)) == 0);
	CHECK(scep_request_id_parse(id, tid, sizeof(tid), &back, &renewal) == 0 && renewal == 0);
	X509_NAME_free(back);
	/* Too small for the suffix: refused, not cut. */
	CHECK(scep_request_id_make("00ff", subject, 1, id, strlen(id) + 4) == -1);
	/* Ids that are not ours. */
	CHECK(scep_request_id_parse("00ff::renewal", tid, sizeof(tid), &back, &renewal) == -1);
	CHECK(scep_request_id_parse("00ff:renewal", tid, sizeof(tid), &back, &renewal) == -1);
	CHECK(scep_request_id_parse("00ff:AAAA:renewal:renewal", tid, sizeof(tid), &back,
				    &renewal) == -1);
	CHECK(back == NULL);

	/* A renewal's poll without the old key: refused before anything is
	 * sent (the CA knows the transaction by the old certificate). */
	{
		scep poll_s = {.fetched = 1, .renewal = 1, .issuer = ca, .key = new_key};
		p11e_ca_result res;
		p11e_err err = {0};

		CHECK(scep_request_id_make("00ff", subject, 1, id, sizeof(id)) == 0);
		CHECK_RC(p11e_ca_scep_ops.poll(&poll_s, id, NULL, &res, &err), P11E_FAIL, &err);
		CHECK(strstr(err.msg, "renewal") != NULL && strchr(err.msg, '\n') == NULL);
		CHECK(poll_s.key == NULL && poll_s.old_cert == NULL); /* nothing kept */
	}

	X509_NAME_free(subject);
	X509_free(ca);
	X509_free(other_ca);
	X509_free(old_cert);
	X509_free(foreign_cert);
	X509_free(ec_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_ca_key);
	EVP_PKEY_free(old_key);
	EVP_PKEY_free(new_key);
	EVP_PKEY_free(ec_key);
	return check_done();
}
