/* The portal's operations on cards (issue 23, docs/portal.md and
 * docs/cards.md), shared by the pages and the API: the signed-in user's
 * cards with their states, and "I lost my card", which moves the card
 * "lost" through p11e_card_move: its certificates are put on hold (never
 * revoked: the card may turn up, the helpdesk decides), the move audited
 * with the operator "portal:IDENTITY", the helpdesk notified
 * (cards.notify_command, src/core/card_notify.c).
 *
 * A user's cards are those their identity's current generation went onto
 * (the record's token_serial): a card that held only an earlier
 * generation may have been wiped and handed to someone else since, so
 * ownership is never read from the history. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/audit.h"
#include "p11enroll/card.h"
#include "p11enroll/record.h"
#include "portal_int.h"

#define CARD_LOST_WAIT_MS 5000

/* r->user's record, not retired: 0, else 1 (none). */
static int user_record(portal_req *r, p11e_record *rec)
{
	p11e_err err;

	if (p11e_record_load(r->p->cfg->store, r->user, rec, &err) == P11E_OK &&
	    rec->retired == NULL)
		return 0;
	p11e_record_clear(rec);
	return 1;
}

static void add_generation(json_object *arr, int number, const char *state, const char *not_after)
{
	json_object *g = json_object_new_object();

	json_object_object_add(g, "generation", json_object_new_int(number));
	json_object_object_add(g, "state", json_object_new_string(state ? state : "current"));
	json_object_object_add(g, "not_after",
			       not_after ? json_object_new_string(not_after) : NULL);
	json_object_array_add(arr, g);
}

/* The card's entry as the user sees it: its state and since when, what it
 * is, and which of the user's own generations are on it (never another
 * holder's, nor the helpdesk's operators and reasons). */
static json_object *card_entry(portal_req *r, const p11e_record *rec, const char *serial)
{
	json_object *o = json_object_new_object(), *gens = json_object_new_array(), *doc = NULL;
	json_object *hist, *v;
	p11e_err err = {0};
	p11e_rc rc = p11e_card_load(r->p->cfg, serial, &doc, &err);
	static const char *const keys[] = {"label", "manufacturer", "model"};

	json_object_object_add(o, "serial", json_object_new_string(serial));
	if (rc == P11E_OK && p11e_card_doc_state(doc) >= 0) {
		json_object_object_add(
		    o, "state",
		    json_object_new_string(p11e_card_state_name(p11e_card_doc_state(doc))));
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (json_object_object_get_ex(doc, keys[i], &v) &&
			    json_object_is_type(v, json_type_string))
				json_object_object_add(o, keys[i], json_object_get(v));
		if (json_object_object_get_ex(doc, "history", &hist) &&
		    json_object_is_type(hist, json_type_array) &&
		    json_object_array_length(hist) > 0 &&
		    json_object_object_get_ex(
			json_object_array_get_idx(hist, json_object_array_length(hist) - 1), "time",
			&v))
			json_object_object_add(o, "since", json_object_get(v));
	} else {
		/* Enrolled onto a card the registry does not know. */
		if (rc != P11E_OK && rc != P11E_NOT_FOUND)
			fprintf(stderr, "p11enroll serve: card %s: %s\n", serial, err.msg);
		json_object_object_add(o, "state", NULL);
	}
	for (size_t k = rec->n_history; k-- > 0;)
		if (rec->history[k].token_serial != NULL &&
		    strcmp(rec->history[k].token_serial, serial) == 0)
			add_generation(gens, rec->history[k].number, rec->history[k].state,
				       rec->history[k].not_after);
	/* The current generation first (newest first). */
	{
		json_object *all = json_object_new_array();
		add_generation(all, p11e_record_generation(rec), p11e_record_current_state(rec),
			       rec->not_after);
		for (size_t i = 0; i < json_object_array_length(gens); i++)
			json_object_array_add(all,
					      json_object_get(json_object_array_get_idx(gens, i)));
		json_object_put(gens);
		gens = all;
	}
	json_object_object_add(o, "generations", gens);
	json_object_put(doc);
	return o;
}

int portal_user_cards(portal_req *r, json_object **cards)
{
	p11e_record rec;

	*cards = json_object_new_array();
	if (user_record(r, &rec) != 0)
		return 0;
	if (rec.token_serial != NULL && rec.token_serial[0] != '\0' &&
	    p11e_card_serial_check("serial", rec.token_serial, NULL) == P11E_OK)
		json_object_array_add(*cards, card_entry(r, &rec, rec.token_serial));
	p11e_record_clear(&rec);
	return 0;
}

