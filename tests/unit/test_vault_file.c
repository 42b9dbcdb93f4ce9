/* The file vault: secrets encrypted to escrow officers (RSA-OAEP and ECDH),
 * read back only with an officer's key (a file, or a key on the SoftHSM
 * token by URI), never with another; put never overwrites; openssl cms reads
 * what we write and we read what it writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "p11enroll/config.h"
#include "p11enroll/session.h"
#include "p11enroll/token.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"

static char tmp[512];
static EVP_PKEY *ca_key;
static const char secret[] = "Xq7-pfx-password-9fA2";

static char *at(const char *name)
{
	static char buf[8][700];
	static int i;
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmp, name);
	return buf[i];
}

/* A certificate for pub, issued by the test's CA key. */
static X509 *mkcert(EVP_PKEY *pub, const char *cn, long from, long to, const char *ku)
{
	static long serial = 1;
	X509 *c = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(X509_get_issuer_name(c), "CN", MBSTRING_ASC,
				   (const unsigned char *)"Test Officer CA", -1, -1, 0);
	X509_gmtime_adj(X509_getm_notBefore(c), from);
	X509_gmtime_adj(X509_getm_notAfter(c), to);
	X509_set_pubkey(c, pub);
	X509V3_set_ctx(&v3, NULL, c, NULL, NULL, 0);
	if (ku != NULL && (ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, ku)) != NULL) {
		X509_add_ext(c, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(c, ca_key, EVP_sha256());
	return c;
}

static void write_key(EVP_PKEY *k, const char *path, const char *pass)
{
	FILE *f = fopen(path, "w");
	PEM_write_PrivateKey(f, k, pass ? EVP_aes_256_cbc() : NULL, NULL, 0, NULL, (void *)pass);
	fclose(f);
}

static void write_certs(const char *path, X509 **certs, int n)
{
	FILE *f = fopen(path, "w");
	for (int i = 0; i < n; i++)
		PEM_write_X509(f, certs[i]);
	fclose(f);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static int load_config(const char *vault_json, p11e_config *cfg)
{
	char text[1024];
	p11e_err err = {0};

	snprintf(text, sizeof(text), "{ \"state_dir\": \"state\", \"vault\": %s }", vault_json);
	write_text(at("config.json"), text);
	if (p11e_config_load(at("config.json"), cfg, &err) != P11E_OK) {
		fprintf(stderr, "config: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Opens with params, gets name, compares with want (NULL: expect failure
 * rc_want at open or get). */
static void read_back(const p11e_config *cfg, const char *key, const char *pin_source,
		      const char *name, const char *want, p11e_rc rc_want, const char *msg_has)
{
	p11e_vault_open_params p = {.officer_key = key,
				    .officer_pin_source = pin_source,
				    .module = getenv("SOFTHSM_MODULE")};
	p11e_vault *v = NULL;
	unsigned char *out = NULL;
	size_t len = 0;
	p11e_err err = {0};
	p11e_rc rc;

	rc = p11e_vault_open(cfg, &p, &v, &err);
	if (rc == P11E_OK)
		rc = p11e_vault_get(v, name, &out, &len, &err);
	if (want != NULL) {
		CHECK_RC(rc, P11E_OK, &err);
		CHECK(out != NULL && len == strlen(want) && memcmp(out, want, len) == 0);
	} else {
		CHECK_RC(rc, rc_want, &err);
		CHECK(out == NULL);
		if (msg_has != NULL && strstr(err.msg, msg_has) == NULL) {
			fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, msg_has);
			CHECK(0);
		}
		CHECK(strstr(err.msg, secret) == NULL);
	}
	p11e_secret_free((char *)out, len);
	p11e_vault_close(v);
}

static p11e_rc put(const p11e_config *cfg, const char *name, const char *s, p11e_err *err)
{
	p11e_vault *v = NULL;
	p11e_rc rc = p11e_vault_open(cfg, NULL, &v, err);

	if (rc == P11E_OK)
		rc = p11e_vault_put(v, name, (const unsigned char *)s, strlen(s), err);
	p11e_vault_close(v);
	return rc;
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n;
}

static char *decrypt_with_openssl(const char *file, const char *cert, const char *key)
{
	char cmd[2400];

	snprintf(cmd, sizeof(cmd),
		 "openssl cms -decrypt -inform DER -in '%s' -recip '%s' -inkey '%s' 2>/dev/null",
		 file, cert, key);
	return check_capture(cmd);
}

/* A key pair on the SoftHSM token, and its officer certificate. */
static X509 *token_officer(const char *type, unsigned usage, unsigned char tag, const char *label)
{
	char pin[300];
	p11e_config cfg = {0};
	p11e_session s;
	p11e_session_params sp = {.uri = getenv("TEST_TOKEN_URI"),
				  .module = getenv("SOFTHSM_MODULE"),
				  .pin_source = pin,
				  .login = 1};
	p11e_keytype kt;
	p11e_id id = {{tag, 0x0f}, 2};
	EVP_PKEY *pub = NULL;
	X509 *cert = NULL;
	p11e_err err = {0};

	snprintf(pin, sizeof(pin), "file:%s", getenv("TEST_PIN_FILE"));
	if (p11e_session_open(&cfg, &sp, &s, &err) != P11E_OK) {
		fprintf(stderr, "session: %s\n", err.msg);
		return NULL;
	}
	if (p11e_keytype_parse(type, &kt, &err) == P11E_OK &&
	    p11e_token_generate_keypair(s.token, &kt, &id, label, usage, &err) == P11E_OK &&
	    p11e_token_public_key(s.token, &id, &pub, &err) == P11E_OK)
		cert = mkcert(pub, label, 0, 86400, NULL);
	else
		fprintf(stderr, "token key: %s\n", err.msg);
	EVP_PKEY_free(pub);
	p11e_session_close(&s);
	return cert;
}

int main(void)
{
	const char *t = getenv("TEST_TMP");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *outsider = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *outsider_ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	X509 *certs[6];
	X509 *tok_rsa, *tok_ec, *tok_other;
	p11e_config cfg = {0}, cfg2 = {0};
	p11e_err err = {0};
	char uri[600], *got;
	struct stat st;
	unsigned char *sha_before = NULL;
	size_t n = 0;
	char **names = NULL;
	p11e_vault *v = NULL;

	if (t == NULL) {
		fprintf(stderr, "run me inside tests/with-softhsm.sh\n");
		return 2;
	}
	snprintf(tmp, sizeof(tmp), "%s/vault", t);
	mkdir(tmp, 0700);
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	/* officers: RSA and EC key files, and an RSA and an EC key on the token */
	certs[0] = mkcert(rsa, "RSA Officer", 0, 86400, "keyEncipherment");
	certs[1] = mkcert(ec, "EC Officer", 0, 86400, "keyAgreement");
	tok_rsa = token_officer("rsa:2048", P11E_USE_DECRYPT, 0xa1, "officer-rsa");
	tok_ec = token_officer("ec:P-256", P11E_USE_DERIVE, 0xa2, "officer-ec");
	tok_other = token_officer("rsa:2048", P11E_USE_DECRYPT, 0xa3, "not-an-officer");
	CHECK(tok_rsa != NULL && tok_ec != NULL && tok_other != NULL);
	certs[2] = tok_rsa;
	certs[3] = tok_ec;
	write_certs(at("officers.pem"), certs, 4);
	write_certs(at("rsa.pem"), &certs[0], 1);
	write_certs(at("ec.pem"), &certs[1], 1);
	write_key(rsa, at("rsa.key"), NULL);
	write_key(ec, at("ec.key"), NULL);
	write_key(rsa, at("rsa-enc.key"), "officer passphrase");
	write_text(at("pass"), "officer passphrase\n");
	write_text(at("wrong-pass"), "not the passphrase\n");
	write_key(outsider, at("outsider.key"), NULL);
	write_key(outsider_ec, at("outsider-ec.key"), NULL);

	CHECK(load_config("{ \"type\": \"file\", \"dir\": \"escrow\", "
			  "\"officer_certs_file\": \"officers.pem\" }",
			  &cfg) == 0);

	/* put: a file per secret, 0600 in a 0700 dir, never replaced */
	CHECK_RC(put(&cfg, "alice@example.com", secret, &err), P11E_OK, &err);
	CHECK(stat(at("escrow/alice@example.com.cms"), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(at("escrow"), &st) == 0 && (st.st_mode & 0777) == 0700);
	{
		char cmd[800];
		snprintf(cmd, sizeof(cmd), "sha256sum '%s'", at("escrow/alice@example.com.cms"));
		sha_before = (unsigned char *)check_capture(cmd);
		CHECK_RC(put(&cfg, "alice@example.com", "another password", &err), P11E_EXISTS,
			 &err);
		CHECK(strstr(err.msg, "never overwritten") != NULL);
		got = check_capture(cmd);
		CHECK(got != NULL && sha_before != NULL && strcmp(got, (char *)sha_before) == 0);
		free(got);
		free(sha_before);
	}
	CHECK_RC(put(&cfg, "", secret, &err), P11E_USAGE, &err);
	CHECK_RC(put(&cfg, "Odd/Name ..x", "odd secret", &err), P11E_OK, &err);
	CHECK(stat(at("escrow/%4Fdd%2F%4Eame%20..x.cms"), &st) == 0);

	/* The ciphertext is what the design says. */
	got = check_capture("openssl cms -cmsout -print -inform DER -in "
			    "\"$TEST_TMP/vault/escrow/alice@example.com.cms\" 2>&1");
	CHECK(got != NULL && strstr(got, "authEnvelopedData") != NULL);
	CHECK(got != NULL && strstr(got, "aes-256-gcm") != NULL);
	CHECK(got != NULL && strstr(got, "rsaesOaep") != NULL);
	CHECK(got != NULL && strstr(got, "sha256") != NULL);
	CHECK(got != NULL && strstr(got, "dhSinglePass-stdDH-sha256kdf-scheme") != NULL);
	CHECK(got != NULL && strstr(got, secret) == NULL);
	free(got);

	/* openssl reads it with either officer's key file, not with another */
	got =
	    decrypt_with_openssl(at("escrow/alice@example.com.cms"), at("rsa.pem"), at("rsa.key"));
	CHECK(got != NULL && strcmp(got, secret) == 0);
	free(got);
	got = decrypt_with_openssl(at("escrow/alice@example.com.cms"), at("ec.pem"), at("ec.key"));
	CHECK(got != NULL && strcmp(got, secret) == 0);
	free(got);
	got = decrypt_with_openssl(at("escrow/alice@example.com.cms"), at("rsa.pem"),
				   at("outsider.key"));
	CHECK(got != NULL && strstr(got, secret) == NULL);
	free(got);

	/* get: only with an officer's key */
	read_back(&cfg, NULL, NULL, "alice@example.com", NULL, P11E_USAGE, "officer's key");
	read_back(&cfg, at("rsa.key"), NULL, "alice@example.com", secret, 0, NULL);
	{
		char fk[700];
		snprintf(fk, sizeof(fk), "file:%s", at("ec.key"));
		read_back(&cfg, fk, NULL, "alice@example.com", secret, 0, NULL);
	}
	read_back(&cfg, at("rsa.key"), NULL, "Odd/Name ..x", "odd secret", 0, NULL);
	{
		char ps[700];
		snprintf(ps, sizeof(ps), "file:%s", at("pass"));
		read_back(&cfg, at("rsa-enc.key"), ps, "alice@example.com", secret, 0, NULL);
		snprintf(ps, sizeof(ps), "file:%s", at("wrong-pass"));
		read_back(&cfg, at("rsa-enc.key"), ps, "alice@example.com", NULL,
			  P11E_PIN_INCORRECT, "wrong passphrase");
	}
	read_back(&cfg, at("outsider.key"), NULL, "alice@example.com", NULL, P11E_USAGE,
		  "not an escrow officer's");
	read_back(&cfg, at("outsider-ec.key"), NULL, "alice@example.com", NULL, P11E_USAGE,
		  "not an escrow officer's");
	read_back(&cfg, at("rsa.pem"), NULL, "alice@example.com", NULL, P11E_USAGE,
		  "not a private key");
	read_back(&cfg, at("no-such.key"), NULL, "alice@example.com", NULL, P11E_USAGE,
		  "no such file");
	read_back(&cfg, at("rsa.key"), NULL, "bob@example.com", NULL, P11E_NOT_FOUND,
		  "no secret escrowed");

	/* officer keys on the token, by id and by label; PIN from a source */
	snprintf(uri, sizeof(uri), "%s;id=%%a1%%0f?pin-source=file:%s", getenv("TEST_TOKEN_URI"),
		 getenv("TEST_PIN_FILE"));
	read_back(&cfg, uri, NULL, "alice@example.com", secret, 0, NULL);
	snprintf(uri, sizeof(uri), "%s;object=officer-ec", getenv("TEST_TOKEN_URI"));
	{
		char ps[600];
		snprintf(ps, sizeof(ps), "file:%s", getenv("TEST_PIN_FILE"));
		read_back(&cfg, uri, ps, "alice@example.com", secret, 0, NULL);
		/* a token key that is no officer's */
		snprintf(uri, sizeof(uri), "%s;object=not-an-officer", getenv("TEST_TOKEN_URI"));
		read_back(&cfg, uri, ps, "alice@example.com", NULL, P11E_USAGE,
			  "not an escrow officer's");
		/* a URI that names no key */
		read_back(&cfg, getenv("TEST_TOKEN_URI"), ps, "alice@example.com", NULL, P11E_USAGE,
			  "id= or object=");
		snprintf(uri, sizeof(uri), "%s;object=officer-rsa", getenv("TEST_TOKEN_URI"));
		snprintf(ps, sizeof(ps), "file:%s", at("wrong-pass"));
		read_back(&cfg, uri, ps, "alice@example.com", NULL, P11E_PIN_INCORRECT, NULL);
	}

	/* An officer added later reads new secrets, not old ones. */
	certs[4] = mkcert(outsider, "New Officer", 0, 86400, NULL);
	write_certs(at("officers2.pem"), certs, 5);
	CHECK(load_config("{ \"type\": \"file\", \"dir\": \"escrow\", "
			  "\"officer_certs_file\": \"officers2.pem\" }",
			  &cfg2) == 0);
	CHECK_RC(put(&cfg2, "carol@example.com", "carol's password", &err), P11E_OK, &err);
	read_back(&cfg2, at("outsider.key"), NULL, "carol@example.com", "carol's password", 0,
		  NULL);
	read_back(&cfg2, at("outsider.key"), NULL, "alice@example.com", NULL, P11E_USAGE,
		  "was not escrowed to officer");
	p11e_config_clear(&cfg2);

	/* put refuses officers that cannot receive, and leaves nothing behind */
	{
		size_t before = count_files(at("escrow"));
		X509 *bad[2] = {certs[0], mkcert(ec, "Expired Officer", -7200, -3600, NULL)};
		write_certs(at("expired.pem"), bad, 2);
		CHECK(load_config("{ \"type\": \"file\", \"dir\": \"escrow\", "
				  "\"officer_certs_file\": \"expired.pem\" }",
				  &cfg2) == 0);
		CHECK_RC(put(&cfg2, "dave@example.com", "x", &err), P11E_CONFIG, &err);
		CHECK(strstr(err.msg, "Expired Officer") != NULL);
		p11e_config_clear(&cfg2);
		X509_free(bad[1]);
		bad[1] = mkcert(rsa, "Signing-only Officer", 0, 3600, "digitalSignature");
		write_certs(at("ku.pem"), bad, 2);
		CHECK(load_config("{ \"type\": \"file\", \"dir\": \"escrow\", "
				  "\"officer_certs_file\": \"ku.pem\" }",
				  &cfg2) == 0);
		CHECK_RC(put(&cfg2, "dave@example.com", "x", &err), P11E_CONFIG, &err);
		CHECK(strstr(err.msg, "keyEncipherment") != NULL);
		p11e_config_clear(&cfg2);
		X509_free(bad[1]);
		CHECK(count_files(at("escrow")) == before);
	}

	/* config errors */
	CHECK(load_config("{ \"type\": \"file\", \"officer_certs_file\": \"none.pem\" }", &cfg2) ==
	      0);
	CHECK_RC(p11e_vault_open(&cfg2, NULL, &v, &err), P11E_CONFIG, &err);
	p11e_config_clear(&cfg2);
	CHECK(load_config("{ \"type\": \"file\" }", &cfg2) == 0);
	CHECK_RC(p11e_vault_open(&cfg2, NULL, &v, &err), P11E_CONFIG, &err);
	p11e_config_clear(&cfg2);
	/* An unknown key or type is refused when the config is loaded
	 * (tests/unit/test_config.c checks the message). */
	CHECK(load_config("{ \"type\": \"file\", \"officer_certs_file\": \"officers.pem\", "
			  "\"dirr\": \"x\" }",
			  &cfg2) == -1);
	CHECK(load_config("{ \"type\": \"nope\" }", &cfg2) == -1);

	/* default dir (STATE_DIR/escrow) and the CBC variant, which openssl reads */
	CHECK(load_config("{ \"type\": \"file\", \"officer_certs_file\": \"officers.pem\", "
			  "\"cipher\": \"aes-256-cbc\" }",
			  &cfg2) == 0);
	CHECK_RC(put(&cfg2, "erin@example.com", "erin's password", &err), P11E_OK, &err);
	got = check_capture("openssl cms -cmsout -print -inform DER -in "
			    "\"$TEST_TMP/vault/state/escrow/erin@example.com.cms\" 2>&1");
	CHECK(got != NULL && strstr(got, "envelopedData") != NULL &&
	      strstr(got, "aes-256-cbc") != NULL);
	free(got);
	got = decrypt_with_openssl(at("state/escrow/erin@example.com.cms"), at("ec.pem"),
				   at("ec.key"));
	CHECK(got != NULL && strcmp(got, "erin's password") == 0);
	free(got);
	snprintf(uri, sizeof(uri), "%s;object=officer-rsa?pin-source=file:%s",
		 getenv("TEST_TOKEN_URI"), getenv("TEST_PIN_FILE"));
	read_back(&cfg2, uri, NULL, "erin@example.com", "erin's password", 0, NULL);
	p11e_config_clear(&cfg2);

	/* what openssl encrypts, we read (officer-side interop) */
	CHECK(check_sh("printf %s 'made-by-openssl' | openssl cms -encrypt -binary -aes256 "
		       "-outform DER -out \"$TEST_TMP/vault/escrow/frank@example.com.cms\" "
		       "-recip \"$TEST_TMP/vault/rsa.pem\" -keyopt rsa_padding_mode:oaep "
		       "-recip \"$TEST_TMP/vault/ec.pem\"") == 0);
	read_back(&cfg, at("rsa.key"), NULL, "frank@example.com", "made-by-openssl", 0, NULL);
	read_back(&cfg, at("ec.key"), NULL, "frank@example.com", "made-by-openssl", 0, NULL);

	/* a damaged entry is an error, not a wrong secret */
	write_text(at("escrow/grace@example.com.cms"), "not CMS at all");
	read_back(&cfg, at("rsa.key"), NULL, "grace@example.com", NULL, P11E_FAIL, "corrupt");

	/* list and delete */
	CHECK_RC(p11e_vault_open(&cfg, NULL, &v, &err), P11E_OK, &err);
	CHECK_RC(p11e_vault_list(v, &names, &n, &err), P11E_OK, &err);
	CHECK(n == 5);
	if (n == 5) {
		CHECK(strcmp(names[0], "Odd/Name ..x") == 0);
		CHECK(strcmp(names[1], "alice@example.com") == 0);
		CHECK(strcmp(names[2], "carol@example.com") == 0);
		CHECK(strcmp(names[3], "frank@example.com") == 0);
		CHECK(strcmp(names[4], "grace@example.com") == 0);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	CHECK_RC(p11e_vault_delete(v, "grace@example.com", &err), P11E_OK, &err);
	CHECK_RC(p11e_vault_delete(v, "grace@example.com", &err), P11E_NOT_FOUND, &err);
	CHECK_RC(p11e_vault_list(v, &names, &n, &err), P11E_OK, &err);
	CHECK(n == 4);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	p11e_vault_close(v);

	p11e_config_clear(&cfg);
	for (int i = 0; i < 5; i++)
		X509_free(certs[i]);
	X509_free(tok_other);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(outsider);
	EVP_PKEY_free(outsider_ec);
	EVP_PKEY_free(ca_key);
	return check_done();
}
