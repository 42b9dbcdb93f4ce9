/* http.c: response header lookup, Retry-After forms, the transport rule
 * (user info refused), ca_bundle as the only trust, and a refused
 * connection (a closed loopback port, no retries). Real requests
 * are proven against CFSSL, Pebble, scepserver and the stubs in
 * tests/integration. */
#define _GNU_SOURCE /* unshare(2) */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
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
	/* A huge delta or a date centuries away: a day at most (finding 22). */
	char huge[] = "HTTP/1.1 200 OK\r\nRetry-After: 99999999999999999999999\r\n\r\n";
	char far[] = "HTTP/1.1 200 OK\r\nRetry-After: Fri, 01 Jan 2100 00:00:00 GMT\r\n\r\n";
	r.headers = huge;
	CHECK(p11e_http_retry_after(&r, 5) == 86400);
	r.headers = far;
	CHECK(p11e_http_retry_after(&r, 5) == 86400);
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
	/* User info: curl connects to the host after the '@', never to the
	 * "localhost" before it (finding 19); https too, and no password shown. */
	req.url = "http://localhost:80@evil.example/";
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "user info") != NULL && strstr(err.msg, "evil.example") != NULL);
	req.url = "http://127.0.0.1@evil.example/";
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_CONFIG, &err);
	req.url = "https://alice:s3cret@ca.example.com/";
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "s3cret") == NULL);
	req.url = "not a url";
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_CONFIG, &err);
	/* A closed port: a one-line failure naming the url; no_retry means one try. */
	req.url = "http://127.0.0.1:1/nothing";
	req.no_retry = 1;
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "127.0.0.1:1/nothing") != NULL &&
	      strstr(err.msg, "is the CA up") != NULL);
	CHECK(resp.body == NULL && resp.status == 0);
}

/* An `openssl s_server -www` on 127.0.0.1 with dir/srv.pem, on a port the
 * kernel picks (no race); its port, or 0. It ends after `accepts` clients. */
static int start_tls_server(const char *dir, int accepts)
{
	char cmd[1024], *out = NULL;
	int port = 0;

	snprintf(cmd, sizeof(cmd),
		 "cd %s && (timeout 300 openssl s_server -accept 127.0.0.1:0 -cert srv.pem "
		 "-key srv.key -www -naccept %d >server.log 2>&1 &)",
		 dir, accepts);
	if (check_sh(cmd) != 0)
		return 0;
	/* Generous: a loaded CI machine starts openssl slowly. */
	for (int i = 0; i < 600 && port == 0; i++) {
		const char *a;
		snprintf(cmd, sizeof(cmd), "cat %s/server.log", dir);
		free(out);
		out = check_capture(cmd);
		if (out != NULL && (a = strstr(out, "ACCEPT 127.0.0.1:")) != NULL)
			port = atoi(a + strlen("ACCEPT 127.0.0.1:"));
		else
			check_sh("sleep 0.1");
	}
	free(out);
	return port;
}

/* With ca_bundle, exactly that bundle is trusted (finding 18). Debian's
 * libcurl also trusts its CA directory /etc/ssl/certs: in a private mount
 * namespace (root only) a directory trusting the test server's CA is
 * mounted there (with another CA as its default bundle file). Without
 * ca_bundle the request then succeeds (the directory is in use); with a
 * bundle of another CA it must fail. */
static void ca_bundle_is_exact(void)
{
	char dir[] = "/tmp/p11e-http-XXXXXX", cmd[2048], url[64];
	p11e_http h = {.retries = 0, .connect_timeout_s = 30, .total_timeout_s = 60};
	p11e_http_req req = {.url = url, .no_retry = 1};
	p11e_http_resp resp;
	p11e_err err;
	int port;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		fprintf(stderr, "ca_bundle_is_exact: skipped (needs root and mount namespaces)\n");
		return;
	}
	CHECK(mkdtemp(dir) != NULL);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && mkdir certs && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout ca.key -out certs/ca.pem -subj /CN=trusted-by-directory -days 2 && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-keyout other.key -out other.pem -subj /CN=the-bundle -days 2 && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key "
		 "-subj /CN=127.0.0.1 -out srv.csr && "
		 "printf 'subjectAltName=IP:127.0.0.1\\n' >ext && "
		 "openssl x509 -req -in srv.csr -CA certs/ca.pem -CAkey ca.key -CAcreateserial "
		 "-days 2 -extfile ext -out srv.pem && cp other.pem certs/ca-certificates.crt && "
		 "openssl rehash certs",
		 dir);
	CHECK(check_sh(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "%s/certs", dir);
	CHECK(mount(cmd, "/etc/ssl/certs", NULL, MS_BIND, NULL) == 0);
	port = start_tls_server(dir, 2);
	CHECK(port > 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_OK, &err);
	CHECK(resp.status == 200);
	p11e_http_resp_free(&resp);
	snprintf(cmd, sizeof(cmd), "%s/other.pem", dir);
	h.ca_bundle = cmd;
	CHECK_RC(p11e_http_request(&h, &req, &resp, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "certificate") != NULL);
	umount("/etc/ssl/certs");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	check_sh(cmd);
}

int main(void)
{
	header_lookup();
	retry_after();
	transport();
	ca_bundle_is_exact();
	return check_done();
}
