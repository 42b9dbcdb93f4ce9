/* p11enroll batch: one roster, every row through the same pipeline as enroll,
 * so a rerun skips what is done and resumes what is not. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/batch.h"
#include "p11enroll/roster.h"
#include "p11enroll/util.h"

typedef struct view {
	const p11e_roster *roster;
	struct timespec start;
	int progress;	   /* a terminal is watching */
	json_object *rows; /* --json: the report's rows, in roster order */
	json_object **by_index;
} view;

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void show_progress(const view *v, const size_t *counts)
{
	size_t done = 0, total = v->roster->n;
	double secs = seconds_since(&v->start), rate;
	int width = 30, filled;
	long eta;

	for (int k = 0; k < P11E_BATCH_OUTCOMES; k++)
		done += counts[k];
	rate = secs > 0 ? (double)done / secs : 0;
	eta = rate > 0 ? (long)((double)(total - done) / rate) : 0;
	filled = total ? (int)(width * done / total) : width;
	fprintf(stderr, "\r[%.*s%*s] %zu/%zu  %.1f/s  ETA %lds  failed %zu ", filled,
		"##############################", width - filled, "", done, total, rate, eta,
		counts[P11E_BATCH_FAILED]);
	fflush(stderr);
}

/* Called by the batch after each row, one call at a time. */
static void on_row(void *user, size_t i, const p11e_batch_row_result *res, const size_t *counts)
{
	view *v = user;
	const p11e_roster_row *row = &v->roster->rows[i];
	int bad = res->outcome == P11E_BATCH_FAILED || res->outcome == P11E_BATCH_NOT_TRIED;

	char shown[P11E_ROSTER_SHOWN];

	if (v->by_index != NULL) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "line", json_object_new_int64((int64_t)row->line));
		/* Capped as in the text: a 10 MB line is not echoed whole. */
		if (row->email != NULL)
			json_object_object_add(
			    j, "email", json_object_new_string(p11e_roster_shown(row->email, shown)));
		json_object_object_add(
		    j, "result", json_object_new_string(p11e_batch_outcome_name(res->outcome)));
		if (bad || res->outcome == P11E_BATCH_PENDING)
			json_object_object_add(j, "error", json_object_new_string(res->msg));
		/* Whether a rerun can finish it, or its row needs fixing first. */
		if (bad)
			json_object_object_add(
			    j, "resumable",
			    json_object_new_boolean(res->outcome == P11E_BATCH_NOT_TRIED ||
						    p11e_batch_resumable(res->rc)));
		/* When the row finished, from the start of the batch: the cost of
		 * the first and the last hundred rows (bench/run.sh). */
		json_object_object_add(
		    j, "finished_ms",
		    json_object_new_int64((int64_t)(seconds_since(&v->start) * 1000)));
		v->by_index[i] = j;
	} else if (bad) {
		/* The row's words capped and made safe for a terminal (an
		 * escape in a roster line stays inert). */
		const char *capped = p11e_roster_shown(row->email, shown);
		char *email = row->email ? cli_safe_text(capped, strlen(capped)) : NULL;
		char *msg = cli_safe_text(res->msg, strlen(res->msg));
		/* On a terminal, clear the progress line first. */
		fprintf(stderr, "%sline %zu (%s): %s\n", v->progress ? "\r\033[K" : "", row->line,
			email ? email : "no email", msg ? msg : "(out of memory)");
		free(email);
		free(msg);
	}
	if (v->progress)
		show_progress(v, counts);
}

