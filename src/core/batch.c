/* Batch enrollment with worker threads. Rows are handed out one at a time
 * from a shared index; each worker keeps, per token, its own PKCS#11 session
 * and CA (p11e_enroll_shared), so the module is loaded and logged in once per
 * token for the whole batch. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>
#include "p11enroll/batch.h"
#include "p11enroll/ca.h"
#include "p11enroll/http.h"
#include "p11enroll/lock.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/record.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"
#include "core/row_index.h"

static const char *const outcome_names[] = {"enrolled", "already-done", "pending", "failed",
					    "not-tried"};

const char *p11e_batch_outcome_name(p11e_batch_outcome o)
{
	return o < P11E_BATCH_OUTCOMES ? outcome_names[o] : "?";
}

int p11e_batch_resumable(p11e_rc rc)
{
	switch (rc) {
	case P11E_FAIL:		   /* I/O, the module, the network: of the moment */
	case P11E_BUSY:		   /* another process had the identity */
	case P11E_TOKEN_NOT_FOUND: /* insert it and rerun */
	case P11E_PENDING:
		return 1;
	default: /* bad input, a conflict, a refusal: the same again */
		return 0;
	}
}

/* One token of the batch, logged in once by whichever worker needs it first. */
typedef struct batch_token {
	const char *uri;
	int tried;
	size_t opened_as; /* 1 for the first token opened, 2 for the next... */
	p11e_rc rc;	  /* of the open and login */
	p11e_err err;
	p11e_session sess;
} batch_token;

typedef struct batch {
	const p11e_config *cfg;
	const p11e_roster *roster;
	const p11e_batch_params *bp;
	p11e_batch_row_result *results;
	const char **row_uri; /* the row's token URI, or NULL */
	size_t *row_token;    /* index into tokens */
	batch_token *tokens;
	size_t n_tokens;
	pthread_mutex_t lock; /* guards next, stop, counts, tokens and on_row */
	size_t next;
	size_t n_opened;
	p11e_rc stop; /* a PIN failure: no further row starts */
	size_t counts[P11E_BATCH_OUTCOMES];
	/* Signals (bp->catch_signals): the first SIGINT or SIGTERM, and how
	 * many came. Atomics, not the lock: a worker may hold the lock through
	 * a PIN prompt, and a second Ctrl-C must get through at once. */
	atomic_int interrupted;
	atomic_int signals;
	sigset_t watched; /* SIGINT and SIGTERM, unless ignored at start */
	/* The worker in p11e_session_open (which may prompt for the PIN), so
	 * the first signal reaches the prompt too; forwarded: that copy is not
	 * a second signal. */
	pthread_t prompter;
	atomic_int prompting;
	atomic_int forwarded;
	/* The terminal as the batch found it, given back before a second
	 * signal ends the process while a prompt has echo off. */
	int tty;
	int tty_saved;
	struct termios tty_mode;
} batch;

/* What one worker holds open: per token, its session and its CA. */
typedef struct worker {
	batch *b;
	p11e_enroll_shared *shared; /* n_tokens entries */
} worker;

static void finish_row(batch *b, size_t i, p11e_batch_outcome o, p11e_rc rc, const p11e_err *err)
{
	p11e_batch_row_result *res = &b->results[i];

	res->outcome = o;
	res->rc = rc;
	if (err != NULL && o != P11E_BATCH_ENROLLED && o != P11E_BATCH_ALREADY_DONE)
		snprintf(res->msg, sizeof(res->msg), "%s", err->msg);
	pthread_mutex_lock(&b->lock);
	b->counts[o]++;
	if (b->bp->on_row != NULL)
		b->bp->on_row(b->bp->user, i, res, b->counts);
	pthread_mutex_unlock(&b->lock);
}

/* Signals. A batch of hundreds of rows must not die half-way on Ctrl-C with
 * no word of what it did: the first SIGINT or SIGTERM stops rows from
 * starting, the rows in flight finish, the summary is printed; a second one
 * ends the process at once (every state a kill leaves is resumable). The
 * signals are blocked in every thread and taken by one thread in sigwait,
 * which writes the batch's atomics: no handler, so no global state, and
 * the thread may do what a handler may not (restore the terminal). A PIN
 * prompt (src/util/secret.c) reads the same signals from a signalfd while
 * it has echo off; if it gets one first it restores the terminal and
 * raises it again on its own thread, where it stays pending until the
 * worker hands it over (take_thread_signal). */
static const int batch_signals[] = {SIGINT, SIGTERM};
#define N_BATCH_SIGNALS (sizeof(batch_signals) / sizeof(batch_signals[0]))

