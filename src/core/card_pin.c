/* The card's SO PIN (the PUK): generated, escrowed in the vault to the
 * officers, never shown (include/p11enroll/card.h, docs/cards.md).
 *
 * The order that makes a crash harmless. The vault never overwrites a
 * secret, so each SO PIN is a new entry "card-so-pin/SERIAL/N", and the
 * card's document says which N the card has ("escrowed") and which one is
 * on its way ("pending", with "phase"):
 *   1. the new PIN escrowed as N+1; the document: pending N+1, phase
 *      "escrowed" (saved durably). The card has not seen it.
 *   2. phase "sending" saved, then C_Login(SO, old) and C_SetPIN(old, new).
 *   3. escrowed N+1, no pending (saved).
 * A crash before 2's save leaves the card with the old PIN, and the document
 * says so: the pending entry is dropped without any login. A crash after it
 * is the one window where the card may have either: the rerun logs in as
 * the SO once with the pending (new) PIN, a PIN never tried before. Accepted:
 * the card has it. Refused: the card kept the old one, which is still
 * escrowed (or in the source the caller gave). Either way no PIN that failed
 * is sent again; the refusal costs the card one SO try, and a card whose SO
 * PIN is already low on tries (final try, locked) is not asked at all: the
 * officer decides (docs/cards.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "core/card_int.h"
#include "p11enroll/audit.h"
#include "p11enroll/password.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"

#define SO_PIN_LENGTH 24

static void entry_name(const char *serial, int gen, char *buf, size_t cap)
{
	snprintf(buf, cap, "card-so-pin/%s/%d", serial, gen);
}

static json_object *so_obj(json_object *doc)
{
	json_object *so;

	if (!json_object_object_get_ex(doc, "so_pin", &so) ||
	    !json_object_is_type(so, json_type_object)) {
		so = json_object_new_object();
		json_object_object_add(doc, "so_pin", so);
	}
	return so;
}

static int so_int(json_object *doc, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(so_obj(doc), key, &v) ? json_object_get_int(v) : 0;
}

static void so_set(json_object *doc, const char *key, int v)
{
	json_object_object_add(so_obj(doc), key, json_object_new_int(v));
}

static p11e_rc open_vault(card_pin_ctx *c, p11e_vault **v, p11e_err *err)
{
	p11e_vault_open_params vp = {.officer_key = c->officer_key,
				     .officer_pin_source = c->officer_pin_source,
				     .module = c->module};
	return p11e_vault_open(c->cfg, &vp, v, err);
}

/* The escrowed SO PIN number gen, NUL-terminated into *pin (wipe it with
 * p11e_secret_free(*pin, (size_t)-1)). */
static p11e_rc read_escrowed(card_pin_ctx *c, int gen, char **pin, p11e_err *err)
{
	p11e_vault *v = NULL;
	unsigned char *secret = NULL;
	size_t len = 0;
	char name[96];
	p11e_rc rc;

	*pin = NULL;
	entry_name(c->serial, gen, name, sizeof(name));
	rc = open_vault(c, &v, err);
	/* The file vault decrypts with an officer's key; the others' policies
	 * decide who reads. */
	if (rc == P11E_OK && c->officer_key == NULL && strcmp(p11e_vault_type(v), "file") == 0)
		rc = p11e_errf(err, P11E_USAGE,
			       "card %s: reading its escrowed SO PIN needs --officer-key (an "
			       "escrow officer's key)",
			       c->serial);
	if (rc == P11E_OK)
		rc = p11e_vault_get(v, name, &secret, &len, err);
	p11e_vault_close(v);
	if (rc == P11E_OK)
		*pin = (char *)secret; /* a NUL after len bytes */
	return rc;
}

static void drop_pending(json_object *doc)
{
	json_object_object_del(so_obj(doc), "pending");
	json_object_object_del(so_obj(doc), "phase");
}

static void audit_so(card_pin_ctx *c, const char *what, int gen, p11e_rc rc,
		     const p11e_err *outcome)
{
	char n[16];
	p11e_err audit_err = {0};
	const char *extra[] = {"serial", c->serial,    "operator", c->op, "so_pin",
			       what,	 "generation", n,	   NULL};

	snprintf(n, sizeof(n), "%d", gen);
	if (p11e_audit_write(c->cfg, "card-so-pin", NULL, extra, rc, outcome, &audit_err) !=
	    P11E_OK)
		fprintf(stderr, "p11enroll card: %s\n", audit_err.msg);
}

p11e_rc card_so_resolve(card_pin_ctx *c, p11e_err *err)
{
	c->confirmed = 0;
	const p11e_token_info *info = p11e_token_get_info(c->s->token);
	int pending = so_int(c->doc, "pending");
	json_object *phase;
	char *pin = NULL;
	p11e_rc rc;

	if (pending == 0)
		return P11E_OK;
	if (!json_object_object_get_ex(so_obj(c->doc), "phase", &phase) ||
	    strcmp(json_object_get_string(phase), "sending") != 0) {
		/* Never sent: the card has the PIN it had. */
		drop_pending(c->doc);
		rc = p11e_card_save(c->cfg, c->serial, c->doc, err);
		if (rc == P11E_OK)
			audit_so(c, "pending-dropped", pending, P11E_OK, NULL);
		return rc;
	}
	if (info->so_pin_locked || info->so_pin_final_try || info->so_pin_count_low)
		return p11e_errf(err, P11E_PIN_LOCKED,
				 "card %s: an SO PIN change was cut short and the card's SO PIN "
				 "is %s: not probed; an officer decides (docs/cards.md)",
				 c->serial, info->so_pin_locked ? "locked" : "low on tries");
	if ((rc = read_escrowed(c, pending, &pin, err)) != P11E_OK) {
		if (rc == P11E_USAGE)
			rc = p11e_errf(err, P11E_USAGE,
				       "card %s: an SO PIN change was cut short; rerun with "
				       "--officer-key so that the new PIN can be tried once",
				       c->serial);
		return rc;
	}
	rc = p11e_token_so_pin_check(c->s->token, pin, err);
	p11e_secret_free(pin, (size_t)-1);
	if (rc == P11E_OK) {
		so_set(c->doc, "escrowed", pending);
		drop_pending(c->doc);
		c->confirmed = pending;
		audit_so(c, "pending-confirmed", pending, P11E_OK, NULL);
	} else if (rc == P11E_PIN_INCORRECT) {
		/* The card kept the PIN it had: that one stays current. */
		drop_pending(c->doc);
		audit_so(c, "pending-refused", pending, P11E_OK, NULL);
		rc = P11E_OK;
	} else {
		return rc;
	}
	return p11e_card_save(c->cfg, c->serial, c->doc, err);
}

