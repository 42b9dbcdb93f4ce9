/* Private to the acme backend (src/ca/ca_acme*.c): RFC 8555.
 *
 *   ca_acme.c          the vtable: config, submit, poll, chain, close
 *   ca_acme_jws.c      base64url, the account key's JWK and thumbprint, JWS
 *                      (ES256/ES384/ES512/RS256, software or token), EAB (HS256)
 *   ca_acme_key.c      the account key: a PEM file (made 0600 when absent) or
 *                      a token key by PKCS#11 URI (made when absent)
 *   ca_acme_proto.c    directory, nonces, signed POSTs (badNonce and transport
 *                      retries), problem documents
 *   ca_acme_account.c  the account: reused from the store (acme-account), else newAccount
 *   ca_acme_order.c    identifiers from the CSR, the order driven to a certificate
 *   ca_acme_http01.c   http-01 answers: a built-in responder and/or a webroot
 *   ca_acme_revoke.c   revokeCert (RFC 8555 7.6) with the account key
 *   ca_acme_parse.c    the parsers of the server's answers (directory, account,
 *                      order, authorization and challenges, problem documents)
 *   ca_acme_ari.c      renewal information (RFC 9773): certID, the renewalInfo
 *                      answer's parser, renewal_window and set_renewal */
#ifndef P11ENROLL_CA_ACME_H
#define P11ENROLL_CA_ACME_H

#include <stddef.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11enroll/ca.h"
#include "p11enroll/http.h"
#include "p11enroll/session.h"
#include "p11enroll/store.h"
#include "p11enroll/token.h"

typedef struct acme_key {
	EVP_PKEY *pkey; /* software: the private key; token: its public half */
	int on_token;
	p11e_session sess; /* token: open while the backend is */
	p11e_id id;
	const char *alg; /* "ES256", "ES384", "ES512", "RS256" */
	const EVP_MD *md;
	size_t coord;	     /* EC: bytes per coordinate in r||s */
	char *jwk;	     /* canonical JSON, members sorted (RFC 7638) */
	char thumbprint[48]; /* base64url SHA-256 of jwk */
} acme_key;

typedef struct acme {
	json_object *conf; /* our reference: the strings below point into it */
	const char *url;   /* the directory */
	const char *account_key_file, *account_key_uri, *account_key_type;
	const char *module, *pin_source;
	const char *eab_kid, *eab_hmac_key_file;
	const char *http01_listen, *webroot;
	json_object *contact; /* array of strings, or NULL */
	int terms_agreed;
	int email_identifiers;
	long wait_s;
	p11e_http http;
	char *dir;	   /* the file store's home: "dir", else STATE_DIR/acme-HASH */
	char hash[17];	   /* HASH: 16 hex digits of the directory URL's SHA-256 */
	p11e_store *store; /* account, key, orders and chain (p11e_store_open_home) */

	json_object *directory;
	char *nonce;
	acme_key key;
	int key_loaded;
	char *kid; /* the account URL */
	int responder_held;
	char **webroot_files; /* written for this order, removed after it */
	size_t n_webroot_files;
	/* The certID (RFC 9773) of the certificate the next newOrder renews, from
	 * set_renewal; sent as "replaces" only when the directory offers
	 * renewalInfo, and used up by that submit. NULL: a first enrollment. */
	char *replaces;
} acme;

/* --- ca_acme.c --- */
/* The name of this CA's document REST in the store, "HASH/REST" (malloc'd;
 * NULL: out of memory): a shared store keeps several ACME CAs apart by
 * HASH, a file store rooted at a->dir leaves it out (store.c). */
char *acme_doc_name(const acme *a, const char *rest);

/* --- ca_acme_revoke.c --- */
p11e_rc acme_revoke(void *state, const char *serial, X509 *cert, int reason, int *already,
		    p11e_err *err);

/* --- ca_acme_jws.c --- */
char *acme_b64url(const unsigned char *in, size_t len);
/* Decodes base64url (padding and whitespace tolerated); *out malloc'd, with a
 * NUL after the *out_len bytes. -1 on bad input. */
