/* libcurl for the CA backends. One request per call, no shared state. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <dlfcn.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/ssl.h>
#include "p11enroll/http.h"
#include "p11enroll/peer.h"
#include "p11enroll/util.h"

#define BODY_MAX (4 * 1024 * 1024)

typedef struct buffer {
	char *data;
	size_t len;
	int too_big;
} buffer;

static size_t collect(char *ptr, size_t size, size_t n, void *user)
{
	buffer *b = user;
	size_t add = size * n;
	char *grown;

	if (b->len + add > BODY_MAX) {
		b->too_big = 1;
		return 0;
	}
	grown = realloc(b->data, b->len + add + 1);
	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

/* Whether host (up to len characters) is this machine: localhost, [::1] or
 * an IPv4 address in 127.0.0.0/8 (not a name that merely starts "127."). */
static int loopback_host(const char *host, size_t len)
{
	int parts = 0, digits = 0;

	if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
	    (len == 5 && strncmp(host, "[::1]", 5) == 0))
		return 1;
	if (len < 9 || strncmp(host, "127.", 4) != 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (host[i] >= '0' && host[i] <= '9') {
			if (++digits > 3)
				return 0;
		} else if (host[i] == '.' && digits > 0) {
			parts++;
			digits = 0;
		} else {
			return 0;
		}
	}
	return parts == 3 && digits > 0;
}

static long get_long(const json_object *conf, const char *key, long def, long min, long max,
		     int *bad)
{
	json_object *v;

	if (conf == NULL || !json_object_object_get_ex(conf, key, &v))
		return def;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < min ||
	    json_object_get_int64(v) > max) {
		*bad = 1;
		return def;
	}
	return (long)json_object_get_int64(v);
}

