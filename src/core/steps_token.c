/* The pipeline's steps for a key made on the token: new (choose the CKA_ID),
 * key (generate under a temporary ID, then rename it to its final one) and
 * store (the certificate and chain onto the token). */
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
#include "core/pipeline_steps.h"

/* new -> key-pending: choose the CKA_ID the key is generated under and
 * record it before anything touches the token. */
p11e_rc pipe_step_new(enroll_run *r, p11e_err *err)
{
	p11e_id id;
	size_t priv = 0, pub = 0, certs = 0;
	p11e_rc rc;

	rc = p11e_token_check_keytype(r->token, &r->kt, err);
	if (rc != P11E_OK)
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

/* key-pending -> key-generated: generate under temp_id unless a previous run
 * already did, then move it to its final ID. Every branch is a state a crash
 * can leave behind. */
p11e_rc pipe_step_key(enroll_run *r, p11e_err *err)
{
	p11e_id temp, final;
	size_t priv = 0, pub = 0;
	unsigned usage = 0;
	EVP_PKEY *pkey = NULL;
	p11e_rc rc;

	rc = pipe_parse_id(r->rec->temp_id, &temp, "record temp_id", err);
	if (rc != P11E_OK)
		return rc;
	/* Only a resumed run must look for what an earlier one left (and only
	 * a random ID is sure to be unused: a given --id was checked in new). */
	if (!r->chose_id)
		rc = pipe_count_key(r, &temp, &priv, &pub, err);
	if (rc != P11E_OK)
		return rc;
	if (priv == 0 && pub == 0 && r->rec->key_id != NULL &&
	    strcmp(r->rec->key_id, r->rec->temp_id) != 0) {
		/* Renamed already, crash before the record said so. */
		rc = pipe_parse_id(r->rec->key_id, &final, "record key_id", err);
		if (rc == P11E_OK)
			rc = pipe_count_key(r, &final, &priv, &pub, err);
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
		 * encryption-only key loses CKA_SIGN once certified (pipe_step_store). */
		if (rc == P11E_OK)
			rc = p11e_token_generate_keypair(r->token, &r->kt, &temp, r->rec->label,
							 usage | P11E_USE_SIGN, err);
		if (rc != P11E_OK)
			return rc;
		pipe_crash_point("key-made");
	} else if (priv != 1 || pub != 1) {
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: the token holds %zu private and %zu public keys "
				 "under ID %s; expected one of each. Inspect with pkcs11-tool -O",
				 r->rec->identity, priv, pub, r->rec->temp_id);
	}
	if (r->rec->key_id == NULL) {
		rc = p11e_token_public_key(r->token, &temp, &pkey, err);
		if (rc == P11E_OK)
			rc = pipe_public_key_id(pkey, &final, err);
		if (rc == P11E_OK)
			rc = pipe_set_hex(&r->rec->key_id, &final, err);
		/* Record the final ID before renaming, so a crash between the two is
		 * recognised above. */
		if (rc == P11E_OK)
			rc = pipe_save(r, err);
		if (rc != P11E_OK)
			goto out;
	}
	rc = pipe_parse_id(r->rec->key_id, &final, "record key_id", err);
	if (rc == P11E_OK && (final.len != temp.len || memcmp(final.v, temp.v, temp.len) != 0))
		rc = p11e_token_set_id(r->token, &temp, &final, err);
	if (rc == P11E_OK) {
		pipe_crash_point("key-renamed");
		r->rec->step = P11E_STEP_KEY_GENERATED;
	}
out:
	EVP_PKEY_free(pkey);
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
	rc = p11e_token_store_cert(r->token, cert, &id, r->rec->label, err);
	if (rc == P11E_OK)
		pipe_crash_point("cert-written");
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
