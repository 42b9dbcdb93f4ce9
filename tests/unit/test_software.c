/* Software keys: generation for every key type, the encrypted key file, and
 * the PKCS#12 files (both formats), read back here and by `openssl pkcs12`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "p11enroll/pkcs12.h"
#include "p11enroll/software.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"

static const char *tmp;

#define FRIENDLY "Zo\xc3\xab \xc3\x85ngstr\xc3\xb6m" /* "Zoë Ångström" in UTF-8 */

static EVP_PKEY *make_key(const char *type)
{
	p11e_keytype kt;
	p11e_err err = {0};
	EVP_PKEY *key = NULL;

	CHECK_RC(p11e_keytype_parse(type, &kt, &err), P11E_OK, &err);
	CHECK_RC(p11e_soft_keygen(&kt, &key, &err), P11E_OK, &err);
	return key;
}

static void test_keygen(void)
{
	static const struct {
		const char *type;
		int id, bits;
		const char *group;
	} want[] = {
	    {"rsa:2048", EVP_PKEY_RSA, 2048, NULL},
	    {"rsa:3072", EVP_PKEY_RSA, 3072, NULL},
	    {"ec:P-256", EVP_PKEY_EC, 256, "prime256v1"},
	    {"ec:P-384", EVP_PKEY_EC, 384, "secp384r1"},
	    {"ec:P-521", EVP_PKEY_EC, 521, "secp521r1"},
	    {"ed25519", EVP_PKEY_ED25519, 0, NULL},
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		EVP_PKEY *key = make_key(want[i].type);
		char group[64] = "";
		CHECK(key != NULL);
		if (key == NULL)
			continue;
		CHECK(EVP_PKEY_get_base_id(key) == want[i].id);
		CHECK(want[i].bits == 0 || EVP_PKEY_get_bits(key) == want[i].bits);
		if (want[i].group != NULL) {
			CHECK(EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group),
							     NULL) == 1);
			CHECK(strcmp(group, want[i].group) == 0);
		}
		EVP_PKEY_free(key);
	}
}

/* The file store keeps keys and PFX documents where they always were. */
static void test_paths(void)
{
	char dir[512], path[700];
	EVP_PKEY *key = make_key("ec:P-256");
	char *stored = p11e_soft_pfx_default(".hidden@x.org");
	p11e_store *s = NULL;
	p11e_err err = {0};

	snprintf(dir, sizeof(dir), "%s/paths", tmp);
	CHECK_RC(p11e_store_open_dir(dir, &s, &err), P11E_OK, &err);
	CHECK(stored != NULL && strcmp(stored, "store:.hidden@x.org") == 0);
	CHECK(p11e_soft_pfx_stored(stored) && !p11e_soft_pfx_stored("/s/pfx/a.p12") &&
	      !p11e_soft_pfx_stored("store:"));
	if (s == NULL || key == NULL || stored == NULL)
		goto out;
	CHECK_RC(p11e_soft_key_save(s, "alice@example.com", key, "pw", &err), P11E_OK, &err);
	CHECK_RC(p11e_soft_key_save(s, "a/b@x.org", key, "pw", &err), P11E_OK, &err);
	CHECK_RC(p11e_soft_pfx_write_new(s, stored, "pfx", 3, &err), P11E_OK, &err);
	snprintf(path, sizeof(path), "%s/keys/alice@example.com.p8", dir);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/keys/a%%2Fb@x.org.p8", dir);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof(path), "%s/pfx/%%2Ehidden@x.org.p12", dir);
	CHECK(access(path, F_OK) == 0);
	/* A PFX is never written twice, in the store or in a file. */
	CHECK_RC(p11e_soft_pfx_write_new(s, stored, "again", 5, &err), P11E_EXISTS, &err);
	CHECK_RC(p11e_soft_pfx_write_new(s, path, "again", 5, &err), P11E_EXISTS, &err);
	{
		char *data = NULL;
		size_t len = 0;
		int found = 0;
		CHECK_RC(p11e_soft_pfx_read(s, stored, &data, &len, &err), P11E_OK, &err);
		CHECK(len == 3 && data != NULL && memcmp(data, "pfx", 3) == 0);
		free(data);
		/* The same file by its path (an older record's). */
		CHECK_RC(p11e_soft_pfx_read(s, path, &data, &len, &err), P11E_OK, &err);
		CHECK(len == 3);
		free(data);
		CHECK_RC(p11e_soft_pfx_exists(s, "store:nobody@x.org", &found, &err), P11E_OK,
			 &err);
		CHECK(!found);
		CHECK_RC(p11e_soft_pfx_read(s, "store:nobody@x.org", &data, &len, &err),
			 P11E_NOT_FOUND, &err);
	}
out:
	p11e_store_close(s);
	EVP_PKEY_free(key);
	free(stored);
}

