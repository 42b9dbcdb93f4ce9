/* Publishers without a directory: RFC 4515 filter escaping, the filter
 * template, the attribute forms each directory kind takes, the PKCS#7 value,
 * the config's "publishers" and profiles' "publish" (strict), which
 * publishers a profile publishes to, and what an ldap entry refuses at open
 * (tests/integration/publish_ldap.sh has the directory). */
#include <string.h>
#include <stdlib.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <json-c/json.h>
#include "check.h"
#include "p11enroll/config.h"
#include "p11enroll/publish.h"

static void test_escape(void)
{
	char out[64];

	CHECK(p11e_ldap_filter_escape("alice@example.org", 17, out, sizeof(out)) == 0);
	CHECK(strcmp(out, "alice@example.org") == 0);
	/* RFC 4515 section 3's specials, and NUL inside the value. */
	CHECK(p11e_ldap_filter_escape("a*b(c)d\\e", 9, out, sizeof(out)) == 0);
	CHECK(strcmp(out, "a\\2ab\\28c\\29d\\5ce") == 0);
	CHECK(p11e_ldap_filter_escape("a\0b", 3, out, sizeof(out)) == 0);
	CHECK(strcmp(out, "a\\00b") == 0);
	/* Controls and non-ASCII bytes too: the filter stays printable ASCII. */
	CHECK(p11e_ldap_filter_escape("\xc3\xa9\n", 3, out, sizeof(out)) == 0);
	CHECK(strcmp(out, "\\c3\\a9\\0a") == 0);
	/* Too small: refused, never cut. */
	CHECK(p11e_ldap_filter_escape("***", 3, out, 9) == -1);
	CHECK(p11e_ldap_filter_escape("***", 3, out, 10) == 0);
	CHECK(p11e_ldap_filter_escape("", 0, out, 1) == 0 && out[0] == '\0');
}

static void test_build(void)
{
	char out[256];

	CHECK(p11e_ldap_filter_build("(mail=%s)", "a*@x", out, sizeof(out)) == 0);
	CHECK(strcmp(out, "(mail=a\\2a@x)") == 0);
	/* An injection attempt stays one assertion value. */
	CHECK(p11e_ldap_filter_build("(mail=%s)", "x)(|(mail=*", out, sizeof(out)) == 0);
	CHECK(strcmp(out, "(mail=x\\29\\28|\\28mail=\\2a)") == 0);
	CHECK(p11e_ldap_filter_build("(|(mail=%s)(otherMailbox=%s))", "b@x", out, sizeof(out)) ==
	      0);
	CHECK(strcmp(out, "(|(mail=b@x)(otherMailbox=b@x))") == 0);
	CHECK(p11e_ldap_filter_build("(&(mail=%s)(x=100%%))", "c@x", out, sizeof(out)) == 0);
	CHECK(strcmp(out, "(&(mail=c@x)(x=100%))") == 0);
	CHECK(p11e_ldap_filter_build("(mail=%d)", "c@x", out, sizeof(out)) == -1);
	CHECK(p11e_ldap_filter_build("(mail=%", "c@x", out, sizeof(out)) == -1);
	CHECK(p11e_ldap_filter_build("(mail=%s)", "abcdefgh", out, 14) == -1);
	CHECK(p11e_ldap_filter_build("(mail=%s)", "abcdefgh", out, 16) == 0);
}

