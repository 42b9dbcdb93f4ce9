/* Microsoft AD CS web enrollment ("certsrv"): the CSR submitted to
 * certfnsh.asp with a certificate template, a pending request fetched later
 * by its request id, the CA chain from certnew.p7b. Authentication by Basic
 * over TLS, NTLM or Negotiate (libcurl), the password read from its source
 * for each operation and wiped after it.
 *
 *   { "type": "certsrv", "url": "https://ca.example.com/certsrv",
 *     "template": "SmartcardLogon", "auth": "ntlm",
 *     "username": "EXAMPLE\\enroll", "password_source": "file:/etc/p11enroll/adcs.pw" }
 *
 *   POST {url}/certfnsh.asp   Mode=newreq, CertRequest (PEM), CertAttrib
 *                             ("CertificateTemplate:T" and our request key)
 *   GET  {url}/certnew.cer?ReqID=N&Enc=b64     the certificate, or a page
 *   GET  {url}/certcarc.asp, certnew.p7b?ReqID=CACert&Renewal=R&Enc=b64
 *
 * certsrv takes no idempotency key and cannot be asked which request a
 * lost answer belonged to. So a document "certsrv-request" is made durable
 * before the CSR is sent and holds the request id once the answer came:
 * a rerun for the same CSR asks about that id, never sends it again; if
 * p11enroll stopped while the CA had the request and before its answer was
 * kept, the rerun says so and sends nothing (the operator finds the request
 * in the CA by the attribute p11enroll-request:KEY; docs/config.md, certsrv).
 * Revocation is not part of web enrollment: revoke in the CA console. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include <openssl/x509v3.h>
#include "ca/ca_certsrv.h"
#include "ca/ca_home.h"
#include "p11enroll/ca.h"
#include "p11enroll/conf.h"
#include "p11enroll/csr.h"
#include "p11enroll/http.h"
#include "p11enroll/peer.h"
#include "p11enroll/sbuf.h"
#include "p11enroll/secret.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"

#define DEFAULT_POLL_INTERVAL 600
#define KIND "certsrv-request"
/* certsrv chooses the Content-Type of a download by the browser it thinks
 * it talks to (seen by other certsrv clients): present as one. */
#define USER_AGENT "User-Agent: Mozilla/5.0 (compatible; p11enroll)"

static const char *const known_keys[] = {
    "type",
    "url",
    "template",
    "auth",
    "username",
    "password_source",
    "poll_interval",
    "dir",
    "ca_bundle",
    "timeout",
    "connect_timeout",
    "retries",
    "resend_unanswered",
    NULL,
};

typedef struct certsrv {
	json_object *conf; /* our reference: the strings below point into it */
	char base[512];	   /* url without its trailing '/' */
	const char *template_name;
	const char *username;
	const char *password_source; /* NULL: Negotiate or no authentication */
	int poll_interval;
	int resend_unanswered; /* the operator found no request at the CA: send again */
	p11e_http http;
	char hash[17];
	char *dir;
	p11e_store *store;
} certsrv;

/* A template name goes into "CertificateTemplate:NAME\r\n": no line break,
 * no colon, printable. */
static int template_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.' && *s != ' ')
			return 0;
	return 1;
}

