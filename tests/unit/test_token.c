/* The token layer's contract where test_token_layer.c does not look: key
 * usage and protection attributes as the module stored them, lookups that
 * miss, selection by label, grouping in p11e_token_list, CA certificate IDs,
 * the PIN-less login refusal, and initialising SoftHSM's free token (then
 * reaching it through p11-kit-proxy too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "p11enroll/secret.h"
#include "p11enroll/token.h"
#include "p11enroll/util.h"
/* The test reads attributes back through the module itself, so it sees
 * what the token stored rather than what we asked for. */
#include "token/p11_internal.h"

static char *secret(const char *env)
{
	char src[600], *s = NULL;
	p11e_err err = {0};

	snprintf(src, sizeof(src), "file:%s", getenv(env));
	CHECK_RC(p11e_secret_read(src, "PIN", &s, &err), P11E_OK, &err);
	return s;
}

static X509 *self_signed(const char *cn, int with_ski)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *c = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 42);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "O", MBSTRING_ASC,
				   (const unsigned char *)"p11enroll tests", -1, -1, 0);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(c));
	X509_gmtime_adj(X509_getm_notBefore(c), 0);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_set_pubkey(c, k);
	if (with_ski) {
		X509V3_set_ctx(&v3, c, c, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
		X509_add_ext(c, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(c, k, EVP_sha256());
	EVP_PKEY_free(k);
	return c;
}

/* Boolean attributes of the one object of class cls under id, in the order
 * of types; 0xff where the module would not say. */
static void bools(p11e_token *t, CK_OBJECT_CLASS cls, const p11e_id *id,
		  const CK_ATTRIBUTE_TYPE *types, size_t n, CK_BBOOL *vals)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	p11e_err err = {0};

	memset(vals, 0xff, n);
	CHECK_RC(p11e_find_one(t, cls, id, &h, &err), P11E_OK, &err);
	for (size_t i = 0; h != CK_INVALID_HANDLE && i < n; i++) {
		CK_ATTRIBUTE a = {types[i], &vals[i], sizeof(vals[i])};
		CHECK(t->m->f->C_GetAttributeValue(t->session, h, &a, 1) == CKR_OK);
	}
}

/* want_priv: SIGN, DECRYPT, UNWRAP, DERIVE; want_pub: VERIFY, ENCRYPT, WRAP. */
static void usage_is(p11e_token *t, const p11e_id *id, const char *want_priv, const char *want_pub)
{
	static const CK_ATTRIBUTE_TYPE priv_t[] = {
	    CKA_SIGN,	 CKA_DECRYPT, CKA_UNWRAP,      CKA_DERIVE,	     CKA_SENSITIVE,
	    CKA_PRIVATE, CKA_TOKEN,   CKA_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE};
	static const CK_ATTRIBUTE_TYPE pub_t[] = {CKA_VERIFY, CKA_ENCRYPT, CKA_WRAP, CKA_PRIVATE,
						  CKA_TOKEN};
	CK_BBOOL pv[10], pb[5];

	bools(t, CKO_PRIVATE_KEY, id, priv_t, 10, pv);
	bools(t, CKO_PUBLIC_KEY, id, pub_t, 5, pb);
	for (size_t i = 0; i < 4; i++)
		CHECK(pv[i] == (want_priv[i] == '1'));
	/* sensitive, private, token object, never extractable */
	CHECK(pv[4] == CK_TRUE && pv[5] == CK_TRUE && pv[6] == CK_TRUE && pv[7] == CK_FALSE &&
	      pv[8] == CK_TRUE && pv[9] == CK_TRUE);
	for (size_t i = 0; i < 3; i++)
		CHECK(pb[i] == (want_pub[i] == '1'));
	CHECK(pb[3] == CK_FALSE && pb[4] == CK_TRUE);
}

static void gen(p11e_token *t, const char *type, unsigned char tag, const char *label,
		unsigned usage, p11e_keytype *kt)
{
	p11e_id id = {{0x7e, tag}, 2};
	size_t n = 0;
	p11e_err err = {0};

	CHECK_RC(p11e_keytype_parse(type, kt, &err), P11E_OK, &err);
	CHECK_RC(p11e_token_check_keytype(t, kt, &err), P11E_OK, &err);
	CHECK_RC(p11e_token_generate_keypair(t, kt, &id, label, usage, &err), P11E_OK, &err);
	CHECK_RC(p11e_token_count(t, CKO_PRIVATE_KEY, &id, &n, &err), P11E_OK, &err);
	CHECK(n == 1);
	CHECK_RC(p11e_token_count(t, CKO_PUBLIC_KEY, &id, &n, &err), P11E_OK, &err);
	CHECK(n == 1);
}

static void keys(p11e_token *t)
{
	p11e_id rsa = {{0x7e, 1}, 2}, ec = {{0x7e, 2}, 2}, ec_sign = {{0x7e, 3}, 2};
	p11e_id ed = {{0x7e, 4}, 2}, none = {{0x7e, 0xff}, 2}, got = {{0}, 0};
	p11e_keytype kt, huge = {.kind = P11E_KEY_RSA, .bits = 1 << 20, .name = "rsa:1048576"};
	EVP_PKEY *pub = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0, n = 0;
	p11e_err err = {0};

	gen(t, "rsa:2048", 1, "rsa-key", P11E_USE_SIGN | P11E_USE_DECRYPT | P11E_USE_DERIVE, &kt);
	usage_is(t, &rsa, "1110", "111"); /* DERIVE is EC only */
	gen(t, "ec:P-256", 2, "ec-key", P11E_USE_SIGN | P11E_USE_DERIVE | P11E_USE_DECRYPT, &kt);
	usage_is(t, &ec, "1001", "100"); /* DECRYPT is RSA only */
	gen(t, "ec:P-521", 3, "dup-label", P11E_USE_SIGN, &kt);
	usage_is(t, &ec_sign, "1000", "100");
	CHECK_RC(p11e_token_public_key(t, &ec_sign, &pub, &err), P11E_OK, &err);
	CHECK(pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC &&
	      EVP_PKEY_get_bits(pub) == 521);
	EVP_PKEY_free(pub);
	pub = NULL;

	/* The limit comes from C_GetMechanismInfo, not from a failed keygen. */
	CHECK_RC(p11e_token_check_keytype(t, &huge, &err), P11E_UNSUPPORTED, &err);
	CHECK(strstr(err.msg, "bits") != NULL);

	/* misses (before any Ed25519 key exists: libp11 0.4.12 then cannot list
	 * keys at all, see test_token_layer.c) */
	CHECK_RC(p11e_token_count(t, CKO_PRIVATE_KEY, &none, &n, &err), P11E_OK, &err);
	CHECK(n == 0);
	CHECK_RC(p11e_token_public_key(t, &none, &pub, &err), P11E_NOT_FOUND, &err);
	CHECK(pub == NULL);
	CHECK_RC(p11e_token_signing_key(t, &none, &pub, &err), P11E_NOT_FOUND, &err);
	CHECK(pub == NULL);
	CHECK_RC(p11e_token_sign_raw(t, &none, CKM_ECDSA, (const unsigned char *)"x", 1, &sig,
				     &sig_len, &err),
		 P11E_NOT_FOUND, &err);
	CHECK(sig == NULL && sig_len == 0);

	CHECK_RC(p11e_keytype_parse("ed25519", &kt, &err), P11E_OK, &err);
	if (p11e_token_check_keytype(t, &kt, &err) == P11E_OK) {
		gen(t, "ed25519", 4, "dup-label", P11E_USE_SIGN | P11E_USE_DERIVE, &kt);
		usage_is(t, &ed, "1000", "100");
		CHECK_RC(p11e_token_public_key(t, &ed, &pub, &err), P11E_OK, &err);
		CHECK(pub != NULL && EVP_PKEY_get_base_id(pub) == EVP_PKEY_ED25519);
		EVP_PKEY_free(pub);
		pub = NULL;
	} else {
		CHECK(err.rc == P11E_UNSUPPORTED &&
		      strstr(err.msg, "CKM_EC_EDWARDS_KEY_PAIR_GEN") != NULL);
		gen(t, "ec:P-384", 4, "dup-label", P11E_USE_SIGN, &kt);
	}

	/* object= selection by label */
	CHECK_RC(p11e_token_key_id_by_label(t, "ec-key", &got, &err), P11E_OK, &err);
	CHECK(got.len == ec.len && memcmp(got.v, ec.v, ec.len) == 0);
	CHECK_RC(p11e_token_key_id_by_label(t, "no-such-key", &got, &err), P11E_NOT_FOUND, &err);
	CHECK_RC(p11e_token_key_id_by_label(t, "dup-label", &got, &err), P11E_USAGE, &err);
}

/* The handles a session remembers (p11e_known_*) save searches, but never
 * outlive the object: destroyed or renamed by another session, they are
 * dropped and the token is searched again. */
static void known_handles(p11e_token *t, p11e_module *m, const p11e_uri *uri)
{
	p11e_id id = {{0x6b, 1}, 2}, moved = {{0x6b, 2}, 2};
	p11e_token *other = NULL;
	p11e_keytype kt;
	EVP_PKEY *pub = NULL;
	CK_OBJECT_HANDLE h = 0;
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, id.v, id.len}};
	CK_ATTRIBUTE set = {CKA_ID, moved.v, moved.len};
	CK_ULONG n = 0;
	p11e_err err = {0};

	CHECK_RC(p11e_keytype_parse("ec:P-256", &kt, &err), P11E_OK, &err);
	CHECK_RC(p11e_token_generate_keypair(t, &kt, &id, "known", P11E_USE_SIGN, &err), P11E_OK,
		 &err);
	CHECK(p11e_known_get(t, CKO_PUBLIC_KEY, &id, &h) && h != 0);
	CHECK(p11e_known_get(t, CKO_PRIVATE_KEY, &id, &h));
	CHECK(!p11e_known_get(t, CKO_CERTIFICATE, &id, &h));
	CHECK(p11e_known_made_key(t, &id)); /* made here: no certificate search needed */
	/* Renamed through our own call: known under the new ID only. */
	CHECK_RC(p11e_token_set_id(t, &id, &moved, &err), P11E_OK, &err);
	CHECK(p11e_known_get(t, CKO_PRIVATE_KEY, &moved, &h));
	CHECK(!p11e_known_get(t, CKO_PRIVATE_KEY, &id, &h));
	CHECK(p11e_known_made_key(t, &moved) && !p11e_known_made_key(t, &id));
	CHECK_RC(p11e_token_set_id(t, &moved, &id, &err), P11E_OK, &err);
	/* Another session renames the public key: the remembered handle no
	 * longer has that ID, so the lookup searches and finds nothing. */
	CHECK_RC(p11e_token_open(m, uri, &other, &err), P11E_OK, &err);
	if (other == NULL)
		return;
	CHECK(m->f->C_FindObjectsInit(other->session, find, 2) == CKR_OK);
	CHECK(m->f->C_FindObjects(other->session, &h, 1, &n) == CKR_OK && n == 1);
	m->f->C_FindObjectsFinal(other->session);
	CHECK(m->f->C_SetAttributeValue(other->session, h, &set, 1) == CKR_OK);
	CHECK_RC(p11e_token_public_key(t, &id, &pub, &err), P11E_NOT_FOUND, &err);
	CHECK(pub == NULL);
	/* ... and finds it under its new ID by searching. */
	CHECK_RC(p11e_token_public_key(t, &moved, &pub, &err), P11E_OK, &err);
	EVP_PKEY_free(pub);
	/* Destroyed by the other session: the private key is gone for us too. */
	cls = CKO_PRIVATE_KEY;
	CHECK(m->f->C_FindObjectsInit(other->session, find, 2) == CKR_OK);
	CHECK(m->f->C_FindObjects(other->session, &h, 1, &n) == CKR_OK && n == 1);
	m->f->C_FindObjectsFinal(other->session);
	CHECK(m->f->C_DestroyObject(other->session, h) == CKR_OK);
	CHECK(!p11e_known_get(t, CKO_PRIVATE_KEY, &id, &h));
	CHECK(!p11e_known_made_key(t, &id)); /* gone: searches again */
	CHECK_RC(p11e_token_sign_raw(t, &id, CKM_ECDSA, (const unsigned char *)"x", 1,
				     &(unsigned char *){NULL}, &(size_t){0}, &err),
		 P11E_NOT_FOUND, &err);
	p11e_token_close(other);
}

