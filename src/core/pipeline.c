/* The enrollment state machine. Each step moves the record one state on;
 * the record is saved (atomically) after every step, so a crash anywhere
 * resumes at the last saved state. See include/p11enroll/pipeline.h. A
 * software key (record key_store "software") runs the same machine with its
 * own key and store steps (step_*_software). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <json-c/json.h>
#include "p11enroll/ca.h"
#include "p11enroll/csr.h"
#include "p11enroll/pem.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/pkcs12.h"
#include "p11enroll/recover.h"
#include "p11enroll/session.h"
#include "p11enroll/software.h"
#include "p11enroll/util.h"

/* What one run of the pipeline holds open. */
typedef struct enroll_run {
	const p11e_config *cfg;
	const p11e_enroll_params *p;
	p11e_record *rec;
	p11e_profile profile;
	p11e_keytype kt;
	p11e_session sess; /* ours, unless the caller shares a token */
	p11e_token *token; /* sess.token or the shared one */
	p11e_ca *ca;
	int ca_shared; /* ca belongs to p->shared: never closed here */
	int chose_id;  /* this run chose temp_id: no earlier run can have used it */
	int persisted; /* the record exists on disk */
	/* Software key store (record key_store "software"): no token; the key
	 * and its escrowed PFX password, once made or read back. */
	int software;
	/* Archived (record key_store "archived"): a software key whose run
	 * ends by importing it onto the token (step_store_archived). */
	int archived;
	EVP_PKEY *skey;
	char *pfx_pass; /* wiped at the end of the run */
} enroll_run;

/* Test builds only: simulate a crash (no cleanup at all) at a named point:
 * after each step's record is saved (the step's name), and in the windows
 * between a token or CA action and the save that records it ("key-made",
 * "key-renamed", "ca-answered", "cert-written"). The resume tests prove a
 * rerun from each finishes with one key and one certificate. */
static void crash_point(const char *name)
{
#ifdef P11ENROLL_TEST_HOOKS
	const char *at = getenv("P11ENROLL_TEST_CRASH_AFTER");
	if (at != NULL && strcmp(at, name) == 0)
		_exit(86);
#else
	(void)name;
#endif
}

static p11e_rc save(enroll_run *r, p11e_err *err)
{
	p11e_rc rc = p11e_record_save(r->cfg->state_dir, r->rec, err);

	if (rc == P11E_OK)
		r->persisted = 1;
	return rc;
}

static p11e_rc parse_id(const char *hex, p11e_id *id, const char *field, p11e_err *err)
{
	if (hex == NULL || p11e_hex_decode(hex, id->v, sizeof(id->v), &id->len) != 0 ||
	    id->len == 0)
		return p11e_errf(err, P11E_USAGE, "%s: '%.80s' is not 1 to %d bytes of hex", field,
				 hex != NULL ? hex : "", P11E_ID_MAX);
	return P11E_OK;
}

static p11e_rc set_hex(char **field, const p11e_id *id, p11e_err *err)
{
	char hex[2 * P11E_ID_MAX + 1];

	p11e_hex_encode(id->v, id->len, hex);
	return p11e_record_set(field, hex, err);
}

/* The key's ID as the certificate's subject key identifier will be (RFC 5280
 * method 1: SHA-1 of the subjectPublicKey bits), so the key, its
 * certificate's SKI and CKA_ID all agree, as NSS and GnuTLS pair them. */
static p11e_rc public_key_id(EVP_PKEY *pub, p11e_id *id, p11e_err *err)
{
	X509_PUBKEY *xpub = NULL;
	const unsigned char *bits = NULL;
	int bits_len = 0;
	p11e_rc rc = P11E_OK;

	if (X509_PUBKEY_set(&xpub, pub) != 1 ||
	    X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, xpub) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the token's public key");
		goto out;
	}
	SHA1(bits, (size_t)bits_len, id->v);
	id->len = SHA_DIGEST_LENGTH;
out:
	X509_PUBKEY_free(xpub);
	return rc;
}

static p11e_rc count_key(enroll_run *r, const p11e_id *id, size_t *priv, size_t *pub, p11e_err *err)
{
	p11e_rc rc = p11e_token_count(r->token, 3 /* CKO_PRIVATE_KEY */, id, priv, err);
	if (rc == P11E_OK)
		rc = p11e_token_count(r->token, 2 /* CKO_PUBLIC_KEY */, id, pub, err);
	return rc;
}

/* new -> key-pending: choose the CKA_ID the key is generated under and
 * record it before anything touches the token. */
static p11e_rc step_new(enroll_run *r, p11e_err *err)
{
	p11e_id id;
	size_t priv = 0, pub = 0, certs = 0;
	p11e_rc rc;

	rc = p11e_token_check_keytype(r->token, &r->kt, err);
	if (rc != P11E_OK)
		return rc;
	if (r->p->id_hex != NULL) {
		rc = parse_id(r->p->id_hex, &id, "id", err);
		if (rc == P11E_OK)
			rc = count_key(r, &id, &priv, &pub, err);
		if (rc == P11E_OK)
			rc = p11e_token_count(r->token, 1 /* CKO_CERTIFICATE */, &id, &certs, err);
		if (rc != P11E_OK)
			return rc;
		if (priv + pub + certs > 0)
			return p11e_errf(err, P11E_EXISTS,
					 "id: the token already has objects with CKA_ID %s; choose "
					 "another --id (nothing was overwritten)",
					 r->p->id_hex);
		rc = set_hex(&r->rec->key_id, &id, err);
	} else {
		/* A random temporary ID: the final one (a hash of the public key)
		 * is only known after generation. */
		id.len = 16;
		if (RAND_bytes(id.v, (int)id.len) != 1)
			return p11e_errf_ssl(err, P11E_FAIL, "cannot draw a random key ID");
	}
	if (rc == P11E_OK)
		rc = set_hex(&r->rec->temp_id, &id, err);
	if (rc == P11E_OK) {
		r->rec->step = P11E_STEP_KEY_PENDING;
		r->chose_id = 1;
	}
	return rc;
}