static void test_attributes(void)
{
	const char *const *a;

	CHECK(p11e_ldap_attribute_form("userCertificate;binary") == P11E_LDAP_DER);
	CHECK(p11e_ldap_attribute_form("usercertificate") == P11E_LDAP_DER);
	CHECK(p11e_ldap_attribute_form("userSMIMECertificate") == P11E_LDAP_PKCS7);
	CHECK(p11e_ldap_attribute_form("cACertificate;binary") == 0);
	CHECK(p11e_ldap_attribute_form("mail") == 0);
	/* slapd takes only ;binary, AD only the plain name. */
	a = p11e_ldap_directory_attributes("openldap");
	CHECK(a != NULL && strcmp(a[0], "userCertificate;binary") == 0 &&
	      strcmp(a[1], "userSMIMECertificate") == 0 && a[2] == NULL);
	a = p11e_ldap_directory_attributes("ad");
	CHECK(a != NULL && strcmp(a[0], "userCertificate") == 0 &&
	      strcmp(a[1], "userSMIMECertificate") == 0 && a[2] == NULL);
	CHECK(p11e_ldap_directory_attributes(NULL) == p11e_ldap_directory_attributes("openldap"));
	CHECK(p11e_ldap_directory_attributes("389ds") == NULL);
}

static X509 *make_cert(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *c = X509_new();

	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 7);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
				   (const unsigned char *)"t", -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(c));
	X509_gmtime_adj(X509_getm_notBefore(c), 0);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_set_pubkey(c, k);
	X509_sign(c, k, EVP_sha256());
	EVP_PKEY_free(k);
	return c;
}

static void test_pkcs7(void)
{
	X509 *cert = make_cert();
	unsigned char *der = NULL, *der2 = NULL;
	const unsigned char *p;
	int len = 0, len2 = 0;
	p11e_err err = {0};
	PKCS7 *p7;

	CHECK_RC(p11e_ldap_pkcs7_of(cert, &der, &len, &err), P11E_OK, &err);
	p = der;
	p7 = d2i_PKCS7(NULL, &p, len);
	CHECK(p7 != NULL && PKCS7_type_is_signed(p7));
	/* Certs-only: exactly the certificate, no signer. */
	CHECK(p7 != NULL && sk_X509_num(p7->d.sign->cert) == 1 &&
	      X509_cmp(sk_X509_value(p7->d.sign->cert, 0), cert) == 0 &&
	      sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info) == 0);
	/* The same bytes every time: publishing again finds the value. */
	CHECK_RC(p11e_ldap_pkcs7_of(cert, &der2, &len2, &err), P11E_OK, &err);
	CHECK(len == len2 && memcmp(der, der2, (size_t)len) == 0);
	PKCS7_free(p7);
	OPENSSL_free(der);
	OPENSSL_free(der2);
	X509_free(cert);
}

static p11e_rc parse(const char *text, p11e_config *c, p11e_err *err)
{
	setenv("P11ENROLL_STATE_DIR", "/tmp/p11e-test-publish", 1);
	return p11e_config_parse("/etc/t/config.json", text, strlen(text), c, err);
}

#define GAL                                                                                        \
	"\"gal\": {\"type\": \"ldap\", \"url\": \"ldaps://ldap.example/\", \"base_dn\": "          \
	"\"dc=example\", \"bind_dn\": \"cn=p\", \"bind_password_source\": \"file:pw\", "           \
	"\"ca_bundle\": \"ca.pem\"}"

