/* The built-in certificate profiles and what each purpose means for a key of
 * a given kind. The CA applies these, whatever a CSR asks for. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/x509v3.h>
#include "p11enroll/password.h"
#include "p11enroll/profile.h"
#include "x509/ext_logon.h"

static const struct {
	const char *name;
	unsigned purposes;
	/* NULL: ec:P-256. MIT krb5 1.20's PKINIT signs with a token key only
	 * through RSA mechanisms (docs/logon.md), and Windows logon wants RSA. */
	const char *key;
} builtins[] = {
    {"smime", P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT, NULL},
    {"smime-sign", P11E_PURPOSE_SIGN, NULL},
    {"smime-encrypt", P11E_PURPOSE_ENCRYPT, NULL},
    {"client-auth", P11E_PURPOSE_CLIENT_AUTH, NULL},
    {"tls-server", P11E_PURPOSE_SERVER_AUTH, NULL},
    {"smartcard-logon", P11E_PURPOSE_CLIENT_AUTH | P11E_PURPOSE_LOGON, "rsa:2048"},
    {"kdc", P11E_PURPOSE_SERVER_AUTH | P11E_PURPOSE_KDC, "rsa:2048"},
};

static const char *const builtin_names[] = {"smime",	   "smime-sign", "smime-encrypt",
					    "client-auth", "tls-server", "smartcard-logon",
					    "kdc",	   NULL};

p11e_rc p11e_profile_builtin(const char *name, p11e_profile *out, p11e_err *err)
{
	memset(out, 0, sizeof(*out));
	if (name == NULL)
		name = "smime";
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		if (strcmp(name, builtins[i].name) != 0)
			continue;
		snprintf(out->name, sizeof(out->name), "%s", builtins[i].name);
		out->purposes = builtins[i].purposes;
		out->subject[0] = '\0';
		out->allow_email_san = !(out->purposes & P11E_PURPOSE_SERVER_AUTH);
		out->allow_dns_san = (out->purposes & P11E_PURPOSE_SERVER_AUTH) != 0;
		out->validity_days = 365;
		snprintf(out->default_key, sizeof(out->default_key), "%s",
			 builtins[i].key != NULL ? builtins[i].key : "ec:P-256");
		snprintf(out->digest, sizeof(out->digest), "sha256");
		snprintf(out->key_store, sizeof(out->key_store), "token");
		out->pfx_password_length = P11E_PASSWORD_LENGTH;
		snprintf(out->pfx_password_alphabet, sizeof(out->pfx_password_alphabet), "%s",
			 P11E_PASSWORD_ALPHABET);
		return P11E_OK;
	}
	return p11e_errf(err, P11E_NOT_FOUND,
			 "profile: '%.64s' is unknown (built-in: smime, smime-sign, smime-encrypt, "
			 "client-auth, tls-server, smartcard-logon, kdc)",
			 name);
}

const char *const *p11e_profile_builtin_names(void)
{
	return builtin_names;
}

static const char *kind_name(p11e_key_kind kind)
{
	switch (kind) {
	case P11E_KEY_RSA:
		return "rsa";
	case P11E_KEY_EC:
		return "ec";
	case P11E_KEY_ED25519:
		return "ed25519";
	}
	return "unknown";
}

/* Ed25519 is a signature-only algorithm: there is no encryption or key
 * agreement with it (X25519 is a different key). */
static p11e_rc check_encrypt(const p11e_profile *p, p11e_key_kind kind, p11e_err *err)
{
	if (kind == P11E_KEY_RSA || kind == P11E_KEY_EC)
		return P11E_OK;
	if (kind == P11E_KEY_ED25519)
		return p11e_errf(err, P11E_USAGE,
				 "profile '%s': an ed25519 key cannot encrypt; use profile "
				 "smime-sign or an rsa/ec key",
				 p->name);
	return p11e_errf(err, P11E_USAGE, "profile '%s': unknown key kind %d", p->name, (int)kind);
}

