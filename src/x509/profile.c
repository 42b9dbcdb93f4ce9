/* The built-in certificate profiles and what each purpose means for a key of
 * a given kind. The CA applies these, whatever a CSR asks for. */
#include <stdio.h>
#include <string.h>
#include <openssl/x509v3.h>
#include "p11enroll/profile.h"

static const struct {
	const char *name;
	unsigned purposes;
} builtins[] = {
    {"smime", P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT},
    {"smime-sign", P11E_PURPOSE_SIGN},
    {"smime-encrypt", P11E_PURPOSE_ENCRYPT},
    {"client-auth", P11E_PURPOSE_CLIENT_AUTH},
};

static const char *const builtin_names[] = {"smime", "smime-sign", "smime-encrypt", "client-auth",
					    NULL};

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
		out->allow_email_san = 1;
		out->allow_dns_san = 0;
		out->validity_days = 365;
		snprintf(out->default_key, sizeof(out->default_key), "ec:P-256");
		snprintf(out->digest, sizeof(out->digest), "sha256");
		return P11E_OK;
	}
	return p11e_errf(err, P11E_NOT_FOUND,
			 "profile: '%.64s' is unknown (built-in: smime, smime-sign, smime-encrypt, "
			 "client-auth)",
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
	if (p->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_CLIENT_AUTH))
		v |= KU_DIGITAL_SIGNATURE;
	if (p->purposes & P11E_PURPOSE_ENCRYPT) {
		if ((rc = check_encrypt(p, kind, err)) != P11E_OK)
			return rc;
		/* RSA encrypts the content key to the recipient; EC recipients
		 * agree on it (ECDH, RFC 5753). */
		v |= kind == P11E_KEY_RSA ? KU_KEY_ENCIPHERMENT : KU_KEY_AGREEMENT;
	}
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
	if (p->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_CLIENT_AUTH))
		v |= P11E_USE_SIGN;
	if (p->purposes & P11E_PURPOSE_ENCRYPT) {
		if ((rc = check_encrypt(p, kind, err)) != P11E_OK)
			return rc;
		v |= kind == P11E_KEY_RSA ? P11E_USE_DECRYPT : P11E_USE_DERIVE;
	}
	*use = v;
	return P11E_OK;
}
