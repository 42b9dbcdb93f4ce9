/* `p11enroll revoke IDENTITY`: one generation of an identity's certificate
 * revoked through the CA that issued it (src/core/revoke.c), under the
 * identity's lock. The CA is asked first (revoking twice is success); the
 * record then says the generation is revoked (reason, time) and the audit
 * log has it; publishers drop exactly that certificate. Nothing leaves the
 * token unless remove is set: then the generation's certificate, and its
 * key unless a later generation reuses it. A crash anywhere reruns cleanly:
 * the CA's answer to a second revocation is "already". */
#ifndef P11ENROLL_REVOKE_H
#define P11ENROLL_REVOKE_H

#include "p11enroll/config.h"
#include "p11enroll/record.h"

typedef struct p11e_revoke_params {
	const char *identity;
	int generation; /* 0: the current one */
	int reason;	/* enum p11e_revoke_reason (include/p11enroll/ca.h) */
	int remove;	/* also take it off the token */
	const char *module;
	const char *pin_source;
	long wait_ms; /* as p11e_enroll_params.wait_ms */
} p11e_revoke_params;

typedef struct p11e_revoke_result {
	int generation;
	char serial[65];
	int already;		 /* the CA had revoked it before */
	char reason[32];	 /* the reason it stands revoked for: the one recorded
				  * at the first revocation, else the one given */
	int removed;		 /* objects taken off the token */
	int withdrawn;		 /* publishers it was removed from */
	char note[P11E_ERR_MAX]; /* a publisher still to do, or "" */
} p11e_revoke_result;

p11e_rc p11e_revoke_identity(const p11e_config *cfg, const p11e_revoke_params *p,
			     p11e_revoke_result *out, p11e_err *err);

/* The same on a record the caller loaded and holds the lock for (replace);
 * it is saved after each change. */
p11e_rc p11e_revoke_record(const p11e_config *cfg, p11e_record *rec, const p11e_revoke_params *p,
			   p11e_revoke_result *out, p11e_err *err);

#endif
