/* SCEP (RFC 8894) inside the scep backend: ca_scep.c is the backend (config,
 * submit, poll), ca_scep_ca.c its exchanges with the CA over HTTP,
 * ca_scep_msg.c the pkiMessage codec, ca_scep_util.c the helpers around it. */
#ifndef P11ENROLL_CA_SCEP_H
#define P11ENROLL_CA_SCEP_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11enroll/error.h"
#include "p11enroll/http.h"

struct json_object;

#define SCEP_NONCE_LEN 16

/* One open scep CA. */
typedef struct scep {
	struct json_object *conf; /* our reference: the strings below point into it */
	const char *url;
	const char *ca_identifier; /* GetCACert's message=, or NULL */
	char *challenge_source;	   /* "file:PATH" / "env:VAR", or NULL: none sent */
	unsigned char pin[32];	   /* ca_fingerprint: SHA-256 of a CA certificate */
	int pinned;
	int poll_interval;
	p11e_http http;
	/* What the CA said, asked once per open. */
	int fetched, post, aes, renewal;
	STACK_OF(X509) * ca_certs; /* everything GetCACert returned */
	X509 *issuer;		   /* the issuing CA (IssuerAndSubject) */
	X509 *recipient;	   /* whom requests are enveloped to: an RA, else the CA */
	/* set_requester's key: not ours. */
	EVP_PKEY *key;
	/* set_renewal's certificate being renewed and its key: not ours, kept
	 * until the next submit or poll. */
	X509 *old_cert;
	EVP_PKEY *old_key;
} scep;

/* One SCEP operation: GET url?operation=OP[&message=M], or with a body a POST
 * of it. P11E_FAIL (the identity stays resumable) unless the CA answered 200,
 * or, with any_status, unless it answered at all. */
p11e_rc scep_call(const scep *s, const char *op, const char *message, const void *body,
		  size_t body_len, int any_status, p11e_http_resp *resp, p11e_err *err);
/* GetCACaps and GetCACert, once per open: s->post, s->aes, s->ca_certs,
 * s->issuer, s->recipient. */
p11e_rc scep_fetch_ca(scep *s, p11e_err *err);
/* leaf's chain from the CA's certificates: its issuer first, up to the root. */
STACK_OF(X509) * scep_chain_for(const scep *s, X509 *leaf);

/* messageType values (RFC 8894 3.2.1.2) */
#define SCEP_CERTREP "3"
#define SCEP_RENEWALREQ "17"
#define SCEP_PKCSREQ "19"
#define SCEP_CERTPOLL "20" /* GetCertInitial */

/* One request: its inner content is enveloped to `recipient` (the CA or its
 * RA), then signed by `key` through `signer`: a self-signed certificate for
 * the key being certified, or for a RenewalReq (and its polls) the
 * certificate being renewed, whose key the CA's answer is encrypted to. */
typedef struct scep_request {
	const char *message_type; /* SCEP_PKCSREQ, SCEP_RENEWALREQ, SCEP_CERTPOLL */
	const char *transaction_id;
	unsigned char nonce[SCEP_NONCE_LEN]; /* senderNonce, filled by scep_request_encode */
	X509 *signer;
	EVP_PKEY *key;
	const EVP_MD *md;
	X509 *recipient;
	const EVP_CIPHER *cipher;
	const unsigned char *content; /* the CSR, or IssuerAndSubject */
	size_t content_len;
} scep_request;

/* The pkiMessage's DER, malloc'd. Makes a fresh senderNonce. */
p11e_rc scep_request_encode(scep_request *req, unsigned char **der, size_t *der_len, p11e_err *err);

/* pkiStatus (RFC 8894 3.2.1.3) */
typedef enum scep_status {
	SCEP_SUCCESS = 0,
	SCEP_FAILURE = 2,
	SCEP_PENDING = 3,
} scep_status;

typedef struct scep_reply {
	scep_status status;
	int fail_info;		/* FAILURE: 0..4, -1 when absent */
	char fail_text[160];	/* FAILURE: failInfoText, if the CA gave one */
	STACK_OF(X509) * certs; /* SUCCESS: every certificate in the envelope */
} scep_reply;
void scep_reply_clear(scep_reply *r);

/* Checks a CertRep answering req: signed by one of ca_certs (and no other),
 * the same transactionID, our nonce back as recipientNonce. SUCCESS opens
 * the envelope with req->key. P11E_FAIL naming what is wrong. */
p11e_rc scep_reply_decode(const scep_request *req, const unsigned char *der, size_t der_len,
			  STACK_OF(X509) * ca_certs, scep_reply *out, p11e_err *err);

/* failInfo in words: "badRequest (the CA does not permit this request ...)". */
const char *scep_fail_info_words(int fail_info);

/* A self-signed certificate for subject and pub, signed by key (RFC 8894 2.3:
 * a requester without a certificate signs through one it makes). */
X509 *scep_transient_cert(const X509_NAME *subject, EVP_PKEY *pub, EVP_PKEY *key, const EVP_MD *md);

/* IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } (GetCertInitial). */
p11e_rc scep_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject,
				unsigned char **der, size_t *der_len, p11e_err *err);

/* The request id: "TRANSACTIONID:SUBJECT" (the subject's DER, base64url),
 * with ":renewal" after it for a RenewalReq (its polls are signed with the
 * old key too): all a poll needs after a restart besides the keys. 0, or -1
 * when out is too small. */
int scep_request_id_make(const char *transaction_id, const X509_NAME *subject, int renewal,
			 char *out, size_t out_len);
/* Splits one back; *subject is new, *renewal 1 for a RenewalReq. 0 or -1. */
int scep_request_id_parse(const char *request_id, char *transaction_id, size_t tid_len,
			  X509_NAME **subject, int *renewal);

/* Whether a request for s is a RenewalReq: set_renewal gave the old
 * certificate and its key, the CA offers "Renewal" (GetCACaps), issued the
 * old certificate, and the key is the certificate's and an RSA key (the
 * CA's answer is encrypted to it). Else a PKCSReq, as for a first request. */
int scep_use_renewal(const scep *s);
/* Who signs req: for a RenewalReq and its polls (renewal) the certificate
 * being renewed and its key (RFC 8894 3.3.1.2), which the CA's answer is
 * then encrypted to; else the requester's key through a transient
 * self-signed certificate for subject and pub (RFC 8894 3.1), returned in
 * *transient for the caller to free. */
p11e_rc scep_request_signer(const scep *s, scep_request *req, int renewal, const X509_NAME *subject,
			    EVP_PKEY *pub, X509 **transient, p11e_err *err);

/* The certificates of a GetCACert answer: one DER certificate, or a
 * degenerate PKCS#7 (certs-only). NULL if neither. */
STACK_OF(X509) * scep_parse_ca_certs(const unsigned char *der, size_t len);

#endif
