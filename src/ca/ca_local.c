/* The embedded CA: a key and certificate in a directory, issuing at once.
 *
 *   DIR/ca.key       PKCS#8 PEM, 0600
 *   DIR/ca.pem       self-signed CA certificate
 *   DIR/index.jsonl  one JSON line per certificate issued here: this
 *                    directory's log of the store's index
 *   DIR/issued/K.pem the certificate issued for request key K by p11enroll
 *                    before the index went into the store (still read)
 *
 * Its index, the certificate for each request and its CRL number are in the
 * store (ca_local_store.c), under the store's lock "ca" for the whole of a
 * submission; with the file store, inside DIR.
 *
 * The profile, not the CSR, decides key usage, extended key usage, validity
 * and which SANs survive. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "p11enroll/ca.h"
#include "p11enroll/pem.h"
#include "p11enroll/util.h"
#include "ca/ca_local.h"

#define FILE_MAX (1024 * 1024)

/* --- files --- */

static p11e_rc load_cert(const char *path, X509 **out, p11e_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	p11e_rc rc = p11e_read_file(path, FILE_MAX, &pem, &len, err);

	*out = NULL;
	if (rc != P11E_OK)
		return rc;
	if ((*out = p11e_x509_from_pem(pem)) == NULL)
		rc = p11e_errf_ssl(err, P11E_FAIL, "%s: not a PEM certificate", path);
	free(pem);
	return rc;
}

static p11e_rc load_key(const char *path, EVP_PKEY **out, p11e_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	p11e_rc rc = p11e_read_file(path, FILE_MAX, &pem, &len, err);

	*out = NULL;
	if (rc != P11E_OK)
		return rc;
	/* No callback and an empty passphrase: an encrypted key fails instead
	 * of prompting on the terminal (ca init writes it unencrypted, 0600). */
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (*out = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"")) == NULL)
		rc = p11e_errf_ssl(err, P11E_FAIL, "%s: not an unencrypted PEM private key", path);
	BIO_free(bio);
	p11e_secret_free(pem, len);
	return rc;
}

/* Request keys and IDs become file names: allow only what a hex digest (or
 * a sane handle) can contain. */
static int safe_name(const char *s)
{
	size_t n = 0;

	if (s == NULL || s[0] == '\0' || s[0] == '.')
		return 0;
	for (; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '-' && s[n] != '_' && s[n] != '.')
			return 0;
	return n < 100;
}

static char *issued_path(const p11e_ca_local *ca, const char *key)
{
	char name[128];

	snprintf(name, sizeof(name), "issued/%s.pem", key);
	return p11e_path_join(ca->dir, name);
}

/* --- answers --- */

static p11e_rc answer_issued(const p11e_ca_local *ca, X509 *cert, const char *request_id,
			     p11e_ca_result *out, p11e_err *err)
{
	memset(out, 0, sizeof(*out));
	if ((out->chain = sk_X509_new_null()) == NULL || X509_up_ref(ca->cert) != 1)
		goto fail;
	if (!sk_X509_push(out->chain, ca->cert)) {
		X509_free(ca->cert);
		goto fail;
	}
	out->state = P11E_CA_STATE_ISSUED;
	out->cert = cert;
	snprintf(out->request_id, sizeof(out->request_id), "%s", request_id);
	return P11E_OK;
fail:
	X509_free(cert);
	p11e_ca_result_clear(out);
	return p11e_errf(err, P11E_FAIL, "out of memory");
}

static p11e_rc reject(p11e_ca_result *out, const char *request_key, const char *reason)
{
	memset(out, 0, sizeof(*out));
	out->state = P11E_CA_STATE_REJECTED;
	snprintf(out->request_id, sizeof(out->request_id), "%s", request_key);
	snprintf(out->reason, sizeof(out->reason), "%s", reason);
	return P11E_OK;
}

/* --- the ops --- */

static void local_close(void *state);

/* crl_url goes into each certificate's CRL distribution point through
 * OpenSSL's "URI:..." syntax, where a comma would start a second name: only
 * http(s) and ldap URLs of printable ASCII without commas or blanks. */
