/* Temporary cards (include/p11enroll/card.h, docs/cards.md "Temporary
 * cards"): `card lost SERIAL --temporary URI --days N` suspends (or revokes)
 * the lost card as `card lost` does and gives a card from stock new keys and
 * short-lived certificates for the identities the lost card holds, with
 * their archived encryption keys restored; `card found SERIAL --temporary
 * URI` revokes the temporary certificates, wipes the temporary card, returns
 * it to stock and resumes the permanent card.
 *
 * The temporary certificates are not generations of the identities: their
 * records keep the permanent card's generation as the current one the whole
 * time, so renew, status, revoke and publish never act on a temporary
 * certificate, and nothing has to be turned back when the card is found.
 * The temporary card's document holds them ("temporary": for, days, and the
 * plan's entries with their phases); the permanent card's names it
 * ("temporary_card").
 *
 * Both cards' locks are taken in the order of their serials (never a
 * deadlock between two commands on the same pair), then each identity's
 * while its key is made. The plan is saved before anything else changes;
 * a rerun of the same command finishes what a crash cut short. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "core/card_temp_int.h"
#include "p11enroll/ca.h"
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/profile.h"
#include "p11enroll/record.h"
#include "p11enroll/vault.h"

static int is(const char *s, const char *value)
{
	return s != NULL && strcmp(s, value) == 0;
}

/* Both cards' locks, the smaller serial first. */
static p11e_rc lock_both(const p11e_config *cfg, const char *a, const char *b, long wait_ms,
			 p11e_lock l[2], p11e_err *err)
{
	const char *first = strcmp(a, b) < 0 ? a : b, *second = first == a ? b : a;
	p11e_rc rc = p11e_lock_acquire(cfg->store, "card", first, card_wait(wait_ms), &l[0], err);

	if (rc == P11E_OK)
		rc = p11e_lock_acquire(cfg->store, "card", second, card_wait(wait_ms), &l[1], err);
	return rc;
}

/* A move of a card whose lock the caller holds, as p11e_card_move makes it:
 * the certificates' part (lost and found only: the temporary card's are the
 * entries'), the history entry saved, then audited. */
static p11e_rc locked_move(const p11e_config *cfg, json_object *doc, const char *move, int revoke,
			   const char *op, const char *reason, p11e_err *err)
{
	char serial[33];
	int from = p11e_card_doc_state(doc), to;
	p11e_rc rc;

	snprintf(serial, sizeof(serial), "%s", card_str(doc, "serial"));
	rc = p11e_card_move_check(cfg, serial, move, from, &to, err);
	if (rc == P11E_OK && (is(move, "lost") || is(move, "found")))
		rc = card_certificates_work(cfg, move, revoke, doc, err);
	if (rc != P11E_OK)
		return rc;
	card_crash_point("card-work-done");
	card_history_add(doc, move, from, to, op, reason);
	if ((rc = p11e_card_save(cfg, serial, doc, err)) != P11E_OK)
		return rc;
	card_crash_point("card-moved");
	return card_audit_due(cfg, serial, doc, err);
}

static json_object *entry(const char *identity, const char *kind, int generation, const char *label)
{
	json_object *e = json_object_new_object();

	json_object_object_add(e, "identity", json_object_new_string(identity));
	json_object_object_add(e, "kind", json_object_new_string(kind));
	json_object_object_add(e, "generation", json_object_new_int(generation));
	json_object_object_add(e, "label", json_object_new_string(label));
	json_object_object_add(e, "phase", json_object_new_string("planned"));
	return e;
}

/* The days a temporary certificate gets: --days, never more than the
 * profile's validity nor past the identity's certificate now (at least 1). */
static int capped_days(int days, const p11e_profile *prof, const p11e_record *r)
{
	time_t end = r->not_after ? p11e_iso_parse(r->not_after) : -1, now = p11e_now();

	if (prof->validity_days > 0 && prof->validity_days < days)
		days = prof->validity_days;
	if (end > now && (end - now) / 86400 < days)
		days = (int)((end - now) / 86400);
	return days < 1 ? 1 : days;
}

static p11e_rc check_ca(const p11e_config *cfg, const char *spec, p11e_err *err)
{
	p11e_ca *ca = NULL;
	p11e_rc rc = p11e_config_open_ca(cfg, spec, &ca, err);

	p11e_ca_close(ca);
	return rc;
}