static const p11e_token_object *by_id(const p11e_token_object *objs, size_t n, const void *id,
				      size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (objs[i].id.len == len && memcmp(objs[i].id.v, id, len) == 0)
			return &objs[i];
	return NULL;
}

static void certs(p11e_token *t)
{
	p11e_id ec = {{0x7e, 2}, 2}, none = {{0x7e, 0xff}, 2};
	X509 *leaf = self_signed("leaf", 0), *ca_ski = self_signed("CA with SKI", 1);
	X509 *ca_plain = self_signed("CA without SKI", 0), *back = NULL;
	unsigned char sha1[SHA_DIGEST_LENGTH];
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca_ski);
	p11e_token_object *objs = NULL;
	const p11e_token_object *o;
	size_t n = 0;
	p11e_err err = {0};

	CHECK_RC(p11e_token_find_cert(t, &none, &back, &err), P11E_NOT_FOUND, &err);
	CHECK(back == NULL);
	CHECK_RC(p11e_token_store_cert(t, leaf, &ec, "leaf-cert", &err), P11E_OK, &err);
	CHECK_RC(p11e_token_store_ca_cert(t, ca_ski, &err), P11E_OK, &err);
	CHECK_RC(p11e_token_store_ca_cert(t, ca_plain, &err), P11E_OK, &err);
	CHECK_RC(p11e_token_store_ca_cert(t, ca_plain, &err), P11E_OK, &err);
	X509_pubkey_digest(ca_plain, EVP_sha1(), sha1, NULL);

	CHECK_RC(p11e_token_list(t, &objs, &n, &err), P11E_OK, &err);
	/* key pair and its certificate: one entry, labelled after the key */
	o = by_id(objs, n, ec.v, ec.len);
	CHECK(o != NULL && o->has_private && o->has_public && o->cert != NULL &&
	      X509_cmp(o->cert, leaf) == 0 && strcmp(o->label, "ec-key") == 0);
	/* CA certificates: CKA_ID is the SKI, or SHA-1 of the key; label the CN */
	CHECK(ski != NULL);
	o = ski ? by_id(objs, n, ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski))
		: NULL;
	CHECK(o != NULL && !o->has_private && !o->has_public && o->cert != NULL &&
	      X509_cmp(o->cert, ca_ski) == 0 && strcmp(o->label, "CA with SKI") == 0);
	o = by_id(objs, n, sha1, sizeof(sha1));
	CHECK(o != NULL && o->cert != NULL && X509_cmp(o->cert, ca_plain) == 0 &&
	      strcmp(o->label, "CA without SKI") == 0);
	p11e_token_objects_free(objs, n);

	X509_free(leaf);
	X509_free(ca_ski);
	X509_free(ca_plain);
}