static void test_key_file(void)
{
	char dir[512], path[600];
	EVP_PKEY *key = make_key("ec:P-256"), *back = NULL;
	p11e_store *s = NULL;
	p11e_err err = {0};
	struct stat st;
	char *text = NULL, *out;
	size_t len = 0;
	int found = 0;

	snprintf(dir, sizeof(dir), "%s/kf", tmp);
	CHECK_RC(p11e_store_open_dir(dir, &s, &err), P11E_OK, &err);
	if (s == NULL)
		return;
	snprintf(dir, sizeof(dir), "%s/kf/keys", tmp);
	snprintf(path, sizeof(path), "%s/k.p8", dir);
	CHECK_RC(p11e_soft_key_save(s, "k", key, "correct horse", &err), P11E_OK, &err);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK_RC(p11e_read_file(path, 1 << 16, &text, &len, &err), P11E_OK, &err);
	CHECK(text != NULL && strncmp(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37) == 0);
	free(text);
	/* A tool no one here wrote sees PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC. */
	{
		char cmd[800];
		snprintf(cmd, sizeof(cmd), "openssl asn1parse -in '%s'", path);
		out = check_capture(cmd);
		CHECK(out != NULL && strstr(out, ":PBES2") && strstr(out, ":PBKDF2") &&
		      strstr(out, ":hmacWithSHA256") && strstr(out, ":aes-256-cbc"));
		free(out);
		snprintf(cmd, sizeof(cmd),
			 "openssl pkey -in '%s' -passin pass:'correct horse' -noout 2>/dev/null",
			 path);
		CHECK(check_sh(cmd) == 0);
	}
	CHECK_RC(p11e_soft_key_load(s, "k", "correct horse", &back, &err), P11E_OK, &err);
	CHECK(back != NULL && EVP_PKEY_eq(key, back) == 1);
	EVP_PKEY_free(back);
	back = NULL;
	CHECK_RC(p11e_soft_key_load(s, "k", "wrong horse", &back, &err), P11E_PIN_INCORRECT, &err);
	CHECK(back == NULL && strstr(err.msg, "wrong horse") == NULL);
	/* Never replaced. */
	CHECK_RC(p11e_soft_key_save(s, "k", key, "another", &err), P11E_EXISTS, &err);
	CHECK_RC(p11e_soft_key_load(s, "k", "correct horse", &back, &err), P11E_OK, &err);
	EVP_PKEY_free(back);
	CHECK_RC(p11e_soft_key_exists(s, "k", &found, &err), P11E_OK, &err);
	CHECK(found);
	CHECK_RC(p11e_soft_key_remove(s, "k", &err), P11E_OK, &err);
	CHECK(access(path, F_OK) != 0);
	CHECK_RC(p11e_soft_key_exists(s, "k", &found, &err), P11E_OK, &err);
	CHECK(!found);
	CHECK_RC(p11e_soft_key_remove(s, "k", &err), P11E_OK, &err);
	CHECK_RC(p11e_soft_key_load(s, "k", "correct horse", &back, &err), P11E_NOT_FOUND, &err);
	p11e_store_close(s);
	EVP_PKEY_free(key);
}

/* A certificate for key, signed by itself. */
static X509 *self_signed(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	int ed = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, name);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	CHECK(X509_sign(x, key, ed ? NULL : EVP_sha256()) > 0);
	X509_NAME_free(name);
	return x;
}

static void write_der(const char *path, const unsigned char *der, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fwrite(der, 1, len, f);
	fclose(f);
}

