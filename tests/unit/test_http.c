/* http.c: response header lookup, Retry-After forms, the transport rule and
 * a refused connection (a closed loopback port, no retries). Real requests
 * are proven against CFSSL, Pebble, scepserver and the stubs in
 * tests/integration. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "p11enroll/http.h"

static void header_lookup(void)
{
	char block[] = "HTTP/1.1 201 Created\r\n"
		       "Replay-Nonce:   abc-DEF_1 \r\n"
		       "location: https://ca/acct/1\r\n"
		       "Link: <https://ca/dir>;rel=\"index\"\r\n"
		       "Link: <https://ca/alt>;rel=\"alternate\"\r\n"
		       "\r\n";
	p11e_http_resp r = {.status = 201, .headers = block};
	char *v;

	v = p11e_http_resp_header(&r, "replay-nonce");
	CHECK(v != NULL && strcmp(v, "abc-DEF_1") == 0);
	free(v);
	v = p11e_http_resp_header(&r, "Location");
	CHECK(v != NULL && strcmp(v, "https://ca/acct/1") == 0);
	free(v);
	v = p11e_http_resp_header(&r, "Link");
	CHECK(v != NULL && strstr(v, "index") != NULL); /* the first of two */
	free(v);
	CHECK(p11e_http_resp_header(&r, "Retry-After") == NULL);
	CHECK(p11e_http_resp_header(&r, "Locatio") == NULL); /* whole names only */
	CHECK(p11e_http_retry_after(&r, 7) == 7);
}

static void retry_after(void)
{
	char delta[] = "HTTP/1.1 200 OK\r\nRetry-After: 30\r\n\r\n";
	char junk[] = "HTTP/1.1 200 OK\r\nRetry-After: soon\r\n\r\n";
	char past[] = "HTTP/1.1 200 OK\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n";
	char future[128];
	char date[64];
	time_t later = time(NULL) + 120;
	p11e_http_resp r = {.headers = delta};
	long s;

	CHECK(p11e_http_retry_after(&r, 5) == 30);
	r.headers = junk;
	CHECK(p11e_http_retry_after(&r, 5) == 5);
	r.headers = past;
	CHECK(p11e_http_retry_after(&r, 5) == 0);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
	snprintf(future, sizeof(future), "HTTP/1.1 200 OK\r\nRetry-After: %s\r\n\r\n", date);
	r.headers = future;
	s = p11e_http_retry_after(&r, 5);
	CHECK(s > 100 && s <= 120);
}

static void transport(void)
{
	p11e_http h = {.retries = 3, .connect_timeout_s = 2, .total_timeout_s = 5};
	p11e_http_req req = {.url = "http://ca.example.com/x"};
	p11e_http_resp resp;
	p11e_err err;

	/* Plain http leaves this machine: refused before any connection. */
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "https://") != NULL);
	/* Names that only look like this machine leave it too. */
	req.url = "http://127.example.com/x";
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_CONFIG, &err);
	req.url = "http://localhost.example.com/x";
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_CONFIG, &err);
	req.url = "http://127.0.0.1.example.com/x";
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_CONFIG, &err);
	req.url = "ftp://127.0.0.1/x";
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_CONFIG, &err);
	/* A closed port: a one-line failure naming the url; no_retry means one try. */
	req.url = "http://127.0.0.1:1/nothing";
	req.no_retry = 1;
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "127.0.0.1:1/nothing") != NULL &&
	      strstr(err.msg, "is the CA up") != NULL);
	CHECK(resp.body == NULL && resp.status == 0);
}

int main(void)
{
	header_lookup();
	retry_after();
	transport();
	return check_done();
}