static void direct(const char *module, const char *pin, const char *so_pin)
{
	p11e_module *m = NULL;
	p11e_token *t = NULL;
	p11e_token_info *infos = NULL;
	p11e_uri uri;
	size_t n = 0, blank = 0;
	p11e_err err = {0};

	CHECK_RC(p11e_module_load(module, &m, &err), P11E_OK, &err);
	if (m == NULL)
		return;
	CHECK(strcmp(p11e_module_path(m), module) == 0);
	/* SoftHSM always offers one free slot next to the initialised ones. */
	CHECK_RC(p11e_module_tokens(m, &infos, &n, &err), P11E_OK, &err);
	for (size_t i = 0; i < n; i++)
		blank += !infos[i].initialized;
	CHECK(blank == 1);
	free(infos);

	memset(&uri, 0, sizeof(uri));
	uri.token = "test";
	uri.manufacturer = "No Such Maker";
	CHECK_RC(p11e_token_open(m, &uri, &t, &err), P11E_TOKEN_NOT_FOUND, &err);
	uri.manufacturer = NULL;
	CHECK_RC(p11e_token_open(m, &uri, &t, &err), P11E_OK, &err);
	if (t == NULL)
		goto out;
	CHECK(strcmp(p11e_token_get_info(t)->label, "test") == 0);
	/* No PIN and no PIN pad: refused before anything reaches the token. */
	CHECK_RC(p11e_token_login(t, NULL, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "--pin-source") != NULL);
	CHECK_RC(p11e_token_login(t, pin, &err), P11E_OK, &err);
	CHECK_RC(p11e_token_login(t, pin, &err), P11E_OK, &err); /* already logged in */
	keys(t);
	certs(t);
	known_handles(t, m, &uri);
	p11e_token_close(t);
	t = NULL;

	/* init: never an initialised token, nor a token no one asked for */
	memset(&uri, 0, sizeof(uri));
	uri.token = "test";
	CHECK_RC(p11e_token_init(m, &uri, "test", so_pin, pin, &err), P11E_EXISTS, &err);
	CHECK(strstr(err.msg, "never wipes") != NULL);
	uri.token = NULL;
	uri.serial = "0000000000000000";
	CHECK_RC(p11e_token_init(m, &uri, "fresh", so_pin, pin, &err), P11E_TOKEN_NOT_FOUND, &err);
	uri.serial = NULL;
	uri.token = "fresh"; /* a blank token has no label yet: ignored */
	CHECK_RC(p11e_token_init(m, &uri, "fresh", so_pin, pin, &err), P11E_OK, &err);
	CHECK_RC(p11e_token_open(m, &uri, &t, &err), P11E_OK, &err);
	if (t != NULL) {
		CHECK(p11e_token_get_info(t)->user_pin_initialized);
		CHECK_RC(p11e_token_login(t, pin, &err), P11E_OK, &err);
	}
out:
	p11e_token_close(t);
	p11e_module_free(m);
}

