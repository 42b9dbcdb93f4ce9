/* Starting over: `p11enroll forget IDENTITY` (src/core/forget.c) discards an
 * enrollment that has no certificate yet, with what p11enroll made for it:
 *
 *   - the key pair on the token under the record's temp_id and key_id (a
 *     token key; an archived key is only imported once issued);
 *   - a software or archived key's encrypted key file (STATE_DIR/keys/);
 *   - its escrowed PFX password in the vault: it protects nothing once the
 *     key is gone, and a new enrollment must escrow a new one (a vault put
 *     never overwrites); an audit record says so;
 *   - last, the record itself, so a forget cut short is finished by rerunning
 *     it.
 *
 * Refused (P11E_EXISTS) once a certificate was issued (step issued and
 * later): its key is in use and discarding it needs a revocation, which
 * p11enroll does not do yet; and refused the same way for a renewed
 * identity (any earlier generation in its history), even while a renewal
 * is making the next one. A software key's file and vault entry are its
 * generation's (IDENTITY#N from the second), never another's. A request
 * the CA holds (step submitted) is abandoned only with abandon_request: the
 * CA may still issue it, for a key that no longer exists; the request ID is
 * returned so it can be cancelled there. Runs under the identity's lock
 * (include/p11enroll/lock.h). */
#ifndef P11ENROLL_FORGET_H
#define P11ENROLL_FORGET_H

#include <stddef.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"
#include "p11enroll/record.h"

typedef struct p11e_forget_params {
	const char *identity; /* an address or host name, any case */
	const char *module;
	const char *pin_source; /* for the token holding the key */
	long wait_ms;		/* for the lock, as p11e_enroll_params.wait_ms */
	int abandon_request;	/* step submitted: forget the CA's request too */
} p11e_forget_params;

typedef struct p11e_forget_result {
	p11e_step step;	      /* where the record was */
	size_t token_objects; /* key objects destroyed on the token */
	int key_file_removed; /* a software key's encrypted key file */
	int escrow_deleted;   /* the escrowed PFX password */
	char request_id[160]; /* the abandoned request at the CA, or "" */
} p11e_forget_result;

p11e_rc p11e_forget(const p11e_config *cfg, const p11e_forget_params *p, p11e_forget_result *out,
		    p11e_err *err);

#endif
