/* p11enroll wipe: see include/p11enroll/wipe.h. The order is the one a crash
 * must leave rerunnable: the record says "retiring" before any of its
 * objects go and "retired" after the last; the CA certificates go last, and
 * a rerun looks at every retired record of the token for them again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <json-c/json.h>
#include "core/pipeline_steps.h"
#include "p11enroll/audit.h"
#include "p11enroll/ca.h"
#include "p11enroll/clock.h"
#include "p11enroll/pem.h"
#include "p11enroll/revoke.h"
#include "p11enroll/sbuf.h"
#include "p11enroll/lock.h"
#include "p11enroll/record.h"
#include "p11enroll/session.h"
#include "p11enroll/token.h"
#include "p11enroll/util.h"
#include "p11enroll/wipe.h"

#define CLASS_CERTIFICATE 1UL /* CKO_CERTIFICATE */
#define CLASS_PUBLIC_KEY 2UL  /* CKO_PUBLIC_KEY */
#define CLASS_PRIVATE_KEY 3UL /* CKO_PRIVATE_KEY */

/* A record whose key p11enroll put on the token with this serial. */
static int on_this_token(const p11e_record *r, const char *serial)
{
	int token_store = r->key_store == NULL || strcmp(r->key_store, "token") == 0 ||
			  strcmp(r->key_store, "archived") == 0;

	return token_store && r->token_serial != NULL && strcmp(r->token_serial, serial) == 0;
}

static int is_retired(const p11e_record *r)
{
	return r->retired != NULL && strcmp(r->retired, "retired") == 0;
}

/* Keys and certificate under one of the record's IDs. */
static p11e_rc destroy_under(p11e_token *t, const p11e_record *r, const char *hex,
			     p11e_wipe_result *out, p11e_err *err)
{
	static const unsigned long classes[] = {CLASS_PRIVATE_KEY, CLASS_PUBLIC_KEY,
						CLASS_CERTIFICATE};
	p11e_id id;
	p11e_rc rc = P11E_OK;

	if (p11e_hex_decode(hex, id.v, sizeof(id.v), &id.len) != 0 || id.len == 0)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: its record's key ID is not hex; move the record "
				 "aside and remove its objects by hand",
				 r->identity);
	for (size_t c = 0; rc == P11E_OK && c < 3; c++) {
		size_t n = 0;
		rc = p11e_token_destroy(t, classes[c], &id, &n, err);
		if (classes[c] == CLASS_CERTIFICATE)
			out->certificates += n;
		else
			out->key_objects += n;
	}
	return rc;
}

/* Where an earlier generation's key was made: its own serial, else (a
 * generation recorded without one) the record's, unless the record says it
 * is on another token. */
static const char *generation_serial(const p11e_record *r, const p11e_generation *g)
{
	if (g->token_serial != NULL)
		return g->token_serial;
	if (g->on_token != NULL && strcmp(g->on_token, "elsewhere") == 0)
		return NULL;
	return r->token_serial;
}

/* An earlier generation whose key or certificate may still be on this token:
 * kept (an old encryption key), shared (the key the current generation
 * reuses), elsewhere (a replaced card, now the one wiped), or not settled yet
 * (the generation a renewal in progress replaces). Software keys never were. */
static int generation_here(const p11e_record *r, const p11e_generation *g, const char *serial)
{
	const char *at = generation_serial(r, g);

	if (g->key_store != NULL && strcmp(g->key_store, "software") == 0)
		return 0;
	if (g->key_id == NULL || at == NULL || strcmp(at, serial) != 0)
		return 0;
	return g->on_token == NULL || strcmp(g->on_token, "removed") != 0;
}

static int history_here(const p11e_record *r, const char *serial)
{
	for (size_t i = 0; i < r->n_history; i++)
		if (generation_here(r, &r->history[i], serial))
			return 1;
	return 0;
}

/* The earlier generations' keys and certificates on this token, each then
 * marked "removed" in r (the caller saves it). Destroying what is already
 * gone finds nothing, so a rerun after a crash before that save redoes it
 * harmlessly. */