p11e_rc p11e_http_from_config(const json_object *conf, const char *ca_name, p11e_http *h,
			      p11e_err *err)
{
	json_object *v;
	int bad = 0;

	memset(h, 0, sizeof(*h));
	if (json_object_object_get_ex(conf, "ca_bundle", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return p11e_errf(err, P11E_CONFIG, "ca %s: \"ca_bundle\" must be a path",
					 ca_name);
		h->ca_bundle = json_object_get_string(v);
	}
	h->total_timeout_s = get_long(conf, "timeout", 60, 1, 3600, &bad);
	if (bad)
		return p11e_errf(err, P11E_CONFIG, "ca %s: \"timeout\" must be 1 to 3600 seconds",
				 ca_name);
	h->connect_timeout_s = get_long(conf, "connect_timeout", 10, 1, 600, &bad);
	if (bad)
		return p11e_errf(err, P11E_CONFIG,
				 "ca %s: \"connect_timeout\" must be 1 to 600 seconds", ca_name);
	h->retries = (int)get_long(conf, "retries", 2, 0, 10, &bad);
	if (bad)
		return p11e_errf(err, P11E_CONFIG, "ca %s: \"retries\" must be 0 to 10", ca_name);
	return P11E_OK;
}

/* Connection failures and 5xx are worth another try; 4xx is the CA's answer. */
static int transient(CURLcode cc, long status)
{
	if (cc == CURLE_OK)
		return status >= 500;
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT ||
	       cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING ||
	       cc == CURLE_COULDNT_RESOLVE_HOST;
}

/* libcurl is opened on first use, not linked: its two dozen dependencies
 * cost about 20 ms at every start of the process (measured on the CI kind
 * of machine), and most runs (the embedded CA) never speak HTTP. The table
 * lives with each call; dlopen hands back the same mapping every time. */
typedef struct curl_api {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	time_t (*getdate)(const char *, const time_t *);
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
	CURLUcode (*url_get)(CURLU *, CURLUPart, char **, unsigned int);
	void (*url_cleanup)(CURLU *);
	void (*free)(void *);
} curl_api;

static int load_curl(curl_api *api)
{
	static const char *const names[] = {
	    "curl_easy_init",	 "curl_easy_setopt",   "curl_easy_perform",   "curl_easy_getinfo",
	    "curl_easy_cleanup", "curl_easy_strerror", "curl_slist_append",   "curl_slist_free_all",
	    "curl_getdate",	 "curl_global_init",   "curl_global_cleanup", "curl_url",
	    "curl_url_set",	 "curl_url_get",       "curl_url_cleanup",    "curl_free"};
	void **slots[] = {(void **)&api->easy_init,	 (void **)&api->easy_setopt,
			  (void **)&api->easy_perform,	 (void **)&api->easy_getinfo,
			  (void **)&api->easy_cleanup,	 (void **)&api->easy_strerror,
			  (void **)&api->slist_append,	 (void **)&api->slist_free_all,
			  (void **)&api->getdate,	 (void **)&api->global_init,
			  (void **)&api->global_cleanup, (void **)&api->url,
			  (void **)&api->url_set,	 (void **)&api->url_get,
			  (void **)&api->url_cleanup,	 (void **)&api->free};
	static const char *const sonames[] = {"libcurl.so.4", NULL};

	return p11e_dl_symbols(sonames, names, slots, sizeof(names) / sizeof(names[0]));
}

const char *p11e_http_curl_version(void)
{
	/* Its own dlopen: --version must not set up the whole table. */
	void *dl = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	char *(*version)(void) = dl ? (char *(*)(void))dlsym(dl, "curl_version") : NULL;

	return version ? version() : NULL;
}

/* Parses url with libcurl's own parser into *out, the handle the transfer
 * then uses (CURLOPT_CURLU), so the host checked here is the host curl
 * connects to: a hand-written split misread "http://localhost:80@evil/".
 * Secrets travel in TLS, so https is required, except to this very machine;
 * user info is refused everywhere (credentials belong in the config, and a
 * URL an ACME server sends must not smuggle a host past the check). */
static p11e_rc parse_url(const curl_api *api, const char *url, CURLU **out, p11e_err *err)
{
	CURLU *u = api->url();
	char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (u == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (api->url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    api->url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    api->url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		/* Not shown: what does not parse may hold anything, a password too. */
		rc = p11e_errf(err, P11E_CONFIG,
			       "url: not a valid http(s) URL (not shown); use https://HOST/PATH");
		goto out;
	}
	/* CURLUE_NO_USER / CURLUE_NO_PASSWORD when absent: anything else is there. */
	if (api->url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    api->url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "url for host %s: user info (\"user@\" before the host) is not "
			       "allowed; remove it (credentials go in the config)",
			       host);
		goto out;
	}
	if (strcasecmp(scheme, "https") != 0 &&
	    (strcasecmp(scheme, "http") != 0 || !loopback_host(host, strlen(host)))) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "url %s: use https:// (plain http only to this machine)", url);
		goto out;
	}
	*out = u;
	u = NULL;
out:
	api->free(scheme);
	api->free(host);
	api->free(user);
	api->free(password);
	if (u != NULL)
		api->url_cleanup(u);
	return rc;
}