/* A new SO PIN of a length the card takes (SO_PIN_LENGTH within its range).
 * A card that takes fewer characters than 64 bits need (8 on opencryptoki's
 * soft token) gets as many as it takes: its SO retry counter, not the length,
 * stops guessing, and it has no longer PIN to give. */
static p11e_rc new_pin(card_pin_ctx *c, char **out, p11e_err *err)
{
	const p11e_token_info *info = p11e_token_get_info(c->s->token);
	size_t len = SO_PIN_LENGTH;

	if (info->max_pin_len > 0 && len > info->max_pin_len)
		len = info->max_pin_len;
	if (len < info->min_pin_len)
		len = info->min_pin_len;
	return p11e_password_generate_capped(len, out, err);
}

p11e_rc card_so_rotate(card_pin_ctx *c, const char *old_pin, int *generation, p11e_err *err)
{
	p11e_vault *v = NULL;
	p11e_vault_meta meta;
	char *pin = NULL, *old = NULL, name[96];
	int next, escrowed;
	p11e_rc rc;

	*generation = 0;
	if ((rc = card_so_resolve(c, err)) != P11E_OK)
		return rc;
	/* The change a crash cut short reached the card: that was this
	 * rotation (a rerun), not a reason for another one. */
	if (c->confirmed > 0) {
		*generation = c->confirmed;
		return P11E_OK;
	}
	escrowed = so_int(c->doc, "escrowed");
	if (old_pin == NULL && escrowed == 0)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "card %s: its SO PIN is not escrowed; `card register` with "
				 "--so-pin-source escrows one",
				 c->serial);
	next = so_int(c->doc, "last");
	if (next < escrowed)
		next = escrowed;
	if ((rc = new_pin(c, &pin, err)) != P11E_OK)
		return rc;
	/* 1. Escrowed before the card sees it. An entry already there (a crash
	 * before the document named it) is never overwritten: the next one. */
	p11e_vault_meta_now(&meta);
	rc = open_vault(c, &v, err);
	for (int tries = 0; rc == P11E_OK; tries++) {
		entry_name(c->serial, ++next, name, sizeof(name));
		rc = p11e_vault_put_meta(v, name, (const unsigned char *)pin, strlen(pin), &meta,
					 err);
		if (rc != P11E_EXISTS || tries >= 100)
			break;
		rc = P11E_OK;
	}
	p11e_vault_close(v);
	if (rc != P11E_OK)
		goto out;
	so_set(c->doc, "last", next);
	so_set(c->doc, "pending", next);
	json_object_object_add(so_obj(c->doc), "phase", json_object_new_string("escrowed"));
	if ((rc = p11e_card_save(c->cfg, c->serial, c->doc, err)) != P11E_OK)
		goto out;
	card_crash_point("so-escrowed");
	/* 2. The old PIN: the caller's, else the escrowed one. */
	if (old_pin == NULL && (rc = read_escrowed(c, escrowed, &old, err)) != P11E_OK)
		goto out;
	json_object_object_add(so_obj(c->doc), "phase", json_object_new_string("sending"));
	if ((rc = p11e_card_save(c->cfg, c->serial, c->doc, err)) != P11E_OK)
		goto out;
	card_crash_point("so-sending");
	rc = p11e_token_set_so_pin(c->s->token, old_pin != NULL ? old_pin : old, pin, err);
	if (rc != P11E_OK) {
		/* Refused: the card has the PIN it had. */
		p11e_err keep = *err;
		audit_so(c, "change-refused", next, rc, &keep);
		drop_pending(c->doc);
		if (p11e_card_save(c->cfg, c->serial, c->doc, err) == P11E_OK)
			*err = keep;
		rc = keep.rc;
		goto out;
	}
	card_crash_point("so-set");
	/* 3. The card has it. */
	so_set(c->doc, "escrowed", next);
	drop_pending(c->doc);
	if ((rc = p11e_card_save(c->cfg, c->serial, c->doc, err)) != P11E_OK)
		goto out;
	audit_so(c, "changed", next, P11E_OK, NULL);
	*generation = next;
out:
	p11e_secret_free(pin, (size_t)-1);
	p11e_secret_free(old, (size_t)-1);
	return rc;
}

p11e_rc card_so_current(card_pin_ctx *c, char **pin, p11e_err *err)
{
	p11e_rc rc;
	int escrowed;

	*pin = NULL;
	if ((rc = card_so_resolve(c, err)) != P11E_OK)
		return rc;
	if ((escrowed = so_int(c->doc, "escrowed")) == 0)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "card %s: its SO PIN is not escrowed (registered without "
				 "personalisation); give --so-pin-source instead",
				 c->serial);
	return read_escrowed(c, escrowed, pin, err);
}
