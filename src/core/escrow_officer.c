/* `p11enroll escrow officer-init` (include/p11enroll/officer.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include "ca/ca_local.h"
#include "core/pipeline_steps.h"
#include "x509/x509_internal.h"
#include "p11enroll/audit.h"
#include "p11enroll/ca.h"
#include "p11enroll/csr.h"
#include "p11enroll/lock.h"
#include "p11enroll/officer.h"
#include "p11enroll/pem.h"
#include "p11enroll/session.h"
#include "p11enroll/software.h"
#include "p11enroll/uri.h"
#include "p11enroll/util.h"
#include "p11enroll/validate.h"
#include "p11enroll/vault.h"

#define KEY_FILE_MAX (1 << 20)
#define CERTS_MAX (4 << 20)
#define DEFAULT_LABEL "p11enroll escrow officer"

/* The officer's key: key signs (the certificate or its CSR), in memory or
 * on the token through libp11; pub is its public half. */
typedef struct officer_key {
	EVP_PKEY *key;
	EVP_PKEY *pub;
	p11e_session *session;
} officer_key;

static void officer_key_free(officer_key *k)
{
	/* A token key lives in the module: freed before the session. */
	EVP_PKEY_free(k->key);
	EVP_PKEY_free(k->pub);
	if (k->session != NULL) {
		p11e_session_close(k->session);
		free(k->session);
	}
}

/* The file vault's officer_certs_file (resolved at load), or NULL. */
static const char *config_certs_file(const p11e_config *cfg)
{
	json_object *v, *t, *f;

	if (cfg->root != NULL && json_object_object_get_ex(cfg->root, "vault", &v) &&
	    json_object_object_get_ex(v, "type", &t) && json_object_is_type(t, json_type_string) &&
	    strcmp(json_object_get_string(t), "file") == 0 &&
	    json_object_object_get_ex(v, "officer_certs_file", &f) &&
	    json_object_is_type(f, json_type_string))
		return json_object_get_string(f);
	return NULL;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* --key-file: the key there (a rerun after a crash), else a new one written
 * 0600, never over anything. */
static p11e_rc key_file(const char *path, const p11e_keytype *kt, officer_key *k, p11e_err *err)
{
	char *data = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	p11e_rc rc = p11e_read_file(path, KEY_FILE_MAX, &data, &len, err);

	if (rc == P11E_OK) {
		if (len <= INT32_MAX && (bio = BIO_new_mem_buf(data, (int)len)) != NULL)
			k->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
		p11e_secret_free(data, len);
		ERR_clear_error();
		if (k->key == NULL)
			return p11e_errf(
			    err, P11E_EXISTS,
			    "key-file: %s exists and is not an unencrypted PEM private "
			    "key; give a new path",
			    path);
		goto pub;
	}
	if (rc != P11E_NOT_FOUND)
		return rc;
	if ((rc = p11e_soft_keygen(kt, &k->key, err)) != P11E_OK)
		return rc;
	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, k->key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = (size_t)BIO_get_mem_data(bio, &data)) == 0) {
		BIO_free(bio);
		return p11e_errf_ssl(err, P11E_FAIL, "cannot encode the officer key");
	}
	rc = p11e_write_file_new(path, data, len, 0600, err);
	BIO_free(bio); /* secure memory: cleared */
	if (rc != P11E_OK)
		return rc;
pub:
	if (!EVP_PKEY_up_ref(k->key))
		return p11e_errf(err, P11E_FAIL, "out of memory");
	k->pub = k->key;
	return P11E_OK;
}

/* --key-uri: the key the URI names (id=, or object= else the default
 * label), else a new key pair made on the token under that label: it can
 * decrypt (RSA) or derive (EC), and sign, for its certificate or CSR, as
 * enroll's keys do. *uri: the key's full URI, for --officer-key. */
