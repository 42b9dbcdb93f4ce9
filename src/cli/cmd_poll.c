/* p11enroll poll: asks the CA about every identity whose request it holds
 * (step submitted; also issued and stored, whose certificate is not on the
 * token yet) and finishes those it has issued.
 *
 * A submitted identity is first asked about with the CA alone: one still
 * pending needs neither its token nor a PIN, and the CA's retry-after is
 * reported. Once the CA has answered (issued), the identity's enrollment
 * resumes through the pipeline, which polls again, records the certificate
 * and writes it to the token under the key's ID. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/ca.h"
#include "p11enroll/lock.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/publish.h"
#include "p11enroll/record.h"

typedef enum outcome { O_ENROLLED, O_PENDING, O_REJECTED, O_FAILED } outcome;

static const char *const outcome_names[] = {"enrolled", "pending", "rejected", "failed"};

typedef struct report {
	outcome what;
	p11e_rc rc;
	int retry_after; /* pending: seconds, or -1 when the CA did not say */
	char msg[P11E_ERR_MAX];
} report;

/* The CAs opened for the pre-poll, one per spec, kept for the whole run. */
typedef struct ca_cache {
	char *spec[64];
	p11e_ca *ca[64];
	size_t n;
} ca_cache;

static p11e_rc cached_ca(const p11e_config *cfg, ca_cache *c, const char *spec, p11e_ca **out,
			 p11e_err *err)
{
	p11e_rc rc;

	*out = NULL;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->spec[i], spec) == 0) {
			*out = c->ca[i];
			return P11E_OK;
		}
	rc = p11e_config_open_ca(cfg, spec, out, err);
	if (rc != P11E_OK)
		return rc;
	if (c->n < sizeof(c->ca) / sizeof(c->ca[0]) && (c->spec[c->n] = strdup(spec)) != NULL) {
		c->ca[c->n++] = *out;
	} else {
		/* Not cached: the caller must not close it, so refuse to go on. */
		p11e_ca_close(*out);
		*out = NULL;
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	return P11E_OK;
}

static void cache_free(ca_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		p11e_ca_close(c->ca[i]);
		free(c->spec[i]);
	}
	c->n = 0;
}

/* Keeps a failure with the record, for `p11enroll status`, as the pipeline does. */
static void note_error(const p11e_config *cfg, p11e_record *rec, const char *msg)
{
	if (p11e_record_set(&rec->last_error, msg, NULL) == P11E_OK)
		p11e_record_save(cfg->store, rec, NULL);
}

/* Asks the CA alone. 1: answered here (pending, refused or failed), 0: the
 * pipeline must run (issued, or a CA whose protocol needs the key). */
static int prepoll(cli_ctx *ctx, ca_cache *cas, p11e_record *rec, report *r)
{
	p11e_err err = {0};
	p11e_ca_result res;
	p11e_ca *ca = NULL;
	p11e_profile profile;
	p11e_rc rc;

	memset(&res, 0, sizeof(res));
	if (rec->step != P11E_STEP_SUBMITTED || rec->request_id == NULL || rec->ca == NULL)
		return 0;
	rc = p11e_config_profile(&ctx->config, rec->profile, &profile, &err);
	if (rc == P11E_OK)
		rc = cached_ca(&ctx->config, cas, rec->ca, &ca, &err);
	if (rc == P11E_OK && p11e_ca_needs_requester(ca))
		return 0;
	if (rc == P11E_OK)
		rc = p11e_ca_poll(ca, rec->request_id, &profile, &res, &err);
	if (rc != P11E_OK) {
		r->what = O_FAILED;
		r->rc = rc;
		snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
		note_error(&ctx->config, rec, err.msg);
		return 1;
	}
	switch (res.state) {
	case P11E_CA_STATE_ISSUED:
		p11e_ca_result_clear(&res);
		return 0;
	case P11E_CA_STATE_PENDING:
		r->what = O_PENDING;
		r->rc = P11E_PENDING;
		r->retry_after = res.retry_after;
		snprintf(r->msg, sizeof(r->msg), "request %s is pending at CA %s", rec->request_id,
			 rec->ca);
		break;
	case P11E_CA_STATE_REJECTED:
		r->what = O_REJECTED;
		r->rc = P11E_CA_REJECTED;
		snprintf(r->msg, sizeof(r->msg),
			 "the CA rejected request %s: %s; 'p11enroll forget --abandon-request' it "
			 "to start "
			 "over",
			 rec->request_id, res.reason);
		note_error(&ctx->config, rec, r->msg);
		break;
	}
	p11e_ca_result_clear(&res);
	return 1;
}

