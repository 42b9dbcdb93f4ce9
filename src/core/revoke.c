/* `p11enroll revoke IDENTITY` (include/p11enroll/revoke.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include <json-c/json.h>
#include "p11enroll/audit.h"
#include "p11enroll/ca.h"
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/pem.h"
#include "p11enroll/publish.h"
#include "p11enroll/revoke.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"

void pipe_crash_point(const char *name);

/* What one generation's revocation works on: its fields, wherever they are
 * in the record. */
typedef struct target {
	int number;
	p11e_generation *g; /* NULL: the current generation */
	const char *cert_pem, *ca, *key_id, *token_serial, *key_store;
	char **reason, **at, **published;
} target;

static p11e_rc find_target(p11e_record *rec, int n, target *t, p11e_err *err)
{
	memset(t, 0, sizeof(*t));
	t->number = n > 0 ? n : p11e_record_generation(rec);
	if (t->number == p11e_record_generation(rec)) {
		t->cert_pem = rec->cert_pem;
		t->ca = rec->ca;
		t->key_id = rec->key_id;
		t->token_serial = rec->token_serial;
		t->key_store = rec->key_store;
		t->reason = &rec->revoked_reason;
		t->at = &rec->revoked_at;
		t->published = &rec->published;
	} else if ((t->g = p11e_record_history_find(rec, t->number)) != NULL) {
		t->cert_pem = t->g->cert_pem;
		t->ca = t->g->ca ? t->g->ca : rec->ca;
		t->key_id = t->g->key_id;
		t->token_serial = t->g->token_serial;
		t->key_store = t->g->key_store;
		t->reason = &t->g->revoked_reason;
		t->at = &t->g->revoked_at;
		t->published = &t->g->published;
	} else {
		return p11e_errf(err, P11E_NOT_FOUND,
				 "generation: %s has no generation %d (see p11enroll status %s "
				 "--json)",
				 rec->identity, t->number, rec->identity);
	}
	if (t->cert_pem == NULL)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "identity %s: generation %d has no certificate yet; revoke an "
				 "earlier one with --generation",
				 rec->identity, t->number);
	return P11E_OK;
}

static p11e_rc ask_ca(const p11e_config *cfg, const target *t, X509 *cert, int reason, int *already,
		      p11e_err *err)
{
	p11e_ca *ca = NULL;
	char serial[65];
	p11e_rc rc = p11e_cert_serial("certificate", cert, serial, sizeof(serial), err);

	if (rc == P11E_OK)
		rc = p11e_config_open_ca(cfg, t->ca, &ca, err);
	if (rc == P11E_OK)
		rc = p11e_ca_revoke(ca, serial, cert, reason, already, err);
	p11e_ca_close(ca);
	return rc;
}

/* --remove: the generation's certificate, and its key unless the current
 * generation still uses it (a reused key), off its token. */
static p11e_rc take_off_token(const p11e_config *cfg, p11e_record *rec, const target *t,
			      const p11e_revoke_params *p, X509 *cert, int *removed, p11e_err *err)
{
	p11e_session_params sp = {
	    .uri = rec->token_uri, .module = p->module, .pin_source = p->pin_source, .login = 1};
	p11e_session s;
	p11e_id id;
	size_t n = 0, total = 0;
	int key_too = t->g == NULL || rec->key_id == NULL || strcmp(t->key_id, rec->key_id) != 0;
	p11e_rc rc;

	*removed = 0;
	if (t->key_store != NULL && strcmp(t->key_store, "software") == 0)
		return p11e_errf(err, P11E_USAGE,
				 "remove: generation %d of %s is a software key: nothing of it is "
				 "on a token",
				 t->number, rec->identity);
	memset(&s, 0, sizeof(s));
	rc = p11e_session_open(cfg, &sp, &s, err);
	if (rc == P11E_OK && t->token_serial != NULL &&
	    strcmp(p11e_token_get_info(s.token)->serial, t->token_serial) != 0)
		rc = p11e_errf(err, P11E_TOKEN_NOT_FOUND,
			       "remove: generation %d of %s is on the token with serial %s; insert "
			       "that token",
			       t->number, rec->identity, t->token_serial);
	if (rc == P11E_OK)
		rc = p11e_token_destroy_cert_value(s.token, cert, &n, err);
	total += n;
	if (rc == P11E_OK && key_too && t->key_id != NULL &&
	    (rc = p11e_hex_decode(t->key_id, id.v, sizeof(id.v), &id.len) == 0
		      ? P11E_OK
		      : p11e_errf(err, P11E_FAIL, "record key_id is not hex")) == P11E_OK) {
		static const unsigned long classes[] = {3 /* private */, 2 /* public */,
							1 /* certificate */};
		for (size_t c = 0; rc == P11E_OK && c < 3; c++) {
			rc = p11e_token_destroy(s.token, classes[c], &id, &n, err);
			total += n;
		}
	}
	p11e_session_close(&s);
	*removed = (int)total;
	return rc;
}

