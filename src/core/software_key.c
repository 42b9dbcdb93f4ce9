/* Software keys and their escrowed password (see include/p11enroll/software.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include "p11enroll/password.h"
#include "p11enroll/pem.h"
#include "p11enroll/vault.h"
#include "p11enroll/record.h"
#include "p11enroll/audit.h"
#include "p11enroll/software.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"

p11e_rc p11e_soft_keygen(const p11e_keytype *kt, EVP_PKEY **out, p11e_err *err)
{
	*out = NULL;
	switch (kt->kind) {
	case P11E_KEY_RSA:
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)kt->bits);
		break;
	case P11E_KEY_EC:
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", OBJ_nid2sn(kt->curve_nid));
		break;
	case P11E_KEY_ED25519:
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	}
	if (*out == NULL)
		return p11e_errf_ssl(err, P11E_FAIL, "key: cannot generate a %s key", kt->name);
	return P11E_OK;
}

p11e_rc p11e_soft_key_save(p11e_store *store, const char *name, EVP_PKEY *key,
			   const char *password, p11e_err *err)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	X509_ALGOR *pbe = NULL;
	X509_SIG *enc = NULL;
	BIO *mem = NULL;
	BUF_MEM *buf = NULL;
	p11e_rc rc = P11E_FAIL;

	if (strlen(password) > INT_MAX)
		return p11e_errf(err, P11E_USAGE, "key file: password too long");
	if ((p8 = EVP_PKEY2PKCS8(key)) == NULL ||
	    (pbe = PKCS5_pbe2_set_iv_ex(EVP_aes_256_cbc(), P11E_SOFT_KEY_ITER, NULL, 0, NULL,
					NID_hmacWithSHA256, NULL)) == NULL ||
	    (enc = PKCS8_set0_pbe(password, (int)strlen(password), p8, pbe)) == NULL) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "key file: cannot encrypt the key");
		goto out;
	}
	pbe = NULL; /* enc owns it */
	if ((mem = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_PKCS8(mem, enc) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "key file: cannot encode the key");
		goto out;
	}
	BIO_get_mem_ptr(mem, &buf);
	/* Never over another key: its password is escrowed already. */
	rc = p11e_store_put(store, "key", name, buf->data, buf->length,
			    P11E_STORE_CREATE | P11E_STORE_DURABLE, err);
out:
	BIO_free(mem);
	X509_SIG_free(enc);
	X509_ALGOR_free(pbe);
	PKCS8_PRIV_KEY_INFO_free(p8); /* clears the key material */
	return rc;
}

