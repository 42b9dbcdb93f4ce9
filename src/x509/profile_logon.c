/* Whether an issued certificate carries what a logon profile asked for
 * (include/p11enroll/profile.h): a CA may drop otherNames and extensions it
 * does not know, and such a card would not log anyone in. */
#include <stdlib.h>
#include <string.h>
#include <openssl/x509v3.h>
#include "p11enroll/profile.h"
#include "x509/ext_logon.h"

/* Whether the SAN holds an otherName that of() reads as want. */
static int names_other(X509 *cert, char *(*of)(const GENERAL_NAME *), const char *want)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int found = 0;

	for (int i = 0; names != NULL && !found && i < sk_GENERAL_NAME_num(names); i++) {
		char *v = of(sk_GENERAL_NAME_value(names, i));
		found = v != NULL && strcmp(v, want) == 0;
		free(v);
	}
	GENERAL_NAMES_free(names);
	return found;
}

static int has_sid(X509 *cert, const char *want)
{
	ASN1_OBJECT *obj = p11e_x509_sid_ext_obj();
	int at = obj != NULL ? X509_get_ext_by_OBJ(cert, obj, -1) : -1;
	char *v = at >= 0 ? p11e_x509_sid_of(X509_get_ext(cert, at)) : NULL;
	int found = v != NULL && strcmp(v, want) == 0;

	free(v);
	ASN1_OBJECT_free(obj);
	return found;
}

#define ASK_CA " for profile '%s': does the CA copy logon names? (docs/logon.md)"

p11e_rc p11e_profile_check_logon(const p11e_profile *p, X509 *cert, const char *upn,
				 const char *principal, const char *sid, p11e_err *err)
{
	if (!(p->purposes & (P11E_PURPOSE_LOGON | P11E_PURPOSE_KDC)))
		return P11E_OK;
	if ((p->purposes & P11E_PURPOSE_LOGON) &&
	    (!p11e_cert_has_eku(cert, NID_ms_smartcard_login) ||
	     !p11e_cert_has_eku(cert, NID_pkInitClientAuth)))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate without the smartcard logon and "
				 "id-pkinit-KPClientAuth key purposes" ASK_CA,
				 p->name);
	if ((p->purposes & P11E_PURPOSE_KDC) && !p11e_cert_has_eku(cert, NID_pkInitKDC))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate without the id-pkinit-KPKdc key "
				 "purpose" ASK_CA,
				 p->name);
	if (upn != NULL && !names_other(cert, p11e_x509_upn_of, upn))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate without the UPN %.100s" ASK_CA, upn,
				 p->name);
	if (principal != NULL && !names_other(cert, p11e_x509_pkinit_san_of, principal))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate without the id-pkinit-san "
				 "%.100s" ASK_CA,
				 principal, p->name);
	if (sid != NULL && (p->purposes & P11E_PURPOSE_LOGON) && !has_sid(cert, sid))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate without the SID extension for "
				 "%.100s" ASK_CA,
				 sid, p->name);
	return P11E_OK;
}
