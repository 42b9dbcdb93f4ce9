/* What a temporary card holds (docs/cards.md "Temporary cards"): for each
 * identity of the lost card a new key made on the card with a short-lived
 * certificate, and the identity's archived encryption keys restored from
 * their escrowed PFX (p11e_recover, as replace restores them). Each entry
 * of the plan goes through phases saved in the card's document before the
 * next one begins, so a rerun after a crash picks up where it stopped:
 *
 *   new:      planned -> key-pending (its CKA_ID chosen) -> key -> csr (the
 *             request saved: every later submission sends the very same
 *             CSR with the same idempotency key, never a second request)
 *             -> issued -> stored
 *   restored: planned -> stored (p11e_recover imports only what is missing)
 *
 * Crash points (test builds): temp-key-pending, temp-key, temp-csr,
 * temp-issued, temp-stored, temp-restored, temp-cert-revoked, temp-wiped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <json-c/json.h>
#include "core/card_temp_int.h"
#include "p11enroll/ca.h"
#include "p11enroll/csr.h"
#include "p11enroll/lock.h"
#include "p11enroll/pem.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/record.h"
#include "p11enroll/recover.h"
#include "p11enroll/token.h"
#include "p11enroll/util.h"

#define CLASS_CERTIFICATE 1UL /* CKO_CERTIFICATE */
#define CLASS_PUBLIC_KEY 2UL  /* CKO_PUBLIC_KEY */
#define CLASS_PRIVATE_KEY 3UL /* CKO_PRIVATE_KEY */

int temp_int(json_object *o, const char *key)
{
	json_object *v;
	return o != NULL && json_object_object_get_ex(o, key, &v) ? json_object_get_int(v) : 0;
}

p11e_rc temp_save(temp_ctx *c, p11e_err *err)
{
	return p11e_card_save(c->cfg, c->tserial, c->tdoc, err);
}

static void set_str(json_object *e, const char *key, const char *value)
{
	json_object_object_add(e, key, json_object_new_string(value));
}

/* Sets the entry's phase and saves the document, then the crash point. */
static p11e_rc phase(temp_ctx *c, json_object *e, const char *name, const char *point,
		     p11e_err *err)
{
	p11e_rc rc;

	set_str(e, "phase", name);
	if ((rc = temp_save(c, err)) == P11E_OK)
		card_crash_point(point);
	return rc;
}

static p11e_rc entry_id(json_object *e, p11e_id *id, p11e_err *err)
{
	if (p11e_hex_decode(card_str(e, "key_id"), id->v, sizeof(id->v), &id->len) != 0 ||
	    id->len == 0)
		return p11e_errf(err, P11E_FAIL, "card: entry of %s: key_id '%.40s' is not hex",
				 card_str(e, "identity"), card_str(e, "key_id"));
	return P11E_OK;
}

/* The profile the temporary certificate is asked for: the identity's, its
 * validity the entry's days, without encryption for an archived identity
 * (the plan decided: card_temporary.c). */
static p11e_rc entry_profile(temp_ctx *c, json_object *e, const p11e_record *rec,
			     p11e_profile *prof, p11e_err *err)
{
	p11e_rc rc = p11e_config_profile(c->cfg, rec->profile, prof, err);

	if (rc != P11E_OK)
		return rc;
	prof->validity_days = temp_int(e, "days");
	if (temp_int(e, "sign_only"))
		prof->purposes &= ~P11E_PURPOSE_ENCRYPT;
	return P11E_OK;
}

/* key-pending -> key: the key pair under the entry's CKA_ID; a whole pair a
 * stopped run made is kept, half of one removed and made again. */