static p11e_rc read_auth(certsrv *c, p11e_err *err)
{
	const char *auth = p11e_conf_string(c->conf, "auth");
	static const char *const names[] = {NULL, "basic", "ntlm", "negotiate"};

	c->username = p11e_conf_string(c->conf, "username");
	c->password_source = p11e_conf_string(c->conf, "password_source");
	for (int i = 1; auth != NULL && i <= P11E_HTTP_AUTH_NEGOTIATE; i++)
		if (strcmp(auth, names[i]) == 0)
			c->http.auth = i;
	if (auth != NULL && c->http.auth == 0)
		return p11e_errf(err, P11E_CONFIG,
				 "ca certsrv: \"auth\" must be basic, ntlm or negotiate");
	if (c->http.auth == P11E_HTTP_AUTH_BASIC || c->http.auth == P11E_HTTP_AUTH_NTLM) {
		if (c->username == NULL || c->username[0] == '\0' ||
		    strpbrk(c->username, "\r\n:") != NULL)
			return p11e_errf(err, P11E_CONFIG,
					 "ca certsrv: \"username\" is required with auth %s "
					 "(DOMAIN\\user or user@domain, no ':' or line break)",
					 auth);
		if (c->password_source == NULL || (strncmp(c->password_source, "env:", 4) != 0 &&
						   strncmp(c->password_source, "file:", 5) != 0))
			return p11e_errf(err, P11E_CONFIG,
					 "ca certsrv: \"password_source\" is required with auth "
					 "%s: env:VAR or file:PATH (never the password itself)",
					 auth);
		if (c->http.auth == P11E_HTTP_AUTH_BASIC && strncmp(c->base, "https://", 8) != 0)
			return p11e_errf(err, P11E_CONFIG,
					 "ca certsrv: Basic authentication only over https: "
					 "\"url\" must start with https://");
	} else if (c->username != NULL || c->password_source != NULL) {
		return p11e_errf(err, P11E_CONFIG,
				 "ca certsrv: \"username\" and \"password_source\" need "
				 "\"auth\": basic or ntlm (negotiate uses the Kerberos ticket)");
	}
	return P11E_OK;
}

static void certsrv_close(void *state)
{
	certsrv *c = state;

	if (c == NULL)
		return;
	p11e_store_close(c->store);
	free(c->dir);
	json_object_put(c->conf);
	free(c);
}

/* store: the config's store open in this process (p11e_ca_open_in), shared
 * for the request documents; NULL: opened from the config's "_store". */
static p11e_rc certsrv_open_in(const json_object *conf, p11e_store *store, void **state,
			       p11e_err *err)
{
	certsrv *c = calloc(1, sizeof(*c));
	const char *url, *dir;
	json_object *v, *js;
	size_t n;
	p11e_rc rc;

	*state = NULL;
	if (c == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	c->conf = json_object_get((json_object *)conf);
	if ((rc = p11e_conf_check_keys(conf, known_keys, "ca certsrv", err)) != P11E_OK)
		goto fail;
	url = p11e_conf_string(conf, "url");
	n = url ? strlen(url) : 0;
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(c->base) || strncmp(url, "http", 4) != 0) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca certsrv: \"url\" is required: the web enrollment's base, like "
			       "https://ca.example.com/certsrv");
		goto fail;
	}
	memcpy(c->base, url, n);
	c->template_name = p11e_conf_string(conf, "template");
	if (!template_ok(c->template_name)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca certsrv: \"template\" is required: the certificate template's "
			       "name (letters, digits, '-', '_', '.', spaces; at most 64)");
		goto fail;
	}
	c->poll_interval = DEFAULT_POLL_INTERVAL;
	if (json_object_object_get_ex(conf, "poll_interval", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
		    json_object_get_int64(v) > 86400) {
			rc = p11e_errf(err, P11E_CONFIG,
				       "ca certsrv: \"poll_interval\" must be 1 to 86400 seconds");
			goto fail;
		}
		c->poll_interval = (int)json_object_get_int64(v);
	}
	if (json_object_object_get_ex(conf, "resend_unanswered", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			rc = p11e_errf(err, P11E_CONFIG,
				       "ca certsrv: \"resend_unanswered\" must be true or false");
			goto fail;
		}
		c->resend_unanswered = json_object_get_boolean(v);
	}
	if ((rc = p11e_http_from_config(conf, "certsrv", &c->http, err)) != P11E_OK ||
	    (rc = read_auth(c, err)) != P11E_OK)
		goto fail;
	if (ca_url_hash(c->base, c->hash) != 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca certsrv: cannot hash the URL");
		goto fail;
	}
	dir = p11e_conf_string(conf, "dir");
	c->dir =
	    dir ? strdup(dir)
		: ca_home_default_dir(p11e_conf_string(conf, "_state_dir"), "certsrv", c->hash);
	if (c->dir == NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca certsrv: no \"dir\" for its requests and no state directory "
			       "(P11ENROLL_STATE_DIR, HOME) to put them in");
		goto fail;
	}
	if (!json_object_object_get_ex(conf, "_store", &js))
		js = NULL;
	rc = store != NULL ? p11e_store_open_home_in(store, c->dir, &c->store, err)
			   : p11e_store_open_home(js, c->dir, &c->store, err);
	if (rc != P11E_OK)
		goto fail;
	*state = c;
	return P11E_OK;