/* key-pending -> key-generated: generate under temp_id unless a previous run
 * already did, then move it to its final ID. Every branch is a state a crash
 * can leave behind. */
static p11e_rc step_key(enroll_run *r, p11e_err *err)
{
	p11e_id temp, final;
	size_t priv = 0, pub = 0;
	unsigned usage = 0;
	EVP_PKEY *pkey = NULL;
	p11e_rc rc;

	rc = parse_id(r->rec->temp_id, &temp, "record temp_id", err);
	if (rc != P11E_OK)
		return rc;
	/* Only a resumed run must look for what an earlier one left (and only
	 * a random ID is sure to be unused: a given --id was checked in new). */
	if (!r->chose_id)
		rc = count_key(r, &temp, &priv, &pub, err);
	if (rc != P11E_OK)
		return rc;
	if (priv == 0 && pub == 0 && r->rec->key_id != NULL &&
	    strcmp(r->rec->key_id, r->rec->temp_id) != 0) {
		/* Renamed already, crash before the record said so. */
		rc = parse_id(r->rec->key_id, &final, "record key_id", err);
		if (rc == P11E_OK)
			rc = count_key(r, &final, &priv, &pub, err);
		if (rc != P11E_OK)
			return rc;
		if (priv != 1 || pub != 1)
			return p11e_errf(
			    err, P11E_NOT_FOUND,
			    "identity %s: key %s is no longer on the token; remove its "
			    "record to start over",
			    r->rec->identity, r->rec->key_id);
		r->rec->step = P11E_STEP_KEY_GENERATED;
		return P11E_OK;
	}
	if (priv == 0 && pub == 0) {
		rc = p11e_profile_token_usage(&r->profile, r->kt.kind, &usage, err);
		/* SCEP encrypts the CA's answer to the key being certified (RSA). */
		if (rc == P11E_OK && r->ca != NULL && p11e_ca_needs_requester(r->ca))
			usage |= P11E_USE_DECRYPT;
		/* Every key signs its own CSR (proof of possession); an
		 * encryption-only key loses CKA_SIGN once certified (step_store). */
		if (rc == P11E_OK)
			rc = p11e_token_generate_keypair(r->token, &r->kt, &temp, r->rec->label,
							 usage | P11E_USE_SIGN, err);
		if (rc != P11E_OK)
			return rc;
		crash_point("key-made");
	} else if (priv != 1 || pub != 1) {
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: the token holds %zu private and %zu public keys "
				 "under ID %s; expected one of each. Inspect with pkcs11-tool -O",
				 r->rec->identity, priv, pub, r->rec->temp_id);
	}
	if (r->rec->key_id == NULL) {
		rc = p11e_token_public_key(r->token, &temp, &pkey, err);
		if (rc == P11E_OK)
			rc = public_key_id(pkey, &final, err);
		if (rc == P11E_OK)
			rc = set_hex(&r->rec->key_id, &final, err);
		/* Record the final ID before renaming, so a crash between the two is
		 * recognised above. */
		if (rc == P11E_OK)
			rc = save(r, err);
		if (rc != P11E_OK)
			goto out;
	}
	rc = parse_id(r->rec->key_id, &final, "record key_id", err);
	if (rc == P11E_OK && (final.len != temp.len || memcmp(final.v, temp.v, temp.len) != 0))
		rc = p11e_token_set_id(r->token, &temp, &final, err);
	if (rc == P11E_OK) {
		crash_point("key-renamed");
		r->rec->step = P11E_STEP_KEY_GENERATED;
	}
out:
	EVP_PKEY_free(pkey);
	return rc;
}

/* --- The software key store: the same machine, with the key made in
 * memory (software.h). Until its PFX exists the key is kept only as an
 * encrypted PKCS#8 file under its PFX password, which is escrowed in the
 * vault before that file is written and never stored in the state dir. A
 * run that did not make the key reads the password back from the vault
 * (the file vault: with --officer-key). --- */

/* The escrowed PFX password: made by this run, or fetched from the vault. */
static p11e_rc soft_password(enroll_run *r, p11e_err *err)
{
	p11e_vault_open_params vp = {
	    .officer_key = r->p->officer_key,
	    .officer_pin_source = r->p->officer_pin_source,
	    .module = r->p->module,
	};
	p11e_err inner = {0};
	p11e_rc rc;

	if (r->pfx_pass != NULL)
		return P11E_OK;
	rc = p11e_soft_password_fetch(r->cfg, &vp, r->rec->identity, &r->pfx_pass, &inner);
	if (rc != P11E_OK)
		return p11e_errf(err, rc,
				 "identity %s: resuming a software key needs its escrowed PFX "
				 "password: %s",
				 r->rec->identity, inner.msg);
	return P11E_OK;
}

#define PFX_MAX (1 << 20)

/* The key from the PFX an earlier run wrote, opened with the password. */
static p11e_rc archived_pfx_key(enroll_run *r, p11e_err *err)
{
	char *data = NULL;
	size_t len = 0;
	p11e_rc rc = p11e_read_file(r->rec->pfx_path, PFX_MAX, &data, &len, err);

	if (rc == P11E_OK)
		rc = p11e_pfx_open((unsigned char *)data, len, r->pfx_pass, &r->skey, NULL, NULL,
				   err);
	if (rc == P11E_OK && r->skey == NULL)
		rc = p11e_errf(err, P11E_FAIL, "%s holds no private key", r->rec->pfx_path);
	free(data); /* encrypted: nothing to wipe */
	return rc;
}