p11e_rc p11e_revoke_record(const p11e_config *cfg, p11e_record *rec, const p11e_revoke_params *p,
			   p11e_revoke_result *out, p11e_err *err)
{
	const char *reason_name = p11e_revoke_reason_name(p->reason);
	char now[21], gen[16];
	const char *extra[] = {"generation", gen,	  "serial", out->serial,
			       "reason",     reason_name, NULL};
	target t;
	X509 *cert = NULL;
	p11e_err audit_err = {0};
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if (reason_name == NULL)
		return p11e_errf(err, P11E_USAGE, "reason: not an RFC 5280 reason code");
	if ((rc = find_target(rec, p->generation, &t, err)) != P11E_OK)
		return rc;
	out->generation = t.number;
	snprintf(gen, sizeof(gen), "%d", t.number);
	if ((cert = p11e_x509_from_pem(t.cert_pem)) == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: generation %d's certificate is "
				 "unreadable in its record",
				 rec->identity, t.number);
	rc = p11e_cert_serial("certificate", cert, out->serial, sizeof(out->serial), err);
	if (rc == P11E_OK)
		rc = ask_ca(cfg, &t, cert, p->reason, &out->already, err);
	/* The CA's answer is in the audit log whatever it was. */
	if (p11e_audit_write(cfg, "revoke", rec->identity, extra, rc, err, &audit_err) != P11E_OK &&
	    rc == P11E_OK)
		fprintf(stderr, "p11enroll revoke: %s\n", audit_err.msg);
	if (rc != P11E_OK)
		goto out;
	pipe_crash_point("revoked-at-ca");
	p11e_iso_format(p11e_now(), now);
	/* An earlier reason stays: the first revocation is the one the CA has. */
	if (*t.reason == NULL && (rc = p11e_record_set(t.reason, reason_name, err)) == P11E_OK)
		rc = p11e_record_set(t.at, now, err);
	/* What is reported: a second revocation names the reason the first
	 * one recorded, not the one just given (the CA keeps the first). */
	if (rc == P11E_OK)
		snprintf(out->reason, sizeof(out->reason), "%s", *t.reason);
	if (rc == P11E_OK && t.g != NULL)
		rc = p11e_record_set(&t.g->state, "revoked", err);
	/* Its publishers drop exactly this certificate (never the others). */
	if (rc == P11E_OK && t.g != NULL && t.g->published != NULL)
		rc = p11e_record_set(&t.g->unpublish_pending, t.g->published, err);
	if (rc == P11E_OK)
		rc = p11e_record_save(cfg->store, rec, err);
	if (rc == P11E_OK && p->remove) {
		rc = take_off_token(cfg, rec, &t, p, cert, &out->removed, err);
		if (rc == P11E_OK && t.g != NULL)
			rc = p11e_record_set(&t.g->on_token, "removed", err);
		else if (rc == P11E_OK)
			rc = p11e_record_set(&rec->token_removed, "yes", err);
		if (rc == P11E_OK)
			rc = p11e_record_save(cfg->store, rec, err);
	}
	if (rc == P11E_OK) {
		p11e_publish_result res = {0};
		size_t withdrawn = 0;
		p11e_err perr = {0};
		p11e_rc prc =
		    t.g != NULL ? p11e_publish_withdraw_history(cfg, rec, &withdrawn, &perr)
		    : *t.published != NULL ? p11e_publish_record(cfg, rec, 0, 1, &res, &perr)
					   : P11E_OK;
		out->withdrawn = (int)(withdrawn + res.done);
		if (prc != P11E_OK)
			snprintf(out->note, sizeof(out->note),
				 "still published (%.300s): run p11enroll publish --retry %.150s",
				 perr.msg, rec->identity);
	}
out:
	X509_free(cert);
	return rc;
}

p11e_rc p11e_revoke_identity(const p11e_config *cfg, const p11e_revoke_params *p,
			     p11e_revoke_result *out, p11e_err *err)
{
	p11e_held h;
	p11e_rc rc = p11e_held_acquire(cfg, p->identity, p->wait_ms, &h, err);

	memset(out, 0, sizeof(*out));
	if (rc == P11E_OK)
		rc = p11e_revoke_record(cfg, &h.rec, p, out, err);
	p11e_held_release(&h);
	return rc;
}
