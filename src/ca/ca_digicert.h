/* Private to the digicert backend: the parsers of CertCentral's answers
 * (ca_digicert_parse.c), each taking one answer's bytes, so that tests and
 * the fuzzer reach them without a server. Every member's type is checked;
 * every text that may reach a message is cleaned (p11e_peer_clean). */
#ifndef P11ENROLL_CA_DIGICERT_H
#define P11ENROLL_CA_DIGICERT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>
#include "p11enroll/profile.h"

/* Orders looked at when searching for one already placed. */
#define DIGICERT_LOOKUP_MAX 20

/* Whether s is a DigiCert order or certificate id: 1 to 19 digits. */
int digicert_is_id(const char *s);
/* Whether status ends an order without a certificate (rejected, revoked...). */
int digicert_final_refusal(const char *status);

/* DigiCert's error envelope {"errors":[{"code","message"}, ...]} as one
 * line, "HTTP 400: invalid_csr: The CSR is invalid.; ...", or the start of a
 * body that is not JSON; cleaned. */
void digicert_parse_errors(const char *body, size_t len, long status, char *out, size_t out_len);

typedef struct digicert_order_doc {
	char status[32];   /* "unknown" when absent or not a string */
	int64_t cert_id;   /* certificate.id, 0 if none */
	char reason[256];  /* for a refused order: the approver's words, cleaned */
	int has_comment;   /* comments contained the key given to the parser */
	int same_csr_text; /* certificate.csr is a string ... */
	char *csr;	   /* ... held here (malloc'd) for the caller to compare */
} digicert_order_doc;
/* GET order/certificate/ID: 0, or -1 when body is not a JSON object.
 * request_key (may be NULL) is looked for in "comments". */
int digicert_parse_order(const char *body, size_t len, const char *request_key,
			 digicert_order_doc *out);
void digicert_order_doc_clear(digicert_order_doc *d);

/* GET order/certificate?filters[search]=...: the ids (up to max) of the
 * orders for product that are still alive, newest first. -1: not a list. */
int digicert_parse_order_list(const char *body, size_t len, const char *product, int64_t *ids,
			      size_t max, size_t *n);

/* POST order/certificate/PRODUCT: the order id (0 if none) and, when
 * DigiCert issued at once, certificate_chain's PEMs joined (malloc'd, else
 * NULL). -1: not a JSON object (or no memory). */
int digicert_parse_new_order(const char *body, size_t len, int64_t *order_id, char **chain_pem);

/* PUT certificate/ID/revoke: the revocation request's id (0 if none) and
 * status ("pending", "approved", ...; "unknown" when absent), cleaned. -1:
 * not a JSON object. */
int digicert_parse_revoke(const char *body, size_t len, int64_t *request_id, char *status,
			  size_t status_len);
/* --- ca_digicert_req.c: what is sent --- */
typedef struct digicert_order_opts {
	const char *payment_method;
	const char *profile_type;
	const char *cn_indicator;
	int64_t organization_id; /* 0: none */
	int64_t container_id;	 /* 0: none */
	int skip_approval;	 /* -1: not sent */
} digicert_order_opts;

/* The order's body (malloc'd JSON): the CSR, the mailbox, what the key is
 * for, validity, and "p11enroll request KEY" in comments. */
char *digicert_order_body(const digicert_order_opts *d, const p11e_profile *p, const char *csr_pem,
			  const char *email, const char *request_key);
/* The first rfc822Name the CSR asks for (malloc'd), or NULL. */
char *digicert_csr_email(X509_REQ *csr);
/* Percent-encodes s for a query string into out (cut to fit). */
void digicert_query_escape(const char *s, char *out, size_t len);

#endif