/* The key: made by this run, or read back from its encrypted file. */
static p11e_rc soft_key(enroll_run *r, p11e_err *err)
{
	char *path;
	p11e_id id;
	char hex[2 * P11E_ID_MAX + 1];
	p11e_err inner = {0};
	p11e_rc rc;

	if (r->skey != NULL)
		return P11E_OK;
	if ((rc = soft_password(r, err)) != P11E_OK)
		return rc;
	if ((path = p11e_soft_key_path(r->cfg->state_dir, r->rec->identity)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_soft_key_load(path, r->pfx_pass, &r->skey, &inner);
	free(path);
	/* An archived key whose PFX is written: its key file is gone, the PFX
	 * holds it (a rerun of the import). */
	if (rc == P11E_NOT_FOUND && r->archived && r->rec->step >= P11E_STEP_ISSUED &&
	    access(r->rec->pfx_path, F_OK) == 0)
		rc = archived_pfx_key(r, &inner);
	if (rc == P11E_NOT_FOUND)
		return p11e_errf(err, rc,
				 "identity %s: %s and no PFX holds the key yet; remove its record "
				 "to start over",
				 r->rec->identity, inner.msg);
	if (rc != P11E_OK)
		return p11e_errf(err, rc, "identity %s: %s", r->rec->identity, inner.msg);
	/* The very key the record was made for. */
	if (r->rec->key_id != NULL) {
		rc = public_key_id(r->skey, &id, err);
		if (rc != P11E_OK)
			return rc;
		p11e_hex_encode(id.v, id.len, hex);
		if (strcmp(hex, r->rec->key_id) != 0)
			return p11e_errf(err, P11E_FAIL,
					 "identity %s: the key file holds key %s, not %s; remove "
					 "its record to start over",
					 r->rec->identity, hex, r->rec->key_id);
	}
	return P11E_OK;
}

/* new -> key-pending: nothing may be in the way of what this enrollment
 * will make: an escrowed password, a key file or the PFX. */
static p11e_rc step_new_software(enroll_run *r, p11e_err *err)
{
	char *key_path = p11e_soft_key_path(r->cfg->state_dir, r->rec->identity);
	int escrowed = 0;
	p11e_rc rc;

	if (key_path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* An archived key must fit its token: one that cannot make such keys
	 * is refused before anything is escrowed. */
	rc = r->archived ? p11e_token_check_keytype(r->token, &r->kt, err) : P11E_OK;
	if (rc == P11E_OK)
		rc = p11e_soft_escrowed(r->cfg, r->rec->identity, &escrowed, err);
	if (rc == P11E_OK && escrowed)
		rc = p11e_errf(err, P11E_EXISTS,
			       "identity %s: the vault already holds a PFX password for it (from "
			       "an earlier enrollment); an escrowed password is never replaced: "
			       "an escrow officer must retire that entry first",
			       r->rec->identity);
	else if (rc == P11E_OK && access(key_path, F_OK) == 0)
		rc = p11e_errf(err, P11E_EXISTS,
			       "identity %s: a key file from an earlier enrollment is in the way "
			       "(%s); it was left alone",
			       r->rec->identity, key_path);
	else if (rc == P11E_OK && access(r->rec->pfx_path, F_OK) == 0)
		rc = p11e_errf(err, P11E_EXISTS,
			       "out: %s already exists; it is never overwritten (choose another "
			       "--out)",
			       r->rec->pfx_path);
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_KEY_PENDING;
	free(key_path);
	return rc;
}

/* key-pending -> key-generated: password escrowed, then the key made and
 * written encrypted under it. A rerun takes whatever a stopped run left:
 * the key file (its key), or only the escrowed password (a key is made for
 * it). */
static p11e_rc step_key_software(enroll_run *r, p11e_err *err)
{
	char *path = p11e_soft_key_path(r->cfg->state_dir, r->rec->identity);
	EVP_PKEY *key = NULL;
	p11e_id id;
	int escrowed = 0;
	p11e_rc rc;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (access(path, F_OK) == 0) {
		rc = soft_key(r, err); /* written by a run that stopped */
	} else {
		rc = p11e_soft_escrowed(r->cfg, r->rec->identity, &escrowed, err);
		if (rc == P11E_OK && escrowed) {
			rc = soft_password(r, err); /* escrowed by a run that stopped */
		} else if (rc == P11E_OK) {
			rc = p11e_soft_password_escrow(
			    r->cfg, r->rec->identity, (size_t)r->profile.pfx_password_length,
			    r->profile.pfx_password_alphabet, &r->pfx_pass, err);
			if (rc == P11E_OK)
				crash_point("password-escrowed");
		}
		if (rc == P11E_OK)
			rc = p11e_soft_keygen(&r->kt, &key, err);
		if (rc == P11E_OK)
			rc = p11e_soft_key_save(path, key, r->pfx_pass, err);
		if (rc == P11E_OK) {
			r->skey = key;
			key = NULL;
			crash_point("key-made");
		}
	}
	if (rc == P11E_OK)
		rc = public_key_id(r->skey, &id, err);
	if (rc == P11E_OK)
		rc = set_hex(&r->rec->key_id, &id, err);
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_KEY_GENERATED;
	EVP_PKEY_free(key);
	free(path);
	return rc;
}

/* issued -> stored: the PFX (key, certificate, chain, friendly name) written
 * 0600 and never over another file, read back and opened with the escrowed
 * password; only then is the key file deleted. A PFX a stopped run wrote is
 * taken if it passes the same check. */
static p11e_rc step_store_software(enroll_run *r, p11e_err *err)
{
	X509 *cert = p11e_x509_from_pem(r->rec->cert_pem);
	STACK_OF(X509) *chain = p11e_chain_from_pem(r->rec->chain_pem);
	char *key_path = p11e_soft_key_path(r->cfg->state_dir, r->rec->identity);
	char *dir = NULL, *data = NULL;
	unsigned char *der = NULL;
	size_t der_len = 0, len = 0;
	p11e_pfx_format fmt = P11E_PFX_AES256;
	int wrote = 0;
	p11e_err inner = {0};
	p11e_rc rc;

	if (cert == NULL || chain == NULL || key_path == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "identity %s: the saved certificate cannot be read",
			       r->rec->identity);
		goto out;
	}
	if (r->rec->pfx_format != NULL && p11e_pfx_format_parse(r->rec->pfx_format, &fmt) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "identity %s: record pfx_format '%.40s' is unknown",
			       r->rec->identity, r->rec->pfx_format);
		goto out;
	}
	if ((rc = soft_password(r, err)) != P11E_OK)
		goto out;
	rc = p11e_read_file(r->rec->pfx_path, PFX_MAX, &data, &len, err);
	if (rc == P11E_NOT_FOUND) {
		rc = soft_key(r, err);
		if (rc == P11E_OK && EVP_PKEY_eq(X509_get0_pubkey(cert), r->skey) != 1)
			rc =
			    p11e_errf(err, P11E_FAIL,
				      "identity %s: the certificate from the CA is not for its key "
				      "%s; no PFX was written",
				      r->rec->identity, r->rec->key_id);
		if (rc == P11E_OK)
			rc = p11e_pfx_build(r->skey, cert, chain, r->rec->label, r->pfx_pass, fmt,
					    &der, &der_len, err);
		if (rc == P11E_OK && (dir = strdup(r->rec->pfx_path)) == NULL)
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
		if (rc == P11E_OK && strrchr(dir, '/') != NULL && strrchr(dir, '/') != dir) {
			*strrchr(dir, '/') = '\0';
			rc = p11e_mkdirs(dir, 0700, err);
		}
		if (rc == P11E_OK)
			rc = p11e_write_file_new(r->rec->pfx_path, der, der_len, 0600, err);
		if (rc == P11E_OK) {
			wrote = 1;
			crash_point("pfx-written");
			/* Check what is on disk, not what was meant to be. */
			rc = p11e_read_file(r->rec->pfx_path, PFX_MAX, &data, &len, err);
		}
	}
	if (rc != P11E_OK)
		goto out;
	if (p11e_pfx_verify((unsigned char *)data, len, r->pfx_pass, cert, &inner) != P11E_OK) {
		rc = wrote ? p11e_errf(err, P11E_FAIL, "identity %s: the PFX written to %s: %s",
				       r->rec->identity, r->rec->pfx_path, inner.msg)
			   : p11e_errf(err, P11E_EXISTS,
				       "identity %s: %s is in the way and is not this enrollment's "
				       "PFX (%s); it was left alone: move it and rerun",
				       r->rec->identity, r->rec->pfx_path, inner.msg);
		goto out;
	}
	rc = p11e_soft_key_remove(key_path, err);
	if (rc == P11E_OK) {
		crash_point("key-deleted");
		/* An archived key goes on to the token first (step_store_archived). */
		if (!r->archived)
			r->rec->step = P11E_STEP_STORED;
	}
out:
	OPENSSL_free(der);
	free(data); /* the PFX is encrypted: nothing to wipe */
	free(dir);
	free(key_path);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* issued -> stored, archived: the PFX as for a software key (the escrow
 * copy, which stays), then the key imported onto the token, sensitive and
 * not extractable, and the certificate and chain beside it. Whatever a
 * stopped run put on the token is found by CKA_ID and kept: never a second
 * key. */
static p11e_rc step_store_archived(enroll_run *r, p11e_err *err)
{
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	p11e_id id;
	char hex[2 * P11E_ID_MAX + 1];
	p11e_rc rc = step_store_software(r, err);

	if (rc != P11E_OK)
		return rc;
	cert = p11e_x509_from_pem(r->rec->cert_pem);
	chain = p11e_chain_from_pem(r->rec->chain_pem);
	if (cert == NULL || chain == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "identity %s: the saved certificate cannot be read",
			       r->rec->identity);
		goto out;
	}
	rc = soft_key(r, err);
	if (rc == P11E_OK)
		rc = p11e_archive_import(r->token, r->skey, cert, chain, r->rec->label, crash_point,
					 NULL, &id, err);
	/* The token has it and the PFX keeps it: no copy stays in memory. */
	EVP_PKEY_free(r->skey);
	r->skey = NULL;
	if (rc == P11E_OK) {
		p11e_hex_encode(id.v, id.len, hex);
		if (strcmp(hex, r->rec->key_id) != 0)
			rc = p11e_errf(
			    err, P11E_FAIL,
			    "identity %s: the imported key has ID %s, not the recorded %s",
			    r->rec->identity, hex, r->rec->key_id);
	}
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_STORED;
out:
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

/* key-generated -> csr-built: the CSR is signed on the token (or by the
 * software key) and saved, so every later submission sends the very same
 * request. */
static p11e_rc step_csr(enroll_run *r, p11e_err *err)
{
	p11e_csr_params cp = {
	    .email = r->rec->dns_name != NULL ? NULL : r->rec->identity,
	    .dns = r->rec->dns_name,
	    .name = r->rec->name,
	    .profile = &r->profile,
	    .digest = r->p->digest,
	    .rsa_pss = r->p->rsa_pss,
	};
	p11e_id id;
	X509_REQ *req = NULL;
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1], *pem = NULL;
	int der_len;
	p11e_rc rc;

	if (r->software) {
		rc = soft_key(r, err);
		if (rc == P11E_OK)
			rc = p11e_csr_build(r->skey, r->skey, &cp, &req, err);
	} else {
		rc = parse_id(r->rec->key_id, &id, "record key_id", err);
		if (rc == P11E_OK)
			rc = p11e_token_csr(r->token, &id, &cp, r->p->shared != NULL, &req, err);
	}
	if (rc != P11E_OK)
		goto out;
	der_len = i2d_X509_REQ(req, &der);
	pem = p11e_csr_to_pem(req);
	if (der_len <= 0 || pem == NULL) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the CSR");
		goto out;
	}
	SHA256(der, (size_t)der_len, md);
	p11e_hex_encode(md, sizeof(md), hex);
	rc = p11e_record_set(&r->rec->csr_pem, pem, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->request_key, hex, err);
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_CSR_BUILT;
out:
	OPENSSL_free(der);
	free(pem);
	X509_REQ_free(req);
	return rc;
}

