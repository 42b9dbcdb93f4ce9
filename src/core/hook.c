/* The post_renew_command hook (like certmonger's -C): a shell command the
 * config names, run once a renewal is stored. It gets a clean environment,
 * never ours, because ours may hold a PIN (pin_source "env:VAR") or a vault
 * credential; only PATH and what describes the renewal. Its output goes to
 * our stderr, so `renew --json` keeps stdout for itself. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np (glibc 2.34) */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include "core/hook.h"

char *p11e_hook_env(const char *name, const char *value)
{
	size_t len = strlen(name) + (value ? strlen(value) : 0) + 2;
	char *e = malloc(len);

	if (e != NULL)
		snprintf(e, len, "%s=%s", name, value ? value : "");
	return e;
}

p11e_rc p11e_hook_run(const char *command, const p11e_record *rec, const char *state_dir,
		      int *status, p11e_err *err)
{
	char gen[16], prev[16];
	const char *names[] = {
	    "P11ENROLL_IDENTITY",  "P11ENROLL_GENERATION",   "P11ENROLL_PREVIOUS_GENERATION",
	    "P11ENROLL_NOT_AFTER", "P11ENROLL_CERT_SHA256",  "P11ENROLL_CERT",
	    "P11ENROLL_KEY_STORE", "P11ENROLL_TOKEN_SERIAL", "P11ENROLL_PFX",
	    "P11ENROLL_STATE_DIR"};
	const char *values[] = {rec->identity,
				gen,
				prev,
				rec->not_after,
				rec->cert_sha256,
				rec->cert_pem,
				rec->key_store ? rec->key_store : "token",
				rec->token_serial,
				rec->pfx_path,
				state_dir};
	enum { N = sizeof(names) / sizeof(names[0]) };
	char *env[N + 2] = {0};
	char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
	int timed_out = 0;
	p11e_rc rc = P11E_OK;

	*status = -1;
	snprintf(gen, sizeof(gen), "%d", p11e_record_generation(rec));
	snprintf(prev, sizeof(prev), "%d", p11e_record_generation(rec) - 1);
	env[0] = strdup(P11E_HOOK_PATH);
	for (size_t i = 0; i < N; i++)
		env[i + 1] = p11e_hook_env(names[i], values[i]);
	for (size_t i = 0; i <= N; i++)
		if (env[i] == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
	rc = p11e_hook_spawn("post_renew_command", argv, env, 0, status, &timed_out, err);
out:
	for (size_t i = 0; i <= N; i++)
		free(env[i]);
	return rc;
}

/* Milliseconds on the monotonic clock. */
static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

p11e_rc p11e_hook_spawn(const char *what, char *const argv[], char *const env[], int timeout_s,
			int *status, int *timed_out, p11e_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	long long deadline = timeout_s > 0 ? mono_ms() + (long long)timeout_s * 1000 : 0;
	pid_t pid, got;
	int rv, wstatus = 0;

	*status = -1;
	*timed_out = 0;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return p11e_errf(err, P11E_FAIL, "%s: cannot prepare it", what);
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return p11e_errf(err, P11E_FAIL, "%s: cannot prepare it", what);
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 2, 1);
	/* Nothing of ours but stdout and stderr: not the portal's sockets, the
	 * store's connection, the audit log or a lock (not all are O_CLOEXEC). */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* serve blocks SIGTERM and friends in every thread: the command must
	 * not inherit that, nor our ignored signals. */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	if (timeout_s > 0) {
		/* Its own group, so that the kill also ends what it started. */
		flags |= POSIX_SPAWN_SETPGROUP;
		posix_spawnattr_setpgroup(&attr, 0);
	}
	posix_spawnattr_setflags(&attr, flags);
	rv = posix_spawn(&pid, argv[0], &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rv != 0)
		return p11e_errf(err, P11E_FAIL, "%s: cannot start %s: %s", what, argv[0],
				 strerror(rv));
	for (;;) {
		got = waitpid(pid, &wstatus, deadline > 0 ? WNOHANG : 0);
		if (got == pid)
			break;
		if (got < 0 && errno != EINTR)
			return p11e_errf(err, P11E_FAIL, "%s: lost it: %s", what, strerror(errno));
		if (got == 0 && mono_ms() >= deadline) {
			kill(-pid, SIGKILL);
			*timed_out = 1;
			deadline = 0; /* now wait for it to go */
			continue;
		}
		if (got == 0) {
			struct timespec nap = {0, 20 * 1000 * 1000};
			nanosleep(&nap, NULL);
		}
	}
	*status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	return P11E_OK;
}
