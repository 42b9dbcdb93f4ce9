/* Batch enrollment: every row of a roster through the enroll pipeline, by
 * several workers at once. Each token is opened and logged in once, by one
 * worker, under a lock (a wrong PIN is tried once, then the batch stops);
 * each worker then opens its own PKCS#11 session on it and keeps that
 * session and its CA for all its rows. CSRs are signed by CKA_ID with raw
 * C_Sign, so no enrollment reads every key of the token. */
#ifndef P11ENROLL_BATCH_H
#define P11ENROLL_BATCH_H

#include <stddef.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"
#include "p11enroll/roster.h"

#define P11E_BATCH_MAX_JOBS 64

typedef enum p11e_batch_outcome {
	P11E_BATCH_ENROLLED,
	P11E_BATCH_ALREADY_DONE,
	P11E_BATCH_PENDING,
	P11E_BATCH_FAILED,
	P11E_BATCH_NOT_TRIED,
	P11E_BATCH_OUTCOMES
} p11e_batch_outcome;
const char *p11e_batch_outcome_name(p11e_batch_outcome o); /* "enrolled", ... */

typedef struct p11e_batch_row_result {
	p11e_batch_outcome outcome;
	p11e_rc rc;
	char msg[P11E_ERR_MAX]; /* why, for failed, pending and not-tried rows */
} p11e_batch_row_result;

typedef struct p11e_batch_params {
	/* Defaults for rows without the column. */
	const char *token, *ca, *profile, *key;
	const char *module, *pin_source;
	/* Rows without a token: software keys delivered as PFX files (the
	 * pipeline's software path); the officer key only to resume them. */
	int software;
	const char *officer_key, *officer_pin_source;
	int jobs; /* workers, 1 to P11E_BATCH_MAX_JOBS */
	/* Called after each row, one call at a time (under the batch's lock):
	 * index into the roster, its result, and the counts so far. */
	void (*on_row)(void *user, size_t index, const p11e_batch_row_result *res,
		       const size_t counts[P11E_BATCH_OUTCOMES]);
	void *user;
	/* The tool's batch: SIGINT and SIGTERM stop it from starting rows; the
	 * rows in flight finish, the others are not-tried, and *interrupted_by
	 * (if set) gets the signal; a second one ends the process at once,
	 * after giving the terminal its echo back (src/core/batch.c). */
	int catch_signals;
	int *interrupted_by;
} p11e_batch_params;

/* Whether a rerun can finish a row that ended with rc (a failure of the
 * moment: I/O, the network, a busy lock, a token not inserted), as opposed
 * to one that needs its row, the config or the token fixed first. */
int p11e_batch_resumable(p11e_rc rc);

/* Runs the roster; results has roster->n entries. P11E_OK when every row was
 * tried or a signal stopped it (look at the results), the PIN error when a
 * login failed and the batch stopped (the rows not reached are not-tried),
 * P11E_USAGE for bad params. */
p11e_rc p11e_batch_run(const p11e_config *cfg, const p11e_roster *roster,
		       const p11e_batch_params *bp, p11e_batch_row_result *results, p11e_err *err);

#endif
