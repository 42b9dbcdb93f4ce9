/* The pipeline's steps for a software key: made in memory, delivered as a
 * PKCS#12 file whose password is escrowed in the vault. */
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
#include "p11enroll/store.h"
#include "p11enroll/util.h"
#include "core/pipeline_steps.h"

/* --- The software key store: the same machine, with the key made in
 * memory (software.h). Until its PFX exists the key is kept only as an
 * encrypted PKCS#8 file under its PFX password, which is escrowed in the
 * vault before that file is written and never stored in the state dir. A
 * run that did not make the key reads the password back from the vault
 * (the file vault: with --officer-key). --- */

/* The escrowed PFX password: made by this run, or fetched from the vault. */
p11e_rc pipe_soft_password(enroll_run *r, p11e_err *err)
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
	rc = p11e_soft_password_fetch(r->cfg, &vp, r->secret, &r->pfx_pass, &inner);
	if (rc != P11E_OK)
		return p11e_errf(err, rc,
				 "identity %s: resuming a software key needs its escrowed PFX "
				 "password: %s",
				 r->rec->identity, inner.msg);
	return P11E_OK;
}

/* The key from the PFX an earlier run wrote, opened with the password. */
static p11e_rc pipe_archived_pfx_key(enroll_run *r, p11e_err *err)
{
	char *data = NULL;
	size_t len = 0;
	p11e_rc rc = p11e_soft_pfx_read(r->cfg->store, r->rec->pfx_path, &data, &len, err);

	if (rc == P11E_OK)
		rc = p11e_pfx_open((unsigned char *)data, len, r->pfx_pass, &r->skey, NULL, NULL,
				   err);
	if (rc == P11E_OK && r->skey == NULL)
		rc = p11e_errf(err, P11E_FAIL, "%s holds no private key", r->rec->pfx_path);
	free(data); /* encrypted: nothing to wipe */
	return rc;
}

