/* p11enroll batch: one roster, every row through the same pipeline as enroll,
 * so a rerun skips what is done and resumes what is not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/roster.h"
#include "p11enroll/util.h"

typedef enum outcome { ENROLLED, ALREADY_DONE, PENDING, FAILED, NOT_TRIED } outcome;
static const char *const outcome_names[] = {"enrolled", "already-done", "pending", "failed",
					    "not-tried"};

typedef struct tally {
	size_t count[5];
	struct timespec start;
	int progress; /* a terminal is watching */
} tally;

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void show_progress(const tally *t, size_t done, size_t total)
{
	double secs = seconds_since(&t->start);
	double rate = secs > 0 ? (double)done / secs : 0;
	long eta = rate > 0 ? (long)((double)(total - done) / rate) : 0;
	int width = 30, filled = total ? (int)(width * done / total) : width;

	fprintf(stderr, "\r[%.*s%*s] %zu/%zu  %.1f/s  ETA %lds  failed %zu ", filled,
		"##############################", width - filled, "", done, total, rate, eta,
		t->count[FAILED]);
	fflush(stderr);
}

/* Enrolls one row; a PIN failure is returned so the batch stops: trying the
 * same PIN on the next row would be an automatic retry. */
static outcome run_row(cli_ctx *ctx, const cli_args *a, const p11e_roster_row *row, p11e_rc *pin_rc,
		       p11e_err *err)
{
	p11e_enroll_params p = {
	    .token_uri = row->token ? row->token : cli_value(a, "token"),
	    .email = row->email,
	    .name = row->name,
	    .profile = row->profile ? row->profile : cli_value(a, "profile"),
	    .key_type = row->key ? row->key : cli_value(a, "key"),
	    .ca = row->ca ? row->ca : cli_value(a, "ca"),
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	};
	p11e_record rec;
	p11e_rc rc;
	outcome result;

	if (row->error != NULL) {
		p11e_errf(err, P11E_USAGE, "%s", row->error);
		return FAILED;
	}
	if (p.token_uri == NULL) {
		p11e_errf(err, P11E_USAGE, "token: no token column and no --token");
		return FAILED;
	}
	if (p11e_email_valid(p.email)) {
		char *lower = p11e_record_identity(p.email);
		rc = lower ? p11e_record_load(ctx->config.state_dir, lower, &rec, NULL) : P11E_FAIL;
		free(lower);
		if (rc == P11E_OK) {
			int done = rec.step == P11E_STEP_DONE;
			p11e_record_clear(&rec);
			if (done)
				return ALREADY_DONE;
		}
	}
	rc = p11e_enroll(&ctx->config, &p, &rec, err);
	p11e_record_clear(&rec);
	result = rc == P11E_OK ? ENROLLED : rc == P11E_PENDING ? PENDING : FAILED;
	if (rc == P11E_PIN_INCORRECT || rc == P11E_PIN_LOCKED)
		*pin_rc = rc;
	return result;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_roster roster;
	json_object *rows = NULL;
	p11e_rc rc, pin_rc = P11E_OK;
	tally t = {{0}, {0, 0}, 0};
	size_t total;

	rc = p11e_roster_load(a->pos[0], &roster, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	total = roster.n;
	clock_gettime(CLOCK_MONOTONIC, &t.start);
	t.progress = !ctx->json && isatty(STDERR_FILENO);
	if (ctx->json)
		rows = json_object_new_array();
	for (size_t i = 0; i < roster.n; i++) {
		const p11e_roster_row *row = &roster.rows[i];
		p11e_err err = {0};
		outcome o = NOT_TRIED;

		if (pin_rc == P11E_OK)
			o = run_row(ctx, a, row, &pin_rc, &err);
		else
			p11e_errf(&err, P11E_FAIL, "not tried: the batch stopped at a PIN failure");
		t.count[o]++;
		if (rows != NULL) {
			json_object *j = json_object_new_object();
			json_object_object_add(j, "line",
					       json_object_new_int64((int64_t)row->line));
			if (row->email != NULL)
				json_object_object_add(j, "email",
						       json_object_new_string(row->email));
			json_object_object_add(j, "result",
					       json_object_new_string(outcome_names[o]));
			if (o == FAILED || o == NOT_TRIED || o == PENDING)
				json_object_object_add(j, "error", json_object_new_string(err.msg));
			json_object_array_add(rows, j);
		} else if (o == FAILED || o == NOT_TRIED) {
			/* On a terminal, clear the progress line first. */
			fprintf(stderr, "%sline %zu (%s): %s\n", t.progress ? "\r\033[K" : "",
				row->line, row->email ? row->email : "no email", err.msg);
		}
		if (t.progress)
			show_progress(&t, i + 1, roster.n);
	}
	if (t.progress)
		fprintf(stderr, "\n");
	if (rows != NULL) {
		json_object *doc = json_object_new_object();
		for (int k = 0; k < 5; k++)
			json_object_object_add(doc, outcome_names[k],
					       json_object_new_int64((int64_t)t.count[k]));
		json_object_object_add(doc, "rows", rows);
		cli_print_json(doc);
	} else {
		printf("batch %s: %zu rows: %zu enrolled, %zu already done, %zu pending, %zu "
		       "failed%s\n",
		       a->pos[0], roster.n, t.count[ENROLLED], t.count[ALREADY_DONE],
		       t.count[PENDING], t.count[FAILED],
		       t.count[NOT_TRIED] ? ", the rest not tried" : "");
	}
	p11e_roster_clear(&roster);
	if (pin_rc != P11E_OK)
		return p11e_errf(&ctx->err, pin_rc,
				 "batch stopped at a PIN failure: a PIN is never tried twice; fix "
				 "the pin source and rerun (done rows are skipped)");
	if (t.count[FAILED] > 0)
		return p11e_errf(&ctx->err, P11E_FAIL,
				 "%zu of %zu rows failed; rerun to resume them", t.count[FAILED],
				 total);
	return t.count[PENDING] > 0 ? P11E_PENDING : P11E_OK;
}

const cli_command cmd_batch = {
    .name = "batch",
    .usage = "ROSTER [--token URI] [--ca CA] [--profile P] [--key TYPE] [--json]",
    .summary = "enroll every identity of a roster (CSV or JSON lines), resumable",
    .help = "ROSTER: CSV with a header row (columns email, name, profile, token, key, ca; only\n"
	    "email is required) or JSON lines with those keys. token is a PKCS#11 URI or a\n"
	    "serial; the options give the defaults for missing columns. Each row runs the\n"
	    "enroll pipeline: a rerun skips rows already done and resumes the others. A bad\n"
	    "row is reported with its line number and the batch goes on; a PIN failure stops\n"
	    "it (a PIN is never tried twice). Exit: 0 all done, 1 a row failed, 3/4 PIN,\n"
	    "7 some pending.",
    .opts = (const cli_opt[]){{"token", "URI", "token for rows without a token column"},
			      {"ca", "CA", "CA for rows without a ca column"},
			      {"profile", "P", "profile for rows without a profile column"},
			      {"key", "TYPE", "key type for rows without a key column"},
			      {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
