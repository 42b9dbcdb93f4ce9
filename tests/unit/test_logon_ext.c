/* The logon certificate's names and extensions (issue 22), byte for byte
 * against DER written out here by hand from the specifications (RFC 4556
 * appendix A, Microsoft's UPN and KB5014754 SID layouts), then through a CSR
 * and the embedded CA: what it keeps, rebuilds and refuses. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "p11enroll/csr.h"
#include "p11enroll/profile.h"
#include "ca/ca_local.h"
#include "x509/ext_logon.h"

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* hex (spaces ignored) into buf; its length. */
static size_t unhex(const char *hex, unsigned char *buf)
{
	size_t n = 0;

	for (const char *p = hex; *p; p++) {
		if (*p == ' ')
			continue;
		buf[n++] = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
		p++;
	}
	return n;
}

static int der_is(const unsigned char *der, int len, const char *hex)
{
	unsigned char want[1024];
	size_t n = unhex(hex, want);
	int same = len == (int)n && memcmp(der, want, n) == 0;

	if (!same) {
		fprintf(stderr, "got:  ");
		for (int i = 0; i < len; i++)
			fprintf(stderr, "%02X", der[i]);
		fprintf(stderr, "\nwant: %s\n", hex);
	}
	return same;
}

static int name_is(GENERAL_NAME *gn, const char *hex)
{
	unsigned char *der = NULL;
	int len = gn != NULL ? i2d_GENERAL_NAME(gn, &der) : -1;
	int same = len > 0 && der_is(der, len, hex);

	OPENSSL_free(der);
	return same;
}

/* "alice@corp.example.org" (22 bytes), "EXAMPLE.ORG", "alice", ... */
#define UPN_HEX "616C69636540636F72702E6578616D706C652E6F7267"
#define REALM_HEX "4558414D504C452E4F5247"
#define SID "S-1-5-21-1004336348-1177238915-682003330-1106"
#define SID_HEX                                                                                    \
	"532D312D352D32312D313030343333363334382D313137373233383931352D3638323030333333302D3131"   \
	"3036"

static void upn(void)
{
	GENERAL_NAME *gn = p11e_x509_upn_name("alice@corp.example.org");
	char *back;

	/* [0] otherName { OID 1.3.6.1.4.1.311.20.2.3, [0] { UTF8String } } */
	CHECK(name_is(gn, "A0 26 06 0A 2B0601040182371402 03 A0 18 0C 16" UPN_HEX));
	back = p11e_x509_upn_of(gn);
	CHECK(back != NULL && strcmp(back, "alice@corp.example.org") == 0);
	free(back);
	CHECK(p11e_x509_pkinit_san_of(gn) == NULL); /* not the other kind */
	GENERAL_NAME_free(gn);
}

static void pkinit_san(void)
{
	GENERAL_NAME *gn = p11e_x509_pkinit_san_name("alice@EXAMPLE.ORG");
	char *back;

	/* [0] otherName { OID 1.3.6.1.5.2.2, [0] KRB5PrincipalName {
	 *   [0] GeneralString realm, [1] PrincipalName { [0] INTEGER 1,
	 *   [1] SEQUENCE { GeneralString "alice" } } } } */
	CHECK(name_is(gn, "A0 2F 06 06 2B0601050202 A0 25 30 23 A0 0D 1B 0B" REALM_HEX
			  "A1 12 30 10 A0 03 02 01 01 A1 09 30 07 1B 05 616C696365"));
	back = p11e_x509_pkinit_san_of(gn);
	CHECK(back != NULL && strcmp(back, "alice@EXAMPLE.ORG") == 0);
	free(back);
	CHECK(p11e_x509_upn_of(gn) == NULL);
	GENERAL_NAME_free(gn);

	/* A KDC: two components, krbtgt and the realm. */
	gn = p11e_x509_pkinit_san_name("krbtgt/EXAMPLE.ORG@EXAMPLE.ORG");
	CHECK(name_is(gn,
		      "A0 3D 06 06 2B0601050202 A0 33 30 31 A0 0D 1B 0B" REALM_HEX
		      "A1 20 30 1E A0 03 02 01 01 A1 17 30 15 1B 06 6B7262746774 1B 0B" REALM_HEX));
	back = p11e_x509_pkinit_san_of(gn);
	CHECK(back != NULL && strcmp(back, "krbtgt/EXAMPLE.ORG@EXAMPLE.ORG") == 0);
	free(back);
	GENERAL_NAME_free(gn);
}