int p11e_http_global_init(void)
{
	curl_api api;

	return load_curl(&api) == 0 && api.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void p11e_http_global_cleanup(void)
{
	curl_api api;

	if (load_curl(&api) == 0)
		api.global_cleanup();
}

/* Keeps only the last response's headers: after a redirect or a 100
 * Continue, the block starts again at its status line. */
static size_t collect_header(char *ptr, size_t size, size_t n, void *user)
{
	buffer *b = user;

	if (size * n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		b->len = 0;
		if (b->data != NULL)
			b->data[0] = '\0';
	}
	return collect(ptr, size, n, user);
}

/* CURLOPT_SSL_CTX_FUNCTION: libcurl's OpenSSL context takes the certificate
 * and the key from memory (a token's key cannot be named by a PEM file). */
static CURLcode use_client_key(CURL *c, void *ssl_ctx, void *arg)
{
	const p11e_http *h = arg;

	(void)c;
	if (SSL_CTX_use_certificate(ssl_ctx, h->client_x509) != 1 ||
	    SSL_CTX_use_PrivateKey(ssl_ctx, h->client_pkey) != 1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

static void backoff(int attempt)
{
	/* 1 s, 2 s, 4 s ...: a restarting CA gets time to come up. */
	struct timespec ts = {1L << (attempt < 5 ? attempt : 5), 0};

	nanosleep(&ts, NULL);
}

p11e_rc p11e_http_request(const p11e_http *h, const p11e_http_req *req, p11e_http_resp *resp,
			  p11e_err *err)
{
	struct curl_slist *headers = NULL;
	char curl_err[CURL_ERROR_SIZE] = "";
	curl_api api;
	char ctype[128];
	const char *method = req->method;
	CURLcode cc = CURLE_OK;
	buffer b = {0}, hb = {0};
	CURL *c = NULL;
	CURLU *url = NULL;
	p11e_rc rc = P11E_OK;
	int retries = req->no_retry ? 0 : (h->retries < 0 ? 0 : h->retries);

	memset(resp, 0, sizeof(*resp));
	if (method == NULL)
		method = req->body != NULL ? "POST" : "GET";
	if (load_curl(&api) != 0)
		return p11e_errf(err, P11E_FAIL,
				 "cannot load libcurl.so.4 for %s; install libcurl4-openssl-dev "
				 "or libcurl4",
				 req->url);
	if ((rc = parse_url(&api, req->url, &url, err)) != P11E_OK)
		return rc;
	c = api.easy_init();
	if (c == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "cannot start an HTTP request");
		goto out;
	}
	if (req->body != NULL) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
			 req->content_type ? req->content_type : "application/json");
		headers = api.slist_append(headers, ctype);
	}
	if (h->header != NULL)
		headers = api.slist_append(headers, h->header);
	for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
		headers = api.slist_append(headers, req->headers[i]);
	headers = api.slist_append(headers, "Expect:"); /* no 100-continue round trip */
	if (headers == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	api.easy_setopt(c, CURLOPT_CURLU, url);
	if (strcmp(method, "HEAD") == 0) {
		api.easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->body != NULL) {
		api.easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
		api.easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		if (strcmp(method, "POST") != 0)
			api.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0) {
		api.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	api.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	api.easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	api.easy_setopt(c, CURLOPT_WRITEDATA, &b);
	api.easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
	api.easy_setopt(c, CURLOPT_HEADERDATA, &hb);
	api.easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	api.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L); /* never switched off */
	api.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_bundle != NULL) {
		/* Exactly this bundle: Debian's libcurl also has a default CA
		 * directory (/etc/ssl/certs), through which any public CA could
		 * otherwise stand in for a private Vault, CFSSL or SCEP server. */
		api.easy_setopt(c, CURLOPT_CAINFO, h->ca_bundle);
		api.easy_setopt(c, CURLOPT_CAPATH, (char *)NULL);
	}
	if (h->client_cert != NULL) {
		api.easy_setopt(c, CURLOPT_SSLCERT, h->client_cert);
		api.easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
		if (h->client_key != NULL)
			api.easy_setopt(c, CURLOPT_SSLKEY, h->client_key);
	}
	if (h->auth != 0) {
		static const long methods[] = {0, CURLAUTH_BASIC, CURLAUTH_NTLM,
					       CURLAUTH_NEGOTIATE};
		api.easy_setopt(
		    c, CURLOPT_HTTPAUTH,
		    h->auth > 0 && h->auth <= P11E_HTTP_AUTH_NEGOTIATE ? methods[h->auth] : 0L);
		/* Negotiate takes no name: libcurl then uses the ccache's. */
		api.easy_setopt(c, CURLOPT_USERNAME, h->username ? h->username : "");
		api.easy_setopt(c, CURLOPT_PASSWORD, h->password ? h->password : "");
	}
	if (h->client_x509 != NULL && h->client_pkey != NULL) {
		api.easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, use_client_key);
		api.easy_setopt(c, CURLOPT_SSL_CTX_DATA, (void *)h);
	}
	api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
			h->connect_timeout_s ? h->connect_timeout_s : 10L);
	api.easy_setopt(c, CURLOPT_TIMEOUT, h->total_timeout_s ? h->total_timeout_s : 60L);
	for (int attempt = 0;; attempt++) {
		free(b.data);
		free(hb.data);
		b = (buffer){0};
		hb = (buffer){0};
		curl_err[0] = '\0';
		cc = api.easy_perform(c);
		resp->status = 0;
		if (cc == CURLE_OK)
			api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		if (!transient(cc, resp->status) || attempt >= retries)
			break;
		backoff(attempt);
	}
	if (cc != CURLE_OK) {
		resp->status = 0;
		resp->curl_code = (int)cc;
		{
			long sent = 0;
			api.easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
			resp->request_sent = sent > 0;
		}
		rc = p11e_errf(err, P11E_FAIL, "%s: %s; is the CA up?", req->url,
			       b.too_big     ? "answer too large"
			       : curl_err[0] ? curl_err
					     : api.easy_strerror(cc));
		goto out;
	}
	resp->body = b.data ? b.data : strdup("");
	resp->body_len = b.len;
	resp->headers = hb.data ? hb.data : strdup("");
	b.data = hb.data = NULL;
	if (resp->body == NULL || resp->headers == NULL) {
		p11e_http_resp_free(resp);
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	}
out:
	free(b.data);
	free(hb.data);
	api.slist_free_all(headers);
	if (c != NULL)
		api.easy_cleanup(c);
	if (url != NULL)
		api.url_cleanup(url); /* after the easy handle that uses it */
	return rc;
}

