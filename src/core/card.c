/* The card registry (include/p11enroll/card.h): documents of the store's
 * kind "card", one per token serial, each changed under the lock
 * "card"/SERIAL, every move kept in the card's history and audited. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "core/card_int.h"
#include "p11enroll/audit.h"
#include "p11enroll/card.h"
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/store.h"

#define CARD_DOC_MAX (1024 * 1024)

const char *card_operator(const char *given, char *buf, size_t cap)
{
	const struct passwd *pw;

	if (given != NULL && given[0] != '\0')
		return given;
	pw = getpwuid(getuid());
	if (pw != NULL)
		snprintf(buf, cap, "%s", pw->pw_name);
	else
		snprintf(buf, cap, "uid %lu", (unsigned long)getuid());
	return buf;
}

long card_wait(long wait_ms)
{
	return wait_ms < 0 ? 0 : wait_ms > 0 ? wait_ms : P11E_LOCK_WAIT_DEFAULT_MS;
}

p11e_rc p11e_card_load(const p11e_config *cfg, const char *serial, json_object **out, p11e_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	p11e_rc rc;

	*out = NULL;
	if ((rc = p11e_card_serial_check("serial", serial, err)) != P11E_OK)
		return rc;
	rc = p11e_store_get(cfg->store, "card", serial, &data, &len, err);
	if (rc == P11E_NOT_FOUND)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "card %s: not registered (p11enroll card list shows the "
				 "registered ones; p11enroll card register URI adds one)",
				 serial);
	if (rc != P11E_OK)
		return rc;
	*out = json_tokener_parse((const char *)data);
	free(data);
	if (*out == NULL || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		return p11e_errf(err, P11E_FAIL, "card %s: its document is not a JSON object",
				 serial);
	}
	return P11E_OK;
}

p11e_rc p11e_card_save(const p11e_config *cfg, const char *serial, json_object *doc, p11e_err *err)
{
	size_t len = 0;
	const char *text = json_object_to_json_string_length(
	    doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	if (text == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	return p11e_store_put(cfg->store, "card", serial, text, len, P11E_STORE_DURABLE, err);
}

static int by_serial(const void *a, const void *b)
{
	json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
	return strcmp(card_str(x, "serial"), card_str(y, "serial"));
}

p11e_rc p11e_card_list(const p11e_config *cfg, json_object **out, p11e_err *err)
{
	p11e_store_doc *docs = NULL;
	size_t n = 0;
	p11e_rc rc = p11e_store_list(cfg->store, "card", &docs, &n, err);

	*out = NULL;
	if (rc != P11E_OK)
		return rc;
	*out = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *doc = json_tokener_parse((const char *)docs[i].data);
		if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
			json_object_put(doc);
			fprintf(stderr, "p11enroll card: document '%s' is not JSON: left out\n",
				docs[i].name);
			continue;
		}
		json_object_array_add(*out, doc);
	}
	json_object_array_sort(*out, by_serial);
	p11e_store_docs_free(docs, n);
	return P11E_OK;
}

const char *card_str(json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return "";
}

int p11e_card_doc_state(json_object *doc)
{
	return p11e_card_state_parse(card_str(doc, "state"));
}

void card_history_add(json_object *doc, const char *move, int from, int to, const char *op,
		      const char *reason)
{
	json_object *hist, *e = json_object_new_object();
	char now[21];

	p11e_iso_format(p11e_now(), now);
	if (!json_object_object_get_ex(doc, "history", &hist) ||
	    !json_object_is_type(hist, json_type_array)) {
		hist = json_object_new_array();
		json_object_object_add(doc, "history", hist);
	}
	json_object_object_add(e, "time", json_object_new_string(now));
	json_object_object_add(e, "move", json_object_new_string(move));
	json_object_object_add(e, "from",
			       json_object_new_string(from >= 0 ? p11e_card_state_name(from) : ""));
	json_object_object_add(e, "to", json_object_new_string(p11e_card_state_name(to)));
	json_object_object_add(e, "operator", json_object_new_string(op));
	if (reason != NULL)
		json_object_object_add(e, "reason", json_object_new_string(reason));
	/* Until its audit line is written: a crash between the save and the
	 * audit is finished by the next command on the card (card_audit_due). */
	json_object_object_add(e, "audited", json_object_new_boolean(0));
	json_object_array_add(hist, e);
	json_object_object_add(doc, "state", json_object_new_string(p11e_card_state_name(to)));
}

/* The history's last entry, or NULL. */
static json_object *last_entry(json_object *doc)
{
	json_object *hist;
	size_t n;

	if (!json_object_object_get_ex(doc, "history", &hist) ||
	    !json_object_is_type(hist, json_type_array) ||
	    (n = json_object_array_length(hist)) == 0)
		return NULL;
	return json_object_array_get_idx(hist, n - 1);
}