/* One identity of the lost card into the plan: a new key and certificate
 * (for an archived identity, one that signs only: a new encryption key
 * that no escrow holds would take the mail sent to it along when the card
 * is wiped), and each archived key restored, as replace restores them. */
static p11e_rc plan_one(const p11e_config *cfg, const p11e_card_temp_params *p, p11e_record *r,
			json_object *entries, int *archived, p11e_err *err)
{
	p11e_profile prof;
	const char *label = r->label ? r->label : r->identity;
	int arch = is(r->key_store, "archived");
	p11e_rc rc = p11e_config_profile(cfg, r->profile, &prof, err);

	if (rc == P11E_OK)
		rc = check_ca(cfg, r->ca, err);
	if (rc != P11E_OK)
		return rc;
	if (!arch || (prof.purposes & ~P11E_PURPOSE_ENCRYPT) != 0) {
		json_object *e = entry(r->identity, "new", p11e_record_generation(r), label);
		json_object_object_add(e, "ca", json_object_new_string(r->ca));
		json_object_object_add(e, "days",
				       json_object_new_int(capped_days(p->days, &prof, r)));
		json_object_object_add(e, "sign_only", json_object_new_boolean(arch));
		json_object_array_add(entries, e);
	}
	for (size_t i = 0; i < r->n_history; i++) {
		p11e_generation *g = &r->history[i];
		json_object *e;
		if (!is(g->key_store, "archived") || is(g->state, "retired"))
			continue;
		e = entry(r->identity, "restored", g->number, g->label ? g->label : label);
		json_object_object_add(e, "chain_pem",
				       json_object_new_string(g->chain_pem ? g->chain_pem : ""));
		json_object_array_add(entries, e);
		*archived = 1;
	}
	if (arch) {
		json_object *e = entry(r->identity, "restored", p11e_record_generation(r), label);
		json_object_object_add(e, "chain_pem",
				       json_object_new_string(r->chain_pem ? r->chain_pem : ""));
		json_object_array_add(entries, e);
		*archived = 1;
	}
	return P11E_OK;
}

/* The plan: every identity whose current, valid certificate is on the lost
 * card; every CA opens, and for archived keys the vault opens for reading. */
static p11e_rc plan(const p11e_config *cfg, const p11e_card_temp_params *p, json_object *entries,
		    p11e_err *err)
{
	p11e_record *rs = NULL;
	size_t n = 0;
	int archived = 0;
	p11e_rc rc = p11e_record_list(cfg->store, &rs, &n, err);

	for (size_t i = 0; rc == P11E_OK && i < n; i++) {
		p11e_record *r = &rs[i];
		if (is(r->token_serial, p->serial) && r->cert_pem != NULL && r->ca != NULL &&
		    r->retired == NULL && r->revoked_reason == NULL && r->renew_mode == NULL &&
		    r->step == P11E_STEP_DONE && !is(r->key_store, "software"))
			rc = plan_one(cfg, p, r, entries, &archived, err);
	}
	p11e_records_free(rs, n);
	if (rc == P11E_OK && json_object_array_length(entries) == 0)
		rc = p11e_errf(err, P11E_USAGE,
			       "card %s holds no valid certificate: a temporary card has nothing "
			       "to stand in for; nothing changed",
			       p->serial);
	if (rc == P11E_OK && archived) {
		p11e_vault_open_params vp = {.officer_key = p->officer_key,
					     .officer_pin_source = p->officer_pin_source,
					     .module = p->module};
		p11e_vault *v = NULL;
		rc = p11e_vault_open(cfg, &vp, &v, err);
		if (rc == P11E_OK && p->officer_key == NULL && is(p11e_vault_type(v), "file"))
			rc = p11e_errf(err, P11E_USAGE,
				       "officer-key: card %s holds archived encryption keys to "
				       "restore onto the temporary card from the file vault: give "
				       "--officer-key FILE or pkcs11: URI; nothing changed",
				       p->serial);
		p11e_vault_close(v);
	}
	return rc;
}

