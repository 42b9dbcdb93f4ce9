/* Logon profiles in the pipeline (src/core/pipeline_logon.c). */
#ifndef P11ENROLL_PIPELINE_LOGON_H
#define P11ENROLL_PIPELINE_LOGON_H

#include "core/pipeline_steps.h"

/* Once the profile and key type are settled: a logon profile's principal
 * from the config's kerberos_realm (until the CSR is built, when none was
 * given); a smartcard-logon identity needs a UPN or a principal, a kdc one
 * its principal; logon names for another profile are refused. new_key_type:
 * the key type was settled just now (a one-line warning for an EC logon
 * key, once). P11E_USAGE naming the field. */
p11e_rc pipe_settle_logon(enroll_run *r, int new_key_type, p11e_err *err);

/* The slot a smartcard-logon key goes to when none is given: PIV 9a on a
 * PIV-shaped token (p11e_token_info_piv_shaped), else NULL. */
const char *pipe_logon_default_slot(enroll_run *r);

#endif