static p11e_rc key_on_token(const p11e_config *cfg, const p11e_officer_init_params *p,
			    const p11e_keytype *kt, officer_key *k, char *uri, size_t cap,
			    p11e_err *err)
{
	/* The config's pin_source is the enrolling tokens' PIN: never tried on
	 * the officer's token (a wrong PIN costs a try). */
	p11e_config tcfg = *cfg;
	p11e_session_params sp = {
	    .uri = p->key_uri, .module = p->module, .pin_source = p->pin_source, .login = 1};
	const p11e_token_info *info;
	const char *label;
	p11e_id id = {0};
	size_t existing = 0;
	char *full = NULL;
	p11e_rc rc;

	tcfg.pin_source = NULL;
	if ((k->session = calloc(1, sizeof(*k->session))) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((rc = p11e_session_open(&tcfg, &sp, k->session, err)) != P11E_OK) {
		free(k->session);
		k->session = NULL;
		return rc;
	}
	label = k->session->uri.object ? k->session->uri.object : DEFAULT_LABEL;
	if (k->session->uri.has_id) {
		memcpy(id.v, k->session->uri.id, k->session->uri.id_len);
		id.len = k->session->uri.id_len;
		rc = p11e_token_count(k->session->token, 3 /* CKO_PRIVATE_KEY */, &id, &existing,
				      err);
	} else {
		rc = p11e_token_key_id_by_label(k->session->token, label, &id, err);
		existing = rc == P11E_OK;
		if (rc == P11E_NOT_FOUND) {
			id.len = 20;
			rc = RAND_bytes(id.v, (int)id.len) == 1
				 ? P11E_OK
				 : p11e_errf_ssl(err, P11E_FAIL, "cannot draw a random key ID");
		}
	}
	if (rc == P11E_OK && existing == 0) {
		rc = p11e_token_check_keytype(k->session->token, kt, err);
		if (rc == P11E_OK)
			rc = p11e_token_generate_keypair(
			    k->session->token, kt, &id, label,
			    P11E_USE_SIGN |
				(kt->kind == P11E_KEY_RSA ? P11E_USE_DECRYPT : P11E_USE_DERIVE),
			    err);
	}
	if (rc == P11E_OK)
		rc = p11e_token_public_key(k->session->token, &id, &k->pub, err);
	if (rc == P11E_OK)
		rc = p11e_token_signing_key(k->session->token, &id, &k->key, err);
	if (rc != P11E_OK)
		return rc;
	info = p11e_token_get_info(k->session->token);
	full = p11e_uri_format(info->label, info->manufacturer, info->serial, info->model, id.v,
			       id.len, "private");
	if (full == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(uri, cap, "%s", full);
	free(full);
	return P11E_OK;
}

/* The certificates in path (none if it does not exist yet). */
static p11e_rc read_certs(const char *path, char **text, size_t *len, STACK_OF(X509) * *certs,
			  p11e_err *err)
{
	BIO *bio = NULL;
	X509 *cert;
	p11e_rc rc = p11e_read_file(path, CERTS_MAX, text, len, err);

	if ((*certs = sk_X509_new_null()) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (rc == P11E_NOT_FOUND) {
		*text = NULL;
		*len = 0;
		return P11E_OK;
	}
	if (rc != P11E_OK)
		return rc;
	if ((bio = BIO_new_mem_buf(*text, (int)*len)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(*certs, cert)) {
			X509_free(cert);
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			break;
		}
	ERR_clear_error(); /* "no start line" after the last one */
	BIO_free(bio);
	return rc;
}

static p11e_rc self_signed(const officer_key *k, const p11e_officer_init_params *p, X509 **out,
			   p11e_err *err)
{
	int rsa = EVP_PKEY_get_base_id(k->pub) == EVP_PKEY_RSA;
	X509_NAME *name = X509_NAME_new();
	X509 *cert = X509_new();
	char san[300];
	p11e_rc rc;

	*out = NULL;
	if (name == NULL || cert == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	rc = p11e_x509_name_add_slash(name, p->subject ? p->subject : "/CN=Escrow Officer",
				      "subject", err);
	if (rc == P11E_OK && X509_NAME_entry_count(name) == 0)
		rc = p11e_errf(err, P11E_USAGE, "subject: empty; give one like /CN=Escrow Officer");
	if (rc == P11E_OK)
		rc = p11e_ca_local_set_serial(cert, err);
	if (rc != P11E_OK)
		goto out;
	/* notBefore a little in the past, for clocks that lag. */
	if (X509_set_version(cert, 2) != 1 || X509_set_subject_name(cert, name) != 1 ||
	    X509_set_issuer_name(cert, name) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), p->days ? p->days : 730, 0, NULL) == NULL ||
	    X509_set_pubkey(cert, k->pub) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot build the officer certificate");
		goto out;
	}
	/* Not a CA; its key only receives secrets. */
	rc = p11e_ca_local_add_ext(cert, NULL, NID_basic_constraints, "critical,CA:FALSE", err);
	if (rc == P11E_OK)
		rc = p11e_ca_local_add_ext(
		    cert, NULL, NID_key_usage,
		    rsa ? "critical,keyEncipherment" : "critical,keyAgreement", err);
	if (rc == P11E_OK)
		rc = p11e_ca_local_add_ext(cert, NULL, NID_subject_key_identifier, "hash", err);
	if (rc == P11E_OK && p->email != NULL) {
		snprintf(san, sizeof(san), "email:%s", p->email);
		rc = p11e_ca_local_add_ext(cert, NULL, NID_subject_alt_name, san, err);
	}
	if (rc == P11E_OK)
		rc = p11e_ca_local_sign(cert, k->key, "sha256", err);
	if (rc == P11E_OK) {
		*out = cert;
		cert = NULL;
	}
out:
	X509_free(cert);
	X509_NAME_free(name);
	return rc;
}

/* Issued by a CA of the config under the built-in smime-encrypt profile
 * (keyEncipherment or keyAgreement, emailProtection, the address). */
static p11e_rc ca_issued(const p11e_config *cfg, const officer_key *k,
			 const p11e_officer_init_params *p, X509 **out, p11e_err *err)
{
	p11e_profile prof;
	p11e_csr_params cp = {.email = p->email, .name = p->name, .profile = &prof};
	p11e_ca_result res;
	p11e_ca *ca = NULL;
	X509_REQ *req = NULL;
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	char key[2 * SHA256_DIGEST_LENGTH + 1];
	int der_len;
	p11e_rc rc;

	*out = NULL;
	memset(&res, 0, sizeof(res));
	rc = p11e_config_profile(cfg, "smime-encrypt", &prof, err);
	if (rc == P11E_OK)
		rc = p11e_csr_build(k->pub, k->key, &cp, &req, err);
	if (rc == P11E_OK && (der_len = i2d_X509_REQ(req, &der)) <= 0)
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the CSR");
	if (rc != P11E_OK)
		goto out;
	SHA256(der, (size_t)der_len, md);
	p11e_hex_encode(md, sizeof(md), key);
	rc = p11e_config_open_ca(cfg, p->ca, &ca, err);
	if (rc == P11E_OK)
		rc = p11e_ca_submit(ca, req, &prof, key, &res, err);
	if (rc == P11E_OK && (res.state != P11E_CA_STATE_ISSUED || res.cert == NULL))
		rc = p11e_errf(
		    err, res.state == P11E_CA_STATE_PENDING ? P11E_PENDING : P11E_CA_REJECTED,
		    "ca: %s did not issue the officer certificate now (%s); officer-init "
		    "needs a CA that issues at once, like the embedded CA",
		    p->ca, res.state == P11E_CA_STATE_PENDING ? "pending" : res.reason);
	if (rc == P11E_OK) {
		*out = res.cert;
		res.cert = NULL;
	}
out:
	p11e_ca_result_clear(&res);
	p11e_ca_close(ca);
	OPENSSL_free(der);
	X509_REQ_free(req);
	return rc;
}

/* certs_file with cert appended, written whole (certificates are public). */
static p11e_rc append_cert(const char *path, const char *text, size_t len, X509 *cert,
			   p11e_err *err)
{
	char *pem = p11e_x509_to_pem(cert), *all = NULL;
	size_t n = 0;
	p11e_rc rc;

	if (pem == NULL || (all = malloc(len + strlen(pem) + 2)) == NULL) {
		free(pem);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	if (len > 0) {
		memcpy(all, text, len);
		n = len;
		if (all[n - 1] != '\n')
			all[n++] = '\n';
	}
	memcpy(all + n, pem, strlen(pem));
	n += strlen(pem);
	rc = p11e_write_file_atomic(path, all, n, 0644, err);
	free(all);
	free(pem);
	return rc;
}

static void describe(X509 *cert, const char *file, p11e_officer_init_result *out)
{
	X509_NAME_oneline(X509_get_subject_name(cert), out->subject, sizeof(out->subject));
	p11e_x509_sha256_hex(cert, out->sha256);
	p11e_asn1_time_iso(X509_get0_notAfter(cert), out->not_after, sizeof(out->not_after));
	snprintf(out->certs_file, sizeof(out->certs_file), "%s", file);
}

static p11e_rc check_params(const p11e_officer_init_params *p, const char *file, p11e_keytype *kt,
			    p11e_err *err)
{
	p11e_rc rc;

	if ((p->key_uri == NULL) == (p->key_file == NULL))
		return p11e_errf(
		    err, P11E_USAGE,
		    "officer-init: give the key's place: --key-uri pkcs11:... (made on "
		    "the token) or --key-file PATH (a PEM file, for tests)");
	if (p->key_uri != NULL && strncmp(p->key_uri, "pkcs11:", 7) != 0)
		return p11e_errf(err, P11E_USAGE, "key-uri: '%.100s' is not a pkcs11: URI",
				 p->key_uri);
	if (file == NULL)
		return p11e_errf(
		    err, P11E_USAGE,
		    "out: the config has no file vault with an officer_certs_file: give "
		    "--out FILE for the certificate");
	if ((rc = p11e_keytype_parse(p->key_type ? p->key_type : "rsa:3072", kt, err)) != P11E_OK)
		return rc;
	if (kt->kind != P11E_KEY_RSA && kt->kind != P11E_KEY_EC)
		return p11e_errf(err, P11E_USAGE,
				 "key: an escrow officer's key is rsa or ec (CMS key transport or "
				 "key agreement), not %s",
				 kt->name);
	if (p->days < 0 || p->days > 36500)
		return p11e_errf(err, P11E_USAGE, "days: %d is not 1 to 36500", p->days);
	if (p->email != NULL && !p11e_email_valid(p->email))
		return p11e_errf(err, P11E_USAGE, "email: '%.100s' is not a valid address",
				 p->email);
	if (p->ca != NULL && p->email == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "email: a CA certifies the officer under profile smime-encrypt, "
				 "which needs the officer's address: give --email");
	if (p->ca != NULL && p->subject != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "subject: the CA sets the subject (its profile's DN and --name); "
				 "--subject is for a self-signed certificate");
	return P11E_OK;
}

p11e_rc p11e_officer_init(const p11e_config *cfg, const p11e_officer_init_params *p,
			  p11e_officer_init_result *out, p11e_err *err)
{
	const char *file = p->out ? p->out : config_certs_file(cfg);
	officer_key k = {0};
	p11e_keytype kt;
	p11e_lock lock = P11E_LOCK_INIT;
	STACK_OF(X509) *certs = NULL;
	X509 *cert = NULL;
	char *text = NULL, why[96];
	size_t len = 0;
	p11e_err audit_err = {0};
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_params(p, file, &kt, err)) != P11E_OK)
		return rc;
	/* One officer-init at a time: the key file and the append. */
	rc = p11e_lock_acquire(cfg->store, "escrow", "officers", P11E_LOCK_WAIT_DEFAULT_MS, &lock,
			       err);
	if (rc != P11E_OK)
		return rc;
	if (p->key_file != NULL) {
		snprintf(out->key, sizeof(out->key), "%s", p->key_file);
		rc = key_file(p->key_file, &kt, &k, err);
	} else {
		rc = key_on_token(cfg, p, &kt, &k, out->key, sizeof(out->key), err);
	}
	/* A crash from here to the append leaves a key without a certificate:
	 * the rerun finds the key and certifies it. */
	if (rc == P11E_OK)
		pipe_crash_point("officer-key-made");
	if (rc == P11E_OK)
		rc = read_certs(file, &text, &len, &certs, err);
	if (rc != P11E_OK)
		goto out;
	/* A rerun: this key's certificate is there already. */
	for (int i = 0; i < sk_X509_num(certs); i++)
		if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(certs, i)), k.pub) == 1) {
			describe(sk_X509_value(certs, i), file, out);
			out->already = 1;
			goto out;
		}
	ERR_clear_error();
	rc = p->ca != NULL ? ca_issued(cfg, &k, p, &cert, err) : self_signed(&k, p, &cert, err);
	if (rc == P11E_OK && !p11e_vault_officer_cert_ok(cert, why, sizeof(why)))
		rc =
		    p11e_errf(err, P11E_CA_REJECTED,
			      "ca: the officer certificate %s issued %s: the vault would refuse it",
			      p->ca ? p->ca : "self-signed", why);
	if (rc != P11E_OK)
		goto out;
	describe(cert, file, out);
	{
		/* The record first: a new officer reads every secret escrowed
		 * from now on. */
		const char *extra[] = {"subject",   out->subject, "cert_sha256",
				       out->sha256, "file",	  out->certs_file,
				       "key",	    out->key,	  NULL};
		if (p11e_audit_write(cfg, "escrow-officer-init", NULL, extra, P11E_OK, NULL,
				     &audit_err) != P11E_OK) {
			rc = p11e_errf(err, P11E_FAIL, "%s; the officer was not added",
				       audit_err.msg);
			goto out;
		}
	}
	rc = append_cert(file, text, len, cert, err);
out:
	X509_free(cert);
	sk_X509_pop_free(certs, X509_free);
	free(text);
	officer_key_free(&k);
	p11e_lock_release(&lock);
	return rc;
}