static json_object *temporary_of(json_object *tdoc)
{
	json_object *t;
	return json_object_object_get_ex(tdoc, "temporary", &t) &&
		       json_object_is_type(t, json_type_object)
		   ? t
		   : NULL;
}

static void fill_result(temp_ctx *c, p11e_card_temp_result *out)
{
	const char *last = NULL;

	for (size_t i = 0; i < json_object_array_length(c->entries); i++) {
		json_object *e = json_object_array_get_idx(c->entries, i);
		if (is(card_str(e, "kind"), "restored")) {
			out->restored++;
			continue;
		}
		out->identities++;
		out->certificates += card_str(e, "cert_pem")[0] != '\0';
		if (last == NULL || strcmp(card_str(e, "not_after"), last) > 0)
			last = card_str(e, "not_after");
	}
	snprintf(out->until, sizeof(out->until), "%s", last ? last : "");
}

/* The temporary card opened and logged in: its serial, not the lost card. */
static p11e_rc open_temp(temp_ctx *c, const char *option, p11e_err *err)
{
	p11e_session_params sp = {.uri = c->p->temp_uri,
				  .module = c->p->module,
				  .pin_source = c->p->pin_source,
				  .login = 1};
	p11e_rc rc = p11e_session_open(c->cfg, &sp, &c->s, err);

	if (rc != P11E_OK)
		return rc;
	c->tserial = p11e_token_get_info(c->s.token)->serial;
	if (strcmp(c->tserial, c->p->serial) == 0)
		return p11e_errf(
		    err, P11E_USAGE,
		    "%s: the token there is card %s itself; give another card; nothing "
		    "changed",
		    option, c->p->serial);
	return P11E_OK;
}

p11e_rc p11e_card_lost_temporary(const p11e_config *cfg, const p11e_card_temp_params *p,
				 p11e_card_temp_result *out, p11e_err *err)
{
	temp_ctx c = {.cfg = cfg, .p = p};
	p11e_lock l[2] = {P11E_LOCK_INIT, P11E_LOCK_INIT};
	json_object *pdoc = NULL, *temp;
	char opbuf[64], why[160];
	const char *op = card_operator(p->operator_name, opbuf, sizeof(opbuf));
	int pstate;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = p11e_card_serial_check("serial", p->serial, err)) != P11E_OK)
		return rc;
	if (p->days < 1 || p->days > P11E_CARD_TEMP_DAYS_MAX)
		return p11e_errf(err, P11E_USAGE, "--days: from 1 to %d", P11E_CARD_TEMP_DAYS_MAX);
	if ((rc = open_temp(&c, "--temporary", err)) != P11E_OK)
		goto out;
	snprintf(out->temp_serial, sizeof(out->temp_serial), "%s", c.tserial);
	if ((rc = lock_both(cfg, p->serial, c.tserial, p->wait_ms, l, err)) != P11E_OK ||
	    (rc = p11e_card_load(cfg, p->serial, &pdoc, err)) != P11E_OK)
		goto out;
	rc = p11e_card_load(cfg, c.tserial, &c.tdoc, err);
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "--temporary: the token there (card %s) is not registered: "
			       "p11enroll card register URI first; nothing changed",
			       c.tserial);
	if (rc != P11E_OK || (rc = card_audit_due(cfg, p->serial, pdoc, err)) != P11E_OK ||
	    (rc = card_audit_due(cfg, c.tserial, c.tdoc, err)) != P11E_OK)
		goto out;
	card_crash_point("card-locked");
	pstate = p11e_card_doc_state(pdoc);
	temp = temporary_of(c.tdoc);
	if (temp != NULL && !is(card_str(temp, "for"), p->serial)) {
		rc = p11e_errf(err, P11E_USAGE,
			       "--temporary: card %s is the temporary card of card %s already; "
			       "nothing changed",
			       c.tserial, card_str(temp, "for"));
		goto out;
	}
	if (temp == NULL) {
		int to;
		if (p11e_card_doc_state(c.tdoc) != P11E_CARD_IN_STOCK) {
			rc = p11e_errf(err, P11E_USAGE,
				       "--temporary: card %s is %s, not in stock; a temporary card "
				       "comes from stock; nothing changed",
				       c.tserial, card_str(c.tdoc, "state"));
			goto out;
		}
		if (card_str(pdoc, "temporary_card")[0] != '\0') {
			rc = p11e_errf(err, P11E_USAGE,
				       "card %s has the temporary card %s already (card found %s "
				       "--temporary URI ends it); nothing changed",
				       p->serial, card_str(pdoc, "temporary_card"), p->serial);
			goto out;
		}
		/* A card reported lost already (held or revoked) may still get
		 * a temporary card; otherwise the lost move must be allowed. */
		if (pstate != P11E_CARD_LOST &&
		    (rc = p11e_card_move_check(cfg, p->serial, "lost", pstate, &to, err)) !=
			P11E_OK)
			goto out;
		temp = json_object_new_object();
		c.entries = json_object_new_array();
		json_object_object_add(temp, "for", json_object_new_string(p->serial));
		json_object_object_add(temp, "days", json_object_new_int(p->days));
		json_object_object_add(temp, "entries", c.entries);
		if ((rc = plan(cfg, p, c.entries, err)) != P11E_OK) {
			json_object_put(temp);
			goto out;
		}
		json_object_object_add(c.tdoc, "temporary", temp);
		if ((rc = temp_save(&c, err)) != P11E_OK)
			goto out;
		card_crash_point("temp-planned");
	}
	json_object_object_get_ex(temp, "entries", &c.entries);
	if (temp_int(temp, "done")) {
		out->already = 1;
		fill_result(&c, out);
		goto out;
	}
	if (!is(card_str(pdoc, "temporary_card"), c.tserial)) {
		json_object_object_add(pdoc, "temporary_card", json_object_new_string(c.tserial));
		if ((rc = p11e_card_save(cfg, p->serial, pdoc, err)) != P11E_OK)
			goto out;
	}
	if (pstate != P11E_CARD_LOST &&
	    (rc = locked_move(cfg, pdoc, "lost", p->revoke, op, p->reason, err)) != P11E_OK)
		goto out;
	for (size_t i = 0; rc == P11E_OK && i < json_object_array_length(c.entries); i++)
		rc = temp_entry_run(&c, json_object_array_get_idx(c.entries, i), err);
	if (rc != P11E_OK)
		goto out;
	fill_result(&c, out);
	/* Issued and done in one save: the move's history says what for. */
	json_object_object_add(temp, "done", json_object_new_boolean(1));
	json_object_object_add(temp, "until", json_object_new_string(out->until));
	snprintf(why, sizeof(why), "temporary card for card %s until %s", p->serial, out->until);
	rc = locked_move(cfg, c.tdoc, "issue", 0, op, why, err);
