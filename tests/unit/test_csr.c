/* CSRs from software keys, checked by our own parsing and by `openssl req`. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "p11enroll/csr.h"
#include "p11enroll/profile.h"
#include "p11enroll/token.h"
#include "p11enroll/uri.h"
#include "p11enroll/util.h"

static const char *tmpdir(void)
{
	const char *t = getenv("TEST_TMP");
	return t != NULL ? t : "/tmp";
}

static int save_pem(X509_REQ *req, const char *name, char *path, size_t len)
{
	char *pem = p11e_csr_to_pem(req);
	FILE *f;
	int ok;

	snprintf(path, len, "%s/%s", tmpdir(), name);
	f = fopen(path, "w");
	ok = pem != NULL && f != NULL && fputs(pem, f) >= 0;
	if (f != NULL)
		fclose(f);
	free(pem);
	return ok;
}

/* `openssl req -verify` accepts it, and -text shows "email:" and no "DNS:". */
static void openssl_checks(X509_REQ *req, const char *name, const char *must_show)
{
	char path[512], cmd[1024], *text;

	CHECK(save_pem(req, name, path, sizeof(path)));
	snprintf(cmd, sizeof(cmd), "openssl req -in '%s' -verify -noout 2>/dev/null", path);
	CHECK(check_sh(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "openssl req -in '%s' -noout -text 2>&1", path);
	text = check_capture(cmd);
	CHECK(text != NULL);
	if (text == NULL)
		return;
	CHECK(strstr(text, "email:alice@example.org") != NULL);
	CHECK(strstr(text, "DNS:") == NULL);
	if (must_show != NULL && strstr(text, must_show) == NULL) {
		fprintf(stderr, "%s: no '%s' in:\n%s\n", name, must_show, text);
		CHECK(0);
	}
	free(text);
}

/* A public-only copy, as the token layer hands out. */
static EVP_PKEY *public_only(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len = i2d_PUBKEY(k, &der);
	EVP_PKEY *pub = NULL;

	if (len > 0) {
		p = der;
		pub = d2i_PUBKEY(NULL, &p, len);
	}
	OPENSSL_free(der);
	return pub;
}

static void check_structure(X509_REQ *req, const char *cn, unsigned ku, int want_san)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *san = NULL;
	ASN1_BIT_STRING *kus = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	X509_NAME *subj = X509_REQ_get_subject_name(req);
	char buf[256], want[256];
	int crit = -1;

	/* PKCS#10 version 1 is the value 0. */
	CHECK(X509_REQ_get_version(req) == 0);
	X509_NAME_oneline(subj, buf, sizeof(buf));
	snprintf(want, sizeof(want), "/O=Example/OU=People/CN=%s", cn);
	if (strcmp(buf, want) != 0)
		fprintf(stderr, "subject %s, want %s\n", buf, want);
	CHECK(strcmp(buf, want) == 0);
	san = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	if (want_san) {
		CHECK(san != NULL && sk_GENERAL_NAME_num(san) == 1);
		if (san != NULL && sk_GENERAL_NAME_num(san) == 1) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, 0);
			CHECK(gn->type == GEN_EMAIL);
			CHECK(gn->type == GEN_EMAIL &&
			      strcmp((const char *)ASN1_STRING_get0_data(gn->d.rfc822Name),
				     "alice@example.org") == 0);
		}
	} else {
		CHECK(san == NULL);
	}
	kus = X509V3_get_d2i(exts, NID_key_usage, &crit, NULL);
	CHECK(kus != NULL && crit == 1);
	if (kus != NULL) {
		unsigned got = 0;
		for (int bit = 0; bit < 8; bit++)
			if (ASN1_BIT_STRING_get_bit(kus, bit))
				got |= 0x80u >> bit;
		CHECK(got == ku);
	}
	eku = X509V3_get_d2i(exts, NID_ext_key_usage, NULL, NULL);
	CHECK(eku != NULL && sk_ASN1_OBJECT_num(eku) >= 1);
	GENERAL_NAMES_free(san);
	ASN1_BIT_STRING_free(kus);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static void test_kinds(EVP_PKEY *rsa, EVP_PKEY *ec, EVP_PKEY *ed)
{
	p11e_profile smime, sign;
	p11e_err err = {0};
	X509_REQ *req = NULL;
	EVP_PKEY *pub;

	p11e_profile_builtin("smime", &smime, &err);
	p11e_profile_builtin("smime-sign", &sign, &err);
	snprintf(smime.subject, sizeof(smime.subject), "/O=Example/OU=People");
	snprintf(sign.subject, sizeof(sign.subject), "/O=Example/OU=People");
	p11e_csr_params cp = {.email = "alice@example.org", .profile = &smime};

	/* RSA: a public-only pubkey, the full key as signer (the token shape). */
	pub = public_only(rsa);
	CHECK_RC(p11e_csr_build(pub, rsa, &cp, &req, &err), P11E_OK, &err);
	if (req != NULL) {
		check_structure(req, "alice@example.org",
				KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT, 1);
		CHECK(X509_REQ_get_signature_nid(req) == NID_sha256WithRSAEncryption);
		openssl_checks(req, "rsa.csr", "Key Encipherment");
	}
	X509_REQ_free(req);
	req = NULL;

	/* RSA-PSS. */
	cp.rsa_pss = 1;
	CHECK_RC(p11e_csr_build(pub, rsa, &cp, &req, &err), P11E_OK, &err);
	if (req != NULL) {
		CHECK(X509_REQ_get_signature_nid(req) == NID_rsassaPss);
		openssl_checks(req, "rsa-pss.csr", "Salt Length: 0x20");
	}
	X509_REQ_free(req);
	req = NULL;
	cp.rsa_pss = 0;
	EVP_PKEY_free(pub);

	/* EC, with another digest and an explicit CN. */
	pub = public_only(ec);
	cp.digest = "sha384";
	cp.name = "Alice Example";
	CHECK_RC(p11e_csr_build(pub, ec, &cp, &req, &err), P11E_OK, &err);
	if (req != NULL) {
		check_structure(req, "Alice Example", KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT, 1);
		CHECK(X509_REQ_get_signature_nid(req) == NID_ecdsa_with_SHA384);
		openssl_checks(req, "ec.csr", "Key Agreement");
	}
	X509_REQ_free(req);
	req = NULL;
	cp.digest = NULL;
	cp.name = NULL;

	/* RSA-PSS is for RSA keys only. */
	cp.rsa_pss = 1;
	CHECK_RC(p11e_csr_build(pub, ec, &cp, &req, &err), P11E_USAGE, &err);
	CHECK(req == NULL);
	cp.rsa_pss = 0;
	EVP_PKEY_free(pub);

	/* Ed25519: signing only. */
	pub = public_only(ed);
	CHECK_RC(p11e_csr_build(pub, ed, &cp, &req, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "ed25519 key cannot encrypt") != NULL);
	CHECK(req == NULL);
	cp.profile = &sign;
	CHECK_RC(p11e_csr_build(pub, ed, &cp, &req, &err), P11E_OK, &err);
	if (req != NULL) {
		check_structure(req, "alice@example.org", KU_DIGITAL_SIGNATURE, 1);
		CHECK(X509_REQ_get_signature_nid(req) == NID_ED25519);
		openssl_checks(req, "ed25519.csr", "ED25519");
	}
	X509_REQ_free(req);
	EVP_PKEY_free(pub);
}

