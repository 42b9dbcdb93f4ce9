/* The two RFC 9773 CA ops of the acme backend (renewal_window and
 * set_renewal, src/ca/ca_acme_ari.c) against servers: the real Pebble
 * (Debian's 2.4, whose directory has no renewalInfo) and
 * tests/stubs/acme_ari_stub.py, a STUB in front of that Pebble which adds
 * only what Pebble 2.4 lacks (a renewalInfo resource answering what the test
 * sets, and a log of each newOrder's payload; Pebble does the rest). The
 * certID itself is checked against openssl's AKI and serial, and against the
 * RFC's example, in test_peer_acme_ari.c. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "ca/ca_acme.h"
#include "p11enroll/clock.h"
#include "p11enroll/pem.h"

/* RFC 9773 Appendix A: AKI keyIdentifier 69:88:5B:..:C8:D4, serial
 * 0x87654321 (DER content 00 87 65 43 21), dates in the year 1. */
static const char rfc_example_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt\n"
    "cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS\n"
    "BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu\n"
    "7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf\n"
    "qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B\n"
    "yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb\n"
    "+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK\n"
    "-----END CERTIFICATE-----\n";

static char tmpdir[] = "/tmp/test_acme_ari_servers.XXXXXX";

static char pebble_url[300], stub_url[300];

static const char *tests_dir(void)
{
	const char *d = getenv("TESTS_DIR");
	return d != NULL ? d : "tests";
}

/* Pebble (tests/lib/pebble.sh) and the stub in front of it, in the
 * background; their PIDs in tmpdir/pb.pid and stub.pid. */
