/* ACME Renewal Information (RFC 9773, src/ca/ca_acme_ari.c) without a
 * server: the certID of the RFC's own example certificate (Appendix A) and
 * of certificates openssl makes here; RFC 3339 times in the forms the RFC
 * allows and the ones it does not; RECORDED RenewalInfo answers (the RFC's
 * example from section 4.2, and malformed ones: wrong types, missing
 * members, a window that ends before it starts, times before 1970, a huge
 * body), each a one-line "malformed", never a crash; a directory's
 * renewalInfo that is not a URL. The CA ops against servers are in
 * test_acme_ari_servers.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "check.h"
#include "ca/ca_acme.h"
#include "p11enroll/clock.h"
#include "p11enroll/pem.h"

#define LEN(s) s, strlen(s)

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

/* RFC 9773 4.2's example answer, as recorded. */
static const char rfc_example_answer[] =
    "{\n"
    "  \"suggestedWindow\": {\n"
    "    \"start\": \"2025-01-02T04:00:00Z\",\n"
    "    \"end\": \"2025-01-03T04:00:00Z\"\n"
    "  },\n"
    "  \"explanationURL\": \"https://acme.example.com/docs/ari\"\n"
    "}\n";

static char tmpdir[] = "/tmp/test_peer_acme_ari.XXXXXX";

static X509 *load_pem_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return p11e_x509_from_pem(buf);
}