static p11e_rc make_key(temp_ctx *c, json_object *e, const p11e_record *rec,
			const p11e_profile *prof, p11e_err *err)
{
	p11e_token *t = c->s.token;
	p11e_keytype kt;
	p11e_id id;
	unsigned usage = 0;
	size_t n = 0;
	int whole = 0;
	p11e_rc rc = entry_id(e, &id, err);

	if (rc == P11E_OK)
		rc = p11e_keytype_parse(rec->key_type ? rec->key_type : "ec:P-256", &kt, err);
	if (rc == P11E_OK && p11e_token_key_pair_whole(t, &id, &whole, NULL) == P11E_OK && whole)
		return P11E_OK;
	if (rc == P11E_OK)
		rc = p11e_profile_token_usage(prof, kt.kind, &usage, err);
	if (rc == P11E_OK)
		rc = p11e_token_destroy(t, CLASS_PRIVATE_KEY, &id, &n, err);
	if (rc == P11E_OK)
		rc = p11e_token_destroy(t, CLASS_PUBLIC_KEY, &id, &n, err);
	if (rc == P11E_OK)
		rc = p11e_token_destroy_idless_keys(t, card_str(e, "label"), &n, err);
	if (rc == P11E_OK)
		rc = p11e_token_generate_keypair(t, &kt, &id, card_str(e, "label"),
						 usage | P11E_USE_SIGN, err);
	return rc;
}

/* key -> csr: signed on the card, saved with its idempotency key (the DER
 * and "#temporary:SERIAL": never the key of a request the pipeline made). */
static p11e_rc make_csr(temp_ctx *c, json_object *e, const p11e_record *rec,
			const p11e_profile *prof, p11e_err *err)
{
	p11e_csr_params cp = {
	    .email = rec->dns_name != NULL ? NULL : p11e_record_email(rec),
	    .dns = rec->dns_name,
	    .name = rec->name,
	    .upn = rec->upn,
	    .principal = rec->principal,
	    .sid = rec->sid,
	    .profile = prof,
	};
	X509_REQ *req = NULL;
	char hex[2 * SHA256_DIGEST_LENGTH + 1], tag[48], *pem = NULL;
	p11e_id id;
	p11e_rc rc = entry_id(e, &id, err);

	if (rc == P11E_OK)
		rc = p11e_token_csr(c->s.token, &id, &cp, 0, &req, err);
	if (rc != P11E_OK)
		goto out;
	snprintf(tag, sizeof(tag), "#temporary:%s", c->tserial);
	if ((rc = p11e_csr_request_key(req, tag, &pem, hex, err)) != P11E_OK)
		goto out;
	set_str(e, "csr_pem", pem);
	set_str(e, "request_key", hex);
out:
	free(pem);
	X509_REQ_free(req);
	return rc;
}

/* csr -> issued: the saved request to the CA (polled when it answered
 * pending before), the certificate and chain into the entry. */
static p11e_rc get_cert(temp_ctx *c, json_object *e, const p11e_record *rec,
			const p11e_profile *prof, p11e_err *err)
{
	X509_REQ *req = p11e_csr_from_pem(card_str(e, "csr_pem"));
	p11e_ca_result res;
	p11e_ca *ca = NULL;
	char *cert_pem = NULL, *chain_pem = NULL, serial[65], not_after[32];
	p11e_rc rc;

	memset(&res, 0, sizeof(res));
	if (req == NULL)
		return p11e_errf(err, P11E_FAIL, "card %s: %s's saved request is unreadable",
				 c->tserial, rec->identity);
	rc = p11e_config_open_ca(c->cfg, card_str(e, "ca"), &ca, err);
	if (rc == P11E_OK && card_str(e, "request_id")[0] != '\0')
		rc = p11e_ca_poll(ca, card_str(e, "request_id"), prof, &res, err);
	else if (rc == P11E_OK)
		rc = p11e_ca_submit(ca, req, prof, card_str(e, "request_key"), &res, err);
	if (rc == P11E_OK && res.request_id[0] != '\0')
		set_str(e, "request_id", res.request_id);
	if (rc == P11E_OK && res.state == P11E_CA_STATE_PENDING) {
		p11e_err save_err = {0};
		temp_save(c, &save_err);
		rc = p11e_errf(err, P11E_PENDING,
			       "card %s: the CA has not issued %s's temporary certificate yet: "
			       "run the same card lost command again later",
			       c->tserial, rec->identity);
	} else if (rc == P11E_OK && res.state != P11E_CA_STATE_ISSUED) {
		rc = p11e_errf(err, P11E_CA_REJECTED,
			       "card %s: the CA rejected %s's temporary certificate: %.200s",
			       c->tserial, rec->identity, res.reason);
	}
	if (rc == P11E_OK &&
	    ((cert_pem = p11e_x509_to_pem(res.cert)) == NULL ||
	     (chain_pem = p11e_chain_to_pem(res.chain)) == NULL ||
	     p11e_asn1_time_iso(X509_get0_notAfter(res.cert), not_after, sizeof(not_after)) != 0))
		rc = p11e_errf(err, P11E_FAIL, "card %s: %s's certificate cannot be encoded",
			       c->tserial, rec->identity);
	if (rc == P11E_OK)
		rc = p11e_cert_serial("certificate", res.cert, serial, sizeof(serial), err);
	if (rc == P11E_OK) {
		set_str(e, "cert_pem", cert_pem);
		set_str(e, "chain_pem", chain_pem);
		set_str(e, "cert_serial", serial);
		set_str(e, "not_after", not_after);
	}
	free(cert_pem);
	free(chain_pem);
	p11e_ca_result_clear(&res);
	p11e_ca_close(ca);
	X509_REQ_free(req);
	return rc;
}