/* Hostile names decode to nothing: a component holding '@' (it would read
 * as another principal), a realm with a NUL, a UPN that is no UTF8String. */
static void hostile_names(void)
{
	unsigned char der[256];
	const unsigned char *p;
	GENERAL_NAME *gn;
	static const char *const bad[] = {
	    /* name-string "a@b" */
	    "A0 2D 06 06 2B0601050202 A0 23 30 21 A0 0D 1B 0B" REALM_HEX
	    "A1 10 30 0E A0 03 02 01 01 A1 07 30 05 1B 03 614062",
	    /* realm "EX\0" */
	    "A0 25 06 06 2B0601050202 A0 1B 30 19 A0 05 1B 03 455800"
	    "A1 10 30 0E A0 03 02 01 01 A1 07 30 05 1B 03 616263",
	    /* no name-string at all */
	    "A0 26 06 06 2B0601050202 A0 1C 30 1A A0 0D 1B 0B" REALM_HEX
	    "A1 09 30 07 A0 03 02 01 01 A1 00",
	    /* the UPN as an IA5String */
	    "A0 10 06 0A 2B0601040182371402 03 A0 02 16 00",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = unhex(bad[i], der);
		p = der;
		gn = d2i_GENERAL_NAME(NULL, &p, (long)n);
		CHECK(gn != NULL);
		CHECK(p11e_x509_pkinit_san_of(gn) == NULL && p11e_x509_upn_of(gn) == NULL);
		GENERAL_NAME_free(gn);
	}
}

static void sid_ext(void)
{
	X509_EXTENSION *ext = p11e_x509_sid_ext(SID);
	unsigned char *der = NULL, buf[256];
	const unsigned char *p;
	int len = ext != NULL ? i2d_X509_EXTENSION(ext, &der) : -1;
	char *back;
	size_t n;

	/* Extension { OID 1.3.6.1.4.1.311.25.2, OCTET STRING { SEQUENCE {
	 *   [0] otherName { OID 1.3.6.1.4.1.311.25.2.1, [0] { OCTET STRING SID } } } } },
	 * not critical. */
	CHECK(len > 0 && der_is(der, len,
				"30 4E 06 09 2B0601040182371902 04 41 30 3F A0 3D 06 0A "
				"2B060104018237190201 A0 2F 04 2D" SID_HEX));
	back = p11e_x509_sid_of(ext);
	CHECK(back != NULL && strcmp(back, SID) == 0);
	free(back);
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);

	/* Two names: not one SID. */
	n = unhex("30 2B 06 09 2B0601040182371902 04 1E 30 1C"
		  "A0 0C 06 0A 2B060104018237190201 A0 0C 06 0A 2B060104018237190201",
		  buf);
	p = buf;
	ext = d2i_X509_EXTENSION(NULL, &p, (long)n);
	CHECK(ext != NULL && p11e_x509_sid_of(ext) == NULL);
	X509_EXTENSION_free(ext);
}

/* The extension of req (or cert) with this NID or OID text, DER of its value. */
static int ext_value_is(const STACK_OF(X509_EXTENSION) * exts, const char *oid, const char *hex)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int at = obj != NULL ? X509v3_get_ext_by_OBJ(exts, obj, -1) : -1;
	ASN1_OCTET_STRING *v = at >= 0 ? X509_EXTENSION_get_data(X509v3_get_ext(exts, at)) : NULL;
	int same = v != NULL && der_is(ASN1_STRING_get0_data(v), ASN1_STRING_length(v), hex);

	ASN1_OBJECT_free(obj);
	return same;
}

