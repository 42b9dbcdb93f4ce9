/* The pipeline's steps for a key made on the token: new (choose the CKA_ID),
 * key (generate under a temporary ID, then rename it to its final one) and
 * store (the certificate and chain onto the token). */
#include <errno.h>
#include <stdio.h>
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
#include "p11enroll/lock.h"
#include "p11enroll/pem.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/pkcs12.h"
#include "p11enroll/recover.h"
#include "p11enroll/session.h"
#include "p11enroll/software.h"
#include "p11enroll/util.h"
#include "core/pipeline_logon.h"
#include "core/pipeline_steps.h"

/* new -> key-pending: choose the CKA_ID the key is generated under and
 * record it before anything touches the token. */
p11e_rc pipe_step_new(enroll_run *r, p11e_err *err)
{
	p11e_id id;
	size_t priv = 0, pub = 0, certs = 0;
	p11e_rc rc;

	const char *slot = r->p->slot_id_hex;

	rc = p11e_token_check_keytype(r->token, &r->kt, err);
	if (rc != P11E_OK)
		return rc;
	/* A profile's slot, unless the command line names the key's ID. */
	if (slot == NULL && r->p->id_hex == NULL && r->profile.slot_id[0] != '\0')
		slot = r->profile.slot_id;
	/* A logon key where Windows and OpenSC look for it: PIV 9a. */
	if (slot == NULL && r->p->id_hex == NULL)
		slot = pipe_logon_default_slot(r);
	if ((rc = pipe_slot_new(r, slot, err)) != P11E_OK)
		return rc;
	if (r->p->id_hex != NULL) {
		rc = pipe_parse_id(r->p->id_hex, &id, "id", err);
		if (rc == P11E_OK)
			rc = pipe_count_key(r, &id, &priv, &pub, err);
		if (rc == P11E_OK)
			rc = p11e_token_count(r->token, 1 /* CKO_CERTIFICATE */, &id, &certs, err);
		if (rc != P11E_OK)
			return rc;
		if (priv + pub + certs > 0)
			return p11e_errf(err, P11E_EXISTS,
					 "id: the token already has objects with CKA_ID %s; choose "
					 "another --id (nothing was overwritten)",
					 r->p->id_hex);
		rc = pipe_set_hex(&r->rec->key_id, &id, err);
	} else {
		/* A random temporary ID: the final one (a hash of the public key)
		 * is only known after generation. */
		id.len = 16;
		if (RAND_bytes(id.v, (int)id.len) != 1)
			return p11e_errf_ssl(err, P11E_FAIL, "cannot draw a random key ID");
	}
	if (rc == P11E_OK)
		rc = pipe_set_hex(&r->rec->temp_id, &id, err);
	if (rc == P11E_OK) {
		r->rec->step = P11E_STEP_KEY_PENDING;
		r->chose_id = 1;
	}
	return rc;
}

/* Test builds only: P11ENROLL_TEST_PAUSE_MS holds the run for that long in
 * each window between two token actions (a key made, renamed, a certificate
 * written), so the kill tests (tests/integration/batch_kill.sh) land there
 * and the signal tests have rows in flight. */
static void test_pause(void)
{
#ifdef P11ENROLL_TEST_HOOKS
	const char *ms = getenv("P11ENROLL_TEST_PAUSE_MS");
	if (ms != NULL && atoi(ms) > 0)
		usleep((useconds_t)atoi(ms) * 1000);
#endif
}

/* Generates the key pair under temp (the usages of the profile, and always
 * signing: every key signs its own CSR as proof of possession). */
p11e_rc pipe_token_generate(enroll_run *r, const p11e_id *temp, p11e_err *err)
{
	unsigned usage = 0;
	p11e_rc rc = p11e_profile_token_usage(&r->profile, r->kt.kind, &usage, err);

	/* SCEP encrypts the CA's answer to the key being certified (RSA). */
	if (rc == P11E_OK && r->ca != NULL && p11e_ca_needs_requester(r->ca))
		usage |= P11E_USE_DECRYPT;
	/* An encryption-only key loses CKA_SIGN once certified (pipe_step_store). */
	if (rc == P11E_OK)
		rc = p11e_token_generate_keypair(r->token, &r->kt, temp, r->rec->label,
						 usage | P11E_USE_SIGN, err);
	if (rc == P11E_OK) {
		pipe_crash_point("key-made");
		test_pause();
	}
	return rc;
}