/* Takes what the CA answered into the record. */
static p11e_rc take_result(enroll_run *r, p11e_ca_result *res, p11e_err *err)
{
	char *cert_pem = NULL, *chain_pem = NULL;
	char fp[65], not_after[32];
	p11e_rc rc = P11E_OK;

	if (res->request_id[0] != '\0')
		rc = p11e_record_set(&r->rec->request_id, res->request_id, err);
	if (rc != P11E_OK)
		return rc;
	switch (res->state) {
	case P11E_CA_STATE_PENDING:
		r->rec->step = P11E_STEP_SUBMITTED;
		return p11e_errf(err, P11E_PENDING,
				 "identity %s: the CA has request %s pending; run enroll or poll "
				 "again later",
				 r->rec->identity, r->rec->request_id ? r->rec->request_id : "?");
	case P11E_CA_STATE_REJECTED:
		return p11e_errf(err, P11E_CA_REJECTED,
				 "identity %s: the CA rejected the request: %s", r->rec->identity,
				 res->reason);
	case P11E_CA_STATE_ISSUED:
		break;
	}
	/* Whatever the CA was asked, it must have issued what the profile says. */
	rc = p11e_profile_check_cert(&r->profile, res->cert, r->rec->identity, err);
	if (rc != P11E_OK)
		return rc;
	cert_pem = p11e_x509_to_pem(res->cert);
	chain_pem = p11e_chain_to_pem(res->chain);
	if (cert_pem == NULL || chain_pem == NULL || p11e_x509_sha256_hex(res->cert, fp) != 0 ||
	    p11e_asn1_time_iso(X509_get0_notAfter(res->cert), not_after, sizeof(not_after)) != 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the issued certificate");
		goto out;
	}
	rc = p11e_record_set(&r->rec->cert_pem, cert_pem, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->chain_pem, chain_pem, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->cert_sha256, fp, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->not_after, not_after, err);
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_ISSUED;
out:
	free(cert_pem);
	free(chain_pem);
	return rc;
}