static p11e_rc remove_history(p11e_token *t, p11e_record *r, const char *serial,
			      p11e_wipe_result *out, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	for (size_t i = 0; rc == P11E_OK && i < r->n_history; i++) {
		p11e_generation *g = &r->history[i];
		if (!generation_here(r, g, serial))
			continue;
		rc = destroy_under(t, r, g->key_id, out, err);
		if (rc == P11E_OK)
			rc = p11e_record_set(&g->on_token, "removed", err);
		if (rc == P11E_OK)
			out->generations++;
	}
	return rc;
}

/* A record whose current generation is on another token (a replaced card)
 * but whose earlier ones are on this one: those go, the record stays in use. */
static p11e_rc clear_history(const p11e_config *cfg, p11e_token *t, p11e_record *r,
			     const char *serial, p11e_wipe_result *out, p11e_err *err)
{
	p11e_rc rc = remove_history(t, r, serial, out, err);

	if (rc == P11E_OK)
		rc = p11e_record_save(cfg->store, r, err);
	return rc;
}

/* One identity, under its lock: retiring, its objects gone (the earlier
 * generations' on this token too), retired. */
static p11e_rc retire(const p11e_config *cfg, p11e_token *t, p11e_record *r, p11e_wipe_result *out,
		      p11e_err *err)
{
	p11e_rc rc = p11e_record_set(&r->retired, "retiring", err);

	if (rc == P11E_OK)
		rc = p11e_record_save(cfg->store, r, err);
	if (rc != P11E_OK)
		return rc;
	pipe_crash_point("wipe-marked");
	if (r->key_id != NULL)
		rc = destroy_under(t, r, r->key_id, out, err);
	if (rc == P11E_OK && r->temp_id != NULL &&
	    (r->key_id == NULL || strcmp(r->temp_id, r->key_id) != 0))
		rc = destroy_under(t, r, r->temp_id, out, err);
	if (rc == P11E_OK)
		rc = remove_history(t, r, r->token_serial, out, err);
	if (rc != P11E_OK)
		return rc;
	pipe_crash_point("wipe-destroyed");
	/* The wiped generation stays in the record (a new enroll keeps it in
	 * the history), removed from the token; a renewal it was in the middle
	 * of is abandoned, and the generation it replaced retired with it. */
	rc = p11e_record_set(&r->retired, "retired", err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->token_removed, "yes", err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->renew_mode, NULL, err);
	for (size_t i = 0; rc == P11E_OK && i < r->n_history; i++)
		if (strcmp(r->history[i].state, "current") == 0)
			rc = p11e_record_set(&r->history[i].state, "retired", err);
	if (rc == P11E_OK)
		rc = p11e_record_save(cfg->store, r, err);
	if (rc == P11E_OK)
		out->identities++;
	return rc;
}

/* What a wipe does with one record. */
enum wipe_action {
	WIPE_NOTHING, /* not on this token, retired already, or nothing made yet */
	WIPE_RETIRE,  /* its current generation (and earlier ones here) go */
	WIPE_HISTORY, /* only earlier generations on this token go */
};

static enum wipe_action action_for(const p11e_record *r, const char *serial)
{
	/* A record at step new has nothing anywhere (a first attempt refused
	 * before its key): there is nothing to retire. */
	if (on_this_token(r, serial) && !is_retired(r) && r->step > P11E_STEP_NEW)
		return WIPE_RETIRE;
	return history_here(r, serial) ? WIPE_HISTORY : WIPE_NOTHING;
}

/* One certificate a wipe takes off the token with its key. */
typedef struct wiped_cert {
	int number;	 /* its generation */
	const char *ca;	 /* the CA spec that issued it */
	char serial[65]; /* canonical hex */
	char not_after[21];
	int valid; /* neither revoked (as the record says) nor expired */
} wiped_cert;

