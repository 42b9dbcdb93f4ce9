/* A pinpad reader (the test shim's P11SHIM_PINPAD, tests/shim/p11shim_pin.c, over
 * SoftHSM): our login sends no PIN, and libp11's signing bridge then signs in that
 * logged-in state without logging in itself. The shim refuses any PIN passed in a
 * call (CKR_ARGUMENTS_BAD), so a bridge that sent one would fail here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include "check.h"
#include "p11enroll/token.h"
#include "p11enroll/uri.h"

static int sign_verifies(EVP_PKEY *signer, EVP_PKEY *pub)
{
	const unsigned char msg[] = "pinpad";
	unsigned char sig[1024];
	size_t sig_len = sizeof(sig);
	EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
	int ok = EVP_DigestSignInit(s, NULL, EVP_sha256(), NULL, signer) == 1 &&
		 EVP_DigestSign(s, sig, &sig_len, msg, sizeof(msg)) == 1 &&
		 EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, pub) == 1 &&
		 EVP_DigestVerify(v, sig, sig_len, msg, sizeof(msg)) == 1;

	EVP_MD_CTX_free(s);
	EVP_MD_CTX_free(v);
	return ok;
}

int main(void)
{
	const char *shim = getenv("P11SHIM"), *pin_file = getenv("TEST_PIN_FILE");
	p11e_err err = {0};
	p11e_uri uri = {0};
	p11e_module *m = NULL;
	p11e_token *t = NULL;
	p11e_keytype kt;
	p11e_id id = {{0x70, 0x1d}, 2};
	EVP_PKEY *pub = NULL, *signer = NULL;

	if (shim == NULL || pin_file == NULL) {
		fprintf(stderr, "P11SHIM and TEST_PIN_FILE must be set (run through ctest)\n");
		return 1;
	}
	/* The reader "types" the test token's PIN from this file. */
	setenv("P11SHIM_PINPAD", pin_file, 1);
	CHECK_RC(p11e_uri_parse("pkcs11:token=test", &uri, &err), P11E_OK, &err);
	CHECK_RC(p11e_module_load(shim, &m, &err), P11E_OK, &err);
	if (m != NULL)
		CHECK_RC(p11e_token_open(m, &uri, &t, &err), P11E_OK, &err);
	if (t == NULL)
		goto out;
	CHECK(p11e_token_get_info(t)->protected_auth_path);
	/* A PIN from us is refused by the pinpad reader, and not tried twice. */
	CHECK_RC(p11e_token_login(t, "123456", &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "CKR_ARGUMENTS_BAD") != NULL);
	CHECK_RC(p11e_token_login(t, NULL, &err), P11E_OK, &err);
	CHECK_RC(p11e_keytype_parse("ec:P-256", &kt, &err), P11E_OK, &err);
	CHECK_RC(p11e_token_generate_keypair(t, &kt, &id, "pinpad", P11E_USE_SIGN, &err), P11E_OK,
		 &err);
	CHECK_RC(p11e_token_public_key(t, &id, &pub, &err), P11E_OK, &err);
	/* libp11's own sessions share our login: no PKCS11_login, no PIN. */
	CHECK_RC(p11e_token_signing_key(t, &id, &signer, &err), P11E_OK, &err);
	if (signer != NULL && pub != NULL)
		CHECK(sign_verifies(signer, pub));
	/* C_SetPIN without a new PIN source on a pinpad: the reader asks (the
	 * shim's FILE.new is missing here, so it reports the holder cancelled). */
	CHECK(p11e_token_set_pin(t, NULL, &err) != P11E_OK);
	CHECK(strstr(err.msg, "CKR_FUNCTION_CANCELED") != NULL);
out:
	EVP_PKEY_free(signer);
	EVP_PKEY_free(pub);
	p11e_token_close(t);
	p11e_module_free(m);
	p11e_uri_clear(&uri);
	return check_done();
}