int portal_own_card(portal_req *r, const char *serial, char *msg, size_t cap)
{
	p11e_record rec;
	int mine;

	if (r->user[0] == '\0') {
		snprintf(msg, cap, "not signed in");
		return 401;
	}
	if (p11e_card_serial_check("serial", serial, NULL) != P11E_OK) {
		snprintf(msg, cap, "serial: a card serial is 1 to 32 letters, digits and \".:_-\"");
		return 400;
	}
	/* Another user's card is refused whether or not it exists. */
	if (user_record(r, &rec) != 0) {
		snprintf(msg, cap, "not yours: you may only reach your own cards");
		return 403;
	}
	mine = rec.token_serial != NULL && strcmp(rec.token_serial, serial) == 0;
	p11e_record_clear(&rec);
	if (!mine) {
		snprintf(msg, cap, "not yours: you may only reach your own cards");
		return 403;
	}
	return 0;
}

/* The portal's own line for the report (beside the move's card-lost). */
static void audit_report(portal_req *r, const char *serial, p11e_rc outcome,
			 const p11e_err *outcome_err)
{
	const char *extra[] = {"portal_user", r->user,	"client", r->client, "auth",
			       r->auth,	      "serial", serial,	  NULL};
	p11e_err err = {0};

	if (p11e_audit_write(r->p->cfg, "portal-card-lost", r->user, extra, outcome, outcome_err,
			     &err) != P11E_OK)
		fprintf(stderr, "p11enroll serve: audit log: %s\n", err.msg);
}

int portal_report_card_lost(portal_req *r, const char *serial, const char *words, int *already,
			    char *msg, size_t cap)
{
	char op[P11E_PORTAL_ID_MAX + 8], reason[320];
	p11e_card_move_params mp = {0};
	p11e_card_move_result res;
	p11e_err err = {0};
	p11e_rc rc;
	int status;

	*already = 0;
	if ((status = portal_own_card(r, serial, msg, cap)) != 0)
		return status;
	snprintf(op, sizeof(op), "portal:%s", r->user);
	if (words != NULL && words[0] != '\0')
		snprintf(reason, sizeof(reason), "reported lost in the portal: %s", words);
	else
		snprintf(reason, sizeof(reason), "reported lost in the portal");
	mp.serial = serial;
	mp.move = "lost";
	mp.reason = reason;
	mp.operator_name = op;
	mp.wait_ms = CARD_LOST_WAIT_MS;
	rc = p11e_card_move(r->p->cfg, &mp, &res, &err);
	audit_report(r, serial, rc, &err);
	if (rc == P11E_OK) {
		*already = res.already;
		return 200;
	}
	switch (rc) {
	case P11E_NOT_FOUND:
		snprintf(msg, cap, "your card is not in the card registry: call %s",
			 "your help desk to report it lost");
		return 404;
	case P11E_USAGE: /* the state table refused the move */
		snprintf(msg, cap,
			 "your card is %s: it cannot be reported lost here; nothing changed",
			 res.from >= 0 ? p11e_card_state_name(res.from) : "in an unknown state");
		return 409;
	case P11E_BUSY:
		snprintf(msg, cap, "your card is being worked on; try again in a minute");
		return 409;
	case P11E_UNSUPPORTED:
		snprintf(msg, cap,
			 "your card's certificates cannot be put on hold here: call "
			 "your help desk now; nothing changed");
		return 409;
	default:
		fprintf(stderr, "p11enroll serve: card %s lost: %s\n", serial, err.msg);
		snprintf(msg, cap, "the report failed: call your help desk now");
		return 500;
	}
}

int portal_card_reason_ok(const char *words)
{
	size_t n = words != NULL ? strlen(words) : 0;

	if (n > PORTAL_CARD_REASON_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)words[i] < 0x20 || words[i] == 0x7f)
			return 0;
	return 1;
}

int portal_card_lostable(portal_req *r, const char *serial, char *msg, size_t cap)
{
	json_object *doc = NULL;
	p11e_err err = {0};
	int status, state;

	if ((status = portal_own_card(r, serial, msg, cap)) != 0)
		return status;
	if (p11e_card_load(r->p->cfg, serial, &doc, &err) != P11E_OK) {
		snprintf(msg, cap,
			 "your card is not in the card registry: call your help desk to "
			 "report it lost");
		return 404;
	}
	state = p11e_card_doc_state(doc);
	json_object_put(doc);
	if (state == P11E_CARD_ISSUED || state == P11E_CARD_SUSPENDED)
		return 0;
	if (state == P11E_CARD_LOST)
		snprintf(msg, cap, "your card is already reported lost");
	else
		snprintf(msg, cap, "your card is %s: it cannot be reported lost here",
			 state >= 0 ? p11e_card_state_name(state) : "in an unknown state");
	return 409;
}