static int start_servers(void)
{
	char cmd[2000], *url, *port = NULL;

	snprintf(cmd, sizeof(cmd),
		 "cd %s && mkdir -p pb webroot && bash -c '. %s/lib/ports.sh && . %s/lib/pebble.sh && "
		 "pebble_start %s/pb && echo $PEBBLE_PID >pb.pid && echo $PEBBLE_URL >pb.url'",
		 tmpdir, tests_dir(), tests_dir(), tmpdir);
	if (check_sh(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "cat %s/pb.url", tmpdir);
	if ((url = check_capture(cmd)) == NULL)
		return -1;
	url[strcspn(url, "\n")] = '\0';
	snprintf(pebble_url, sizeof(pebble_url), "%s", url);
	free(url);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && (python3 %s/stubs/acme_ari_stub.py --port-file stub.port --upstream %s "
		 "--upstream-ca pb/tls-ca.pem --tls-cert pb/tls.pem --tls-key pb/tls.key "
		 ">stub.log 2>&1 & echo $! >stub.pid) && "
		 "for i in $(seq 600); do [ -s stub.port ] && exit 0; sleep 0.1; done; exit 1",
		 tmpdir, tests_dir(), pebble_url);
	if (check_sh(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "cat %s/stub.port", tmpdir);
	if ((port = check_capture(cmd)) == NULL)
		return -1;
	snprintf(stub_url, sizeof(stub_url), "https://127.0.0.1:%d/dir", atoi(port));
	free(port);
	return 0;
}

static void stop_server(const char *pidfile)
{
	char path[300], *text, cmd[400];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, pidfile);
	snprintf(cmd, sizeof(cmd), "cat %s 2>/dev/null", path);
	if ((text = check_capture(cmd)) != NULL && atoi(text) > 1)
		kill((pid_t)atoi(text), SIGTERM);
	free(text);
}

/* A control request to the stub (POST json to /_stub/WHAT); 0 on success. */
static int stub_control(const char *what, const char *json)
{
	char cmd[3000];
	size_t n = strlen(stub_url) - strlen("/dir");

	snprintf(cmd, sizeof(cmd),
		 "curl -sf --max-time 60 --cacert %s/pb/tls-ca.pem -o /dev/null -d '%s' "
		 "%.*s/_stub/%s",
		 tmpdir, json, (int)n, stub_url, what);
	return check_sh(cmd);
}

/* The stub's log: an array of {method, path, payload}. */
static json_object *stub_log(void)
{
	char cmd[600], *text;
	json_object *o;
	size_t n = strlen(stub_url) - strlen("/dir");

	snprintf(cmd, sizeof(cmd),
		 "curl -sf --max-time 60 --cacert %s/pb/tls-ca.pem %.*s/_stub/log", tmpdir, (int)n,
		 stub_url);
	text = check_capture(cmd);
	o = text ? json_tokener_parse(text) : NULL;
	free(text);
	return o;
}

/* The newOrder payloads logged since entry `from`; *count set to the log's length. */
static json_object *new_orders(size_t from, size_t *count)
{
	json_object *log = stub_log(), *out = json_object_new_array();
	size_t n = log ? json_object_array_length(log) : 0;

	for (size_t i = from; i < n; i++) {
		json_object *e = json_object_array_get_idx(log, i), *p;
		if (strcmp(acme_str(e, "method") ? acme_str(e, "method") : "", "POST") == 0 &&
		    json_object_object_get_ex(e, "payload", &p) &&
		    json_object_object_get_ex(p, "identifiers", NULL))
			json_object_array_add(out, json_object_get(p));
	}
	*count = n;
	json_object_put(log);
	return out;
}

/* Whether the stub's log has a GET of path. */
static int stub_saw_get(const char *path)
{
	json_object *log = stub_log();
	int saw = 0;

	for (size_t i = 0; log != NULL && i < json_object_array_length(log); i++) {
		json_object *e = json_object_array_get_idx(log, i);
		saw |= acme_str(e, "path") != NULL && strcmp(acme_str(e, "path"), path) == 0;
	}
	json_object_put(log);
	return saw;
}

static p11e_ca *open_ca(const char *url, const char *name)
{
	char conf_text[1500];
	json_object *conf;
	p11e_ca *ca = NULL;
	p11e_err err = {0};

	snprintf(conf_text, sizeof(conf_text),
		 "{\"type\":\"acme\",\"url\":\"%s\",\"ca_bundle\":\"%s/pb/tls-ca.pem\","
		 "\"terms_agreed\":true,\"dir\":\"%s/%s\",\"webroot\":\"%s/webroot\"}",
		 url, tmpdir, tmpdir, name, tmpdir);
	conf = json_tokener_parse(conf_text);
	CHECK_RC(p11e_ca_open(conf, &ca, &err), P11E_OK, &err);
	json_object_put(conf);
	return ca;
}

static X509_REQ *make_csr(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *san =
	    X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:ari.example.org");

	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"ari.example.org", -1, -1, 0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, key);
	sk_X509_EXTENSION_push(exts, san);
	X509_REQ_add_extensions(req, exts);
	X509_REQ_sign(req, key, EVP_sha256());
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	EVP_PKEY_free(key);
	return req;
}

/* The request id of ca's last issue(). */
static char last_request_id[512];

/* An issued certificate (new reference) from ca for csr, or NULL. */
static X509 *issue(p11e_ca *ca, X509_REQ *csr, const char *request_key)
{
	p11e_ca_result r;
	p11e_err err = {0};
	X509 *cert = NULL;

	CHECK_RC(p11e_ca_submit(ca, csr, NULL, request_key, &r, &err), P11E_OK, &err);
	snprintf(last_request_id, sizeof(last_request_id), "%s", r.request_id);
	CHECK(r.state == P11E_CA_STATE_ISSUED && r.cert != NULL);
	if (r.state != P11E_CA_STATE_ISSUED)
		fprintf(stderr, "%s: state %d: %s\n", request_key, (int)r.state, r.reason);
	if (r.cert != NULL)
		cert = X509_dup(r.cert);
	p11e_ca_result_clear(&r);
	return cert;
}

