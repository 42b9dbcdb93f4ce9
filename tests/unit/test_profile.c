/* Built-in profiles and what each purpose means for each key kind. */
#include <string.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "p11enroll/profile.h"

static void test_builtins(void)
{
	const char *const *names = p11e_profile_builtin_names();
	const char *want[] = {"smime",	     "smime-sign", "smime-encrypt",
			      "client-auth", "tls-server", "smartcard-logon",
			      "kdc"};
	const unsigned purposes[] = {P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT,
				     P11E_PURPOSE_SIGN,
				     P11E_PURPOSE_ENCRYPT,
				     P11E_PURPOSE_CLIENT_AUTH,
				     P11E_PURPOSE_SERVER_AUTH,
				     P11E_PURPOSE_CLIENT_AUTH | P11E_PURPOSE_LOGON,
				     P11E_PURPOSE_SERVER_AUTH | P11E_PURPOSE_KDC};
	p11e_profile p;
	p11e_err err = {0};
	size_t n = 0;

	while (names[n] != NULL)
		n++;
	CHECK(n == 7);
	for (size_t i = 0; i < 7; i++) {
		int server = strcmp(want[i], "tls-server") == 0 || strcmp(want[i], "kdc") == 0;
		int logon = i >= 5;
		CHECK(n == 7 && strcmp(names[i], want[i]) == 0);
		CHECK_RC(p11e_profile_builtin(want[i], &p, &err), P11E_OK, &err);
		CHECK(strcmp(p.name, want[i]) == 0);
		CHECK(p.purposes == purposes[i]);
		/* A server is named by host, a person by address: never both. */
		CHECK(p.allow_email_san == !server);
		CHECK(p.allow_dns_san == server);
		CHECK(p.validity_days == 365);
		/* Logon: RSA (MIT PKINIT signs with a token's key only by RSA). */
		CHECK(strcmp(p.default_key, logon ? "rsa:2048" : "ec:P-256") == 0);
		CHECK(strcmp(p.digest, "sha256") == 0);
		CHECK(p.subject[0] == '\0');
	}
	CHECK_RC(p11e_profile_builtin("server", &p, &err), P11E_NOT_FOUND, &err);
	CHECK(strstr(err.msg, "'server'") != NULL);
}

/* issue 22: logon and KDC keys sign, and with RSA also encipher. */
static void test_logon_usage(void)
{
	p11e_profile logon, kdc;
	p11e_err err = {0};
	unsigned ku = 0, use = 0;

	p11e_profile_builtin("smartcard-logon", &logon, &err);
	p11e_profile_builtin("kdc", &kdc, &err);
	CHECK_RC(p11e_profile_key_usage(&logon, P11E_KEY_RSA, &ku, &err), P11E_OK, &err);
	CHECK(ku == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
	CHECK_RC(p11e_profile_key_usage(&logon, P11E_KEY_EC, &ku, &err), P11E_OK, &err);
	CHECK(ku == KU_DIGITAL_SIGNATURE);
	CHECK_RC(p11e_profile_key_usage(&kdc, P11E_KEY_RSA, &ku, &err), P11E_OK, &err);
	CHECK(ku == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
	CHECK_RC(p11e_profile_token_usage(&logon, P11E_KEY_RSA, &use, &err), P11E_OK, &err);
	CHECK(use == P11E_USE_SIGN);
}

static void test_key_usage(void)
{
	p11e_profile smime, sign, enc, client;
	p11e_err err = {0};
	unsigned ku = 0;

	p11e_profile_builtin("smime", &smime, &err);
	p11e_profile_builtin("smime-sign", &sign, &err);
	p11e_profile_builtin("smime-encrypt", &enc, &err);
	p11e_profile_builtin("client-auth", &client, &err);

	CHECK_RC(p11e_profile_key_usage(&smime, P11E_KEY_RSA, &ku, &err), P11E_OK, &err);
	CHECK(ku == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
	CHECK_RC(p11e_profile_key_usage(&smime, P11E_KEY_EC, &ku, &err), P11E_OK, &err);
	CHECK(ku == (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT));
	CHECK_RC(p11e_profile_key_usage(&smime, P11E_KEY_ED25519, &ku, &err), P11E_USAGE, &err);
	CHECK(strcmp(err.msg, "profile 'smime': an ed25519 key cannot encrypt; use profile "
			      "smime-sign or an rsa/ec key") == 0);
	CHECK(ku == 0);

	for (p11e_key_kind k = P11E_KEY_RSA; k <= P11E_KEY_ED25519; k++) {
		CHECK_RC(p11e_profile_key_usage(&sign, k, &ku, &err), P11E_OK, &err);
		CHECK(ku == KU_DIGITAL_SIGNATURE); /* never nonRepudiation */
		CHECK_RC(p11e_profile_key_usage(&client, k, &ku, &err), P11E_OK, &err);
		CHECK(ku == KU_DIGITAL_SIGNATURE);
	}
	CHECK_RC(p11e_profile_key_usage(&enc, P11E_KEY_RSA, &ku, &err), P11E_OK, &err);
	CHECK(ku == KU_KEY_ENCIPHERMENT);
	CHECK_RC(p11e_profile_key_usage(&enc, P11E_KEY_EC, &ku, &err), P11E_OK, &err);
	CHECK(ku == KU_KEY_AGREEMENT);
	CHECK_RC(p11e_profile_key_usage(&enc, P11E_KEY_ED25519, &ku, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "profile 'smime-encrypt': an ed25519 key cannot encrypt") != NULL);
}

static void test_token_usage(void)
{
	p11e_profile smime, sign, enc, client;
	p11e_err err = {0};
	unsigned use = 0;

	p11e_profile_builtin("smime", &smime, &err);
	p11e_profile_builtin("smime-sign", &sign, &err);
	p11e_profile_builtin("smime-encrypt", &enc, &err);
	p11e_profile_builtin("client-auth", &client, &err);

	CHECK_RC(p11e_profile_token_usage(&smime, P11E_KEY_RSA, &use, &err), P11E_OK, &err);
	CHECK(use == (P11E_USE_SIGN | P11E_USE_DECRYPT));
	CHECK_RC(p11e_profile_token_usage(&smime, P11E_KEY_EC, &use, &err), P11E_OK, &err);
	CHECK(use == (P11E_USE_SIGN | P11E_USE_DERIVE));
	CHECK_RC(p11e_profile_token_usage(&smime, P11E_KEY_ED25519, &use, &err), P11E_USAGE, &err);
	CHECK_RC(p11e_profile_token_usage(&sign, P11E_KEY_ED25519, &use, &err), P11E_OK, &err);
	CHECK(use == P11E_USE_SIGN);
	CHECK_RC(p11e_profile_token_usage(&enc, P11E_KEY_RSA, &use, &err), P11E_OK, &err);
	CHECK(use == P11E_USE_DECRYPT);
	CHECK_RC(p11e_profile_token_usage(&enc, P11E_KEY_EC, &use, &err), P11E_OK, &err);
	CHECK(use == P11E_USE_DERIVE);
	CHECK_RC(p11e_profile_token_usage(&client, P11E_KEY_EC, &use, &err), P11E_OK, &err);
	CHECK(use == P11E_USE_SIGN);
}

int main(void)
{
	test_builtins();
	test_logon_usage();
	test_key_usage();
	test_token_usage();
	return check_done();
}
