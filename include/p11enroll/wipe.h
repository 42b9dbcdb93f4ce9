/* `p11enroll wipe URI --confirm LABEL` (src/core/wipe.c): removes from one
 * token what p11enroll put there, for re-issue on a fresh card, and retires
 * the records:
 *
 *   - for every record whose token_serial is this token's and whose key
 *     lives on a token (key_store token or archived): the private key,
 *     public key and certificate under its key_id, and under its temp_id
 *     when that differs (a run stopped before the rename);
 *   - the earlier generations of a renewed identity still on this token
 *     (old encryption keys kept, the generation a renewal in progress
 *     replaces, a replaced card's): key pair and certificate under each
 *     one's key_id, its history entry then marked on_token "removed"; a
 *     record whose current generation is on another token keeps it and
 *     stays in use;
 *   - then the CA certificates of those records' chain_pem, found on the
 *     token by value, each only while no certificate left on the token was
 *     issued by it (a user's own certificate from the same CA keeps it);
 *   - nothing that no record names: a user's own keys stay.
 *
 * LABEL must equal the token's label exactly, else P11E_USAGE and nothing is
 * touched. Every identity's lock is taken first (one busy: P11E_BUSY, nothing
 * touched), then the login and the token's lock. Each record is saved
 * "retiring" before its objects go and "retired" after, so a wipe cut short
 * is finished by running it again; a retired identity enrolls afresh. One
 * audit line ("wipe") per identity. */
#ifndef P11ENROLL_WIPE_H
#define P11ENROLL_WIPE_H

#include <stddef.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"

typedef struct p11e_wipe_params {
	const char *uri; /* the token */
	const char *module;
	const char *pin_source;
	const char *confirm; /* must equal the token's label */
	long wait_ms;	     /* for the locks, as p11e_enroll_params.wait_ms */
} p11e_wipe_params;

typedef struct p11e_wipe_result {
	size_t identities;	/* records retired by this run */
	size_t key_objects;	/* private and public keys destroyed */
	size_t certificates;	/* the identities' certificates destroyed */
	size_t ca_certificates; /* chain certificates destroyed */
	size_t ca_kept;		/* chain certificates kept: still an issuer on the token */
	size_t generations;	/* earlier generations removed (history on_token "removed") */
} p11e_wipe_result;

p11e_rc p11e_wipe(const p11e_config *cfg, const p11e_wipe_params *p, p11e_wipe_result *out,
		  p11e_err *err);

#endif
