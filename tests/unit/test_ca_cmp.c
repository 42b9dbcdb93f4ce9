/* The cmp backend's kept transactions and its first look at an answer
 * (src/ca/ca_cmp_doc.c): the answers come from the fuzz corpus, as Debian's
 * `openssl cmp` mock server sent them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "ca/ca_cmp.h"
#include "check.h"

static unsigned char *corpus(const char *name, size_t *len)
{
	char path[1024];
	const char *src = getenv("SOURCE_DIR");
	unsigned char *buf = malloc(64 * 1024);
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/cmp/%s", src ? src : ".", name);
	f = fopen(path, "rb");
	*len = f && buf ? fread(buf, 1, 64 * 1024, f) : 0;
	if (f)
		fclose(f);
	/* the harness's selector byte first */
	if (*len > 0)
		memmove(buf, buf + 1, --*len);
	return buf;
}

static void test_keep_replaces_pollrep(void)
{
	size_t n_wait, n_poll, n_cert;
	unsigned char *wait = corpus("answer-ip-wait", &n_wait);
	unsigned char *poll = corpus("answer-pollrep", &n_poll);
	unsigned char *cert = corpus("answer-ip-cert", &n_cert);
	cmp_doc d = {0};

	CHECK(n_wait > 0 && n_poll > 0 && n_cert > 0);
	CHECK(cmp_doc_keep(&d, wait, n_wait) == 0);
	CHECK(cmp_doc_keep(&d, poll, n_poll) == 0);
	CHECK(cmp_doc_keep(&d, poll, n_poll) == 0); /* the latest pollRep replaces the last */
	CHECK(d.n_kept == 2);
	CHECK(cmp_doc_keep(&d, cert, n_cert) == 0);
	CHECK(d.n_kept == 3);
	CHECK(cmp_doc_keep(&d, cert, n_cert) != 0); /* no room: never more than three */
	CHECK(d.kept_len[2] == n_cert && memcmp(d.kept[2], cert, n_cert) == 0);
	cmp_doc_clear(&d);
	free(wait);
	free(poll);
	free(cert);
}

static int decode(const char *text, cmp_doc *out)
{
	return cmp_doc_decode(text, strlen(text), out);
}

static void test_doc_round_trip_and_refusals(void)
{
	size_t n;
	unsigned char *ans = corpus("answer-ip-cert", &n);
	cmp_doc d = {0}, back;
	char *text;

	memcpy(d.txid, "00112233445566778899aabbccddeeff", 33);
	d.req_type = OSSL_CMP_KUR;
	d.csr_pem = strdup("CSR");
	CHECK(cmp_doc_keep(&d, ans, n) == 0);
	text = cmp_doc_encode(&d);
	CHECK(text != NULL);
	CHECK(cmp_doc_decode(text, strlen(text), &back) == 0);
	CHECK(back.req_type == OSSL_CMP_KUR && back.n_kept == 1 && !back.confirmed);
	CHECK(back.kept_len[0] == n && memcmp(back.kept[0], ans, n) == 0);
	cmp_doc_clear(&back);
	free(text);
	/* a confirmed document without its certificate, a short transactionID,
	 * an unknown request type, odd hex: not ours */
	CHECK(decode("{\"transaction\":\"00112233445566778899aabbccddeeff\",\"request\":"
		     "\"ir\",\"csr\":\"x\",\"answers\":[],\"confirmed\":true}",
		     &back) != 0);
	CHECK(decode("{\"transaction\":\"0011\",\"request\":\"ir\",\"csr\":\"x\","
		     "\"answers\":[]}",
		     &back) != 0);
	CHECK(decode("{\"transaction\":\"00112233445566778899aabbccddeeff\",\"request\":"
		     "\"cr\",\"csr\":\"x\",\"answers\":[]}",
		     &back) != 0);
	CHECK(decode("{\"transaction\":\"00112233445566778899aabbccddeeff\",\"request\":"
		     "\"ir\",\"csr\":\"x\",\"answers\":[\"abc\"]}",
		     &back) != 0);
	cmp_doc_clear(&d);
	free(ans);
}

static void test_answer_checks(void)
{
	size_t n;
	unsigned char *ans = corpus("answer-ip-cert", &n);
	unsigned char *big = calloc(1, CMP_ANSWER_MAX + 1);
	static const unsigned char other[16] = "not-this-one!!!";
	p11e_err err = {0};
	OSSL_CMP_MSG *m;

	m = cmp_answer_parse(ans, n, NULL, 0, &err);
	CHECK(m != NULL);
	OSSL_CMP_MSG_free(m);
	CHECK(cmp_answer_parse(ans, n - 1, NULL, 0, &err) == NULL);
	CHECK(strstr(err.msg, "not a PKIMessage") != NULL);
	CHECK(cmp_answer_parse(ans, n, other, sizeof(other), &err) == NULL);
	CHECK(strstr(err.msg, "another transaction") != NULL);
	CHECK(cmp_answer_parse(big, CMP_ANSWER_MAX + 1, NULL, 0, &err) == NULL);
	CHECK(strstr(err.msg, "too large") != NULL);
	CHECK(cmp_answer_parse(ans, 0, NULL, 0, &err) == NULL);
	CHECK(strstr(err.msg, "empty") != NULL);
	free(big);
	free(ans);
}

int main(void)
{
	test_keep_replaces_pollrep();
	test_doc_round_trip_and_refusals();
	test_answer_checks();
	return check_done();
}
