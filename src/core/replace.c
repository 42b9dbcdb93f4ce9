/* `p11enroll replace` (include/p11enroll/replace.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "p11enroll/ca.h"
#include "p11enroll/card.h"
#include "p11enroll/lock.h"
#include "p11enroll/replace.h"
#include "p11enroll/revoke.h"
#include "p11enroll/session.h"
#include "p11enroll/software.h"
#include "p11enroll/vault.h"

static int is(const char *s, const char *value)
{
	return s != NULL && strcmp(s, value) == 0;
}

/* Whether the generation just before the current one was made by a
 * replacement: it was settled as left on another card, or (archived)
 * recovered onto the new one. Only replace leaves either on it. */
static int replaced_last(const p11e_record *rec)
{
	const p11e_generation *g = rec->n_history ? &rec->history[rec->n_history - 1] : NULL;

	return g != NULL && (is(g->on_token, "elsewhere") || is(g->on_token, "recovered"));
}

/* The card at NEW-URI, opened without a login: *same when it is the card
 * the identity's current generation is on. */
static p11e_rc open_card(const p11e_config *cfg, const p11e_replace_params *p,
			 const p11e_record *rec, p11e_session *s, int *same, p11e_err *err)
{
	p11e_session_params sp = {.uri = p->token_uri, .module = p->module, .login = 0};
	p11e_rc rc;

	memset(s, 0, sizeof(*s));
	rc = p11e_session_open(cfg, &sp, s, err);
	*same = rc == P11E_OK && rec->token_serial != NULL &&
		strcmp(p11e_token_get_info(s->token)->serial, rec->token_serial) == 0;
	return rc;
}

/* An archived generation the replacement recovers onto the new card (as
 * steps_history.c's recover_history picks them). */
static int to_recover(const char *key_store, const char *state, const char *on_token)
{
	return is(key_store, "archived") && !is(state, "retired") && !is(on_token, "recovered");
}

/* Appends number to a list read "1", "1 and 2", "1, 2 and 3". */
static void list_add(char *list, size_t cap, int number)
{
	char *joint = strstr(list, " and ");
	size_t used;

	if (joint != NULL) { /* the last "and" becomes a comma */
		memmove(joint + 1, joint + 4, strlen(joint + 4) + 1);
		joint[0] = ',';
	}
	used = strlen(list);
	snprintf(list + used, cap - used, "%s%d", used ? " and " : "", number);
}

/* The PFX of an archived generation must be there to be recovered. */
static p11e_rc check_pfx(const p11e_config *cfg, const p11e_record *rec, int number,
			 const char *pfx, p11e_err *err)
{
	char *data = NULL;
	size_t len = 0;
	p11e_err inner;
	p11e_rc rc =
	    pfx != NULL ? p11e_soft_pfx_read(cfg->store, pfx, &data, &len, &inner) : P11E_NOT_FOUND;

	free(data); /* encrypted */
	if (rc == P11E_OK)
		return P11E_OK;
	return p11e_errf(err, P11E_NOT_FOUND,
			 "identity %s: generation %d's PFX %s is not readable, and its archived "
			 "key is to be recovered onto the new card: restore the file; nothing was "
			 "revoked",
			 rec->identity, number, pfx ? pfx : "(none recorded)");
}

/* Archived keys to restore: the vault opens for reading (the file vault:
 * with an escrow officer's key that matches an officer certificate) and
 * every PFX is there. */
static p11e_rc check_recovery(const p11e_config *cfg, const p11e_replace_params *p,
			      const p11e_record *rec, int resumed, p11e_err *err)
{
	p11e_vault_open_params vp = {
	    .officer_key = p->officer_key,
	    .officer_pin_source = p->officer_pin_source,
	    .module = p->module,
	};
	p11e_vault *v = NULL;
	char numbers[128] = "";
	p11e_rc rc = P11E_OK;

	for (size_t i = 0; rc == P11E_OK && i < rec->n_history; i++) {
		const p11e_generation *g = &rec->history[i];
		if (!to_recover(g->key_store, g->state, g->on_token))
			continue;
		list_add(numbers, sizeof(numbers), g->number);
		rc = check_pfx(cfg, rec, g->number, g->pfx_path, err);
	}
	/* The current generation joins the history when the new one begins. */
	if (rc == P11E_OK && !resumed && to_recover(rec->key_store, NULL, NULL)) {
		list_add(numbers, sizeof(numbers), p11e_record_generation(rec));
		rc = check_pfx(cfg, rec, p11e_record_generation(rec), rec->pfx_path, err);
	}
	if (rc != P11E_OK || numbers[0] == '\0')
		return rc;
	rc = p11e_vault_open(cfg, &vp, &v, err);
	if (rc == P11E_OK && p->officer_key == NULL && strcmp(p11e_vault_type(v), "file") == 0)
		rc = p11e_errf(err, P11E_USAGE,
			       "officer-key: identity %s has archived keys (generation %s) to "
			       "recover onto the new card from the file vault: give --officer-key "
			       "FILE or pkcs11: URI, an escrow officer's key; nothing was revoked",
			       rec->identity, numbers);
	p11e_vault_close(v);
	return rc;
}