fail:
	certsrv_close(c);
	return rc;
}

static p11e_rc certsrv_open(const json_object *conf, void **state, p11e_err *err)
{
	return certsrv_open_in(conf, NULL, state, err);
}

/* One exchange with the password read for it and wiped after it. */
static p11e_rc exchange(certsrv *c, const p11e_http_req *req, p11e_http_resp *resp, p11e_err *err)
{
	p11e_http h = c->http;
	char *pw = NULL;
	p11e_err inner = {0};
	p11e_rc rc;

	if (c->password_source != NULL) {
		if (p11e_secret_read(c->password_source, "certsrv password", &pw, &inner) !=
		    P11E_OK)
			return p11e_errf(err, P11E_CONFIG, "ca certsrv: password_source: %s",
					 inner.msg);
		h.username = c->username;
		h.password = pw;
	}
	rc = p11e_http_request(&h, req, resp, err);
	p11e_secret_free(pw, (size_t)-1);
	if (rc == P11E_OK && resp->status == 401) {
		p11e_http_resp_free(resp);
		return p11e_errf(err, P11E_CONFIG,
				 "ca certsrv: %s refused the credentials (HTTP 401): check "
				 "\"username\", \"password_source\" and \"auth\"",
				 c->base);
	}
	return rc;
}

static p11e_rc get(certsrv *c, const char *path, p11e_http_resp *resp, p11e_err *err)
{
	const char *headers[] = {USER_AGENT, NULL};
	char url[1024];
	p11e_http_req req = {.method = "GET", .url = url, .headers = headers};
	p11e_rc rc;

	snprintf(url, sizeof(url), "%s/%s", c->base, path);
	if ((rc = exchange(c, &req, resp, err)) != P11E_OK)
		return rc;
	if (resp->status != 200) {
		long st = resp->status;
		p11e_http_resp_free(resp);
		return p11e_errf(err, P11E_FAIL, "ca certsrv: %s answered HTTP %ld; is the CA up?",
				 url, st);
	}
	return P11E_OK;
}

