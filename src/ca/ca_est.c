/* EST, Enrollment over Secure Transport (RFC 7030): the CA certificates by
 * GET /cacerts, a PKCS#10 request by POST /simpleenroll, a renewal by POST
 * /simplereenroll with the current certificate as the TLS client
 * certificate (its key on the token), a 202 answer with Retry-After as
 * pending.
 *
 *   { "type": "est", "url": "https://est.example.com/.well-known/est",
 *     "ca_bundle": "est-server-ta.pem", "username": "enroll",
 *     "password_source": "file:/etc/p11enroll/est.pass" }
 *
 * The server is authenticated by "ca_bundle" alone: RFC 7030 3.6.1's
 * explicit trust anchor, required. The client is authenticated by HTTP Basic
 * (RFC 7030 3.2.3; the password from a secret source, sent only over TLS or
 * to this machine) and/or a TLS client certificate ("client_cert_file").
 *
 * EST has no way to ask what became of a request, and a server that issued
 * at once issues again when the request comes twice; its only repetition is
 * the poll of a pending request (RFC 7030 4.2.3: the same request again
 * after Retry-After). So each request is written to the store (kind
 * "est-request", durably) before it is sent, and its outcome after: a rerun
 * after a crash takes the certificate from there; a request whose answer was
 * lost (a crash in flight, a timeout, an answer that could not be read) is
 * not sent again unless the entry says "resend_unanswered". The identity's
 * lock, held around submit and poll, keeps two runs off one entry.
 *
 * EST has no revocation: revoke at the CA itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "ca/ca_est.h"
#include "p11enroll/ca.h"
#include "p11enroll/conf.h"
#include "p11enroll/http.h"
#include "p11enroll/peer.h"
#include "p11enroll/pem.h"
#include "p11enroll/secret.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"

#define DEFAULT_POLL_INTERVAL 300
#define DOC_KIND "est-request"

/* src/core/pipeline.c: exits here when the tests ask (P11ENROLL_TEST_HOOKS). */
void pipe_crash_point(const char *name);

static const char *const known_keys[] = {
    "type",
    "url",
    "ca_bundle",
    "timeout",
    "connect_timeout",
    "retries",
    "username",
    "password_source",
    "client_cert_file",
    "client_key_file",
    "poll_interval",
    "resend_unanswered",
    NULL,
};

typedef struct est {
	struct json_object *conf; /* our reference: the strings below point into it */
	char base[512];		  /* url without a trailing '/' */
	char hash[17];		  /* 16 hex digits of the url's SHA-256: the documents' prefix */
	p11e_http http;
	const char *username;
	const char *password_source;
	int poll_interval;
	int resend_unanswered;
	p11e_store *store;
	/* set_renewal, for the next submit or poll: the certificate renewed
	 * and its key (new references), the TLS client identity of
	 * /simplereenroll. */
	X509 *renew_cert;
	EVP_PKEY *renew_key;
} est;

static void drop_renewal(est *e)
{
	X509_free(e->renew_cert);
	EVP_PKEY_free(e->renew_key);
	e->renew_cert = NULL;
	e->renew_key = NULL;
}

static void est_close(void *state)
{
	est *e = state;

	if (e == NULL)
		return;
	drop_renewal(e);
	p11e_store_close(e->store);
	json_object_put(e->conf);
	free(e);
}

