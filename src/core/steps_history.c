/* The pipeline's last step, stored -> done: for a renewal, the generation it
 * replaces settled on the token and made "superseded"; then publishing and
 * the post_renew_command hook (include/p11enroll/renew.h). Each part is
 * recorded when done, so a rerun after a crash does only what is left; a
 * token action repeated (relabel, destroy of what is gone) is harmless. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include "core/hook.h"
#include "core/pipeline_steps.h"
#include "p11enroll/pem.h"
#include "p11enroll/publish.h"
#include "p11enroll/recover.h"
#include "p11enroll/renew.h"

static int same_token(const enroll_run *r, const p11e_generation *g)
{
	return r->token != NULL && g->key_id != NULL &&
	       (g->token_serial == NULL || r->rec->token_serial == NULL ||
		strcmp(g->token_serial, r->rec->token_serial) == 0);
}

static int on_a_token(const p11e_generation *g)
{
	return g->key_store == NULL || strcmp(g->key_store, "software") != 0;
}

/* The old label with the month the old certificate was issued: old
 * encryption keys stay findable by people ("alice@example.com (2026-11)")
 * while the new key has the plain label. */
static p11e_rc history_label(const char *base, const p11e_generation *g, X509 *old, char **out,
			     p11e_err *err)
{
	char iso[32];
	size_t len;

	if (p11e_asn1_time_iso(X509_get0_notBefore(old), iso, sizeof(iso)) != 0)
		return p11e_errf(err, P11E_FAIL, "generation %d: unreadable notBefore", g->number);
	len = strlen(base ? base : "") + 16;
	if ((*out = malloc(len)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(*out, len, "%s (%.7s)", base ? base : "", iso);
	return P11E_OK;
}

/* Removes generation g's key pair and certificate from the token. */
static p11e_rc remove_generation(enroll_run *r, p11e_generation *g, X509 *cert, int key_too,
				 p11e_err *err)
{
	p11e_id id;
	size_t n = 0;
	p11e_rc rc = P11E_OK;

	if (cert != NULL)
		rc = p11e_token_destroy_cert_value(r->token, cert, &n, err);
	if (rc != P11E_OK || !key_too)
		return rc;
	if ((rc = pipe_parse_id(g->key_id, &id, "history key_id", err)) != P11E_OK)
		return rc;
	rc = p11e_token_destroy(r->token, 3 /* CKO_PRIVATE_KEY */, &id, &n, err);
	if (rc == P11E_OK)
		rc = p11e_token_destroy(r->token, 2 /* CKO_PUBLIC_KEY */, &id, &n, err);
	if (rc == P11E_OK)
		rc = p11e_token_destroy(r->token, 1 /* CKO_CERTIFICATE */, &id, &n, err);
	return rc;
}

p11e_rc pipe_history_make_room(enroll_run *r, p11e_err *err)
{
	p11e_generation *g = p11e_record_renewing(r->rec);
	X509 *old;
	p11e_rc rc;

	if (g == NULL || !on_a_token(g) || !same_token(r, g) || r->rec->key_id == NULL ||
	    strcmp(g->key_id, r->rec->key_id) != 0)
		return P11E_OK;
	if ((old = p11e_x509_from_pem(g->cert_pem)) == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: generation %d's certificate is unreadable in its "
				 "record",
				 r->rec->identity, g->number);
	rc = remove_generation(r, g, old, 0, err);
	X509_free(old);
	return rc;
}

/* What the old generation leaves on the token (g->on_token once done). */
static p11e_rc settle_token(enroll_run *r, p11e_generation *g, X509 *old, p11e_err *err)
{
	const char *on = "removed";
	char *label = NULL;
	p11e_id id;
	size_t n = 0;
	p11e_rc rc = P11E_OK;

	if (!on_a_token(g) || g->key_id == NULL)
		return P11E_OK;
	if (!same_token(r, g))
		on = "elsewhere"; /* a replaced card: nothing here to settle */
	else if (r->rec->key_id != NULL && strcmp(g->key_id, r->rec->key_id) == 0) {
		on = "shared"; /* reused key: only the old certificate goes */
		rc = remove_generation(r, g, old, 0, err);
	} else if (r->profile.purposes & P11E_PURPOSE_ENCRYPT) {
		on = "kept";
		rc = history_label(g->label, g, old, &label, err);
		if (rc == P11E_OK)
			rc = pipe_parse_id(g->key_id, &id, "history key_id", err);
		if (rc == P11E_OK)
			rc = p11e_token_set_label(r->token, &id, label, &n, err);
		if (rc == P11E_OK)
			rc = p11e_record_set(&g->label, label, err);
	} else {
		rc = remove_generation(r, g, old, 1, err);
	}
	if (rc == P11E_OK)
		rc = p11e_record_set(&g->on_token, on, err);
	if (rc == P11E_OK)
		rc = pipe_save(r, err);
	if (rc == P11E_OK)
		pipe_crash_point("history-settled");
	free(label);
	return rc;
}

/* At most keep old encryption keys stay on the token (-1: all); older
 * ones are removed, newest kept first. */
static p11e_rc enforce_keep(enroll_run *r, int keep, p11e_err *err)
{
	int kept = 0;
	p11e_rc rc = P11E_OK;

	if (keep < 0)
		return P11E_OK;
	for (size_t i = r->rec->n_history; rc == P11E_OK && i-- > 0;) {
		p11e_generation *g = &r->rec->history[i];
		X509 *cert;
		if (g->on_token == NULL || strcmp(g->on_token, "kept") != 0 || !same_token(r, g))
			continue;
		if (++kept <= keep)
			continue;
		cert = g->cert_pem ? p11e_x509_from_pem(g->cert_pem) : NULL;
		rc = remove_generation(r, g, cert, 1, err);
		X509_free(cert);
		if (rc == P11E_OK)
			rc = p11e_record_set(&g->on_token, "removed", err);
		if (rc == P11E_OK)
			rc = pipe_save(r, err);
	}
	return rc;
}

/* The old certificate leaves the directories it was published to when it
 * signed only, or when a publisher keeps no encryption history; the
 * publish step below withdraws it (unpublish_pending) before publishing the
 * new one. */
static p11e_rc plan_withdrawal(enroll_run *r, p11e_generation *g, p11e_err *err)
{
	char *names = NULL, name[128];
	const char *s = g->published;
	size_t used = 0, cap;
	p11e_rc rc = P11E_OK;

	if (g->published == NULL || g->unpublish_pending != NULL)
		return P11E_OK;
	cap = strlen(g->published) + 1;
	if ((names = calloc(1, cap)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	while (*s != '\0') {
		size_t len = strcspn(s, " ");
		if (len > 0 && len < sizeof(name)) {
			memcpy(name, s, len);
			name[len] = '\0';
			if (!(r->profile.purposes & P11E_PURPOSE_ENCRYPT) ||
			    p11e_publish_keeps_encryption_history(r->cfg, name) == 0)
				used += (size_t)snprintf(names + used, cap - used, "%s%s",
							 used ? " " : "", name);
		}
		s += len + (s[len] == ' ');
	}
	if (used > 0)
		rc = p11e_record_set(&g->unpublish_pending, names, err);
	free(names);
	return rc;
}

/* replace: an archived identity's key history onto the new card, each
 * generation's key from its PFX and escrowed password (p11e_recover, which
 * audits it and imports only what is missing), relabelled after its month. */
static p11e_rc recover_history(enroll_run *r, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	if (r->rec->renew_mode == NULL || strcmp(r->rec->renew_mode, "replace") != 0 ||
	    r->token == NULL)
		return P11E_OK;
	for (size_t i = 0; rc == P11E_OK && i < r->rec->n_history; i++) {
		p11e_generation *g = &r->rec->history[i];
		p11e_recover_params rp = {
		    .identity = r->rec->identity,
		    .generation = g->number,
		    .lock_held = 1,
		    .token = r->token,
		    .module = r->p->module,
		    .officer_key = r->p->officer_key,
		    .officer_pin_source = r->p->officer_pin_source,
		};
		p11e_recover_result res;
		char *label = NULL;
		X509 *cert;
		if (g->key_store == NULL || strcmp(g->key_store, "archived") != 0 ||
		    strcmp(g->state, "retired") == 0 ||
		    (g->on_token != NULL && strcmp(g->on_token, "recovered") == 0))
			continue;
		if ((cert = p11e_x509_from_pem(g->cert_pem)) == NULL)
			return p11e_errf(err, P11E_FAIL,
					 "identity %s: generation %d's certificate is unreadable",
					 r->rec->identity, g->number);
		rc = history_label(r->rec->label, g, cert, &label, err);
		X509_free(cert);
		rp.label = label;
		if (rc == P11E_OK)
			rc = p11e_recover(r->cfg, &rp, &res, err);
		if (rc == P11E_OK &&
		    (rc = p11e_record_set(&g->on_token, "recovered", err)) == P11E_OK &&
		    (rc = p11e_record_set(&g->token_serial, r->rec->token_serial, err)) == P11E_OK)
			rc = p11e_record_set(&g->label, label, err);
		if (rc == P11E_OK)
			rc = pipe_save(r, err);
		if (rc == P11E_OK)
			pipe_crash_point("history-recovered");
		free(label);
	}
	return rc;
}

/* A renewal's old generation: settled on the token, withdrawal planned,
 * then superseded (unless it was revoked meanwhile). */
static p11e_rc settle_history(enroll_run *r, p11e_err *err)
{
	p11e_generation *g = p11e_record_renewing(r->rec);
	p11e_renew_policy pol;
	X509 *old = NULL;
	p11e_rc rc;

	if (g == NULL)
		return P11E_OK;
	rc = p11e_renew_policy_get(r->cfg, r->rec->profile, &pol, err);
	if (rc == P11E_OK && (old = p11e_x509_from_pem(g->cert_pem)) == NULL)
		rc = p11e_errf(err, P11E_FAIL,
			       "identity %s: generation %d's certificate is "
			       "unreadable in its record",
			       r->rec->identity, g->number);
	if (rc == P11E_OK && g->on_token == NULL)
		rc = settle_token(r, g, old, err);
	if (rc == P11E_OK)
		rc = recover_history(r, err);
	if (rc == P11E_OK && r->token != NULL)
		rc = enforce_keep(r, pol.keep_old_enc_keys, err);
	if (rc == P11E_OK)
		rc = plan_withdrawal(r, g, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&g->state, g->revoked_reason ? "revoked" : "superseded", err);
	if (rc == P11E_OK)
		rc = pipe_save(r, err);
	X509_free(old);
	return rc;
}

/* Publishing never blocks the card: a failure leaves the identity done
 * with publish_pending for `p11enroll publish --retry` (or `poll`), and
 * the run says so with P11E_PENDING once everything else is finished. */
static p11e_rc publish(enroll_run *r, int *pending, p11e_err *err)
{
	p11e_publish_result res;
	p11e_err perr = {0};
	char *targets = NULL;
	p11e_rc rc = p11e_publish_targets(r->cfg, r->rec->profile, &targets, err);

	*pending = 0;
	if (rc != P11E_OK)
		return rc;
	if ((targets[0] != '\0' || r->rec->publish_pending != NULL) &&
	    p11e_publish_record(r->cfg, r->rec, 0, 0, &res, &perr) != P11E_OK) {
		*pending = 1;
		p11e_errf(err, P11E_PENDING,
			  "identity %s: the certificate is stored; publishing is pending (%s): "
			  "run p11enroll publish --retry %s later",
			  r->rec->identity, perr.msg, r->rec->identity);
	}
	free(targets);
	return P11E_OK;
}

static p11e_rc run_hook(enroll_run *r, p11e_err *err)
{
	p11e_renew_policy pol;
	int status = 0;
	p11e_rc rc = p11e_renew_policy_get(r->cfg, r->rec->profile, &pol, err);

	if (rc != P11E_OK || pol.post_renew_command == NULL)
		return rc;
	rc = p11e_hook_run(pol.post_renew_command, r->rec, r->cfg->state_dir, &status, err);
	if (rc == P11E_OK && status != 0)
		fprintf(stderr,
			"p11enroll: warning: identity %s: post_renew_command exited %d; the "
			"renewal is stored all the same\n",
			r->rec->identity, status);
	return rc;
}

/* stored -> done. */
p11e_rc pipe_step_finish(enroll_run *r, p11e_err *err)
{
	int pending = 0;
	p11e_err perr = {0};
	p11e_rc rc = settle_history(r, err);

	if (rc == P11E_OK)
		rc = publish(r, &pending, &perr);
	if (rc == P11E_OK && r->rec->renew_mode != NULL) {
		/* At least once: a crash after it and before the save below
		 * runs it again (hooks must be idempotent, as certmonger's). */
		pipe_crash_point("before-hook");
		rc = run_hook(r, err);
		if (rc == P11E_OK)
			rc = p11e_record_set(&r->rec->renew_mode, NULL, err);
	}
	if (rc != P11E_OK)
		return rc;
	r->rec->step = P11E_STEP_DONE;
	if (pending) {
		if (err != NULL)
			*err = perr;
		return P11E_PENDING;
	}
	return P11E_OK;
}