/* The CA a generation was issued by (or the new one will be) opens: the
 * embedded CA's files are there, a CA key on a token logs in. */
static p11e_rc check_ca(const p11e_config *cfg, const char *spec, p11e_err *err)
{
	p11e_ca *ca = NULL;
	p11e_rc rc = p11e_config_open_ca(cfg, spec, &ca, err);

	p11e_ca_close(ca);
	return rc;
}

/* Whether generation g (NULL: the current one) is to be revoked as being
 * on the old card. */
static int on_old_card(const p11e_record *rec, const p11e_generation *g)
{
	if (g == NULL)
		return rec->cert_pem != NULL && rec->revoked_reason == NULL;
	return g->cert_pem != NULL && g->revoked_reason == NULL && rec->token_serial != NULL &&
	       is(g->token_serial, rec->token_serial) && !is(g->state, "retired");
}

/* Everything the replacement needs, before it changes anything: the new
 * card there and logged in, each CA involved reachable, and for archived
 * keys the vault and officer key. */
static p11e_rc check_ready(const p11e_config *cfg, const p11e_replace_params *p,
			   const p11e_record *rec, p11e_session *card, p11e_err *err)
{
	p11e_session_params sp = {
	    .uri = p->token_uri, .module = p->module, .pin_source = p->pin_source, .login = 1};
	p11e_rc rc = p11e_session_login(cfg, &sp, card, err);

	/* A new card the registry has as lost, suspended, ... : refused before
	 * the old card's certificates are revoked (the pipeline checks again). */
	if (rc == P11E_OK)
		rc = p11e_card_enroll_check(cfg, p11e_token_get_info(card->token)->serial, NULL,
					    err);
	if (rc == P11E_OK)
		rc = check_ca(cfg, rec->ca, err);
	for (size_t i = 0; rc == P11E_OK && i < rec->n_history; i++)
		if (on_old_card(rec, &rec->history[i]) && rec->history[i].ca != NULL &&
		    !is(rec->history[i].ca, rec->ca))
			rc = check_ca(cfg, rec->history[i].ca, err);
	if (rc == P11E_OK)
		rc = check_recovery(cfg, p, rec, 0, err);
	return rc;
}