/* Resumes the identity's enrollment: the pipeline polls, records and stores. */
static void resume(cli_ctx *ctx, const cli_args *a, p11e_record *rec, report *r)
{
	p11e_enroll_params p;
	p11e_record after;
	p11e_err err = {0};
	p11e_rc rc;

	memset(&p, 0, sizeof(p));
	if (rec->dns_name != NULL)
		p.dns = rec->dns_name;
	else
		p.email = rec->identity;
	p.module = ctx->module;
	p.pin_source = ctx->pin_source;
	/* A software key's PFX step needs its escrowed password back. */
	p.officer_key = cli_value(a, "officer-key");
	p.officer_pin_source = cli_value(a, "officer-pin-source");
	cli_wait_ms(a, &p.wait_ms, NULL);
	rc = p11e_enroll(&ctx->config, &p, &after, &err);
	if (after.identity != NULL) {
		/* What the pipeline saved is what we report. */
		p11e_record_clear(rec);
		*rec = after;
	} else {
		p11e_record_clear(&after);
	}
	r->rc = rc;
	switch (rc) {
	case P11E_OK:
		r->what = O_ENROLLED;
		snprintf(r->msg, sizeof(r->msg),
			 "key %s and certificate %s on token serial %s, valid until %s",
			 rec->key_id ? rec->key_id : "?", rec->cert_sha256 ? rec->cert_sha256 : "?",
			 rec->token_serial ? rec->token_serial : "?",
			 rec->not_after ? rec->not_after : "?");
		break;
	case P11E_PENDING:
		r->what = O_PENDING;
		snprintf(r->msg, sizeof(r->msg), "request %s is pending at CA %s",
			 rec->request_id ? rec->request_id : "?", rec->ca ? rec->ca : "?");
		break;
	case P11E_CA_REJECTED:
		r->what = O_REJECTED;
		snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
		break;
	default:
		r->what = O_FAILED;
		snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
		break;
	}
}

static int poll_locked(cli_ctx *ctx, ca_cache *cas, p11e_record *rec, report *r);

static void poll_one(cli_ctx *ctx, const cli_args *a, ca_cache *cas, p11e_record *rec, report *r)
{
	p11e_lock lock = P11E_LOCK_INIT;
	p11e_record now;
	p11e_err err = {0};
	long wait_ms = 0;
	int answered;

	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	/* Under the identity's lock, from its record as it is now: a run that
	 * held it may have moved it on, and a stale copy must not be saved. */
	cli_wait_ms(a, &wait_ms, NULL);
	if (p11e_lock_acquire(ctx->config.store, "identity", rec->identity,
			      wait_ms < 0   ? 0
			      : wait_ms > 0 ? wait_ms
					    : P11E_LOCK_WAIT_DEFAULT_MS,
			      &lock, &err) != P11E_OK ||
	    p11e_record_load(ctx->config.store, rec->identity, &now, &err) != P11E_OK) {
		p11e_lock_release(&lock);
		r->what = O_FAILED;
		r->rc = err.rc;
		snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
		return;
	}
	p11e_record_clear(rec);
	*rec = now;
	answered = poll_locked(ctx, cas, rec, r);
	/* The pipeline takes the lock itself (a second flock of one process
	 * on another open file would wait for the first). */
	p11e_lock_release(&lock);
	if (!answered)
		resume(ctx, a, rec, r);
}

static int has_publish_pending(const p11e_record *rec)
{
	return rec->publish_pending != NULL &&
	       rec->publish_pending[strspn(rec->publish_pending, " ")];
}