static void cert_id_rfc_example(void)
{
	X509 *cert = p11e_x509_from_pem(rfc_example_pem);
	char *id = NULL;
	p11e_err err = {0};

	CHECK(cert != NULL);
	CHECK_RC(acme_ari_cert_id(cert, &id, &err), P11E_OK, &err);
	CHECK(id != NULL && strcmp(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE") == 0);
	free(id);
	X509_free(cert);
}

/* Hex as openssl prints it ("87654321", "69:88:5B") into bytes. */
static size_t hex_bytes(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = 0;
	unsigned int b;

	while (*hex != '\0' && n < cap) {
		if (*hex == ':' || *hex == '\n' || *hex == ' ') {
			hex++;
			continue;
		}
		if (sscanf(hex, "%2x", &b) != 1)
			break;
		out[n++] = (unsigned char)b;
		hex += 2;
	}
	return n;
}

/* The certID the RFC's recipe gives from what openssl prints about path:
 * its AKI keyid and its serial, with the 00 a DER INTEGER needs in front of
 * a first byte >= 0x80. */
static char *expected_id(const char *path)
{
	char cmd[600], *aki, *serial, *a, *b, *out;
	unsigned char kid[64], ser[40];
	size_t nk, ns;

	snprintf(cmd, sizeof(cmd),
		 "openssl x509 -in %s -noout -ext authorityKeyIdentifier | sed -n 2p", path);
	aki = check_capture(cmd);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -serial | cut -d= -f2", path);
	serial = check_capture(cmd);
	if (aki == NULL || serial == NULL) {
		free(aki);
		free(serial);
		return NULL;
	}
	nk = hex_bytes(aki, kid, sizeof(kid));
	ser[0] = 0;
	ns = hex_bytes(serial, ser + 1, sizeof(ser) - 1);
	a = acme_b64url(kid, nk);
	b = ser[1] >= 0x80 ? acme_b64url(ser, ns + 1) : acme_b64url(ser + 1, ns);
	out = acme_fmt("%s.%s", a, b);
	free(a);
	free(b);
	free(aki);
	free(serial);
	return out;
}

/* Certificates made by openssl: a CA with an SKI, leaves with an AKI and
 * serials with and without the high bit, one without an AKI. */
static void cert_id_real(void)
{
	static const char *const serials[] = {"0x87654321", "0x0102", "0xFF00FF00FF00FF00FF", NULL};
	char cmd[1600], path[300];
	p11e_err err = {0};

	snprintf(cmd, sizeof(cmd),
		 "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-subj /CN=ari-ca -keyout ca.key -out ca.pem -days 30 2>/dev/null && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "-subj /CN=leaf.example.org -keyout leaf.key -out leaf.csr 2>/dev/null && "
		 "printf 'authorityKeyIdentifier=keyid:always\\n' >aki.ext && "
		 "printf 'subjectKeyIdentifier=none\\nauthorityKeyIdentifier=none\\n' >noaki.ext",
		 tmpdir);
	CHECK(check_sh(cmd) == 0);
	for (size_t i = 0; serials[i] != NULL; i++) {
		char *want, *got = NULL;
		X509 *cert;

		snprintf(cmd, sizeof(cmd),
			 "cd %s && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key "
			 "-set_serial %s -days 7 -extfile aki.ext -out leaf%zu.pem 2>/dev/null",
			 tmpdir, serials[i], i);
		CHECK(check_sh(cmd) == 0);
		snprintf(path, sizeof(path), "%s/leaf%zu.pem", tmpdir, i);
		cert = load_pem_file(path);
		want = expected_id(path);
		CHECK(cert != NULL && want != NULL);
		CHECK_RC(acme_ari_cert_id(cert, &got, &err), P11E_OK, &err);
		if (got == NULL || want == NULL || strcmp(got, want) != 0)
			fprintf(stderr, "certID %s, expected %s\n", got ? got : "-",
				want ? want : "-");
		CHECK(got != NULL && want != NULL && strcmp(got, want) == 0);
		free(got);
		free(want);
		X509_free(cert);
	}
	/* The serial with the high bit keeps its 00: "AIdlQyE" as in the RFC. */
	snprintf(path, sizeof(path), "%s/leaf0.pem", tmpdir);
	{
		X509 *cert = load_pem_file(path);
		char *got = NULL;
		CHECK(cert != NULL && acme_ari_cert_id(cert, &got, &err) == P11E_OK && got &&
		      strcmp(strchr(got, '.'), ".AIdlQyE") == 0);
		free(got);
		X509_free(cert);
	}
	/* No AKI: the certificate cannot be named (set_renewal then orders
	 * without "replaces"). */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 9 "
		 "-days 7 -extfile noaki.ext -out noaki.pem 2>/dev/null",
		 tmpdir);
	CHECK(check_sh(cmd) == 0);
	snprintf(path, sizeof(path), "%s/noaki.pem", tmpdir);
	{
		X509 *cert = load_pem_file(path);
		char *got = NULL;
		CHECK(cert != NULL);
		CHECK_RC(acme_ari_cert_id(cert, &got, &err), P11E_NOT_FOUND, &err);
		CHECK(got == NULL && strstr(err.msg, "authority key identifier") != NULL);
		X509_free(cert);
	}
}

static void rfc3339(void)
{
	long long t = 0;
	const long long want = 1735790400LL; /* 2025-01-02T04:00:00Z */
	static const char *const same[] = {
	    "2025-01-02T04:00:00Z",	 "2025-01-02t04:00:00z",
	    "2025-01-02T04:00:00.000Z",	 "2025-01-02T04:00:00.999999999999Z",
	    "2025-01-02T05:30:00+01:30", "2025-01-02T04:00:00-00:00",
	    "2025-01-01T23:00:00-05:00", NULL};
	static const char *const bad[] = {"",
					  "2025-01-02",
					  "2025-01-02T04:00:00",
					  "2025-01-02 04:00:00Z",
					  "2025-01-02T04:00Z",
					  "2025-01-02T04:00:00.Z",
					  "2025-01-02T04:00:00+0100",
					  "2025-01-02T04:00:00+01",
					  "2025-01-02T04:00:00+24:00",
					  "2025-01-02T04:00:00ZZ",
					  "2025-01-02T24:00:00Z",
					  "2025-01-02T04:60:00Z",
					  "2025-01-02T04:00:61Z",
					  "2025-13-02T04:00:00Z",
					  "2025-00-02T04:00:00Z",
					  "2025-04-31T04:00:00Z",
					  "2025-02-29T04:00:00Z",
					  "1900-02-29T04:00:00Z",
					  "1969-12-31T23:59:59Z",
					  "0001-01-01T00:00:00Z",
					  "1970-01-01T00:30:00+01:00",
					  "+2025-01-02T04:00:00Z",
					  "2025-1-02T04:00:00Z",
					  "２025-01-02T04:00:00Z",
					  "2025-01-02T04:00:00Z\n",
					  NULL};
	char longer[200];

	for (size_t i = 0; same[i] != NULL; i++) {
		t = 0;
		CHECK(acme_rfc3339_parse(same[i], &t) == 0 && t == want);
		if (t != want)
			fprintf(stderr, "%s -> %lld\n", same[i], t);
	}
	for (size_t i = 0; bad[i] != NULL; i++) {
		int r = acme_rfc3339_parse(bad[i], &t);
		CHECK(r == -1);
		if (r != -1)
			fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
	}
	CHECK(acme_rfc3339_parse(NULL, &t) == -1);
	/* The ones the RFC allows and clock.c's p11e_iso_parse agree where both read. */
	CHECK(acme_rfc3339_parse("2024-02-29T12:34:56Z", &t) == 0 &&
	      t == (long long)p11e_iso_parse("2024-02-29T12:34:56Z"));
	CHECK(acme_rfc3339_parse("2000-02-29T00:00:00Z", &t) == 0 &&
	      t == (long long)p11e_iso_parse("2000-02-29T00:00:00Z"));
	CHECK(acme_rfc3339_parse("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
	CHECK(acme_rfc3339_parse("9999-12-31T23:59:59Z", &t) == 0 && t == 253402300799LL);
	/* A leap second counts as the next second. */
	CHECK(acme_rfc3339_parse("2016-12-31T23:59:60Z", &t) == 0 && t == 1483228800LL);
	/* A fraction long enough to pass any digit counter is still refused by length. */
	memset(longer, '0', sizeof(longer));
	memcpy(longer, "2025-01-02T04:00:00.", 20);
	memcpy(longer + sizeof(longer) - 2, "Z", 2);
	CHECK(acme_rfc3339_parse(longer, &t) == -1);
}

/* The recorded answers. */
static void answers(void)
{
	acme_ari_doc d;
	static const struct {
		const char *body, *says;
	} malformed[] = {
	    {"{}", "no \"suggestedWindow\" object"},
	    {"{\"suggestedWindow\":null}", "no \"suggestedWindow\" object"},
	    {"{\"suggestedWindow\":\"2025-01-02T04:00:00Z\"}", "no \"suggestedWindow\" object"},
	    {"{\"suggestedWindow\":[\"2025-01-02T04:00:00Z\",\"2025-01-03T04:00:00Z\"]}",
	     "no \"suggestedWindow\" object"},
	    {"{\"suggestedWindow\":{\"end\":\"2025-01-03T04:00:00Z\"}}", "no \"start\" string"},
	    {"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\"}}", "no \"end\" string"},
	    {"{\"suggestedWindow\":{\"start\":1735790400,\"end\":1735876800}}",
	     "no \"start\" string"},
	    {"{\"suggestedWindow\":{\"start\":null,\"end\":\"2025-01-03T04:00:00Z\"}}",
	     "no \"start\" string"},
	    {"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":true}}",
	     "no \"end\" string"},
	    {"{\"suggestedWindow\":{\"start\":\"soon\",\"end\":\"2025-01-03T04:00:00Z\"}}",
	     "\"start\" is not an RFC 3339 time after 1970: \"soon\""},
	    {"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
	     "\"end\":\"Fri, 03 Jan 2025 04:00:00 GMT\"}}",
	     "\"end\" is not an RFC 3339 time"},
	    /* RFC 9773 4.2: end equal to or before start is invalid. */
	    {"{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\","
	     "\"end\":\"2025-01-02T04:00:00Z\"}}",
	     "ends before it starts"},
	    {"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
	     "\"end\":\"2025-01-02T05:00:00+01:00\"}}",
	     "ends before it starts"},
	    /* Absurd: the year 1, as in the RFC's example certificate. */
	    {"{\"suggestedWindow\":{\"start\":\"0001-01-01T00:00:00Z\","
	     "\"end\":\"2025-01-02T04:00:00Z\"}}",
	     "\"start\" is not an RFC 3339 time after 1970"},
	    {"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
	     "\"end\":\"99999-01-02T04:00:00Z\"}}",
	     "\"end\" is not an RFC 3339 time"},
	    /* A peer's escape sequence in a time is shown cleaned. */
	    {"{\"suggestedWindow\":{\"start\":\"\\u001b[2J\\n\",\"end\":\"x\"}}",
	     "after 1970: \"?[2J \""},
	};

	CHECK(acme_parse_renewal_info(LEN(rfc_example_answer), &d) == 0);
	CHECK(d.malformed[0] == '\0' && d.start == 1735790400LL && d.end == 1735876800LL);
	CHECK(strcmp(d.explanation, "https://acme.example.com/docs/ari") == 0);
	/* Without the optional explanationURL; with one that is not a URL, or not a
	 * string: the window stands, the URL is dropped. */
	CHECK(
	    acme_parse_renewal_info(LEN("{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
					"\"end\":\"2025-01-03T04:00:00.5+00:00\"}}"),
				    &d) == 0 &&
	    d.malformed[0] == '\0' && d.explanation[0] == '\0' && d.end == 1735876800LL);
	CHECK(
	    acme_parse_renewal_info(LEN("{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
					"\"end\":\"2025-01-03T04:00:00Z\"},"
					"\"explanationURL\":\"javascript:alert(1)\"}"),
				    &d) == 0 &&
	    d.malformed[0] == '\0' && d.explanation[0] == '\0');
	CHECK(
	    acme_parse_renewal_info(LEN("{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
					"\"end\":\"2025-01-03T04:00:00Z\"},"
					"\"explanationURL\":[\"https://x\"]}"),
				    &d) == 0 &&
	    d.malformed[0] == '\0' && d.explanation[0] == '\0');
	CHECK(
	    acme_parse_renewal_info(LEN("{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
					"\"end\":\"2025-01-03T04:00:00Z\"},"
					"\"explanationURL\":\"https://x/a b\\u001b\"}"),
				    &d) == 0 &&
	    d.malformed[0] == '\0' && d.explanation[0] == '\0');
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		CHECK(acme_parse_renewal_info(LEN(malformed[i].body), &d) == 0);
		CHECK(strstr(d.malformed, malformed[i].says) != NULL);
		CHECK(strchr(d.malformed, '\n') == NULL && strchr(d.malformed, 0x1b) == NULL);
		if (strstr(d.malformed, malformed[i].says) == NULL)
			fprintf(stderr, "%s -> \"%s\"\n", malformed[i].body, d.malformed);
	}
	/* Not one JSON object. */
	CHECK(acme_parse_renewal_info(LEN(""), &d) == -1);
	CHECK(acme_parse_renewal_info(LEN("[]"), &d) == -1);
	CHECK(acme_parse_renewal_info(LEN("\"2025-01-02T04:00:00Z\""), &d) == -1);
	CHECK(acme_parse_renewal_info(LEN("{\"suggestedWindow\":{}} trailing"), &d) == -1);
	CHECK(acme_parse_renewal_info("{\"a\":\"\0\"}", 9, &d) == -1);
	/* Huge: refused by size before any parsing, with the size in the message. */
	{
		size_t n = 65 * 1024;
		char *big = malloc(n);
		CHECK(big != NULL);
		if (big != NULL) {
			memset(big, ' ', n);
			memcpy(big, rfc_example_answer, strlen(rfc_example_answer));
			CHECK(acme_parse_renewal_info(big, n, &d) == 0 &&
			      strstr(d.malformed, "66560 bytes") != NULL);
			free(big);
		}
	}
	/* Deep nesting: json-c's depth limit, not a stack overflow. */
	{
		size_t depth = 20000; /* under the size limit */
		char *deep = malloc(2 * depth + 1);
		CHECK(deep != NULL);
		if (deep != NULL) {
			memset(deep, '[', depth);
			memset(deep + depth, ']', depth);
			CHECK(acme_parse_renewal_info(deep, 2 * depth, &d) == -1);
			free(deep);
		}
	}
}