/* The CA's certificates, issuing CA first when leaf is given. */
static p11e_rc fetch_chain(certsrv *c, X509 *leaf, STACK_OF(X509) * *out, p11e_err *err)
{
	p11e_http_resp resp = {0};
	char path[128];
	int renewals = 0;
	STACK_OF(X509) *all = NULL, *ordered = NULL;
	p11e_rc rc;

	*out = NULL;
	if ((rc = get(c, "certcarc.asp", &resp, err)) != P11E_OK)
		return rc;
	if (certsrv_parse_renewals(resp.body, resp.body_len, &renewals) != 0) {
		p11e_http_resp_free(&resp);
		return p11e_errf(err, P11E_FAIL,
				 "ca certsrv: certcarc.asp is not certsrv's CA page (no renewal "
				 "count): is \"url\" the certsrv base?");
	}
	p11e_http_resp_free(&resp);
	snprintf(path, sizeof(path), "certnew.p7b?ReqID=CACert&Renewal=%d&Enc=b64", renewals);
	if ((rc = get(c, path, &resp, err)) != P11E_OK)
		return rc;
	if (certsrv_parse_chain(resp.body, resp.body_len, &all) != 0) {
		p11e_http_resp_free(&resp);
		return p11e_errf(err, P11E_FAIL,
				 "ca certsrv: certnew.p7b is not a PKCS#7 of certificates");
	}
	p11e_http_resp_free(&resp);
	if (leaf == NULL) {
		*out = all;
		return P11E_OK;
	}
	/* From the leaf's issuer up: what the pipeline stores and verifies. */
	if ((ordered = sk_X509_new_null()) == NULL)
		goto oom;
	for (X509 *cur = leaf; sk_X509_num(ordered) < sk_X509_num(all);) {
		X509 *next = NULL;
		for (int i = 0; i < sk_X509_num(all) && next == NULL; i++)
			if (X509_check_issued(sk_X509_value(all, i), cur) == X509_V_OK)
				next = sk_X509_value(all, i);
		if (next == NULL || next == cur || !X509_up_ref(next))
			break;
		if (!sk_X509_push(ordered, next)) {
			X509_free(next);
			goto oom;
		}
		if (X509_check_issued(next, next) == X509_V_OK)
			break; /* the root */
		cur = next;
	}
	sk_X509_pop_free(all, X509_free);
	if (sk_X509_num(ordered) == 0) {
		sk_X509_free(ordered);
		return p11e_errf(err, P11E_FAIL,
				 "ca certsrv: the CA's chain (certnew.p7b) holds no issuer of the "
				 "certificate it issued");
	}
	*out = ordered;
	return P11E_OK;
oom:
	sk_X509_pop_free(all, X509_free);
	sk_X509_pop_free(ordered, X509_free);
	return p11e_errf(err, P11E_FAIL, "out of memory");
}

static p11e_rc certsrv_poll(void *state, const char *request_id, const p11e_profile *profile,
			    p11e_ca_result *out, p11e_err *err)
{
	certsrv *c = state;
	p11e_http_resp resp = {0};
	certsrv_answer ans;
	char path[96], *ctype = NULL, *end = NULL;
	long id = request_id ? strtol(request_id, &end, 10) : 0;
	X509 *cert = NULL;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	if (request_id == NULL || end == request_id || *end != '\0' || id < 1 ||
	    id > CERTSRV_REQ_ID_MAX)
		return p11e_errf(err, P11E_USAGE,
				 "ca certsrv: request id '%.40s' is not a certsrv request number",
				 request_id ? request_id : "");
	snprintf(out->request_id, sizeof(out->request_id), "%ld", id);
	snprintf(path, sizeof(path), "certnew.cer?ReqID=%ld&Enc=b64", id);
	if ((rc = get(c, path, &resp, err)) != P11E_OK)
		return rc;
	ctype = p11e_http_resp_header(&resp, "Content-Type");
	if (certsrv_parse_cert(ctype, resp.body, resp.body_len, &cert, &ans) != 0) {
		rc = p11e_errf(err, P11E_FAIL,
			       "ca certsrv: certnew.cer for request %ld is neither a certificate "
			       "nor certsrv's page about it (Content-Type %.60s)",
			       id, ctype ? p11e_peer_clean(ctype) : "none");
		goto out;
	}
	switch (ans.disposition) {
	case CERTSRV_ISSUED:
		out->state = P11E_CA_STATE_ISSUED;
		out->cert = cert;
		cert = NULL;
		rc = fetch_chain(c, out->cert, &out->chain, err);
		break;
	case CERTSRV_PENDING:
		out->state = P11E_CA_STATE_PENDING; /* an answer, not a failure */
		out->retry_after = c->poll_interval;
		break;
	default:
		out->state = P11E_CA_STATE_REJECTED;
		snprintf(out->reason, sizeof(out->reason), "request %ld: %.200s", id, ans.message);
		break;
	}
out:
	X509_free(cert);
	free(ctype);
	p11e_http_resp_free(&resp);
	return rc;
}

