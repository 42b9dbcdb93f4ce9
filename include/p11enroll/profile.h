/* Certificate profiles: what a certificate is for. The CA (not the CSR)
 * decides key usage, extended key usage, validity and which SANs survive. */
#ifndef P11ENROLL_PROFILE_H
#define P11ENROLL_PROFILE_H

#include <openssl/x509.h>
#include "p11enroll/error.h"
#include "p11enroll/token.h"

#define P11E_PURPOSE_SIGN 0x1u /* S/MIME signing: digitalSignature, emailProtection */
#define P11E_PURPOSE_ENCRYPT                                                                       \
	0x2u			      /* S/MIME encryption: keyEncipherment (RSA) or               \
					 keyAgreement (EC), emailProtection */
#define P11E_PURPOSE_CLIENT_AUTH 0x4u /* TLS client: digitalSignature, clientAuth */
#define P11E_PURPOSE_SERVER_AUTH 0x8u /* TLS server: digitalSignature, serverAuth, dNSName */
/* Smartcard logon (docs/logon.md): digitalSignature (+ keyEncipherment for
 * RSA), msSmartcardLogin and id-pkinit-KPClientAuth; UPN and id-pkinit-san
 * otherNames, the SID extension. With CLIENT_AUTH in built-in smartcard-logon. */
#define P11E_PURPOSE_LOGON 0x10u
/* A PKINIT KDC: digitalSignature (+ keyEncipherment for RSA), id-pkinit-KPKdc
 * (Windows' "KDC Authentication"); id-pkinit-san krbtgt/REALM@REALM. With
 * SERVER_AUTH (the dNSName) in built-in kdc. */
#define P11E_PURPOSE_KDC 0x20u

typedef struct p11e_profile {
	char name[64];
	unsigned purposes;
	char subject[256];   /* base DN, OpenSSL slash form: "/O=Example/OU=People"; may be "" */
	int allow_email_san; /* rfc822Name SANs are requested and copied */
	int allow_dns_san;
	int validity_days;
	char default_key[16]; /* keytype text, e.g. "ec:P-256" */
	char digest[16];      /* "sha256" */
	/* Where keys are made: "token" (default), or "software": in memory,
	 * delivered as a PKCS#12 file whose password is generated with
	 * pfx_password_length characters from pfx_password_alphabet
	 * (defaults: 24 from P11E_PASSWORD_ALPHABET, 139.9 bits). */
	char key_store[16];
	int pfx_password_length;
	char pfx_password_alphabet[96];
	/* Hex CKA_ID of the card slot its keys go to ("slot_id", or "piv_slot"
	 * mapped), or "": docs/tokens.md, Fixed-slot cards. */
	char slot_id[2 * P11E_ID_MAX + 1];
	/* "identity_from": the "ldap" publisher whose directory gives the
	 * person's UPN, SID and display name (include/p11enroll/directory.h),
	 * or "". */
	char identity_from[64];
} p11e_profile;

/* The built-in profiles: "smime" (sign+encrypt, the default), "smime-sign",
 * "smime-encrypt", "client-auth", "tls-server" (a host named by dNSName, as
 * ACME CAs issue), "smartcard-logon" and "kdc" (rsa:2048 keys; docs/logon.md).
 * P11E_NOT_FOUND for another name. */
p11e_rc p11e_profile_builtin(const char *name, p11e_profile *out, p11e_err *err);
const char *const *p11e_profile_builtin_names(void); /* NULL-terminated */

/* X509v3 keyUsage bits (KU_DIGITAL_SIGNATURE, ...) this profile gives a key of
 * this kind; P11E_USAGE if the kind cannot serve the purpose (Ed25519 cannot
 * encrypt). */
p11e_rc p11e_profile_key_usage(const p11e_profile *p, p11e_key_kind kind, unsigned *ku,
			       p11e_err *err);
/* P11E_USE_* token attributes this profile needs for a key of this kind. */
p11e_rc p11e_profile_token_usage(const p11e_profile *p, p11e_key_kind kind, unsigned *use,
				 p11e_err *err);

/* Whether a certificate a CA issued fits the profile: extendedKeyUsage has
 * emailProtection for S/MIME purposes, clientAuth for client-auth and
 * serverAuth for tls-server; an S/MIME certificate names `identity` (the
 * email) as an rfc822Name, a tls-server one names it (the host) as a
 * dNSName. P11E_CA_REJECTED saying what is missing (a CA may ignore what was
 * asked, e.g. CFSSL falls back to its default profile for one it does not
 * know). */
p11e_rc p11e_profile_check_cert(const p11e_profile *p, X509 *cert, const char *identity,
				p11e_err *err);
/* The same for a logon profile's names (src/x509/profile_logon.c): the
 * logon or KDC key purposes, and each of upn, principal and sid that is not
 * NULL exactly as asked (a CA may drop otherNames and unknown extensions).
 * P11E_OK for another profile. */
p11e_rc p11e_profile_check_logon(const p11e_profile *p, X509 *cert, const char *upn,
				 const char *principal, const char *sid, p11e_err *err);

#endif
