/* `p11enroll renew` for one identity (include/p11enroll/renew.h): the
 * decision (due or not, the token present), the start of the new
 * generation, and the run of the pipeline that makes it, all under the
 * identity's lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include <json-c/json.h>
#include "p11enroll/ca.h"
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/pem.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/profile.h"
#include "p11enroll/token.h"
#include "p11enroll/renew.h"
#include "p11enroll/session.h"
#include "p11enroll/software.h"

/* Test builds: the crash after the new generation's start is saved. */
void pipe_crash_point(const char *name);

const char *p11e_renew_outcome_name(p11e_renew_outcome o)
{
	static const char *const names[] = {"not-due", "due",	  "renewed", "pending",
					    "absent",  "skipped", "failed"};
	return (size_t)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unknown";
}

static int is_kind(const p11e_record *rec, const char *store)
{
	return rec->key_store != NULL && strcmp(rec->key_store, store) == 0;
}

/* When the certificate becomes due: the CA's window where it offers one
 * (ACME renewalInfo), else renew_within_days before notAfter. */
static p11e_rc due_from(const p11e_config *cfg, const p11e_renew_params *p,
			const p11e_renew_policy *pol, const p11e_record *rec, X509 *cert,
			time_t *from, p11e_renew_result *out, p11e_err *err)
{
	struct tm tm;
	struct json_object *conf = NULL;
	p11e_ca *ca = NULL;
	long long start = 0, end = 0;
	int days = p->within_days >= 0 ? p->within_days : pol->within_days;
	p11e_rc rc;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: its certificate's notAfter is "
				 "unreadable",
				 rec->identity);
	*from = timegm(&tm) - (time_t)days * 86400;
	snprintf(out->window, sizeof(out->window), "config");
	if (p->within_days >= 0)
		return P11E_OK; /* --within overrides every other window */
	/* Only a CA that has a window is asked; a failure to ask falls back to
	 * the configured window (RFC 9773 sec. 4.3: the client's own schedule). */
	if (p11e_config_ca(cfg, rec->ca, &conf, NULL) == P11E_OK &&
	    p11e_ca_open_in(conf, cfg->store, &ca, NULL) == P11E_OK) {
		rc = p11e_ca_renewal_window(ca, cert, &start, &end, NULL);
		if (rc == P11E_OK && start > 0 && start <= end) {
			*from = (time_t)start;
			snprintf(out->window, sizeof(out->window), "ca");
		}
	}
	p11e_ca_close(ca);
	json_object_put(conf);
	return P11E_OK;
}

/* A token identity is renewed only with its token inserted: an absent card
 * is reported, not failed ("insert card serial X"). */
static p11e_rc token_present(const p11e_config *cfg, const p11e_renew_params *p,
			     const p11e_record *rec, int *present, p11e_renew_result *out)
{
	p11e_session_params sp = {.uri = rec->token_uri, .module = p->module, .login = 0};
	p11e_session s;
	p11e_err ignored = {0};
	p11e_rc rc;

	*present = 0;
	memset(&s, 0, sizeof(s));
	rc = p11e_session_open(cfg, &sp, &s, &ignored);
	if (rc == P11E_OK)
		*present = rec->token_serial == NULL ||
			   strcmp(p11e_token_get_info(s.token)->serial, rec->token_serial) == 0;
	p11e_session_close(&s);
	if (rc != P11E_OK && rc != P11E_TOKEN_NOT_FOUND)
		return rc;
	if (!*present)
		snprintf(out->reason, sizeof(out->reason),
			 "its token is not inserted: insert card serial %s (%.100s)",
			 rec->token_serial ? rec->token_serial : "?",
			 rec->token_uri ? rec->token_uri : "");
	return P11E_OK;
}

/* Refuses what cannot be renewed the way asked, before anything changes. */
static p11e_rc check_mode(const p11e_config *cfg, const p11e_record *rec, int reuse, p11e_err *err)
{
	p11e_profile prof;
	p11e_keytype kt;
	unsigned usage = 0;
	p11e_rc rc;

	/* An encryption-only key lost CKA_SIGN once certified: it cannot sign
	 * a new CSR. */
	if (reuse && (rc = p11e_config_profile(cfg, rec->profile, &prof, err)) == P11E_OK &&
	    (rc = p11e_keytype_parse(rec->key_type, &kt, err)) == P11E_OK &&
	    (rc = p11e_profile_token_usage(&prof, kt.kind, &usage, err)) == P11E_OK &&
	    !(usage & P11E_USE_SIGN))
		return p11e_errf(err, P11E_USAGE,
				 "reuse-key: identity %s's key (profile '%s') only decrypts and "
				 "can sign no new request; renew without --reuse-key",
				 rec->identity, rec->profile);
	else if (reuse && rc != P11E_OK)
		return rc;
	if (reuse && (is_kind(rec, "software") || is_kind(rec, "archived")))
		return p11e_errf(err, P11E_USAGE,
				 "reuse-key: identity %s has a %s key, which exists only in its "
				 "PFX; its renewal makes a new key (renew without --reuse-key)",
				 rec->identity, rec->key_store);
	if (!reuse && rec->slot_id != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "reuse-key: identity %s lives in the card's key slot %s; a new "
				 "key would replace the current one before its successor is "
				 "certified: renew with --reuse-key, or replace the card",
				 rec->identity, rec->slot_id);
	return P11E_OK;
}