static p11e_rc read_crl_url(const struct json_object *conf, char **out, p11e_err *err)
{
	struct json_object *ju = NULL;
	const char *url;

	*out = NULL;
	if (!json_object_object_get_ex(conf, "crl_url", &ju))
		return P11E_OK;
	url = json_object_is_type(ju, json_type_string) ? json_object_get_string(ju) : "";
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "ldap://", 7) != 0)
		return p11e_errf(err, P11E_CONFIG,
				 "ca: crl_url must be an http://, https:// or ldap:// URL");
	for (const char *c = url; *c; c++)
		if (*c <= ' ' || *c > '~' || *c == ',')
			return p11e_errf(err, P11E_CONFIG,
					 "ca: crl_url: no blanks, commas or control characters");
	if (strlen(url) > 1024 || (*out = strdup(url)) == NULL)
		return p11e_errf(err, P11E_CONFIG, "ca: crl_url is too long (at most 1024)");
	return P11E_OK;
}

/* store: the config's store open in this process (p11e_ca_open_in), else
 * NULL and the CA opens its own. */
static p11e_rc local_open_in(const struct json_object *conf, p11e_store *store, void **state,
			     p11e_err *err)
{
	struct json_object *jd = NULL, *js = NULL;
	const char *dir = NULL;
	char *key_path = NULL, *cert_path = NULL;
	p11e_ca_local *ca = NULL;
	p11e_rc rc;

	*state = NULL;
	if (json_object_object_get_ex(conf, "dir", &jd) &&
	    json_object_is_type(jd, json_type_string))
		dir = json_object_get_string(jd);
	if (dir == NULL || dir[0] == '\0')
		return p11e_errf(
		    err, P11E_CONFIG,
		    "ca: a local CA needs \"dir\": the directory of `p11enroll ca init`");
	if ((ca = calloc(1, sizeof(*ca))) == NULL || (ca->dir = strdup(dir)) == NULL ||
	    (key_path = p11e_path_join(dir, "ca.key")) == NULL ||
	    (cert_path = p11e_path_join(dir, "ca.pem")) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if ((rc = read_crl_url(conf, &ca->crl_url, err)) != P11E_OK)
		goto out;
	rc = load_cert(cert_path, &ca->cert, err);
	if (rc == P11E_NOT_FOUND)
		rc =
		    p11e_errf(err, P11E_NOT_FOUND,
			      "local CA in %s: ca.pem is missing; run `p11enroll ca init --dir %s`",
			      dir, dir);
	if (rc != P11E_OK)
		goto out;
	rc = load_key(key_path, &ca->key, err);
	if (rc == P11E_NOT_FOUND)
		rc = p11e_ca_local_token_key_open(dir, conf, &ca->session, &ca->key, err);
	if (rc == P11E_NOT_FOUND)
		rc =
		    p11e_errf(err, P11E_NOT_FOUND,
			      "local CA in %s: ca.key is missing; run `p11enroll ca init --dir %s`",
			      dir, dir);
	if (rc != P11E_OK)
		goto out;
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		rc = p11e_errf_ssl(err, P11E_CONFIG,
				   "local CA in %s: ca.key does not belong to ca.pem; restore the "
				   "pair from backup",
				   dir);
		goto out;
	}
	/* "_store": the config's store (p11e_config_ca); none: files in dir. */
	if (!json_object_object_get_ex(conf, "_store", &js))
		js = NULL;
	if ((rc = p11e_ca_local_id(ca->cert, ca->id, err)) != P11E_OK)
		goto out;
	rc = store != NULL ? p11e_store_open_home_in(store, dir, &ca->store, err)
			   : p11e_store_open_home(js, dir, &ca->store, err);
	if (rc != P11E_OK)
		goto out;
	*state = ca;
	ca = NULL;
out:
	local_close(ca);
	free(key_path);
	free(cert_path);
	return rc;
}

static p11e_rc local_open(const struct json_object *conf, void **state, p11e_err *err)
{
	return local_open_in(conf, NULL, state, err);
}

/* Issued by p11enroll before the index went into the store: DIR/issued/K.pem,
 * and its index line if a crash came between the two writes. *cert NULL
 * when there is no such file. */
