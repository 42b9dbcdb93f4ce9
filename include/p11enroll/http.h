/* HTTP for CA backends (libcurl): TLS verification always on (with
 * ca_bundle, against that bundle only), URLs parsed by libcurl (user info
 * refused, plain http only to this machine), timeouts, retries with backoff
 * on connection errors and 5xx. */
#ifndef P11ENROLL_HTTP_H
#define P11ENROLL_HTTP_H

#include <stddef.h>
#include "p11enroll/error.h"

struct json_object;

typedef struct p11e_http {
	const char *ca_bundle;	/* PEM file of the only CAs trusted for https; NULL: the system's */
	long connect_timeout_s; /* 0: 10 */
	long total_timeout_s;	/* 0: 60 */
	int retries;		/* further attempts on connection errors and 5xx; <0: none */
	const char *header;	/* one extra header line ("X-DC-DEVKEY: ..."), or NULL */
	const char *client_cert; /* PEM file: a TLS client certificate to present, or NULL */
	const char *client_key;	 /* PEM file: its private key (NULL: in client_cert) */
	/* HTTP authentication (P11E_HTTP_AUTH_*; 0: none). Basic and NTLM send
	 * username and password (a secret the caller reads just before and
	 * wipes after); Negotiate uses the process's Kerberos credentials (its
	 * ccache) and neither. */
	int auth;
	const char *username;
	const char *password;
	/* Or a TLS client certificate and key in memory (the key may be a
	 * token's, its private operations run there: EST's simplereenroll);
	 * not owned, used only while p11e_http_request runs. */
	struct x509_st *client_x509;
	struct evp_pkey_st *client_pkey;
} p11e_http;

#define P11E_HTTP_AUTH_BASIC 1
#define P11E_HTTP_AUTH_NTLM 2
#define P11E_HTTP_AUTH_NEGOTIATE 3

/* Reads the common keys of a CA's config ("ca_bundle", "timeout",
 * "connect_timeout", "retries") into h; P11E_CONFIG naming a bad one. */
p11e_rc p11e_http_from_config(const struct json_object *conf, const char *ca_name, p11e_http *h,
			      p11e_err *err);

/* One HTTP exchange. method NULL: POST when body is set, else GET. */
typedef struct p11e_http_req {
	const char *method; /* "GET", "POST", "HEAD" */
	const char *url;
	const char *content_type; /* NULL with a body: application/json */
	const void *body;	  /* may hold NULs: body_len counts */
	size_t body_len;
	const char *const *headers; /* extra header lines, NULL-terminated, or NULL */
	int no_retry;		    /* a request that must not be sent twice (ACME nonces) */
} p11e_http_req;

typedef struct p11e_http_resp {
	long status;
	char *body; /* malloc'd, NUL-terminated (body_len excludes the NUL) */
	size_t body_len;
	char *headers; /* the last response's header block, "Name: value\r\n"... */
	int curl_code; /* a transfer failure: libcurl's CURLcode (its error text can
			  name an earlier symptom, e.g. getpeername's errno 107) */
	/* A transfer failure: whether any of the request left (libcurl's
	 * CURLINFO_REQUEST_SIZE); 0: the server never got it. */
	int request_sent;
} p11e_http_resp;

/* Sends req; on a transfer failure after the retries, P11E_FAIL naming the
 * url (never the body or headers: they may hold a secret). An HTTP error
 * status is not a failure here: the caller reads resp->status. */
p11e_rc p11e_http_request(const p11e_http *h, const p11e_http_req *req, p11e_http_resp *resp,
			  p11e_err *err);
void p11e_http_resp_free(p11e_http_resp *resp);

/* Whether a failed transfer (p11e_http_request's P11E_FAIL) certainly never
 * delivered the request: nothing was sent, or the connection or its TLS
 * handshake failed. A protocol without an idempotency key may then send it
 * again; after any other failure the server may have it. */
int p11e_http_never_sent(const p11e_http_resp *resp);
/* A transport error of p11e_http_request (err) ends by asking whether the CA
 * is up: its text without that hint into msg, for a caller that talks to
 * something else (a vault). Returns 1 when it is about TLS ("SSL",
 * "certificate"): a wrong ca_bundle, likeliest. */
int p11e_http_error_text(const p11e_err *err, char *msg, size_t cap);

/* libcurl's own version line ("libcurl/7.88.1 OpenSSL/3.0.x ..."), from
 * the library this process would load; NULL if it cannot be loaded. */
const char *p11e_http_curl_version(void);

/* The value of header name (case-insensitive) in resp, malloc'd and trimmed,
 * or NULL. With several, the first. */
char *p11e_http_resp_header(const p11e_http_resp *resp, const char *name);

/* Retry-After as seconds (delta or HTTP date, 0 to P11E_PEER_WAIT_MAX_S: a
 * day), or def when absent or unreadable. */
long p11e_http_retry_after(const p11e_http_resp *resp, long def);

/* libcurl's process-wide setup, which is not thread-safe: for a program
 * about to start threads that may speak HTTP (batch). 0 on success. */
int p11e_http_global_init(void);
void p11e_http_global_cleanup(void);

/* POSTs body (JSON) to url; *status is the HTTP status, *out the response
 * body (malloc'd, NUL-terminated). Plain http:// is refused unless the host is
 * loopback. A transfer failure after the retries is P11E_FAIL naming url
 * (never the body: it may hold a secret). */
p11e_rc p11e_http_post(const p11e_http *h, const char *url, const char *body, long *status,
		       char **out, p11e_err *err);

#endif