out:
	json_object_put(pdoc);
	json_object_put(c.tdoc);
	p11e_lock_release(&l[1]);
	p11e_lock_release(&l[0]);
	p11e_session_close(&c.s);
	return rc;
}

int p11e_card_temporary_of(const p11e_config *cfg, const char *serial, char *out, size_t cap)
{
	json_object *doc = NULL;
	p11e_err ignored = {0};
	int has = 0;

	out[0] = '\0';
	if (p11e_card_load(cfg, serial, &doc, &ignored) == P11E_OK &&
	    card_str(doc, "temporary_card")[0] != '\0') {
		snprintf(out, cap, "%s", card_str(doc, "temporary_card"));
		has = 1;
	}
	json_object_put(doc);
	return has;
}

/* The temporary card's wipe removes what its entries made: an identity
 * enrolled onto it by hand meanwhile (a record naming it, in use) would be
 * left there, so found waits until that is revoked or wiped. */
static p11e_rc no_enrollment_on(const p11e_config *cfg, const char *tserial, p11e_err *err)
{
	json_object *gens = NULL;
	p11e_rc rc = p11e_card_generations(cfg, tserial, &gens, err);

	for (size_t i = 0; rc == P11E_OK && i < json_object_array_length(gens); i++) {
		json_object *g = json_object_array_get_idx(gens, i);
		if (is(card_str(g, "state"), "current"))
			rc = p11e_errf(err, P11E_USAGE,
				       "card %s: %s was enrolled onto it (not a temporary key): "
				       "p11enroll wipe it first; nothing changed",
				       tserial, card_str(g, "identity"));
	}
	json_object_put(gens);
	return rc;
}

