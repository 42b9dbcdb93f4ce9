/* Renewal (`p11enroll renew`): a new generation of an identity's key and
 * certificate, made by the same state machine as the first one, so every
 * step is resumable (include/p11enroll/pipeline.h).
 *
 * Under the identity's lock, held from the decision to the last save: the
 * record's current generation is appended to its history (state
 * "current": still the one in use), the record's own fields are reset for
 * generation N+1 and saved in one atomic write (crash point
 * "renew-started"); the pipeline then makes the new key (or, reusing the
 * key, only a new CSR), has the CA issue it (telling the CA which
 * certificate it renews: p11e_ca_set_renewal) and stores it. Once stored,
 * the old generation is settled on the token (src/core/steps_history.c):
 * a signing key and its certificate removed; an encryption key and its
 * certificate kept, relabelled "LABEL (YYYY-MM)" after the month it was
 * issued, so old mail still decrypts; with the key reused, only the old
 * certificate removed. Then it is "superseded", publishing and the
 * post_renew_command hook run, and the renewal is done. A rerun of renew
 * (or enroll) resumes a renewal that was cut short; it never starts a
 * second one. */
#ifndef P11ENROLL_RENEW_H
#define P11ENROLL_RENEW_H

#include "p11enroll/config.h"
#include "p11enroll/record.h"

/* The renewal settings of a profile: the profile's own keys in "profiles",
 * else the top-level ones, else the defaults (docs/config.md). */
typedef struct p11e_renew_policy {
	int within_days;		/* "renew_within_days": 30 */
	int reuse_key;			/* "renew_reuse_key": false (a new key) */
	int keep_old_enc_keys;		/* "keep_old_encryption_keys": -1, all of them */
	const char *post_renew_command; /* top level only; points into the config */
} p11e_renew_policy;
p11e_rc p11e_renew_policy_get(const p11e_config *cfg, const char *profile, p11e_renew_policy *out,
			      p11e_err *err);
/* At config load: every renewal key of the right type and range. */
p11e_rc p11e_renew_policy_check(const p11e_config *cfg, p11e_err *err);

typedef struct p11e_renew_params {
	const char *identity; /* an address or host name */
	int within_days;      /* < 0: the policy's */
	int force;	      /* renew now, due or not */
	int reuse_key;	      /* a new CSR for the same key (else the policy's) */
	int dry_run;	      /* say what would be renewed; change nothing */
	const char *module;
	const char *pin_source;
	const char *officer_key; /* software identities resumed: the file vault */
	const char *officer_pin_source;
	long wait_ms; /* as p11e_enroll_params.wait_ms */
} p11e_renew_params;

typedef enum p11e_renew_outcome {
	P11E_RENEW_NOT_DUE = 0, /* nothing done */
	P11E_RENEW_DUE,		/* --dry-run: would renew */
	P11E_RENEW_RENEWED,	/* the new generation is stored */
	P11E_RENEW_PENDING,	/* the CA has not issued yet: rerun later */
	P11E_RENEW_ABSENT,	/* its token is not inserted: skipped */
	P11E_RENEW_SKIPPED,	/* not renewable now (not enrolled yet, wiped) */
	P11E_RENEW_FAILED,
} p11e_renew_outcome;
const char *p11e_renew_outcome_name(p11e_renew_outcome o); /* "not-due", ... */

typedef struct p11e_renew_result {
	p11e_renew_outcome outcome;
	int generation;	    /* the generation in use (or being made) after the run */
	char not_after[32]; /* of the certificate in use after the run */
	char due_from[32];  /* when the certificate in use becomes due ("" if unknown) */
	char window[16];    /* where the window came from: "config", "ca" (RFC 9773), "forced" */
	char reason[P11E_ERR_MAX]; /* why skipped, absent, pending or failed (one line) */
} p11e_renew_result;

/* Renews one identity if it is due. The return code is the failure's (a
 * skipped or absent identity, or one not due, is P11E_OK); out says what
 * happened in every case. */
p11e_rc p11e_renew(const p11e_config *cfg, const p11e_renew_params *p, p11e_renew_result *out,
		   p11e_err *err);

/* The steps of p11e_renew, for replace (include/p11enroll/replace.h), on a
 * record the caller loaded and holds the lock for. Begins generation N+1
 * (mode "rekey", "reuse-key" or "replace"; token_uri: another token for
 * it, or NULL) in one save; then runs the pipeline to its end. */
p11e_rc p11e_renew_begin(const p11e_config *cfg, p11e_record *rec, const char *mode,
			 const char *token_uri, p11e_err *err);
p11e_rc p11e_renew_run(const p11e_config *cfg, const p11e_renew_params *p, p11e_record *rec,
		       p11e_renew_result *out, p11e_err *err);

#endif