/* Before the final ID is recorded, whatever is under the temporary one is a
 * key this identity's own runs made (new checked that the ID was free; the
 * identity's lock keeps every other run out). A kill inside
 * C_GenerateKeyPair can leave half of it: one half alone, both with a half
 * that never got its key (p11e_token_key_pair_whole), or more than one of a
 * half. That half-made pair is deleted and made again, which is safe because
 * no certificate, CSR or record names it yet. *ready: a whole pair is there. */
static p11e_rc settle_temp_key(enroll_run *r, const p11e_id *temp, size_t priv, size_t pub,
			       int *ready, p11e_err *err)
{
	size_t gone = 0;
	int whole = 0;
	p11e_rc rc = P11E_OK;

	*ready = 0;
	if (priv == 1 && pub == 1) {
		rc = p11e_token_key_pair_whole(r->token, temp, &whole, err);
		if (rc != P11E_OK || whole) {
			*ready = whole;
			return rc;
		}
	}
	if (priv + pub == 0)
		return P11E_OK;
	rc = p11e_token_destroy(r->token, 3 /* CKO_PRIVATE_KEY */, temp, &gone, err);
	if (rc == P11E_OK)
		rc = p11e_token_destroy(r->token, 2 /* CKO_PUBLIC_KEY */, temp, &gone, err);
	return rc;
}

/* Moves the key pair from temp to final. A token that does not change
 * CKA_ID (a card whose IDs are fixed at generation: p11e_token_set_id says
 * P11E_UNSUPPORTED and leaves everything under temp) keeps it where it was
 * made: key_id becomes temp_id, and the record says why. Nothing else needs
 * a change of the key (no CKA_LABEL is ever changed either), and a crash
 * before that is saved is met again here: the recorded final ID finds
 * nothing, the rename is refused again. */
static p11e_rc move_key(enroll_run *r, const p11e_id *temp, const p11e_id *final, p11e_err *err)
{
	p11e_err refused = {0};
	p11e_rc rc = p11e_token_set_id(r->token, temp, final, &refused);

	if (rc != P11E_UNSUPPORTED) {
		if (rc != P11E_OK)
			*err = refused;
		return rc;
	}
	rc = p11e_record_set(&r->rec->key_id, r->rec->temp_id, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->key_id_note, refused.msg, err);
	return rc;
}

/* The CSR signed before the rename (pipe_step_key) goes to the CA only
 * once the rename has finished. Anything still under the temporary ID, or a
 * key that lost its ID on the way, shows that it never did: the CSR was never
 * sent and is dropped, durably, before the key it names is removed (a kill
 * during the removal then finds a record without it). Without such a sign
 * the CA may hold the request: the CSR stays, and the start over is refused. */
static p11e_rc drop_unsent_csr(enroll_run *r, size_t under_temp, p11e_err *err)
{
	size_t idless = 0;
	p11e_rc rc = P11E_OK;

	if (under_temp == 0)
		rc = p11e_token_count_idless_keys(r->token, r->rec->label, &idless, err);
	if (rc != P11E_OK || under_temp + idless == 0)
		return rc;
	rc = p11e_record_set(&r->rec->csr_pem, NULL, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->request_key, NULL, err);
	if (rc == P11E_OK)
		rc = pipe_save(r, err);
	return rc;
}

/* The key made for this step is not one whole pair under the recorded IDs
 * (a kill inside the rename on a module that rewrites an object in place can
 * leave a private key with no CKA_ID at all). No CSR has left before the
 * rename finished, so nothing outside this record names the key yet: what the
 * identity left (keys under its temporary and final IDs, and keys carrying
 * its label with no CKA_ID) goes, and the key is made again under temp.
 * key_id is cleared and saved once all is gone: a kill during the removal
 * finds less under the same IDs and starts over again (nothing at all is
 * such a state too), and a kill during the new generation is met as an
 * unfinished one under temp (settle_temp_key), never renamed to the old
 * key's final ID. */