/* The second signal: the terminal back as it was, then the signal's own
 * default action (the exit status shows it), from this thread. */
static void abort_now(batch *b, int sig)
{
	static const char msg[] = "\np11enroll batch: aborted by a second signal; rerun to "
				  "resume (every row is resumable)\n";
	struct termios now;
	sigset_t one;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	if (b->tty_saved && tcgetattr(b->tty, &now) == 0 &&
	    (now.c_lflag & ECHO) != (b->tty_mode.c_lflag & ECHO))
		tcsetattr(b->tty, TCSANOW, &b->tty_mode);
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	signal(sig, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
	_exit(128 + sig); /* not reached: the default action ends the process */
}

static void note_signal(batch *b, int sig)
{
	int expected = 0;

	if (atomic_fetch_add(&b->signals, 1) != 0)
		abort_now(b, sig);
	atomic_compare_exchange_strong(&b->interrupted, &expected, sig);
	/* A prompt waiting for the PIN would wait on: it gets the signal too,
	 * restores the terminal and gives up. */
	if (atomic_load(&b->prompting) && !pthread_equal(pthread_self(), b->prompter)) {
		atomic_store(&b->forwarded, 1);
		pthread_kill(b->prompter, sig);
	}
}

static void *signal_thread(void *arg)
{
	batch *b = arg;
	int sig;

	for (;;)
		if (sigwait(&b->watched, &sig) == 0) /* a cancellation point: how it ends */
			note_signal(b, sig);
	return NULL;
}

/* A signal the PIN prompt raised again on this worker's thread (blocked
 * here, so pending), or one pending for the process: taken and noted. */
static void take_thread_signal(batch *b)
{
	const struct timespec now = {0, 0};
	sigset_t pending, set;
	int sig;

	if (!b->bp->catch_signals || sigpending(&pending) != 0)
		return;
	for (size_t i = 0; i < N_BATCH_SIGNALS; i++) {
		if (!sigismember(&pending, batch_signals[i]) ||
		    !sigismember(&b->watched, batch_signals[i]))
			continue;
		sigemptyset(&set);
		sigaddset(&set, batch_signals[i]);
		if ((sig = sigtimedwait(&set, NULL, &now)) > 0 &&
		    !atomic_exchange(&b->forwarded, 0))
			note_signal(b, sig);
	}
}

static int interrupted(batch *b)
{
	return atomic_load(&b->interrupted) != 0;
}

static int is_pin_failure(p11e_rc rc)
{
	return rc == P11E_PIN_INCORRECT || rc == P11E_PIN_LOCKED;
}

/* The token logged in (once for the whole batch), or its failure. */
static p11e_rc token_ready(batch *b, size_t t, p11e_err *err)
{
	batch_token *bt = &b->tokens[t];
	p11e_rc rc;

	pthread_mutex_lock(&b->lock);
	if (!bt->tried) {
		p11e_session_params sp = {.uri = bt->uri,
					  .module = b->bp->module,
					  .pin_source = b->bp->pin_source,
					  .login = 1};
		bt->tried = 1;
		bt->opened_as = ++b->n_opened;
		b->prompter = pthread_self();
		atomic_store(&b->prompting, 1);
		bt->rc = p11e_session_open(b->cfg, &sp, &bt->sess, &bt->err);
		atomic_store(&b->prompting, 0);
		/* Ctrl-C at the PIN prompt. */
		take_thread_signal(b);
		/* Never try a PIN twice: no row starts after a failed login. */
		if (is_pin_failure(bt->rc) && b->stop == P11E_OK)
			b->stop = bt->rc;
	}
	rc = bt->rc;
	if (rc != P11E_OK)
		*err = bt->err;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

/* The worker's own session on token t, opened beside the logged-in one (a
 * login holds for every session of the application on that token). */
static p11e_rc worker_session(worker *w, size_t t, p11e_err *err)
{
	batch_token *bt = &w->b->tokens[t];
	p11e_rc rc;

	if (w->shared[t].token != NULL)
		return P11E_OK;
	rc = token_ready(w->b, t, err);
	if (rc == P11E_OK)
		rc = p11e_token_open(bt->sess.module, &bt->sess.uri, &w->shared[t].token, err);
	return rc;
}

static int already_done(const batch *b, const char *email)
{
	char *identity;
	p11e_record rec;
	int done = 0;

	if (!p11e_email_valid(email) || (identity = p11e_record_identity(email)) == NULL)
		return 0;
	if (p11e_record_load(b->cfg->store, identity, &rec, NULL) == P11E_OK) {
		done = rec.step == P11E_STEP_DONE && rec.retired == NULL; /* wiped: anew */
		p11e_record_clear(&rec);
	}
	free(identity);
	return done;
}

/* The row's identity locked, and whether it was done already: checked under
 * the lock, so that of two batches on one roster only the one that made a
 * row counts it enrolled (the other, which waited for the lock, finds it
 * done). An address that is not one is left to the pipeline to report. */
static p11e_rc lock_row(const batch *b, const char *email, p11e_lock *lock, int *done,
			p11e_err *err)
{
	char *identity;
	p11e_rc rc;

	*done = 0;
	if (!p11e_email_valid(email))
		return P11E_OK;
	if ((identity = p11e_record_identity(email)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_lock_acquire(b->cfg->store, "identity", identity, P11E_LOCK_WAIT_DEFAULT_MS,
			       lock, err);
	free(identity);
	if (rc == P11E_OK)
		*done = already_done(b, email);
	return rc;
}

static void run_row(worker *w, size_t i)
{
	batch *b = w->b;
	const p11e_roster_row *row = &b->roster->rows[i];
	const p11e_batch_params *bp = b->bp;
	p11e_enroll_params p = {
	    .token_uri = b->row_uri[i],
	    .email = row->email,
	    .name = row->name,
	    .upn = row->upn,
	    .principal = row->principal,
	    .sid = row->sid,
	    .profile = row->profile ? row->profile : bp->profile,
	    .key_type = row->key ? row->key : bp->key,
	    .ca = row->ca ? row->ca : bp->ca,
	    .module = bp->module,
	    .pin_source = bp->pin_source,
	    .officer_key = bp->officer_key,
	    .officer_pin_source = bp->officer_pin_source,
	};
	p11e_err err = {0};
	p11e_record rec;
	p11e_lock lock = P11E_LOCK_INIT;
	int done = 0;
	p11e_rc rc;

	if (row->error != NULL) {
		p11e_errf(&err, P11E_USAGE, "%s", row->error);
		finish_row(b, i, P11E_BATCH_FAILED, P11E_USAGE, &err);
		return;
	}
	if (already_done(b, row->email)) {
		finish_row(b, i, P11E_BATCH_ALREADY_DONE, P11E_OK, NULL);
		return;
	}
	if (p.token_uri == NULL && !bp->software) {
		p11e_errf(&err, P11E_USAGE,
			  "token: no token column and no --token (or --software)");
		finish_row(b, i, P11E_BATCH_FAILED, P11E_USAGE, &err);
		return;
	}
	/* A software key has nothing of the token to share. The session
	 * (maybe a PIN prompt) comes before the identity's lock, which is then
	 * held from the check to the last save: p11e_enroll does not take it. */
	p.software = p.token_uri == NULL;
	rc = p.software ? P11E_OK : worker_session(w, b->row_token[i], &err);
	if (rc == P11E_OK)
		rc = lock_row(b, row->email, &lock, &done, &err);
	if (rc == P11E_OK && done) {
		p11e_lock_release(&lock);
		finish_row(b, i, P11E_BATCH_ALREADY_DONE, P11E_OK, NULL);
		return;
	}
	if (rc == P11E_OK) {
		p.shared = p.software ? NULL : &w->shared[b->row_token[i]];
		p.lock_held = lock.held != NULL;
		rc = p11e_enroll(b->cfg, &p, &rec, &err);
		p11e_record_clear(&rec);
	}
	p11e_lock_release(&lock);
	/* Ctrl-C at a prompt of the row (an officer's passphrase). */
	take_thread_signal(b);
	if (rc != P11E_OK && rc != P11E_PENDING && interrupted(b)) {
		/* Cut short by the signal (a prompt it ended): as resumable as a
		 * row never started. */
		p11e_errf(&err, P11E_FAIL,
			  "not finished: the batch was interrupted; rerun to "
			  "resume");
		finish_row(b, i, P11E_BATCH_NOT_TRIED, P11E_FAIL, &err);
		return;
	}
	if (is_pin_failure(rc)) {
		pthread_mutex_lock(&b->lock);
		if (b->stop == P11E_OK)
			b->stop = rc;
		pthread_mutex_unlock(&b->lock);
	}
	finish_row(b, i,
		   rc == P11E_OK	? P11E_BATCH_ENROLLED
		   : rc == P11E_PENDING ? P11E_BATCH_PENDING
					: P11E_BATCH_FAILED,
		   rc, &err);
}

static void *work(void *arg)
{
	worker *w = arg;
	batch *b = w->b;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&b->lock);
		i = b->next < b->roster->n && b->stop == P11E_OK && !interrupted(b) ? b->next++
										    : b->roster->n;
		pthread_mutex_unlock(&b->lock);
		if (i >= b->roster->n)
			break;
		run_row(w, i);
	}
	for (size_t t = 0; t < b->n_tokens; t++) {
		if (w->shared[t].ca != NULL)
			p11e_ca_close(w->shared[t].ca);
		free(w->shared[t].ca_spec);
		p11e_token_close(w->shared[t].token);
	}
	return NULL;
}

/* Marks row i as repeating the identity of row `first`: its error is set
 * now and reported when its turn comes. */
static void mark_repeat(batch *b, size_t i, size_t first)
{
	const p11e_roster_row *row = &b->roster->rows[i];
	char shown[P11E_ROSTER_SHOWN];
	p11e_err dup;

	p11e_errf(&dup, P11E_USAGE, "email: %s is already on line %zu of the roster; each identity once",
		  p11e_roster_shown(row->email, shown), b->roster->rows[first].line);
	b->results[i].rc = P11E_EXISTS;
	snprintf(b->results[i].msg, sizeof(b->results[i].msg), "%s", dup.msg);
}

/* Each row's token URI, the distinct tokens, and rows that repeat an
 * identity (two workers must never enroll one identity at once): one pass
 * with hash indexes, so a 200,000-row roster starts at once. */
static p11e_rc plan(batch *b, p11e_err *err)
{
	const p11e_roster *r = b->roster;
	p11e_row_index tokens, emails;
	p11e_rc rc = P11E_OK;

	b->row_uri = calloc(r->n + 1, sizeof(*b->row_uri));
	b->row_token = calloc(r->n + 1, sizeof(*b->row_token));
	b->tokens = calloc(r->n + 1, sizeof(*b->tokens));
	if (b->row_uri == NULL || b->row_token == NULL || b->tokens == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (p11e_row_index_init(&tokens, r->n + 1, 0) != 0)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (p11e_row_index_init(&emails, r->n, 1) != 0) {
		p11e_row_index_free(&tokens);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	for (size_t i = 0; i < r->n && rc == P11E_OK; i++) {
		const p11e_roster_row *row = &r->rows[i];
		const char *uri = row->token ? row->token : b->bp->token;
		size_t t = b->n_tokens, first;
		int seen;

		b->row_uri[i] = uri;
		if (uri != NULL) {
			/* The index maps a URI to its token's number here. */
			if ((seen = p11e_row_index_add(&tokens, uri, t, &first)) < 0)
				rc = p11e_errf(err, P11E_FAIL, "out of memory");
			else if (seen)
				t = first;
			else
				b->tokens[b->n_tokens++].uri = uri;
			b->row_token[i] = t;
		}
		if (rc != P11E_OK || row->error != NULL || row->email == NULL)
			continue;
		if ((seen = p11e_row_index_add(&emails, row->email, i, &first)) < 0)
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
		else if (seen)
			mark_repeat(b, i, first);
	}
	p11e_row_index_free(&tokens);
	p11e_row_index_free(&emails);
	return rc;
}

/* Blocks the signals (every worker inherits that) and starts the thread
 * that takes them. 0 if it cannot: the batch then runs as before, and a
 * signal does what it always does. */
static int watch_signals(batch *b, pthread_t *th, sigset_t *saved)
{
	struct sigaction was;
	int any = 0;

	/* A signal ignored when the batch started (nohup, a background job of
	 * a script) stays ignored, as the shell conventions want. */
	sigemptyset(&b->watched);
	for (size_t i = 0; i < N_BATCH_SIGNALS; i++)
		if (sigaction(batch_signals[i], NULL, &was) == 0 && was.sa_handler != SIG_IGN) {
			sigaddset(&b->watched, batch_signals[i]);
			any = 1;
		}
	if (!any || pthread_sigmask(SIG_BLOCK, &b->watched, saved) != 0)
		return 0;
	b->tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	b->tty_saved = b->tty >= 0 && tcgetattr(b->tty, &b->tty_mode) == 0;
	if (pthread_create(th, NULL, signal_thread, b) == 0)
		return 1;
	if (b->tty >= 0)
		close(b->tty);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
	return 0;
}

static void unwatch_signals(batch *b, pthread_t th, const sigset_t *saved)
{
	const struct timespec now = {0, 0};

	pthread_cancel(th);
	pthread_join(th, NULL);
	/* One that came after the last row is dropped: the batch is over, and
	 * unblocked it would end the process before the summary. */
	while (sigtimedwait(&b->watched, NULL, &now) > 0)
		;
	if (b->tty >= 0)
		close(b->tty);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

p11e_rc p11e_batch_run(const p11e_config *cfg, const p11e_roster *roster,
		       const p11e_batch_params *bp, p11e_batch_row_result *results, p11e_err *err)
{
	batch b = {.cfg = cfg, .roster = roster, .bp = bp, .results = results, .tty = -1};
	p11e_roster dup_view = *roster;
	p11e_roster_row *rows = NULL;
	pthread_t *threads = NULL, watcher;
	sigset_t saved_mask;
	worker *workers = NULL;
	int jobs = bp->jobs, started = 0, watching = 0;
	p11e_rc rc = P11E_OK;

	if (jobs < 1 || jobs > P11E_BATCH_MAX_JOBS)
		return p11e_errf(err, P11E_USAGE, "jobs: %d is not 1 to %d", jobs,
				 P11E_BATCH_MAX_JOBS);
	memset(results, 0, roster->n * sizeof(*results));
	if (bp->interrupted_by != NULL)
		*bp->interrupted_by = 0;
	atomic_init(&b.interrupted, 0);
	atomic_init(&b.signals, 0);
	atomic_init(&b.prompting, 0);
	atomic_init(&b.forwarded, 0);
	pthread_mutex_init(&b.lock, NULL);
	if (bp->catch_signals)
		watching = watch_signals(&b, &watcher, &saved_mask);
	/* libcurl's global setup is not thread-safe: done here, once. */
	p11e_http_global_init();
	if ((rc = plan(&b, err)) != P11E_OK)
		goto out;
	/* A repeated identity becomes a bad row (its error set) in a private
	 * copy of the row table, so the workers treat it as any bad line. */
	if ((rows = calloc(roster->n + 1, sizeof(*rows))) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	memcpy(rows, roster->rows, roster->n * sizeof(*rows));
	for (size_t i = 0; i < roster->n; i++)
		if (results[i].rc == P11E_EXISTS)
			rows[i].error = results[i].msg;
	dup_view.rows = rows;
	b.roster = &dup_view;
	if ((size_t)jobs > roster->n)
		jobs = roster->n > 0 ? (int)roster->n : 1;
	threads = calloc((size_t)jobs, sizeof(*threads));
	workers = calloc((size_t)jobs, sizeof(*workers));
	if (threads == NULL || workers == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	for (int k = 0; k < jobs; k++) {
		workers[k].b = &b;
		workers[k].shared = calloc(b.n_tokens + 1, sizeof(*workers[k].shared));
		if (workers[k].shared == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			break;
		}
		if (pthread_create(&threads[k], NULL, work, &workers[k]) != 0) {
			free(workers[k].shared);
			workers[k].shared = NULL;
			if (k == 0)
				rc = p11e_errf(err, P11E_FAIL, "cannot start a worker thread");
			break;
		}
		started++;
	}
	for (int k = 0; k < started; k++)
		pthread_join(threads[k], NULL);
	if (rc != P11E_OK)
		goto out;
	/* Rows never reached because the batch stopped. */
	for (size_t i = b.next; i < roster->n; i++) {
		p11e_err why;
		if (b.stop != P11E_OK)
			p11e_errf(&why, P11E_FAIL, "not tried: the batch stopped at a PIN failure");
		else
			p11e_errf(&why, P11E_FAIL,
				  "not tried: the batch was interrupted; rerun to resume");
		finish_row(&b, i, P11E_BATCH_NOT_TRIED, P11E_FAIL, &why);
	}
	if (b.stop != P11E_OK) {
		for (size_t t = 0; t < b.n_tokens; t++)
			if (is_pin_failure(b.tokens[t].rc))
				*err = b.tokens[t].err;
		rc = b.stop;
	}
out:
	for (int k = 0; k < jobs && workers != NULL; k++)
		free(workers[k].shared);
	/* Last opened, first closed: the first session's module owns C_Finalize. */
	for (size_t seq = b.n_opened; seq > 0; seq--)
		for (size_t t = 0; t < b.n_tokens; t++)
			if (b.tokens[t].opened_as == seq)
				p11e_session_close(&b.tokens[t].sess);
	p11e_http_global_cleanup();
	if (watching)
		unwatch_signals(&b, watcher, &saved_mask);
	if (bp->interrupted_by != NULL)
		*bp->interrupted_by = atomic_load(&b.interrupted);
	pthread_mutex_destroy(&b.lock);
	free(threads);
	free(workers);
	free(rows);
	free(b.row_uri);
	free(b.row_token);
	free(b.tokens);
	return rc;
}
