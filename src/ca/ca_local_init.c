/* `p11enroll ca init`: the embedded CA's key, self-signed certificate, index
 * and issued/ directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "p11enroll/ca.h"
#include "p11enroll/software.h"
#include "p11enroll/token.h"
#include "p11enroll/util.h"
#include "ca/ca_local.h"
#include "x509/x509_internal.h"

static p11e_rc refuse_existing(const char *dir, const char *path, const char *what, p11e_err *err)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return p11e_errf(
		    err, P11E_EXISTS,
		    "local CA in %s: %s already exists; choose another --dir (we never "
		    "overwrite a CA)",
		    dir, what);
	if (errno != ENOENT)
		return p11e_errf(err, P11E_FAIL, "local CA in %s: cannot check %s: %s", dir, what,
				 strerror(errno));
	return P11E_OK;
}

/* The CA signs with a digest as strong as its key. */
static const char *digest_for(const p11e_keytype *kt)
{
	if (kt->kind == P11E_KEY_EC && kt->curve_nid == NID_secp384r1)
		return "sha384";
	if (kt->kind == P11E_KEY_EC && kt->curve_nid == NID_secp521r1)
		return "sha512";
	return "sha256";
}

static p11e_rc self_signed(EVP_PKEY *key, const p11e_keytype *kt, const char *subject, int days,
			   X509 **out, p11e_err *err)
{
	X509_NAME *name = NULL;
	X509 *cert = NULL;
	p11e_rc rc;

	*out = NULL;
	if ((name = X509_NAME_new()) == NULL || (cert = X509_new()) == NULL) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if ((rc = p11e_x509_name_add_slash(name, subject, "subject", err)) != P11E_OK)
		goto out;
	if (X509_NAME_entry_count(name) == 0) {
		rc = p11e_errf(err, P11E_USAGE, "subject: empty; give one like /CN=Example CA");
		goto out;
	}
	if ((rc = p11e_ca_local_set_serial(cert, err)) != P11E_OK)
		goto out;
	/* notBefore a little in the past, so clocks that lag a few minutes
	 * accept a CA made just now. */
	if (X509_set_version(cert, 2) != 1 || X509_set_subject_name(cert, name) != 1 ||
	    X509_set_issuer_name(cert, name) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) == NULL ||
	    X509_set_pubkey(cert, key) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot build the CA certificate");
		goto out;
	}
	if ((rc = p11e_ca_local_add_ext(cert, NULL, NID_basic_constraints, "critical,CA:TRUE",
					err)) != P11E_OK ||
	    (rc = p11e_ca_local_add_ext(cert, NULL, NID_key_usage,
					"critical,keyCertSign,cRLSign,digitalSignature", err)) !=
		P11E_OK ||
	    (rc = p11e_ca_local_add_ext(cert, NULL, NID_subject_key_identifier, "hash", err)) !=
		P11E_OK ||
	    (rc = p11e_ca_local_add_ext(cert, NULL, NID_authority_key_identifier, "keyid:always",
					err)) != P11E_OK)
		goto out;
	if ((rc = p11e_ca_local_sign(cert, key, digest_for(kt), err)) != P11E_OK)
		goto out;
	*out = cert;
	cert = NULL;
out:
	X509_free(cert);
	X509_NAME_free(name);
	return rc;
}

/* The key as PKCS#8 PEM in a secure-memory BIO (cleared on free). */
static p11e_rc write_key(const char *path, EVP_PKEY *key, p11e_err *err)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data = NULL;
	long len;
	p11e_rc rc;

	if (bio == NULL || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the CA key");
		goto out;
	}
	rc = p11e_write_file_atomic(path, data, (size_t)len, 0600, err);
out:
	BIO_free(bio);
	return rc;
}

static p11e_rc write_cert(const char *path, X509 *cert, p11e_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len;
	p11e_rc rc;

	if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the CA certificate");
		goto out;
	}
	rc = p11e_write_file_atomic(path, data, (size_t)len, 0644, err);
out:
	BIO_free(bio);
	return rc;
}

/* Creates an empty index unless one survives from an earlier CA in this
 * directory: an issuance log is never truncated. */
static p11e_rc touch_index(const char *path, p11e_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return p11e_errf(err, P11E_FAIL, "cannot create %s: %s", path, strerror(errno));
	if (fsync(fd) != 0) {
		close(fd);
		return p11e_errf(err, P11E_FAIL, "cannot sync %s: %s", path, strerror(errno));
	}
	close(fd);
	return P11E_OK;
}

p11e_rc p11e_ca_local_init(const p11e_ca_local_init_params *p, p11e_err *err)
{
	const char *subject, *key_type;
	char *key_path = NULL, *cert_path = NULL, *issued = NULL, *index = NULL;
	EVP_PKEY *key = NULL;
	struct p11e_session *session = NULL;
	X509 *cert = NULL;
	p11e_keytype kt;
	int days;
	p11e_rc rc;

	if (p == NULL || p->dir == NULL || p->dir[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "dir: the CA directory is required (--dir DIR)");
	subject = p->subject != NULL ? p->subject : "/CN=p11enroll local CA";
	key_type = p->key_type != NULL ? p->key_type : "ec:P-256";
	days = p->validity_days != 0 ? p->validity_days : 3650;
	if (days < 1 || days > 36500)
		return p11e_errf(err, P11E_USAGE, "days: %d is not 1 to 36500", days);
	if ((rc = p11e_keytype_parse(key_type, &kt, err)) != P11E_OK)
		return rc;

	key_path = p11e_path_join(p->dir, "ca.key");
	cert_path = p11e_path_join(p->dir, "ca.pem");
	issued = p11e_path_join(p->dir, "issued");
	index = p11e_path_join(p->dir, "index.jsonl");
	if (key_path == NULL || cert_path == NULL || issued == NULL || index == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if ((rc = p11e_mkdirs(p->dir, 0700, err)) != P11E_OK ||
	    (rc = refuse_existing(p->dir, cert_path, "ca.pem", err)) != P11E_OK ||
	    (rc = refuse_existing(p->dir, key_path, "ca.key", err)) != P11E_OK)
		goto out;
	if (p->key_uri != NULL) {
		char *token_key = p11e_path_join(p->dir, "ca-key.json");
		rc = token_key ? refuse_existing(p->dir, token_key, "ca-key.json", err)
			       : p11e_errf(err, P11E_FAIL, "out of memory");
		free(token_key);
		/* The key is made on the token and never leaves it; ca-key.json
		 * (written here) says where it is. */
		if (rc == P11E_OK)
			rc = p11e_ca_local_token_key_new(p->dir, p->key_uri, p->module,
							 p->pin_source, &kt, &session, &key, err);
	} else {
		rc = p11e_soft_keygen(&kt, &key, err); /* the same as a software identity's */
	}
	if (rc != P11E_OK || (rc = self_signed(key, &kt, subject, days, &cert, err)) != P11E_OK)
		goto out;
	/* ca.pem last: a certificate on disk always has its key beside it. */
	if ((rc = p11e_mkdirs(issued, 0700, err)) != P11E_OK ||
	    (rc = touch_index(index, err)) != P11E_OK ||
	    (session == NULL && (rc = write_key(key_path, key, err)) != P11E_OK) ||
	    (rc = write_cert(cert_path, cert, err)) != P11E_OK)
		goto out;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	p11e_ca_local_token_key_close(session);
	free(key_path);
	free(cert_path);
	free(issued);
	free(index);
	return rc;
}