static X509 *self_signed_ca(EVP_PKEY *key)
{
	X509 *ca = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"Test CA", -1, -1,
				   0);
	X509_set_version(ca, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
	X509_set_subject_name(ca, n);
	X509_set_issuer_name(ca, n);
	X509_gmtime_adj(X509_getm_notBefore(ca), 0);
	X509_gmtime_adj(X509_getm_notAfter(ca), 3600);
	X509_set_pubkey(ca, key);
	/* The issued certificates' authorityKeyIdentifier needs the CA's. */
	{
		unsigned char md[20];
		unsigned int mdlen = 0;
		ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
		X509_pubkey_digest(ca, EVP_sha1(), md, &mdlen);
		ASN1_OCTET_STRING_set(ski, md, (int)mdlen);
		X509_add1_ext_i2d(ca, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT);
		ASN1_OCTET_STRING_free(ski);
	}
	X509_sign(ca, key, EVP_sha256());
	X509_NAME_free(n);
	return ca;
}

/* A CSR for smartcard-logon, and what the embedded CA makes of it. */
static void csr_and_ca(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048), *ca_key = EVP_EC_gen("P-256");
	p11e_profile logon, kdc;
	p11e_csr_params cp = {.email = "alice@example.org",
			      .name = "Alice",
			      .upn = "alice@corp.example.org",
			      .principal = "alice@EXAMPLE.ORG",
			      .sid = SID};
	p11e_ca_local ca = {.dir = (char *)"(test)"};
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_REQ *req = NULL;
	X509 *cert = NULL;
	char reason[256] = "";
	p11e_err err = {0};

	p11e_profile_builtin("smartcard-logon", &logon, &err);
	p11e_profile_builtin("kdc", &kdc, &err);
	cp.profile = &logon;
	ca.key = ca_key;
	ca.cert = self_signed_ca(ca_key);
	CHECK_RC(p11e_csr_build(key, key, &cp, &req, &err), P11E_OK, &err);
	exts = req != NULL ? X509_REQ_get_extensions(req) : NULL;
	/* SAN: rfc822Name, then the UPN, then id-pkinit-san. */
	CHECK(ext_value_is(exts, "2.5.29.17",
			   "30 6C 81 11 616C696365406578616D706C652E6F7267"
			   "A0 26 06 0A 2B0601040182371402 03 A0 18 0C 16" UPN_HEX
			   "A0 2F 06 06 2B0601050202 A0 25 30 23 A0 0D 1B 0B" REALM_HEX
			   "A1 12 30 10 A0 03 02 01 01 A1 09 30 07 1B 05 616C696365"));
	/* EKU: clientAuth, msSmartcardLogin, id-pkinit-KPClientAuth. */
	CHECK(ext_value_is(exts, "2.5.29.37",
			   "30 1F 06 08 2B06010505070302 06 0A 2B0601040182371402 02"
			   "06 07 2B0601050203 04"));
	/* keyUsage: digitalSignature, keyEncipherment (RSA). */
	CHECK(ext_value_is(exts, "2.5.29.15", "03 02 05 A0"));
	CHECK(ext_value_is(exts, "1.3.6.1.4.1.311.25.2",
			   "30 3F A0 3D 06 0A 2B060104018237190201 A0 2F 04 2D" SID_HEX));
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);

	CHECK_RC(p11e_ca_local_issue(&ca, req, &logon, &cert, reason, sizeof(reason), &err),
		 P11E_OK, &err);
	CHECK(cert != NULL && reason[0] == '\0');
	if (cert != NULL) {
		const STACK_OF(X509_EXTENSION) *ce = X509_get0_extensions(cert);
		CHECK(ext_value_is(ce, "2.5.29.17",
				   "30 6C 81 11 616C696365406578616D706C652E6F7267"
				   "A0 26 06 0A 2B0601040182371402 03 A0 18 0C 16" UPN_HEX
				   "A0 2F 06 06 2B0601050202 A0 25 30 23 A0 0D 1B 0B" REALM_HEX
				   "A1 12 30 10 A0 03 02 01 01 A1 09 30 07 1B 05 616C696365"));
		CHECK(ext_value_is(ce, "1.3.6.1.4.1.311.25.2",
				   "30 3F A0 3D 06 0A 2B060104018237190201 A0 2F 04 2D" SID_HEX));
		CHECK_RC(p11e_profile_check_logon(&logon, cert, cp.upn, cp.principal, cp.sid, &err),
			 P11E_OK, &err);
		CHECK_RC(p11e_profile_check_logon(&logon, cert, "bob@corp.example.org", NULL, NULL,
						  &err),
			 P11E_CA_REJECTED, &err);
		CHECK(strstr(err.msg, "without the UPN bob@corp.example.org") != NULL);
	}
	X509_free(cert);
	cert = NULL;

	/* The same request under a profile without logon names: all dropped, and
	 * the logon check says what a CA like that leaves out. */
	{
		p11e_profile client;
		p11e_profile_builtin("client-auth", &client, &err);
		CHECK_RC(
		    p11e_ca_local_issue(&ca, req, &client, &cert, reason, sizeof(reason), &err),
		    P11E_OK, &err);
		CHECK(cert != NULL && X509_get_ext_by_NID(cert, NID_subject_alt_name, -1) >= 0);
		if (cert != NULL) {
			const STACK_OF(X509_EXTENSION) *ce = X509_get0_extensions(cert);
			CHECK(ext_value_is(ce, "2.5.29.17",
					   "30 13 81 11 616C696365406578616D706C652E6F7267"));
			CHECK(!ext_value_is(ce, "1.3.6.1.4.1.311.25.2", ""));
			CHECK_RC(p11e_profile_check_logon(&logon, cert, cp.upn, cp.principal,
							  cp.sid, &err),
				 P11E_CA_REJECTED, &err);
			CHECK(strstr(err.msg, "smartcard logon") != NULL);
		}
		X509_free(cert);
		cert = NULL;
	}
	X509_REQ_free(req);
	req = NULL;

	/* A realm in lower case in a request: refused by the CA. */
	cp.principal = "alice@example.org";
	CHECK_RC(p11e_csr_build(key, key, &cp, &req, &err), P11E_OK, &err);
	CHECK_RC(p11e_ca_local_issue(&ca, req, &logon, &cert, reason, sizeof(reason), &err),
		 P11E_OK, &err);
	CHECK(cert == NULL && strstr(reason, "the realm must be upper case") != NULL);
	X509_REQ_free(req);
	req = NULL;
	/* A malformed SID: refused. */
	cp.principal = "alice@EXAMPLE.ORG";
	cp.sid = "S-1-5-x";
	CHECK_RC(p11e_csr_build(key, key, &cp, &req, &err), P11E_OK, &err);
	CHECK_RC(p11e_ca_local_issue(&ca, req, &logon, &cert, reason, sizeof(reason), &err),
		 P11E_OK, &err);
	CHECK(cert == NULL && strncmp(reason, "SID extension: 'S-1-5-x' is not a SID", 37) == 0);
	X509_REQ_free(req);
	req = NULL;

	/* kdc: dNSName then id-pkinit-san; EKU serverAuth, id-pkinit-KPKdc. */
	{
		p11e_csr_params kp = {.dns = "kdc.example.org",
				      .principal = "krbtgt/EXAMPLE.ORG@EXAMPLE.ORG",
				      .profile = &kdc};
		CHECK_RC(p11e_csr_build(key, key, &kp, &req, &err), P11E_OK, &err);
		CHECK_RC(p11e_ca_local_issue(&ca, req, &kdc, &cert, reason, sizeof(reason), &err),
			 P11E_OK, &err);
		CHECK(cert != NULL);
		if (cert != NULL) {
			const STACK_OF(X509_EXTENSION) *ce = X509_get0_extensions(cert);
			CHECK(ext_value_is(
			    ce, "2.5.29.17",
			    "30 50 82 0F 6B64632E6578616D706C652E6F7267"
			    "A0 3D 06 06 2B0601050202 A0 33 30 31 A0 0D 1B 0B" REALM_HEX
			    "A1 20 30 1E A0 03 02 01 01 A1 17 30 15 1B 06 6B7262746774 1B "
			    "0B" REALM_HEX));
			CHECK(ext_value_is(ce, "2.5.29.37",
					   "30 13 06 08 2B06010505070301 06 07 2B0601050203 05"));
			CHECK_RC(
			    p11e_profile_check_logon(&kdc, cert, NULL, kp.principal, NULL, &err),
			    P11E_OK, &err);
		}
	}
	X509_free(cert);
	X509_REQ_free(req);
	X509_free(ca.cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

int main(void)
{
	upn();
	pkinit_san();
	hostile_names();
	sid_ext();
	csr_and_ca();
	return check_done();
}