static p11e_rc start_key_over(enroll_run *r, const p11e_id *temp, const p11e_id *final, size_t priv,
			      size_t pub, size_t under_temp, p11e_err *err)
{
	static const unsigned long classes[] = {3 /* CKO_PRIVATE_KEY */, 2 /* CKO_PUBLIC_KEY */};
	const p11e_id *ids[2] = {temp, final};
	size_t n = 0;
	p11e_rc rc = P11E_OK;

	if (r->rec->csr_pem != NULL && r->rec->request_id == NULL && r->rec->cert_pem == NULL)
		rc = drop_unsent_csr(r, under_temp, err);
	if (rc != P11E_OK)
		return rc;
	if (r->rec->csr_pem != NULL || r->rec->request_id != NULL || r->rec->cert_pem != NULL)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: the token holds %zu private and %zu public keys "
				 "under IDs %s and %s, and a request was made for the key: it "
				 "cannot be made again. Discard the enrollment with 'p11enroll "
				 "forget %s' (or revoke it) and enroll again",
				 r->rec->identity, priv, pub, r->rec->temp_id, r->rec->key_id,
				 r->rec->identity);
	fprintf(stderr,
		"p11enroll: identity %s: the key pair an earlier run cut short left is not whole "
		"(%zu private and %zu public keys under IDs %s and %s, expected one of each); "
		"no request names it yet: it is removed and made again\n",
		r->rec->identity, priv, pub, r->rec->temp_id, r->rec->key_id);
	for (size_t i = 0; rc == P11E_OK && i < 2; i++)
		for (size_t c = 0; rc == P11E_OK && c < 2; c++)
			rc = p11e_token_destroy(r->token, classes[c], ids[i], &n, err);
	if (rc == P11E_OK)
		rc = p11e_token_destroy_idless_keys(r->token, r->rec->label, &n, err);
	if (rc != P11E_OK) {
		char why[P11E_ERR_MAX];
		snprintf(why, sizeof(why), "%s", err != NULL ? err->msg : "");
		return p11e_errf(err, rc,
				 "identity %s: cannot remove the key an earlier run left (%.300s); "
				 "rerun, or discard the enrollment with 'p11enroll forget %s'",
				 r->rec->identity, why, r->rec->identity);
	}
	/* The new key's final ID is its own: the old one must not name it. */
	rc = p11e_record_set(&r->rec->key_id, NULL, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->key_id_note, NULL, err);
	if (rc == P11E_OK)
		rc = pipe_save(r, err);
	return rc;
}

/* The final ID is recorded, so the pair was whole then: it is under the
 * temporary ID, the final one, or (a kill inside p11e_token_set_id, which
 * renames the private key first) split between them; *settled then. Anything
 * else (half of it gone, or without an ID) starts the key over. */
static p11e_rc settle_renamed_key(enroll_run *r, const p11e_id *temp, const p11e_id *final,
				  size_t priv, size_t pub, int *settled, p11e_err *err)
{
	size_t fpriv = 0, fpub = 0;
	p11e_rc rc = pipe_count_key(r, final, &fpriv, &fpub, err);

	*settled = 0;
	if (rc != P11E_OK)
		return rc;
	if (priv + fpriv != 1 || pub + fpub != 1)
		return start_key_over(r, temp, final, priv + fpriv, pub + fpub, priv + pub, err);
	/* Whatever is still under the temporary ID moves on (set_id renames
	 * only what it finds there). */
	if (priv + pub > 0)
		rc = move_key(r, temp, final, err);
	if (rc == P11E_OK && fpriv + fpub > 0 && strcmp(r->rec->key_id, r->rec->temp_id) == 0)
		rc = p11e_errf(err, P11E_FAIL,
			       "identity %s: the token moved half of key %s to ID %s and then "
			       "refused the other half. Inspect with pkcs11-tool -O",
			       r->rec->identity, r->rec->temp_id, r->rec->key_id);
	*settled = rc == P11E_OK;
	return rc;
}

/* A key for a slot, made under temp_id: it moves into the slot once stored
 * (pipe_slot_move), which needs a token that changes CKA_ID. One that does
 * not (asked by setting the ID it has) is a fixed-slot card after all: the
 * key, which nothing names yet, goes, and the key is made in the slot. */