int p11e_http_never_sent(const p11e_http_resp *resp)
{
	return !resp->request_sent || resp->curl_code == CURLE_COULDNT_CONNECT ||
	       resp->curl_code == CURLE_COULDNT_RESOLVE_HOST ||
	       resp->curl_code == CURLE_SSL_CONNECT_ERROR ||
	       resp->curl_code == CURLE_PEER_FAILED_VERIFICATION ||
	       resp->curl_code == CURLE_SSL_CERTPROBLEM ||
	       resp->curl_code == CURLE_SSL_CACERT_BADFILE;
}

void p11e_http_resp_free(p11e_http_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	free(resp->headers);
	memset(resp, 0, sizeof(*resp));
}

char *p11e_http_resp_header(const p11e_http_resp *resp, const char *name)
{
	size_t nlen = strlen(name);
	const char *line = resp->headers;

	while (line != NULL && *line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (len > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			const char *ve = line + len;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			return strndup(v, (size_t)(ve - v));
		}
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

long p11e_http_retry_after(const p11e_http_resp *resp, long def)
{
	char *v = p11e_http_resp_header(resp, "Retry-After");
	long secs = def;
	char *end;

	if (v == NULL)
		return def;
	secs = strtol(v, &end, 10);
	if (end == v || *end != '\0') {
		curl_api api;
		time_t when = load_curl(&api) == 0 ? api.getdate(v, NULL) : -1;

		secs = when < 0 ? def : (long)(when - time(NULL));
	}
	free(v);
	/* A peer's number: at most a day, so callers' "* 1000" cannot overflow
	 * into a negative wait (a tight polling loop). */
	return p11e_peer_wait_s(secs);
}

p11e_rc p11e_http_post(const p11e_http *h, const char *url, const char *body, long *status,
		       char **out, p11e_err *err)
{
	p11e_http_req req = {.url = url, .body = body, .body_len = strlen(body)};
	p11e_http_resp resp;
	p11e_rc rc;

	*status = 0;
	*out = NULL;
	rc = p11e_http_request(h, &req, &resp, err);
	if (rc != P11E_OK)
		return rc;
	*status = resp.status;
	*out = resp.body;
	resp.body = NULL;
	p11e_http_resp_free(&resp);
	return P11E_OK;
}

int p11e_http_error_text(const p11e_err *err, char *msg, size_t cap)
{
	const char *hint = strstr(err->msg, "; is the CA up?");
	int len = hint != NULL ? (int)(hint - err->msg) : (int)strlen(err->msg);

	snprintf(msg, cap, "%.*s", len, err->msg);
	return strstr(msg, "SSL") != NULL || strstr(msg, "certificate") != NULL;
}
