/* Logon profiles in the pipeline (docs/logon.md): the principal a realm
 * gives, what each profile needs before any key exists, the warning for an
 * EC logon key, and the PIV slot a logon key goes to on a PIV card. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/pipeline_logon.h"
#include "p11enroll/validate.h"

static unsigned logon_purposes(const p11e_profile *prof)
{
	return prof->purposes & (P11E_PURPOSE_LOGON | P11E_PURPOSE_KDC);
}

/* NAME@REALM from the UPN's name (else the address's local part) for a
 * person, krbtgt/REALM@REALM for a KDC; checked and canonical. */
static p11e_rc derive_principal(enroll_run *r, char **out, p11e_err *err)
{
	const char *realm = r->cfg->kerberos_realm;
	const char *from = r->rec->upn != NULL ? r->rec->upn : p11e_record_email(r->rec);
	const char *at = strrchr(from, '@');
	char buf[1400];

	if (r->profile.purposes & P11E_PURPOSE_KDC)
		snprintf(buf, sizeof(buf), "krbtgt/%s@%s", realm, realm);
	else
		snprintf(buf, sizeof(buf), "%.*s@%s",
			 (int)(at != NULL ? (size_t)(at - from) : strlen(from)), from, realm);
	return p11e_principal_canonical(buf,
					r->rec->upn != NULL
					    ? "principal (from the UPN and kerberos_realm)"
					    : "principal (from the address and kerberos_realm)",
					out, err);
}

p11e_rc pipe_settle_logon(enroll_run *r, int new_key_type, p11e_err *err)
{
	const p11e_enroll_params *p = r->p;
	p11e_record *rec = r->rec;
	const char *name = r->profile.name;
	char *principal = NULL;
	p11e_rc rc;

	if (!logon_purposes(&r->profile)) {
		const char *given = p->upn	   ? "upn"
				    : p->principal ? "principal"
				    : p->sid	   ? "sid"
						   : NULL;
		if (given != NULL)
			return p11e_errf(err, P11E_USAGE,
					 "%s: profile '%s' puts no logon names in a certificate; "
					 "give --profile smartcard-logon (or kdc)",
					 given, name);
		return P11E_OK;
	}
	if ((r->profile.purposes & P11E_PURPOSE_LOGON) && rec->dns_name != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "dns: profile '%s' certifies a person who logs on; enroll with "
				 "--email (a KDC's certificate: profile kdc)",
				 name);
	if ((r->profile.purposes & P11E_PURPOSE_KDC) && (p->upn != NULL || p->sid != NULL))
		return p11e_errf(
		    err, P11E_USAGE,
		    "%s: profile '%s' certifies a KDC, named by its principal; give no "
		    "--upn or --sid",
		    p->upn ? "upn" : "sid", name);
	/* A realm in the config names the principal until the CSR is built. */
	if (rec->principal == NULL && rec->step < P11E_STEP_CSR_BUILT &&
	    r->cfg->kerberos_realm != NULL) {
		if ((rc = derive_principal(r, &principal, err)) != P11E_OK)
			return rc;
		rc = p11e_record_set(&rec->principal, principal, err);
		free(principal);
		if (rc != P11E_OK)
			return rc;
	}
	if ((r->profile.purposes & P11E_PURPOSE_LOGON) && rec->upn == NULL &&
	    rec->principal == NULL)
		return p11e_errf(
		    err, P11E_USAGE,
		    "upn: profile '%s' names the user by UPN or Kerberos principal: give "
		    "--upn or --principal (or kerberos_realm in the config for "
		    "NAME@REALM)",
		    name);
	if ((r->profile.purposes & P11E_PURPOSE_KDC) && rec->principal == NULL)
		return p11e_errf(
		    err, P11E_USAGE,
		    "principal: profile '%s' needs the KDC's principal: give --principal "
		    "krbtgt/REALM@REALM, or kerberos_realm in the config",
		    name);
	if (new_key_type && (r->profile.purposes & P11E_PURPOSE_LOGON) && r->kt.kind == P11E_KEY_EC)
		fprintf(stderr,
			"p11enroll: warning: identity %s: an EC logon key: MIT krb5 1.20's PKINIT "
			"signs with a token's key only through RSA (kinit fails with "
			"\"Preauthentication failed\"); rsa:2048 is the profile's default\n",
			rec->identity);
	return P11E_OK;
}

const char *pipe_logon_default_slot(enroll_run *r)
{
	const p11e_token_info *info;

	if (!(r->profile.purposes & P11E_PURPOSE_LOGON) || r->token == NULL)
		return NULL;
	info = p11e_token_get_info(r->token);
	return p11e_token_info_piv_shaped(info) ? p11e_piv_slot_id("9a") : NULL;
}
