/* p11e_publish_identity's bookkeeping without a directory: what it refuses,
 * a profile that publishes nowhere, a publisher that cannot be reached (the
 * name stays pending, the failure is audited, a rerun tries again), and a
 * new certificate starting the lists afresh. The directory side:
 * tests/integration/publish_ldap.sh. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "check.h"
#include "p11enroll/config.h"
#include "p11enroll/pem.h"
#include "p11enroll/publish.h"
#include "p11enroll/record.h"
#include "p11enroll/util.h"

static X509 *make_cert(long serial)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *c = X509_new();

	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
				   (const unsigned char *)"a", -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(c));
	X509_gmtime_adj(X509_getm_notBefore(c), 0);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_set_pubkey(c, k);
	X509_sign(c, k, EVP_sha256());
	EVP_PKEY_free(k);
	return c;
}

static p11e_store *st; /* a file store on the test's state dir */

/* A record for a@example.org at step, with a fresh certificate. */
static void save_record(const char *dir, p11e_step step, const char *profile, char sha[65])
{
	p11e_record r;
	p11e_err err = {0};
	X509 *c = make_cert(step * 100 + (long)strlen(profile));
	char *pem = p11e_x509_to_pem(c);

	memset(&r, 0, sizeof(r));
	p11e_record_set(&r.identity, "a@example.org", &err);
	p11e_record_set(&r.profile, profile, &err);
	p11e_record_set(&r.cert_pem, step >= P11E_STEP_ISSUED ? pem : NULL, &err);
	r.step = step;
	p11e_x509_sha256_hex(c, sha);
	CHECK_RC(p11e_record_save(st, &r, &err), P11E_OK, &err);
	p11e_record_clear(&r);
	free(pem);
	X509_free(c);
}

static char *field(const char *dir, const char *which)
{
	p11e_record r;
	p11e_err err = {0};
	char *out = NULL;

	if (p11e_record_load(st, "a@example.org", &r, &err) != P11E_OK)
		return NULL;
	if (strcmp(which, "pending") == 0 && r.publish_pending)
		out = strdup(r.publish_pending);
	else if (strcmp(which, "published") == 0 && r.published)
		out = strdup(r.published);
	else if (strcmp(which, "sha") == 0 && r.publish_sha256)
		out = strdup(r.publish_sha256);
	p11e_record_clear(&r);
	return out;
}

static int field_is(const char *dir, const char *which, const char *want)
{
	char *v = field(dir, which);
	int ok = want == NULL ? v == NULL : v != NULL && strcmp(v, want) == 0;

	if (!ok)
		fprintf(stderr, "record %s: '%s', wanted '%s'\n", which, v ? v : "(null)",
			want ? want : "(null)");
	free(v);
	return ok;
}

int main(void)
{
	char dir[] = "/tmp/p11e-test-pubstep.XXXXXX", sha[65], cmd[256], *audit;
	/* Port 1 on this machine: nothing listens, the connection is refused. */
	const char *text = "{\"publishers\": {\"down\": {\"type\": \"ldap\", \"url\": "
			   "\"ldap://127.0.0.1:1/\", \"base_dn\": \"o=x\", \"timeout\": 5}},"
			   "\"profiles\": {\"none\": {\"publish\": []}}}";
	p11e_publish_params p = {.identity = "A@example.org"};
	p11e_publish_result res;
	p11e_config c;
	p11e_err err = {0};

	if (mkdtemp(dir) == NULL || p11e_store_open_dir(dir, &st, NULL) != P11E_OK)
		return 1;
	setenv("P11ENROLL_STATE_DIR", dir, 1);
	CHECK_RC(p11e_config_parse("/etc/t/config.json", text, strlen(text), &c, &err), P11E_OK,
		 &err);

	/* No record; no certificate yet. */
	CHECK_RC(p11e_publish_identity(&c, &p, &res, &err), P11E_NOT_FOUND, &err);
	save_record(dir, P11E_STEP_CSR_BUILT, "smime", sha);
	CHECK_RC(p11e_publish_identity(&c, &p, &res, &err), P11E_NOT_FOUND, &err);
	CHECK(strstr(err.msg, "no certificate yet (step csr-built)") != NULL);

	/* "publish": []: nothing to do, and the record says it started. */
	save_record(dir, P11E_STEP_DONE, "none", sha);
	CHECK_RC(p11e_publish_identity(&c, &p, &res, &err), P11E_OK, &err);
	CHECK(res.done == 0 && res.pending == 0);
	CHECK(field_is(dir, "sha", sha));
	CHECK(field_is(dir, "pending", ""));

	/* smime: every publisher; this one is down: exit 1, still pending,
	 * audited; the rerun tries again. */
	save_record(dir, P11E_STEP_DONE, "smime", sha);
	CHECK_RC(p11e_publish_identity(&c, &p, &res, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "publisher down: cannot reach or bind") != NULL);
	CHECK(res.done == 0 && res.pending == 1);
	CHECK(field_is(dir, "pending", "down"));
	CHECK(field_is(dir, "published", NULL));
	CHECK(field_is(dir, "sha", sha));
	CHECK_RC(p11e_publish_identity(&c, &p, &res, &err), P11E_FAIL, &err);
	CHECK(field_is(dir, "pending", "down"));
	snprintf(cmd, sizeof(cmd), "cat %s/audit.jsonl", dir);
	audit = check_capture(cmd);
	CHECK(audit != NULL &&
	      strstr(audit, "\"action\":\"publish\",\"identity\":\"a@example.org\"") != NULL &&
	      strstr(audit, "\"publisher\":\"down\"") != NULL && strstr(audit, sha) != NULL &&
	      strstr(audit, "\"outcome\":\"failure\"") != NULL);
	free(audit);

	/* --remove cannot reach it either: the same code, nothing changed. */
	p.remove = 1;
	CHECK_RC(p11e_publish_identity(&c, &p, &res, &err), P11E_FAIL, &err);
	CHECK(field_is(dir, "pending", "down"));
	p.remove = 0;

	/* A new certificate (a renewal) starts the lists afresh. */
	{
		p11e_record r;
		char sha2[65];
		save_record(dir, P11E_STEP_DONE, "smime", sha);
		CHECK_RC(p11e_record_load(st, "a@example.org", &r, &err), P11E_OK, &err);
		p11e_record_set(&r.published, "down", &err);
		p11e_record_set(&r.publish_pending, "", &err);
		p11e_record_set(&r.publish_sha256, "00", &err);
		CHECK_RC(p11e_record_save(st, &r, &err), P11E_OK, &err);
		p11e_record_clear(&r);
		CHECK_RC(p11e_publish_identity(&c, &p, &res, &err), P11E_FAIL, &err);
		CHECK(field_is(dir, "pending", "down"));
		CHECK(field_is(dir, "published", NULL));
		memcpy(sha2, sha, sizeof(sha2));
		CHECK(field_is(dir, "sha", sha2));
	}

	p11e_config_clear(&c);
	p11e_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	check_sh(cmd);
	return check_done();
}