/* application/x-www-form-urlencoded: unreserved bytes kept, the rest %XX. */
static void form_add(p11e_sbuf *b, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";

	if (b->len > 0)
		p11e_sbuf_str(b, "&");
	p11e_sbuf_str(b, name);
	p11e_sbuf_str(b, "=");
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		char enc[3] = {(char)*p, 0, 0};
		size_t n = 1;
		if (!isalnum(*p) && strchr("-._~", *p) == NULL) {
			enc[0] = '%';
			enc[1] = hex[*p >> 4];
			enc[2] = hex[*p & 15];
			n = 3;
		}
		p11e_sbuf_add(b, enc, n);
	}
}

/* The request's document: {"sent": TIME} before the CSR leaves, then
 * {"sent": TIME, "req_id": N}. */
static p11e_rc save_doc(certsrv *c, const char *key, long sent, long req_id, int flags,
			p11e_err *err)
{
	char text[128], name[160];

	snprintf(name, sizeof(name), "%s/%s", c->hash, key);
	if (req_id > 0)
		snprintf(text, sizeof(text), "{\"sent\": %ld, \"req_id\": %ld}\n", sent, req_id);
	else
		snprintf(text, sizeof(text), "{\"sent\": %ld}\n", sent);
	return p11e_store_put(c->store, KIND, name, text, strlen(text), P11E_STORE_DURABLE | flags,
			      err);
}

/* The saved document for name: 1 with *req_id (0 when the answer was
 * lost), 0 when there is none, -1 with err. */
static int load_doc(certsrv *c, const char *key, long *sent, long *req_id, p11e_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	json_object *o = NULL, *v;
	char name[160];
	p11e_rc rc;

	snprintf(name, sizeof(name), "%s/%s", c->hash, key);
	rc = p11e_store_get(c->store, KIND, name, &data, &len, err);

	*sent = *req_id = 0;
	if (rc == P11E_NOT_FOUND) {
		*err = (p11e_err){0};
		return 0;
	}
	if (rc != P11E_OK)
		return -1;
	o = p11e_peer_json_object((const char *)data, len);
	free(data);
	if (o == NULL || !json_object_object_get_ex(o, "sent", &v) ||
	    !json_object_is_type(v, json_type_int)) {
		json_object_put(o);
		p11e_errf(err, P11E_FAIL, "ca certsrv: the request document %s is damaged", name);
		return -1;
	}
	*sent = (long)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "req_id", &v) && json_object_is_type(v, json_type_int))
		*req_id = (long)json_object_get_int64(v);
	json_object_put(o);
	return 1;
}

static void remove_doc(certsrv *c, const char *key)
{
	char name[160];

	snprintf(name, sizeof(name), "%s/%s", c->hash, key);
	p11e_store_remove(c->store, KIND, name, NULL);
}