int acme_b64url_decode(const char *in, unsigned char **out, size_t *out_len);
/* Fills alg, md, coord, jwk and thumbprint from k->pkey (EC P-256/384/521 or RSA). */
p11e_rc acme_key_describe(acme_key *k, p11e_err *err);
/* A flattened JWS (RFC 7515) for url: "kid" when kid is set, else "jwk".
 * payload NULL is POST-as-GET (empty payload). *out malloc'd. */
p11e_rc acme_jws(acme_key *k, const char *url, const char *nonce, const char *kid,
		 const char *payload, char **out, p11e_err *err);
/* The externalAccountBinding object (RFC 8555 7.3.4): an HS256 JWS over the
 * account key's JWK, keyed by the CA-issued MAC key. */
p11e_rc acme_eab(const char *eab_kid, const unsigned char *mac, size_t mac_len, const char *url,
		 const char *jwk, json_object **out, p11e_err *err);

/* --- ca_acme_key.c --- */
p11e_rc acme_key_load(acme *a, p11e_err *err);
void acme_key_clear(acme_key *k);

/* --- ca_acme_proto.c --- */
p11e_rc acme_directory(acme *a, p11e_err *err);
/* A URL named in the directory ("newNonce", ...), or NULL. */
const char *acme_dir_url(acme *a, const char *name);
/* A signed POST to url (payload NULL: POST-as-GET), with the account's kid
 * (or the JWK when use_jwk). A fresh nonce is fetched when none is kept; a
 * badNonce answer is retried with the nonce it brings; connection errors and
 * 5xx are retried (the CA config's "retries", backoff 1 s, 2 s, 4 s...) with
 * new nonces; an unknown account is registered again once. accept: an Accept
 * header value or NULL. resp->status tells the rest. */
p11e_rc acme_post(acme *a, const char *url, const char *payload, int use_jwk, const char *accept,
		  p11e_http_resp *resp, p11e_err *err);
/* "TYPE: DETAIL" of an RFC 7807 problem document in resp (and of its first
 * subproblems), else "HTTP STATUS". */
void acme_problem(const p11e_http_resp *resp, char *buf, size_t len);
/* Whether resp is a 4xx problem of type urn:ietf:params:acme:error:short_type. */
int acme_problem_is(const p11e_http_resp *resp, const char *short_type);
/* The same, for a problem object found inside an order or a challenge. */
void acme_problem_obj(const json_object *prob, char *buf, size_t len);
/* The response body as JSON (new reference), or NULL. */
json_object *acme_json(const p11e_http_resp *resp);
const char *acme_str(const json_object *o, const char *key);
/* A malloc'd formatted string, or NULL. */
char *acme_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sleeps ms milliseconds. */
void acme_sleep_ms(long ms);

/* --- ca_acme_account.c --- */
/* Key loaded and account known: from DIR/account.json if it names this
 * directory and key, else by newAccount (a CA answers 200 with the existing
 * account for a key it knows). */
p11e_rc acme_account_ready(acme *a, p11e_err *err);
p11e_rc acme_account_register(acme *a, p11e_err *err);

/* --- ca_acme_order.c --- */
/* The newOrder identifiers for csr's subjectAltNames (dNSName -> dns,
 * iPAddress -> ip, rfc822Name -> email if a->email_identifiers), or the CN
 * as a dns identifier when there are none. NULL and reason set when the CSR
 * names what this CA cannot be asked for. */
json_object *acme_identifiers(const acme *a, X509_REQ *csr, char *reason, size_t reason_len,
			      p11e_err *err);
p11e_rc acme_new_order(acme *a, json_object *identifiers, char **order_url, p11e_ca_result *out,
		       p11e_err *err);
/* Drives the order at url until it is valid (ISSUED), invalid (REJECTED), or
 * a->wait_s has passed (PENDING with retry_after). csr_der may be NULL if the
 * order is past finalize. P11E_NOT_FOUND: the CA no longer knows the order. */
p11e_rc acme_drive(acme *a, const char *order_url, const unsigned char *csr_der, size_t csr_len,
		   p11e_ca_result *out, p11e_err *err);

/* --- ca_acme_parse.c --- */
/* Each parser takes one answer's bytes (len of them, no NUL needed) and
 * never fails on a hostile one but by saying so. */
#define ACME_AUTHZ_MAX 100