/* Generation N+1 begins: the current one goes into the history (still
 * "current" until its successor is stored), the record's own fields are
 * reset, all in one save. */
p11e_rc p11e_renew_begin(const p11e_config *cfg, p11e_record *rec, const char *mode,
			 const char *token_uri, p11e_err *err)
{
	int reuse = strcmp(mode, "reuse-key") == 0;
	p11e_generation *g;
	char *pfx = NULL;
	char **cleared[] = {&rec->temp_id,
			    &rec->csr_pem,
			    &rec->request_key,
			    &rec->request_id,
			    &rec->cert_pem,
			    &rec->chain_pem,
			    &rec->cert_sha256,
			    &rec->not_after,
			    &rec->last_error,
			    &rec->publish_pending,
			    &rec->published,
			    &rec->publish_sha256,
			    &rec->chain_note,
			    &rec->slot_old_key_sha256,
			    &rec->slot_old_cert_sha256,
			    &rec->slot_phase,
			    &rec->revoked_reason,
			    &rec->revoked_at};
	p11e_rc rc = p11e_record_push_generation(rec, &g, err);

	for (size_t i = 0; rc == P11E_OK && i < sizeof(cleared) / sizeof(cleared[0]); i++)
		rc = p11e_record_set(cleared[i], NULL, err);
	if (rc != P11E_OK)
		return rc;
	rec->generation = p11e_record_generation(rec) + 1;
	if (!reuse && (rc = p11e_record_set(&rec->key_id, NULL, err)) == P11E_OK)
		rc = p11e_record_set(&rec->key_id_note, NULL, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&rec->renew_mode, mode, err);
	/* replace: the new generation goes onto another card, in no slot. */
	if (rc == P11E_OK && token_uri != NULL &&
	    (rc = p11e_record_set(&rec->token_uri, token_uri, err)) == P11E_OK &&
	    (rc = p11e_record_set(&rec->token_serial, NULL, err)) == P11E_OK &&
	    (rc = p11e_record_set(&rec->slot_id, NULL, err)) == P11E_OK)
		rc = p11e_record_set(&rec->slot_kind, NULL, err);
	/* A software key's new PFX beside the first one: NAME.p12 -> NAME.gN.p12
	 * for a file, store:NAME -> store:NAME.gN in the store (the file store's
	 * pfx/NAME.gN.p12, as before). */
	if (rc == P11E_OK && rec->pfx_path != NULL) {
		const char *first =
		    rec->history[0].pfx_path ? rec->history[0].pfx_path : rec->pfx_path;
		size_t len = strlen(first) + 24;
		size_t stem = strlen(first);
		const char *ext = p11e_soft_pfx_stored(first) ? "" : ".p12";
		if (*ext != '\0' && stem > 4 && strcmp(first + stem - 4, ".p12") == 0)
			stem -= 4;
		if ((pfx = malloc(len)) == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		snprintf(pfx, len, "%.*s.g%d%s", (int)stem, first, rec->generation, ext);
		rc = p11e_record_set(&rec->pfx_path, pfx, err);
	}
	rec->step = reuse ? P11E_STEP_KEY_GENERATED : P11E_STEP_NEW;
	if (rc == P11E_OK)
		rc = p11e_record_save(cfg->store, rec, err);
	if (rc == P11E_OK)
		pipe_crash_point("renew-started");
	free(pfx);
	return rc;
}

p11e_rc p11e_renew_run(const p11e_config *cfg, const p11e_renew_params *p, p11e_record *rec,
		       p11e_renew_result *out, p11e_err *err)
{
	p11e_enroll_params ep = {
	    .email = rec->dns_name ? NULL : rec->identity,
	    .dns = rec->dns_name,
	    .module = p->module,
	    .pin_source = p->pin_source,
	    .officer_key = p->officer_key,
	    .officer_pin_source = p->officer_pin_source,
	    .lock_held = 1,
	};
	p11e_record after;
	p11e_rc rc = p11e_enroll(cfg, &ep, &after, err);

	if (after.identity != NULL) {
		p11e_record_clear(rec);
		*rec = after;
	}
	out->generation = p11e_record_generation(rec);
	if (rc == P11E_OK || (rc == P11E_PENDING && rec->step == P11E_STEP_DONE))
		out->outcome = P11E_RENEW_RENEWED; /* (pending: publishing only) */
	else if (rc == P11E_PENDING)
		out->outcome = P11E_RENEW_PENDING;
	else
		out->outcome = P11E_RENEW_FAILED;
	return rc;
}

static p11e_rc renew_locked(const p11e_config *cfg, const p11e_renew_params *p,
			    const char *identity, p11e_record *rec, p11e_renew_result *out,
			    p11e_err *err)
{
	p11e_renew_policy pol;
	X509 *cert = NULL;
	time_t from = 0;
	int present = 1, reuse = 0;
	p11e_rc rc;

	out->generation = p11e_record_generation(rec);
	if (rec->retired != NULL) {
		out->outcome = P11E_RENEW_SKIPPED;
		snprintf(out->reason, sizeof(out->reason), "wiped from its token (%s)",
			 rec->retired);
		return P11E_OK;
	}
	/* A renewal cut short is finished, never started twice. */
	if (rec->renew_mode == NULL && rec->step != P11E_STEP_DONE) {
		out->outcome = P11E_RENEW_SKIPPED;
		snprintf(out->reason, sizeof(out->reason),
			 "not enrolled yet (step %s): finish it with p11enroll enroll",
			 p11e_step_name(rec->step));
		return P11E_OK;
	}
	if ((rc = p11e_renew_policy_get(cfg, rec->profile, &pol, err)) != P11E_OK)
		return rc;
	if (rec->renew_mode == NULL) {
		if ((cert = p11e_x509_from_pem(rec->cert_pem)) == NULL)
			return p11e_errf(err, P11E_FAIL,
					 "identity %s: its record's certificate is unreadable",
					 identity);
		rc = due_from(cfg, p, &pol, rec, cert, &from, out, err);
		X509_free(cert);
		if (rc != P11E_OK)
			return rc;
		p11e_iso_format(from, out->due_from);
		if (p->force)
			snprintf(out->window, sizeof(out->window), "forced");
		else if (rec->revoked_reason != NULL)
			snprintf(out->window, sizeof(out->window), "revoked");
		else if (p11e_now() < from) {
			out->outcome = P11E_RENEW_NOT_DUE;
			return P11E_OK;
		}
		reuse = p->reuse_key || pol.reuse_key;
		if ((rc = check_mode(cfg, rec, reuse, err)) != P11E_OK)
			return rc;
	}
	if (!is_kind(rec, "software") &&
	    (rc = token_present(cfg, p, rec, &present, out)) != P11E_OK)
		return rc;
	if (!present) {
		out->outcome = P11E_RENEW_ABSENT;
		return P11E_OK;
	}
	if (p->dry_run) {
		out->outcome = P11E_RENEW_DUE;
		return P11E_OK;
	}
	if (rec->renew_mode == NULL &&
	    (rc = p11e_renew_begin(cfg, rec, reuse ? "reuse-key" : "rekey", NULL, err)) != P11E_OK)
		return rc;
	return p11e_renew_run(cfg, p, rec, out, err);
}

p11e_rc p11e_renew(const p11e_config *cfg, const p11e_renew_params *p, p11e_renew_result *out,
		   p11e_err *err)
{
	p11e_held h;
	p11e_record *rec = &h.rec;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	out->outcome = P11E_RENEW_FAILED;
	/* From the decision to the last save: two renewals of one identity
	 * would each make a generation. */
	rc = p11e_held_acquire(cfg, p->identity, p->wait_ms, &h, err);
	if (rc == P11E_NOT_FOUND)
		rc =
		    p11e_errf(err, P11E_NOT_FOUND, "no record for %s: enroll it first", h.identity);
	if (rc == P11E_OK)
		rc = renew_locked(cfg, p, h.identity, rec, out, err);
	if (rec->not_after != NULL)
		snprintf(out->not_after, sizeof(out->not_after), "%s", rec->not_after);
	else if (rec->n_history > 0 && rec->history[rec->n_history - 1].not_after != NULL)
		snprintf(out->not_after, sizeof(out->not_after), "%s",
			 rec->history[rec->n_history - 1].not_after);
	if (rc != P11E_OK && out->outcome != P11E_RENEW_PENDING &&
	    out->outcome != P11E_RENEW_RENEWED)
		out->outcome = P11E_RENEW_FAILED;
	if (rc != P11E_OK && err != NULL)
		snprintf(out->reason, sizeof(out->reason), "%s", err->msg);
	p11e_held_release(&h);
	return rc;
}
