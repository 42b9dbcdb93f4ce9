/* HTTP for CA backends (libcurl): TLS verification always on, timeouts,
 * retries with backoff on connection errors and 5xx. */
#ifndef P11ENROLL_HTTP_H
#define P11ENROLL_HTTP_H

#include <stddef.h>
#include "p11enroll/error.h"

struct json_object;

typedef struct p11e_http {
	const char *ca_bundle;	/* PEM file of CAs trusted for https; NULL: the system's */
	long connect_timeout_s; /* 0: 10 */
	long total_timeout_s;	/* 0: 60 */
	int retries;		/* further attempts on connection errors and 5xx; <0: none */
	const char *header;	/* one extra header line ("X-DC-DEVKEY: ..."), or NULL */
} p11e_http;

/* Reads the common keys of a CA's config ("ca_bundle", "timeout",
 * "connect_timeout", "retries") into h; P11E_CONFIG naming a bad one. */
p11e_rc p11e_http_from_config(const struct json_object *conf, const char *ca_name, p11e_http *h,
			      p11e_err *err);

/* POSTs body (JSON) to url; *status is the HTTP status, *out the response
 * body (malloc'd, NUL-terminated). Plain http:// is refused unless the host is
 * loopback. A transfer failure after the retries is P11E_FAIL naming url
 * (never the body: it may hold a secret). */
p11e_rc p11e_http_post(const p11e_http *h, const char *url, const char *body, long *status,
		       char **out, p11e_err *err);

#endif
