/* The post_renew_command hook (like certmonger's -C): a shell command the
 * config names, run once a renewal is stored. It gets a clean environment,
 * never ours, because ours may hold a PIN (pin_source "env:VAR") or a vault
 * credential; only PATH and what describes the renewal. Its output goes to
 * our stderr, so `renew --json` keeps stdout for itself. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include "core/hook.h"

#define HOOK_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* "NAME=value" in a malloc'd string (value NULL: ""). */
static char *env_entry(const char *name, const char *value)
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
	char *argv[] = {"sh", "-c", (char *)command, NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rv, wstatus = 0;
	p11e_rc rc = P11E_OK;

	*status = -1;
	snprintf(gen, sizeof(gen), "%d", p11e_record_generation(rec));
	snprintf(prev, sizeof(prev), "%d", p11e_record_generation(rec) - 1);
	env[0] = strdup(HOOK_PATH);
	for (size_t i = 0; i < N; i++)
		env[i + 1] = env_entry(names[i], values[i]);
	for (size_t i = 0; i <= N; i++)
		if (env[i] == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "post_renew_command: cannot prepare it");
		goto out;
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 2, 1);
	rv = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	if (rv != 0) {
		rc = p11e_errf(err, P11E_FAIL, "post_renew_command: cannot start /bin/sh: %s",
			       strerror(rv));
		goto out;
	}
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR) {
			rc = p11e_errf(err, P11E_FAIL, "post_renew_command: lost it: %s",
				       strerror(errno));
			goto out;
		}
	*status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
out:
	for (size_t i = 0; i <= N; i++)
		free(env[i]);
	return rc;
}
