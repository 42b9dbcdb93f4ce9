/* A profile's "identity_from" (include/p11enroll/directory.h): before any
 * key exists, the person's user principal name, security identifier and
 * display name come from the directory into the record, so that the CSR,
 * a rerun and `status` all see them. Until the CSR is built each run asks
 * again (a renewal starts a new CSR: a renamed user gets the new UPN);
 * after that the record's values are the certificate's and stay. Runs in
 * pipe_settle, before the logon profile's checks, which need the UPN; a
 * failure there leaves the record as it was (nothing is saved). */
#include <string.h>
#include "core/pipeline_prepare.h"
#include "p11enroll/directory.h"
#include "p11enroll/validate.h"

/* The options a directory answers are not given twice. */
static p11e_rc refuse_given(const enroll_run *r, p11e_err *err)
{
	const p11e_enroll_params *p = r->p;
	const char *field = p->upn != NULL ? "upn" : p->sid != NULL ? "sid" : NULL;

	if (field == NULL)
		return P11E_OK;
	return p11e_errf(err, P11E_USAGE,
			 "%s: profile '%s' takes it from the directory (identity_from %s); give "
			 "no --%s",
			 field, r->profile.name, r->profile.identity_from, field);
}

p11e_rc pipe_identity_from(enroll_run *r, p11e_err *err)
{
	p11e_record *rec = r->rec;
	p11e_dir_identity id;
	p11e_rc rc;

	if (r->profile.identity_from[0] == '\0' || rec->step >= P11E_STEP_CSR_BUILT)
		return P11E_OK;
	if (rec->dns_name != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "dns: profile '%s' looks people up by address (identity_from); "
				 "enroll with --email",
				 r->profile.name);
	if ((rc = refuse_given(r, err)) != P11E_OK)
		return rc;
	rc = p11e_dir_identity_lookup(r->cfg, r->profile.identity_from, p11e_record_email(rec), &id,
				      err);
	if (rc != P11E_OK)
		return rc;
	/* Also what --upn and --sid would have to be (a SID whose authority
	 * Windows writes in hex is refused here: no account has one). */
	if ((rc = p11e_upn_check(id.upn, "userPrincipalName (from the directory)", err)) !=
		P11E_OK ||
	    (rc = p11e_sid_check(id.sid, "objectSid (from the directory)", err)) != P11E_OK)
		goto out;
	if ((rc = p11e_record_set(&rec->upn, id.upn, err)) != P11E_OK ||
	    (rc = p11e_record_set(&rec->sid, id.sid, err)) != P11E_OK)
		goto out;
	/* The principal follows the UPN (pipe_settle_logon derives it again
	 * from this one and kerberos_realm) unless --principal names it. */
	if (r->p->principal == NULL &&
	    (rc = p11e_record_set(&rec->principal, NULL, err)) != P11E_OK)
		goto out;
	/* The display name is the CN unless --name says otherwise. */
	if (r->p->name == NULL && id.display_name != NULL)
		rc = p11e_record_set(&rec->name, id.display_name, err);
out:
	p11e_dir_identity_clear(&id);
	return rc;
}