static p11e_rc slot_key_free(enroll_run *r, const p11e_id *temp, p11e_err *err)
{
	p11e_err refused = {0};
	size_t gone = 0;
	p11e_rc rc = p11e_token_set_id(r->token, temp, temp, &refused);

	if (rc == P11E_UNSUPPORTED) {
		rc = p11e_token_destroy(r->token, 3 /* CKO_PRIVATE_KEY */, temp, &gone, err);
		if (rc == P11E_OK)
			rc = p11e_token_destroy(r->token, 2 /* CKO_PUBLIC_KEY */, temp, &gone, err);
		return rc == P11E_OK ? pipe_slot_key(r, err) : rc;
	}
	if (rc != P11E_OK) {
		*err = refused;
		return rc;
	}
	rc = p11e_record_set(&r->rec->key_id, r->rec->temp_id, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->slot_kind, "free", err);
	return rc;
}

/* Generation under temp_id for a slot's key: a card that makes keys only in
 * its slots refuses it (and makes nothing): then the key is made in the slot,
 * and the handle remembers the card is one of those. */
static p11e_rc slot_generate(enroll_run *r, const p11e_id *temp, int *in_slot, p11e_err *err)
{
	p11e_err refused = {0};
	size_t priv = 0, pub = 0;
	p11e_rc rc = P11E_FAIL;

	*in_slot = p11e_token_fixed_slots(r->token);
	if (!*in_slot)
		rc = pipe_token_generate(r, temp, &refused);
	if (rc == P11E_OK || *in_slot)
		return rc;
	if (rc != P11E_UNSUPPORTED && pipe_count_key(r, temp, &priv, &pub, err) == P11E_OK &&
	    priv + pub == 0) {
		*in_slot = 1;
		return P11E_OK;
	}
	*err = refused;
	return rc;
}

/* key-pending -> key-generated: generate under temp_id unless a previous run
 * already did, then move it to its final ID. Every branch is a state a crash
 * can leave behind. */
p11e_rc pipe_step_key(enroll_run *r, p11e_err *err)
{
	p11e_id temp, final;
	size_t priv = 0, pub = 0;
	int ready = 0;
	EVP_PKEY *pkey = NULL;
	p11e_rc rc;

	rc = pipe_parse_id(r->rec->temp_id, &temp, "record temp_id", err);
	if (rc == P11E_OK && pipe_slot_fixed(r))
		rc = pipe_slot_key(r, err);
	if (rc != P11E_OK || pipe_slot_fixed(r))
		goto slot_done;
	/* Only a resumed run must look for what an earlier one left (and only
	 * a random ID is sure to be unused: a given --id was checked in new). */
	if (!r->chose_id)
		rc = pipe_count_key(r, &temp, &priv, &pub, err);
	if (rc != P11E_OK)
		return rc;
	if (r->rec->key_id != NULL && strcmp(r->rec->key_id, r->rec->temp_id) != 0) {
		int settled = 0;
		rc = pipe_parse_id(r->rec->key_id, &final, "record key_id", err);
		if (rc == P11E_OK)
			rc = settle_renamed_key(r, &temp, &final, priv, pub, &settled, err);
		if (rc != P11E_OK)
			return rc;
		if (settled) {
			r->rec->step = P11E_STEP_KEY_GENERATED;
			return P11E_OK;
		}
		priv = pub = 0; /* started over: nothing under temp now */
	}
	if (!r->chose_id)
		rc = settle_temp_key(r, &temp, priv, pub, &ready, err);
	if (rc == P11E_OK && r->rec->slot_id != NULL) {
		int in_slot = 0;
		if (!ready)
			rc = slot_generate(r, &temp, &in_slot, err);
		if (rc == P11E_OK)
			rc = in_slot ? pipe_slot_key(r, err) : slot_key_free(r, &temp, err);
		goto slot_done;
	}
	if (rc == P11E_OK && !ready)
		rc = pipe_token_generate(r, &temp, err);
	if (rc != P11E_OK)
		return rc;
	if (r->rec->key_id == NULL) {
		rc = p11e_token_public_key(r->token, &temp, &pkey, err);
		if (rc == P11E_OK)
			rc = pipe_public_key_id(pkey, &final, err);
		if (rc == P11E_OK)
			rc = pipe_set_hex(&r->rec->key_id, &final, err);
		/* The CSR is signed now, under the temporary ID, so that the
		 * final ID and the request go to disk in one durable save: the
		 * key's rename and the CA's request then need one wait between
		 * them, not two (docs/store.md#durability). */
		if (rc == P11E_OK)
			rc = pipe_csr_sign(r, &temp, err);
		if (rc == P11E_OK)
			r->csr_before_rename = 1;
		/* Record the final ID before renaming, so a crash between the two is
		 * recognised above. */
		if (rc == P11E_OK)
			rc = pipe_save(r, err);
		if (rc != P11E_OK)
			goto out;
		test_pause();
		rc = move_key(r, &temp, &final, err);
		if (rc != P11E_OK)
			goto out;
	}
	pipe_crash_point("key-renamed");
	test_pause();
	r->rec->step = P11E_STEP_KEY_GENERATED;
out:
	EVP_PKEY_free(pkey);
	return rc;
slot_done:
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_KEY_GENERATED;
	return rc;
}

