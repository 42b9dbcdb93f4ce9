/* p11enroll forget: see include/p11enroll/forget.h. The order is the one a
 * crash must leave rerunnable: token objects, key file, escrow, and the
 * record last (while it exists, a rerun of forget knows what to remove). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "p11enroll/audit.h"
#include "p11enroll/forget.h"
#include "p11enroll/lock.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/session.h"
#include "p11enroll/software.h"
#include "p11enroll/token.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"

static int key_store_is(const p11e_record *rec, const char *store)
{
	if (rec->key_store == NULL)
		return strcmp(store, "token") == 0;
	return strcmp(rec->key_store, store) == 0;
}

/* The key pair under the record's IDs, and key objects without an ID under
 * its label, on the record's token only. */
static p11e_rc destroy_token_key(const p11e_config *cfg, const p11e_forget_params *p,
				 const p11e_record *rec, size_t *destroyed, p11e_err *err)
{
	static const unsigned long classes[] = {3 /* CKO_PRIVATE_KEY */, 2 /* CKO_PUBLIC_KEY */};
	const char *ids[2] = {rec->temp_id, rec->key_id};
	p11e_session_params sp = {
	    .uri = rec->token_uri, .module = p->module, .pin_source = p->pin_source, .login = 1};
	p11e_session s;
	p11e_rc rc;

	memset(&s, 0, sizeof(s));
	if (rec->temp_id == NULL && rec->key_id == NULL)
		return P11E_OK; /* no ID chosen: nothing was made */
	if (rec->token_uri == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: its record names no token; the key cannot be found",
				 rec->identity);
	rc = p11e_session_open(cfg, &sp, &s, err);
	if (rc != P11E_OK)
		goto out;
	if (rec->token_serial != NULL &&
	    strcmp(rec->token_serial, p11e_token_get_info(s.token)->serial) != 0) {
		rc = p11e_errf(err, P11E_TOKEN_NOT_FOUND,
			       "token: the key of %s is on the token with serial %s, not %s; "
			       "insert that token",
			       rec->identity, rec->token_serial,
			       p11e_token_get_info(s.token)->serial);
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		p11e_id id;
		if (ids[i] == NULL ||
		    (i == 1 && rec->temp_id != NULL && strcmp(rec->key_id, rec->temp_id) == 0))
			continue;
		if (p11e_hex_decode(ids[i], id.v, sizeof(id.v), &id.len) != 0 || id.len == 0) {
			rc =
			    p11e_errf(err, P11E_FAIL, "identity %s: its record's key ID is not hex",
				      rec->identity);
			goto out;
		}
		for (size_t c = 0; c < 2; c++) {
			size_t n = 0;
			rc = p11e_token_destroy(s.token, classes[c], &id, &n, err);
			if (rc != P11E_OK)
				goto out;
			*destroyed += n;
		}
	}
	/* Key objects without an ID that carry its label: what a kill inside
	 * key generation leaves on a module that rewrites objects in place. */
	{
		size_t n = 0;
		rc = p11e_token_destroy_idless_keys(s.token, rec->label, &n, err);
		*destroyed += n;
	}
out:
	p11e_session_close(&s);
	return rc;
}

/* The software key's file and its escrowed password: those of the record's
 * own generation, named as the pipeline names them (IDENTITY#N from the
 * second on), so another generation's entry is never touched. */
static p11e_rc remove_software_key(const p11e_config *cfg, const p11e_record *rec,
				   p11e_forget_result *out, p11e_err *err)
{
	char *secret = p11e_record_secret_name(rec->identity, p11e_record_generation(rec));
	int escrowed = 0, key_left = 0;
	p11e_vault *v = NULL;
	p11e_err audit_err = {0};
	p11e_rc rc;

	if (secret == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_soft_key_exists(cfg->store, secret, &key_left, err);
	out->key_file_removed = key_left;
	if (rc == P11E_OK)
		rc = p11e_soft_key_remove(cfg->store, secret, err);
	if (rc == P11E_OK)
		rc = p11e_soft_escrowed(cfg, secret, &escrowed, err);
	if (rc != P11E_OK || !escrowed) {
		free(secret);
		return rc;
	}
	rc = p11e_vault_open(cfg, NULL, &v, err);
	if (rc == P11E_OK)
		rc = p11e_vault_delete(v, secret, err);
	p11e_vault_close(v);
	free(secret);
	out->escrow_deleted = rc == P11E_OK;
	/* The audit trail sees every escrowed secret leave the vault. */
	if (p11e_audit_write(cfg, "forget", rec->identity,
			     (const char *const[]){"escrow", "deleted", NULL}, rc, err,
			     &audit_err) != P11E_OK &&
	    rc == P11E_OK) {
		*err = audit_err;
		rc = audit_err.rc;
	}
	return rc;
}

p11e_rc p11e_forget(const p11e_config *cfg, const p11e_forget_params *p, p11e_forget_result *out,
		    p11e_err *err)
{
	p11e_held h;
	p11e_record *rec = &h.rec;
	const char *identity;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	rc = p11e_held_acquire(cfg, p->identity, p->wait_ms, &h, err);
	identity = h.identity;
	if (rc != P11E_OK)
		goto out;
	out->step = rec->step;
	/* A renewal in progress resets the record's step for the next
	 * generation: the history says a certificate was issued all the same,
	 * and forgetting would take every earlier generation's record with it. */
	if (rec->n_history > 0) {
		rc = p11e_errf(err, P11E_EXISTS,
			       "identity %s has certificates of earlier generations (it is at "
			       "generation %d, step %s): forget discards only enrollments that "
			       "never had one; revoke it instead (p11enroll revoke)",
			       identity, p11e_record_generation(rec), p11e_step_name(rec->step));
		goto out;
	}
	if (rec->step >= P11E_STEP_ISSUED) {
		rc = p11e_errf(err, P11E_EXISTS,
			       "identity %s has a certificate (step %s): forget discards only "
			       "enrollments without one; its key stays until it is revoked",
			       identity, p11e_step_name(rec->step));
		goto out;
	}
	if (rec->step == P11E_STEP_SUBMITTED) {
		if (!p->abandon_request) {
			rc = p11e_errf(
			    err, P11E_EXISTS,
			    "identity %s: the CA holds request %.100s; poll it (p11enroll "
			    "poll), or forget --abandon-request and cancel it at the CA",
			    identity, rec->request_id ? rec->request_id : "(no ID)");
			goto out;
		}
		snprintf(out->request_id, sizeof(out->request_id), "%s",
			 rec->request_id ? rec->request_id : "");
	}
	if (key_store_is(rec, "token"))
		rc = destroy_token_key(cfg, p, rec, &out->token_objects, err);
	else
		rc = remove_software_key(cfg, rec, out, err);
	if (rc == P11E_OK)
		rc = p11e_record_remove(cfg->store, identity, err);
out:
	p11e_held_release(&h);
	return rc;
}