static p11e_rc certsrv_submit(void *state, X509_REQ *csr, const p11e_profile *profile,
			      const char *request_key, p11e_ca_result *out, p11e_err *err)
{
	certsrv *c = state;
	const char *headers[] = {USER_AGENT, NULL};
	char url[600], attrib[160], when[32];
	char *pem = NULL;
	long sent = 0, req_id = 0;
	p11e_sbuf body = {0};
	p11e_http_resp resp = {0};
	p11e_http_req req = {.method = "POST",
			     .url = url,
			     .content_type = "application/x-www-form-urlencoded",
			     .headers = headers,
			     .no_retry = 1};
	certsrv_answer ans;
	struct tm tm;
	int found;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if ((found = load_doc(c, request_key, &sent, &req_id, err)) < 0)
		return err->rc;
	if (found && req_id > 0) { /* sent before: ask about it, never again */
		char id[24];
		snprintf(id, sizeof(id), "%ld", req_id);
		return certsrv_poll(state, id, profile, out, err);
	}
	if (found && !c->resend_unanswered) {
		time_t t = (time_t)sent;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		return p11e_errf(
		    err, P11E_CA_REJECTED,
		    "ca certsrv: this CSR was sent to %s at %s and p11enroll "
		    "stopped before its answer was kept; certsrv cannot tell which "
		    "request it was, so nothing is sent again: find the request with "
		    "attribute p11enroll-request:%s in the CA console, deny or revoke it "
		    "there and start over with `p11enroll forget`; or, if the CA holds "
		    "none, set \"resend_unanswered\": true on this CA to send it again",
		    c->base, when, request_key);
	}
	if ((pem = p11e_csr_to_pem(csr)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	sent = (long)time(NULL);
	/* CREATE: two runs of one CSR never both send it (a resend replaces
	 * the unanswered document the operator cleared). */
	if ((rc = save_doc(c, request_key, sent, 0, found ? 0 : P11E_STORE_CREATE, err)) != P11E_OK)
		goto out;
	snprintf(url, sizeof(url), "%s/certfnsh.asp", c->base);
	/* The request key as a request attribute: what finds the request in
	 * the CA after a lost answer. */
	snprintf(attrib, sizeof(attrib), "CertificateTemplate:%s\r\np11enroll-request:%s",
		 c->template_name, request_key);
	form_add(&body, "Mode", "newreq");
	form_add(&body, "CertRequest", pem);
	form_add(&body, "CertAttrib", attrib);
	form_add(&body, "TargetStoreFlags", "0");
	form_add(&body, "SaveCert", "yes");
	if (body.failed) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	req.body = body.p;
	req.body_len = body.len;
	rc = exchange(c, &req, &resp, err);
	if (rc != P11E_OK) {
		/* Refused credentials or no connection at all: the CA never took
		 * the request, and a rerun may send it. */
		if (rc == P11E_CONFIG || p11e_http_never_sent(&resp))
			remove_doc(c, request_key);
		goto out;
	}
	if (resp.status != 200) {
		rc = p11e_errf(err, P11E_FAIL,
			       "ca certsrv: %s answered HTTP %ld; whether it took the request is "
			       "unknown: a rerun says what to do",
			       url, resp.status);
		goto out;
	}
	if (certsrv_parse_submit(resp.body, resp.body_len, &ans) != 0) {
		rc = p11e_errf(err, P11E_FAIL,
			       "ca certsrv: %s answered a page that is not certsrv's answer to a "
			       "request (no request id, no disposition): is \"url\" the certsrv "
			       "base?",
			       url);
		goto out;
	}
	if (ans.disposition == CERTSRV_DENIED) {
		/* Denied requests have an id in the CA, but the page names none:
		 * the rerun of this CSR is denied again without asking. */
		remove_doc(c, request_key);
		out->state = P11E_CA_STATE_REJECTED;
		snprintf(out->reason, sizeof(out->reason), "%s",
			 ans.message[0] ? ans.message : "denied, without a message");
		goto out;
	}
	if ((rc = save_doc(c, request_key, sent, ans.req_id, 0, err)) != P11E_OK)
		goto out;
	snprintf(out->request_id, sizeof(out->request_id), "%ld", ans.req_id);
	if (ans.disposition == CERTSRV_PENDING) {
		out->state = P11E_CA_STATE_PENDING;
		out->retry_after = c->poll_interval;
		goto out;
	}
	rc = certsrv_poll(state, out->request_id, profile, out, err);
out:
	p11e_http_resp_free(&resp);
	p11e_sbuf_free(&body);
	free(pem);
	return rc;
}

static p11e_rc certsrv_chain(void *state, STACK_OF(X509) * *out, p11e_err *err)
{
	return fetch_chain(state, NULL, out, err);
}

const p11e_ca_ops p11e_ca_certsrv_ops = {
    .type = "certsrv",
    .open = certsrv_open,
    .submit = certsrv_submit,
    .poll = certsrv_poll,
    .chain = certsrv_chain,
    .close = certsrv_close,
    .open_in = certsrv_open_in,
    .config_keys = known_keys,
};
