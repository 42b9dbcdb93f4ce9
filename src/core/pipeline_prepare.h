/* Before anything is made for an identity (src/core/pipeline_prepare.c): the
 * parameters checked, the record loaded or created, starting over. */
#ifndef P11ENROLL_PIPELINE_PREPARE_H
#define P11ENROLL_PIPELINE_PREPARE_H

#include "core/pipeline_steps.h"

/* Checks every parameter that needs no token (identity, name, key type,
 * profile, id) and gives the identity the record is kept under (malloc'd).
 * Runs before the identity's lock is taken: bad input waits for nothing. */
p11e_rc pipe_check_params(const p11e_config *cfg, const p11e_enroll_params *p, char **identity,
			  p11e_err *err);
/* Loads the record, or creates it (not saved yet) from the parameters. At
 * step new the parameters given replace the recorded ones; *new_store: the
 * key store is to be settled as for a new record. *check_token: a token
 * key's record at key-pending is asked for another key: only if the token
 * holds nothing under its IDs (pipe_nothing_made) may it start over
 * (pipe_restart). */
p11e_rc pipe_load_record(enroll_run *r, const char *identity, int *new_store, int *check_token,
			 p11e_err *err);
/* *nothing: the token (r->token) holds no key under temp_id or key_id. */
p11e_rc pipe_nothing_made(enroll_run *r, int *nothing, p11e_err *err);
/* Back to step new with the parameters given. */
p11e_rc pipe_restart(enroll_run *r, int *new_store, p11e_err *err);
/* Settles profile, key store and key type, refusing what contradicts the
 * record. */
p11e_rc pipe_settle(enroll_run *r, int new_store, p11e_err *err);
/* The profile's identity_from: UPN, SID and display name from the
 * directory into the record while the CSR is not built yet
 * (src/core/pipeline_identity.c). */
p11e_rc pipe_identity_from(enroll_run *r, p11e_err *err);

#endif
