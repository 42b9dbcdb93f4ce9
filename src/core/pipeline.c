/* The enrollment state machine. Each step moves the record one state on;
 * the record is saved (atomically) after every step, so a crash anywhere
 * resumes at the last saved state. See include/p11enroll/pipeline.h. The
 * steps live by key store in steps_*.c (core/pipeline_steps.h); this file
 * has the machine: its tables, the run loop, and the run of one identity
 * under its lock; pipeline_prepare.c checks the parameters and loads or
 * creates the record before anything is made. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <json-c/json.h>
#include "p11enroll/ca.h"
#include "p11enroll/lock.h"
#include "p11enroll/csr.h"
#include "p11enroll/pem.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/pkcs12.h"
#include "p11enroll/publish.h"
#include "p11enroll/recover.h"
#include "p11enroll/session.h"
#include "p11enroll/software.h"
#include "p11enroll/util.h"
#include "core/pipeline_prepare.h"
#include "core/pipeline_steps.h"

/* Test builds only: simulate a crash (no cleanup at all) at a named point:
 * after each step's record is saved (the step's name), and in the windows
 * between a token or CA action and the save that records it ("key-made",
 * "key-renamed", "ca-answered", "cert-written"). The resume tests prove a
 * rerun from each finishes with one key and one certificate. */
void pipe_crash_point(const char *name)
{
#ifdef P11ENROLL_TEST_HOOKS
	const char *at = getenv("P11ENROLL_TEST_CRASH_AFTER");
	if (at != NULL && strcmp(at, name) == 0)
		_exit(86);
	/* And a slow run: sleep P11ENROLL_TEST_SLEEP_MS (default 3000) at the
	 * point P11ENROLL_TEST_SLEEP_AT ("locked": just after the identity's
	 * lock is taken), for the concurrency tests' holder. */
	at = getenv("P11ENROLL_TEST_SLEEP_AT");
	if (at != NULL && strcmp(at, name) == 0) {
		const char *ms = getenv("P11ENROLL_TEST_SLEEP_MS");
		long wait = ms != NULL ? strtol(ms, NULL, 10) : 3000;
		struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = wait % 1000 * 1000000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
#else
	(void)name;
#endif
}

p11e_rc pipe_save(enroll_run *r, p11e_err *err)
{
	return pipe_save_step(r, 1, err);
}

/* Whether the save that records reaching state `reached` must be durable
 * (docs/store.md#durability). A power loss may lose a save that is not, and
 * the rerun then starts from the last durable one: only a save after which
 * nothing happens outside that the rerun cannot meet again may be lost.
 * Software and archived keys (a vault's escrow, a key file) and a card's
 * slots keep every save durable. */
static int durable_after(enroll_run *r, p11e_step reached)
{
	char *targets = NULL;
	int outside;

	if (r->software || r->archived)
		return 1;
	switch (reached) {
	case P11E_STEP_KEY_GENERATED:
		/* The final ID was saved durably before the rename
		 * (pipe_step_key): a rerun from key-pending finds the key. */
		return r->rec->slot_id != NULL;
	case P11E_STEP_CSR_BUILT:
		/* The CA gets the request next (an EC CSR signed again would
		 * be another). A CSR signed before the key's rename was saved
		 * durably with the final ID (pipe_step_key): a rerun from
		 * key-pending finds the key renamed and sends that very CSR. */
		return !r->csr_before_rename;
	case P11E_STEP_ISSUED:
		/* The CA keeps what it issued durably and answers the same
		 * request_key with the same certificate (crash point
		 * ca-answered): a rerun from key-pending or csr-built asks
		 * again. */
		return 0;
	case P11E_STEP_STORED:
		/* Durable before anything outside the token: a publish, a
		 * renewal's old generation and its hook. */
		if (r->rec->renew_mode != NULL || r->rec->publish_pending != NULL ||
		    p11e_record_renewing(r->rec) != NULL)
			return 1;
		if (p11e_publish_targets(r->cfg, r->rec->profile, &targets, NULL) != P11E_OK)
			return 1;
		outside = targets[0] != '\0';
		free(targets);
		return outside;
	default:
		/* key-pending: the key is made next; submitted: the CA holds
		 * the request; done: the answer. */
		return 1;
	}
}

p11e_rc pipe_save_step(enroll_run *r, int durable, p11e_err *err)
{
	p11e_rc rc =
	    p11e_record_save_flags(r->cfg->store, r->rec, durable ? P11E_STORE_DURABLE : 0, err);

	if (rc == P11E_OK)
		r->persisted = 1;
	return rc;
}

p11e_rc pipe_parse_id(const char *hex, p11e_id *id, const char *field, p11e_err *err)
{
	if (hex == NULL || p11e_hex_decode(hex, id->v, sizeof(id->v), &id->len) != 0 ||
	    id->len == 0)
		return p11e_errf(err, P11E_USAGE, "%s: '%.80s' is not 1 to %d bytes of hex", field,
				 hex != NULL ? hex : "", P11E_ID_MAX);
	return P11E_OK;
}

p11e_rc pipe_set_hex(char **field, const p11e_id *id, p11e_err *err)
{
	char hex[2 * P11E_ID_MAX + 1];

	p11e_hex_encode(id->v, id->len, hex);
	return p11e_record_set(field, hex, err);
}

/* The key's ID as the certificate's subject key identifier will be (RFC 5280
 * method 1: SHA-1 of the subjectPublicKey bits), so the key, its
 * certificate's SKI and CKA_ID all agree, as NSS and GnuTLS pair them. */
p11e_rc pipe_public_key_id(EVP_PKEY *pub, p11e_id *id, p11e_err *err)
{
	X509_PUBKEY *xpub = NULL;
	const unsigned char *bits = NULL;
	int bits_len = 0;
	p11e_rc rc = P11E_OK;

	if (X509_PUBKEY_set(&xpub, pub) != 1 ||
	    X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, xpub) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the token's public key");
		goto out;
	}
	SHA1(bits, (size_t)bits_len, id->v);
	id->len = SHA_DIGEST_LENGTH;
out:
	X509_PUBKEY_free(xpub);
	return rc;
}

