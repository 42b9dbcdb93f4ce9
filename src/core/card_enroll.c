/* Enrollment and the card registry (docs/cards.md, "Enrollment and the
 * registry"): a key goes only onto a card that is unregistered, in stock or
 * issued, and the first enrollment onto a card in stock moves it to issued.
 *
 * Lock order: identity, then card. The pipeline calls both functions with
 * the identity's lock held; pipe_card_issue then takes the card's lock (in
 * p11e_card_move), never the other way round. The registry's moves take the
 * card's lock first and, for terminate and lost --revoke, the identities'
 * locks inside it (card_hold.c revoke_all): those moves start only from
 * issued, suspended, lost or damaged, and the enrollment takes the card's
 * lock only for a card it has just read in stock, so the two meet only when
 * a card is issued, then terminated, between an enrollment's check and its
 * move. Both locks are taken with a bounded wait: one of the two then gives
 * up as busy after its wait (a rerun finishes it) rather than both waiting
 * for ever. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "core/card_int.h"
#include "core/pipeline_steps.h"
#include "p11enroll/store.h"

/* What to do about a card in a state no key may go onto. */
static void fix_for(int state, const char *serial, char *buf, size_t cap)
{
	switch (state) {
	case P11E_CARD_SUSPENDED:
		snprintf(buf, cap, "resume it first (p11enroll card resume %s)", serial);
		break;
	case P11E_CARD_LOST:
		snprintf(buf, cap, "if it turned up, p11enroll card found %s first", serial);
		break;
	case P11E_CARD_DAMAGED:
		snprintf(buf, cap,
			 "a damaged card is not reused: p11enroll card terminate %s, and enroll "
			 "onto another card",
			 serial);
		break;
	case P11E_CARD_TERMINATED:
		snprintf(buf, cap,
			 "wipe it back to stock first (p11enroll card terminate %s --wipe URI)",
			 serial);
		break;
	default:
		snprintf(buf, cap, "see p11enroll card show %s", serial);
	}
}

/* The card's document, or *doc NULL when it is not registered (a serial
 * the registry cannot hold is never registered). */
static p11e_rc lookup(const p11e_config *cfg, const char *serial, json_object **doc, p11e_err *err)
{
	p11e_err mine = {0};
	p11e_rc rc;

	*doc = NULL;
	if (p11e_card_serial_check("serial", serial, NULL) != P11E_OK)
		return P11E_OK;
	rc = p11e_card_load(cfg, serial, doc, &mine);
	if (rc == P11E_NOT_FOUND)
		return P11E_OK;
	if (rc != P11E_OK)
		return p11e_errf(err, rc, "%s", mine.msg);
	return P11E_OK;
}

p11e_rc p11e_card_enroll_check(const p11e_config *cfg, const char *serial, int *registered,
			       p11e_err *err)
{
	json_object *doc = NULL;
	p11e_rc rc = lookup(cfg, serial, &doc, err);
	int state;
	char fix[200];

	if (registered != NULL)
		*registered = doc != NULL;
	if (rc != P11E_OK || doc == NULL)
		return rc;
	state = p11e_card_doc_state(doc);
	json_object_put(doc);
	if (state == P11E_CARD_IN_STOCK || state == P11E_CARD_ISSUED)
		return P11E_OK;
	fix_for(state, serial, fix, sizeof(fix));
	return p11e_errf(err, P11E_USAGE, "token: card %s is %s: no keys go onto it; %s", serial,
			 state >= 0 ? p11e_card_state_name(state) : "in no known state", fix);
}

/* Whether the history's last entry is an "issue" whose audit line is not
 * written yet (a crash in p11e_card_move after its save). */
static int issue_unaudited(json_object *doc)
{
	json_object *hist, *last, *audited;
	size_t n;

	if (!json_object_object_get_ex(doc, "history", &hist) ||
	    !json_object_is_type(hist, json_type_array) ||
	    (n = json_object_array_length(hist)) == 0)
		return 0;
	last = json_object_array_get_idx(hist, n - 1);
	return strcmp(card_str(last, "move"), "issue") == 0 &&
	       json_object_object_get_ex(last, "audited", &audited) &&
	       !json_object_get_boolean(audited);
}

p11e_rc p11e_card_enrolled(const p11e_config *cfg, const char *serial, const char *identity,
			   long wait_ms, int *moved, p11e_err *err)
{
	json_object *doc = NULL;
	char reason[320];
	p11e_card_move_params mp = {
	    .serial = serial, .move = "issue", .reason = reason, .wait_ms = wait_ms};
	p11e_card_move_result res;
	p11e_rc rc = lookup(cfg, serial, &doc, err);
	int go;

	*moved = 0;
	if (rc != P11E_OK || doc == NULL)
		return rc;
	/* In stock: the move. Issued by an enrollment cut short between the
	 * card's save and its audit line: the move again, which writes that
	 * line and moves nothing. Anything else: nothing to do here. */
	go = p11e_card_doc_state(doc) == P11E_CARD_IN_STOCK || issue_unaudited(doc);
	json_object_put(doc);
	if (!go)
		return P11E_OK;
	snprintf(reason, sizeof(reason), "enrolled %s", identity);
	pipe_crash_point("card-issuing");
	rc = p11e_card_move(cfg, &mp, &res, err);
	if (rc == P11E_OK)
		*moved = !res.already;
	return rc;
}

p11e_rc pipe_card_check(enroll_run *r, p11e_err *err)
{
	int registered = 0;
	p11e_rc rc;

	if (r->token == NULL || r->rec->token_serial == NULL)
		return P11E_OK;
	rc = p11e_card_enroll_check(r->cfg, r->rec->token_serial, &registered, err);
	if (rc == P11E_OK)
		r->card_seen = registered ? 1 : -1;
	return rc;
}

void pipe_card_issue(enroll_run *r)
{
	const p11e_record *rec = r->rec;
	p11e_err err = {0};
	int moved = 0;

	/* Only a finished enrollment onto a token; a card this run found
	 * unregistered is not looked up again (a batch's rows). */
	if (rec->step != P11E_STEP_DONE || rec->token_serial == NULL || r->card_seen < 0 ||
	    (rec->key_store != NULL && strcmp(rec->key_store, "software") == 0))
		return;
	if (p11e_card_enrolled(r->cfg, rec->token_serial, rec->identity, r->p->wait_ms, &moved,
			       &err) != P11E_OK)
		/* The certificate is on the card: the enrollment stands, and a
		 * rerun of it (or card issue) makes the move. */
		fprintf(stderr,
			"p11enroll: warning: identity %s: card %s not moved to issued: %s; rerun "
			"the enrollment or run p11enroll card issue %s\n",
			rec->identity, rec->token_serial, err.msg, rec->token_serial);
}
