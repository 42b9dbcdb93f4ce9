/* What a PKCS#11 module writes on stderr while it initialises.
 *
 * Some modules report every failed attempt on stderr: tpm2-pkcs11 without a
 * TPM prints about 15 TCTI errors, a GLib CRITICAL from its D-Bus TCTI and
 * its own "Could not initialize tpm ctx" (measured, docs/tokens.md). Through
 * p11-kit-proxy that is every command, whichever token it is for. No option
 * of p11-kit or of the module turns that off for one program, so fd 2 is
 * pointed at an anonymous file around C_Initialize and the text is read back:
 * the caller shows it (a module it uses that works), or sums it up in one
 * line (a module that failed, or one it does not use).
 *
 * fd 2 belongs to the whole process: one capture at a time (a lock), and
 * only around a module's C_Initialize, which every command does before its
 * own work starts, and libp11's first load of the module (at the first
 * signature). What another thread writes on stderr in that moment is caught
 * with it: batch prints its rows under the lock its workers open sessions
 * under, but not around libp11's load (once per module and process).
 * P11ENROLL_MODULE_STDERR=show leaves stderr alone, for debugging a module. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "token/p11_internal.h"

/* fd 2 is the process's: this lock is the one process-wide state here. */
static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;

/* Enough for a page of messages; the rest is counted, not kept. */
#define QUIET_KEEP 65536

void p11e_quiet_begin(p11e_quiet *q)
{
	const char *env = getenv("P11ENROLL_MODULE_STDERR");

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	q->saved = -1;
	if (env != NULL && strcmp(env, "show") == 0)
		return;
	pthread_mutex_lock(&stderr_lock);
	q->locked = 1;
	fflush(stderr);
	q->fd = memfd_create("p11enroll-module-stderr", MFD_CLOEXEC);
	/* Started with stderr closed, the new file may be fd 2 itself: then
	 * there is nothing to keep quiet. */
	if (q->fd >= 0 && q->fd <= 2) {
		close(q->fd);
		q->fd = -1;
	}
	if (q->fd < 0)
		return;
	q->saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (q->saved < 0 || dup2(q->fd, 2) < 0) {
		if (q->saved >= 0)
			close(q->saved);
		close(q->fd);
		q->fd = q->saved = -1;
	}
}

/* The last line of text[0..len) with something in it, as printable ASCII,
 * at most cap - 1 characters. */
static void last_line(const char *text, size_t len, char *out, size_t cap)
{
	size_t end = len, start, n = 0;

	while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	for (size_t i = start; i < end && n + 1 < cap; i++)
		out[n++] = (text[i] >= 0x20 && text[i] <= 0x7e) ? text[i] : '?';
	out[n] = '\0';
}

void p11e_quiet_end(p11e_quiet *q, int show, char *summary, size_t cap)
{
	char *text = NULL;
	size_t len = 0, lines = 0;
	off_t size;

	if (summary != NULL && cap > 0)
		summary[0] = '\0';
	if (q->fd >= 0) {
		fflush(stderr);
		dup2(q->saved, 2);
		close(q->saved);
		size = lseek(q->fd, 0, SEEK_END);
		len = size > 0 ? (size_t)size : 0;
		if (len > QUIET_KEEP)
			len = QUIET_KEEP;
		text = len ? malloc(len) : NULL;
		if (text != NULL && pread(q->fd, text, len, 0) != (ssize_t)len) {
			free(text);
			text = NULL;
		}
		close(q->fd);
	}
	if (q->locked)
		pthread_mutex_unlock(&stderr_lock);
	if (text == NULL)
		return;
	/* Lines with something on them (GLib's messages come with blank ones). */
	for (size_t i = 0, seen = 0; i < len; i++) {
		if (text[i] == '\n') {
			lines += seen;
			seen = 0;
		} else if (text[i] != ' ' && text[i] != '\r') {
			seen = 1;
		}
		if (i + 1 == len)
			lines += seen;
	}
	if (show) {
		fwrite(text, 1, len, stderr);
	} else if (summary != NULL && cap > 0) {
		char last[160];
		last_line(text, len, last, sizeof(last));
		snprintf(summary, cap, "it wrote %zu line%s on stderr, the last: '%s'", lines,
			 lines == 1 ? "" : "s", last);
	}
	free(text);
}