static const char *payload_replaces(json_object *orders, size_t i)
{
	return acme_str(json_object_array_get_idx(orders, i), "replaces");
}

static void servers(void)
{
	X509_REQ *csr = make_csr();
	X509 *old = NULL, *cert = NULL, *expired = p11e_x509_from_pem(rfc_example_pem);
	p11e_ca *ca;
	p11e_ca_renewal ren = {0};
	p11e_err err = {0};
	long long start = 0, end = 0;
	const char *cert_id = NULL;
	char *want = NULL, path[300], body[600], answer[1400], s1[21], s2[21];
	json_object *orders;
	size_t seen = 0, n;

	if (start_servers() != 0) {
		CHECK(!"pebble and the stub start (tests/lib/pebble.sh, python3)");
		goto out;
	}
	/* 1. The real Pebble 2.4: no renewalInfo, so no window; a renewal
	 * ordered there still goes through. */
	ca = open_ca(pebble_url, "acme");
	old = issue(ca, csr, "k1");
	CHECK(old != NULL);
	if (old == NULL) {
		p11e_ca_close(ca);
		goto out;
	}
	CHECK_RC(p11e_ca_renewal_window(ca, old, &start, &end, &err), P11E_NOT_FOUND, &err);
	CHECK(strstr(err.msg, "offers no renewal information") != NULL && start == 0 && end == 0);
	ren.old_cert = old;
	CHECK_RC(p11e_ca_set_renewal(ca, &ren, &err), P11E_OK, &err);
	cert = issue(ca, csr, "k2");
	CHECK(cert != NULL);
	X509_free(cert);
	p11e_ca_close(ca);

	/* Its certID (test_peer_acme_ari.c and renew_acme.sh check the function
	 * against openssl's AKI and serial). */
	CHECK_RC(acme_ari_cert_id(old, &want, &err), P11E_OK, &err);
	if (want == NULL)
		goto out;
	cert_id = want;

	/* 2. Through the stub as Pebble 2.4 is (mode plain): the renewal's
	 * newOrder carries no "replaces". */
	CHECK(stub_control("mode", "{\"mode\":\"plain\"}") == 0);
	ca = open_ca(stub_url, "acme-stub");
	CHECK_RC(p11e_ca_renewal_window(ca, old, &start, &end, &err), P11E_NOT_FOUND, &err);
	CHECK_RC(p11e_ca_set_renewal(ca, &ren, &err), P11E_OK, &err);
	cert = issue(ca, csr, "k3");
	X509_free(cert);
	orders = new_orders(seen, &seen);
	CHECK(json_object_array_length(orders) == 1 && payload_replaces(orders, 0) == NULL);
	json_object_put(orders);
	p11e_ca_close(ca);

	/* 3. The stub offers renewalInfo (mode ari). */
	CHECK(stub_control("mode", "{\"mode\":\"ari\"}") == 0);
	ca = open_ca(stub_url, "acme-stub");
	/* Not known to the CA (404): no window. */
	CHECK_RC(p11e_ca_renewal_window(ca, old, &start, &end, &err), P11E_NOT_FOUND, &err);
	/* The RFC's answer shape, with a window a day from now. */
	p11e_iso_format(p11e_now() + 86400, s1);
	p11e_iso_format(p11e_now() + 2 * 86400, s2);
	snprintf(body, sizeof(body),
		 "{\\\"suggestedWindow\\\":{\\\"start\\\":\\\"%s\\\",\\\"end\\\":\\\"%s\\\"},"
		 "\\\"explanationURL\\\":\\\"https://acme.example.com/docs/ari\\\"}",
		 s1, s2);
	snprintf(answer, sizeof(answer),
		 "{\"cert_id\":\"%s\",\"status\":200,\"retry_after\":\"21600\",\"body\":\"%s\"}",
		 cert_id, body);
	CHECK(stub_control("answer", answer) == 0);
	CHECK_RC(p11e_ca_renewal_window(ca, old, &start, &end, &err), P11E_OK, &err);
	CHECK(start == (long long)p11e_iso_parse(s1) && end == (long long)p11e_iso_parse(s2));
	CHECK(strstr(err.msg, "https://acme.example.com/docs/ari") != NULL);
	snprintf(path, sizeof(path), "/renewal-info/%s", want);
	CHECK(stub_saw_get(path));
	/* Invalid answers: one line each, and no window. */
	snprintf(answer, sizeof(answer),
		 "{\"cert_id\":\"%s\",\"body\":\"{\\\"suggestedWindow\\\":{\\\"start\\\":"
		 "\\\"%s\\\",\\\"end\\\":\\\"%s\\\"}}\"}",
		 cert_id, s2, s1);
	CHECK(stub_control("answer", answer) == 0);
	CHECK_RC(p11e_ca_renewal_window(ca, old, &start, &end, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "ends before it starts") != NULL && strchr(err.msg, '\n') == NULL);
	snprintf(answer, sizeof(answer),
		 "{\"cert_id\":\"%s\",\"body\":\"{\\\"suggestedWindow\\\":{\\\"start\\\":"
		 "\\\"9000-01-01T00:00:00Z\\\",\\\"end\\\":\\\"9000-01-02T00:00:00Z\\\"}}\"}",
		 cert_id);
	CHECK(stub_control("answer", answer) == 0);
	CHECK_RC(p11e_ca_renewal_window(ca, old, &start, &end, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "starts after the certificate expires") != NULL);
	snprintf(answer, sizeof(answer),
		 "{\"cert_id\":\"%s\",\"status\":403,\"body\":\"{\\\"type\\\":\\\"urn:ietf:"
		 "params:acme:error:unauthorized\\\",\\\"detail\\\":\\\"no\\\"}\"}",
		 cert_id);
	CHECK(stub_control("answer", answer) == 0);
	CHECK_RC(p11e_ca_renewal_window(ca, old, &start, &end, &err), P11E_CA_REJECTED, &err);
	CHECK(strstr(err.msg, "unauthorized: no (HTTP 403)") != NULL);
	/* An expired certificate (the RFC's, from the year 1): not asked about. */
	CHECK_RC(p11e_ca_renewal_window(ca, expired, &start, &end, &err), P11E_NOT_FOUND, &err);
	CHECK(strstr(err.msg, "expired") != NULL);
	CHECK(!stub_saw_get("/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"));
	/* The renewal's newOrder names the old certificate; the next, a first
	 * enrollment, does not (set_renewal is used up by its submit). */
	CHECK_RC(p11e_ca_set_renewal(ca, &ren, &err), P11E_OK, &err);
	cert = issue(ca, csr, "k4");
	X509_free(cert);
	cert = issue(ca, csr, "k5");
	X509_free(cert);
	orders = new_orders(seen, &seen);
	n = json_object_array_length(orders);
	CHECK(n == 2 && payload_replaces(orders, 0) != NULL &&
	      strcmp(payload_replaces(orders, 0), want) == 0 &&
	      payload_replaces(orders, 1) == NULL);
	json_object_put(orders);
	/* A certificate without an AKI cannot be named: set_renewal is no
	 * error and leaves err alone, and the renewal is an ordinary order. */
	{
		char cmd[800], *pem;
		X509 *noaki;
		p11e_ca_renewal r2 = {0};
		snprintf(cmd, sizeof(cmd),
			 "cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
			 "-subj /CN=noaki -keyout noaki.key -out noaki.csr 2>/dev/null && "
			 "printf 'subjectKeyIdentifier=none\\nauthorityKeyIdentifier=none\\n' "
			 ">noaki.ext && openssl x509 -req -in noaki.csr -signkey noaki.key -days 7 "
			 "-extfile noaki.ext 2>/dev/null",
			 tmpdir);
		pem = check_capture(cmd);
		noaki = pem ? p11e_x509_from_pem(pem) : NULL;
		CHECK(noaki != NULL && X509_get0_authority_key_id(noaki) == NULL);
		r2.old_cert = noaki;
		snprintf(err.msg, sizeof(err.msg), "untouched");
		CHECK_RC(p11e_ca_set_renewal(ca, &r2, &err), P11E_OK, &err);
		CHECK(strcmp(err.msg, "untouched") == 0);
		cert = issue(ca, csr, "k5a");
		X509_free(cert);
		orders = new_orders(seen, &seen);
		CHECK(json_object_array_length(orders) == 1 && payload_replaces(orders, 0) == NULL);
		json_object_put(orders);
		X509_free(noaki);
		free(pem);
	}
	/* A renewal set for a poll is used up by it too: the submit after it
	 * (another identity's, in a batch) names nothing. */
	CHECK_RC(p11e_ca_set_renewal(ca, &ren, &err), P11E_OK, &err);
	{
		p11e_ca_result r;
		CHECK_RC(p11e_ca_poll(ca, last_request_id, NULL, &r, &err), P11E_OK, &err);
		CHECK(r.state == P11E_CA_STATE_ISSUED);
		p11e_ca_result_clear(&r);
	}
	cert = issue(ca, csr, "k5b");
	X509_free(cert);
	orders = new_orders(seen, &seen);
	CHECK(json_object_array_length(orders) == 1 && payload_replaces(orders, 0) == NULL);
	json_object_put(orders);
	p11e_ca_close(ca);

	/* 4. alreadyReplaced (409): ordered again once, without "replaces". */
	CHECK(stub_control("mode", "{\"mode\":\"already-replaced-once\"}") == 0);
	ca = open_ca(stub_url, "acme-stub");
	CHECK_RC(p11e_ca_set_renewal(ca, &ren, &err), P11E_OK, &err);
	cert = issue(ca, csr, "k6");
	CHECK(cert != NULL);
	X509_free(cert);
	orders = new_orders(seen, &seen);
	n = json_object_array_length(orders);
	CHECK(n == 2 && payload_replaces(orders, 0) != NULL &&
	      strcmp(payload_replaces(orders, 0), want) == 0 &&
	      payload_replaces(orders, 1) == NULL);
	json_object_put(orders);
	/* set_renewal(NULL): a first enrollment again. */
	CHECK_RC(p11e_ca_set_renewal(ca, NULL, &err), P11E_OK, &err);
	p11e_ca_close(ca);

	/* A CA that refuses even the order without "replaces": REJECTED, saying so. */
	CHECK(stub_control("mode", "{\"mode\":\"already-replaced-always\"}") == 0);
	ca = open_ca(stub_url, "acme-stub");
	CHECK_RC(p11e_ca_set_renewal(ca, &ren, &err), P11E_OK, &err);
	{
		p11e_ca_result r;
		CHECK_RC(p11e_ca_submit(ca, csr, NULL, "k7", &r, &err), P11E_OK, &err);
		CHECK(r.state == P11E_CA_STATE_REJECTED &&
		      strstr(r.reason, "already replaced (RFC 9773), even when asked without") !=
			  NULL &&
		      strstr(r.reason, "alreadyReplaced") != NULL);
		p11e_ca_result_clear(&r);
	}
	orders = new_orders(seen, &seen);
	CHECK(json_object_array_length(orders) == 2 && payload_replaces(orders, 1) == NULL);
	json_object_put(orders);
	p11e_ca_close(ca);
out:
	stop_server("stub.pid");
	stop_server("pb.pid");
	free(want);
	X509_free(old);
	X509_free(expired);
	X509_REQ_free(csr);
}

int main(void)
{
	char cmd[200];

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	servers();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	check_sh(cmd);
	return check_done();
}