p11e_rc p11e_profile_key_usage(const p11e_profile *p, p11e_key_kind kind, unsigned *ku,
			       p11e_err *err)
{
	unsigned v = 0;
	p11e_rc rc;

	*ku = 0;
	if (p->purposes == 0)
		return p11e_errf(err, P11E_USAGE, "profile '%s': no purposes", p->name);
	if (p->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_CLIENT_AUTH | P11E_PURPOSE_SERVER_AUTH |
			   P11E_PURPOSE_LOGON | P11E_PURPOSE_KDC))
		v |= KU_DIGITAL_SIGNATURE;
	if (p->purposes & P11E_PURPOSE_ENCRYPT) {
		if ((rc = check_encrypt(p, kind, err)) != P11E_OK)
			return rc;
		/* RSA encrypts the content key to the recipient; EC recipients
		 * agree on it (ECDH, RFC 5753). */
		v |= kind == P11E_KEY_RSA ? KU_KEY_ENCIPHERMENT : KU_KEY_AGREEMENT;
	}
	/* Windows' smartcard logon and Kerberos authentication certificates
	 * carry keyEncipherment with an RSA key (RSA key transport). */
	if ((p->purposes & (P11E_PURPOSE_LOGON | P11E_PURPOSE_KDC)) && kind == P11E_KEY_RSA)
		v |= KU_KEY_ENCIPHERMENT;
	*ku = v;
	return P11E_OK;
}

p11e_rc p11e_profile_token_usage(const p11e_profile *p, p11e_key_kind kind, unsigned *use,
				 p11e_err *err)
{
	unsigned v = 0;
	p11e_rc rc;

	*use = 0;
	if (p->purposes == 0)
		return p11e_errf(err, P11E_USAGE, "profile '%s': no purposes", p->name);
	if (kind != P11E_KEY_RSA && kind != P11E_KEY_EC && kind != P11E_KEY_ED25519)
		return p11e_errf(err, P11E_USAGE, "profile '%s': unknown key kind %s", p->name,
				 kind_name(kind));
	if (p->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_CLIENT_AUTH | P11E_PURPOSE_SERVER_AUTH |
			   P11E_PURPOSE_LOGON | P11E_PURPOSE_KDC))
		v |= P11E_USE_SIGN;
	if (p->purposes & P11E_PURPOSE_ENCRYPT) {
		if ((rc = check_encrypt(p, kind, err)) != P11E_OK)
			return rc;
		v |= kind == P11E_KEY_RSA ? P11E_USE_DECRYPT : P11E_USE_DERIVE;
	}
	*use = v;
	return P11E_OK;
}

int p11e_cert_has_eku(X509 *cert, int nid)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
	int found = 0;

	for (int i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
		found |= OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid;
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return found;
}

/* Whether the SAN has a name of this type (GEN_EMAIL, GEN_DNS) equal to
 * value, ignoring case (both are case-insensitive in practice). */
static int names_san(X509 *cert, int type, const char *value)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int found = 0;

	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		/* rfc822Name and dNSName are both IA5Strings. */
		if (gn->type == type && (size_t)ASN1_STRING_length(gn->d.ia5) == strlen(value) &&
		    strncasecmp((const char *)ASN1_STRING_get0_data(gn->d.ia5), value,
				strlen(value)) == 0)
			found = 1;
	}
	GENERAL_NAMES_free(names);
	return found;
}

p11e_rc p11e_profile_check_cert(const p11e_profile *p, X509 *cert, const char *identity,
				p11e_err *err)
{
	int smime = (p->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT)) != 0;

	if (smime && !p11e_cert_has_eku(cert, NID_email_protect))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate without emailProtection for profile "
				 "'%s': does the CA know this profile?",
				 p->name);
	if ((p->purposes & P11E_PURPOSE_CLIENT_AUTH) && !p11e_cert_has_eku(cert, NID_client_auth))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate without clientAuth for profile '%s': "
				 "does the CA know this profile?",
				 p->name);
	if ((p->purposes & P11E_PURPOSE_SERVER_AUTH) && !p11e_cert_has_eku(cert, NID_server_auth))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate without serverAuth for profile '%s': "
				 "does the CA know this profile?",
				 p->name);
	if (smime && p->allow_email_san && identity != NULL &&
	    !names_san(cert, GEN_EMAIL, identity))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate that does not name %s as an "
				 "rfc822Name",
				 identity);
	if ((p->purposes & P11E_PURPOSE_SERVER_AUTH) && identity != NULL &&
	    !names_san(cert, GEN_DNS, identity))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "the CA issued a certificate that does not name %s as a dNSName",
				 identity);
	return P11E_OK;
}
