/* Keys for a card's key slot (--slot-id, --piv-slot, a profile's slot_id):
 * what steps_token.c does differently for a record with slot_id. Two kinds of
 * token, told apart by use (docs/tokens.md, "Fixed-slot cards"):
 *
 *  free:  any CKA_ID goes (SoftHSM). The key is made under temp_id like any
 *         other, and moved into the slot only once its certificate is stored:
 *         the slot's old key and certificate are destroyed just before
 *         (slot_phase "clearing", then "moving"), so a CA that fails leaves the
 *         old identity whole.
 *  fixed: a card that makes keys only in its slots (it refused a key under
 *         temp_id), or one that cannot move a key (CKA_ID read-only). The key
 *         is made in the slot, which replaces the old one; what was there was
 *         recorded at step new (slot_old_key_sha256), so a rerun tells the new
 *         key from the old and never makes a second one. The old certificate
 *         goes when the new one is stored. */
#include <string.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include "p11enroll/util.h"
#include "core/pipeline_steps.h"

int pipe_slot_fixed(const enroll_run *r)
{
	return r->rec->slot_id != NULL && r->rec->slot_kind != NULL &&
	       strcmp(r->rec->slot_kind, "fixed") == 0;
}

static void sha256_hex(const unsigned char *der, int len, char hex[2 * SHA256_DIGEST_LENGTH + 1])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(der, (size_t)len, md);
	p11e_hex_encode(md, sizeof(md), hex);
}

/* SHA-256 of the SPKI of the key in the slot: its public key object, else the
 * public key of its certificate (a card may keep no public key object).
 * hex "" if there is neither. */
static p11e_rc slot_key_sha256(enroll_run *r, const p11e_id *slot, char *hex, p11e_err *err)
{
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	unsigned char *der = NULL;
	int len = 0;
	p11e_err none = {0};
	p11e_rc rc = p11e_token_public_key(r->token, slot, &pkey, &none);

	hex[0] = '\0';
	if (rc == P11E_NOT_FOUND && p11e_token_find_cert(r->token, slot, &cert, &none) == P11E_OK)
		rc = P11E_OK;
	if (rc == P11E_NOT_FOUND)
		return P11E_OK;
	if (rc != P11E_OK) {
		*err = none;
		return rc;
	}
	len = i2d_PUBKEY(pkey != NULL ? pkey : X509_get0_pubkey(cert), &der);
	if (len <= 0)
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the public key in the slot");
	else
		sha256_hex(der, len, hex);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	X509_free(cert);
	return rc;
}

static p11e_rc clear_slot(p11e_record *rec, p11e_err *err)
{
	char **fields[] = {&rec->slot_id, &rec->slot_kind, &rec->slot_old_key_sha256,
			   &rec->slot_old_cert_sha256, &rec->slot_phase};
	p11e_rc rc = P11E_OK;

	for (size_t i = 0; rc == P11E_OK && i < sizeof(fields) / sizeof(fields[0]); i++)
		rc = p11e_record_set(fields[i], NULL, err);
	return rc;
}

/* Step new: an occupied slot only with --replace, and then what is there is
 * recorded before anything is made. */
p11e_rc pipe_slot_new(enroll_run *r, const char *slot_hex, p11e_err *err)
{
	char key_hex[2 * SHA256_DIGEST_LENGTH + 1] = "",
						cert_hex[2 * SHA256_DIGEST_LENGTH + 1] = "";
	size_t priv = 0, pub = 0, certs = 0;
	X509 *cert = NULL;
	p11e_id slot;
	p11e_rc rc;

	if (slot_hex == NULL) /* a record started over without a slot */
		return clear_slot(r->rec, err);
	rc = pipe_parse_id(slot_hex, &slot, "slot-id", err);
	if (rc == P11E_OK)
		rc = pipe_count_key(r, &slot, &priv, &pub, err);
	if (rc == P11E_OK)
		rc = p11e_token_count(r->token, 1 /* CKO_CERTIFICATE */, &slot, &certs, err);
	if (rc != P11E_OK)
		return rc;
	if (priv + pub + certs > 0 && !r->p->replace)
		return p11e_errf(err, P11E_EXISTS,
				 "slot-id: the token's slot %s already holds %zu key(s) and %zu "
				 "certificate(s); give --replace to replace them (nothing was "
				 "changed)",
				 slot_hex, priv, certs);
	if (priv + pub + certs > 0)
		rc = slot_key_sha256(r, &slot, key_hex, err);
	if (rc == P11E_OK && certs > 0 &&
	    p11e_token_find_cert(r->token, &slot, &cert, err) == P11E_OK) {
		unsigned char *der = NULL;
		int len = i2d_X509(cert, &der);
		if (len > 0)
			sha256_hex(der, len, cert_hex);
		OPENSSL_free(der);
		X509_free(cert);
	}
	if (rc == P11E_OK)
		rc = pipe_set_hex(&r->rec->slot_id, &slot, err);
	if (rc == P11E_OK)
		rc =
		    p11e_record_set(&r->rec->slot_old_key_sha256, key_hex[0] ? key_hex : NULL, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->slot_old_cert_sha256, cert_hex[0] ? cert_hex : NULL,
				     err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->slot_kind, NULL, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->slot_phase, NULL, err);
	return rc;
}