/* 1: answered without the pipeline. */
static int poll_locked(cli_ctx *ctx, ca_cache *cas, p11e_record *rec, report *r)
{
	if (rec->step == P11E_STEP_DONE && has_publish_pending(rec)) {
		/* Enrolled, but a directory was down: publishing is retried. */
		p11e_publish_result res;
		p11e_err err = {0};
		r->rc = p11e_publish_record(&ctx->config, rec, 0, 0, &res, &err);
		r->what = r->rc == P11E_OK ? O_ENROLLED : O_PENDING;
		snprintf(r->msg, sizeof(r->msg), "%s%.400s",
			 r->rc == P11E_OK ? "enrolled; publishing finished"
					  : "publishing pending: ",
			 r->rc == P11E_OK ? "" : err.msg);
		if (r->rc != P11E_OK)
			r->rc = P11E_PENDING;
		return 1;
	}
	if (rec->step == P11E_STEP_DONE) {
		r->what = O_ENROLLED;
		snprintf(r->msg, sizeof(r->msg), "already enrolled (certificate %s)",
			 rec->cert_sha256 ? rec->cert_sha256 : "?");
		return 1;
	}
	if (rec->step < P11E_STEP_SUBMITTED) {
		r->what = O_FAILED;
		r->rc = P11E_USAGE;
		snprintf(r->msg, sizeof(r->msg),
			 "identity %s is at step %s: no CA has its request yet; run p11enroll "
			 "enroll to resume it",
			 rec->identity, p11e_step_name(rec->step));
		return 1;
	}
	return prepoll(ctx, cas, rec, r);
}

