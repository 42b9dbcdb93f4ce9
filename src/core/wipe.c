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
#include "core/pipeline_steps.h"
#include "p11enroll/audit.h"
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
		rc = p11e_record_save(cfg->state_dir, r, err);
	return rc;
}

/* One identity, under its lock: retiring, its objects gone (the earlier
 * generations' on this token too), retired. */
static p11e_rc retire(const p11e_config *cfg, p11e_token *t, p11e_record *r, p11e_wipe_result *out,
		      p11e_err *err)
{
	p11e_rc rc = p11e_record_set(&r->retired, "retiring", err);

	if (rc == P11E_OK)
		rc = p11e_record_save(cfg->state_dir, r, err);
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
	rc = p11e_record_set(&r->retired, "retired", err);
	if (rc == P11E_OK)
		rc = p11e_record_save(cfg->state_dir, r, err);
	if (rc == P11E_OK)
		out->identities++;
	return rc;
}

static p11e_rc audit_one(const p11e_config *cfg, const p11e_token_info *info, const char *identity,
			 p11e_rc rc, p11e_err *err)
{
	const char *const extra[] = {"token", info->label, "serial", info->serial, NULL};
	p11e_err audit_err = {0};

	if (p11e_audit_write(cfg, "wipe", identity, extra, rc, err, &audit_err) != P11E_OK &&
	    rc == P11E_OK) {
		*err = audit_err;
		return audit_err.rc;
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
		p11e_rc rc = p11e_lock_acquire(cfg->state_dir, "identity", cand[i].identity, wait,
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
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	if (p->confirm == NULL)
		return p11e_errf(err, P11E_USAGE, "--confirm: give the token's label");
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
	rc = p11e_record_list(cfg->state_dir, &all, &nall, err);
	if (rc != P11E_OK)
		goto out;
	/* The candidates first in all[]: the ones not yet retired, and those
	 * with earlier generations still on this token. */
	for (size_t i = 0; i < nall; i++)
		if ((on_this_token(&all[i], serial) && !is_retired(&all[i])) ||
		    history_here(&all[i], serial)) {
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
		locks[i].fd = -1;
	rc = lock_all(cfg, all, ncand, wait, locks, err);
	if (rc == P11E_OK)
		rc = p11e_session_login(cfg, &sp, &s, err);
	/* The CA certificates are the token's, shared with every enrollment. */
	if (rc == P11E_OK)
		rc = p11e_lock_acquire(cfg->state_dir, "token", serial, wait, &token_lock, err);
	for (size_t i = 0; rc == P11E_OK && i < ncand; i++) {
		/* Read again under the lock: a run may have changed it since. */
		p11e_record now;
		rc = p11e_record_load(cfg->state_dir, all[i].identity, &now, err);
		if (rc != P11E_OK)
			break;
		if (on_this_token(&now, serial) && !is_retired(&now)) {
			rc = retire(cfg, s.token, &now, out, err);
			rc = audit_one(cfg, info, now.identity, rc, err);
		} else if (history_here(&now, serial)) {
			rc = clear_history(cfg, s.token, &now, serial, out, err);
			rc = audit_one(cfg, info, now.identity, rc, err);
		}
		p11e_record_clear(&all[i]);
		all[i] = now;
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