static int url_hash(const char *url, char out[17])
{
	unsigned char md[32];
	unsigned int n = 0;

	if (EVP_Digest(url, strlen(url), md, &n, EVP_sha256(), NULL) != 1)
		return -1;
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static p11e_rc est_open(const struct json_object *conf, void **state, p11e_err *err)
{
	est *e = calloc(1, sizeof(*e));
	const char *url, *state_dir;
	struct json_object *v, *js = NULL;
	char *dir = NULL;
	size_t n;
	p11e_rc rc;

	*state = NULL;
	if (e == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	e->conf = json_object_get((struct json_object *)conf);
	e->poll_interval = DEFAULT_POLL_INTERVAL;
	if ((rc = p11e_conf_check_keys(conf, known_keys, "ca est", err)) != P11E_OK)
		goto out;
	url = p11e_conf_string(conf, "url");
	n = url ? strlen(url) : 0;
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(e->base)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca est: \"url\" is required: the server's EST base, like "
			       "https://est.example.com/.well-known/est (or .../est/LABEL)");
		goto out;
	}
	memcpy(e->base, url, n);
	e->base[n] = '\0';
	if ((rc = p11e_http_from_config(conf, "est", &e->http, err)) != P11E_OK)
		goto out;
	if (e->http.ca_bundle == NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca est: \"ca_bundle\" is required: the PEM file of the CA that "
			       "issued the EST server's TLS certificate (RFC 7030 3.6.1's "
			       "explicit trust anchor)");
		goto out;
	}
	e->http.client_cert = p11e_conf_string(conf, "client_cert_file");
	e->http.client_key = p11e_conf_string(conf, "client_key_file");
	e->username = p11e_conf_string(conf, "username");
	e->password_source = p11e_conf_string(conf, "password_source");
	if ((e->username == NULL) != (e->password_source == NULL) ||
	    (e->username != NULL && (e->username[0] == '\0' || strchr(e->username, ':')))) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca est: \"username\" (without ':') and \"password_source\" "
			       "(env:VAR or file:PATH) go together, for HTTP Basic");
		goto out;
	}
	if (e->password_source != NULL && strncmp(e->password_source, "env:", 4) != 0 &&
	    strncmp(e->password_source, "file:", 5) != 0) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca est: \"password_source\" must be env:VAR or file:PATH (never "
			       "the password itself)");
		goto out;
	}
	if (json_object_object_get_ex(conf, "poll_interval", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
		    json_object_get_int64(v) > 86400) {
			rc = p11e_errf(err, P11E_CONFIG,
				       "ca est: \"poll_interval\" must be 1 to 86400 seconds");
			goto out;
		}
		e->poll_interval = (int)json_object_get_int64(v);
	}
	if (json_object_object_get_ex(conf, "resend_unanswered", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			rc = p11e_errf(err, P11E_CONFIG,
				       "ca est: \"resend_unanswered\" must be true or false");
			goto out;
		}
		e->resend_unanswered = json_object_get_boolean(v);
	}
	if (url_hash(e->base, e->hash) != 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca est: cannot hash the url");
		goto out;
	}
	state_dir = p11e_conf_string(conf, "_state_dir");
	if (state_dir == NULL || (dir = p11e_path_join(state_dir, "ca/est")) == NULL) {
		rc = p11e_errf(
		    err, P11E_CONFIG,
		    "ca est: no state directory to keep requests in (P11ENROLL_STATE_DIR, "
		    "HOME or \"state_dir\")");
		goto out;
	}
	if (!json_object_object_get_ex(e->conf, "_store", &js))
		js = NULL;
	rc = p11e_store_open_home(js, dir, &e->store, err);
out:
	free(dir);
	if (rc != P11E_OK) {
		est_close(e);
		return rc;
	}
	*state = e;
	return P11E_OK;
}

/* "Authorization: Basic ..." (RFC 7617), malloc'd; free with
 * p11e_secret_free. NULL with P11E_OK when no username is configured. */
