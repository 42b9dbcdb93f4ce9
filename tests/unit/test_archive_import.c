/* Archived keys onto SoftHSM (p11e_archive_import, src/token/p11_import.c):
 * software keys imported with C_CreateObject must do on the token what the
 * software key does (RSA decryption, ECDH agreeing on the same secret,
 * P-521 with its 66-byte scalar), sit under the SHA-1 of their public key,
 * never twice, and never beside another public key under that ID. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "p11enroll/recover.h"
#include "p11enroll/secret.h"
#include "p11enroll/software.h"
#include "p11enroll/token.h"
#include "p11enroll/util.h"

static X509 *cert_for(EVP_PKEY *key, const char *ku)
{
	X509 *c = X509_new();
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, ku);

	ASN1_INTEGER_set(X509_get_serialNumber(c), 9);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
				   (const unsigned char *)"archived", -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(c));
	X509_gmtime_adj(X509_getm_notBefore(c), 0);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_set_pubkey(c, key);
	X509_add_ext(c, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(c, key, EVP_sha256());
	return c;
}

/* RSA: what the software public key encrypts, the token key decrypts. */
static int rsa_decrypts(EVP_PKEY *soft, EVP_PKEY *token_key)
{
	const unsigned char msg[] = "a content-encryption key";
	unsigned char ct[1024], pt[1024];
	size_t ct_len = sizeof(ct), pt_len = sizeof(pt);
	EVP_PKEY_CTX *e = EVP_PKEY_CTX_new(soft, NULL), *d = EVP_PKEY_CTX_new(token_key, NULL);
	int ok = e != NULL && d != NULL && EVP_PKEY_encrypt_init(e) == 1 &&
		 EVP_PKEY_encrypt(e, ct, &ct_len, msg, sizeof(msg)) == 1 &&
		 EVP_PKEY_decrypt_init(d) == 1 &&
		 EVP_PKEY_decrypt(d, pt, &pt_len, ct, ct_len) == 1 && pt_len == sizeof(msg) &&
		 memcmp(pt, msg, pt_len) == 0;

	EVP_PKEY_CTX_free(e);
	EVP_PKEY_CTX_free(d);
	return ok;
}

/* EC: the token key and the software key agree on the same ECDH secret with
 * a peer. */
static int ec_agrees(EVP_PKEY *soft, EVP_PKEY *token_key, const char *curve)
{
	EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	unsigned char a[128], b[128];
	size_t a_len = sizeof(a), b_len = sizeof(b);
	EVP_PKEY_CTX *x = EVP_PKEY_CTX_new(soft, NULL), *y = EVP_PKEY_CTX_new(token_key, NULL);
	int ok = peer != NULL && x != NULL && y != NULL && EVP_PKEY_derive_init(x) == 1 &&
		 EVP_PKEY_derive_set_peer(x, peer) == 1 && EVP_PKEY_derive(x, a, &a_len) == 1 &&
		 EVP_PKEY_derive_init(y) == 1 && EVP_PKEY_derive_set_peer(y, peer) == 1 &&
		 EVP_PKEY_derive(y, b, &b_len) == 1 && a_len == b_len && memcmp(a, b, a_len) == 0;

	EVP_PKEY_CTX_free(x);
	EVP_PKEY_CTX_free(y);
	EVP_PKEY_free(peer);
	return ok;
}