static p11e_rc parse_jobs(const char *text, int *jobs, p11e_err *err)
{
	char *end;
	long n;

	*jobs = 1;
	if (text == NULL)
		return P11E_OK;
	n = strtol(text, &end, 10);
	if (end == text || *end != '\0' || n < 1 || n > P11E_BATCH_MAX_JOBS)
		return p11e_errf(err, P11E_USAGE, "jobs: '%.20s' is not a number from 1 to %d",
				 text, P11E_BATCH_MAX_JOBS);
	*jobs = (int)n;
	return P11E_OK;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	int signo = 0; /* the signal that stopped the batch */
	p11e_batch_params bp = {
	    .token = cli_value(a, "token"),
	    .ca = cli_value(a, "ca"),
	    .profile = cli_value(a, "profile"),
	    .key = cli_value(a, "key"),
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	    .software = cli_flag(a, "software"),
	    .officer_key = cli_value(a, "officer-key"),
	    .officer_pin_source = cli_value(a, "officer-pin-source"),
	    .on_row = on_row,
	    .catch_signals = 1,
	    .interrupted_by = &signo,
	};
	p11e_batch_row_result *results = NULL;
	size_t counts[P11E_BATCH_OUTCOMES] = {0}, resumable = 0;
	p11e_roster roster;
	view v = {0};
	p11e_rc rc, batch_rc;

	if ((rc = parse_jobs(cli_value(a, "jobs"), &bp.jobs, &ctx->err)) != P11E_OK)
		return rc;
	rc = p11e_roster_load(
	    a->pos[0], cli_flag(a, "allow-extra-columns") ? P11E_ROSTER_ALLOW_EXTRA_COLUMNS : 0,
	    &roster, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	v.roster = &roster;
	clock_gettime(CLOCK_MONOTONIC, &v.start);
	v.progress = !ctx->json && isatty(STDERR_FILENO);
	bp.user = &v;
	results = calloc(roster.n + 1, sizeof(*results));
	if (ctx->json)
		v.by_index = calloc(roster.n + 1, sizeof(*v.by_index));
	if (results == NULL || (ctx->json && v.by_index == NULL)) {
		rc = p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
		goto out;
	}
	batch_rc = p11e_batch_run(&ctx->config, &roster, &bp, results, &ctx->err);
	if (batch_rc == P11E_USAGE || batch_rc == P11E_FAIL) {
		rc = batch_rc;
		goto out;
	}
	for (size_t i = 0; i < roster.n; i++) {
		counts[results[i].outcome]++;
		resumable +=
		    results[i].outcome == P11E_BATCH_FAILED && p11e_batch_resumable(results[i].rc);
	}
	if (v.progress)
		fprintf(stderr, "\n");
	if (ctx->json) {
		json_object *doc = json_object_new_object(), *rows = json_object_new_array();
		for (int k = 0; k < P11E_BATCH_OUTCOMES; k++)
			json_object_object_add(doc, p11e_batch_outcome_name(k),
					       json_object_new_int64((int64_t)counts[k]));
		for (size_t i = 0; i < roster.n; i++) {
			json_object_array_add(rows, v.by_index[i]);
			v.by_index[i] = NULL;
		}
		json_object_object_add(doc, "rows", rows);
		cli_print_json(doc);
	} else {
		printf("batch %s: %zu rows: %zu enrolled, %zu already done, %zu pending, %zu "
		       "failed",
		       a->pos[0], roster.n, counts[P11E_BATCH_ENROLLED],
		       counts[P11E_BATCH_ALREADY_DONE], counts[P11E_BATCH_PENDING],
		       counts[P11E_BATCH_FAILED]);
		if (counts[P11E_BATCH_NOT_TRIED] > 0)
			printf(", %zu not tried%s", counts[P11E_BATCH_NOT_TRIED],
			       signo != 0 ? " (interrupted)" : "");
		printf("\n");
	}
	fflush(stdout);
	if (signo != 0)
		/* The shell's convention for a process a signal ended: 128 + the
		 * signal (130 SIGINT, 143 SIGTERM); docs/p11enroll.1 EXIT STATUS. */
		rc =
		    p11e_errf(&ctx->err, (p11e_rc)(128 + signo),
			      "interrupted by %s: %zu rows not finished; rerun to resume them "
			      "(done rows are skipped)",
			      signo == SIGINT ? "SIGINT" : "SIGTERM", counts[P11E_BATCH_NOT_TRIED]);
	else if (batch_rc != P11E_OK)
		rc = p11e_errf(&ctx->err, batch_rc,
			       "batch stopped at a PIN failure (%.200s): a PIN is never tried "
			       "twice; fix the pin source and rerun (done rows are skipped)",
			       ctx->err.msg);
	else if (counts[P11E_BATCH_FAILED] > 0 && resumable == counts[P11E_BATCH_FAILED])
		rc = p11e_errf(&ctx->err, P11E_FAIL, "%zu of %zu rows failed; rerun to resume them",
			       counts[P11E_BATCH_FAILED], roster.n);
	else if (counts[P11E_BATCH_FAILED] > 0 && resumable > 0)
		rc = p11e_errf(&ctx->err, P11E_FAIL,
			       "%zu of %zu rows failed: %zu can be resumed by a rerun, %zu need "
			       "what their line says fixed first",
			       counts[P11E_BATCH_FAILED], roster.n, resumable,
			       counts[P11E_BATCH_FAILED] - resumable);
	else if (counts[P11E_BATCH_FAILED] > 0)
		rc = p11e_errf(&ctx->err, P11E_FAIL,
			       "%zu of %zu rows failed; a rerun alone will not finish them: fix "
			       "what their lines say, then rerun (done rows are skipped)",
			       counts[P11E_BATCH_FAILED], roster.n);
	else
		rc = counts[P11E_BATCH_PENDING] > 0 ? P11E_PENDING : P11E_OK;
out:
	for (size_t i = 0; v.by_index != NULL && i < roster.n; i++)
		json_object_put(v.by_index[i]);
	free(v.by_index);
	free(results);
	p11e_roster_clear(&roster);
	return rc;
}

const cli_command cmd_batch = {
    .name = "batch",
    .usage = "ROSTER [--jobs N] [--token URI | --software] [--ca CA] [--profile P] [--key TYPE] "
	     "[--json]",
    .summary = "enroll every identity of a roster (CSV or JSON lines), resumable",
    .help = "ROSTER: CSV with a header row (columns email, name, profile, token, key, ca, upn,\n"
	    "principal, sid; only email is required) or JSON lines with those keys. token is\n"
	    "a PKCS#11 URI or a serial; the options give the defaults for missing columns.\n"
	    "Each row runs the enroll pipeline: a rerun skips rows already done and resumes\n"
	    "the others. A bad row is reported with its line number and the batch goes on; a\n"
	    "PIN failure stops it (a PIN is never tried twice). With --jobs N, N workers\n"
	    "enroll at once, each with its own session on each token (logged in once for the\n"
	    "whole batch).\n"
	    "Exit: 0 all done, 1 a row failed, 3/4 PIN, 7 some pending.",
    .opts =
	(const cli_opt[]){
	    {"jobs", "N", "enrollments at once (default 1, at most 64)"},
	    {"token", "URI", "token for rows without a token column"},
	    {"ca", "CA", "CA for rows without a ca column"},
	    {"profile", "P", "profile for rows without a profile column"},
	    {"key", "TYPE", "key type for rows without a key column"},
	    {"software", NULL, "rows without a token: software keys, each delivered as a PFX"},
	    {"officer-key", "KEY",
	     "escrow officer key (file or pkcs11: URI), to resume software rows"},
	    {"officer-pin-source", "SRC", "its PIN or passphrase source"},
	    {"allow-extra-columns", NULL, "ignore roster columns (JSON keys) other than the six"},
	    {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