static p11e_rc legacy_issued(const p11e_ca_local *ca, const char *request_key,
			     const p11e_profile *profile, X509 **cert, p11e_err *err)
{
	char *path = issued_path(ca, request_key);
	struct stat st;
	int found = 0;
	p11e_rc rc = P11E_OK;

	*cert = NULL;
	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (stat(path, &st) == 0 && ((rc = load_cert(path, cert, err)) != P11E_OK ||
				     (rc = p11e_ca_local_index_has(ca, request_key, &found,
								   err)) != P11E_OK))
		goto out;
	if (*cert != NULL && !found)
		rc = p11e_ca_local_index_append(ca, *cert, profile, request_key, st.st_mtime, 1,
						err);
out:
	free(path);
	return rc;
}

/* Issued for this request before (from any station of the store): the
 * index entries a crash may have kept from being written, put back. */
static p11e_rc repair_index(const p11e_ca_local *ca, X509 *cert, const p11e_profile *profile,
			    const char *request_key, p11e_err *err)
{
	char serial[65];
	int taken = 0, found = 0, in_store = 0;
	p11e_rc rc;

	if ((rc = p11e_cert_serial("serial", cert, serial, sizeof(serial), err)) != P11E_OK ||
	    (rc = p11e_ca_local_serial_taken(ca, serial, &taken, err)) != P11E_OK ||
	    (rc = p11e_ca_local_index_has(ca, request_key, &found, err)) != P11E_OK)
		return rc;
	/* The ca-cert entry is not durable (ca_local_store.c): put back alone
	 * when index.jsonl has the line, so the log never holds one twice. */
	if (!taken)
		in_store = found ? P11E_CA_INDEX_STORE_ONLY : 1;
	if (!taken || !found)
		rc = p11e_ca_local_index_append(ca, cert, profile, request_key, time(NULL),
						in_store, err);
	return rc;
}

#ifdef P11ENROLL_TEST_HOOKS
/* Test builds: P11ENROLL_TEST_CA_SERIAL=HEX is the first serial drawn, so a
 * test can make a draw collide with a serial already issued. */
static void test_serial(const p11e_ca_local *ca, const p11e_profile *profile, X509 *cert,
			int attempt)
{
	const char *hex = getenv("P11ENROLL_TEST_CA_SERIAL");
	BIGNUM *bn = NULL;
	p11e_err ignored;

	if (hex != NULL && attempt == 0 && BN_hex2bn(&bn, hex) > 0 &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL)
		(void)p11e_ca_local_sign(cert, ca->key, profile->digest, &ignored);
	BN_free(bn);
}
#endif

/* A new certificate whose serial the store's index has never seen: random
 * serials (p11e_ca_local_set_serial), each checked under the CA's lock, so
 * that none is issued twice across the stations of one store. *cert NULL
 * and reason set for a request the CA refuses. */
static p11e_rc issue_unique(const p11e_ca_local *ca, X509_REQ *csr, const p11e_profile *profile,
			    X509 **cert, char *serial, char *reason, size_t reason_len,
			    p11e_err *err)
{
	p11e_rc rc;

	for (int attempt = 0; attempt < 8; attempt++) {
		int taken = 0;

		if ((rc = p11e_ca_local_issue(ca, csr, profile, cert, reason, reason_len, err)) !=
			P11E_OK ||
		    *cert == NULL)
			return rc;
#ifdef P11ENROLL_TEST_HOOKS
		test_serial(ca, profile, *cert, attempt);
#endif
		if ((rc = p11e_cert_serial("serial", *cert, serial, 65, err)) != P11E_OK ||
		    (rc = p11e_ca_local_serial_taken(ca, serial, &taken, err)) != P11E_OK ||
		    !taken)
			return rc;
		X509_free(*cert);
		*cert = NULL;
	}
	return p11e_errf(err, P11E_FAIL,
			 "local CA in %s: 8 random serials in a row were taken; is the random "
			 "number generator broken?",
			 ca->dir);
}