/* issued -> stored: the certificate beside its key, written once. */
static p11e_rc store_cert(temp_ctx *c, json_object *e, p11e_err *err)
{
	X509 *cert = p11e_x509_from_pem(card_str(e, "cert_pem")), *there = NULL;
	p11e_id id;
	p11e_rc rc = entry_id(e, &id, err);

	if (rc == P11E_OK && cert == NULL)
		rc = p11e_errf(err, P11E_FAIL, "card %s: %s's saved certificate is unreadable",
			       c->tserial, card_str(e, "identity"));
	if (rc == P11E_OK && p11e_token_find_cert(c->s.token, &id, &there, NULL) == P11E_OK &&
	    X509_cmp(there, cert) == 0)
		goto out;
	if (rc == P11E_OK)
		rc = p11e_token_store_cert(c->s.token, cert, &id, card_str(e, "label"), err);
out:
	X509_free(there);
	X509_free(cert);
	return rc;
}

/* A new key and its short-lived certificate, phase by phase. */
static p11e_rc run_new(temp_ctx *c, json_object *e, const p11e_record *rec, p11e_err *err)
{
	p11e_profile prof;
	p11e_rc rc = entry_profile(c, e, rec, &prof, err);
	const char *ph = card_str(e, "phase");

	if (rc == P11E_OK && strcmp(ph, "planned") == 0) {
		unsigned char raw[16];
		char hex[2 * sizeof(raw) + 1];
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return p11e_errf_ssl(err, P11E_FAIL, "no random bytes for a key ID");
		p11e_hex_encode(raw, sizeof(raw), hex);
		set_str(e, "key_id", hex);
		rc = phase(c, e, "key-pending", "temp-key-pending", err);
		ph = "key-pending";
	}
	if (rc == P11E_OK && strcmp(ph, "key-pending") == 0) {
		rc = make_key(c, e, rec, &prof, err);
		if (rc == P11E_OK)
			rc = phase(c, e, "key", "temp-key", err);
		ph = "key";
	}
	if (rc == P11E_OK && strcmp(ph, "key") == 0) {
		rc = make_csr(c, e, rec, &prof, err);
		if (rc == P11E_OK)
			rc = phase(c, e, "csr", "temp-csr", err);
		ph = "csr";
	}
	if (rc == P11E_OK && strcmp(ph, "csr") == 0) {
		rc = get_cert(c, e, rec, &prof, err);
		if (rc == P11E_OK)
			rc = phase(c, e, "issued", "temp-issued", err);
		ph = "issued";
	}
	if (rc == P11E_OK && strcmp(ph, "issued") == 0) {
		rc = store_cert(c, e, err);
		if (rc == P11E_OK)
			rc = phase(c, e, "stored", "temp-stored", err);
	}
	return rc;
}

/* An archived key restored (p11e_recover: audited, only what is missing
 * imported), its CKA_ID kept for the wipe. */
static p11e_rc run_restored(temp_ctx *c, json_object *e, const p11e_record *rec, p11e_err *err)
{
	int number = temp_int(e, "generation");
	p11e_recover_params rp = {
	    .identity = rec->identity,
	    .generation = number == p11e_record_generation(rec) ? 0 : number,
	    .lock_held = 1,
	    .token = c->s.token,
	    .module = c->p->module,
	    .officer_key = c->p->officer_key,
	    .officer_pin_source = c->p->officer_pin_source,
	    .label = card_str(e, "label"),
	};
	p11e_recover_result res;
	p11e_rc rc = p11e_recover(c->cfg, &rp, &res, err);

	if (rc != P11E_OK)
		return rc;
	set_str(e, "key_id", res.key_id);
	return phase(c, e, "stored", "temp-restored", err);
}