static p11e_rc basic_header(const est *e, char **out, p11e_err *err)
{
	static const char name[] = "Authorization: Basic ";
	p11e_err inner = {0};
	char *pw = NULL, *pair = NULL;
	size_t pair_len = 0, cap = 0;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (e->username == NULL)
		return P11E_OK;
	if (p11e_secret_read(e->password_source, "EST password", &pw, &inner) != P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "ca est: password_source: %s", inner.msg);
	pair_len = strlen(e->username) + 1 + strlen(pw);
	cap = sizeof(name) + 4 * ((pair_len + 2) / 3) + 1;
	pair = malloc(pair_len + 1);
	*out = malloc(cap);
	if (pair == NULL || *out == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	snprintf(pair, pair_len + 1, "%s:%s", e->username, pw);
	memcpy(*out, name, sizeof(name) - 1);
	EVP_EncodeBlock((unsigned char *)*out + sizeof(name) - 1, (unsigned char *)pair,
			(int)pair_len);
out:
	if (rc != P11E_OK) {
		free(*out);
		*out = NULL;
	}
	p11e_secret_free(pair, pair_len);
	p11e_secret_free(pw, (size_t)-1);
	return rc;
}

/* One exchange with the server: GET (body NULL) or POST of a base64
 * PKCS#10. client: the TLS client identity of /simplereenroll, or NULL. */
static p11e_rc exchange(const est *e, const char *op, const char *body, X509 *client_cert,
			EVP_PKEY *client_key, p11e_http_resp *resp, p11e_err *err)
{
	const char *headers[2] = {NULL, NULL};
	p11e_http h = e->http;
	char url[600], *auth = NULL;
	p11e_http_req req = {.url = url};
	p11e_rc rc;

	snprintf(url, sizeof(url), "%s/%s", e->base, op);
	if (body != NULL) {
		req.body = body;
		req.body_len = strlen(body);
		req.content_type = "application/pkcs10";
		req.no_retry = 1; /* never resent blind: see the top of the file */
		if ((rc = basic_header(e, &auth, err)) != P11E_OK)
			return rc;
		headers[0] = auth;
		req.headers = headers;
	}
	if (client_cert != NULL && client_key != NULL) {
		h.client_cert = h.client_key = NULL;
		h.client_x509 = client_cert;
		h.client_pkey = client_key;
	}
	rc = p11e_http_request(&h, &req, resp, err);
	p11e_secret_free(auth, (size_t)-1);
	return rc;
}

/* GET /cacerts: every certificate in it (RFC 7030 4.1.3). */
static p11e_rc get_cacerts(const est *e, STACK_OF(X509) * *out, p11e_err *err)
{
	p11e_http_resp resp;
	const char *why = NULL;
	char *ctype = NULL;
	p11e_rc rc;

	*out = NULL;
	if ((rc = exchange(e, "cacerts", NULL, NULL, NULL, &resp, err)) != P11E_OK)
		return rc;
	ctype = p11e_http_resp_header(&resp, "Content-Type");
	if (resp.status != 200)
		rc = p11e_errf(err, P11E_FAIL, "ca est: %s/cacerts answered HTTP %ld; rerun later",
			       e->base, resp.status);
	else if (!est_content_type_is(ctype, "application/pkcs7-mime"))
		rc = p11e_errf(err, P11E_FAIL,
			       "ca est: %s/cacerts: Content-Type is not application/pkcs7-mime",
			       e->base);
	else if (est_parse_certs(resp.body, resp.body_len, out, &why) != 0)
		rc = p11e_errf(err, P11E_FAIL, "ca est: %s/cacerts: %s", e->base, why);
	free(ctype);
	p11e_http_resp_free(&resp);
	return rc;
}

static p11e_rc est_chain(void *state, STACK_OF(X509) * *out, p11e_err *err)
{
	return get_cacerts(state, out, err);
}

/* --- the request's document --- */

typedef struct est_doc {
	char state[16]; /* "sent", "pending", "issued", "unsettled" */
	char *csr_b64;	/* the request as sent (base64 DER) */
	int reenroll;
	long long sent_at;
	char *cert_pem; /* issued */
	char reason[200];
} est_doc;

static void doc_clear(est_doc *d)
{
	free(d->csr_b64);
	free(d->cert_pem);
	memset(d, 0, sizeof(*d));
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : NULL;
}

/* P11E_NOT_FOUND when there is none. */
static p11e_rc doc_load(const est *e, const char *name, est_doc *d, p11e_err *err)
{
	unsigned char *text = NULL;
	struct json_object *o = NULL, *v;
	char where[300];
	size_t len = 0;
	p11e_rc rc;

	memset(d, 0, sizeof(*d));
	if ((rc = p11e_store_get(e->store, DOC_KIND, name, &text, &len, err)) != P11E_OK)
		return rc;
	o = json_tokener_parse((const char *)text);
	free(text);
	if (o == NULL || jstr(o, "state") == NULL || jstr(o, "csr") == NULL) {
		json_object_put(o);
		return p11e_errf(
		    err, P11E_FAIL, "ca est: %s is unreadable; remove it to start over",
		    p11e_store_describe(e->store, DOC_KIND, name, where, sizeof(where)));
	}
	snprintf(d->state, sizeof(d->state), "%s", jstr(o, "state"));
	d->csr_b64 = strdup(jstr(o, "csr"));
	d->cert_pem = jstr(o, "cert") ? strdup(jstr(o, "cert")) : NULL;
	if (jstr(o, "reason"))
		p11e_peer_copy(d->reason, sizeof(d->reason), jstr(o, "reason"));
	d->reenroll = json_object_object_get_ex(o, "reenroll", &v) && json_object_get_boolean(v);
	d->sent_at = json_object_object_get_ex(o, "sent_at", &v) ? json_object_get_int64(v) : 0;
	json_object_put(o);
	if (d->csr_b64 == NULL) {
		doc_clear(d);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	return P11E_OK;
}

static p11e_rc doc_save(const est *e, const char *name, const est_doc *d, p11e_err *err)
{
	struct json_object *o = json_object_new_object();
	const char *text;
	p11e_rc rc;

	json_object_object_add(o, "state", json_object_new_string(d->state));
	json_object_object_add(o, "url", json_object_new_string(e->base));
	json_object_object_add(o, "csr", json_object_new_string(d->csr_b64));
	json_object_object_add(o, "reenroll", json_object_new_boolean(d->reenroll));
	json_object_object_add(o, "sent_at", json_object_new_int64(d->sent_at));
	if (d->cert_pem != NULL)
		json_object_object_add(o, "cert", json_object_new_string(d->cert_pem));
	if (d->reason[0] != '\0')
		json_object_object_add(o, "reason", json_object_new_string(d->reason));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	rc = text ? p11e_store_put(e->store, DOC_KIND, name, text, strlen(text), P11E_STORE_DURABLE,
				   err)
		  : p11e_errf(err, P11E_FAIL, "out of memory");
	json_object_put(o);
	return rc;
}

/* The answer settled nothing at the CA (refused, failed, never reached):
 * the entry goes, a rerun sends the request afresh. */
static void doc_forget(const est *e, const char *name)
{
	p11e_store_remove(e->store, DOC_KIND, name, NULL);
}

/* The request reached the CA and its outcome is unknown: kept, said why. */
static p11e_rc unsettled(const est *e, const char *name, est_doc *d, const char *why, p11e_err *err)
{
	p11e_err ignored = {0};

	snprintf(d->state, sizeof(d->state), "unsettled");
	p11e_peer_copy(d->reason, sizeof(d->reason), why);
	doc_save(e, name, d, &ignored);
	if (e->resend_unanswered)
		return p11e_errf(err, P11E_FAIL,
				 "ca est: %s: %s; the CA may have issued a certificate: a rerun "
				 "sends the request again (\"resend_unanswered\" is set)",
				 e->base, d->reason);
	return p11e_errf(err, P11E_FAIL,
			 "ca est: %s: %s; the CA may have issued a certificate, and EST cannot "
			 "ask which: p11enroll will not send this request again (see "
			 "\"resend_unanswered\" in docs/config.md)",
			 e->base, d->reason);
}

/* The issued certificate and its chain from /cacerts into out. */
static p11e_rc take_issued(const est *e, const est_doc *d, p11e_ca_result *out, p11e_err *err)
{
	STACK_OF(X509) *pool = NULL;
	p11e_rc rc;

	if ((out->cert = p11e_x509_from_pem(d->cert_pem)) == NULL)
		return p11e_errf(err, P11E_FAIL, "ca est: the kept certificate is unreadable");
	if ((rc = get_cacerts(e, &pool, err)) != P11E_OK)
		return rc;
	out->chain = est_chain_for(out->cert, pool);
	sk_X509_pop_free(pool, X509_free);
	if (out->chain == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	out->state = P11E_CA_STATE_ISSUED;
	return P11E_OK;
}

/* A 200 answer: the certificate for the request's key, kept, then taken. */
static p11e_rc answered(const est *e, const char *name, est_doc *d, EVP_PKEY *pub,
			const p11e_http_resp *resp, p11e_ca_result *out, p11e_err *err)
{
	STACK_OF(X509) *certs = NULL;
	char *ctype = p11e_http_resp_header(resp, "Content-Type"), why[160];
	const char *bad = NULL;
	X509 *mine;
	p11e_rc rc;

	if (!est_content_type_is(ctype, "application/pkcs7-mime")) {
		char shown[60];
		p11e_peer_copy(shown, sizeof(shown), ctype ? ctype : "none");
		snprintf(why, sizeof(why),
			 "HTTP 200 with Content-Type %s, not application/pkcs7-mime", shown);
		free(ctype);
		return unsettled(e, name, d, why, err);
	}
	free(ctype);
	if (est_parse_certs(resp->body, resp->body_len, &certs, &bad) != 0) {
		snprintf(why, sizeof(why), "HTTP 200: %s", bad);
		return unsettled(e, name, d, why, err);
	}
	if ((mine = est_find_for_key(certs, pub)) == NULL) {
		sk_X509_pop_free(certs, X509_free);
		return unsettled(e, name, d,
				 "HTTP 200 with a certificate for another key than the request's "
				 "(not taken)",
				 err);
	}
	d->cert_pem = p11e_x509_to_pem(mine);
	sk_X509_pop_free(certs, X509_free);
	if (d->cert_pem == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(d->state, sizeof(d->state), "issued");
	d->reason[0] = '\0';
	if ((rc = doc_save(e, name, d, err)) != P11E_OK)
		return rc;
	pipe_crash_point("est-kept");
	return take_issued(e, d, out, err);
}

/* Sends d's request (recorded as sent first) and settles its answer. */
static p11e_rc send_request(const est *e, const char *name, est_doc *d, EVP_PKEY *pub,
			    p11e_ca_result *out, p11e_err *err)
{
	const char *op = d->reenroll ? "simplereenroll" : "simpleenroll";
	p11e_http_resp resp = {0};
	char why[300];
	p11e_err terr = {0};
	p11e_rc rc;

	if (d->reenroll && (e->renew_cert == NULL || e->renew_key == NULL))
		return p11e_errf(err, P11E_FAIL,
				 "ca est: this request is a renewal (simplereenroll), which needs "
				 "the certificate being renewed and its key on the token for TLS; "
				 "renew it again with the token present");
	snprintf(d->state, sizeof(d->state), "sent");
	d->sent_at = (long long)time(NULL);
	d->reason[0] = '\0';
	if ((rc = doc_save(e, name, d, err)) != P11E_OK)
		return rc;
	pipe_crash_point("est-sent");
	rc = exchange(e, op, d->csr_b64, d->reenroll ? e->renew_cert : NULL,
		      d->reenroll ? e->renew_key : NULL, &resp, &terr);
	if (rc == P11E_CONFIG) {
		doc_forget(e, name);
		*err = terr;
		return rc;
	}
	if (rc != P11E_OK) {
		if (p11e_http_never_sent(&resp)) {
			doc_forget(e, name);
			*err = terr;
			return P11E_FAIL;
		}
		snprintf(why, sizeof(why), "no answer to %s (%.200s)", op, terr.msg);
		return unsettled(e, name, d, why, err);
	}
	pipe_crash_point("est-answered");
	snprintf(out->request_id, sizeof(out->request_id), "%s", name + 17);
	if (resp.status == 200) {
		rc = answered(e, name, d, pub, &resp, out, err);
	} else if (resp.status == 202) {
		/* RFC 7030 4.2.3: the same request again after Retry-After. */
		snprintf(d->state, sizeof(d->state), "pending");
		rc = doc_save(e, name, d, err);
		out->state = P11E_CA_STATE_PENDING;
		out->retry_after = (int)p11e_http_retry_after(&resp, e->poll_interval);
	} else {
		char text[160];
		p11e_peer_copy(text, sizeof(text), resp.body ? resp.body : "");
		text[strcspn(text, "\r\n")] = '\0';
		doc_forget(e, name);
		if (resp.status == 401 || resp.status == 403)
			rc = p11e_errf(err, P11E_CA_REJECTED,
				       "ca est: %s/%s refused the client's authentication (HTTP "
				       "%ld); check \"username\"/\"password_source\" or the client "
				       "certificate",
				       e->base, op, resp.status);
		else if (resp.status >= 500 || resp.status < 400)
			rc = p11e_errf(err, P11E_FAIL,
				       "ca est: %s/%s answered HTTP %ld; rerun later", e->base, op,
				       resp.status);
		else {
			out->state = P11E_CA_STATE_REJECTED;
			snprintf(out->reason, sizeof(out->reason), "HTTP %ld: %s", resp.status,
				 text[0] ? text : "(no text)");
		}
	}
	p11e_http_resp_free(&resp);
	return rc;
}

/* What is kept for name decides: the certificate, a refusal to send again,
 * or (none, or pending) the request sent. */
static p11e_rc run(est *e, const char *name, est_doc *d, p11e_ca_result *out, p11e_err *err)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	const unsigned char *p;
	const char *why = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pub;
	char when[32] = "";
	p11e_rc rc;

	snprintf(out->request_id, sizeof(out->request_id), "%s", name + 17);
	if (strcmp(d->state, "issued") == 0 && d->cert_pem != NULL)
		return take_issued(e, d, out, err);
	if ((strcmp(d->state, "sent") == 0 || strcmp(d->state, "unsettled") == 0) &&
	    !e->resend_unanswered) {
		time_t t = (time_t)d->sent_at;
		struct tm tm;
		if (gmtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		return p11e_errf(err, P11E_FAIL,
				 "ca est: the request for this key was sent to %s at %s and its "
				 "answer is unknown (%s); EST cannot ask about it and a second "
				 "request could issue twice: check at the CA, then set "
				 "\"resend_unanswered\": true for it (docs/config.md), or forget "
				 "the identity and enroll a new key",
				 e->base, when, d->reason[0] ? d->reason : "a crash in flight");
	}
	if (est_base64_decode(d->csr_b64, strlen(d->csr_b64), &der, &der_len, &why) != 0)
		return p11e_errf(err, P11E_FAIL, "ca est: the kept request is unreadable: %s", why);
	p = der;
	req = d2i_X509_REQ(NULL, &p, (long)der_len);
	pub = req ? X509_REQ_get0_pubkey(req) : NULL;
	if (pub == NULL)
		rc = p11e_errf(err, P11E_FAIL, "ca est: the kept request is not a PKCS#10 CSR");
	else
		rc = send_request(e, name, d, pub, out, err);
	X509_REQ_free(req);
	free(der);
	return rc;
}

static int is_hex64(const char *s)
{
	size_t n = 0;

	for (; s != NULL && s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 64;
}

static p11e_rc est_submit(void *state, X509_REQ *csr, const p11e_profile *profile,
			  const char *request_key, p11e_ca_result *out, p11e_err *err)
{
	est *e = state;
	char name[17 + 65];
	unsigned char *der = NULL;
	int der_len;
	est_doc d;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	if (!is_hex64(request_key))
		return p11e_errf(err, P11E_FAIL, "ca est: the request key is not a SHA-256");
	snprintf(name, sizeof(name), "%s-%s", e->hash, request_key);
	rc = doc_load(e, name, &d, err);
	if (rc == P11E_NOT_FOUND) {
		memset(&d, 0, sizeof(d));
		der_len = i2d_X509_REQ(csr, &der);
		d.csr_b64 = der_len > 0 ? malloc(4 * ((size_t)der_len + 2) / 3 + 4) : NULL;
		if (d.csr_b64 == NULL) {
			OPENSSL_free(der);
			drop_renewal(e);
			return p11e_errf_ssl(err, P11E_FAIL, "ca est: cannot encode the CSR");
		}
		EVP_EncodeBlock((unsigned char *)d.csr_b64, der, der_len);
		OPENSSL_free(der);
		/* A renewal with the old key at hand: simplereenroll; without it
		 * (a software key, already gone), an ordinary enrollment. */
		d.reenroll = e->renew_cert != NULL && e->renew_key != NULL;
		rc = P11E_OK;
	}
	if (rc == P11E_OK)
		rc = run(e, name, &d, out, err);
	doc_clear(&d);
	drop_renewal(e);
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	return rc;
}

static p11e_rc est_poll(void *state, const char *request_id, const p11e_profile *profile,
			p11e_ca_result *out, p11e_err *err)
{
	est *e = state;
	char name[17 + 65];
	est_doc d;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	if (!is_hex64(request_id)) {
		drop_renewal(e);
		return p11e_errf(
		    err, P11E_FAIL,
		    "ca est: request '%.40s' is not an EST request of p11enroll's; was "
		    "it submitted to another CA?",
		    request_id ? request_id : "");
	}
	snprintf(name, sizeof(name), "%s-%s", e->hash, request_id);
	rc = doc_load(e, name, &d, err);
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "ca est: no request %.16s... is kept for %s; was it submitted to "
			       "another CA?",
			       request_id, e->base);
	if (rc == P11E_OK)
		rc = run(e, name, &d, out, err);
	doc_clear(&d);
	drop_renewal(e);
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	return rc;
}

/* Wanted only for what a renewal hands over (the old key): the new key
 * proves itself by the CSR's signature. */
static p11e_rc est_set_requester(void *state, EVP_PKEY *key, const char *identity, p11e_err *err)
{
	(void)state;
	(void)key;
	(void)identity;
	(void)err;
	return P11E_OK;
}

static p11e_rc est_set_renewal(void *state, const p11e_ca_renewal *renewal, p11e_err *err)
{
	est *e = state;

	(void)err;
	drop_renewal(e);
	if (renewal == NULL || renewal->old_cert == NULL || renewal->old_key == NULL)
		return P11E_OK;
	if (!X509_up_ref(renewal->old_cert))
		return p11e_errf(err, P11E_FAIL, "out of memory");
	e->renew_cert = renewal->old_cert;
	if (!EVP_PKEY_up_ref(renewal->old_key)) {
		drop_renewal(e);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	e->renew_key = renewal->old_key;
	return P11E_OK;
}

const p11e_ca_ops p11e_ca_est_ops = {
    .type = "est",
    .open = est_open,
    .submit = est_submit,
    .poll = est_poll,
    .chain = est_chain,
    .close = est_close,
    .set_requester = est_set_requester,
    .config_keys = known_keys,
    .set_renewal = est_set_renewal,
    .revoke_none = "EST (RFC 7030) has no revocation",
};
