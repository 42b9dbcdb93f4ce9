/* The file vault's reading officer: a private key from a PEM/DER file
 * (its passphrase from a secret source, asked only when the file is
 * encrypted) or on a token by pkcs11: URI, whose private operations run
 * there through libp11. The key must match one of the officer
 * certificates: nobody else's key opens an entry. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "p11enroll/secret.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"
#include "vault/vault_file.h"

#define KEY_FILE_MAX (1 << 20)

void vault_file_subject(X509 *cert, char *out, size_t len)
{
	X509_NAME_oneline(X509_get_subject_name(cert), out, (int)len);
}

typedef struct pass_ctx {
	const char *source;
	const char *path;
	int asked;
	p11e_rc rc;
	p11e_err *err;
} pass_ctx;

/* OpenSSL asks only for an encrypted key. */
static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	pass_ctx *c = u;
	char *pass = NULL;
	char what[160];
	size_t len;

	(void)rwflag;
	c->asked = 1;
	snprintf(what, sizeof(what), "passphrase of officer key %.120s", c->path);
	c->rc = p11e_secret_read(c->source ? c->source : "prompt", what, &pass, c->err);
	if (c->rc != P11E_OK)
		return -1;
	len = strlen(pass);
	if (len > (size_t)size)
		len = (size_t)size;
	memcpy(buf, pass, len);
	p11e_secret_free(pass, (size_t)-1);
	return (int)len;
}

static p11e_rc load_key_file(file_vault *v, const char *path, const char *pin_source, p11e_err *err)
{
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	pass_ctx pc = {.source = pin_source, .path = path, .rc = P11E_OK, .err = err};
	p11e_rc rc;

	rc = p11e_read_file(path, KEY_FILE_MAX, &data, &len, err);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_USAGE, "officer key %s: cannot read: %s", path,
				 rc == P11E_NOT_FOUND ? "no such file" : strerror(errno));
	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	v->key = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &pc);
	if (v->key == NULL && pc.rc == P11E_OK && !pc.asked) {
		/* Not PEM: DER PKCS#8 (maybe encrypted), then traditional DER. */
		BIO_free(bio);
		bio = BIO_new_mem_buf(data, (int)len);
		if (bio != NULL)
			v->key = d2i_PKCS8PrivateKey_bio(bio, NULL, pass_cb, &pc);
		if (v->key == NULL && bio != NULL && pc.rc == P11E_OK && !pc.asked) {
			BIO_free(bio);
			bio = BIO_new_mem_buf(data, (int)len);
			if (bio != NULL)
				v->key = d2i_PrivateKey_bio(bio, NULL);
		}
	}
	if (v->key == NULL) {
		if (pc.rc != P11E_OK)
			rc = pc.rc; /* the passphrase source failed; err says how */
		else if (pc.asked)
			rc = p11e_errf(err, P11E_PIN_INCORRECT,
				       "officer key %s: cannot decrypt it: wrong passphrase", path);
		else
			rc = p11e_errf(err, P11E_USAGE,
				       "officer key %s: not a private key (PEM or DER)", path);
	}
	ERR_clear_error();
out:
	BIO_free(bio);
	p11e_secret_free(data, len);
	return rc;
}

/* The officer certificate whose public key is pub. */
static p11e_rc match_officer(file_vault *v, EVP_PKEY *pub, const char *what, p11e_err *err)
{
	for (int i = 0; i < sk_X509_num(v->officers); i++) {
		X509 *cert = sk_X509_value(v->officers, i);
		if (EVP_PKEY_eq(X509_get0_pubkey(cert), pub) == 1) {
			v->key_cert = cert;
			vault_file_subject(cert, v->key_subject, sizeof(v->key_subject));
			return P11E_OK;
		}
	}
	ERR_clear_error();
	return p11e_errf(err, P11E_USAGE,
			 "officer key %.200s is not an escrow officer's: it matches none of the %d "
			 "certificates in %s",
			 what, sk_X509_num(v->officers), v->certs_path);
}

static p11e_rc load_key_token(file_vault *v, const p11e_config *cfg,
			      const p11e_vault_open_params *p, p11e_err *err)
{
	p11e_config tcfg = *cfg;
	p11e_session_params sp = {.uri = p->officer_key,
				  .module = p->module,
				  .pin_source = p->officer_pin_source,
				  .login = 1};
	EVP_PKEY *pub = NULL;
	X509 *cert = NULL;
	p11e_id id = {0};
	p11e_rc rc;

	/* The config's pin_source is the enrolling tokens' PIN: never try it
	 * on the officer's token (a wrong PIN costs a try). */
	tcfg.pin_source = NULL;
	if ((v->session = calloc(1, sizeof(*v->session))) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_session_open(&tcfg, &sp, v->session, err);
	if (rc != P11E_OK) {
		free(v->session);
		v->session = NULL;
		return rc;
	}
	if (v->session->uri.has_id) {
		memcpy(id.v, v->session->uri.id, v->session->uri.id_len);
		id.len = v->session->uri.id_len;
	} else if (v->session->uri.object != NULL) {
		rc =
		    p11e_token_key_id_by_label(v->session->token, v->session->uri.object, &id, err);
		if (rc != P11E_OK)
			return rc;
	} else {
		return p11e_errf(err, P11E_USAGE,
				 "officer key %.200s: the URI must name the key (id= or object=)",
				 p->officer_key);
	}
	/* Which officer: by the public key object, else the certificate beside it. */
	rc = p11e_token_public_key(v->session->token, &id, &pub, err);
	if (rc == P11E_NOT_FOUND) {
		rc = p11e_token_find_cert(v->session->token, &id, &cert, err);
		if (rc == P11E_OK && (pub = X509_get_pubkey(cert)) == NULL)
			rc = p11e_errf_ssl(err, P11E_FAIL, "officer key: unreadable certificate");
		X509_free(cert);
		if (rc == P11E_NOT_FOUND)
			rc = p11e_errf(err, P11E_NOT_FOUND,
				       "officer key %.200s: no key (public key or certificate) "
				       "under that id on the token",
				       p->officer_key);
	}
	if (rc == P11E_OK)
		rc = match_officer(v, pub, p->officer_key, err);
	EVP_PKEY_free(pub);
	if (rc == P11E_OK)
		rc = p11e_token_signing_key(v->session->token, &id, &v->key, err);
	return rc;
}

p11e_rc vault_file_load_key(file_vault *v, const p11e_config *cfg, const p11e_vault_open_params *p,
			    p11e_err *err)
{
	const char *path = p->officer_key;
	p11e_rc rc;

	if (strncmp(path, "pkcs11:", 7) == 0)
		return load_key_token(v, cfg, p, err);
	if (strncmp(path, "file:", 5) == 0)
		path += 5;
	rc = load_key_file(v, path, p->officer_pin_source, err);
	if (rc == P11E_OK)
		rc = match_officer(v, v->key, path, err);
	return rc;
}