/* Hands the CA the requester's key when its protocol signs with it (SCEP):
 * the token key through libp11's bridge, or the software key. *key stays ours (free it after the
 * call that used it). */
static p11e_rc give_requester(enroll_run *r, EVP_PKEY **key, p11e_err *err)
{
	p11e_id id;
	p11e_rc rc;

	*key = NULL;
	if (!p11e_ca_needs_requester(r->ca))
		return P11E_OK;
	if (r->software) {
		/* The key in memory, freed with the run (not through *key). */
		rc = soft_key(r, err);
		if (rc == P11E_OK)
			rc = p11e_ca_set_requester(r->ca, r->skey, r->rec->identity, err);
		return rc;
	}
	rc = parse_id(r->rec->key_id, &id, "record key_id", err);
	if (rc == P11E_OK)
		rc = p11e_token_signing_key(r->token, &id, key, err);
	if (rc == P11E_OK)
		rc = p11e_ca_set_requester(r->ca, *key, r->rec->identity, err);
	return rc;
}

/* csr-built -> issued (or submitted, when the CA answers later). */
static p11e_rc step_submit(enroll_run *r, p11e_err *err)
{
	X509_REQ *req = p11e_csr_from_pem(r->rec->csr_pem);
	EVP_PKEY *key = NULL;
	p11e_ca_result res;
	p11e_rc rc;

	memset(&res, 0, sizeof(res));
	if (req == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: the saved CSR cannot be read; remove its record to "
				 "start over",
				 r->rec->identity);
	rc = give_requester(r, &key, err);
	if (rc == P11E_OK)
		rc = p11e_ca_submit(r->ca, req, &r->profile, r->rec->request_key, &res, err);
	if (rc == P11E_OK) {
		crash_point("ca-answered");
		rc = take_result(r, &res, err);
	}
	p11e_ca_result_clear(&res);
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	return rc;
}

/* submitted -> issued: ask about the request the CA already has. */
static p11e_rc step_poll(enroll_run *r, p11e_err *err)
{
	EVP_PKEY *key = NULL;
	p11e_ca_result res;
	p11e_rc rc;

	memset(&res, 0, sizeof(res));
	rc = give_requester(r, &key, err);
	if (rc == P11E_OK)
		rc = p11e_ca_poll(r->ca, r->rec->request_id, &r->profile, &res, err);
	if (rc == P11E_OK)
		rc = take_result(r, &res, err);
	p11e_ca_result_clear(&res);
	EVP_PKEY_free(key);
	return rc;
}

/* issued -> stored: the certificate goes onto the token under the key's ID,
 * but only if it certifies that very key; then the chain beside it. */
static p11e_rc step_store(enroll_run *r, p11e_err *err)
{
	unsigned usage = 0;
	X509 *cert = p11e_x509_from_pem(r->rec->cert_pem);
	STACK_OF(X509) *chain = p11e_chain_from_pem(r->rec->chain_pem);
	EVP_PKEY *pub = NULL;
	p11e_id id;
	p11e_rc rc;

	if (cert == NULL || chain == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "identity %s: the saved certificate cannot be read",
			       r->rec->identity);
		goto out;
	}
	rc = parse_id(r->rec->key_id, &id, "record key_id", err);
	if (rc == P11E_OK)
		rc = p11e_token_public_key(r->token, &id, &pub, err);
	if (rc != P11E_OK)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), pub) != 1) {
		rc =
		    p11e_errf(err, P11E_FAIL,
			      "identity %s: the certificate from the CA is not for the token's key "
			      "%s; it was not written",
			      r->rec->identity, r->rec->key_id);
		goto out;
	}
	rc = p11e_token_store_cert(r->token, cert, &id, r->rec->label, err);
	if (rc == P11E_OK)
		crash_point("cert-written");
	for (int i = 0; rc == P11E_OK && i < sk_X509_num(chain); i++)
		rc = p11e_token_store_ca_cert(r->token, sk_X509_value(chain, i), err);
	/* The CSR is signed: a key the profile gives no signing use signs no
	 * more (repeating this after a crash is harmless). */
	if (rc == P11E_OK)
		rc = p11e_profile_token_usage(&r->profile, r->kt.kind, &usage, err);
	if (rc == P11E_OK && !(usage & P11E_USE_SIGN))
		rc = p11e_token_forbid_signing(r->token, &id, err);
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_STORED;
out:
	EVP_PKEY_free(pub);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

static p11e_rc step_finish(enroll_run *r, p11e_err *err)
{
	(void)err;
	r->rec->step = P11E_STEP_DONE;
	return P11E_OK;
}