/* Step key on a fixed-slot card: the key is made in the slot unless the slot
 * already holds a whole pair that is not the one recorded as old. */
static p11e_rc fixed_slot_key(enroll_run *r, p11e_err *err)
{
	char now[2 * SHA256_DIGEST_LENGTH + 1];
	size_t priv = 0, pub = 0, gone = 0;
	int whole = 0;
	p11e_id slot;
	p11e_rc rc = pipe_parse_id(r->rec->slot_id, &slot, "record slot_id", err);

	if (rc == P11E_OK)
		rc = pipe_count_key(r, &slot, &priv, &pub, err);
	if (rc == P11E_OK && priv == 1 && pub == 1)
		rc = p11e_token_key_pair_whole(r->token, &slot, &whole, err);
	if (rc == P11E_OK && whole)
		rc = slot_key_sha256(r, &slot, now, err);
	if (rc != P11E_OK)
		return rc;
	if (whole &&
	    (r->rec->slot_old_key_sha256 == NULL || strcmp(now, r->rec->slot_old_key_sha256) != 0))
		return p11e_record_set(&r->rec->key_id, r->rec->slot_id, err); /* made already */
	/* The old key (recorded at step new, to be replaced), or half a pair a
	 * kill left. A card's key generation overwrites the slot anyway; a token
	 * that would keep both gets its old halves removed first. */
	if (priv + pub > 0) {
		rc = p11e_token_destroy(r->token, 3 /* CKO_PRIVATE_KEY */, &slot, &gone, err);
		if (rc == P11E_OK)
			rc =
			    p11e_token_destroy(r->token, 2 /* CKO_PUBLIC_KEY */, &slot, &gone, err);
		if (rc != P11E_OK)
			return rc;
		pipe_crash_point("old-key-removed");
	}
	rc = pipe_token_generate(r, &slot, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->key_id, r->rec->slot_id, err);
	return rc;
}

p11e_rc pipe_slot_key(enroll_run *r, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	if (!pipe_slot_fixed(r)) {
		/* Recorded before the key is made in the slot: from now on a rerun
		 * looks there, and only there. */
		p11e_token_note_fixed_slots(r->token);
		rc = p11e_record_set(&r->rec->slot_kind, "fixed", err);
		if (rc == P11E_OK)
			rc = p11e_record_set(&r->rec->temp_id, r->rec->slot_id, err);
		if (rc == P11E_OK)
			rc = p11e_record_set(&r->rec->key_id, NULL, err);
		if (rc == P11E_OK)
			rc = pipe_save(r, err);
		if (rc != P11E_OK)
			return rc;
		pipe_crash_point("slot-recorded");
	}
	return fixed_slot_key(r, err);
}

/* Step store on a fixed-slot card, before the new certificate is written:
 * every other certificate in the slot (the old one) goes. */
p11e_rc pipe_slot_drop_old_cert(enroll_run *r, X509 *cert, p11e_err *err)
{
	size_t gone = 0;
	p11e_id slot;
	p11e_rc rc = pipe_parse_id(r->rec->slot_id, &slot, "record slot_id", err);

	if (rc == P11E_OK)
		rc = p11e_token_destroy_certs_except(r->token, &slot, cert, &gone, err);
	if (rc == P11E_OK && gone > 0)
		pipe_crash_point("old-cert-removed");
	return rc;
}

/* Step store on a free token, once the new certificate is stored beside its
 * key under temp_id: the slot's old objects go ("clearing"), then the new key
 * and certificate move in ("moving"). Each phase is saved before it starts,
 * so a rerun finishes it: nothing of ours is in the slot while clearing, and
 * nothing old while moving. */
p11e_rc pipe_slot_move(enroll_run *r, p11e_err *err)
{
	size_t gone = 0;
	p11e_id slot, temp;
	p11e_rc rc = pipe_parse_id(r->rec->slot_id, &slot, "record slot_id", err);

	if (rc == P11E_OK)
		rc = pipe_parse_id(r->rec->temp_id, &temp, "record temp_id", err);
	if (rc == P11E_OK && r->rec->slot_phase == NULL) {
		rc = p11e_record_set(&r->rec->slot_phase, "clearing", err);
		if (rc == P11E_OK)
			rc = pipe_save(r, err);
	}
	if (rc != P11E_OK)
		return rc;
	if (strcmp(r->rec->slot_phase, "clearing") == 0) {
		rc = p11e_token_destroy(r->token, 3 /* CKO_PRIVATE_KEY */, &slot, &gone, err);
		if (rc == P11E_OK)
			rc =
			    p11e_token_destroy(r->token, 2 /* CKO_PUBLIC_KEY */, &slot, &gone, err);
		if (rc == P11E_OK)
			rc = p11e_token_destroy_certs_except(r->token, &slot, NULL, &gone, err);
		if (rc == P11E_OK) {
			pipe_crash_point("slot-cleared");
			rc = p11e_record_set(&r->rec->slot_phase, "moving", err);
		}
		if (rc == P11E_OK)
			rc = pipe_save(r, err);
		if (rc != P11E_OK)
			return rc;
	}
	rc = p11e_token_set_id(r->token, &temp, &slot, err);
	if (rc == P11E_OK) {
		pipe_crash_point("slot-moved");
		rc = p11e_record_set(&r->rec->key_id, r->rec->slot_id, err);
	}
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->slot_phase, NULL, err);
	return rc;
}
