/* The portal's operations on an identity's generations, shared by the
 * pages and the API: a user revokes their own software certificate ("I
 * lost my laptop": reason keyCompromise, through p11e_revoke_identity,
 * which asks the CA, records it and withdraws it from the publishers), and
 * then requests a new one: a new generation of the same identity through
 * p11e_renew (a revoked certificate is due at once), so the history keeps
 * the revoked one and its dates. */
#include <stdio.h>
#include <string.h>
#include "p11enroll/ca.h"
#include "p11enroll/record.h"
#include "p11enroll/renew.h"
#include "p11enroll/revoke.h"
#include "portal_int.h"

int portal_revocable(portal_req *r, const p11e_record *rec, char *msg, size_t cap)
{
	(void)r;
	/* A card's key is the card holder's officer's business: the card may
	 * hold other keys, and a lost card is replaced at the station. */
	if (!portal_renewable(rec)) {
		snprintf(msg, cap, "your key is on your card: ask for help to revoke it");
		return 409;
	}
	if (rec->revoked_reason != NULL) {
		snprintf(msg, cap, "your certificate is already revoked");
		return 409;
	}
	if (rec->step != P11E_STEP_DONE || rec->cert_pem == NULL) {
		snprintf(msg, cap,
			 "your certificate is not issued yet: there is nothing to revoke");
		return 409;
	}
	return 0;
}

int portal_revoke_identity(portal_req *r, const p11e_record *rec, char *msg, size_t cap)
{
	/* Exactly the generation the user saw: a renewal finished in between
	 * must not make this revoke the new one. */
	p11e_revoke_params rp = {.identity = rec->identity,
				 .generation = p11e_record_generation(rec),
				 .reason = P11E_REASON_KEY_COMPROMISE};
	p11e_revoke_result res;
	p11e_err err = {0}, aerr;
	p11e_rc rc, arc;
	int status = portal_revocable(r, rec, msg, cap);

	if (status != 0)
		return status;
	rc = p11e_revoke_identity(r->p->cfg, &rp, &res, &err);
	portal_audit(r, "portal-revoke", rec->identity, rc, &err, &arc, &aerr);
	if (rc != P11E_OK) {
		fprintf(stderr, "p11enroll serve: revoke for %s: %s\n", rec->identity, err.msg);
		snprintf(msg, cap, "%s",
			 rc == P11E_BUSY ? "your identity is being worked on; try again in a minute"
					 : "the revocation failed; ask for help now");
		return rc == P11E_BUSY ? 409 : 500;
	}
	/* Revoked at the CA and recorded; a publisher still to do is the
	 * operator's (p11enroll publish --retry), not the user's. */
	if (res.note[0] != '\0')
		fprintf(stderr, "p11enroll serve: revoke for %s: %s\n", rec->identity, res.note);
	return 200;
}

int portal_request_replacement(portal_req *r, const char *profile, const p11e_record *revoked,
			       p11e_record *rec, const char **msg)
{
	/* Not forced: under the identity's lock p11e_renew finds it revoked
	 * (due now), or, if another request renewed it meanwhile, not due. */
	p11e_renew_params rp = {
	    .identity = r->user, .within_days = -1, .officer_key = r->p->conf->officer_key};
	p11e_renew_result res;
	p11e_err err = {0}, aerr;
	p11e_rc rc, arc;

	memset(rec, 0, sizeof(*rec));
	/* A card's new key is made where the card is. */
	if (!portal_renewable(revoked)) {
		*msg = "your key is on your card: ask for help to get a new one";
		return 409;
	}
	if (revoked->profile != NULL && strcmp(profile, revoked->profile) != 0) {
		*msg = "a new certificate is of the same kind as the revoked one";
		return 409;
	}
	rc = p11e_renew(r->p->cfg, &rp, &res, &err);
	if (rc == P11E_OK && res.outcome == P11E_RENEW_NOT_DUE) {
		p11e_errf(&err, P11E_USAGE, "not revoked any more: a new one was made meanwhile");
		portal_audit(r, "portal-request", r->user, P11E_USAGE, &err, &arc, &aerr);
		*msg = "you already have an identity";
		return 409;
	}
	portal_audit(r, "portal-request", r->user, rc, &err, &arc, &aerr);
	if (rc != P11E_OK && rc != P11E_PENDING) {
		fprintf(stderr, "p11enroll serve: request for %s: %s\n", r->user, err.msg);
		*msg = rc == P11E_BUSY ? "your identity is being worked on; try again"
				       : "the request failed; ask your administrator";
		return rc == P11E_BUSY ? 409 : 500;
	}
	if (p11e_record_load(r->p->cfg->store, r->user, rec, &err) != P11E_OK) {
		p11e_record_clear(rec);
		*msg = "your record cannot be read now; try again later";
		return 500;
	}
	return res.outcome == P11E_RENEW_RENEWED ? 201 : 202;
}