/* The machine: the step that runs in each state. */
static p11e_rc (*const step_for[])(enroll_run *, p11e_err *) = {
    [P11E_STEP_NEW] = step_new,		  [P11E_STEP_KEY_PENDING] = step_key,
    [P11E_STEP_KEY_GENERATED] = step_csr, [P11E_STEP_CSR_BUILT] = step_submit,
    [P11E_STEP_SUBMITTED] = step_poll,	  [P11E_STEP_ISSUED] = step_store,
    [P11E_STEP_STORED] = step_finish,
};

/* A software key's own steps; the others (CSR, submit, poll, finish) are
 * shared and take the key from soft_key. */
static p11e_rc (*const software_step_for[P11E_STEP_DONE])(enroll_run *, p11e_err *) = {
    [P11E_STEP_NEW] = step_new_software,
    [P11E_STEP_KEY_PENDING] = step_key_software,
    [P11E_STEP_ISSUED] = step_store_software,
};

/* An archived key: the software steps, and the store step that ends on the
 * token. */
static p11e_rc (*const archived_step_for[P11E_STEP_DONE])(enroll_run *, p11e_err *) = {
    [P11E_STEP_NEW] = step_new_software,
    [P11E_STEP_KEY_PENDING] = step_key_software,
    [P11E_STEP_ISSUED] = step_store_archived,
};

/* Whether the step in this state does token work: in a batch, token work of
 * the workers takes turns (p11e_token_lock); CA work and saves overlap. */
static int uses_token(const enroll_run *r, p11e_step s)
{
	if (r->software)
		return 0;
	if (s == P11E_STEP_CSR_BUILT || s == P11E_STEP_SUBMITTED)
		return r->ca != NULL && p11e_ca_needs_requester(r->ca); /* signs with the key */
	return s != P11E_STEP_STORED;
}

static p11e_rc run_machine(enroll_run *r, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	while (r->rec->step != P11E_STEP_DONE &&
	       (r->p->stop_after == 0 || r->rec->step < r->p->stop_after)) {
		p11e_step before = r->rec->step;
		int lock = r->p->shared != NULL && uses_token(r, before);
		p11e_rc saved;

		if (lock)
			p11e_token_lock(r->token);
		if (r->archived && archived_step_for[before] != NULL)
			rc = archived_step_for[before](r, err);
		else if (r->software && software_step_for[before] != NULL)
			rc = software_step_for[before](r, err);
		else
			rc = step_for[before](r, err);
		if (lock)
			p11e_token_unlock(r->token);
		if (rc != P11E_OK && rc != P11E_PENDING)
			break;
		if (r->rec->step != before) {
			p11e_record_set(&r->rec->last_error, NULL, NULL);
			saved = save(r, err);
			if (saved != P11E_OK)
				return saved;
			crash_point(p11e_step_name(r->rec->step));
		}
		if (rc != P11E_OK)
			break;
	}
	return rc;
}

/* A rerun may omit the options, but must not contradict what the record was
 * started with. */
static p11e_rc check_same(const char *field, const char *given, const char *recorded,
			  const char *identity, p11e_err *err)
{
	if (given == NULL || recorded == NULL || strcmp(given, recorded) == 0)
		return P11E_OK;
	return p11e_errf(err, P11E_EXISTS,
			 "%s: identity %s was started with '%s', not '%s'; rerun without --%s to "
			 "resume, or remove its record to start over",
			 field, identity, recorded, given, field);
}

/* A profile names a person by address or a server by host: refuse the other
 * kind of identity before any key exists. */
static p11e_rc check_identity_kind(const p11e_profile *prof, const p11e_record *rec, p11e_err *err)
{
	int smime = (prof->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT)) != 0;

	if (smime && rec->dns_name != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "email: profile '%s' certifies an address; enroll with --email, "
				 "not --dns",
				 prof->name);
	if ((prof->purposes & P11E_PURPOSE_SERVER_AUTH) && rec->dns_name == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "dns: profile '%s' certifies a server; enroll with --dns HOST",
				 prof->name);
	return P11E_OK;
}

/* The key store: a new record takes --software or the profile's key_store;
 * a resumed one keeps what it was started with. A software key has no token
 * and gets its PFX path (absolute) and format recorded; until its first step
 * is done (nothing made yet) a rerun may still change them. */
