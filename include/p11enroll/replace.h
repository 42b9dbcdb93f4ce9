/* `p11enroll replace IDENTITY NEW-URI`: a lost or broken card replaced
 * (src/core/replace.c), under the identity's lock. First every generation
 * still valid on the old card is revoked at its CA (reason keyCompromise by
 * default; revoking twice is success, so a rerun repeats this harmlessly);
 * then a new generation begins on the new card (renew mode "replace": a new
 * key, like a renewal) and the pipeline makes it; before it is done, the
 * key history of an archived identity (every generation whose key was
 * archived: key_store "archived") is recovered onto the new card from its
 * PFX and escrowed password (src/core/steps_history.c), so mail encrypted to
 * the lost card still decrypts. Every step resumes after a crash.
 *
 * Nothing is revoked before everything the whole replacement needs is
 * checked: the new card there, not the old one, and logged in; each CA
 * involved opens (the embedded CA's files, a CA key on a token); for
 * archived keys to restore, every PFX readable and the vault open for
 * reading (the file vault: an escrow officer's key that matches an officer
 * certificate). A stop after the first revocation says what was done and
 * the command that finishes it (a rerun resumes). Run again once finished
 * with the same NEW-URI: nothing is done, P11E_OK, already_replaced set. */
#ifndef P11ENROLL_REPLACE_H
#define P11ENROLL_REPLACE_H

#include "p11enroll/config.h"
#include "p11enroll/renew.h"

typedef struct p11e_replace_params {
	const char *identity;
	const char *token_uri; /* the new card */
	int reason;	       /* enum p11e_revoke_reason; keyCompromise by default */
	const char *module;
	const char *pin_source;
	const char *officer_key; /* the file vault: recovering archived keys */
	const char *officer_pin_source;
	long wait_ms;
} p11e_replace_params;

typedef struct p11e_replace_result {
	int revoked;		   /* generations revoked now */
	int already_revoked;	   /* generations revoked before: by the CA before this
				      replacement, or by the run that began it */
	int already_replaced;	   /* finished before: nothing done */
	p11e_renew_result renewal; /* generation and not_after: the new card's */
} p11e_replace_result;

p11e_rc p11e_replace(const p11e_config *cfg, const p11e_replace_params *p, p11e_replace_result *out,
		     p11e_err *err);

#endif