static void directory(void)
{
	static const char base[] = "{\"newNonce\":\"https://a/n\",\"newAccount\":\"https://a/a\","
				   "\"newOrder\":\"https://a/o\"";
	char body[400];
	json_object *d;

	snprintf(body, sizeof(body), "%s,\"renewalInfo\":\"https://a/renewal-info\"}", base);
	d = acme_parse_directory(LEN(body));
	CHECK(d != NULL && acme_str(d, "renewalInfo") != NULL);
	json_object_put(d);
	/* A renewalInfo that is not a URL: the directory stands, without it. */
	snprintf(body, sizeof(body), "%s,\"renewalInfo\":\"javascript:x\"}", base);
	d = acme_parse_directory(LEN(body));
	CHECK(d != NULL && !json_object_object_get_ex(d, "renewalInfo", NULL));
	json_object_put(d);
	snprintf(body, sizeof(body), "%s,\"renewalInfo\":{\"url\":\"https://a/r\"}}", base);
	d = acme_parse_directory(LEN(body));
	CHECK(d != NULL && !json_object_object_get_ex(d, "renewalInfo", NULL));
	json_object_put(d);
	/* Pebble 2.4's directory (recorded): no renewalInfo at all. */
	d = acme_parse_directory(LEN(
	    "{\"keyChange\":\"https://127.0.0.1:14000/rollover-account-key\",\"meta\":"
	    "{\"externalAccountRequired\":false,\"termsOfService\":\"data:text/plain,Do%20what%20"
	    "thou%20wilt\"},\"newAccount\":\"https://127.0.0.1:14000/sign-me-up\",\"newNonce\":"
	    "\"https://127.0.0.1:14000/nonce-plz\",\"newOrder\":\"https://127.0.0.1:14000/"
	    "order-plz\",\"revokeCert\":\"https://127.0.0.1:14000/revoke-cert\"}"));
	CHECK(d != NULL && !json_object_object_get_ex(d, "renewalInfo", NULL));
	json_object_put(d);
}

int main(void)
{
	char cmd[200];

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	cert_id_rfc_example();
	cert_id_real();
	rfc3339();
	answers();
	directory();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	check_sh(cmd);
	return check_done();
}
