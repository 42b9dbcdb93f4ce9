/* ACME transport: the directory, Replay-Nonces, signed POSTs with the retries
 * RFC 8555 asks for (badNonce) and the ones every backend does (connection
 * errors and 5xx, with backoff), and RFC 7807 problem documents as one line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ca/ca_acme.h"
#include "p11enroll/peer.h"

#define BAD_NONCE_TRIES 10

char *acme_fmt(const char *fmt, ...)
{
	va_list ap;
	char *out;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (out = malloc((size_t)n + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(out, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return out;
}

void acme_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (ms > 0 && nanosleep(&ts, &ts) != 0)
		;
}

json_object *acme_json(const p11e_http_resp *resp)
{
	return p11e_peer_json_object(resp->body, resp->body_len);
}

const char *acme_str(const json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* One line: "TYPE: DETAIL" and, for up to three subproblems,
 * "; IDENTIFIER: TYPE: DETAIL". Control characters from the CA become '?'. */
void acme_problem_obj(const json_object *prob, char *buf, size_t len)
{
	const char *type = acme_str(prob, "type"), *detail = acme_str(prob, "detail");
	json_object *subs;
	size_t used;

	snprintf(buf, len, "%s: %s", type ? type : "(no type)", detail ? detail : "(no detail)");
	if (json_object_object_get_ex(prob, "subproblems", &subs) &&
	    json_object_is_type(subs, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(subs) && i < 3; i++) {
			json_object *sp = json_object_array_get_idx(subs, i), *id = NULL;
			const char *st = acme_str(sp, "type"), *sd = acme_str(sp, "detail");
			json_object_object_get_ex(sp, "identifier", &id);
			used = strlen(buf);
			snprintf(buf + used, len - used, "; %s: %s: %s",
				 acme_str(id, "value") ? acme_str(id, "value") : "?", st ? st : "?",
				 sd ? sd : "?");
		}
	}
	p11e_peer_clean(buf);
}

void acme_problem(const p11e_http_resp *resp, char *buf, size_t len)
{
	size_t used;

	if (acme_parse_problem(resp->body, resp->body_len, buf, len)) {
		used = strlen(buf);
		snprintf(buf + used, len - used, " (HTTP %ld)", resp->status);
	} else {
		snprintf(buf, len, "HTTP %ld", resp->status);
	}
}

int acme_problem_is(const p11e_http_resp *resp, const char *short_type)
{
	json_object *o;
	const char *t;
	int is;

	if (resp->status < 400 || resp->status >= 500)
		return 0;
	o = acme_json(resp);
	t = acme_str(o, "type");
	is = t != NULL && strncmp(t, "urn:ietf:params:acme:error:", 27) == 0 &&
	     strcmp(t + 27, short_type) == 0;
	json_object_put(o);
	return is;
}

p11e_rc acme_directory(acme *a, p11e_err *err)
{
	p11e_http_req req = {.method = "GET", .url = a->url};
	p11e_http_resp resp;
	char why[300];
	p11e_rc rc;

	if (a->directory != NULL)
		return P11E_OK;
	rc = p11e_http_request(&a->http, &req, &resp, err);
	if (rc != P11E_OK)
		return rc;
	if (resp.status != 200 ||
	    (a->directory = acme_parse_directory(resp.body, resp.body_len)) == NULL) {
		json_object_put(a->directory);
		a->directory = NULL;
		acme_problem(&resp, why, sizeof(why));
		rc = p11e_errf(err, resp.status >= 500 ? P11E_FAIL : P11E_CONFIG,
			       "ca acme: %s is not an ACME directory (%s); check \"url\"", a->url,
			       why);
	}
	p11e_http_resp_free(&resp);
	return rc;
}

const char *acme_dir_url(acme *a, const char *name)
{
	return acme_str(a->directory, name);
}

static void keep_nonce(acme *a, const p11e_http_resp *resp)
{
	char *n = p11e_http_resp_header(resp, "Replay-Nonce");

	if (n == NULL)
		return;
	free(a->nonce);
	a->nonce = n;
}

static p11e_rc fetch_nonce(acme *a, p11e_err *err)
{
	p11e_http_req req = {.method = "HEAD", .url = acme_dir_url(a, "newNonce")};
	p11e_http_resp resp;
	p11e_rc rc;

	rc = p11e_http_request(&a->http, &req, &resp, err);
	if (rc != P11E_OK)
		return rc;
	keep_nonce(a, &resp);
	if (a->nonce == NULL)
		rc = p11e_errf(err, resp.status >= 500 ? P11E_FAIL : P11E_CA_REJECTED,
			       "ca acme: %s gave no Replay-Nonce (HTTP %ld)", req.url, resp.status);
	p11e_http_resp_free(&resp);
	return rc;
}

p11e_rc acme_post(acme *a, const char *url, const char *payload, int use_jwk, const char *accept,
		  p11e_http_resp *resp, p11e_err *err)
{
	char accept_line[128];
	const char *headers[2] = {NULL, NULL};
	int retries = a->http.retries < 0 ? 0 : a->http.retries;
	int transient = 0, bad_nonce = 0, reregistered = 0;
	p11e_rc rc;

	memset(resp, 0, sizeof(*resp));
	if (accept != NULL) {
		snprintf(accept_line, sizeof(accept_line), "Accept: %s", accept);
		headers[0] = accept_line;
	}
	rc = acme_directory(a, err);
	if (rc != P11E_OK)
		return rc;
	for (;;) {
		p11e_http_req req = {.method = "POST",
				     .url = url,
				     .content_type = "application/jose+json",
				     .headers = headers,
				     .no_retry = 1};
		char *jws = NULL;

		/* The nonce fetch and signing are not retried here: the
		 * first has its own retries, the second would fail again. */
		if (a->nonce == NULL && (rc = fetch_nonce(a, err)) != P11E_OK)
			return rc;
		rc = acme_jws(&a->key, url, a->nonce, use_jwk ? NULL : a->kid, payload, &jws, err);
		if (rc != P11E_OK)
			return rc;
		free(a->nonce); /* spent, whatever happens */
		a->nonce = NULL;
		req.body = jws;
		req.body_len = strlen(jws);
		rc = p11e_http_request(&a->http, &req, resp, err);
		free(jws);
		if (rc == P11E_OK)
			keep_nonce(a, resp);
		if (rc == P11E_OK && acme_problem_is(resp, "badNonce") &&
		    ++bad_nonce < BAD_NONCE_TRIES) {
			p11e_http_resp_free(resp);
			continue;
		}
		/* The CA forgot the account (a test CA restarted): register the
		 * same key again, once, and resend. */
		if (rc == P11E_OK && !use_jwk && !reregistered &&
		    acme_problem_is(resp, "accountDoesNotExist")) {
			p11e_http_resp_free(resp);
			reregistered = 1;
			free(a->kid);
			a->kid = NULL;
			rc = acme_account_register(a, err);
			if (rc != P11E_OK)
				return rc;
			continue;
		}
		if (((rc == P11E_FAIL && resp->status == 0) ||
		     (rc == P11E_OK && resp->status >= 500)) &&
		    transient < retries) {
			p11e_http_resp_free(resp);
			acme_sleep_ms(1000L << (transient < 5 ? transient : 5));
			transient++;
			rc = P11E_OK;
			continue;
		}
		return rc;
	}
}