static p11e_rc local_submit(void *state, X509_REQ *csr, const p11e_profile *profile,
			    const char *request_key, p11e_ca_result *out, p11e_err *err)
{
	p11e_ca_local *ca = state;
	char reason[sizeof(out->reason)] = "", serial[65];
	X509 *cert = NULL;
	time_t issued_at = time(NULL);
	p11e_lock lock = P11E_LOCK_INIT;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if (!safe_name(request_key))
		return p11e_errf(err, P11E_USAGE,
				 "request_key: '%.80s' is not a hex digest; rebuild the CSR",
				 request_key ? request_key : "");
	/* Held from the existence check to the index entries, so two runs for
	 * one request never both issue, nor two certificates one serial. */
	if ((rc = p11e_ca_local_lock(ca, &lock, err)) != P11E_OK)
		goto out;
	if ((rc = legacy_issued(ca, request_key, profile, &cert, err)) != P11E_OK)
		goto out;
	if (cert == NULL && (rc = p11e_ca_local_request_get(ca, request_key, &cert, err)) == P11E_OK &&
	    cert != NULL)
		rc = repair_index(ca, cert, profile, request_key, err);
	if (rc != P11E_OK)
		goto out;
	if (cert == NULL) {
		if ((rc = issue_unique(ca, csr, profile, &cert, serial, reason, sizeof(reason),
				       err)) != P11E_OK)
			goto out;
		if (cert == NULL) {
			rc = reject(out, request_key, reason);
			goto out;
		}
		/* The request's document first: a crash before the index entry
		 * is repaired by the next submission of this request. */
		if ((rc = p11e_ca_local_request_put(ca, request_key, cert, serial, issued_at,
						    err)) != P11E_OK ||
		    (rc = p11e_ca_local_index_append(ca, cert, profile, request_key, issued_at, 1,
						     err)) != P11E_OK)
			goto out;
	}
	rc = answer_issued(ca, cert, request_key, out, err);
	cert = NULL;
out:
	p11e_lock_release(&lock);
	X509_free(cert);
	return rc;
}

static p11e_rc local_poll(void *state, const char *request_id, const p11e_profile *profile,
			  p11e_ca_result *out, p11e_err *err)
{
	p11e_ca_local *ca = state;
	char *path = NULL;
	X509 *cert = NULL;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if (!safe_name(request_id))
		return p11e_errf(err, P11E_USAGE, "request_id: '%.80s' is not one of this CA's",
				 request_id ? request_id : "");
	if ((path = issued_path(ca, request_id)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_ca_local_request_get(ca, request_id, &cert, err);
	if (rc == P11E_OK && cert == NULL)
		rc = load_cert(path, &cert, err);
	if (rc == P11E_NOT_FOUND)
		rc =
		    p11e_errf(err, P11E_NOT_FOUND,
			      "local CA in %s: no certificate for request %s; submit the CSR again",
			      ca->dir, request_id);
	if (rc == P11E_OK)
		rc = answer_issued(ca, cert, request_id, out, err);
	free(path);
	return rc;
}

static p11e_rc local_chain(void *state, STACK_OF(X509) * *out, p11e_err *err)
{
	p11e_ca_local *ca = state;

	*out = sk_X509_new_null();
	if (*out == NULL || X509_up_ref(ca->cert) != 1)
		goto fail;
	if (!sk_X509_push(*out, ca->cert)) {
		X509_free(ca->cert);
		goto fail;
	}
	return P11E_OK;
fail:
	sk_X509_pop_free(*out, X509_free);
	*out = NULL;
	return p11e_errf(err, P11E_FAIL, "out of memory");
}

static void local_close(void *state)
{
	p11e_ca_local *ca = state;

	if (ca == NULL)
		return;
	X509_free(ca->cert);
	/* The key may sign on the token: free it before the session. */
	EVP_PKEY_free(ca->key);
	p11e_ca_local_token_key_close(ca->session);
	p11e_store_close(ca->store);
	free(ca->dir);
	free(ca->crl_url);
	free(ca);
}

/* module and pin_source: how this station reaches a CA key on a token
 * (ca_local_token.c). */
static const char *const local_config_keys[] = {"type",	      "dir",	 "module",
						"pin_source", "crl_url", NULL};

const p11e_ca_ops p11e_ca_local_ops = {
    .type = "local",
    .open = local_open,
    .open_in = local_open_in,
    .submit = local_submit,
    .poll = local_poll,
    .chain = local_chain,
    .close = local_close,
    .config_keys = local_config_keys,
    .revoke = p11e_ca_local_revoke,
    .crl = p11e_ca_local_crl,
    .unhold = p11e_ca_local_unhold,
};