static p11e_rc settle_key_store(enroll_run *r, int is_new, p11e_err *err)
{
	const p11e_enroll_params *p = r->p;
	p11e_record *rec = r->rec;
	int settled = !is_new && rec->step > P11E_STEP_NEW;
	char *out = NULL;
	p11e_rc rc = P11E_OK;

	if (is_new) {
		int soft_profile = strcmp(r->profile.key_store, "software") == 0;
		r->archived = p->archive && !soft_profile;
		r->software = p->software || soft_profile || r->archived;
	} else {
		r->archived = rec->key_store != NULL && strcmp(rec->key_store, "archived") == 0;
		r->software = r->archived ||
			      (rec->key_store != NULL && strcmp(rec->key_store, "software") == 0);
	}
	if (p->archive && !r->archived)
		return p11e_errf(err, is_new ? P11E_USAGE : P11E_EXISTS,
				 is_new
				     ? "archive: profile '%s' makes software keys; --archive is "
				       "for a key that goes onto a token"
				     : "archive: identity %s was started without --archive; rerun "
				       "without it to resume, or remove its record to start over",
				 is_new ? r->profile.name : rec->identity);
	if (r->archived) {
		if (p->software)
			return p11e_errf(err, is_new ? P11E_USAGE : P11E_EXISTS,
					 "software: identity %s is archived onto a token "
					 "(--archive); give no --software",
					 rec->identity);
		/* Escrowing a signing key would let others sign as its holder:
		 * only an encryption key is archived. */
		if (!(r->profile.purposes & P11E_PURPOSE_ENCRYPT))
			return p11e_errf(err, P11E_USAGE,
					 "archive: profile '%s' certifies no encryption; only "
					 "encryption keys are archived (smime-encrypt or smime)",
					 r->profile.name);
		if (is_new && p->token_uri == NULL)
			return p11e_errf(err, P11E_USAGE,
					 "archive: give the token's URI (pkcs11:token=...) the key "
					 "goes onto");
	}
	if (!r->software) {
		if (!is_new && p->software)
			return p11e_errf(err, P11E_EXISTS,
					 "software: identity %s was started with its key on the "
					 "token; rerun without --software to resume, or remove its "
					 "record to start over",
					 rec->identity);
		if (p->pfx_out != NULL || p->pfx_legacy)
			return p11e_errf(err, P11E_USAGE,
					 "%s: only for a software key (--software, or a profile "
					 "with key_store \"software\")",
					 p->pfx_out != NULL ? "out" : "pfx-legacy");
		if (is_new && p->token_uri == NULL)
			return p11e_errf(err, P11E_USAGE,
					 "token: give the token's URI (pkcs11:token=...), or "
					 "--software for a key delivered as a PKCS#12 file");
		return P11E_OK;
	}
	if (p->token_uri != NULL && !r->archived)
		return p11e_errf(err, P11E_USAGE,
				 "software: identity %s gets a software key (profile '%s'): give "
				 "no token URI",
				 rec->identity, r->profile.name);
	if (p->id_hex != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "id: a software or archived key's CKA_ID is the SHA-1 of its "
				 "public key; give no --id");
	if (settled && p->pfx_legacy &&
	    (rec->pfx_format == NULL || strcmp(rec->pfx_format, "legacy") != 0))
		return check_same("pfx-legacy", "legacy",
				  rec->pfx_format ? rec->pfx_format : "aes-256", rec->identity,
				  err);
	if (!is_new && p->pfx_out == NULL && (settled || !p->pfx_legacy))
		return P11E_OK;
	/* The PFX's path, absolute, so a rerun from elsewhere finds it. */
	if (p->pfx_out == NULL) {
		out = rec->pfx_path != NULL ? strdup(rec->pfx_path)
					    : p11e_soft_pfx_path(r->cfg->state_dir, rec->identity);
	} else if (p->pfx_out[0] == '\0') {
		return p11e_errf(err, P11E_USAGE, "out: an empty file name");
	} else if (p->pfx_out[0] == '/') {
		out = strdup(p->pfx_out);
	} else {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return p11e_errf(err, P11E_FAIL, "out: cannot resolve %s: %s", p->pfx_out,
					 strerror(errno));
		out = p11e_path_join(cwd, p->pfx_out);
	}
	if (out == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (settled) {
		rc = check_same("out", out, rec->pfx_path, rec->identity, err);
	} else if ((rc = p11e_record_set(&rec->key_store, r->archived ? "archived" : "software",
					 err)) == P11E_OK &&
		   (rc = p11e_record_set(&rec->pfx_path, out, err)) == P11E_OK &&
		   (p->pfx_legacy || rec->pfx_format == NULL)) {
		rc = p11e_record_set(&rec->pfx_format, p->pfx_legacy ? "legacy" : "aes-256", err);
	}
	/* The PFX's friendly name: --label, else the name, else the email (an
	 * archived key keeps the token path's label, the email). */
	if (rc == P11E_OK && is_new && p->label == NULL && !r->archived)
		rc = p11e_record_set(&rec->label, rec->name, err);
	free(out);
	return rc;
}

/* Loads or creates the record and settles profile, key type and CA. */
static p11e_rc prepare(enroll_run *r, p11e_err *err)
{
	const p11e_enroll_params *p = r->p;
	p11e_record *rec = r->rec;
	p11e_keytype given_kt;
	char *identity = NULL;
	p11e_rc rc;

	if (p->id_hex != NULL) {
		p11e_id ignored;
		rc = parse_id(p->id_hex, &ignored, "id", err);
		if (rc != P11E_OK)
			return rc;
	}
	/* One identity: a person by address, or a server by host name. */
	if (p->dns != NULL && p->email != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "dns: give --email for a person or --dns for a server, not both");
	if (p->dns != NULL && !p11e_dns_name_valid(p->dns))
		return p11e_errf(err, P11E_USAGE,
				 "dns: '%.100s' is not a host name like www.example.org", p->dns);
	if (p->dns == NULL && (p->email == NULL || !p11e_email_valid(p->email)))
		return p11e_errf(err, P11E_USAGE, "email: '%.100s' is not a valid address",
				 p->email != NULL ? p->email : "");
	identity = p11e_record_identity(p->dns != NULL ? p->dns : p->email);
	if (identity == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_record_load(r->cfg->state_dir, identity, rec, err);
	if (rc == P11E_NOT_FOUND) {
		rc = P11E_OK;
		memset(rec, 0, sizeof(*rec));
		rec->step = P11E_STEP_NEW;
		if (p11e_record_set(&rec->identity, identity, err) != P11E_OK ||
		    p11e_record_set(&rec->name, p->name ? p->name : identity, err) != P11E_OK ||
		    p11e_record_set(&rec->profile,
				    p->profile ? p->profile : r->cfg->default_profile,
				    err) != P11E_OK ||
		    p11e_record_set(&rec->ca, p->ca ? p->ca : r->cfg->default_ca, err) != P11E_OK ||
		    p11e_record_set(&rec->label, p->label ? p->label : identity, err) != P11E_OK ||
		    p11e_record_set(&rec->token_uri, p->token_uri, err) != P11E_OK ||
		    (p->dns != NULL && p11e_record_set(&rec->dns_name, identity, err) != P11E_OK))
			rc = P11E_FAIL;
	} else if (rc == P11E_OK) {
		r->persisted = 1;
		rc = check_same("profile", p->profile, rec->profile, identity, err);
		/* Until the CA has seen the request, the CA may still change (the
		 * CSR may have been made with `p11enroll csr` for a web form). */
		if (rc == P11E_OK && p->ca != NULL && rec->step < P11E_STEP_SUBMITTED)
			rc = p11e_record_set(&rec->ca, p->ca, err);
		else if (rc == P11E_OK)
			rc = check_same("ca", p->ca, rec->ca, identity, err);
		if (rc == P11E_OK && p->id_hex != NULL && rec->key_id != NULL) {
			p11e_id a, b;
			if (parse_id(p->id_hex, &a, "id", err) != P11E_OK ||
			    parse_id(rec->key_id, &b, "record key_id", err) != P11E_OK ||
			    a.len != b.len || memcmp(a.v, b.v, a.len) != 0)
				rc = check_same("id", p->id_hex, rec->key_id, identity, err);
		}
	}
	if (rc != P11E_OK)
		goto out;
	rc = p11e_config_profile(r->cfg, rec->profile, &r->profile, err);
	if (rc == P11E_OK)
		rc = settle_key_store(r, !r->persisted, err);
	if (rc != P11E_OK)
		goto out;
	if (rec->key_type == NULL) {
		rc = p11e_keytype_parse(p->key_type ? p->key_type : r->profile.default_key, &r->kt,
					err);
		if (rc == P11E_OK)
			rc = p11e_record_set(&rec->key_type, r->kt.name, err);
	} else {
		rc = p11e_keytype_parse(rec->key_type, &r->kt, err);
		if (rc == P11E_OK && p->key_type != NULL &&
		    p11e_keytype_parse(p->key_type, &given_kt, err) == P11E_OK)
			rc = check_same("key", given_kt.name, r->kt.name, identity, err);
	}
	if (rc == P11E_OK) {
		unsigned ignored;
		/* Refuse a profile the key cannot serve before any key exists. */
		rc = p11e_profile_key_usage(&r->profile, r->kt.kind, &ignored, err);
	}
	if (rc == P11E_OK)
		rc = check_identity_kind(&r->profile, rec, err);
out:
	free(identity);
	return rc;
}

/* The record's CA: the shared one when it was opened for the same spec;
 * else opened here, and left to the sharer when it has none yet. */
static p11e_rc open_ca(enroll_run *r, p11e_err *err)
{
	p11e_enroll_shared *shared = r->p->shared;
	struct json_object *ca_conf = NULL;
	p11e_rc rc;

	if (shared != NULL && shared->ca != NULL && shared->ca_spec != NULL &&
	    strcmp(shared->ca_spec, r->rec->ca) == 0) {
		r->ca = shared->ca;
		r->ca_shared = 1;
		return P11E_OK;
	}
	rc = p11e_config_ca(r->cfg, r->rec->ca, &ca_conf, err);
	if (rc == P11E_OK)
		rc = p11e_ca_open(ca_conf, &r->ca, err);
	json_object_put(ca_conf);
	if (rc != P11E_OK || shared == NULL || shared->ca != NULL)
		return rc;
	if ((shared->ca_spec = strdup(r->rec->ca)) != NULL) {
		shared->ca = r->ca;
		r->ca_shared = 1;
	}
	return P11E_OK;
}

static p11e_rc open_token_and_ca(enroll_run *r, p11e_err *err)
{
	p11e_enroll_shared *shared = r->p->shared;
	const p11e_token_info *info;
	p11e_session_params sp = {
	    .uri = r->p->token_uri ? r->p->token_uri : r->rec->token_uri,
	    .module = r->p->module,
	    .pin_source = r->p->pin_source,
	    .login = 1,
	};
	p11e_rc rc;

	/* The CA first: a missing CA key must stop us before a key is made.
	 * A run that stops before submitting needs no CA. */
	if (r->p->stop_after == 0 || r->p->stop_after >= P11E_STEP_SUBMITTED) {
		rc = open_ca(r, err);
		if (rc != P11E_OK)
			return rc;
	}
	if (r->software && r->rec->step == P11E_STEP_NEW) {
		/* Without a vault to escrow the password there is no software
		 * key: refused before the record is written. */
		p11e_vault *v = NULL;
		rc = p11e_vault_open(r->cfg, NULL, &v, err);
		p11e_vault_close(v);
		if (rc != P11E_OK)
			return rc;
	}
	/* A software key has no token; an archived one goes onto one. */
	if (r->software && !r->archived)
		return P11E_OK;
	if (shared != NULL && shared->token != NULL) {
		r->token = shared->token;
	} else {
		rc = p11e_session_open(r->cfg, &sp, &r->sess, err);
		if (rc != P11E_OK)
			return rc;
		r->token = r->sess.token;
	}
	info = p11e_token_get_info(r->token);
	if (r->rec->token_serial == NULL)
		return p11e_record_set(&r->rec->token_serial, info->serial, err);
	if (strcmp(r->rec->token_serial, info->serial) != 0)
		return p11e_errf(
		    err, P11E_TOKEN_NOT_FOUND,
		    "token: identity %s is being enrolled on the token with serial %s, "
		    "not %s ('%s'); insert that token",
		    r->rec->identity, r->rec->token_serial, info->serial, info->label);
	return P11E_OK;
}

p11e_rc p11e_enroll(const p11e_config *cfg, const p11e_enroll_params *p, p11e_record *rec,
		    p11e_err *err)
{
	enroll_run r;
	p11e_rc rc;

	memset(&r, 0, sizeof(r));
	memset(rec, 0, sizeof(*rec));
	r.cfg = cfg;
	r.p = p;
	r.rec = rec;
	rc = prepare(&r, err);
	if (rc != P11E_OK || rec->step == P11E_STEP_DONE ||
	    (p->stop_after != 0 && rec->step >= p->stop_after))
		goto out;
	rc = open_token_and_ca(&r, err);
	if (rc == P11E_OK && rec->step == P11E_STEP_NEW) {
		rc = save(&r, err);
		if (rc == P11E_OK)
			crash_point("new");
	}
	if (rc == P11E_OK)
		rc = run_machine(&r, err);
	if (rc != P11E_OK && rc != P11E_PENDING && r.persisted && err != NULL) {
		/* Keep the reason with the record for `p11enroll status`. */
		p11e_record_set(&rec->last_error, err->msg, NULL);
		save(&r, NULL);
	}
out:
	if (r.ca != NULL && !r.ca_shared)
		p11e_ca_close(r.ca);
	p11e_session_close(&r.sess);
	EVP_PKEY_free(r.skey);
	p11e_secret_free(r.pfx_pass, (size_t)-1);
	return rc;
}