p11e_rc pipe_count_key(enroll_run *r, const p11e_id *id, size_t *priv, size_t *pub, p11e_err *err)
{
	p11e_rc rc = p11e_token_count(r->token, 3 /* CKO_PRIVATE_KEY */, id, priv, err);
	if (rc == P11E_OK)
		rc = p11e_token_count(r->token, 2 /* CKO_PUBLIC_KEY */, id, pub, err);
	return rc;
}

/* The machine: the step that runs in each state. */
static p11e_rc (*const step_for[])(enroll_run *, p11e_err *) = {
    [P11E_STEP_NEW] = pipe_step_new,	       [P11E_STEP_KEY_PENDING] = pipe_step_key,
    [P11E_STEP_KEY_GENERATED] = pipe_step_csr, [P11E_STEP_CSR_BUILT] = pipe_step_submit,
    [P11E_STEP_SUBMITTED] = pipe_step_poll,    [P11E_STEP_ISSUED] = pipe_step_store,
    [P11E_STEP_STORED] = pipe_step_finish,
};

/* A software key's own steps; the others (CSR, submit, poll, finish) are
 * shared and take the key from pipe_soft_key. */
static p11e_rc (*const software_step_for[P11E_STEP_DONE])(enroll_run *, p11e_err *) = {
    [P11E_STEP_NEW] = pipe_step_new_software,
    [P11E_STEP_KEY_PENDING] = pipe_step_key_software,
    [P11E_STEP_ISSUED] = pipe_step_store_software,
};

/* An archived key: the software steps, and the store step that ends on the
 * token. */
static p11e_rc (*const archived_step_for[P11E_STEP_DONE])(enroll_run *, p11e_err *) = {
    [P11E_STEP_NEW] = pipe_step_new_software,
    [P11E_STEP_KEY_PENDING] = pipe_step_key_software,
    [P11E_STEP_ISSUED] = pipe_step_store_archived,
};

/* Whether the step in this state does token work: in a batch, token work of
 * the workers takes turns (p11e_token_lock); CA work and saves overlap. */
static int uses_token(const enroll_run *r, p11e_step s)
{
	if (r->software)
		return 0;
	if (s == P11E_STEP_CSR_BUILT || s == P11E_STEP_SUBMITTED)
		return r->ca != NULL && p11e_ca_needs_requester(r->ca); /* signs with the key */
	if (s == P11E_STEP_STORED) /* a renewal settles its old generation there */
		return p11e_record_renewing(r->rec) != NULL;
	return 1;
}