static p11e_rc describe_cert(const p11e_record *r, int number, const char *pem, const char *ca,
			     const char *revoked, wiped_cert *out, p11e_err *err)
{
	X509 *cert = p11e_x509_from_pem(pem);
	time_t now = p11e_now();
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	out->number = number;
	out->ca = ca;
	if (cert == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: generation %d's certificate is unreadable in its "
				 "record; nothing was removed",
				 r->identity, number);
	rc = p11e_cert_serial("certificate", cert, out->serial, sizeof(out->serial), err);
	p11e_asn1_time_iso(X509_get0_notAfter(cert), out->not_after, sizeof(out->not_after));
	out->valid = revoked == NULL && X509_cmp_time(X509_get0_notAfter(cert), &now) > 0;
	X509_free(cert);
	return rc;
}

/* The certificates a wipe of r removes (the current generation's when it
 * retires r, the earlier generations' on this token): *out malloc'd, *n of
 * them. */
static p11e_rc wiped_certs(const p11e_record *r, const char *serial, wiped_cert **certs, size_t *n,
			   p11e_err *err)
{
	enum wipe_action act = action_for(r, serial);
	wiped_cert *out;
	p11e_rc rc = P11E_OK;

	*n = 0;
	if ((*certs = out = calloc(r->n_history + 1, sizeof(*out))) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (act == WIPE_NOTHING)
		return P11E_OK;
	for (size_t i = 0; rc == P11E_OK && i < r->n_history; i++) {
		const p11e_generation *g = &r->history[i];
		const char *revoked = g->revoked_reason;
		if (revoked == NULL && strcmp(g->state, "revoked") == 0)
			revoked = g->state;
		if (!generation_here(r, g, serial) || g->cert_pem == NULL)
			continue;
		rc = describe_cert(r, g->number, g->cert_pem, g->ca ? g->ca : r->ca, revoked,
				   &out[*n], err);
		(*n)++;
	}
	if (rc == P11E_OK && act == WIPE_RETIRE && r->cert_pem != NULL) {
		rc = describe_cert(r, p11e_record_generation(r), r->cert_pem, r->ca,
				   r->revoked_reason, &out[*n], err);
		(*n)++;
	}
	return rc;
}

/* Before anything is removed: every certificate still valid that the wipe
 * would leave without its key is one its CA can revoke, unless the caller
 * keeps them valid. Else P11E_UNSUPPORTED naming the first, nothing touched. */
static p11e_rc check_revocable(const p11e_config *cfg, const p11e_wipe_params *p,
			       const p11e_record *recs, size_t n, const char *serial, p11e_err *err)
{
	const char *checked = NULL; /* the last CA spec found able to revoke */
	p11e_rc rc = P11E_OK;

	for (size_t i = 0; rc == P11E_OK && i < n; i++) {
		wiped_cert *certs = NULL;
		size_t nc = 0;
		rc = wiped_certs(&recs[i], serial, &certs, &nc, err);
		for (size_t k = 0; rc == P11E_OK && k < nc && !p->keep_valid; k++) {
			struct json_object *conf = NULL;
			p11e_ca *ca = NULL;
			p11e_err why = {0};
			int can = 0;
			if (!certs[k].valid ||
			    (checked != NULL && strcmp(checked, certs[k].ca) == 0))
				continue;
			if (p11e_config_ca(cfg, certs[k].ca, &conf, &why) == P11E_OK &&
			    p11e_ca_open_in(conf, cfg->store, &ca, &why) == P11E_OK)
				can = p11e_ca_can_revoke(ca);
			p11e_ca_close(ca);
			json_object_put(conf);
			if (can) {
				checked = certs[k].ca;
				continue;
			}
			rc = p11e_errf(
			    err, P11E_UNSUPPORTED,
			    "identity %s: generation %d's certificate (serial %s) is still "
			    "valid until %s and its CA '%.100s' cannot revoke it through "
			    "p11enroll%s%.200s; revoke it at the CA first, or give "
			    "--keep-valid to wipe all the same. Nothing was removed",
			    recs[i].identity, certs[k].number, certs[k].serial, certs[k].not_after,
			    certs[k].ca, why.msg[0] ? ": " : "", why.msg);
		}
		free(certs);
	}
	return rc;
}

/* What one identity's audit line says of its certificates. */
typedef struct wipe_note {
	p11e_sbuf removed, revoked, kept_valid;
} wipe_note;

static void note_add(p11e_sbuf *b, const char *serial)
{
	if (b->len > 0)
		p11e_sbuf_str(b, " ");
	p11e_sbuf_str(b, serial);
}

/* The valid certificates r's wipe removes, revoked through their CA (the
 * record saved after each: a rerun finds them revoked) unless kept valid;
 * every one noted. */
static p11e_rc revoke_wiped(const p11e_config *cfg, const p11e_wipe_params *p, p11e_record *r,
			    const char *serial, int reason, wipe_note *note, p11e_wipe_result *out,
			    p11e_err *err)
{
	wiped_cert *certs = NULL;
	size_t nc = 0;
	p11e_rc rc = wiped_certs(r, serial, &certs, &nc, err);

	for (size_t k = 0; rc == P11E_OK && k < nc; k++) {
		p11e_revoke_params rp = {
		    .identity = r->identity, .generation = certs[k].number, .reason = reason};
		p11e_revoke_result res;
		note_add(&note->removed, certs[k].serial);
		if (!certs[k].valid)
			continue;
		if (p->keep_valid) {
			note_add(&note->kept_valid, certs[k].serial);
			out->kept_valid++;
			continue;
		}
		rc = p11e_revoke_record(cfg, r, &rp, &res, err);
		if (rc == P11E_OK) {
			note_add(&note->revoked, certs[k].serial);
			out->revoked++;
			pipe_crash_point("wipe-revoked");
		}
	}
	free(certs);
	return rc;
}

static p11e_rc audit_one(const p11e_config *cfg, const p11e_token_info *info, const char *identity,
			 const wipe_note *note, const char *reason, p11e_rc rc, p11e_err *err)
{
	const char *extra[16] = {"token", info->label, "serial", info->serial};
	size_t n = 4;
	p11e_err audit_err = {0};

	if (note->removed.len > 0) {
		extra[n++] = "certificates";
		extra[n++] = note->removed.p;
	}
	if (note->revoked.len > 0) {
		extra[n++] = "revoked";
		extra[n++] = note->revoked.p;
		extra[n++] = "reason";
		extra[n++] = reason;
	}
	if (note->kept_valid.len > 0) {
		extra[n++] = "kept_valid";
		extra[n++] = note->kept_valid.p;
	}
	extra[n] = NULL;
	if (p11e_audit_write(cfg, "wipe", identity, extra, rc, err, &audit_err) != P11E_OK &&
	    rc == P11E_OK) {
		*err = audit_err;
		return audit_err.rc;
	}
	return rc;
}

/* Key objects without CKA_ID that carry a label of r on this token (a kill
 * inside key generation or a rename left them; nothing else finds them). */
static p11e_rc remove_idless(p11e_token *t, const p11e_record *r, const char *serial,
			     p11e_wipe_result *out, p11e_err *err)
{
	size_t n = 0;
	p11e_rc rc = P11E_OK;

	if (on_this_token(r, serial)) {
		rc = p11e_token_destroy_idless_keys(t, r->label, &n, err);
		out->idless_keys += n;
	}
	for (size_t i = 0; rc == P11E_OK && i < r->n_history; i++) {
		const p11e_generation *g = &r->history[i];
		const char *at = generation_serial(r, g);
		if (g->label == NULL || at == NULL || strcmp(at, serial) != 0 ||
		    (r->label != NULL && strcmp(g->label, r->label) == 0))
			continue;
		rc = p11e_token_destroy_idless_keys(t, g->label, &n, err);
		out->idless_keys += n;
	}
	return rc;
}

/* Whether a certificate other than ca itself on the token was issued by ca. */
static int still_an_issuer(X509 *ca, const p11e_token_object *objs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (objs[i].cert != NULL && X509_cmp(objs[i].cert, ca) != 0 &&
		    X509_check_issued(ca, objs[i].cert) == X509_V_OK)
			return 1;
	return 0;
}

/* Adds the certificates of a chain (PEM) to cas, each once. */
static void collect_chain(STACK_OF(X509) * cas, const char *chain_pem)
{
	BIO *b;
	X509 *c;

	if (chain_pem == NULL)
		return;
	b = BIO_new_mem_buf(chain_pem, -1);
	while (b != NULL && (c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		int dup = 0;
		for (int k = 0; k < sk_X509_num(cas); k++)
			dup |= X509_cmp(sk_X509_value(cas, k), c) == 0;
		if (dup || !sk_X509_push(cas, c))
			X509_free(c);
	}
	BIO_free(b);
}

/* The CA certificates of the retired records of this token (and of the
 * earlier generations removed from it), by value; each
 * destroyed once nothing left on the token needs it. Repeated until nothing
 * changes: an intermediate gone may free its root. */
static p11e_rc remove_chains(p11e_token *t, const p11e_record *all, size_t nall, const char *serial,
			     p11e_wipe_result *out, p11e_err *err)
{
	STACK_OF(X509) *cas = sk_X509_new_null();
	p11e_rc rc = P11E_OK;
	int changed = 1;

	if (cas == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	for (size_t i = 0; i < nall; i++) {
		if (is_retired(&all[i]) && on_this_token(&all[i], serial))
			collect_chain(cas, all[i].chain_pem);
		/* An earlier generation's CA may differ from the current one's. */
		for (size_t g = 0; g < all[i].n_history; g++) {
			const p11e_generation *h = &all[i].history[g];
			const char *at = generation_serial(&all[i], h);
			if (h->on_token != NULL && strcmp(h->on_token, "removed") == 0 &&
			    at != NULL && strcmp(at, serial) == 0)
				collect_chain(cas, h->chain_pem);
		}
	}
	ERR_clear_error(); /* the end of each PEM text */
	while (rc == P11E_OK && changed) {
		p11e_token_object *objs = NULL;
		size_t nobjs = 0;
		changed = 0;
		out->ca_kept = 0;
		rc = p11e_token_list(t, &objs, &nobjs, err);
		for (int k = 0; rc == P11E_OK && k < sk_X509_num(cas); k++) {
			X509 *ca = sk_X509_value(cas, k);
			size_t n = 0;
			if (still_an_issuer(ca, objs, nobjs)) {
				out->ca_kept++;
				continue;
			}
			rc = p11e_token_destroy_cert_value(t, ca, &n, err);
			out->ca_certificates += n;
			changed |= n > 0;
		}
		p11e_token_objects_free(objs, nobjs);
	}
	sk_X509_pop_free(cas, X509_free);
	return rc;
}

/* Every identity's lock, before anything is touched. */
static p11e_rc lock_all(const p11e_config *cfg, const p11e_record *cand, size_t n, long wait,
			p11e_lock *locks, p11e_err *err)
{
	for (size_t i = 0; i < n; i++) {
		p11e_rc rc = p11e_lock_acquire(cfg->store, "identity", cand[i].identity, wait,
					       &locks[i], err);
		if (rc != P11E_OK)
			return rc;
	}
	return P11E_OK;
}

p11e_rc p11e_wipe(const p11e_config *cfg, const p11e_wipe_params *p, p11e_wipe_result *out,
		  p11e_err *err)
{
	p11e_session_params sp = {
	    .uri = p->uri, .module = p->module, .pin_source = p->pin_source, .login = 0};
	p11e_session s;
	p11e_record *all = NULL;
	p11e_lock *locks = NULL, token_lock = P11E_LOCK_INIT;
	size_t nall = 0, ncand = 0;
	long wait = p->wait_ms < 0 ? 0 : p->wait_ms > 0 ? p->wait_ms : P11E_LOCK_WAIT_DEFAULT_MS;
	const p11e_token_info *info;
	char serial[sizeof(info->serial)];
	int reason = P11E_REASON_CESSATION_OF_OPERATION;
	const char *reason_name;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	if (p->confirm == NULL)
		return p11e_errf(err, P11E_USAGE, "--confirm: give the token's label");
	if (p->revoke_reason != NULL && p->keep_valid)
		return p11e_errf(err, P11E_USAGE,
				 "--keep-valid: the certificates are either revoked (--revoke) or "
				 "kept valid, not both");
	if (p->revoke_reason != NULL &&
	    ((reason = p11e_revoke_reason_parse(p->revoke_reason)) < 0 ||
	     reason == P11E_REASON_CERTIFICATE_HOLD))
		return p11e_errf(
		    err, P11E_USAGE,
		    "--revoke: '%.40s' is not a reason for certificates whose keys are "
		    "destroyed: give cessationOfOperation, affiliationChanged, "
		    "superseded, privilegeWithdrawn, keyCompromise or unspecified",
		    p->revoke_reason);
	reason_name = p11e_revoke_reason_name(reason);
	rc = p11e_session_open(cfg, &sp, &s, err);
	if (rc != P11E_OK)
		return rc;
	info = p11e_token_get_info(s.token);
	snprintf(serial, sizeof(serial), "%s", info->serial);
	if (strcmp(p->confirm, info->label) != 0) {
		rc = p11e_errf(err, P11E_USAGE,
			       "--confirm: '%.40s' is not the label of the token found ('%s', "
			       "serial %s); nothing was removed",
			       p->confirm, info->label, serial);
		goto out;
	}
	rc = p11e_record_list(cfg->store, &all, &nall, err);
	if (rc != P11E_OK)
		goto out;
	/* The candidates first in all[]: every record of this token (a retired
	 * one may still have keys without an ID to find by its label), and
	 * those with earlier generations still on it. */
	for (size_t i = 0; i < nall; i++)
		if (on_this_token(&all[i], serial) || history_here(&all[i], serial)) {
			p11e_record tmp = all[ncand];
			all[ncand] = all[i];
			all[i] = tmp;
			ncand++;
		}
	locks = calloc(ncand ? ncand : 1, sizeof(*locks));
	if (locks == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ncand; i++)
		locks[i] = (p11e_lock)P11E_LOCK_INIT;
	rc = lock_all(cfg, all, ncand, wait, locks, err);
	/* Read again under the locks: a run may have changed them since. */
	for (size_t i = 0; rc == P11E_OK && i < ncand; i++) {
		p11e_record now;
		rc = p11e_record_load(cfg->store, all[i].identity, &now, err);
		if (rc != P11E_OK)
			break;
		p11e_record_clear(&all[i]);
		all[i] = now;
	}
	if (rc == P11E_OK)
		rc = check_revocable(cfg, p, all, ncand, serial, err);
	if (rc == P11E_OK)
		rc = p11e_session_login(cfg, &sp, &s, err);
	/* The CA certificates are the token's, shared with every enrollment. */
	if (rc == P11E_OK)
		rc = p11e_lock_acquire(cfg->store, "token", serial, wait, &token_lock, err);
	for (size_t i = 0; rc == P11E_OK && i < ncand; i++) {
		p11e_record *now = &all[i];
		enum wipe_action act = action_for(now, serial);
		wipe_note note;
		size_t idless = out->idless_keys;

		memset(&note, 0, sizeof(note));
		if (act != WIPE_NOTHING)
			rc = revoke_wiped(cfg, p, now, serial, reason, &note, out, err);
		if (rc == P11E_OK && act == WIPE_RETIRE)
			rc = retire(cfg, s.token, now, out, err);
		else if (rc == P11E_OK && act == WIPE_HISTORY)
			rc = clear_history(cfg, s.token, now, serial, out, err);
		if (rc == P11E_OK)
			rc = remove_idless(s.token, now, serial, out, err);
		if (act != WIPE_NOTHING || out->idless_keys > idless)
			rc = audit_one(cfg, info, now->identity, &note, reason_name, rc, err);
		if (note.removed.failed || note.revoked.failed || note.kept_valid.failed)
			rc = rc != P11E_OK ? rc : p11e_errf(err, P11E_FAIL, "out of memory");
		p11e_sbuf_free(&note.removed);
		p11e_sbuf_free(&note.revoked);
		p11e_sbuf_free(&note.kept_valid);
	}
	if (rc == P11E_OK)
		rc = remove_chains(s.token, all, nall, serial, out, err);
out:
	p11e_lock_release(&token_lock);
	for (size_t i = 0; locks != NULL && i < ncand; i++)
		p11e_lock_release(&locks[i]);
	free(locks);
	p11e_records_free(all, nall);
	p11e_session_close(&s);
	return rc;
}