static void test_config(void)
{
	p11e_config c;
	p11e_err err = {0};
	char *t = NULL;

	CHECK_RC(parse("{\"publishers\": {" GAL ", \"alt\": {\"type\": \"ldap\", \"url\": "
		       "\"ldap://127.0.0.1:389/\", \"base_dn\": \"o=x\"}, \"nohist\": {\"type\": "
		       "\"ldap\", \"url\": \"ldaps://h/\", \"base_dn\": \"o=x\", "
		       "\"keep_encryption_history\": false}}, \"profiles\": {"
		       "\"none\": {\"publish\": []}, \"one\": {\"publish\": [\"alt\"]},"
		       "\"tls\": {\"base\": \"client-auth\"}}}",
		       &c, &err),
		 P11E_OK, &err);
	/* Relative paths resolved like a CA's (ca_bundle, *_source). */
	{
		json_object *pubs, *gal, *v;
		json_object_object_get_ex(c.root, "publishers", &pubs);
		json_object_object_get_ex(pubs, "gal", &gal);
		CHECK(json_object_object_get_ex(gal, "ca_bundle", &v) &&
		      strcmp(json_object_get_string(v), "/etc/t/ca.pem") == 0);
		CHECK(json_object_object_get_ex(gal, "bind_password_source", &v) &&
		      strcmp(json_object_get_string(v), "file:/etc/t/pw") == 0);
	}
	/* Encryption history kept unless an entry says not. */
	CHECK(p11e_publish_keeps_encryption_history(&c, "gal") == 1);
	CHECK(p11e_publish_keeps_encryption_history(&c, "nohist") == 0);
	CHECK(p11e_publish_keeps_encryption_history(&c, "nosuch") == -1);
	/* S/MIME profiles: every publisher, sorted; an explicit list; [] none. */
	CHECK_RC(p11e_publish_targets(&c, "smime", &t, &err), P11E_OK, &err);
	CHECK(t != NULL && strcmp(t, "alt gal nohist") == 0);
	free(t);
	CHECK_RC(p11e_publish_targets(&c, "smime-sign", &t, &err), P11E_OK, &err);
	CHECK(t != NULL && strcmp(t, "alt gal nohist") == 0);
	free(t);
	CHECK_RC(p11e_publish_targets(&c, "one", &t, &err), P11E_OK, &err);
	CHECK(t != NULL && strcmp(t, "alt") == 0);
	free(t);
	CHECK_RC(p11e_publish_targets(&c, "none", &t, &err), P11E_OK, &err);
	CHECK(t != NULL && strcmp(t, "") == 0);
	free(t);
	/* Not S/MIME: nothing unless the profile says. */
	CHECK_RC(p11e_publish_targets(&c, "tls", &t, &err), P11E_OK, &err);
	CHECK(t != NULL && strcmp(t, "") == 0);
	free(t);
	CHECK_RC(p11e_publish_targets(&c, "client-auth", &t, &err), P11E_OK, &err);
	CHECK(t != NULL && strcmp(t, "") == 0);
	free(t);
	p11e_config_clear(&c);

	/* No publishers: S/MIME publishes nowhere. */
	CHECK_RC(parse("{}", &c, &err), P11E_OK, &err);
	CHECK_RC(p11e_publish_targets(&c, "smime", &t, &err), P11E_OK, &err);
	CHECK(t != NULL && strcmp(t, "") == 0);
	free(t);
	p11e_config_clear(&c);

	/* Strict: a typo names its path; unknown type; a profile naming no publisher. */
	CHECK_RC(parse("{\"publishers\": {\"gal\": {\"type\": \"ldap\", \"url\": \"ldaps://h/\", "
		       "\"base_dn\": \"o=x\", \"bind_pasword_source\": \"env:X\"}}}",
		       &c, &err),
		 P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "publishers.gal.bind_pasword_source") != NULL);
	CHECK_RC(parse("{\"publishers\": {\"gal\": {\"type\": \"x500\"}}}", &c, &err), P11E_CONFIG,
		 &err);
	CHECK(strstr(err.msg, "not a publisher type") != NULL);
	CHECK_RC(parse("{\"publishers\": {\"gal\": {\"url\": \"ldaps://h/\"}}}", &c, &err),
		 P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "publishers.gal needs a string \"type\"") != NULL);
	CHECK_RC(parse("{\"publishers\": []}", &c, &err), P11E_CONFIG, &err);
	CHECK_RC(parse("{\"publishers\": {" GAL "}, \"profiles\": {\"p\": {\"publish\": "
		       "[\"gla\"]}}}",
		       &c, &err),
		 P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "profiles.p.publish[0]") != NULL);
	CHECK_RC(parse("{\"profiles\": {\"p\": {\"publish\": \"gal\"}}}", &c, &err), P11E_CONFIG,
		 &err);
	CHECK(strstr(err.msg, "profiles.p.publish must be a list") != NULL);
}