p11e_rc card_audit_due(const p11e_config *cfg, const char *serial, json_object *doc, p11e_err *err)
{
	json_object *hist, *audited;
	p11e_rc rc = P11E_OK;
	int changed = 0;

	if (!json_object_object_get_ex(doc, "history", &hist) ||
	    !json_object_is_type(hist, json_type_array))
		return P11E_OK;
	for (size_t i = 0; i < json_object_array_length(hist) && rc == P11E_OK; i++) {
		json_object *e = json_object_array_get_idx(hist, i);
		char action[48];
		const char *extra[] = {
		    "serial",
		    serial,
		    "from",
		    card_str(e, "from"),
		    "to",
		    card_str(e, "to"),
		    "operator",
		    card_str(e, "operator"),
		    "reason",
		    json_object_object_get_ex(e, "reason", NULL) ? card_str(e, "reason") : NULL,
		    "time",
		    card_str(e, "time"),
		    NULL};

		if (!json_object_object_get_ex(e, "audited", &audited) ||
		    json_object_get_boolean(audited))
			continue;
		snprintf(action, sizeof(action), "card-%s", card_str(e, "move"));
		rc = p11e_audit_write(cfg, action, NULL, extra, P11E_OK, NULL, err);
		if (rc == P11E_OK) {
			json_object_object_del(e, "audited");
			changed = 1;
			/* The helpdesk hears of each move exactly when it is
			 * audited: a move a crash left unaudited is told by the
			 * command that finishes it (under the card's lock: the
			 * command waits at most notify_timeout_seconds). */
			card_notify(cfg, serial, card_str(e, "move"),
				    p11e_card_state_parse(card_str(e, "from")),
				    p11e_card_state_parse(card_str(e, "to")), card_str(e, "operator"),
				    json_object_object_get_ex(e, "reason", NULL) ? card_str(e, "reason")
										 : NULL);
		}
	}
	if (changed) {
		p11e_err save_err = {0};
		/* Not durable-critical: a lost save only repeats nothing (the
		 * entry is audited again at worst after a crash right here). */
		if (p11e_card_save(cfg, serial, doc, &save_err) != P11E_OK && rc == P11E_OK)
			rc = p11e_errf(err, save_err.rc, "%s", save_err.msg);
	}
	return rc;
}

p11e_rc p11e_card_move(const p11e_config *cfg, const p11e_card_move_params *p,
		       p11e_card_move_result *out, p11e_err *err)
{
	p11e_lock lock = P11E_LOCK_INIT;
	json_object *doc = NULL, *last;
	char opbuf[64];
	const char *op = card_operator(p->operator_name, opbuf, sizeof(opbuf));
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	out->from = out->to = -1;
	if ((rc = p11e_card_serial_check("serial", p->serial, err)) != P11E_OK)
		return rc;
	rc = p11e_lock_acquire(cfg->store, "card", p->serial, card_wait(p->wait_ms), &lock, err);
	if (rc == P11E_OK)
		rc = p11e_card_load(cfg, p->serial, &doc, err);
	if (rc != P11E_OK)
		goto out;
	card_crash_point("card-locked");
	/* A move cut short after its save: finish its audit line first. */
	if ((rc = card_audit_due(cfg, p->serial, doc, err)) != P11E_OK)
		goto out;
	out->from = p11e_card_doc_state(doc);
	last = last_entry(doc);
	/* A rerun of the move that was just made (its reply lost, or a crash
	 * after its save) is success: the card is where it was sent. */
	if (last != NULL && strcmp(card_str(last, "move"), p->move) == 0 &&
	    p11e_card_state_parse(card_str(last, "to")) == out->from) {
		out->to = out->from;
		out->from = p11e_card_state_parse(card_str(last, "from"));
		out->already = 1;
		goto out;
	}
	if ((rc = p11e_card_move_check(cfg, p->serial, p->move, out->from, &out->to, err)) !=
	    P11E_OK)
		goto out;
	if ((rc = card_certificates_work(cfg, p->move, p->revoke, doc, err)) != P11E_OK)
		goto out;
	if (p->work != NULL && (rc = p->work(p->arg, cfg, doc, out->from, out->to, err)) != P11E_OK)
		goto out;
	card_crash_point("card-work-done");
	card_history_add(doc, p->move, out->from, out->to, op, p->reason);
	if ((rc = p11e_card_save(cfg, p->serial, doc, err)) != P11E_OK)
		goto out;
	card_crash_point("card-moved");
	rc = card_audit_due(cfg, p->serial, doc, err);
out:
	json_object_put(doc);
	p11e_lock_release(&lock);
	return rc;
}