static p11e_rc run_machine(enroll_run *r, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	while (r->rec->step != P11E_STEP_DONE &&
	       (r->p->stop_after == 0 || r->rec->step < r->p->stop_after)) {
		p11e_step before = r->rec->step;
		int lock = r->p->shared != NULL && uses_token(r, before);
		p11e_rc saved;

		if (lock)
			p11e_token_lock(r->token);
		if (r->archived && archived_step_for[before] != NULL)
			rc = archived_step_for[before](r, err);
		else if (r->software && software_step_for[before] != NULL)
			rc = software_step_for[before](r, err);
		else
			rc = step_for[before](r, err);
		if (lock)
			p11e_token_unlock(r->token);
		if (rc != P11E_OK && rc != P11E_PENDING)
			break;
		if (r->rec->step != before) {
			/* The last save of a run is durable, whatever the step. */
			int last = rc != P11E_OK ||
				   (r->p->stop_after != 0 && r->rec->step >= r->p->stop_after);
			p11e_record_set(&r->rec->last_error, NULL, NULL);
			saved = pipe_save_step(r, last || durable_after(r, r->rec->step), err);
			if (saved != P11E_OK)
				return saved;
			pipe_crash_point(p11e_step_name(r->rec->step));
		}
		if (rc != P11E_OK)
			break;
	}
	return rc;
}

/* The record's CA: the shared one when it was opened for the same spec;
 * else opened here, and left to the sharer when it has none yet. */
static p11e_rc open_ca(enroll_run *r, p11e_err *err)
{
	p11e_enroll_shared *shared = r->p->shared;
	struct json_object *ca_conf = NULL;
	p11e_rc rc;

	if (shared != NULL && shared->ca != NULL && shared->ca_spec != NULL &&
	    strcmp(shared->ca_spec, r->rec->ca) == 0) {
		r->ca = shared->ca;
		r->ca_shared = 1;
		return P11E_OK;
	}
	rc = p11e_config_ca(r->cfg, r->rec->ca, &ca_conf, err);
	if (rc == P11E_OK)
		rc = p11e_ca_open_in(ca_conf, r->cfg->store, &r->ca, err);
	json_object_put(ca_conf);
	if (rc != P11E_OK || shared == NULL || shared->ca != NULL)
		return rc;
	if ((shared->ca_spec = strdup(r->rec->ca)) != NULL) {
		shared->ca = r->ca;
		r->ca_shared = 1;
	}
	return P11E_OK;
}

/* The session on the record's token, or the one the caller shares. */
static p11e_rc open_token(enroll_run *r, const char *uri, p11e_err *err)
{
	p11e_enroll_shared *shared = r->p->shared;
	p11e_session_params sp = {
	    .uri = uri,
	    .module = r->p->module,
	    .pin_source = r->p->pin_source,
	    .login = 1,
	};
	p11e_rc rc;

	if (shared != NULL && shared->token != NULL) {
		r->token = shared->token;
		return P11E_OK;
	}
	rc = p11e_session_open(r->cfg, &sp, &r->sess, err);
	if (rc == P11E_OK)
		r->token = r->sess.token;
	return rc;
}

static p11e_rc open_token_and_ca(enroll_run *r, p11e_err *err)
{
	const p11e_token_info *info;
	p11e_rc rc;

	/* The CA first: a missing CA key must stop us before a key is made.
	 * A run that stops before submitting needs no CA. */
	if (r->p->stop_after == 0 || r->p->stop_after >= P11E_STEP_SUBMITTED) {
		rc = open_ca(r, err);
		if (rc != P11E_OK)
			return rc;
	}
	if (r->software && r->rec->step == P11E_STEP_NEW) {
		/* Without a vault to escrow the password there is no software
		 * key: refused before the record is written. */
		p11e_vault *v = NULL;
		rc = p11e_vault_open(r->cfg, NULL, &v, err);
		p11e_vault_close(v);
		if (rc != P11E_OK)
			return rc;
	}
	/* A software key has no token; an archived one goes onto one. */
	if (r->software && !r->archived)
		return P11E_OK;
	if (r->token == NULL) {
		rc = open_token(r, r->p->token_uri ? r->p->token_uri : r->rec->token_uri, err);
		if (rc != P11E_OK)
			return rc;
	}
	info = p11e_token_get_info(r->token);
	if (r->rec->token_serial == NULL)
		return p11e_record_set(&r->rec->token_serial, info->serial, err);
	if (strcmp(r->rec->token_serial, info->serial) != 0)
		return p11e_errf(
		    err, P11E_TOKEN_NOT_FOUND,
		    "token: identity %s is being enrolled on the token with serial %s, "
		    "not %s ('%s'); insert that token",
		    r->rec->identity, r->rec->token_serial, info->serial, info->label);
	return P11E_OK;
}

/* A token key's record at key-pending asked for another key: back to new if
 * the token holds nothing under its IDs (a failed key generation), else
 * keep it, and pipe_settle names what contradicts it. */