/* Every generation with a certificate still valid on the old card. */
static p11e_rc revoke_old_card(const p11e_config *cfg, const p11e_replace_params *p,
			       p11e_record *rec, p11e_replace_result *out, p11e_err *err)
{
	p11e_revoke_params rp = {.identity = rec->identity, .reason = p->reason};
	p11e_revoke_result res;
	p11e_rc rc = P11E_OK;
	int numbers[64], n = 0;

	for (size_t i = 0; i < rec->n_history && n < 63; i++)
		if (on_old_card(rec, &rec->history[i]))
			numbers[n++] = rec->history[i].number;
	if (on_old_card(rec, NULL))
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

/* The old card's generations the record shows revoked, in a replacement
 * that began (or finished) before this run: old_serial is the card of the
 * generation it replaced; a recovered archived key now names the new card. */
static int revoked_before(const p11e_record *rec, const char *old_serial, char *list, size_t cap)
{
	int n = 0;

	list[0] = '\0';
	for (size_t i = 0; i < rec->n_history; i++) {
		const p11e_generation *g = &rec->history[i];
		if (g->revoked_reason == NULL || is(g->state, "retired") ||
		    !(is(g->token_serial, old_serial) || is(g->on_token, "recovered")))
			continue;
		list_add(list, cap, g->number);
		n++;
	}
	/* Before the new generation began: the current one was revoked too. */
	if (rec->renew_mode == NULL && rec->step == P11E_STEP_DONE && !replaced_last(rec) &&
	    rec->revoked_reason != NULL) {
		list_add(list, cap, p11e_record_generation(rec));
		n++;
	}
	return n;
}

/* A word safe to paste into a shell as it is, or in single quotes. */
static void shell_word(char *out, size_t cap, const char *word)
{
	int plain = 1;

	for (const char *c = word; *c; c++)
		if (!isalnum((unsigned char)*c) && strchr("@%+=:,./_-", *c) == NULL)
			plain = 0;
	snprintf(out, cap, plain ? "%s" : "'%s'", word);
}

/* A stop once something changed: what was done, and how to finish. */
static p11e_rc half_done(const p11e_record *rec, const p11e_replace_params *p,
			 const char *old_serial, p11e_rc rc, p11e_err *err)
{
	char revoked[160], step[200] = "", uri[300], key[300] = "", cause[P11E_ERR_MAX];
	char *plain_key = p->officer_key ? strdup(p->officer_key) : NULL;
	int archived = is(rec->key_store, "archived");

	for (size_t i = 0; i < rec->n_history; i++)
		archived |= is(rec->history[i].key_store, "archived");
	revoked_before(rec, old_serial, revoked, sizeof(revoked));
	if (rec->renew_mode != NULL)
		snprintf(step, sizeof(step), "; generation %d begun on %.150s (at step %s)",
			 p11e_record_generation(rec), rec->token_uri ? rec->token_uri : "",
			 p11e_step_name(rec->step));
	/* A URI's query may carry a PIN: the path part only. */
	if (plain_key != NULL && strncmp(plain_key, "pkcs11:", 7) == 0 &&
	    strchr(plain_key, '?') != NULL)
		*strchr(plain_key, '?') = '\0';
	if (archived) {
		char word[280];
		shell_word(word, sizeof(word), plain_key ? plain_key : "KEY");
		snprintf(key, sizeof(key), " --officer-key %s", word);
	}
	free(plain_key);
	shell_word(uri, sizeof(uri),
		   rec->renew_mode && rec->token_uri ? rec->token_uri : p->token_uri);
	snprintf(cause, sizeof(cause), "%s", err != NULL ? err->msg : "");
	return p11e_errf(err, rc,
			 "identity %s: the replacement is half done: revoked generation%s %s%s; "
			 "stopped: %.200s; finish it with: p11enroll replace %s %s%s",
			 rec->identity, strchr(revoked, ' ') ? "s" : "",
			 revoked[0] ? revoked : "(none)", step, cause, rec->identity, uri, key);
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
	p11e_session card;
	char old_serial[64] = "", list[160];
	const char *identity;
	int same = 0, changed = 0;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	memset(&card, 0, sizeof(card));
	if (p->token_uri == NULL)
		return p11e_errf(err, P11E_USAGE, "replace: give IDENTITY and the new card's URI");
	rc = p11e_held_acquire(cfg, p->identity, p->wait_ms, &h, err);
	identity = h.identity;
	if (rc != P11E_OK)
		goto out;
	/* A replacement cut short is finished, whatever URI is given now. */
	if (is(rec->renew_mode, "replace")) {
		const p11e_generation *g = p11e_record_renewing(rec);
		snprintf(old_serial, sizeof(old_serial), "%s",
			 g && g->token_serial ? g->token_serial : "");
		out->already_revoked = revoked_before(rec, old_serial, list, sizeof(list));
		changed = 1;
		rc = check_recovery(cfg, p, rec, 1, err);
		if (rc == P11E_OK)
			goto run;
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
	if ((rc = open_card(cfg, p, rec, &card, &same, err)) != P11E_OK)
		goto out;
	/* Run again after it finished: nothing to do. */
	if (same && replaced_last(rec)) {
		const p11e_generation *g = &rec->history[rec->n_history - 1];
		out->already_replaced = 1;
		out->already_revoked =
		    revoked_before(rec, g->token_serial ? g->token_serial : "", list, sizeof(list));
		out->renewal.outcome = P11E_RENEW_RENEWED;
		goto out;
	}
	if (same) {
		rc = p11e_errf(err, P11E_USAGE,
			       "token: %s is the card %s is on now (serial %s); give the new "
			       "card's URI, or renew on this one",
			       p->token_uri, rec->identity, rec->token_serial);
		goto out;
	}
	if ((rc = check_ready(cfg, p, rec, &card, err)) != P11E_OK)
		goto out;
	p11e_session_close(&card);
	snprintf(old_serial, sizeof(old_serial), "%s", rec->token_serial ? rec->token_serial : "");
	changed = 1;
	rc = revoke_old_card(cfg, p, rec, out, err);
	if (rc == P11E_OK)
		rc = p11e_renew_begin(cfg, rec, "replace", p->token_uri, err);
	if (rc != P11E_OK)
		goto out;
run:
	rc = p11e_renew_run(cfg, &rp, rec, &out->renewal, err);
out:
	out->renewal.generation = p11e_record_generation(rec);
	if (rec->not_after != NULL)
		snprintf(out->renewal.not_after, sizeof(out->renewal.not_after), "%s",
			 rec->not_after);
	/* Nothing revoked yet (the first revocation failed): nothing to
	 * finish; finished, with only publishing pending: nothing either. */
	if (rc != P11E_OK && changed &&
	    (out->revoked + out->already_revoked > 0 || rec->renew_mode != NULL) &&
	    !(rec->renew_mode == NULL && rec->step == P11E_STEP_DONE && replaced_last(rec)))
		rc = half_done(rec, p, old_serial, rc, err);
	p11e_session_close(&card);
	p11e_held_release(&h);
	return rc;
}
