/* What the JSON API and the HTML pages share: whose record a request may
 * touch, the audit line written before anything is sent, the password
 * reveal, the sign-in with an invitation code, a new software identity and
 * its renewal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include "p11enroll/audit.h"
#include "p11enroll/clock.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/record.h"
#include "p11enroll/renew.h"
#include "p11enroll/util.h"
#include "p11enroll/validate.h"
#include "p11enroll/vault.h"
#include "portal_int.h"

void portal_audit(portal_req *r, const char *action, const char *identity, p11e_rc outcome,
		  const p11e_err *outcome_err, p11e_rc *audit_rc, p11e_err *err)
{
	const char *extra[] = {
	    "portal_user", r->user[0] ? r->user : NULL, "client", r->client, "auth", r->auth, NULL};

	*audit_rc = p11e_audit_write(r->p->cfg, action, identity, extra, outcome, outcome_err, err);
	if (*audit_rc != P11E_OK)
		fprintf(stderr, "p11enroll serve: audit log: %s\n", err->msg);
}

int portal_own_record(portal_req *r, const char *id, p11e_record *rec)
{
	char *identity;
	p11e_err err;
	p11e_rc rc;

	memset(rec, 0, sizeof(*rec));
	if (r->user[0] == '\0') {
		char msg[300];

		snprintf(msg, sizeof(msg), "not signed in: %s",
			 r->cert_problem[0] ? r->cert_problem
					    : "present your client certificate or sign in with "
					      "your invitation code (POST /api/v1/session)");
		portal_send_error(r, 401, msg);
		return 401;
	}
	/* Another user's identity is refused whether or not it exists. */
	if ((identity = p11e_record_identity(id)) == NULL || strcmp(identity, r->user) != 0) {
		free(identity);
		portal_send_error(r, 403, "not yours: you may only reach your own identity");
		return 403;
	}
	rc = p11e_record_load(r->p->cfg->store, identity, rec, &err);
	free(identity);
	if (rc == P11E_OK && rec->retired == NULL)
		return 0;
	p11e_record_clear(rec);
	if (rc == P11E_OK || rc == P11E_NOT_FOUND) {
		portal_send_error(r, 404, "you have no identity yet");
		return 404;
	}
	fprintf(stderr, "p11enroll serve: %s\n", err.msg);
	portal_send_error(r, 500, "your record cannot be read now; try again later");
	return 500;
}

p11e_rc portal_reveal(portal_req *r, const p11e_record *rec, char **password, size_t *len,
		      p11e_err *err)
{
	/* The current generation's password: a renewed software identity has
	 * a new PFX whose password is escrowed under "IDENTITY#N". */
	char *name = p11e_record_secret_name(rec->identity, p11e_record_generation(rec));
	p11e_vault_open_params vp = {.officer_key = r->p->conf->officer_key};
	p11e_vault *v = NULL;
	unsigned char *secret = NULL;
	p11e_rc rc;

	*password = NULL;
	*len = 0;
	if (name == NULL)
		return p11e_errf(err, P11E_FAIL, "reveal: out of memory");
	if ((rc = p11e_vault_open(r->p->cfg, &vp, &v, err)) == P11E_OK) {
		rc = p11e_vault_get(v, name, &secret, len, err);
		p11e_vault_close(v);
	}
	free(name);
	if (rc == P11E_OK)
		*password = (char *)secret;
	return rc;
}

int portal_sign_in(portal_req *r, const char *email, const char *code, p11e_err *err)
{
	char *identity = NULL, *spelling = NULL, token[PORTAL_TOKEN_LEN], retry[24];
	p11e_err audit_err;
	p11e_rc rc, arc;
	long wait;

	if (email == NULL || code == NULL) {
		p11e_errf(err, P11E_USAGE, "session: send {\"email\": ..., \"code\": ...}");
		return 400;
	}
	/* Checked before anything is counted: a malformed address is the
	 * sender's mistake, not a guess. */
	if (!p11e_email_valid(email)) {
		p11e_errf(err, P11E_USAGE, "email: not a valid email address");
		return 400;
	}
	if ((identity = p11e_record_identity(email)) == NULL) {
		p11e_errf(err, P11E_FAIL, "session: out of memory");
		return 500;
	}
	/* Refused before the code is looked at, so a flood learns nothing;
	 * only this client's tries wait (docs/portal.md, Security model). */
	if ((wait = portal_attempt_wait(r->p, r->client, identity)) > 0) {
		free(identity);
		snprintf(retry, sizeof(retry), "%ld", wait);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", retry);
		p11e_errf(err, P11E_BUSY,
			  "too many failed sign-ins from your address: wait %ld seconds and try "
			  "again",
			  wait);
		return 429;
	}
	rc = p11e_portal_invite_redeem(r->p->cfg, identity, code, &spelling, err);
	if (rc == P11E_OK)
		rc = portal_session_new(r->p, identity, spelling, token, err);
	snprintf(r->user, sizeof(r->user), "%s", rc == P11E_OK ? identity : "");
	snprintf(r->email, sizeof(r->email), "%s", rc == P11E_OK && spelling ? spelling : r->user);
	free(spelling);
	r->auth = "code";
	portal_audit(r, "portal-sign-in", identity, rc, err, &arc, &audit_err);
	if (rc != P11E_OK) {
		r->user[0] = '\0';
		/* Only a wrong code counts; a store that cannot be read does not. */
		if (rc == P11E_NOT_FOUND)
			portal_attempt_failed(r->p, r->client, identity);
		free(identity);
		return rc == P11E_NOT_FOUND ? 401 : 500;
	}
	portal_attempt_succeeded(r->p, r->client, identity);
	free(identity);
	snprintf(r->session, sizeof(r->session), "%s", token);
	return 0;
}