/* The key: made by this run, or read back from its encrypted file. */
p11e_rc pipe_soft_key(enroll_run *r, p11e_err *err)
{
	p11e_id id;
	char hex[2 * P11E_ID_MAX + 1];
	p11e_err inner = {0};
	p11e_rc rc;

	if (r->skey != NULL)
		return P11E_OK;
	if ((rc = pipe_soft_password(r, err)) != P11E_OK)
		return rc;
	rc = p11e_soft_key_load(r->cfg->store, r->secret, r->pfx_pass, &r->skey, &inner);
	/* An archived key whose PFX is written: its key file is gone, the PFX
	 * holds it (a rerun of the import). */
	if (rc == P11E_NOT_FOUND && r->archived && r->rec->step >= P11E_STEP_ISSUED) {
		int pfx = 0;
		p11e_soft_pfx_exists(r->cfg->store, r->rec->pfx_path, &pfx, &inner);
		if (pfx)
			rc = pipe_archived_pfx_key(r, &inner);
	}
	if (rc == P11E_NOT_FOUND)
		return p11e_errf(err, rc,
				 "identity %s: %s and no PFX holds the key yet; remove its record "
				 "to start over",
				 r->rec->identity, inner.msg);
	if (rc != P11E_OK)
		return p11e_errf(err, rc, "identity %s: %s", r->rec->identity, inner.msg);
	/* The very key the record was made for. */
	if (r->rec->key_id != NULL) {
		rc = pipe_public_key_id(r->skey, &id, err);
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
p11e_rc pipe_step_new_software(enroll_run *r, p11e_err *err)
{
	int escrowed = 0, key_left = 0, pfx_left = 0;
	p11e_rc rc;

	/* An archived key must fit its token: one that cannot make such keys
	 * is refused before anything is escrowed. */
	rc = r->archived ? p11e_token_check_keytype(r->token, &r->kt, err) : P11E_OK;
	if (rc == P11E_OK)
		rc = p11e_soft_escrowed(r->cfg, r->secret, &escrowed, err);
	if (rc == P11E_OK && escrowed)
		rc = p11e_errf(err, P11E_EXISTS,
			       "identity %s: the vault already holds a PFX password under '%s' "
			       "(from an earlier enrollment); an escrowed password is never "
			       "replaced: an escrow officer must retire that entry first",
			       r->rec->identity, r->secret);
	if (rc == P11E_OK)
		rc = p11e_soft_key_exists(r->cfg->store, r->secret, &key_left, err);
	if (rc == P11E_OK && key_left) {
		char where[400];

		rc = p11e_errf(err, P11E_EXISTS,
			       "identity %s: a key from an earlier enrollment is in the way (%s); "
			       "it was left alone",
			       r->rec->identity,
			       p11e_store_describe(r->cfg->store, "key", r->secret, where,
						   sizeof(where)));
	}
	if (rc == P11E_OK)
		rc = p11e_soft_pfx_exists(r->cfg->store, r->rec->pfx_path, &pfx_left, err);
	if (rc == P11E_OK && pfx_left && p11e_soft_pfx_stored(r->rec->pfx_path))
		rc = p11e_errf(err, P11E_EXISTS,
			       "identity %s: a PFX from an earlier enrollment is in the way (%s); "
			       "it was left alone",
			       r->rec->identity, r->rec->pfx_path);
	else if (rc == P11E_OK && pfx_left)
		rc = p11e_errf(err, P11E_EXISTS,
			       "out: %s already exists; it is never overwritten (choose another "
			       "--out)",
			       r->rec->pfx_path);
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_KEY_PENDING;
	return rc;
}

/* key-pending -> key-generated: password escrowed, then the key made and
 * written encrypted under it. A rerun takes whatever a stopped run left:
 * the key file (its key), or only the escrowed password (a key is made for
 * it). */
p11e_rc pipe_step_key_software(enroll_run *r, p11e_err *err)
{
	EVP_PKEY *key = NULL;
	p11e_id id;
	int escrowed = 0, key_left = 0;
	p11e_rc rc;

	if ((rc = p11e_soft_key_exists(r->cfg->store, r->secret, &key_left, err)) != P11E_OK)
		return rc;
	if (key_left) {
		rc = pipe_soft_key(r, err); /* written by a run that stopped */
	} else {
		rc = p11e_soft_escrowed(r->cfg, r->secret, &escrowed, err);
		if (rc == P11E_OK && escrowed) {
			rc = pipe_soft_password(r, err); /* escrowed by a run that stopped */
		} else if (rc == P11E_OK) {
			rc = p11e_soft_password_escrow(
			    r->cfg, r->secret, (size_t)r->profile.pfx_password_length,
			    r->profile.pfx_password_alphabet, &r->pfx_pass, err);
			if (rc == P11E_OK)
				pipe_crash_point("password-escrowed");
		}
		if (rc == P11E_OK)
			rc = p11e_soft_keygen(&r->kt, &key, err);
		if (rc == P11E_OK)
			rc = p11e_soft_key_save(r->cfg->store, r->secret, key, r->pfx_pass, err);
		if (rc == P11E_OK) {
			r->skey = key;
			key = NULL;
			pipe_crash_point("key-made");
		}
	}
	if (rc == P11E_OK)
		rc = pipe_public_key_id(r->skey, &id, err);
	if (rc == P11E_OK)
		rc = pipe_set_hex(&r->rec->key_id, &id, err);
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_KEY_GENERATED;
	EVP_PKEY_free(key);
	return rc;
}

/* issued -> stored: the PFX (key, certificate, chain, friendly name) written
 * 0600 and never over another file, read back and opened with the escrowed
 * password; only then is the key file deleted. A PFX a stopped run wrote is
 * taken if it passes the same check. */
p11e_rc pipe_step_store_software(enroll_run *r, p11e_err *err)
{
	X509 *cert = p11e_x509_from_pem(r->rec->cert_pem);
	STACK_OF(X509) *chain = p11e_chain_from_pem(r->rec->chain_pem);
	char *data = NULL;
	unsigned char *der = NULL;
	size_t der_len = 0, len = 0;
	p11e_pfx_format fmt = P11E_PFX_AES256;
	int wrote = 0;
	p11e_err inner = {0};
	p11e_rc rc;

	if (cert == NULL || chain == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "identity %s: the saved certificate cannot be read",
			       r->rec->identity);
		goto out;
	}
	if (r->rec->pfx_format != NULL && p11e_pfx_format_parse(r->rec->pfx_format, &fmt) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "identity %s: record pfx_format '%.40s' is unknown",
			       r->rec->identity, r->rec->pfx_format);
		goto out;
	}
	if ((rc = pipe_soft_password(r, err)) != P11E_OK)
		goto out;
	rc = p11e_soft_pfx_read(r->cfg->store, r->rec->pfx_path, &data, &len, err);
	if (rc == P11E_NOT_FOUND) {
		rc = pipe_soft_key(r, err);
		if (rc == P11E_OK && EVP_PKEY_eq(X509_get0_pubkey(cert), r->skey) != 1)
			rc =
			    p11e_errf(err, P11E_FAIL,
				      "identity %s: the certificate from the CA is not for its key "
				      "%s; no PFX was written",
				      r->rec->identity, r->rec->key_id);
		if (rc == P11E_OK)
			rc = p11e_pfx_build(r->skey, cert, chain, r->rec->label, r->pfx_pass, fmt,
					    &der, &der_len, err);
		if (rc == P11E_OK)
			rc = p11e_soft_pfx_write_new(r->cfg->store, r->rec->pfx_path, der,
						     der_len, err);
		if (rc == P11E_OK) {
			wrote = 1;
			pipe_crash_point("pfx-written");
			/* Check what is on disk, not what was meant to be. */
			rc = p11e_soft_pfx_read(r->cfg->store, r->rec->pfx_path, &data, &len,
						err);
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
	/* The certificate's dates beside the escrowed password (issue 12);
	 * before the key file goes, so a rerun after a crash sets them again. */
	rc = p11e_soft_escrow_meta(r->cfg, r->secret, cert, err);
	if (rc == P11E_OK) {
		pipe_crash_point("escrow-meta");
		rc = p11e_soft_key_remove(r->cfg->store, r->secret, err);
	}
	if (rc == P11E_OK) {
		pipe_crash_point("key-deleted");
		/* An archived key goes on to the token first (pipe_step_store_archived). */
		if (!r->archived)
			r->rec->step = P11E_STEP_STORED;
	}
out:
	OPENSSL_free(der);
	free(data); /* the PFX is encrypted: nothing to wipe */
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
