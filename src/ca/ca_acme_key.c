/* The ACME account key: a PEM file ("account_key_file", made 0600 when
 * absent), else the store's acme-key document (the file store's
 * DIR/account.key, 0600), made when absent; or a key on a token ("account_key_uri", a PKCS#11 URI
 * with id= or object=), made there (sign-only, not extractable) when absent.
 * Either way the same key signs every run, so the account is reused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include "ca/ca_acme.h"
#include "p11enroll/util.h"

#define CKO_PRIVATE_KEY_ 3UL
#define KEY_FILE_MAX (64 * 1024)

void acme_key_clear(acme_key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->jwk);
	if (k->on_token)
		p11e_session_close(&k->sess);
	memset(k, 0, sizeof(*k));
}

static p11e_rc key_type(const acme *a, p11e_keytype *kt, p11e_err *err)
{
	const char *name = a->account_key_type ? a->account_key_type : "ec:P-256";
	p11e_err inner = {0};

	if (p11e_keytype_parse(name, kt, &inner) != P11E_OK || kt->kind == P11E_KEY_ED25519)
		return p11e_errf(err, P11E_CONFIG,
				 "ca acme: \"account_key_type\" '%s': use ec:P-256, ec:P-384, "
				 "ec:P-521 or rsa:2048|3072|4096",
				 name);
	return P11E_OK;
}

/* A new key, as an unencrypted PEM into *pem (malloc'd, *len bytes; a
 * secret: p11e_secret_free it). */
static p11e_rc generate_pem(acme *a, char **pem, size_t *len, p11e_err *err)
{
	p11e_keytype kt;
	EVP_PKEY *pkey = NULL;
	BIO *mem = NULL;
	char *data;
	long n;
	p11e_rc rc = key_type(a, &kt, err);

	*pem = NULL;
	*len = 0;
	if (rc != P11E_OK)
		return rc;
	if (kt.kind == P11E_KEY_RSA)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)kt.bits);
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", OBJ_nid2sn(kt.curve_nid));
	mem = BIO_new(BIO_s_mem());
	if (pkey == NULL || mem == NULL ||
	    PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(mem, &data)) <= 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca acme: cannot make an account key");
		goto out;
	}
	if ((*pem = malloc((size_t)n + 1)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	memcpy(*pem, data, (size_t)n);
	(*pem)[n] = '\0';
	*len = (size_t)n;
	OPENSSL_cleanse(data, (size_t)n);
out:
	BIO_free(mem);
	EVP_PKEY_free(pkey);
	return rc;
}

static p11e_rc parse_pem(acme *a, const char *text, size_t len, const char *what, p11e_err *err)
{
	BIO *mem = BIO_new_mem_buf(text, (int)len);
	p11e_rc rc = P11E_OK;

	if (mem == NULL || (a->key.pkey = PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL)) == NULL)
		rc = p11e_errf_ssl(err, P11E_CONFIG,
				   "ca acme: %s is not an unencrypted PEM private key", what);
	BIO_free(mem);
	return rc;
}

/* "account_key_file": the user's file, made 0600 when absent. */
static p11e_rc load_file(acme *a, p11e_err *err)
{
	const char *path = a->account_key_file;
	char *text = NULL, *dir = NULL, *slash;
	size_t len = 0;
	struct stat st;
	p11e_rc rc;

	rc = p11e_read_file(path, KEY_FILE_MAX, &text, &len, err);
	if (rc == P11E_NOT_FOUND) {
		if ((rc = generate_pem(a, &text, &len, err)) != P11E_OK)
			goto out;
		if ((dir = strdup(path)) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			rc = p11e_mkdirs(dir, 0700, err);
		}
		if (rc == P11E_OK)
			rc = p11e_write_file_atomic(path, text, len, 0600, err);
	} else if (rc == P11E_OK && stat(path, &st) == 0) {
		rc = p11e_check_private_stat(&st, path, "ca acme: the account key", 0, P11E_CONFIG,
					     err);
	}
	if (rc == P11E_OK)
		rc = parse_pem(a, text, len, path, err);
out:
	free(dir);
	p11e_secret_free(text, len);
	return rc;
}

