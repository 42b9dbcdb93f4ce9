/* Private to the digicert backend: the parsers of CertCentral's answers
 * (ca_digicert_parse.c), each taking one answer's bytes, so that tests and
 * the fuzzer reach them without a server. Every member's type is checked;
 * every text that may reach a message is cleaned (p11e_peer_clean). */
#ifndef P11ENROLL_CA_DIGICERT_H
#define P11ENROLL_CA_DIGICERT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>
#include "p11enroll/ca.h"
#include "p11enroll/http.h"
#include "p11enroll/profile.h"

struct json_object;

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
/* GET order/certificate/ID/reissue ("List reissues"): the reissue whose CSR
 * has the SHA-256 (hex of its DER) key, other than the certificate with
 * serial skip (canonical hex, p11e_serial_canonical; NULL or "": none): the
 * same CSR may have been reissued for the generation being renewed (a key
 * reused, RSA signatures being deterministic). Its certificate id (0 if none
 * given) and status ("issued", "pending", "rejected"; "unknown" when absent),
 * cleaned. 1 found, 0 none, -1 not an object with a "certificates" list. */
int digicert_parse_reissues(const char *body, size_t len, const char *key, const char *skip,
			    int64_t *cert_id, char *status, size_t status_len);

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

/* --- ca_digicert.c: one open CA and its exchanges, shared with
 * ca_digicert_reissue.c --- */
typedef struct digicert {
	struct json_object *conf; /* our reference: the strings below point into it */
	char base[512];		  /* url without a trailing '/' */
	const char *key_source;
	const char *product;
	digicert_order_opts opts;
	int poll_interval;
	p11e_http http;
	/* set_renewal: the order whose certificate the next submit reissues
	 * (0: a new order), and the renewed certificate's serial (canonical
	 * hex), which is never taken for the reissue. */
	int64_t renew_order;
	char renew_serial[80];
} digicert;

/* One exchange with the API. */
typedef struct digicert_exchange {
	p11e_http_resp resp;
} digicert_exchange;
void digicert_exchange_free(digicert_exchange *x);

/* "X-DC-DEVKEY: KEY", malloc'd; free it with p11e_secret_free. */
p11e_rc digicert_devkey_header(const digicert *d, char **out, p11e_err *err);
/* METHOD base+path; no_retry for what must never be resent blind. */
p11e_rc digicert_api(const digicert *d, const char *devkey, const char *method, const char *path,
		     const char *body, int no_retry, digicert_exchange *x, p11e_err *err);
/* The answer's errors as one line. */
void digicert_api_reason(const digicert_exchange *x, char *out, size_t len);
/* 401/403 (the key's), 429 and 5xx (rerun later) as errors; P11E_OK else. */
p11e_rc digicert_common_status(const digicert_exchange *x, const char *what, p11e_err *err);
/* A PEM leaf and chain into out (ISSUED). */
p11e_rc digicert_take_pem(const char *pem, const char *where, p11e_ca_result *out, p11e_err *err);
/* PENDING, after Retry-After or the poll interval. */
void digicert_set_pending(const digicert *d, const digicert_exchange *x, p11e_ca_result *out);
/* certificate/ID/download/format/pem_all into out (ISSUED, or PENDING on 404). */
p11e_rc digicert_download(const digicert *d, const char *devkey, int64_t cert_id,
			  p11e_ca_result *out, p11e_err *err);
/* Whether a PEM CSR is the DER one. */
int digicert_same_csr(const char *pem, const unsigned char *der, int der_len);
/* Sleeps 1, 2, 4, 8 s before another attempt. */
void digicert_pause_before(int attempt);

/* --- ca_digicert_reissue.c --- */
/* The request id of a reissue: "ORDER:reissue:KEY" (KEY the SHA-256 of the
 * CSR's DER, which names the reissue by its CSR in the order's list of
 * reissues). 0, or -1 when out is too small. */
int digicert_reissue_id_make(int64_t order_id, const char *request_key, char *out, size_t out_len);
/* 1 and the order and key for a reissue's id, 0 for any other. */
int digicert_reissue_id_parse(const char *request_id, int64_t *order_id, char *key, size_t key_len);
/* The order id at the start of a request id (a plain order's, or a
 * reissue's), 0 if there is none. */
int64_t digicert_request_order(const char *request_id);
/* Reissues d->renew_order's certificate for the CSR (the order must be
 * issued: an expired or revoked order is P11E_CA_REJECTED, and no new order
 * is placed), unless DigiCert already lists a reissue with this CSR. */
p11e_rc digicert_reissue(const digicert *d, const char *devkey, X509_REQ *csr, p11e_ca_result *out,
			 p11e_err *err);
/* The op: the order a renewal's old request id names (set_renewal). */
p11e_rc digicert_set_renewal(void *state, const p11e_ca_renewal *renewal, p11e_err *err);
/* A reissue's state now, by its request id's order and key. */
p11e_rc digicert_reissue_state(const digicert *d, const char *devkey, int64_t order_id,
			       const char *key, p11e_ca_result *out, p11e_err *err);
#endif
