/* CMP (RFC 4210, RFC 9480) inside the cmp backend: ca_cmp.c is the backend
 * (config, the vtable), ca_cmp_ses.c one CMP transaction through libcrypto's
 * OSSL_CMP_* client, ca_cmp_doc.c the transaction's document in the store
 * and the checks of each answer before OpenSSL reads it. */
#ifndef P11ENROLL_CA_CMP_H
#define P11ENROLL_CA_CMP_H

#include <stddef.h>
#include <openssl/cmp.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11enroll/ca.h"
#include "p11enroll/error.h"
#include "p11enroll/http.h"
#include "p11enroll/store.h"

struct json_object;

/* The largest answer read: a PKIMessage with a certificate, its chain and
 * extraCerts is a few kilobytes; the kept ones
 * must fit the document (hex) in the store. */
#define CMP_ANSWER_MAX (64 * 1024)
/* Answers a transaction keeps for its resumption: the first, the latest
 * pollRep, the one that delivered the certificate. */
#define CMP_KEPT_MAX 3

/* PKIBody's CHOICE tags (RFC 4210 5.1.2), as OSSL_CMP_MSG_get_bodytype
 * returns them (OpenSSL 3.0 keeps its names private). */
enum cmp_body {
	CMP_BODY_IR = 0,
	CMP_BODY_IP = 1,
	CMP_BODY_CP = 3,
	CMP_BODY_P10CR = 4,
	CMP_BODY_KUR = 7,
	CMP_BODY_KUP = 8,
	CMP_BODY_RP = 12,
	CMP_BODY_PKICONF = 19,
	CMP_BODY_ERROR = 23,
	CMP_BODY_POLLREP = 26,
};

/* One open cmp CA. */
typedef struct cmp {
	struct json_object *conf; /* our reference: the strings below point into it */
	const char *url;
	char hash[17];		/* 16 hex digits of the url's SHA-256: names documents */
	const char *reference;	/* PBM: senderKID */
	char *secret_source;	/* PBM: env:VAR / file:PATH, never the secret */
	X509 *prot_cert;	/* signature protection: our certificate ... */
	EVP_PKEY *prot_key;	/* ... and its key (a PEM file) */
	X509 *srv_cert;		/* the only signer accepted for answers, or NULL */
	X509_STORE *trusted;	/* else the CAs an answer's signer must chain to */
	STACK_OF(X509) * chain; /* the trusted CAs as a list, for `ca chain` */
	int p10cr;		/* "request": "p10cr" (else ir) */
	long wait_s;		/* how long submit and poll wait through "waiting" */
	p11e_http http;
	p11e_store *store;
	/* set_requester's key and set_renewal's certificate and key: not ours,
	 * forgotten after each submit or poll. */
	EVP_PKEY *key;
	X509 *old_cert;
	EVP_PKEY *old_key;
} cmp;

/* A transaction's document (kind "cmp-request", name HASH/REQUEST_KEY):
 * written before its first message leaves, rewritten with each answer
 * OpenSSL accepted before the next message leaves. */
typedef struct cmp_doc {
	char txid[33];			   /* transactionID, hex (16 random bytes) */
	int req_type;			   /* OSSL_CMP_IR, OSSL_CMP_P10CR, OSSL_CMP_KUR */
	char *csr_pem;			   /* what was asked */
	int confirmed;			   /* pkiConf received: cert below is final */
	char *cert_pem;			   /* confirmed: the certificate and ... */
	char *chain_pem;		   /* ... its chain */
	unsigned char *kept[CMP_KEPT_MAX]; /* answers to replay, in order (DER) */
	size_t kept_len[CMP_KEPT_MAX];
	size_t n_kept;
} cmp_doc;
void cmp_doc_clear(cmp_doc *d);
/* The document as JSON text (malloc'd) / back; -1 when text is not one. */
char *cmp_doc_encode(const cmp_doc *d);
int cmp_doc_decode(const char *text, size_t len, cmp_doc *out);
/* Keeps answer der (a copy) for replay: a pollRep replaces the previous
 * pollRep, anything else is added. -1: out of memory or no room. */
int cmp_doc_keep(cmp_doc *d, const unsigned char *der, size_t len);
p11e_rc cmp_doc_load(const cmp *c, const char *request_key, cmp_doc *out, p11e_err *err);
p11e_rc cmp_doc_save(const cmp *c, const char *request_key, const cmp_doc *d, p11e_err *err);
p11e_rc cmp_doc_remove(const cmp *c, const char *request_key, p11e_err *err);

/* Reads one answer (the HTTP body) as a PKIMessage and checks what OpenSSL
 * leaves to the caller before it looks further: DER that is exactly one
 * PKIMessage, pvno 2 or 3, a transactionID equal to txid (16 bytes; NULL:
 * not checked), a body of a type a client may receive. NULL with why (one
 * line) in err. */
OSSL_CMP_MSG *cmp_answer_parse(const unsigned char *der, size_t len, const unsigned char *txid,
			       size_t txid_len, p11e_err *err);

/* One certificate request's transaction, new or resumed from d: ir, p10cr
 * or kur with its certConf, polls while the CA says "waiting" (up to
 * c->wait_s). out: ISSUED, PENDING or REJECTED; d is saved along the way. */
p11e_rc cmp_certreq(cmp *c, const char *request_key, X509_REQ *csr, cmp_doc *d, p11e_ca_result *out,
		    p11e_err *err);
/* rr for cert with reason (RFC 5280 code). */
p11e_rc cmp_revoke_cert(cmp *c, X509 *cert, int reason, int *already, p11e_err *err);

#endif
