/* `p11enroll replace` (include/p11enroll/replace.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/ca.h"
#include "p11enroll/lock.h"
#include "p11enroll/replace.h"
#include "p11enroll/revoke.h"
#include "p11enroll/session.h"

/* The new card's serial, which must not be the old card's. */
static p11e_rc new_card(const p11e_config *cfg, const p11e_replace_params *p,
			const p11e_record *rec, p11e_err *err)
{
	p11e_session_params sp = {.uri = p->token_uri, .module = p->module, .login = 0};
	p11e_session s;
	p11e_rc rc;

	memset(&s, 0, sizeof(s));
	rc = p11e_session_open(cfg, &sp, &s, err);
	if (rc == P11E_OK && rec->token_serial != NULL &&
	    strcmp(p11e_token_get_info(s.token)->serial, rec->token_serial) == 0)
		rc = p11e_errf(err, P11E_USAGE,
			       "token: %s is the card %s is on now (serial %s); give the new "
			       "card's URI, or renew on this one",
			       p->token_uri, rec->identity, rec->token_serial);
	p11e_session_close(&s);
	return rc;
}

/* Every generation with a certificate still valid on the old card. */
static p11e_rc revoke_old_card(const p11e_config *cfg, const p11e_replace_params *p,
			       p11e_record *rec, p11e_replace_result *out, p11e_err *err)
{
	const char *serial = rec->token_serial;
	p11e_revoke_params rp = {.identity = rec->identity, .reason = p->reason};
	p11e_revoke_result res;
	p11e_rc rc = P11E_OK;
	int numbers[64], n = 0;

	for (size_t i = 0; i < rec->n_history && n < 63; i++) {
		p11e_generation *g = &rec->history[i];
		if (g->cert_pem != NULL && g->revoked_reason == NULL && serial != NULL &&
		    g->token_serial != NULL && strcmp(g->token_serial, serial) == 0 &&
		    strcmp(g->state, "retired") != 0)
			numbers[n++] = g->number;
	}
	if (rec->cert_pem != NULL && rec->revoked_reason == NULL)
		numbers[n++] = p11e_record_generation(rec);
	for (int i = 0; rc == P11E_OK && i < n; i++) {
		rp.generation = numbers[i];
		rc = p11e_revoke_record(cfg, rec, &rp, &res, err);
		if (rc == P11E_OK && res.already)
			out->already_revoked++;
		else if (rc == P11E_OK)
			out->revoked++;
	}
	return rc;
}

p11e_rc p11e_replace(const p11e_config *cfg, const p11e_replace_params *p, p11e_replace_result *out,
		     p11e_err *err)
{
	p11e_renew_params rp = {
	    .module = p->module,
	    .pin_source = p->pin_source,
	    .officer_key = p->officer_key,
	    .officer_pin_source = p->officer_pin_source,
	};
	p11e_held h;
	p11e_record *rec = &h.rec;
	const char *identity;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if (p->token_uri == NULL)
		return p11e_errf(err, P11E_USAGE, "replace: give IDENTITY and the new card's URI");
	rc = p11e_held_acquire(cfg, p->identity, p->wait_ms, &h, err);
	identity = h.identity;
	if (rc != P11E_OK)
		goto out;
	/* A replacement cut short is finished, whatever URI is given now. */
	if (rec->renew_mode != NULL && strcmp(rec->renew_mode, "replace") == 0)
		goto run;
	/* Run again after it finished: nothing to do. */
	if (rec->renew_mode == NULL && rec->step == P11E_STEP_DONE && rec->n_history > 0 &&
	    rec->token_uri != NULL && strcmp(rec->token_uri, p->token_uri) == 0 &&
	    rec->history[rec->n_history - 1].token_serial != NULL && rec->token_serial != NULL &&
	    strcmp(rec->history[rec->n_history - 1].token_serial, rec->token_serial) != 0) {
		out->renewal.outcome = P11E_RENEW_RENEWED;
		out->renewal.generation = p11e_record_generation(rec);
		snprintf(out->renewal.not_after, sizeof(out->renewal.not_after), "%s",
			 rec->not_after ? rec->not_after : "");
		goto out;
	}
	if (rec->renew_mode != NULL || rec->step != P11E_STEP_DONE) {
		rc = p11e_errf(err, P11E_EXISTS,
			       "identity %s is not done (step %s%s): finish it with p11enroll "
			       "renew or enroll first",
			       identity, p11e_step_name(rec->step),
			       rec->renew_mode ? ", renewing" : "");
		goto out;
	}
	if (rec->key_store != NULL && strcmp(rec->key_store, "software") == 0) {
		rc = p11e_errf(err, P11E_USAGE,
			       "identity %s has a software key and no card: revoke it and renew",
			       identity);
		goto out;
	}
	rc = new_card(cfg, p, rec, err);
	if (rc == P11E_OK)
		rc = revoke_old_card(cfg, p, rec, out, err);
	if (rc == P11E_OK)
		rc = p11e_renew_begin(cfg, rec, "replace", p->token_uri, err);
	if (rc != P11E_OK)
		goto out;
run:
	rc = p11e_renew_run(cfg, &rp, rec, &out->renewal, err);
out:
	p11e_held_release(&h);
	return rc;
}
