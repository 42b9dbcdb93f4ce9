/* `card register URI` (a card into stock, its SO PIN replaced by an
 * escrowed one), `pin rotate-so` and `pin unblock --officer-key`: the card
 * commands that open the token (include/p11enroll/card.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "core/card_int.h"
#include "p11enroll/audit.h"
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"

/* The card at uri open (no login), its lock held, its document loaded
 * (*doc NULL when it is not registered). */
typedef struct card_open {
	p11e_session s;
	p11e_lock lock;
	json_object *doc;
	char serial[33];
} card_open;

static p11e_rc open_card(const p11e_config *cfg, const char *uri, const char *module, long wait_ms,
			 card_open *o, p11e_err *err)
{
	p11e_session_params sp = {.uri = uri, .module = module, .login = 0};
	p11e_rc rc;

	memset(o, 0, sizeof(*o));
	o->lock = (p11e_lock)P11E_LOCK_INIT;
	if ((rc = p11e_session_open(cfg, &sp, &o->s, err)) != P11E_OK)
		return rc;
	snprintf(o->serial, sizeof(o->serial), "%s", p11e_token_get_info(o->s.token)->serial);
	if ((rc = p11e_card_serial_check("the token's serial", o->serial, err)) != P11E_OK)
		return rc;
	rc = p11e_lock_acquire(cfg->store, "card", o->serial, card_wait(wait_ms), &o->lock, err);
	if (rc == P11E_OK)
		rc = p11e_card_load(cfg, o->serial, &o->doc, err);
	if (rc == P11E_NOT_FOUND) {
		o->doc = NULL;
		rc = P11E_OK;
	}
	if (rc == P11E_OK && o->doc != NULL)
		rc = card_audit_due(cfg, o->serial, o->doc, err);
	return rc;
}

static void close_card(card_open *o)
{
	json_object_put(o->doc);
	p11e_lock_release(&o->lock);
	p11e_session_close(&o->s);
}

static void add_str(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value));
}

p11e_rc p11e_card_register(const p11e_config *cfg, const p11e_card_register_params *p,
			   p11e_card_register_result *out, p11e_err *err)
{
	card_open o;
	char opbuf[64], *so_pin = NULL, what[96];
	const char *op = card_operator(p->operator_name, opbuf, sizeof(opbuf));
	const p11e_token_info *info;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	rc = open_card(cfg, p->uri, p->module, p->wait_ms, &o, err);
	if (rc != P11E_OK)
		goto out;
	info = p11e_token_get_info(o.s.token);
	snprintf(out->serial, sizeof(out->serial), "%s", o.serial);
	snprintf(out->label, sizeof(out->label), "%s", info->label);
	if (o.doc == NULL && p->personalise && p->so_pin_source == NULL) {
		/* Refused before anything is written. */
		rc = p11e_errf(err, P11E_USAGE,
			       "card register: give --so-pin-source (the card's SO PIN as it "
			       "came), or --no-personalise");
		goto out;
	}
	if (o.doc != NULL) {
		out->already = 1;
	} else {
		char now[21];

		p11e_iso_format(p11e_now(), now);
		o.doc = json_object_new_object();
		add_str(o.doc, "serial", o.serial);
		add_str(o.doc, "manufacturer", info->manufacturer);
		add_str(o.doc, "model", info->model);
		add_str(o.doc, "label", info->label);
		add_str(o.doc, "registered", now);
		card_history_add(o.doc, "register", -1, P11E_CARD_IN_STOCK, op,
				 p->reason != NULL ? p->reason
				 : p->personalise  ? "registered"
						   : "registered, SO PIN not personalised");
		if ((rc = p11e_card_save(cfg, o.serial, o.doc, err)) != P11E_OK)
			goto out;
		card_crash_point("card-registered");
		if ((rc = card_audit_due(cfg, o.serial, o.doc, err)) != P11E_OK)
			goto out;
	}
	if (p->personalise) {
		card_pin_ctx c = {.cfg = cfg,
				  .serial = o.serial,
				  .doc = o.doc,
				  .s = &o.s,
				  .officer_key = p->officer_key,
				  .officer_pin_source = p->officer_pin_source,
				  .module = p->module,
				  .op = op};
		json_object *so;
		int gen = 0;

		/* A change cut short is settled first: it may be the one that
		 * escrowed the PIN the card has now. */
		if ((rc = card_so_resolve(&c, err)) != P11E_OK)
			goto out;
		if (json_object_object_get_ex(o.doc, "so_pin", &so) &&
		    json_object_object_get_ex(so, "escrowed", NULL)) {
			out->so_escrowed = 1;
			goto out;
		}
		snprintf(what, sizeof(what), "SO PIN for token '%s'", info->label);
		if (p->so_pin_source == NULL)
			rc = p11e_errf(err, P11E_USAGE,
				       "card register: give --so-pin-source (the card's SO PIN "
				       "as it came), or --no-personalise");
		else
			rc = p11e_secret_read(p->so_pin_source, what, &so_pin, err);
		if (rc == P11E_OK)
			rc = card_so_rotate(&c, so_pin, &gen, err);
		out->so_escrowed = rc == P11E_OK;
	}
out:
	p11e_secret_free(so_pin, (size_t)-1);
	close_card(&o);
	return rc;
}