/* Without "account_key_file": the store's acme-key HASH/account (the file
 * store's DIR/account.key, 0600), made when absent. Every station of a
 * shared store signs with this one key, so they share one account. */
static p11e_rc load_stored(acme *a, p11e_err *err)
{
	char *name = acme_doc_name(a, "account"), *pem = NULL, where[400];
	unsigned char *text = NULL;
	size_t len = 0, pem_len = 0;
	p11e_rc rc;

	if (name == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	p11e_store_describe(a->store, "acme-key", name, where, sizeof(where));
	rc = p11e_store_get(a->store, "acme-key", name, &text, &len, err);
	if (rc == P11E_NOT_FOUND) {
		rc = generate_pem(a, &pem, &pem_len, err);
		/* Create-only and durable: a key that signed for an account is
		 * never replaced; of two makers one wins, the other reads it. */
		if (rc == P11E_OK)
			rc = p11e_store_put(a->store, "acme-key", name, pem, pem_len,
					    P11E_STORE_CREATE | P11E_STORE_DURABLE, err);
		if (rc == P11E_EXISTS)
			rc = p11e_store_get(a->store, "acme-key", name, &text, &len, err);
		else if (rc == P11E_OK)
			rc = parse_pem(a, pem, pem_len, where, err);
	}
	if (rc == P11E_OK && text != NULL)
		rc = parse_pem(a, (const char *)text, len, where, err);
	p11e_secret_free(pem, pem_len);
	p11e_secret_free((char *)text, len + (text != NULL));
	free(name);
	return rc;
}

static p11e_rc load_token(acme *a, p11e_err *err)
{
	acme_key *k = &a->key;
	p11e_session_params sp = {.uri = a->account_key_uri,
				  .module = a->module,
				  .pin_source = a->pin_source,
				  .login = 1};
	const char *label;
	p11e_keytype kt;
	size_t n = 0;
	p11e_rc rc;

	rc = p11e_session_open(NULL, &sp, &k->sess, err);
	if (rc != P11E_OK)
		return rc;
	k->on_token = 1;
	label = k->sess.uri.object ? k->sess.uri.object : "acme-account";
	if (k->sess.uri.has_id) {
		memcpy(k->id.v, k->sess.uri.id, k->sess.uri.id_len);
		k->id.len = k->sess.uri.id_len;
	} else if (k->sess.uri.object != NULL) {
		rc = p11e_token_key_id_by_label(k->sess.token, k->sess.uri.object, &k->id, err);
		if (rc == P11E_NOT_FOUND) {
			k->id.len = 16;
			rc = RAND_bytes(k->id.v, (int)k->id.len) == 1
				 ? P11E_OK
				 : p11e_errf_ssl(err, P11E_FAIL, "ca acme: no random bytes");
		}
	} else {
		return p11e_errf(
		    err, P11E_CONFIG,
		    "ca acme: \"account_key_uri\" needs id= or object= to name the key");
	}
	if (rc == P11E_OK)
		rc = p11e_token_count(k->sess.token, CKO_PRIVATE_KEY_, &k->id, &n, err);
	if (rc == P11E_OK && n == 0) {
		rc = key_type(a, &kt, err);
		if (rc == P11E_OK)
			rc = p11e_token_check_keytype(k->sess.token, &kt, err);
		if (rc == P11E_OK)
			rc = p11e_token_generate_keypair(k->sess.token, &kt, &k->id, label,
							 P11E_USE_SIGN, err);
	}
	if (rc == P11E_OK)
		rc = p11e_token_public_key(k->sess.token, &k->id, &k->pkey, err);
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "ca acme: the account key on the token has no public key object; "
			       "the JWK cannot be built");
	return rc;
}

p11e_rc acme_key_load(acme *a, p11e_err *err)
{
	p11e_rc rc;

	if (a->key_loaded)
		return P11E_OK;
	rc = a->account_key_uri	   ? load_token(a, err)
	     : a->account_key_file ? load_file(a, err)
				   : load_stored(a, err);
	if (rc == P11E_OK)
		rc = acme_key_describe(&a->key, err);
	if (rc != P11E_OK) {
		acme_key_clear(&a->key);
		return rc;
	}
	a->key_loaded = 1;
	return P11E_OK;
}
