/* Archived keys onto tokens: the import the enrollment of an archived key
 * ends with, and `p11enroll recover` (see include/p11enroll/recover.h). */
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include "p11enroll/audit.h"
#include "p11enroll/card.h"
#include "p11enroll/lock.h"
#include "p11enroll/pem.h"
#include "p11enroll/pkcs12.h"
#include "p11enroll/record.h"
#include "p11enroll/recover.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"
#include "p11enroll/software.h"

#define PFX_MAX (1 << 20)

/* What the token key may do: what its certificate allows, no more (the CA
 * issued it after the profile, and p11enroll checked that it did). */
static unsigned cert_usage(X509 *cert)
{
	uint32_t ku = X509_get_key_usage(cert);
	unsigned use = 0;

	if (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))
		use |= P11E_USE_SIGN;
	if (ku & (KU_KEY_ENCIPHERMENT | KU_DATA_ENCIPHERMENT))
		use |= P11E_USE_DECRYPT;
	if (ku & KU_KEY_AGREEMENT)
		use |= P11E_USE_DERIVE;
	return use;
}

p11e_rc p11e_archive_import(p11e_token *t, EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
			    const char *label, void (*after)(const char *point), int *already,
			    p11e_id *id_out, p11e_err *err)
{
	unsigned use = cert_usage(cert);
	unsigned int md_len = 0;
	p11e_id id;
	size_t priv = 0, pub = 0, certs = 0;
	EVP_PKEY *there = NULL;
	char hex[2 * P11E_ID_MAX + 1];
	p11e_rc rc;

	if (already != NULL)
		*already = 0;
	if (X509_check_private_key(cert, key) != 1)
		return p11e_errf_ssl(err, P11E_FAIL,
				     "archive: the certificate is not for this key");
	/* SHA-1 of the subjectPublicKey bits: as the token path's CKA_ID. */
	if (X509_pubkey_digest(cert, EVP_sha1(), id.v, &md_len) != 1)
		return p11e_errf_ssl(err, P11E_FAIL, "archive: cannot hash the public key");
	id.len = md_len;
	p11e_hex_encode(id.v, id.len, hex);
	if (id_out != NULL)
		*id_out = id;
	rc = p11e_token_count(t, 3 /* CKO_PRIVATE_KEY */, &id, &priv, err);
	if (rc == P11E_OK)
		rc = p11e_token_count(t, 2 /* CKO_PUBLIC_KEY */, &id, &pub, err);
	if (rc == P11E_OK)
		rc = p11e_token_count(t, 1 /* CKO_CERTIFICATE */, &id, &certs, err);
	if (rc != P11E_OK)
		return rc;
	if (priv > 1 || pub > 1)
		return p11e_errf(err, P11E_EXISTS,
				 "archive: token '%s' holds %zu private and %zu public keys under "
				 "ID %s; expected at most one of each. Inspect with pkcs11-tool -O",
				 p11e_token_get_info(t)->label, priv, pub, hex);
	/* The ID names the public key, but a public key object is checked by
	 * value before anything is added beside it. */
	if (pub == 1) {
		rc = p11e_token_public_key(t, &id, &there, err);
		if (rc == P11E_OK && EVP_PKEY_eq(there, key) != 1)
			rc = p11e_errf(err, P11E_EXISTS,
				       "archive: token '%s' holds another public key under ID %s; "
				       "nothing was imported",
				       p11e_token_get_info(t)->label, hex);
		EVP_PKEY_free(there);
		if (rc != P11E_OK)
			return rc;
	}
	if (already != NULL)
		*already = priv == 1 && pub == 1 && certs == 1;
	if (priv == 0) {
		rc = p11e_token_import_private_key(t, key, &id, label, use, err);
		if (rc != P11E_OK)
			return rc;
		if (after != NULL)
			after("private-key-imported");
	}
	if (pub == 0) {
		rc = p11e_token_import_public_key(t, key, &id, label, use, err);
		if (rc != P11E_OK)
			return rc;
		if (after != NULL)
			after("key-imported");
	}
	rc = p11e_token_store_cert(t, cert, &id, label, err);
	if (rc == P11E_OK && after != NULL)
		after("cert-written");
	for (int i = 0; rc == P11E_OK && chain != NULL && i < sk_X509_num(chain); i++)
		rc = p11e_token_store_ca_cert(t, sk_X509_value(chain, i), err);
	return rc;
}

