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
 *   - key objects without a CKA_ID (a kill inside key generation on a module
 *     that rewrites objects in place) labelled as one of the token's records,
 *     also a record retired before: p11enroll's own label is all that finds them;
 *   - nothing else that no record names: a user's own keys stay.
 *
 * A record at step new has nothing on the token: it is left alone. Every
 * certificate still valid whose key goes is first revoked through its CA
 * (p11e_revoke_record: the record and a "revoke" audit line say so) for
 * revoke_reason, or left valid with keep_valid; one whose CA cannot revoke
 * makes the whole wipe P11E_UNSUPPORTED before anything is touched unless
 * keep_valid. A retired record keeps every generation: the next enroll of the
 * identity moves the wiped one into its history (on_token "removed") and is
 * the generation after it (src/core/pipeline_prepare.c).
 *
 * LABEL must equal the token's label exactly, else P11E_USAGE and nothing is
 * touched. Every identity's lock is taken first (one busy: P11E_BUSY, nothing
 * touched), then the login and the token's lock. Each record is saved
 * "retiring" before its objects go and "retired" after, so a wipe cut short
 * is finished by running it again; a retired identity enrolls afresh. One
 * audit line ("wipe") per identity, naming the serials of its certificates
 * removed ("certificates"), revoked ("revoked", "reason") and kept valid
 * ("kept_valid"). */
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
	/* The valid certificates whose keys go: revoked for this RFC 5280
	 * reason (NULL: cessationOfOperation), or kept valid (keep_valid). */
	const char *revoke_reason;
	int keep_valid;
} p11e_wipe_params;

typedef struct p11e_wipe_result {
	size_t identities;	/* records retired by this run */
	size_t key_objects;	/* private and public keys destroyed */
	size_t certificates;	/* the identities' certificates destroyed */
	size_t ca_certificates; /* chain certificates destroyed */
	size_t ca_kept;		/* chain certificates kept: still an issuer on the token */
	size_t generations;	/* earlier generations removed (history on_token "removed") */
	size_t revoked;		/* valid certificates revoked (their keys removed) */
	size_t kept_valid;	/* valid certificates left valid (keep_valid) */
	size_t idless_keys;	/* key objects without CKA_ID found by label and destroyed */
} p11e_wipe_result;

p11e_rc p11e_wipe(const p11e_config *cfg, const p11e_wipe_params *p, p11e_wipe_result *out,
		  p11e_err *err);

#endif