static void test_pfx(const char *type, p11e_pfx_format fmt)
{
	EVP_PKEY *key = make_key(type), *other = make_key("ec:P-256"), *k = NULL;
	X509 *cert = self_signed(key, "leaf"), *ca = self_signed(other, "some CA"), *c = NULL;
	X509 *other_cert = self_signed(other, "other");
	STACK_OF(X509) *chain = sk_X509_new_null(), *extra = NULL;
	unsigned char *der = NULL, *der2 = NULL;
	size_t len = 0, len2 = 0;
	p11e_err err = {0};
	char path[600], cmd[1200], *out;
	const unsigned char *alias;
	int alias_len = 0;

	sk_X509_push(chain, ca);
	CHECK_RC(
	    p11e_pfx_build(key, cert, chain, FRIENDLY, "s3cret-PFX", fmt, &der, &len, &err),
	    P11E_OK, &err);
	CHECK(der != NULL && len > 0);
	CHECK_RC(p11e_pfx_open(der, len, "s3cret-PFX", &k, &c, &extra, &err), P11E_OK, &err);
	CHECK(k != NULL && EVP_PKEY_eq(k, key) == 1);
	CHECK(c != NULL && X509_cmp(c, cert) == 0);
	CHECK(extra != NULL && sk_X509_num(extra) == 1 &&
	      X509_cmp(sk_X509_value(extra, 0), ca) == 0);
	alias = c != NULL ? X509_alias_get0(c, &alias_len) : NULL;
	/* UTF-8 in, UTF-8 out (a BMPString in the file, as Windows and NSS read it). */
	CHECK(alias != NULL && alias_len == (int)strlen(FRIENDLY) &&
	      memcmp(alias, FRIENDLY, strlen(FRIENDLY)) == 0);
	CHECK_RC(p11e_pfx_verify(der, len, "s3cret-PFX", cert, &err), P11E_OK, &err);
	CHECK_RC(p11e_pfx_verify(der, len, "s3cret-pfx", cert, &err), P11E_PIN_INCORRECT, &err);
	CHECK(strstr(err.msg, "s3cret") == NULL);
	CHECK_RC(p11e_pfx_verify(der, len, "s3cret-PFX", other_cert, &err), P11E_FAIL, &err);
	CHECK_RC(p11e_pfx_open(der, len - 1, "s3cret-PFX", NULL, NULL, NULL, &err), P11E_FAIL,
		 &err);
	/* A certificate that is not the key's is refused. */
	CHECK_RC(p11e_pfx_build(key, other_cert, NULL, "x", "pw", fmt, &der2, &len2, &err),
		 P11E_FAIL, &err);
	CHECK(der2 == NULL);
	CHECK_RC(p11e_pfx_build(key, cert, NULL, "x", "", fmt, &der2, &len2, &err), P11E_USAGE,
		 &err);
	/* OpenSSL's own reader: the algorithms asked for. */
	snprintf(path, sizeof(path), "%s/t-%s-%s.p12", tmp, p11e_pfx_format_name(fmt), type);
	write_der(path, der, len);
	snprintf(cmd, sizeof(cmd),
		 "PW=s3cret-PFX openssl pkcs12 -info -noout -in '%s' -passin env:PW 2>&1", path);
	out = check_capture(cmd);
	CHECK(out != NULL);
	if (out != NULL && fmt == P11E_PFX_AES256) {
		CHECK(strstr(out, "MAC: sha256, Iteration 10000") != NULL);
		CHECK(strstr(out, "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, "
				  "PRF hmacWithSHA256") != NULL);
		CHECK(strstr(out, "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC") != NULL);
	} else if (out != NULL) {
		CHECK(strstr(out, "MAC: sha1, Iteration 2048") != NULL);
		CHECK(strstr(out, "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC") != NULL);
		CHECK(strstr(out, "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC") !=
		      NULL);
	}
	if (out != NULL && strstr(out, "MAC:") == NULL)
		fprintf(stderr, "%s", out);
	free(out);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	X509_free(c);
	sk_X509_pop_free(extra, X509_free);
	sk_X509_pop_free(chain, X509_free);
	X509_free(cert);
	X509_free(other_cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void test_formats(void)
{
	p11e_pfx_format f;

	CHECK(p11e_pfx_format_parse("aes-256", &f) == 0 && f == P11E_PFX_AES256);
	CHECK(p11e_pfx_format_parse("legacy", &f) == 0 && f == P11E_PFX_LEGACY);
	CHECK(p11e_pfx_format_parse("3des", &f) == -1);
	CHECK(p11e_pfx_format_parse(NULL, &f) == -1);
	CHECK(strcmp(p11e_pfx_format_name(P11E_PFX_AES256), "aes-256") == 0);
	CHECK(strcmp(p11e_pfx_format_name(P11E_PFX_LEGACY), "legacy") == 0);
}

int main(void)
{
	tmp = getenv("TEST_TMP");
	if (tmp == NULL)
		tmp = "/tmp";
	test_keygen();
	test_paths();
	test_key_file();
	test_formats();
	test_pfx("ec:P-256", P11E_PFX_AES256);
	test_pfx("rsa:2048", P11E_PFX_AES256);
	test_pfx("ed25519", P11E_PFX_AES256);
	test_pfx("ec:P-384", P11E_PFX_LEGACY);
	test_pfx("rsa:2048", P11E_PFX_LEGACY);
	return check_done();
}
