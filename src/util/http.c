/* libcurl for the CA backends. One request per call, no shared state. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "p11enroll/http.h"

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

/* Secrets travel in TLS, so https is required, except to this very machine. */
static int transport_ok(const char *url)
{
	static const char *const loopback[] = {
	    "http://127.", "http://localhost:", "http://localhost/", "http://[::1]", NULL};

	if (strncasecmp(url, "https://", 8) == 0)
		return 1;
	for (size_t i = 0; loopback[i] != NULL; i++)
		if (strncasecmp(url, loopback[i], strlen(loopback[i])) == 0)
			return 1;
	return 0;
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
	char ctype[128];
	const char *method = req->method;
	CURLcode cc = CURLE_OK;
	buffer b = {0}, hb = {0};
	CURL *c = NULL;
	p11e_rc rc = P11E_OK;
	int retries = req->no_retry ? 0 : (h->retries < 0 ? 0 : h->retries);

	memset(resp, 0, sizeof(*resp));
	if (method == NULL)
		method = req->body != NULL ? "POST" : "GET";
	if (!transport_ok(req->url))
		return p11e_errf(err, P11E_CONFIG,
				 "url %s: use https:// (plain http only to this machine)",
				 req->url);
	c = curl_easy_init();
	if (c == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "cannot start an HTTP request");
		goto out;
	}
	if (req->body != NULL) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
			 req->content_type ? req->content_type : "application/json");
		headers = curl_slist_append(headers, ctype);
	}
	if (h->header != NULL)
		headers = curl_slist_append(headers, h->header);
	for (size_t i = 0; req->headers != NULL && req->headers[i] != NULL; i++)
		headers = curl_slist_append(headers, req->headers[i]);
	headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
	if (headers == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L); /* never switched off */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_bundle != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_bundle);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
			 h->connect_timeout_s ? h->connect_timeout_s : 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->total_timeout_s ? h->total_timeout_s : 60L);
	for (int attempt = 0;; attempt++) {
		free(b.data);
		free(hb.data);
		b = (buffer){0};
		hb = (buffer){0};
		curl_err[0] = '\0';
		cc = curl_easy_perform(c);
		resp->status = 0;
		if (cc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		if (!transient(cc, resp->status) || attempt >= retries)
			break;
		backoff(attempt);
	}
	if (cc != CURLE_OK) {
		resp->status = 0;
		rc = p11e_errf(err, P11E_FAIL, "%s: %s; is the CA up?", req->url,
			       b.too_big     ? "answer too large"
			       : curl_err[0] ? curl_err
					     : curl_easy_strerror(cc));
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
	curl_slist_free_all(headers);
	if (c != NULL)
		curl_easy_cleanup(c);
	return rc;
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
		time_t when = curl_getdate(v, NULL);

		secs = when < 0 ? def : (long)(when - time(NULL));
	}
	free(v);
	return secs < 0 ? 0 : secs;
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