p11e_rc p11e_card_found_temporary(const p11e_config *cfg, const p11e_card_temp_params *p,
				  p11e_card_temp_result *out, p11e_err *err)
{
	temp_ctx c = {.cfg = cfg, .p = p};
	p11e_lock l[2] = {P11E_LOCK_INIT, P11E_LOCK_INIT};
	json_object *pdoc = NULL, *temp;
	char opbuf[64], why[160], want[33];
	const char *op = card_operator(p->operator_name, opbuf, sizeof(opbuf));
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = p11e_card_serial_check("serial", p->serial, err)) != P11E_OK)
		return rc;
	if (!p11e_card_temporary_of(cfg, p->serial, want, sizeof(want)))
		return p11e_errf(err, P11E_USAGE, "--temporary: card %s has no temporary card",
				 p->serial);
	if (p->temp_uri == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "card %s has the temporary card %s: give --temporary URI (that "
				 "card, its PIN from --pin-source) to revoke, wipe and restock it "
				 "with the found; nothing changed",
				 p->serial, want);
	if ((rc = open_temp(&c, "--temporary", err)) != P11E_OK)
		goto out;
	snprintf(out->temp_serial, sizeof(out->temp_serial), "%s", c.tserial);
	if (strcmp(c.tserial, want) != 0) {
		rc = p11e_errf(err, P11E_USAGE,
			       "--temporary: the token there is card %s, not %s (card %s's "
			       "temporary card); nothing changed",
			       c.tserial, want, p->serial);
		goto out;
	}
	if ((rc = lock_both(cfg, p->serial, c.tserial, p->wait_ms, l, err)) != P11E_OK ||
	    (rc = p11e_card_load(cfg, p->serial, &pdoc, err)) != P11E_OK ||
	    (rc = p11e_card_load(cfg, c.tserial, &c.tdoc, err)) != P11E_OK ||
	    (rc = card_audit_due(cfg, p->serial, pdoc, err)) != P11E_OK ||
	    (rc = card_audit_due(cfg, c.tserial, c.tdoc, err)) != P11E_OK)
		goto out;
	card_crash_point("card-locked");
	/* Finished by another run meanwhile. */
	if (!is(card_str(pdoc, "temporary_card"), c.tserial)) {
		out->already = 1;
		goto out;
	}
	if ((rc = no_enrollment_on(cfg, c.tserial, err)) != P11E_OK)
		goto out;
	snprintf(why, sizeof(why), "temporary card for card %s, which was found", p->serial);
	if ((temp = temporary_of(c.tdoc)) != NULL) {
		json_object_object_get_ex(temp, "entries", &c.entries);
		if (!json_object_is_type(c.entries, json_type_array)) {
			rc = p11e_errf(err, P11E_FAIL,
				       "card %s: its temporary entries are not a list", c.tserial);
			goto out;
		}
		fill_result(&c, out);
		if ((rc = temp_revoke_all(&c, &out->certificates, err)) != P11E_OK)
			goto out;
	}
	if (p11e_card_doc_state(pdoc) == P11E_CARD_LOST &&
	    (rc = locked_move(cfg, pdoc, "found", 0, op, p->reason, err)) != P11E_OK)
		goto out;
	if (temp != NULL) {
		if (p11e_card_doc_state(c.tdoc) == P11E_CARD_ISSUED &&
		    (rc = locked_move(cfg, c.tdoc, "terminate", 0, op, why, err)) != P11E_OK)
			goto out;
		if ((rc = temp_wipe_all(&c, err)) != P11E_OK)
			goto out;
		/* Back in stock and no longer anyone's temporary card, in one save. */
		json_object_object_del(c.tdoc, "temporary");
		if (p11e_card_doc_state(c.tdoc) == P11E_CARD_TERMINATED)
			rc = locked_move(cfg, c.tdoc, "restock", 0, op, why, err);
		else
			rc = temp_save(&c, err);
		if (rc != P11E_OK)
			goto out;
	}
	json_object_object_del(pdoc, "temporary_card");
	rc = p11e_card_save(cfg, p->serial, pdoc, err);
out:
	json_object_put(pdoc);
	json_object_put(c.tdoc);
	p11e_lock_release(&l[1]);
	p11e_lock_release(&l[0]);
	p11e_session_close(&c.s);
	return rc;
}