static p11e_rc maybe_start_over(enroll_run *r, int *new_store, p11e_err *err)
{
	const char *given = r->p->token_uri;
	int nothing = 0;
	p11e_rc rc = open_token(r, r->rec->token_uri, err);

	if (rc == P11E_OK)
		rc = pipe_nothing_made(r, &nothing, err);
	if (rc != P11E_OK || !nothing)
		return rc;
	/* The key now goes to the token given, which may be another one. */
	if (given != NULL && strcmp(given, r->rec->token_uri) != 0) {
		p11e_session_close(&r->sess);
		r->token = NULL;
	}
	return pipe_restart(r, new_store, err);
}

static long lock_wait_ms(const p11e_enroll_params *p)
{
	if (p->wait_ms < 0)
		return 0;
	return p->wait_ms > 0 ? p->wait_ms : P11E_LOCK_WAIT_DEFAULT_MS;
}

p11e_rc p11e_enroll(const p11e_config *cfg, const p11e_enroll_params *p, p11e_record *rec,
		    p11e_err *err)
{
	enroll_run r;
	p11e_lock lock = P11E_LOCK_INIT;
	char *identity = NULL;
	int new_store = 0, check_token = 0;
	p11e_rc rc;

	memset(&r, 0, sizeof(r));
	memset(rec, 0, sizeof(*rec));
	r.cfg = cfg;
	r.p = p;
	r.rec = rec;
	rc = pipe_check_params(cfg, p, &identity, err);
	/* One run of an identity at a time, from loading its record to the
	 * last save: two would each make a key (and get a certificate). */
	if (rc == P11E_OK && !p->lock_held)
		rc = p11e_lock_acquire(cfg->store, "identity", identity, lock_wait_ms(p), &lock,
				       err);
	if (rc == P11E_OK) {
		pipe_crash_point("locked");
		rc = pipe_load_record(&r, identity, &new_store, &check_token, err);
	}
	if (rc == P11E_OK && check_token)
		rc = maybe_start_over(&r, &new_store, err);
	if (rc == P11E_OK)
		rc = pipe_settle(&r, new_store, err);
	if (rc == P11E_OK && (r.secret = p11e_record_secret_name(
				  rec->identity, p11e_record_generation(rec))) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	if (rc != P11E_OK || rec->step == P11E_STEP_DONE ||
	    (p->stop_after != 0 && rec->step >= p->stop_after))
		goto out;
	rc = open_token_and_ca(&r, err);
	/* A key the token cannot make is refused before the record is written
	 * (step new checks it again on a resumed record). */
	if (rc == P11E_OK && rec->step == P11E_STEP_NEW && r.token != NULL)
		rc = p11e_token_check_keytype(r.token, &r.kt, err);
	/* A card the registry has suspended, lost, damaged or terminated takes
	 * no key (card_enroll.c): refused before anything is made or saved. */
	if (rc == P11E_OK)
		rc = pipe_card_check(&r, err);
	if (rc == P11E_OK && rec->step == P11E_STEP_NEW) {
		/* Nothing is made yet: key-pending, durable, comes before. */
		rc = pipe_save_step(&r, r.software || r.archived, err);
		if (rc == P11E_OK)
			pipe_crash_point("new");
	}
	if (rc == P11E_OK)
		rc = run_machine(&r, err);
	/* Only a failure of the run is recorded: a rerun refused before it
	 * (busy, contradicting the record) leaves the record as it was. */
	if (rc != P11E_OK && rc != P11E_PENDING && r.persisted && err != NULL) {
		/* A first attempt refused at step new made nothing: it leaves no
		 * record either (wipe would count it, status list it). */
		if (r.created && rec->step == P11E_STEP_NEW) {
			p11e_record_remove(cfg->store, rec->identity, NULL);
		} else {
			/* Keep the reason with the record for `p11enroll status`. */
			p11e_record_set(&rec->last_error, err->msg, NULL);
			pipe_save(&r, NULL);
		}
	}
out:
	/* After the record is final, also on a rerun of a finished one (a
	 * crash before the move), under the identity's lock: then the card's. */
	if (rc == P11E_OK || rc == P11E_PENDING)
		pipe_card_issue(&r);
	if (r.ca != NULL && !r.ca_shared)
		p11e_ca_close(r.ca);
	p11e_session_close(&r.sess);
	EVP_PKEY_free(r.skey);
	p11e_secret_free(r.pfx_pass, (size_t)-1);
	free(r.secret);
	p11e_lock_release(&lock);
	free(identity);
	return rc;
}
