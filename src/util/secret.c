/* PIN and password sources: env:VAR, file:PATH (or an absolute path, as
 * RFC 7512's pin-source allows), prompt. Never the command line.
 *
 * Secrets are read with read(2) into buffers we own and wipe: stdio would
 * keep a copy in a FILE buffer that is freed without being cleansed. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "p11enroll/secret.h"
#include "p11enroll/util.h"

/* Longer than any PIN or passphrase a token accepts, short enough for the
 * stack. */
#define SECRET_MAX 256

/* Copies the first len bytes of buf (a line, its end of line already cut)
 * into a new string. */
static p11e_rc take(const char *buf, size_t len, const char *what, const char *where, char **out,
		    p11e_err *err)
{
	if (len == 0)
		return p11e_errf(err, P11E_USAGE, "%s: %s is empty", what, where);
	/* In the secure heap once main has set it up (p11e_process_harden):
	 * out of core dumps and swap. Freed by p11e_secret_free. */
	*out = OPENSSL_secure_malloc(len + 1);
	if (*out == NULL)
		return p11e_errf(err, P11E_FAIL, "%s: out of memory", what);
	memcpy(*out, buf, len);
	(*out)[len] = '\0';
	return P11E_OK;
}

/* Length of the first line of buf[0..len): up to '\n', without a '\r'
 * before it (a file written on Windows). */
static size_t line_len(const char *buf, size_t len, int *complete)
{
	const char *nl = memchr(buf, '\n', len);
	size_t n = nl ? (size_t)(nl - buf) : len;

	*complete = nl != NULL;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	return n;
}