static int profile_offered(const p11e_portal_conf *c, const char *profile)
{
	for (size_t i = 0; c->profiles[i] != NULL; i++)
		if (strcmp(c->profiles[i], profile) == 0)
			return 1;
	return 0;
}

int portal_request_identity(portal_req *r, const char *profile, p11e_record *rec, const char **msg)
{
	p11e_enroll_params ep = {.email = r->email[0] ? r->email : r->user,
				 .profile = profile,
				 .software = 1,
				 .officer_key = r->p->conf->officer_key};
	p11e_record existing;
	p11e_err err, aerr;
	p11e_rc rc, arc;

	memset(rec, 0, sizeof(*rec));
	if (!profile_offered(r->p->conf, profile)) {
		*msg = "this profile is not offered for self-service";
		return 403;
	}
	if (p11e_record_load(r->p->cfg->store, r->user, &existing, &err) == P11E_OK) {
		int in_use = existing.retired == NULL;
		/* Revoked by its user ("I lost my laptop"): a new generation. */
		int revoked = in_use && existing.revoked_reason != NULL;

		if (revoked && existing.step == P11E_STEP_DONE) {
			int status = portal_request_replacement(r, profile, &existing, rec, msg);

			p11e_record_clear(&existing);
			return status;
		}
		p11e_record_clear(&existing);
		if (in_use) {
			*msg = "you already have an identity";
			return 409;
		}
	}
	rc = p11e_enroll(r->p->cfg, &ep, rec, &err);
	portal_audit(r, "portal-request", r->user, rc, &err, &arc, &aerr);
	if (rc == P11E_OK || rc == P11E_PENDING)
		return rc == P11E_OK ? 201 : 202;
	fprintf(stderr, "p11enroll serve: request for %s: %s\n", r->user, err.msg);
	*msg = rc == P11E_BUSY ? "your identity is being worked on; try again"
			       : "the request failed; ask your administrator";
	return rc == P11E_BUSY ? 409 : 500;
}

int portal_renewable(const p11e_record *rec)
{
	/* "archived" is left out: its key is on a card too, which the portal
	 * cannot reach; it is renewed where the card is. */
	return rec->key_store != NULL && strcmp(rec->key_store, "software") == 0;
}

int portal_renewal_due(const portal_req *r, const p11e_record *rec)
{
	time_t exp = rec->not_after ? p11e_iso_parse(rec->not_after) : 0;
	p11e_renew_policy pol = {.within_days = 30};
	p11e_err err;

	if (p11e_renew_policy_get(r->p->cfg, rec->profile, &pol, &err) != P11E_OK)
		pol.within_days = 30;
	return exp > 0 && exp - p11e_now() < pol.within_days * 86400L;
}

int portal_renew_identity(portal_req *r, const p11e_record *rec, p11e_renew_result *res, char *msg,
			  size_t cap)
{
	p11e_renew_params rp = {
	    .identity = rec->identity, .within_days = -1, .officer_key = r->p->conf->officer_key};
	p11e_err err = {0}, aerr;
	p11e_rc rc, arc;

	memset(res, 0, sizeof(*res));
	if (!portal_renewable(rec)) {
		snprintf(msg, cap, "your key is on your card: renew it where the card is");
		return 409;
	}
	/* p11e_renew decides whether it is due (the profile's window, or the
	 * CA's renewal information), as `p11enroll renew` does. */
	rc = p11e_renew(r->p->cfg, &rp, res, &err);
	portal_audit(r, "portal-renew", rec->identity, rc, &err, &arc, &aerr);
	if (rc != P11E_OK ||
	    (res->outcome != P11E_RENEW_RENEWED && res->outcome != P11E_RENEW_PENDING &&
	     res->outcome != P11E_RENEW_NOT_DUE)) {
		fprintf(stderr, "p11enroll serve: renew for %s: %s\n", rec->identity,
			rc != P11E_OK ? err.msg : res->reason);
		snprintf(msg, cap, "%s",
			 rc == P11E_BUSY ? "your identity is being worked on; try again"
					 : "the renewal failed; ask your administrator");
		return rc == P11E_BUSY ? 409 : 500;
	}
	if (res->outcome == P11E_RENEW_NOT_DUE) {
		snprintf(msg, cap, "not due yet: renewal opens %s",
			 res->due_from[0] ? res->due_from : "later");
		return 409;
	}
	return res->outcome == P11E_RENEW_RENEWED ? 201 : 202;
}