static void test_errors(EVP_PKEY *rsa, EVP_PKEY *ec)
{
	p11e_profile smime, client;
	p11e_err err = {0};
	X509_REQ *req = NULL;
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	p11e_profile_builtin("smime", &smime, &err);
	p11e_profile_builtin("client-auth", &client, &err);
	p11e_csr_params cp = {.profile = &smime};

	/* S/MIME without an address, or with a bad one. */
	CHECK_RC(p11e_csr_build(ec, ec, &cp, &req, &err), P11E_USAGE, &err);
	CHECK(strncmp(err.msg, "email: ", 7) == 0);
	cp.email = "not-an-address";
	CHECK_RC(p11e_csr_build(ec, ec, &cp, &req, &err), P11E_USAGE, &err);
	CHECK(strncmp(err.msg, "email: 'not-an-address' is not a valid address", 46) == 0);
	CHECK(req == NULL);

	/* A signer that is not pubkey's private half. */
	cp.email = "alice@example.org";
	CHECK_RC(p11e_csr_build(ec, other, &cp, &req, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "does not verify") != NULL);
	CHECK(req == NULL);

	/* A bad base DN in the profile. */
	snprintf(smime.subject, sizeof(smime.subject), "O=Example");
	CHECK_RC(p11e_csr_build(ec, ec, &cp, &req, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "subject") != NULL);
	snprintf(smime.subject, sizeof(smime.subject), "/NOPE=x");
	CHECK_RC(p11e_csr_build(ec, ec, &cp, &req, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "NOPE") != NULL);
	smime.subject[0] = '\0';

	/* A bad digest. */
	cp.digest = "md17";
	CHECK_RC(p11e_csr_build(ec, ec, &cp, &req, &err), P11E_USAGE, &err);
	CHECK(strncmp(err.msg, "digest: ", 8) == 0);
	cp.digest = NULL;

	/* client-auth: no address needed, then no SAN at all. */
	p11e_csr_params ca = {.name = "host-agent", .profile = &client};
	CHECK_RC(p11e_csr_build(rsa, rsa, &ca, &req, &err), P11E_OK, &err);
	if (req != NULL) {
		STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
		EXTENDED_KEY_USAGE *eku = X509V3_get_d2i(exts, NID_ext_key_usage, NULL, NULL);
		GENERAL_NAMES *san = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
		CHECK(san == NULL);
		GENERAL_NAMES_free(san);
		CHECK(eku != NULL && sk_ASN1_OBJECT_num(eku) == 1 &&
		      OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_client_auth);
		sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	X509_REQ_free(req);
	req = NULL;
	ca.name = NULL;
	CHECK_RC(p11e_csr_build(rsa, rsa, &ca, &req, &err), P11E_USAGE, &err);
	CHECK(strncmp(err.msg, "name: ", 6) == 0);
	EVP_PKEY_free(other);
}

static void test_pem(EVP_PKEY *ec)
{
	p11e_profile smime;
	p11e_err err = {0};
	X509_REQ *req = NULL, *back = NULL;
	unsigned char *d1 = NULL, *d2 = NULL;
	int l1, l2;
	char *pem;

	p11e_profile_builtin("smime", &smime, &err);
	p11e_csr_params cp = {.email = "alice@example.org", .profile = &smime};
	CHECK_RC(p11e_csr_build(ec, ec, &cp, &req, &err), P11E_OK, &err);
	if (req == NULL)
		return;
	pem = p11e_csr_to_pem(req);
	CHECK(pem != NULL && strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----", 35) == 0);
	back = p11e_csr_from_pem(pem);
	CHECK(back != NULL);
	if (back != NULL) {
		l1 = i2d_X509_REQ(req, &d1);
		l2 = i2d_X509_REQ(back, &d2);
		CHECK(l1 > 0 && l1 == l2 && memcmp(d1, d2, (size_t)l1) == 0);
	}
	CHECK(p11e_csr_from_pem("not a pem") == NULL);
	CHECK(p11e_csr_from_pem(NULL) == NULL);
	OPENSSL_free(d1);
	OPENSSL_free(d2);
	free(pem);
	X509_REQ_free(back);
	X509_REQ_free(req);
}

/* The PIN of the wrapper's test token, from its 0600 file. */
static char *read_pin(void)
{
	const char *path = getenv("TEST_PIN_FILE");
	FILE *f = path != NULL ? fopen(path, "r") : NULL;
	char buf[64] = "";

	if (f == NULL)
		return NULL;
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

/* Keys that live on the SoftHSM token: EC and RSA(-PSS) through the libp11
 * bridge, Ed25519 through raw CKM_EDDSA. */
static void test_token(void)
{
	const char *module = getenv("SOFTHSM_MODULE"), *uri_text = getenv("TEST_TOKEN_URI");
	const char *types[] = {"ec:P-256", "rsa:2048", "ed25519"};
	p11e_module *m = NULL;
	p11e_token *t = NULL;
	p11e_uri uri;
	p11e_err err = {0};
	p11e_profile sign;
	char *pin = read_pin();

	memset(&uri, 0, sizeof(uri));
	if (module == NULL || uri_text == NULL || pin == NULL) {
		fprintf(stderr, "no SoftHSM token: run under tests/with-softhsm.sh\n");
		CHECK(0);
		free(pin);
		return;
	}
	/* SoftHSM 2.6 leaks a little in its EdDSA code. Keeping it mapped after
	 * the token layer's dlclose lets LeakSanitizer name it, so the
	 * libsofthsm2.so suppression applies; our own leaks still show. */
	if (dlopen(module, RTLD_NOW | RTLD_NODELETE) == NULL)
		fprintf(stderr, "cannot pin %s: %s\n", module, dlerror());
	p11e_profile_builtin("smime-sign", &sign, &err);
	CHECK_RC(p11e_module_load(module, &m, &err), P11E_OK, &err);
	CHECK_RC(p11e_uri_parse(uri_text, &uri, &err), P11E_OK, &err);
	if (m == NULL)
		goto out;
	CHECK_RC(p11e_token_open(m, &uri, &t, &err), P11E_OK, &err);
	if (t == NULL)
		goto out;
	CHECK_RC(p11e_token_login(t, pin, &err), P11E_OK, &err);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		p11e_csr_params cp = {.email = "alice@example.org", .profile = &sign};
		p11e_id id = {{0xc5, (unsigned char)i}, 2};
		EVP_PKEY *pub = NULL, *signer = NULL;
		X509_REQ *req = NULL;
		p11e_keytype kt;
		char name[64];

		p11e_keytype_parse(types[i], &kt, &err);
		if (p11e_token_check_keytype(t, &kt, &err) == P11E_UNSUPPORTED) {
			fprintf(stderr, "skipped %s: %s\n", types[i], err.msg);
			continue;
		}
		CHECK_RC(p11e_token_generate_keypair(t, &kt, &id, "csr-test", P11E_USE_SIGN, &err),
			 P11E_OK, &err);
		CHECK_RC(p11e_token_public_key(t, &id, &pub, &err), P11E_OK, &err);
		if (pub == NULL)
			continue;
		if (kt.kind == P11E_KEY_ED25519) {
			CHECK_RC(p11e_csr_build_token_raw(pub, t, &id, &cp, &req, &err), P11E_OK,
				 &err);
		} else {
			CHECK_RC(p11e_token_signing_key(t, &id, &signer, &err), P11E_OK, &err);
			cp.rsa_pss = kt.kind == P11E_KEY_RSA;
			if (signer != NULL)
				CHECK_RC(p11e_csr_build(pub, signer, &cp, &req, &err), P11E_OK,
					 &err);
		}
		if (req != NULL) {
			snprintf(name, sizeof(name), "token-%zu.csr", i);
			openssl_checks(req, name,
				       kt.kind == P11E_KEY_RSA	     ? "rsassaPss"
				       : kt.kind == P11E_KEY_ED25519 ? "ED25519"
								     : "ecdsa-with-SHA256");
		}
		X509_REQ_free(req);
		req = NULL;
		/* The raw C_Sign fallback, used when libp11 cannot read the token's
		 * keys: PKCS#1 v1.5 and ECDSA requests that openssl accepts. */
		if (kt.kind != P11E_KEY_ED25519) {
			cp.rsa_pss = 0;
			CHECK_RC(p11e_csr_build_token_raw(pub, t, &id, &cp, &req, &err), P11E_OK,
				 &err);
			if (req != NULL) {
				snprintf(name, sizeof(name), "token-raw-%zu.csr", i);
				openssl_checks(req, name,
					       kt.kind == P11E_KEY_RSA ? "sha256WithRSAEncryption"
								       : "ecdsa-with-SHA256");
			}
			X509_REQ_free(req);
			req = NULL;
			cp.rsa_pss = 1;
			if (kt.kind == P11E_KEY_RSA)
				CHECK_RC(p11e_csr_build_token_raw(pub, t, &id, &cp, &req, &err),
					 P11E_UNSUPPORTED, &err);
			cp.rsa_pss = 0;
		}
		EVP_PKEY_free(signer);
		EVP_PKEY_free(pub);
	}
out:
	if (t != NULL)
		p11e_token_close(t);
	if (m != NULL)
		p11e_module_free(m);
	p11e_uri_clear(&uri);
	p11e_secret_free(pin, (size_t)-1);
}

int main(void)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	CHECK(rsa != NULL && ec != NULL && ed != NULL);
	if (rsa != NULL && ec != NULL && ed != NULL) {
		test_kinds(rsa, ec, ed);
		test_errors(rsa, ec);
		test_pem(ec);
	}
	test_token();
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
	return check_done();
}
