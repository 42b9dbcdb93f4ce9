/* The embedded CA: init, open, submit, poll, chain; results checked with
 * `openssl verify` and `openssl x509`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "p11enroll/ca.h"
#include "p11enroll/csr.h"
#include "p11enroll/profile.h"

static char ca_dir[512];

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n = 0;

	if (f != NULL && buf != NULL)
		n = fread(buf, 1, (1 << 20) - 1, f);
	if (f != NULL)
		fclose(f);
	(void)n;
	return buf;
}

static void write_cert(X509 *cert, const char *path)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL && PEM_write_X509(f, cert) == 1);
	if (f != NULL)
		fclose(f);
}

/* Hex SHA-256 of the CSR's DER: the pipeline's request key. */
static void request_key(X509_REQ *req, char out[65])
{
	unsigned char *der = NULL, md[32];
	int len = i2d_X509_REQ(req, &der);

	SHA256(der, (size_t)(len > 0 ? len : 0), md);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	OPENSSL_free(der);
}

static X509_REQ *make_csr(EVP_PKEY *key, const char *profile, const char *email, const char *name)
{
	p11e_profile p;
	p11e_err err = {0};
	X509_REQ *req = NULL;

	p11e_profile_builtin(profile, &p, &err);
	p11e_csr_params cp = {.email = email, .name = name, .profile = &p};
	CHECK_RC(p11e_csr_build(key, key, &cp, &req, &err), P11E_OK, &err);
	return req;
}

/* A hand-made CSR with the SANs given in openssl.cnf form ("DNS:a,email:b")
 * and keyUsage keyCertSign that no leaf may get. */
static X509_REQ *make_raw_csr(EVP_PKEY *key, const char *cn, const char *san)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *e;

	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_version(req, 0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, key);
	if (san != NULL) {
		e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
		sk_X509_EXTENSION_push(exts, e);
	}
	e = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
	sk_X509_EXTENSION_push(exts, e);
	X509_REQ_add_extensions(req, exts);
	CHECK(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	return req;
}

static p11e_ca *open_ca(const char *dir, p11e_rc want)
{
	struct json_object *conf = json_object_new_object();
	p11e_ca *ca = NULL;
	p11e_err err = {0};

	json_object_object_add(conf, "type", json_object_new_string("local"));
	json_object_object_add(conf, "dir", json_object_new_string(dir));
	CHECK_RC(p11e_ca_open(conf, &ca, &err), want, &err);
	json_object_put(conf);
	return ca;
}

