/* The post_renew_command hook (src/core/hook.c). */
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

#endif