static void iso_after(int seconds, char *out, size_t len)
{
	time_t when = time(NULL) + seconds;
	struct tm tm;

	if (gmtime_r(&when, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, len, "?");
}

static void show(const cli_ctx *ctx, const p11e_record *rec, const report *r, json_object *list)
{
	char when[32] = "";

	if (r->what == O_PENDING && r->retry_after >= 0)
		iso_after(r->retry_after, when, sizeof(when));
	if (ctx->json) {
		json_object *o = cli_record_json(rec);
		json_object_object_add(o, "result", json_object_new_string(outcome_names[r->what]));
		json_object_object_add(o, "exit_code", json_object_new_int(r->rc));
		json_object_object_add(o, "message", json_object_new_string(r->msg));
		if (when[0] != '\0') {
			json_object_object_add(o, "retry_after",
					       json_object_new_int(r->retry_after));
			json_object_object_add(o, "next_retry", json_object_new_string(when));
		}
		json_object_array_add(list, o);
		return;
	}
	if (when[0] != '\0')
		printf("%s: pending: %s; poll again after %s (in %d s)\n", rec->identity, r->msg,
		       when, r->retry_after);
	else
		printf("%s: %s: %s\n", rec->identity, outcome_names[r->what], r->msg);
	fflush(stdout);
}

/* The records to poll: those named, or every one the CA holds a request of. */
static p11e_rc select_records(cli_ctx *ctx, const cli_args *a, p11e_record **out, size_t *n)
{
	p11e_record *all = NULL;
	size_t count = 0, kept = 0;
	p11e_rc rc;

	*out = NULL;
	*n = 0;
	if (a->npos == 0) {
		rc = p11e_record_list(ctx->config.store, &all, &count, &ctx->err);
		if (rc != P11E_OK)
			return rc;
		for (size_t i = 0; i < count; i++) {
			if (((all[i].step >= P11E_STEP_SUBMITTED && all[i].step < P11E_STEP_DONE) ||
			     (all[i].step == P11E_STEP_DONE && has_publish_pending(&all[i]))) &&
			    all[i].retired == NULL)
				all[kept++] = all[i];
			else
				p11e_record_clear(&all[i]);
		}
		*out = all;
		*n = kept;
		return P11E_OK;
	}
	if ((all = calloc((size_t)a->npos, sizeof(*all))) == NULL)
		return p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
	for (int i = 0; i < a->npos; i++) {
		char *identity = p11e_record_identity(a->pos[i]);
		if (identity == NULL) {
			rc = p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
		} else {
			rc = p11e_record_load(ctx->config.store, identity, &all[count], &ctx->err);
			if (rc == P11E_NOT_FOUND)
				p11e_errf(&ctx->err, P11E_NOT_FOUND,
					  "identity %s: no enrollment record in %s/identities; "
					  "nothing to poll",
					  identity, ctx->config.state_dir);
		}
		free(identity);
		if (rc != P11E_OK) {
			p11e_records_free(all, count);
			return rc;
		}
		count++;
	}
	*out = all;
	*n = count;
	return P11E_OK;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	size_t counts[4] = {0}, n = 0, done = 0;
	json_object *list = ctx->json ? json_object_new_array() : NULL;
	p11e_rc first_failure = P11E_OK, rc;
	p11e_record *recs = NULL;
	ca_cache cas = {0};
	int pin_stop = 0;
	long wait_ms;

	rc = cli_wait_ms(a, &wait_ms, &ctx->err);
	if (rc == P11E_OK)
		rc = select_records(ctx, a, &recs, &n);
	if (rc != P11E_OK) {
		json_object_put(list);
		return rc;
	}
	if (n == 0 && !ctx->json)
		printf("nothing to poll: no identity is waiting for its CA\n");
	for (size_t i = 0; i < n && !pin_stop; i++, done++) {
		report r;
		poll_one(ctx, a, &cas, &recs[i], &r);
		show(ctx, &recs[i], &r, list);
		counts[r.what]++;
		if (r.what == O_FAILED && first_failure == P11E_OK)
			first_failure = r.rc;
		/* A PIN is never tried twice: the next identity may be on the same token. */
		pin_stop = r.rc == P11E_PIN_INCORRECT || r.rc == P11E_PIN_LOCKED;
	}
	if (list != NULL)
		cli_print_json(list);
	cache_free(&cas);
	p11e_records_free(recs, n);
	if (first_failure != P11E_OK)
		rc = first_failure;
	else if (counts[O_REJECTED] > 0)
		rc = P11E_CA_REJECTED;
	else if (counts[O_PENDING] > 0)
		rc = P11E_PENDING;
	if (rc != P11E_OK)
		p11e_errf(&ctx->err, rc,
			  "%zu polled: %zu enrolled, %zu pending, %zu rejected, %zu failed%s%s",
			  done, counts[O_ENROLLED], counts[O_PENDING], counts[O_REJECTED],
			  counts[O_FAILED],
			  pin_stop ? "; stopped at a PIN failure (a PIN is never tried twice)" : "",
			  rc == P11E_PENDING ? "; run p11enroll poll again later" : "");
	return rc;
}

const cli_command cmd_poll = {
    .name = "poll",
    .usage = "[IDENTITY...] [--json]",
    .summary = "ask the CA about pending requests; store the certificates it has issued",
    .help =
	"For every identity whose request a CA holds (step submitted, or issued but not yet on\n"
	"the token), or only the identities named (email addresses or host names, up to 8):\n"
	"asks the CA, and when it has issued, resumes the enrollment, which writes the\n"
	"certificate and chain to the token under the key's ID. A request still pending is\n"
	"reported with the CA's retry-after, without touching the token.\n"
	"Exit status: 0 when every identity is enrolled, 7 when some are still pending, 6 when\n"
	"the CA rejected one, else the exit status of the first identity that failed (1 for a\n"
	"CA that is down).",
    .opts = (const cli_opt[]){{"officer-key", "KEY",
			       "escrow officer key (file or pkcs11: URI): software keys with "
			       "the file vault"},
			      {"officer-pin-source", "SRC", "its PIN or passphrase source"},
			      {"wait", "SECONDS",
			       "wait this long for another run of an identity (default 5; 0: "
			       "not)"},
			      {NULL, NULL, NULL}},
    .min_pos = 0,
    .max_pos = CLI_MAX_POS,
    .run = run,
};