static int index_lines_for(const char *key)
{
	char path[600], *data, *line, *save = NULL;
	int n = 0;

	snprintf(path, sizeof(path), "%s/index.jsonl", ca_dir);
	data = slurp(path);
	for (line = strtok_r(data, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
		if (strstr(line, key) != NULL)
			n++;
	free(data);
	return n;
}

static void test_init(void)
{
	p11e_ca_local_init_params p = {.dir = ca_dir};
	p11e_err err = {0};
	char path[600], cmd[1400], *text;
	struct stat st;

	CHECK_RC(p11e_ca_local_init(&p, &err), P11E_OK, &err);
	snprintf(path, sizeof(path), "%s/ca.key", ca_dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(ca_dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(path, sizeof(path), "%s/issued", ca_dir);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	snprintf(path, sizeof(path), "%s/index.jsonl", ca_dir);
	CHECK(stat(path, &st) == 0 && st.st_size == 0 && (st.st_mode & 0777) == 0600);

	snprintf(cmd, sizeof(cmd), "openssl pkey -in '%s/ca.key' -noout 2>/dev/null", ca_dir);
	CHECK(check_sh(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "grep -q 'BEGIN PRIVATE KEY' '%s/ca.key'", ca_dir);
	CHECK(check_sh(cmd) == 0); /* PKCS#8 */
	snprintf(cmd, sizeof(cmd), "openssl verify -CAfile '%s/ca.pem' '%s/ca.pem' >/dev/null 2>&1",
		 ca_dir, ca_dir);
	CHECK(check_sh(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s/ca.pem' -noout -text -subject 2>&1",
		 ca_dir);
	text = check_capture(cmd);
	CHECK(text != NULL && strstr(text, "CA:TRUE") != NULL);
	CHECK(text != NULL && strstr(text, "Certificate Sign, CRL Sign") != NULL);
	CHECK(text != NULL && strstr(text, "X509v3 Subject Key Identifier") != NULL);
	CHECK(text != NULL && strstr(text, "X509v3 Authority Key Identifier") != NULL);
	CHECK(text != NULL && strstr(text, "subject=CN = p11enroll local CA") != NULL);
	CHECK(text != NULL && strstr(text, "ASN1 OID: prime256v1") != NULL);
	free(text);

	/* Never twice in one directory. */
	CHECK_RC(p11e_ca_local_init(&p, &err), P11E_EXISTS, &err);
	CHECK(strstr(err.msg, "already exists") != NULL);

	p.key_type = "dsa:1024";
	p.dir = "/nonexistent-should-not-be-created";
	CHECK_RC(p11e_ca_local_init(&p, &err), P11E_USAGE, &err);
	CHECK(stat(p.dir, &st) != 0);
}

static void test_open_errors(void)
{
	char dir[600], path[700];
	p11e_ca_local_init_params p = {.dir = dir,
				       .subject = "/O=Example/CN=Example RSA CA",
				       .key_type = "rsa:2048",
				       .validity_days = 30};
	p11e_err err = {0};
	struct json_object *conf;
	p11e_ca *ca = NULL;

	snprintf(dir, sizeof(dir), "%s/ca-broken", getenv("TEST_TMP"));
	CHECK_RC(p11e_ca_local_init(&p, &err), P11E_OK, &err);
	/* init refuses when just the key is left. */
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	CHECK(unlink(path) == 0);
	CHECK_RC(p11e_ca_local_init(&p, &err), P11E_EXISTS, &err);
	ca = open_ca(dir, P11E_NOT_FOUND);
	CHECK(ca == NULL);

	snprintf(dir, sizeof(dir), "%s/ca-nokey", getenv("TEST_TMP"));
	CHECK_RC(p11e_ca_local_init(&p, &err), P11E_OK, &err);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	CHECK(unlink(path) == 0);
	conf = json_object_new_object();
	json_object_object_add(conf, "type", json_object_new_string("local"));
	json_object_object_add(conf, "dir", json_object_new_string(dir));
	CHECK_RC(p11e_ca_open(conf, &ca, &err), P11E_NOT_FOUND, &err);
	CHECK(strstr(err.msg, "ca.key is missing; run `p11enroll ca init --dir") != NULL);
	CHECK(ca == NULL);
	json_object_put(conf);

	/* Unknown and missing types. */
	conf = json_object_new_object();
	CHECK_RC(p11e_ca_open(conf, &ca, &err), P11E_CONFIG, &err);
	json_object_object_add(conf, "type", json_object_new_string("bogus"));
	CHECK_RC(p11e_ca_open(conf, &ca, &err), P11E_CONFIG, &err);
	/* Further backends are listed after these two. */
	CHECK(strncmp(err.msg, "ca: unknown type 'bogus' (known: local, cfssl",
		      strlen("ca: unknown type 'bogus' (known: local, cfssl")) == 0);
	json_object_put(conf);
	/* local without a dir. */
	conf = json_object_new_object();
	json_object_object_add(conf, "type", json_object_new_string("local"));
	CHECK_RC(p11e_ca_open(conf, &ca, &err), P11E_CONFIG, &err);
	json_object_put(conf);
}

/* Submits req; returns the issued certificate (a new reference) or NULL. */
static X509 *submit(p11e_ca *ca, X509_REQ *req, const char *profile, p11e_ca_state want,
		    char key[65])
{
	p11e_profile p;
	p11e_ca_result res;
	p11e_err err = {0};
	X509 *cert = NULL;

	p11e_profile_builtin(profile, &p, &err);
	request_key(req, key);
	CHECK_RC(p11e_ca_submit(ca, req, &p, key, &res, &err), P11E_OK, &err);
	CHECK(res.state == want);
	if (res.state != want)
		fprintf(stderr, "state %d, reason %s\n", res.state, res.reason);
	CHECK(strcmp(res.request_id, key) == 0);
	if (res.state == P11E_CA_STATE_ISSUED) {
		CHECK(res.cert != NULL && res.chain != NULL && sk_X509_num(res.chain) == 1);
		cert = res.cert;
		X509_up_ref(cert);
	}
	p11e_ca_result_clear(&res);
	CHECK(res.cert == NULL && res.chain == NULL && res.state == 0);
	return cert;
}

static int openssl_verify(X509 *leaf, const char *purpose)
{
	char path[600], cmd[1600];

	snprintf(path, sizeof(path), "%s/leaf.pem", getenv("TEST_TMP"));
	write_cert(leaf, path);
	snprintf(cmd, sizeof(cmd),
		 "openssl verify -CAfile '%s/ca.pem' -purpose %s '%s' >/dev/null 2>&1", ca_dir,
		 purpose, path);
	return check_sh(cmd);
}

static char *leaf_text(X509 *leaf)
{
	char path[600], cmd[800];

	snprintf(path, sizeof(path), "%s/leaf-text.pem", getenv("TEST_TMP"));
	write_cert(leaf, path);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -text 2>&1", path);
	return check_capture(cmd);
}

static void test_issue(EVP_PKEY *rsa, EVP_PKEY *ec, EVP_PKEY *ed)
{
	p11e_ca *ca = open_ca(ca_dir, P11E_OK);
	X509_REQ *req;
	X509 *leaf, *again, *ec_leaf = NULL;
	char key[65], *text;
	int days = -1, secs = -1;

	if (ca == NULL)
		return;

	/* RSA, smime: sign and encrypt. */
	req = make_csr(rsa, "smime", "alice@example.org", NULL);
	leaf = submit(ca, req, "smime", P11E_CA_STATE_ISSUED, key);
	if (leaf != NULL) {
		CHECK(openssl_verify(leaf, "smimesign") == 0);
		CHECK(openssl_verify(leaf, "smimeencrypt") == 0);
		CHECK(X509_get_key_usage(leaf) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
		CHECK(X509_get_extended_key_usage(leaf) == XKU_SMIME);
		text = leaf_text(leaf);
		CHECK(text != NULL && strstr(text, "email:alice@example.org") != NULL);
		CHECK(text != NULL && strstr(text, "CA:FALSE") != NULL);
		CHECK(text != NULL && strstr(text, "Digital Signature, Key Encipherment") != NULL);
		CHECK(text != NULL && strstr(text, "Non Repudiation") == NULL);
		free(text);
		/* 365 days from now (notBefore is 5 minutes back). */
		CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf),
				     X509_get0_notAfter(leaf)) == 1);
		CHECK(days == 365 && secs >= 299 && secs <= 301);

		/* Same request key: the same certificate, one index line. */
		again = submit(ca, req, "smime", P11E_CA_STATE_ISSUED, key);
		CHECK(again != NULL && X509_cmp(leaf, again) == 0);
		X509_free(again);
		CHECK(index_lines_for(key) == 1);

		/* A crash after issued/K.pem but before the index line: put back. */
		{
			char path[600];
			FILE *f;
			snprintf(path, sizeof(path), "%s/index.jsonl", ca_dir);
			f = fopen(path, "w");
			if (f != NULL)
				fclose(f);
			CHECK(index_lines_for(key) == 0);
			again = submit(ca, req, "smime", P11E_CA_STATE_ISSUED, key);
			CHECK(again != NULL && X509_cmp(leaf, again) == 0);
			X509_free(again);
			CHECK(index_lines_for(key) == 1);
		}

		/* poll finds it; an unknown ID is not found, a path is refused. */
		{
			p11e_profile p;
			p11e_ca_result res;
			p11e_err err = {0};
			p11e_profile_builtin("smime", &p, &err);
			CHECK_RC(p11e_ca_poll(ca, key, &p, &res, &err), P11E_OK, &err);
			CHECK(res.state == P11E_CA_STATE_ISSUED && res.cert != NULL &&
			      X509_cmp(res.cert, leaf) == 0);
			p11e_ca_result_clear(&res);
			CHECK_RC(p11e_ca_poll(ca, "00ff", &p, &res, &err), P11E_NOT_FOUND, &err);
			CHECK_RC(p11e_ca_poll(ca, "../ca", &p, &res, &err), P11E_USAGE, &err);
			CHECK_RC(p11e_ca_submit(ca, req, &p, "../../x", &res, &err), P11E_USAGE,
				 &err);
		}
	}
	X509_REQ_free(req);

	/* EC, smime-encrypt: keyAgreement only. */
	req = make_csr(ec, "smime-encrypt", "bob@example.org", "Bob");
	ec_leaf = submit(ca, req, "smime-encrypt", P11E_CA_STATE_ISSUED, key);
	if (ec_leaf != NULL) {
		CHECK(X509_get_key_usage(ec_leaf) == KU_KEY_AGREEMENT);
		CHECK(X509_get_extended_key_usage(ec_leaf) == XKU_SMIME);
		/* OpenSSL's smimeencrypt purpose insists on keyEncipherment, which
		 * an EC key cannot do (RFC 5753: keyAgreement): check the chain. */
		CHECK(openssl_verify(ec_leaf, "any") == 0);
		text = leaf_text(ec_leaf);
		CHECK(text != NULL && strstr(text, "Key Agreement") != NULL);
		free(text);
		/* Two certificates, two random 128-bit serials. */
		if (leaf != NULL) {
			BIGNUM *a = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
			BIGNUM *b = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ec_leaf), NULL);
			CHECK(a != NULL && b != NULL && BN_cmp(a, b) != 0);
			CHECK(a != NULL && !BN_is_negative(a) && BN_num_bits(a) <= 128 &&
			      BN_num_bits(a) > 96);
			CHECK(b != NULL && !BN_is_negative(b) && BN_num_bits(b) <= 128 &&
			      BN_num_bits(b) > 96);
			BN_free(a);
			BN_free(b);
		}
	}
	X509_REQ_free(req);
	X509_free(ec_leaf);
	X509_free(leaf);

	/* EC, smime: the CSR's key usage request is ignored (none here anyway). */
	req = make_csr(ec, "smime", "carol@example.org", NULL);
	leaf = submit(ca, req, "smime", P11E_CA_STATE_ISSUED, key);
	if (leaf != NULL) {
		CHECK(openssl_verify(leaf, "smimesign") == 0);
		CHECK(X509_get_key_usage(leaf) == (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT));
	}
	X509_free(leaf);
	X509_REQ_free(req);

	/* Ed25519, smime-sign. */
	req = make_csr(ed, "smime-sign", "dave@example.org", NULL);
	leaf = submit(ca, req, "smime-sign", P11E_CA_STATE_ISSUED, key);
	if (leaf != NULL) {
		CHECK(openssl_verify(leaf, "smimesign") == 0);
		CHECK(X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE);
	}
	X509_free(leaf);
	X509_REQ_free(req);
	/* ... but not for smime (ed25519 cannot encrypt): refused, not an
	 * error. (Another CN: Ed25519 is deterministic, and the same CSR would
	 * rightly get the certificate it already has.) */
	req = make_csr(ed, "smime-sign", "dave@example.org", "Dave");
	leaf = submit(ca, req, "smime", P11E_CA_STATE_REJECTED, key);
	CHECK(leaf == NULL);
	X509_free(leaf);
	X509_REQ_free(req);

	/* client-auth with an EC key. */
	req = make_csr(ec, "client-auth", "erin@example.org", NULL);
	leaf = submit(ca, req, "client-auth", P11E_CA_STATE_ISSUED, key);
	if (leaf != NULL) {
		CHECK(openssl_verify(leaf, "sslclient") == 0);
		CHECK(X509_get_extended_key_usage(leaf) == XKU_SSL_CLIENT);
		CHECK(X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE);
	}
	X509_free(leaf);
	X509_REQ_free(req);

	p11e_ca_close(ca);
}

static void test_san_and_rejects(EVP_PKEY *ec)
{
	p11e_ca *ca = open_ca(ca_dir, P11E_OK);
	X509_REQ *req, *bad;
	X509 *leaf;
	char key[65], *text;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;

	if (ca == NULL)
		return;
	/* tls-server: the dNSName is kept, EKU serverAuth; the certificate fits
	 * the profile for that host only, and never an S/MIME profile. */
	req = make_raw_csr(ec, "www", "DNS:www.example.org");
	leaf = submit(ca, req, "tls-server", P11E_CA_STATE_ISSUED, key);
	if (leaf != NULL) {
		p11e_profile server, smime;
		p11e_err err = {0};

		p11e_profile_builtin("tls-server", &server, &err);
		p11e_profile_builtin("smime", &smime, &err);
		CHECK(openssl_verify(leaf, "sslserver") == 0);
		CHECK(X509_get_extended_key_usage(leaf) == XKU_SSL_SERVER);
		CHECK_RC(p11e_profile_check_cert(&server, leaf, "WWW.example.org", &err), P11E_OK,
			 &err);
		CHECK_RC(p11e_profile_check_cert(&server, leaf, "api.example.org", &err),
			 P11E_CA_REJECTED, &err);
		CHECK(strstr(err.msg, "api.example.org as a dNSName") != NULL);
		CHECK_RC(p11e_profile_check_cert(&smime, leaf, "www@example.org", &err),
			 P11E_CA_REJECTED, &err);
		CHECK(strstr(err.msg, "emailProtection") != NULL);
	}
	X509_free(leaf);
	X509_REQ_free(req);
	/* ... and a server request without a dNSName is refused. */
	req = make_raw_csr(ec, "www", "email:www@example.org");
	leaf = submit(ca, req, "tls-server", P11E_CA_STATE_REJECTED, key);
	CHECK(leaf == NULL);
	X509_REQ_free(req);

	/* DNS only, client-auth: the DNS name is dropped, and the CSR's
	 * keyCertSign with it. */
	req = make_raw_csr(ec, "agent-7", "DNS:evil.example.org");
	leaf = submit(ca, req, "client-auth", P11E_CA_STATE_ISSUED, key);
	if (leaf != NULL) {
		CHECK(X509_get_ext_by_NID(leaf, NID_subject_alt_name, -1) < 0);
		CHECK(X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE);
		CHECK(openssl_verify(leaf, "sslclient") == 0);
		text = leaf_text(leaf);
		CHECK(text != NULL && strstr(text, "DNS:") == NULL);
		CHECK(text != NULL && strstr(text, "Certificate Sign") == NULL);
		free(text);
	}
	X509_free(leaf);
	X509_REQ_free(req);

	/* DNS only, smime: no address, refused. */
	req = make_raw_csr(ec, "agent-7", "DNS:evil.example.org");
	leaf = submit(ca, req, "smime", P11E_CA_STATE_REJECTED, key);
	CHECK(leaf == NULL);
	X509_REQ_free(req);

	/* Both: the address stays, the DNS name goes. */
	req = make_raw_csr(ec, "frank", "DNS:evil.example.org,email:frank@example.org,URI:x:y");
	leaf = submit(ca, req, "smime", P11E_CA_STATE_ISSUED, key);
	if (leaf != NULL) {
		text = leaf_text(leaf);
		CHECK(text != NULL && strstr(text, "email:frank@example.org") != NULL);
		CHECK(text != NULL && strstr(text, "DNS:") == NULL);
		CHECK(text != NULL && strstr(text, "URI:") == NULL);
		free(text);
		CHECK(openssl_verify(leaf, "smimesign") == 0);
	}
	X509_free(leaf);
	X509_REQ_free(req);

	/* No SAN at all for smime. */
	req = make_csr(ec, "client-auth", NULL, "no-mail");
	{
		p11e_profile prof;
		p11e_ca_result res;
		p11e_err err = {0};
		p11e_profile_builtin("smime", &prof, &err);
		request_key(req, key);
		CHECK_RC(p11e_ca_submit(ca, req, &prof, key, &res, &err), P11E_OK, &err);
		CHECK(res.state == P11E_CA_STATE_REJECTED);
		CHECK(strcmp(res.reason, "no rfc822Name subjectAltName") == 0);
		CHECK(res.cert == NULL);
		p11e_ca_result_clear(&res);
	}
	X509_REQ_free(req);

	/* Tampered: one byte of the signed subject changed. */
	req = make_csr(ec, "smime", "grace@example.org", NULL);
	len = i2d_X509_REQ(req, &der);
	for (int i = 0; der != NULL && i + 5 < len; i++) {
		if (memcmp(der + i, "grace", 5) == 0) {
			der[i] = 'G';
			break;
		}
	}
	p = der;
	bad = d2i_X509_REQ(NULL, &p, len);
	CHECK(bad != NULL);
	if (bad != NULL) {
		p11e_profile prof;
		p11e_ca_result res;
		p11e_err err = {0};
		p11e_profile_builtin("smime", &prof, &err);
		request_key(bad, key);
		CHECK_RC(p11e_ca_submit(ca, bad, &prof, key, &res, &err), P11E_OK, &err);
		CHECK(res.state == P11E_CA_STATE_REJECTED);
		CHECK(strstr(res.reason, "signature") != NULL);
		p11e_ca_result_clear(&res);
		CHECK(index_lines_for(key) == 0);
	}
	OPENSSL_free(der);
	X509_REQ_free(bad);
	X509_REQ_free(req);
	p11e_ca_close(ca);
}

static void test_index_and_chain(void)
{
	p11e_ca *ca = open_ca(ca_dir, P11E_OK);
	STACK_OF(X509) *chain = NULL;
	p11e_err err = {0};
	char path[600], *data, *line, *save = NULL;
	int n = 0, ok = 1;
	X509 *ca_cert;

	if (ca == NULL)
		return;
	CHECK_RC(p11e_ca_chain(ca, &chain, &err), P11E_OK, &err);
	CHECK(chain != NULL && sk_X509_num(chain) == 1);
	snprintf(path, sizeof(path), "%s/ca.pem", ca_dir);
	data = slurp(path);
	{
		BIO *bio = BIO_new_mem_buf(data, -1);
		ca_cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	free(data);
	CHECK(chain != NULL && ca_cert != NULL && X509_cmp(sk_X509_value(chain, 0), ca_cert) == 0);
	X509_free(ca_cert);
	sk_X509_pop_free(chain, X509_free);
	p11e_ca_close(ca);

	/* Every line is a JSON object with every field. */
	snprintf(path, sizeof(path), "%s/index.jsonl", ca_dir);
	data = slurp(path);
	for (line = strtok_r(data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), n++) {
		struct json_object *o = json_tokener_parse(line), *v;
		const char *fields[] = {"serial", "subject", "not_after", "request_key",
					"sha256", "profile", "issued_at"};
		if (o == NULL) {
			ok = 0;
			continue;
		}
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (!json_object_object_get_ex(o, fields[i], &v) ||
			    !json_object_is_type(v, json_type_string) ||
			    json_object_get_string_len(v) == 0)
				ok = 0;
		if (json_object_object_get_ex(o, "not_after", &v) &&
		    strlen(json_object_get_string(v)) != 20)
			ok = 0;
		if (json_object_object_get_ex(o, "sha256", &v) &&
		    strlen(json_object_get_string(v)) != 64)
			ok = 0;
		json_object_put(o);
	}
	free(data);
	CHECK(ok);
	CHECK(n == 8); /* every ISSUED above, each once */
}

/* Several processes submit one request at once: one certificate. */
static void test_concurrent(EVP_PKEY *ec)
{
	X509_REQ *req = make_csr(ec, "smime", "henry@example.org", NULL);
	char key[65];
	pid_t kids[4];
	int ok = 1;

	if (req == NULL)
		return;
	request_key(req, key);
	fflush(NULL);
	for (int i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			p11e_ca *ca = open_ca(ca_dir, P11E_OK);
			p11e_profile p;
			p11e_ca_result res;
			p11e_err err = {0};
			int rc = 1;
			p11e_profile_builtin("smime", &p, &err);
			if (ca != NULL && p11e_ca_submit(ca, req, &p, key, &res, &err) == P11E_OK &&
			    res.state == P11E_CA_STATE_ISSUED)
				rc = 0;
			p11e_ca_result_clear(&res);
			p11e_ca_close(ca);
			_exit(rc);
		}
	}
	for (int i = 0; i < 4; i++) {
		int st = 0;
		if (kids[i] < 0 || waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			ok = 0;
	}
	CHECK(ok);
	CHECK(index_lines_for(key) == 1);
	X509_REQ_free(req);
}

/* CAs with other key types sign what openssl accepts. */
static void test_other_ca_keys(EVP_PKEY *ec, EVP_PKEY *rsa)
{
	const char *types[] = {"ed25519", "rsa:2048", "ec:P-384"};
	char saved[512];

	snprintf(saved, sizeof(saved), "%s", ca_dir);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		p11e_ca_local_init_params p = {
		    .dir = ca_dir, .key_type = types[i], .subject = "/O=Example/CN=Other CA"};
		p11e_err err = {0};
		p11e_ca *ca;
		X509_REQ *req;
		X509 *leaf;
		char key[65];

		snprintf(ca_dir, sizeof(ca_dir), "%s/ca-%zu", getenv("TEST_TMP"), i);
		CHECK_RC(p11e_ca_local_init(&p, &err), P11E_OK, &err);
		ca = open_ca(ca_dir, P11E_OK);
		if (ca == NULL)
			continue;
		req = make_csr(i == 1 ? ec : rsa, "smime", "ivan@example.org", NULL);
		leaf = submit(ca, req, "smime", P11E_CA_STATE_ISSUED, key);
		CHECK(leaf != NULL && openssl_verify(leaf, "smimesign") == 0);
		X509_free(leaf);
		X509_REQ_free(req);
		p11e_ca_close(ca);
	}
	snprintf(ca_dir, sizeof(ca_dir), "%s", saved);
}

int main(void)
{
	const char *tmp = getenv("TEST_TMP");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	if (tmp == NULL) {
		fprintf(stderr, "TEST_TMP is not set: run under tests/with-softhsm.sh\n");
		return 1;
	}
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca/sub", tmp);
	CHECK(rsa != NULL && ec != NULL && ed != NULL);
	test_init();
	test_open_errors();
	test_issue(rsa, ec, ed);
	test_san_and_rejects(ec);
	test_index_and_chain();
	test_concurrent(ec);
	test_other_ca_keys(ec, rsa);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
	return check_done();
}
