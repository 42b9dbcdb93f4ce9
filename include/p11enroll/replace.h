/* `p11enroll replace IDENTITY NEW-URI`: a lost or broken card replaced
 * (src/core/replace.c), under the identity's lock. First every generation
 * still valid on the old card is revoked at its CA (reason keyCompromise by
 * default; revoking twice is success, so a rerun repeats this harmlessly);
 * then a new generation begins on the new card (renew mode "replace": a new
 * key, like a renewal) and the pipeline makes it; before it is done, the
 * key history of an archived identity (every generation whose key was
 * archived: key_store "archived") is recovered onto the new card from its
 * PFX and escrowed password (src/core/steps_history.c), so mail encrypted to
 * the lost card still decrypts. Every step resumes after a crash. */
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
	int revoked;	     /* generations revoked now */
	int already_revoked; /* generations the CA had revoked before */
	p11e_renew_result renewal;
} p11e_replace_result;

p11e_rc p11e_replace(const p11e_config *cfg, const p11e_replace_params *p, p11e_replace_result *out,
		     p11e_err *err);

#endif