/* What an entry refuses before any connection. */
static p11e_rc open_entry(const char *entry, p11e_err *err)
{
	char text[1024];
	p11e_config c;
	p11e_publisher *p = NULL;
	p11e_rc rc;

	snprintf(text, sizeof(text), "{\"publishers\": {\"d\": %s}}", entry);
	if ((rc = parse(text, &c, err)) != P11E_OK)
		return rc;
	rc = p11e_publisher_open(&c, "d", &p, err);
	p11e_publisher_close(p);
	p11e_config_clear(&c);
	return rc;
}

#define E(rest) "{\"type\": \"ldap\", \"base_dn\": \"o=x\", " rest "}"

static void test_open(void)
{
	p11e_err err = {0};
	p11e_config c;
	p11e_publisher *p = NULL;

	CHECK_RC(open_entry(E("\"url\": \"ldaps://ldap.example/\""), &err), P11E_OK, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldap://ldap.example/\", \"starttls\": true"), &err),
		 P11E_OK, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldap://localhost:3389/\""), &err), P11E_OK, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldap://[::1]:3389\""), &err), P11E_OK, &err);
	/* The bind password would travel in the clear to another machine. */
	CHECK_RC(open_entry(E("\"url\": \"ldap://ldap.example/\""), &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "plain ldap:// connection is allowed only to this machine") != NULL);
	CHECK_RC(open_entry(E("\"url\": \"ldap://127.0.0.1.evil.example/\""), &err), P11E_CONFIG,
		 &err);
	CHECK_RC(open_entry(E("\"url\": \"ldap://localhost@evil/\""), &err), P11E_CONFIG, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"starttls\": true"), &err), P11E_CONFIG,
		 &err);
	CHECK_RC(open_entry(E("\"url\": \"http://h/\""), &err), P11E_CONFIG, &err);
	CHECK_RC(open_entry("{\"type\": \"ldap\", \"url\": \"ldaps://h/\"}", &err), P11E_CONFIG,
		 &err);
	CHECK(strstr(err.msg, "publishers.d.base_dn: required") != NULL);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"bind_dn\": \"cn=x\""), &err), P11E_CONFIG,
		 &err);
	CHECK(strstr(err.msg, "bind_password_source") != NULL);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"filter\": \"(mail=x)\""), &err),
		 P11E_CONFIG, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"filter\": \"(mail=%d)\""), &err),
		 P11E_CONFIG, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"directory\": \"ad\""), &err), P11E_OK,
		 &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"directory\": \"389ds\""), &err),
		 P11E_CONFIG, &err);
	CHECK_RC(
	    open_entry(E("\"url\": \"ldaps://h/\", \"attributes\": [\"userCertificate\"]"), &err),
	    P11E_OK, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"attributes\": [\"mail\"]"), &err),
		 P11E_CONFIG, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"attributes\": []"), &err), P11E_CONFIG,
		 &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"directory\": \"ad\", \"attributes\": "
			      "[\"userCertificate\"]"),
			    &err),
		 P11E_CONFIG, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"timeout\": 0"), &err), P11E_CONFIG, &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"timeout\": \"5\""), &err), P11E_CONFIG,
		 &err);
	CHECK_RC(open_entry(E("\"url\": \"ldaps://h/\", \"starttls\": 1"), &err), P11E_CONFIG,
		 &err);
	/* A name not in "publishers". */
	CHECK_RC(parse("{}", &c, &err), P11E_OK, &err);
	CHECK_RC(p11e_publisher_open(&c, "gal", &p, &err), P11E_CONFIG, &err);
	CHECK(p == NULL);
	p11e_config_clear(&c);
}

int main(void)
{
	test_escape();
	test_build();
	test_attributes();
	test_pkcs7();
	test_config();
	test_open();
	return check_done();
}