p11e_rc p11e_card_token_is(const p11e_config *cfg, const char *uri, const char *module,
			   const char *serial, char label[33], p11e_err *err)
{
	p11e_session_params sp = {.uri = uri, .module = module, .login = 0};
	p11e_session s;
	p11e_rc rc;

	memset(&s, 0, sizeof(s));
	label[0] = '\0';
	if ((rc = p11e_session_open(cfg, &sp, &s, err)) == P11E_OK) {
		const p11e_token_info *info = p11e_token_get_info(s.token);
		snprintf(label, 33, "%s", info->label);
		if (strcmp(info->serial, serial) != 0)
			rc = p11e_errf(err, P11E_USAGE,
				       "--wipe: the token there is card %.32s, not %s; nothing "
				       "was wiped",
				       info->serial, serial);
	}
	p11e_session_close(&s);
	return rc;
}

static p11e_rc registered(card_open *o, p11e_err *err)
{
	if (o->doc == NULL)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "card %s: not registered, so its SO PIN is not escrowed "
				 "(p11enroll card register URI)",
				 o->serial);
	return P11E_OK;
}

/* What the SO PIN steps need of an open, registered card. */
static card_pin_ctx pin_ctx(const p11e_config *cfg, const p11e_card_pin_params *p, card_open *o,
			    const char *op)
{
	card_pin_ctx c = {.cfg = cfg,
			  .serial = o->serial,
			  .doc = o->doc,
			  .s = &o->s,
			  .officer_key = p->officer_key,
			  .officer_pin_source = p->officer_pin_source,
			  .module = p->module,
			  .op = op};
	return c;
}

p11e_rc p11e_card_rotate_so(const p11e_config *cfg, const p11e_card_pin_params *p, int *generation,
			    p11e_err *err)
{
	card_open o;
	char opbuf[64];
	p11e_rc rc = open_card(cfg, p->uri, p->module, p->wait_ms, &o, err);

	*generation = 0;
	if (rc == P11E_OK)
		rc = registered(&o, err);
	if (rc == P11E_OK) {
		card_pin_ctx c =
		    pin_ctx(cfg, p, &o, card_operator(p->operator_name, opbuf, sizeof(opbuf)));
		rc = card_so_rotate(&c, NULL, generation, err);
	}
	close_card(&o);
	return rc;
}

p11e_rc p11e_card_unblock(const p11e_config *cfg, const p11e_card_pin_params *p, p11e_err *err)
{
	card_open o;
	char opbuf[64], *so_pin = NULL, *user_pin = NULL, what[96];
	const char *op = card_operator(p->operator_name, opbuf, sizeof(opbuf));
	p11e_err audit_err = {0};
	p11e_rc rc = open_card(cfg, p->uri, p->module, p->wait_ms, &o, err);

	if (rc == P11E_OK)
		rc = registered(&o, err);
	if (rc == P11E_OK) {
		card_pin_ctx c = pin_ctx(cfg, p, &o, op);
		rc = card_so_current(&c, &so_pin, err);
	}
	if (rc == P11E_OK) {
		snprintf(what, sizeof(what), "new user PIN for token '%s'",
			 p11e_token_get_info(o.s.token)->label);
		rc = p11e_secret_read(p->new_pin_source != NULL ? p->new_pin_source : "prompt",
				      what, &user_pin, err);
	}
	if (rc == P11E_OK)
		rc = p11e_token_unblock_pin(o.s.token, so_pin, user_pin, err);
	if (o.serial[0] != '\0') {
		const char *extra[] = {"serial", o.serial,   "operator", op,
				       "so_pin", "escrowed", NULL};
		if (p11e_audit_write(cfg, "pin-unblock", NULL, extra, rc, err, &audit_err) !=
			P11E_OK &&
		    rc == P11E_OK)
			rc = p11e_errf(err, audit_err.rc,
				       "the PIN was unblocked, but the audit trail could not "
				       "record it: %s",
				       audit_err.msg);
	}
	p11e_secret_free(so_pin, (size_t)-1);
	p11e_secret_free(user_pin, (size_t)-1);
	close_card(&o);
	return rc;
}