p11e_rc p11e_soft_key_load(p11e_store *store, const char *name, const char *password,
			   EVP_PKEY **out, p11e_err *err)
{
	unsigned char *text = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509_SIG *enc = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	char where[400];
	p11e_rc rc;

	*out = NULL;
	p11e_store_describe(store, "key", name, where, sizeof(where));
	rc = p11e_store_get(store, "key", name, &text, &len, err);
	if (rc == P11E_NOT_FOUND)
		return p11e_errf(err, P11E_NOT_FOUND, "no key for '%.200s' (%s)", name, where);
	if (rc != P11E_OK)
		return rc;
	if (len > INT_MAX || (bio = BIO_new_mem_buf(text, (int)len)) == NULL ||
	    (enc = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();
		rc = p11e_errf(err, P11E_FAIL,
			       "key for '%.200s' (%s): not an encrypted PKCS#8 key", name, where);
		goto out;
	}
	if ((p8 = PKCS8_decrypt(enc, password, (int)strlen(password))) == NULL) {
		ERR_clear_error();
		rc = p11e_errf(err, P11E_PIN_INCORRECT,
			       "key file for '%.200s' in %s: the escrowed password does not open "
			       "it",
			       name, where);
		goto out;
	}
	if ((*out = EVP_PKCS82PKEY(p8)) == NULL)
		rc = p11e_errf_ssl(err, P11E_FAIL, "key file for '%.200s': unusable key", name);
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_SIG_free(enc);
	BIO_free(bio);
	free(text); /* encrypted: nothing to wipe */
	return rc;
}

p11e_rc p11e_soft_key_exists(p11e_store *store, const char *name, int *found, p11e_err *err)
{
	unsigned char *text = NULL;
	size_t len = 0;
	p11e_rc rc = p11e_store_get(store, "key", name, &text, &len, err);

	free(text);
	*found = rc == P11E_OK;
	return rc == P11E_NOT_FOUND ? P11E_OK : rc;
}

p11e_rc p11e_soft_key_remove(p11e_store *store, const char *name, p11e_err *err)
{
	p11e_rc rc = p11e_store_remove(store, "key", name, err);

	return rc == P11E_NOT_FOUND ? P11E_OK : rc;
}

static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* --- PFX: a document of the store, or a file the user named --- */

#define PFX_MAX (1 << 20)

/* The document name of a store-kept PFX (after "store:"), or NULL for a
 * file's path. */
static const char *pfx_doc(const char *pfx_path)
{
	size_t n = strlen(P11E_PFX_STORED);

	return strncmp(pfx_path, P11E_PFX_STORED, n) == 0 && pfx_path[n] != '\0' ? pfx_path + n
										 : NULL;
}

char *p11e_soft_pfx_default(const char *name)
{
	size_t len = strlen(P11E_PFX_STORED) + strlen(name) + 1;
	char *out = malloc(len);

	if (out != NULL)
		snprintf(out, len, "%s%s", P11E_PFX_STORED, name);
	return out;
}

int p11e_soft_pfx_stored(const char *pfx_path)
{
	return pfx_path != NULL && pfx_doc(pfx_path) != NULL;
}

p11e_rc p11e_soft_pfx_read(p11e_store *store, const char *pfx_path, char **data, size_t *len,
			   p11e_err *err)
{
	const char *doc = pfx_doc(pfx_path);

	*data = NULL;
	*len = 0;
	if (doc == NULL)
		return p11e_read_file(pfx_path, PFX_MAX, data, len, err);
	return p11e_store_get(store, "pfx", doc, (unsigned char **)data, len, err);
}

p11e_rc p11e_soft_pfx_exists(p11e_store *store, const char *pfx_path, int *found, p11e_err *err)
{
	const char *doc = pfx_doc(pfx_path);
	unsigned char *data = NULL;
	size_t len = 0;
	p11e_rc rc;

	*found = 0;
	if (doc == NULL) {
		*found = access(pfx_path, F_OK) == 0;
		return P11E_OK;
	}
	rc = p11e_store_get(store, "pfx", doc, &data, &len, err);
	free(data);
	*found = rc == P11E_OK;
	return rc == P11E_NOT_FOUND ? P11E_OK : rc;
}

p11e_rc p11e_soft_pfx_write_new(p11e_store *store, const char *pfx_path, const void *data,
				size_t len, p11e_err *err)
{
	const char *doc = pfx_doc(pfx_path);
	char *dir = NULL;
	p11e_rc rc = P11E_OK;

	if (doc != NULL)
		return p11e_store_put(store, "pfx", doc, data, len,
				      P11E_STORE_CREATE | P11E_STORE_DURABLE, err);
	/* The file the user named: its directory made 0700 if missing. */
	if ((dir = parent_of(pfx_path)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (strcmp(dir, "/") != 0)
		rc = p11e_mkdirs(dir, 0700, err);
	free(dir);
	if (rc == P11E_OK)
		rc = p11e_write_file_new(pfx_path, data, len, 0600, err);
	return rc;
}

p11e_rc p11e_soft_escrowed(const p11e_config *cfg, const char *identity, int *found, p11e_err *err)
{
	p11e_vault *v = NULL;
	char **names = NULL;
	size_t n = 0;
	p11e_rc rc;

	*found = 0;
	rc = p11e_vault_open(cfg, NULL, &v, err);
	if (rc == P11E_OK)
		rc = p11e_vault_list(v, &names, &n, err);
	for (size_t i = 0; i < n; i++) {
		*found |= strcmp(names[i], identity) == 0;
		free(names[i]);
	}
	free(names);
	p11e_vault_close(v);
	return rc;
}

p11e_rc p11e_soft_password_escrow(const p11e_config *cfg, const char *identity, size_t length,
				  const char *alphabet, char **out, p11e_err *err)
{
	p11e_vault *v = NULL;
	char *pw = NULL;
	p11e_rc rc;

	*out = NULL;
	rc = p11e_vault_open(cfg, NULL, &v, err);
	if (rc == P11E_OK)
		rc = p11e_password_generate(length, alphabet, &pw, err);
	if (rc == P11E_OK) {
		/* The certificate does not exist yet: its dates follow at store. */
		p11e_vault_meta meta;
		p11e_vault_meta_now(&meta);
		rc = p11e_vault_put_meta(v, identity, (const unsigned char *)pw, strlen(pw), &meta,
					 err);
	}
	p11e_vault_close(v);
	if (rc != P11E_OK) {
		p11e_secret_free(pw, (size_t)-1);
		return rc;
	}
	*out = pw;
	return P11E_OK;
}

p11e_rc p11e_soft_escrow_meta(const p11e_config *cfg, const char *identity, X509 *cert,
			      p11e_err *err)
{
	p11e_vault_meta meta = {.created = ""};
	p11e_vault *v = NULL;
	p11e_rc rc;

	if (p11e_asn1_time_iso(X509_get0_notAfter(cert), meta.not_after, sizeof(meta.not_after)) !=
		0 ||
	    p11e_x509_sha256_hex(cert, meta.cert_sha256) != 0)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: the certificate's dates cannot be read", identity);
	rc = p11e_vault_open(cfg, NULL, &v, err);
	if (rc == P11E_OK)
		rc = p11e_vault_set_meta(v, identity, &meta, err);
	p11e_vault_close(v);
	return rc;
}

p11e_rc p11e_soft_password_fetch(const p11e_config *cfg, const p11e_vault_open_params *vp,
				 const char *identity, char **out, p11e_err *err)
{
	p11e_vault *v = NULL;
	unsigned char *secret = NULL;
	size_t len = 0;
	p11e_err audit_err;
	p11e_rc rc;

	*out = NULL;
	rc = p11e_vault_open(cfg, vp, &v, err);
	if (rc == P11E_OK)
		rc = p11e_vault_get(v, identity, &secret, &len, err);
	p11e_vault_close(v);
	/* Audited like `escrow show`: no line in the audit log, no password. */
	if (p11e_audit(cfg, "escrow-fetch", identity, rc, err, &audit_err) != P11E_OK &&
	    rc == P11E_OK) {
		p11e_secret_free((char *)secret, len);
		return p11e_errf(err, audit_err.rc, "%s", audit_err.msg);
	}
	if (rc != P11E_OK)
		return rc;
	/* What we escrow is printable ASCII; anything else is not ours. */
	for (size_t i = 0; i < len; i++)
		if (secret[i] <= 0x20 || secret[i] >= 0x7f)
			rc = P11E_FAIL;
	if (len == 0 || rc != P11E_OK) {
		p11e_secret_free((char *)secret, len);
		return p11e_errf(err, P11E_FAIL,
				 "vault: the secret escrowed for '%.200s' is not a PFX password "
				 "p11enroll made",
				 identity);
	}
	*out = (char *)secret;
	return P11E_OK;
}