/* The PFX's password from the vault, and who read it (for the audit log). */
static p11e_rc fetch_password(const p11e_config *cfg, const p11e_recover_params *p,
			      const char *identity, char **pw, size_t *pw_len, char **reader,
			      p11e_err *err)
{
	p11e_vault_open_params vp = {
	    .officer_key = p->officer_key,
	    .officer_pin_source = p->officer_pin_source,
	    .module = p->module,
	};
	p11e_vault *v = NULL;
	p11e_rc rc;

	rc = p11e_vault_open(cfg, &vp, &v, err);
	if (rc == P11E_OK)
		rc = p11e_vault_get(v, identity, (unsigned char **)pw, pw_len, err);
	if (rc == P11E_OK && p11e_vault_reader(v) != NULL)
		*reader = strdup(p11e_vault_reader(v));
	p11e_vault_close(v);
	return rc;
}

/* The record of an identity whose key was archived (or made in software),
 * showing the generation asked for (0: the current one). */
static p11e_rc archived_record(const p11e_config *cfg, const char *identity, int generation,
			       p11e_record *rec, p11e_err *err)
{
	p11e_err inner = {0};
	p11e_rc rc = p11e_record_load(cfg->store, identity, rec, &inner);

	if (rc == P11E_OK && generation > 0 &&
	    p11e_record_select_generation(rec, generation, &inner) != P11E_OK)
		return p11e_errf(err, P11E_NOT_FOUND, "%s", inner.msg);

	if (rc == P11E_NOT_FOUND)
		return p11e_errf(err, rc,
				 "identity %s: no enrollment record in %s; nothing was archived "
				 "for it here",
				 identity, cfg->state_dir);
	if (rc != P11E_OK)
		return p11e_errf(err, rc, "%s", inner.msg);
	if (rec->key_store == NULL ||
	    (strcmp(rec->key_store, "archived") != 0 && strcmp(rec->key_store, "software") != 0))
		return p11e_errf(err, P11E_NOT_FOUND,
				 "identity %s: its key was made on the token and never archived; "
				 "there is nothing to recover",
				 identity);
	if (rec->step < P11E_STEP_STORED || rec->pfx_path == NULL || rec->cert_sha256 == NULL)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "identity %s: its enrollment stopped at step %s, before its PFX "
				 "was written; finish it with `p11enroll enroll` first",
				 identity, p11e_step_name(rec->step));
	return P11E_OK;
}