/* Whether s can be used as a URL the server gave: http(s)://, printable
 * ASCII without spaces, shorter than 2 KiB. */
int acme_url_ok(const char *s);
/* The directory (new reference) when newNonce, newAccount and newOrder are
 * URLs and "meta", if there, is well-typed; else NULL. */
json_object *acme_parse_directory(const char *body, size_t len);
/* An account object's "status" (cleaned, "" if absent). -1: not an object. */
int acme_parse_account(const char *body, size_t len, char *status, size_t status_len);
/* 1 and "TYPE: DETAIL..." (cleaned) in buf when body is an RFC 7807 problem
 * document; else 0 and buf "". */
int acme_parse_problem(const char *body, size_t len, char *buf, size_t buf_len);

typedef struct acme_order_doc {
	char status[16]; /* "" never: malformed says so */
	char **authz;	 /* the authorization URLs */
	size_t n_authz;
	char *finalize;	     /* NULL if absent */
	char *certificate;   /* NULL if absent */
	char error[300];     /* the order's problem, cleaned, or "" */
	char malformed[120]; /* what is wrong with the order, or "" */
} acme_order_doc;
/* 0: out filled (check out->malformed); -1: not a JSON object (or no memory). */
int acme_parse_order(const char *body, size_t len, acme_order_doc *out);
void acme_order_doc_clear(acme_order_doc *d);

typedef struct acme_authz_doc {
	char status[16];
	char itype[16], ivalue[256]; /* the identifier, cleaned; "?" if absent */
	char offered[160];	     /* the challenge types offered, for messages */
	char error[260];	     /* the first challenge's error, "TYPE: PROBLEM", or "" */
	int has_http01;
	char http01_status[16];
	char *http01_token; /* NULL unless a string */
	char *http01_url;   /* NULL unless a URL */
	char malformed[200];
} acme_authz_doc;
/* 0: out filled (check out->malformed); -1: not a JSON object. */
int acme_parse_authz(const char *body, size_t len, acme_authz_doc *out);
void acme_authz_doc_clear(acme_authz_doc *d);

/* --- ca_acme_ari.c --- */
/* An RFC 3339 date-time (fractions dropped, "Z" or a +hh:mm/-hh:mm offset,
 * T and Z in either case) as UTC seconds; -1 if it is not one, names a day
 * that does not exist, or lies before 1970. */
int acme_rfc3339_parse(const char *s, long long *out);
/* cert's RFC 9773 certID, malloc'd in *out: base64url of its AKI
 * keyIdentifier, ".", base64url of its serial's DER content octets.
 * P11E_NOT_FOUND when cert has no AKI keyIdentifier. */
p11e_rc acme_ari_cert_id(X509 *cert, char **out, p11e_err *err);

typedef struct acme_ari_doc {
	long long start, end;  /* UTC seconds, start < end */
	char explanation[512]; /* explanationURL, cleaned, if it is a URL; else "" */
	char malformed[160];   /* what is wrong with the answer, or "" */
} acme_ari_doc;
/* A RenewalInfo object (RFC 9773 4.2). 0: out filled (check out->malformed:
 * a window that ends before it starts, a bound that is not an RFC 3339
 * time, a body over 64 KiB); -1: not a JSON object. */
int acme_parse_renewal_info(const char *body, size_t len, acme_ari_doc *out);
/* The ops (ca.h): the CA's suggested window for cert, and the certificate
 * the next submit renews. */
p11e_rc acme_renewal_window(void *state, X509 *cert, long long *start, long long *end,
			    p11e_err *err);
p11e_rc acme_set_renewal(void *state, const p11e_ca_renewal *renewal, p11e_err *err);

/* --- ca_acme_http01.c --- */
/* Makes TOKEN answer key_auth: on the built-in responder (a->http01_listen)
 * and/or as WEBROOT/.well-known/acme-challenge/TOKEN. P11E_CONFIG if
 * neither is configured. */
p11e_rc acme_http01_serve(acme *a, const char *token, const char *key_auth, p11e_err *err);
/* Withdraws every answer this backend put up (responder entries, webroot files). */
void acme_http01_withdraw(acme *a);
/* Stops using the responder (its thread ends with its last user). */
void acme_http01_release(acme *a);

#endif