/* The token initialised above, seen through p11-kit-proxy. */
static void proxy(const char *pin)
{
	p11e_module *m = NULL;
	p11e_token *t = NULL;
	p11e_uri uri;
	p11e_id none = {{0x7e, 0xff}, 2};
	size_t n = 1;
	p11e_err err = {0};

	CHECK_RC(p11e_module_load(NULL, &m, &err), P11E_OK, &err);
	if (m == NULL)
		return;
	CHECK(strcmp(p11e_module_path(m), P11E_DEFAULT_MODULE) == 0);
	memset(&uri, 0, sizeof(uri));
	uri.token = "fresh";
	CHECK_RC(p11e_token_open(m, &uri, &t, &err), P11E_OK, &err);
	if (t != NULL) {
		CHECK_RC(p11e_token_login(t, "000000", &err), P11E_PIN_INCORRECT, &err);
		CHECK(strstr(err.msg, "token reports") != NULL &&
		      strstr(err.msg, "000000") == NULL);
		CHECK_RC(p11e_token_login(t, pin, &err), P11E_OK, &err);
		CHECK_RC(p11e_token_count(t, CKO_PRIVATE_KEY, &none, &n, &err), P11E_OK, &err);
		CHECK(n == 0);
	}
	p11e_token_close(t);
	p11e_module_free(m);
}

int main(void)
{
	char *pin = secret("TEST_PIN_FILE"), *so_pin = secret("TEST_SO_PIN_FILE");

	if (pin != NULL && so_pin != NULL) {
		direct(getenv("SOFTHSM_MODULE"), pin, so_pin);
		proxy(pin);
	}
	p11e_secret_free(pin, (size_t)-1);
	p11e_secret_free(so_pin, (size_t)-1);
	return check_done();
}
