/* Revocation pieces: RFC 5280 reason names, the one spelling of a serial,
 * the embedded CA's index parser, and a CRL signed by an Ed25519 CA (no
 * digest) that `openssl crl` verifies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/pem.h>
#include "check.h"
#include "p11enroll/ca.h"
#include "ca/ca_local.h"

static void test_reasons(void)
{
	CHECK(p11e_revoke_reason_parse("keyCompromise") == 1);
	CHECK(p11e_revoke_reason_parse("KEYCOMPROMISE") == 1);
	CHECK(p11e_revoke_reason_parse("certificateHold") == 6);
	CHECK(p11e_revoke_reason_parse("aACompromise") == 10);
	CHECK(p11e_revoke_reason_parse("removeFromCRL") == -1);
	CHECK(p11e_revoke_reason_parse("") == -1);
	CHECK(p11e_revoke_reason_parse(NULL) == -1);
	for (int code = 0; code <= 10; code++) {
		const char *name = p11e_revoke_reason_name(code);

		CHECK(name == NULL ? code == 7 || code == 8
				   : p11e_revoke_reason_parse(name) == code);
	}
}

static void test_serials(void)
{
	char out[65];
	p11e_err err;

	CHECK_RC(p11e_serial_canonical("s", "serial=0A1B", out, sizeof(out), &err), P11E_OK, &err);
	CHECK(strcmp(out, "0a1b") == 0);
	CHECK_RC(p11e_serial_canonical("s", "0x00:0a:1b", out, sizeof(out), &err), P11E_OK, &err);
	CHECK(strcmp(out, "0a1b") == 0);
	CHECK_RC(p11e_serial_canonical("s", "abc", out, sizeof(out), &err), P11E_OK, &err);
	CHECK(strcmp(out, "0abc") == 0);
	CHECK_RC(p11e_serial_canonical("s", "0", out, sizeof(out), &err), P11E_USAGE, &err);
	CHECK_RC(p11e_serial_canonical("s", "", out, sizeof(out), &err), P11E_USAGE, &err);
	CHECK_RC(p11e_serial_canonical("s", "12g4", out, sizeof(out), &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "s:") == err.msg);
	CHECK_RC(p11e_serial_canonical("s", "-12", out, sizeof(out), &err), P11E_USAGE, &err);
	CHECK_RC(p11e_serial_canonical("s",
				       "1234567812345678123456781234567812345678123456781234"
				       "5678123456781",
				       out, sizeof(out), &err),
		 P11E_USAGE, &err);
	CHECK_RC(p11e_serial_canonical("s", "ab", out, 2, &err), P11E_USAGE, &err);
}

static p11e_rc parse(const char *text, p11e_ca_local_index *ix, p11e_err *err)
{
	return p11e_ca_local_index_parse(text, strlen(text), ix, err);
}

static void test_index(void)
{
	p11e_ca_local_index ix;
	p11e_err err;

	CHECK_RC(parse("", &ix, &err), P11E_OK, &err);
	CHECK(ix.n_issued == 0 && ix.n_revoked == 0 && !ix.torn_tail);
	CHECK_RC(parse("{\"serial\":\"0A\"}\n{\"serial\":\"0b\"}\n\n"
		       "{\"revoked\":\"0a\",\"reason\":\"superseded\","
		       "\"revoked_at\":\"2026-11-29T10:00:00Z\"}\n",
		       &ix, &err),
		 P11E_OK, &err);
	CHECK(ix.n_issued == 2 && strcmp(ix.issued[0], "0a") == 0);
	CHECK(ix.n_revoked == 1 && ix.revoked[0].reason == 4 && ix.revoked[0].at == 1795946400);
	p11e_ca_local_index_clear(&ix);
	/* A torn last line is a crash inside an append: ignored. */
	CHECK_RC(parse("{\"serial\":\"0a\"}\n{\"revoked\":\"0", &ix, &err), P11E_OK, &err);
	CHECK(ix.n_issued == 1 && ix.n_revoked == 0 && ix.torn_tail);
	p11e_ca_local_index_clear(&ix);
	/* Anywhere else a line that is not one of ours is refused, by number. */
	CHECK_RC(parse("{\"serial\":\"0a\"}\n{\"revoked\":\"0\n{\"serial\":\"0b\"}\n", &ix, &err),
		 P11E_FAIL, &err);
	CHECK(strstr(err.msg, "line 2") != NULL);
	CHECK(ix.issued == NULL && ix.revoked == NULL);
	CHECK_RC(parse("{\"revoked\":\"0a\",\"reason\":\"removeFromCRL\","
		       "\"revoked_at\":\"2026-11-29T10:00:00Z\"}\n",
		       &ix, &err),
		 P11E_FAIL, &err);
	CHECK_RC(parse("{\"revoked\":\"0a\",\"reason\":\"superseded\","
		       "\"revoked_at\":\"2026-13-29T10:00:00Z\"}\n",
		       &ix, &err),
		 P11E_FAIL, &err);
	CHECK_RC(parse("[1]\n", &ix, &err), P11E_FAIL, &err);
	CHECK_RC(parse("{\"serial\":\"0a\"} x\n", &ix, &err), P11E_FAIL, &err);
}

static void test_ed25519_crl(const char *tmp)
{
	char dir[512], cmd[1200], pem[600];
	p11e_ca_local_init_params p = {.key_type = "ed25519"};
	struct json_object *conf = json_object_new_object();
	X509_CRL *crl = NULL;
	p11e_ca *ca = NULL;
	p11e_err err;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/ed-ca", tmp);
	snprintf(pem, sizeof(pem), "%s/ed.crl", tmp);
	p.dir = dir;
	CHECK_RC(p11e_ca_local_init(&p, &err), P11E_OK, &err);
	json_object_object_add(conf, "type", json_object_new_string("local"));
	json_object_object_add(conf, "dir", json_object_new_string(dir));
	CHECK_RC(p11e_ca_open(conf, &ca, &err), P11E_OK, &err);
	CHECK_RC(p11e_ca_crl(ca, 0, &crl, &err), P11E_USAGE, &err);
	CHECK_RC(p11e_ca_crl(ca, 30, &crl, &err), P11E_OK, &err);
	f = fopen(pem, "w");
	CHECK(f != NULL && crl != NULL && PEM_write_X509_CRL(f, crl) == 1);
	if (f != NULL)
		fclose(f);
	snprintf(cmd, sizeof(cmd), "openssl crl -in %s -CAfile %s/ca.pem -noout", pem, dir);
	CHECK(check_sh(cmd) == 0);
	X509_CRL_free(crl);
	p11e_ca_close(ca);
	json_object_put(conf);
}

int main(void)
{
	const char *tmp = getenv("TEST_TMP");

	if (tmp == NULL) {
		fprintf(stderr, "TEST_TMP is not set: run under tests/with-softhsm.sh\n");
		return 1;
	}
	test_reasons();
	test_serials();
	test_index();
	test_ed25519_crl(tmp);
	return check_done();
}