static void import(p11e_token *t, const char *type, const char *curve)
{
	p11e_keytype kt;
	EVP_PKEY *key = NULL, *pub = NULL, *on_token = NULL;
	X509 *cert;
	p11e_id id = {{0}, 0};
	size_t n = 0;
	int already = -1;
	p11e_err err = {0};

	CHECK_RC(p11e_keytype_parse(type, &kt, &err), P11E_OK, &err);
	CHECK_RC(p11e_soft_keygen(&kt, &key, &err), P11E_OK, &err);
	if (key == NULL)
		return;
	cert = cert_for(key, curve ? "critical,keyAgreement" : "critical,keyEncipherment");
	CHECK_RC(p11e_archive_import(t, key, cert, NULL, type, NULL, &already, &id, &err), P11E_OK,
		 &err);
	CHECK(already == 0);
	CHECK(id.len == 20);
	CHECK_RC(p11e_token_count(t, 3, &id, &n, &err), P11E_OK, &err);
	CHECK(n == 1);
	CHECK_RC(p11e_token_public_key(t, &id, &pub, &err), P11E_OK, &err);
	CHECK(pub != NULL && EVP_PKEY_eq(pub, key) == 1);
	CHECK_RC(p11e_token_signing_key(t, &id, &on_token, &err), P11E_OK, &err);
	if (on_token != NULL)
		CHECK(curve ? ec_agrees(key, on_token, curve) : rsa_decrypts(key, on_token));
	EVP_PKEY_free(on_token);
	/* Again: everything is there, nothing is added. */
	CHECK_RC(p11e_archive_import(t, key, cert, NULL, type, NULL, &already, &id, &err), P11E_OK,
		 &err);
	CHECK(already == 1);
	CHECK_RC(p11e_token_count(t, 3, &id, &n, &err), P11E_OK, &err);
	CHECK(n == 1);
	CHECK_RC(p11e_token_count(t, 2, &id, &n, &err), P11E_OK, &err);
	CHECK(n == 1);
	CHECK_RC(p11e_token_count(t, 1, &id, &n, &err), P11E_OK, &err);
	CHECK(n == 1);
	EVP_PKEY_free(pub);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* Another public key already under the ID the key would get: refused. */
static void squatter(p11e_token *t)
{
	p11e_keytype kt;
	EVP_PKEY *key = NULL, *other = NULL;
	X509 *cert;
	p11e_id id;
	unsigned int len = 0;
	size_t n = 0;
	p11e_err err = {0};

	CHECK_RC(p11e_keytype_parse("ec:P-256", &kt, &err), P11E_OK, &err);
	CHECK_RC(p11e_soft_keygen(&kt, &key, &err), P11E_OK, &err);
	CHECK_RC(p11e_soft_keygen(&kt, &other, &err), P11E_OK, &err);
	if (key == NULL || other == NULL)
		goto out;
	cert = cert_for(key, "critical,keyAgreement");
	X509_pubkey_digest(cert, EVP_sha1(), id.v, &len);
	id.len = len;
	CHECK_RC(p11e_token_import_public_key(t, other, &id, "squatter", 0, &err), P11E_OK, &err);
	CHECK_RC(p11e_archive_import(t, key, cert, NULL, "x", NULL, NULL, NULL, &err), P11E_EXISTS,
		 &err);
	CHECK(strstr(err.msg, "another public key") != NULL);
	CHECK_RC(p11e_token_count(t, 3, &id, &n, &err), P11E_OK, &err);
	CHECK(n == 0);
	X509_free(cert);
out:
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

int main(void)
{
	p11e_module *m = NULL;
	p11e_token *t = NULL;
	p11e_uri uri = {0};
	char *pin = NULL, src[600];
	p11e_err err = {0};

	CHECK_RC(p11e_module_load(getenv("SOFTHSM_MODULE"), &m, &err), P11E_OK, &err);
	if (m == NULL)
		return check_done();
	uri.token = "test";
	CHECK_RC(p11e_token_open(m, &uri, &t, &err), P11E_OK, &err);
	snprintf(src, sizeof(src), "file:%s", getenv("TEST_PIN_FILE"));
	CHECK_RC(p11e_secret_read(src, "PIN", &pin, &err), P11E_OK, &err);
	if (t != NULL && pin != NULL) {
		CHECK_RC(p11e_token_login(t, pin, &err), P11E_OK, &err);
		import(t, "rsa:2048", NULL);
		import(t, "ec:P-256", "P-256");
		import(t, "ec:P-384", "P-384");
		import(t, "ec:P-521", "P-521");
		squatter(t);
	}
	p11e_secret_free(pin, (size_t)-1);
	p11e_token_close(t);
	p11e_module_free(m);
	return check_done();
}