p11e_rc p11e_recover(const p11e_config *cfg, const p11e_recover_params *p, p11e_recover_result *res,
		     p11e_err *err)
{
	p11e_session_params sp = {
	    .uri = p->token_uri,
	    .module = p->module,
	    .pin_source = p->pin_source,
	    .login = 1,
	};
	p11e_session sess = {0};
	p11e_token *token = NULL;
	p11e_record rec = {0};
	char *secret = NULL;
	char *identity = NULL, *pw = NULL, *reader = NULL, *data = NULL, *logged_key = NULL;
	size_t pw_len = 0, len = 0;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	const char *pfx_path;
	char fp[65];
	p11e_id id;
	p11e_err audit_err = {0};
	p11e_lock lock = P11E_LOCK_INIT;
	p11e_rc rc;

	memset(res, 0, sizeof(*res));
	if (p->identity == NULL || p->identity[0] == '\0' ||
	    (identity = p11e_record_identity(p->identity)) == NULL)
		return p11e_errf(err, P11E_USAGE, "recover: give the IDENTITY (address or host)");
	snprintf(res->identity, sizeof(res->identity), "%s", identity);
	/* As `escrow show`: a URI's query may carry a PIN; the log gets the
	 * path part only. */
	if (p->officer_key != NULL && (logged_key = strdup(p->officer_key)) != NULL &&
	    strncmp(logged_key, "pkcs11:", 7) == 0 && strchr(logged_key, '?') != NULL)
		*strchr(logged_key, '?') = '\0';
	/* Not beside a run of the identity (an enroll storing its PFX). */
	rc = p->lock_held ? P11E_OK
			  : p11e_lock_acquire(cfg->store, "identity", identity,
					      P11E_LOCK_WAIT_DEFAULT_MS, &lock, err);
	if (rc == P11E_OK)
		rc = archived_record(cfg, identity, p->generation, &rec, err);
	/* Each generation's password under its own vault entry. */
	if (rc == P11E_OK &&
	    (secret = p11e_record_secret_name(identity, p11e_record_generation(&rec))) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	if (rc != P11E_OK)
		goto audit;
	pfx_path = p->pfx_path != NULL ? p->pfx_path : rec.pfx_path;
	/* --pfx FILE is a file; the record's may be a document of the store. */
	rc = p->pfx_path != NULL ? p11e_read_file(pfx_path, PFX_MAX, &data, &len, err)
				 : p11e_soft_pfx_read(cfg->store, pfx_path, &data, &len, err);
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(err, rc,
			       "identity %s: its PFX %s is gone; give a copy with --pfx FILE",
			       identity, pfx_path);
	if (rc != P11E_OK)
		goto audit;
	rc = fetch_password(cfg, p, secret, &pw, &pw_len, &reader, err);
	if (rc == P11E_OK)
		rc = p11e_pfx_open((unsigned char *)data, len, pw, &key, &cert, &chain, err);
	p11e_secret_free(pw, pw_len);
	pw = NULL;
	/* Not a PIN (exit 3 would say so): another identity's file. */
	if (rc == P11E_PIN_INCORRECT)
		rc = p11e_errf(err, P11E_FAIL,
			       "identity %s: its escrowed password does not open %s: not this "
			       "identity's PFX; nothing was imported",
			       identity, pfx_path);
	if (rc != P11E_OK)
		goto audit;
	if (key == NULL || cert == NULL || p11e_x509_sha256_hex(cert, fp) != 0 ||
	    strcmp(fp, rec.cert_sha256) != 0) {
		rc =
		    p11e_errf(err, P11E_FAIL,
			      "identity %s: %s does not hold the recorded certificate and its key; "
			      "nothing was imported",
			      identity, pfx_path);
		goto audit;
	}
	token = p->token;
	if (token == NULL && (rc = p11e_session_open(cfg, &sp, &sess, err)) == P11E_OK)
		token = sess.token;
	if (rc == P11E_OK) {
		snprintf(res->token_label, sizeof(res->token_label), "%s",
			 p11e_token_get_info(token)->label);
		snprintf(res->token_serial, sizeof(res->token_serial), "%s",
			 p11e_token_get_info(token)->serial);
		/* A card the registry took out of service takes no key, as
		 * for an enrollment (card_enroll.c); a caller that opened the
		 * token itself (replace, a temporary card) checked it. */
		if (p->token == NULL)
			rc = p11e_card_enroll_check(cfg, res->token_serial, NULL, err);
	}
audit:;
	/* The record first: a key goes onto a token only once it is logged. */
	{
		const char *extra[] = {
		    "token",	   res->token_serial[0] ? res->token_serial : NULL,
		    "token_label", res->token_label[0] ? res->token_label : NULL,
		    "officer",	   reader,
		    "officer_key", logged_key,
		    "stage",	   rc == P11E_OK ? "importing" : NULL,
		    NULL};
		if (p11e_audit_write(cfg, "recover", identity, extra, rc, err, &audit_err) !=
			P11E_OK &&
		    rc == P11E_OK)
			rc = p11e_errf(err, P11E_FAIL, "%s; nothing was imported", audit_err.msg);
		if (rc != P11E_OK)
			goto out;
	}
	rc = p11e_archive_import(token, key, cert, chain,
				 p->label    ? p->label
				 : rec.label ? rec.label
					     : identity,
				 NULL, &res->already, &id, err);
	EVP_PKEY_free(key); /* the key material: gone as soon as it is on the token */
	key = NULL;
	if (rc == P11E_OK)
		p11e_hex_encode(id.v, id.len, res->key_id);
	{
		const char *extra[] = {
		    "token",
		    res->token_serial,
		    "token_label",
		    res->token_label,
		    "key_id",
		    rc == P11E_OK ? res->key_id : NULL,
		    "stage",
		    rc == P11E_OK ? (res->already ? "already-there" : "imported") : "import-failed",
		    NULL};
		if (p11e_audit_write(cfg, "recover", identity, extra, rc, err, &audit_err) !=
		    P11E_OK)
			/* The key is on the token; the log misses only its outcome. */
			rc = rc != P11E_OK
				 ? rc
				 : p11e_errf(err, P11E_FAIL,
					     "%s; the key was imported, but its audit record "
					     "is missing",
					     audit_err.msg);
	}
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	p11e_session_close(&sess);
	p11e_record_clear(&rec);
	free(data); /* the PFX is encrypted: nothing to wipe */
	free(reader);
	free(logged_key);
	free(secret);
	p11e_lock_release(&lock);
	free(identity);
	return rc;
}