/* The CA certificates beside the key. Every enrollment onto the token
 * writes them, so concurrent processes would each look, find nothing and
 * write one: the token's lock (kind "token", by serial) makes the look and
 * the write one step, and the look compares by value, so an identical
 * certificate, whoever wrote it, is never written twice. */
static p11e_rc store_chain(enroll_run *r, STACK_OF(X509) * chain, p11e_err *err)
{
	p11e_lock lock = P11E_LOCK_INIT;
	p11e_rc rc;

	if (sk_X509_num(chain) == 0)
		return P11E_OK;
	/* Generous: a loaded machine runs many enrollments at once, and each
	 * holds it for a few object writes only. */
	rc = p11e_lock_acquire(r->cfg->store, "token", p11e_token_get_info(r->token)->serial, 60000,
			       &lock, err);
	for (int i = 0; rc == P11E_OK && i < sk_X509_num(chain); i++) {
		rc = p11e_token_store_ca_cert(r->token, sk_X509_value(chain, i), err);
		if (rc == P11E_OK && i == 0)
			test_pause();
	}
	p11e_lock_release(&lock);
	/* A card with no room for the chain (CKR_DEVICE_MEMORY) still gets its
	 * certificate, which is what signs and decrypts: the record says so. */
	if (rc != P11E_OK && p11e_token_out_of_room(r->token))
		return p11e_record_set(&r->rec->chain_note,
				       "chain not stored on token: no room (CKR_DEVICE_MEMORY)",
				       err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->chain_note, NULL, err);
	return rc;
}

/* issued -> stored: the certificate goes onto the token under the key's ID,
 * but only if it certifies that very key; then the chain beside it. */
p11e_rc pipe_step_store(enroll_run *r, p11e_err *err)
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
	/* A free token's slot being cleared or moved into: the certificate and
	 * chain are stored already; the move finishes. */
	if (r->rec->slot_id != NULL && r->rec->slot_phase != NULL) {
		rc = pipe_slot_move(r, err);
		goto stored;
	}
	rc = pipe_parse_id(r->rec->key_id, &id, "record key_id", err);
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
	/* A fixed slot's old certificate goes just before the new one is
	 * written (a card's slot has room for one). */
	if (pipe_slot_fixed(r))
		rc = pipe_slot_drop_old_cert(r, cert, err);
	else
		rc = pipe_history_make_room(r, err);
	if (rc == P11E_OK)
		rc = p11e_token_store_cert(r->token, cert, &id, r->rec->label, err);
	if (rc == P11E_OK) {
		pipe_crash_point("cert-written");
		test_pause();
	}
	if (rc == P11E_OK)
		rc = store_chain(r, chain, err);
	/* The CSR is signed: a key the profile gives no signing use signs no
	 * more (repeating this after a crash is harmless). */
	if (rc == P11E_OK)
		rc = p11e_profile_token_usage(&r->profile, r->kt.kind, &usage, err);
	if (rc == P11E_OK && !(usage & P11E_USE_SIGN))
		rc = p11e_token_forbid_signing(r->token, &id, err);
	if (rc == P11E_OK && r->rec->slot_id != NULL && !pipe_slot_fixed(r))
		rc = pipe_slot_move(r, err);
stored:
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_STORED;
out:
	EVP_PKEY_free(pub);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