static p11e_rc from_env(const char *var, const char *what, char **out, p11e_err *err)
{
	const char *v;
	size_t len;

	if (var[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "%s: env: needs a variable name (env:VAR)", what);
	v = getenv(var);
	if (v == NULL || v[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "%s: environment variable %s is not set", what,
				 var);
	len = strlen(v);
	if (len > SECRET_MAX)
		return p11e_errf(err, P11E_USAGE,
				 "%s: environment variable %s is longer than %d characters", what,
				 var, SECRET_MAX);
	/* A trailing newline (a value pasted from a file) is never part of a
	 * PIN, as it is not in file:PATH. */
	while (len > 0 && (v[len - 1] == '\n' || v[len - 1] == '\r'))
		len--;
	return take(v, len, what, var, out, err);
}

static p11e_rc from_file(const char *path, const char *what, char **out, p11e_err *err)
{
	char buf[SECRET_MAX + 2];
	size_t len = 0, n;
	struct stat st;
	int fd, complete;
	p11e_rc rc;

	if (path[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "%s: file: needs a path (file:PATH)", what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return p11e_errf(err, P11E_USAGE, "%s: cannot read %s: %s", what, path,
				 strerror(errno));
	/* A secret others can read is no longer a secret, and one others can
	 * write is not the owner's: refused before a byte is read. Mode bits
	 * only: a pipe (file:/dev/fd/3) is fine, and root may read a PIN file
	 * that an operator owns. */
	if (fstat(fd, &st) != 0) {
		rc = p11e_errf(err, P11E_USAGE, "%s: cannot read %s: %s", what, path,
			       strerror(errno));
		close(fd);
		return rc;
	}
	if ((rc = p11e_check_private_stat(&st, path, what, 0, P11E_USAGE, err)) != P11E_OK) {
		close(fd);
		return rc;
	}
	/* Only as much as a first line can hold: the rest of the file is not
	 * ours to read. */
	while (len < sizeof(buf) && memchr(buf, '\n', len) == NULL) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = p11e_errf(err, P11E_USAGE, "%s: cannot read %s: %s", what, path,
				       strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	n = line_len(buf, len, &complete);
	if (n > SECRET_MAX || (!complete && len == sizeof(buf))) {
		rc = p11e_errf(err, P11E_USAGE,
			       "%s: the first line of %s is longer than %d characters", what, path,
			       SECRET_MAX);
		goto out;
	}
	rc = take(buf, n, what, path, out, err);
out:
	close(fd);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* Ctrl-C at the prompt must not leave the terminal without echo. The
 * signals that end a process are blocked while echo is off and read from a
 * signalfd instead (no handler, so no global state); once the terminal is
 * restored the signal is raised again and does what it always does. */
static const int prompt_signals[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP};
#define NSIG_PROMPT (sizeof(prompt_signals) / sizeof(prompt_signals[0]))

/* Reads one line (with its '\n') from the terminal into buf, byte by byte so
 * nothing after the newline is consumed and no copy lands anywhere else.
 * Returns the bytes read; *signo is set if a signal cut it short. */
static size_t read_line(int fd, int sfd, char *buf, size_t cap, int *complete, int *signo)
{
	size_t len = 0;

	while (len < cap) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (sfd >= 0 && (p[1].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				*signo = (int)si.ssi_signo;
				break;
			}
		}
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t r = read(fd, buf + len, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (buf[len++] == '\n') {
			*complete = 1;
			break;
		}
	}
	return len;
}

static p11e_rc from_prompt(const char *what, char **out, p11e_err *err)
{
	char buf[SECRET_MAX + 2];
	struct termios old, quiet;
	sigset_t block, saved_mask;
	size_t len = 0;
	int fd, sfd = -1, echo_off = 0, signo = 0, complete = 0;
	p11e_rc rc;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return p11e_errf(err, P11E_USAGE,
				 "%s: no terminal to prompt on; use --pin-source env:VAR or "
				 "file:PATH",
				 what);
	sigemptyset(&block);
	for (size_t i = 0; i < NSIG_PROMPT; i++)
		sigaddset(&block, prompt_signals[i]);
	sigprocmask(SIG_BLOCK, &block, &saved_mask);
	/* Without a signalfd the prompt still works; only Ctrl-C is rougher. */
	sfd = signalfd(-1, &block, SFD_CLOEXEC);
	if (dprintf(fd, "Enter %s: ", what) < 0) {
		rc = p11e_errf(err, P11E_FAIL, "%s: cannot write to the terminal: %s", what,
			       strerror(errno));
		goto out;
	}
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	len = read_line(fd, sfd, buf, sizeof(buf), &complete, &signo);
	if (echo_off)
		tcsetattr(fd, TCSAFLUSH, &old);
	/* ECHONL echoed the newline the user typed; print one otherwise. */
	if (!echo_off || !complete)
		(void)!write(fd, "\n", 1);
	if (signo != 0) {
		/* The shell's code for a process the signal ended (130 for
		 * SIGINT), not a usage error: what the exit says when the
		 * signal raised below cannot end the process (blocked, as in a
		 * batch's worker or under a supervisor that starts its children
		 * so). */
		rc = p11e_errf(err, (p11e_rc)(128 + signo), "%s: interrupted by %s", what,
			       signo == SIGINT    ? "SIGINT"
			       : signo == SIGTERM ? "SIGTERM"
			       : signo == SIGHUP  ? "SIGHUP"
						  : "SIGQUIT");
		goto out;
	}
	if (!complete && len == sizeof(buf)) {
		rc = p11e_errf(err, P11E_USAGE, "%s: longer than %d characters", what, SECRET_MAX);
		goto out;
	}
	rc = take(buf, line_len(buf, len, &complete), what, "the answer", out, err);
out:
	if (sfd >= 0)
		close(sfd);
	close(fd);
	OPENSSL_cleanse(buf, sizeof(buf));
	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
	/* The terminal is restored: let the signal do what it always does. */
	if (signo != 0)
		raise(signo);
	return rc;
}

p11e_rc p11e_secret_read(const char *source, const char *what, char **out, p11e_err *err)
{
	const char *colon;

	*out = NULL;
	if (what == NULL)
		what = "PIN";
	if (source == NULL || strcmp(source, "prompt") == 0)
		return from_prompt(what, out, err);
	if (strncmp(source, "env:", 4) == 0)
		return from_env(source + 4, what, out, err);
	if (strncmp(source, "file:", 5) == 0)
		return from_file(source + 5, what, out, err);
	if (source[0] == '/')
		return from_file(source, what, out, err);
	/* Something that is not a source may be a PIN typed in its place: never
	 * repeat it. A source-like "pass:hunter2" (OpenSSL's syntax) shows only
	 * its scheme: what follows the ':' may be the secret itself. */
	colon = strchr(source, ':');
	if (colon == NULL || colon - source > 16)
		return p11e_errf(err, P11E_USAGE,
				 "%s: unknown pin source (not shown); use env:VAR, file:PATH or "
				 "prompt",
				 what);
	return p11e_errf(err, P11E_USAGE,
			 "%s: unknown pin source '%.*s:...' (use env:VAR, file:PATH or prompt)",
			 what, (int)(colon - source), source);
}
