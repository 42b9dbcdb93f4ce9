/* Running a command the config names (src/core/hook.c): the
 * post_renew_command hook, and the card notification (card_notify.c). */
#ifndef P11ENROLL_HOOK_H
#define P11ENROLL_HOOK_H

#include "p11enroll/record.h"

/* Runs command with /bin/sh -c in a clean environment: PATH and
 * P11ENROLL_IDENTITY, _GENERATION, _PREVIOUS_GENERATION, _NOT_AFTER,
 * _CERT_SHA256, _CERT (PEM), _KEY_STORE, _TOKEN_SERIAL, _PFX, _STATE_DIR
 * from rec; stdin /dev/null, stdout onto our stderr. Waits for it: *status
 * is its exit status (128+N for signal N). P11E_FAIL only when it could not
 * be run. */
p11e_rc p11e_hook_run(const char *command, const p11e_record *rec, const char *state_dir,
		      int *status, p11e_err *err);

/* Runs argv[0] (an absolute path, never through a shell) with argv and
 * exactly the environment env (NULL-terminated "NAME=value"; PATH is added
 * by the caller if it wants one), stdin /dev/null, stdout onto our stderr,
 * no other descriptor of ours, no signal blocked. what names it in messages. timeout_s > 0: it runs in
 * a process group of its own, killed (SIGKILL, the whole group) when it
 * has not ended after timeout_s seconds, *status then 128+9 and *timed_out
 * 1. P11E_FAIL only when it could not be started or waited for. */
p11e_rc p11e_hook_spawn(const char *what, char *const argv[], char *const env[], int timeout_s,
			int *status, int *timed_out, p11e_err *err);

/* "NAME=value" in a malloc'd string (value NULL: ""); NULL out of memory. */
char *p11e_hook_env(const char *name, const char *value);

#define P11E_HOOK_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#endif