p11e_rc temp_entry_run(temp_ctx *c, json_object *e, p11e_err *err)
{
	p11e_held h;
	p11e_rc rc;

	if (strcmp(card_str(e, "phase"), "stored") == 0)
		return P11E_OK;
	/* Not beside a renewal or revocation of the identity. */
	rc = p11e_held_acquire(c->cfg, card_str(e, "identity"), c->p->wait_ms, &h, err);
	if (rc == P11E_OK && strcmp(card_str(e, "kind"), "restored") == 0)
		rc = run_restored(c, e, &h.rec, err);
	else if (rc == P11E_OK)
		rc = run_new(c, e, &h.rec, err);
	p11e_held_release(&h);
	return rc;
}

p11e_rc temp_revoke_all(temp_ctx *c, int *n, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	*n = 0;
	for (size_t i = 0; rc == P11E_OK && i < json_object_array_length(c->entries); i++) {
		json_object *e = json_object_array_get_idx(c->entries, i);
		X509 *cert;
		p11e_ca *ca = NULL;
		int already = 0;

		if (card_str(e, "cert_serial")[0] == '\0' || temp_int(e, "revoked"))
			continue;
		cert = p11e_x509_from_pem(card_str(e, "cert_pem"));
		rc = p11e_config_open_ca(c->cfg, card_str(e, "ca"), &ca, err);
		if (rc == P11E_OK)
			rc = p11e_ca_revoke(ca, card_str(e, "cert_serial"), cert,
					    P11E_REASON_CESSATION_OF_OPERATION, &already, err);
		p11e_ca_close(ca);
		X509_free(cert);
		if (rc != P11E_OK)
			break;
		json_object_object_add(e, "revoked", json_object_new_boolean(1));
		if ((rc = temp_save(c, err)) == P11E_OK)
			card_crash_point("temp-cert-revoked");
		(*n)++;
	}
	return rc;
}

/* The CA certificates of pem (a chain) removed from the card by value. */
static p11e_rc wipe_chain(p11e_token *t, const char *pem, p11e_err *err)
{
	STACK_OF(X509) *chain = pem[0] != '\0' ? p11e_chain_from_pem(pem) : NULL;
	p11e_rc rc = P11E_OK;
	size_t n = 0;

	for (int i = 0; rc == P11E_OK && chain != NULL && i < sk_X509_num(chain); i++)
		rc = p11e_token_destroy_cert_value(t, sk_X509_value(chain, i), &n, err);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

p11e_rc temp_wipe_all(temp_ctx *c, p11e_err *err)
{
	static const unsigned long classes[] = {CLASS_CERTIFICATE, CLASS_PRIVATE_KEY,
						CLASS_PUBLIC_KEY};
	p11e_rc rc = P11E_OK;

	for (size_t i = 0; rc == P11E_OK && i < json_object_array_length(c->entries); i++) {
		json_object *e = json_object_array_get_idx(c->entries, i);
		p11e_id id;
		size_t n = 0;

		if (temp_int(e, "wiped"))
			continue;
		if (card_str(e, "key_id")[0] != '\0') {
			rc = entry_id(e, &id, err);
			for (size_t k = 0; rc == P11E_OK && k < 3; k++)
				rc = p11e_token_destroy(c->s.token, classes[k], &id, &n, err);
		}
		/* A kill inside the key generation: key objects without an ID. */
		if (rc == P11E_OK && strcmp(card_str(e, "kind"), "new") == 0)
			rc = p11e_token_destroy_idless_keys(c->s.token, card_str(e, "label"), &n,
							    err);
		if (rc == P11E_OK)
			rc = wipe_chain(c->s.token, card_str(e, "chain_pem"), err);
		if (rc != P11E_OK)
			break;
		json_object_object_add(e, "wiped", json_object_new_boolean(1));
		if ((rc = temp_save(c, err)) == P11E_OK)
			card_crash_point("temp-wiped");
	}
	return rc;
}
