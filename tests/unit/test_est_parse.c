/* An EST server's answers fed to the est backend's parsers
 * (src/ca/ca_est_parse.c) without a server: the fuzz corpus's seeds
 * (tests/fuzz/corpus/est, first byte the harness's selector), each with
 * what it must give, and base64 and Content-Type edge cases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "ca/ca_est.h"

#define LEN(s) s, strlen(s)

/* The seed's bytes after the selector byte, malloc'd. */
static char *seed(const char *name, size_t *len)
{
	const char *dir = getenv("TESTS_DIR");
	char path[1024], *buf = NULL;
	long n;
	FILE *f;

	*len = 0;
	snprintf(path, sizeof(path), "%s/fuzz/corpus/est/%s", dir ? dir : "tests", name);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 1, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n)) != NULL)
		*len = fread(buf, 1, (size_t)n - 1, f);
	fclose(f);
	return buf;
}

/* The number of certificates a base64 seed gives, -1 when refused (why in
 * *why), -2 when the seed is missing. */
static int certs_of(const char *name, int der, const char **why)
{
	STACK_OF(X509) *certs = NULL;
	size_t len;
	char *data = seed(name, &len);
	int n;

	*why = NULL;
	if (data == NULL)
		return -2;
	if (der)
		n = est_parse_certs_der((unsigned char *)data, len, &certs, why);
	else
		n = est_parse_certs(data, len, &certs, why);
	if (n == 0)
		n = sk_X509_num(certs);
	sk_X509_pop_free(certs, X509_free);
	free(data);
	return n;
}

static void seeds(void)
{
	const char *why;

	CHECK(certs_of("cacerts-one-line", 0, &why) == 1);
	CHECK(certs_of("cacerts-crlf-wrapped", 0, &why) == 1); /* RFC 2045 lines */
	CHECK(certs_of("leaf-and-ca", 0, &why) == 2);
	CHECK(certs_of("der-leaf-and-ca", 1, &why) == 2);
	CHECK(certs_of("truncated-base64", 0, &why) == -1 && why != NULL);
	CHECK(certs_of("truncated-der", 0, &why) == -1 && strstr(why, "truncated") != NULL);
	CHECK(certs_of("bad-padding", 0, &why) == -1 && strstr(why, "base64") != NULL);
	CHECK(certs_of("not-base64", 0, &why) == -1 && strstr(why, "base64") != NULL);
	CHECK(certs_of("empty", 0, &why) == -1 && strstr(why, "empty") != NULL);
	CHECK(certs_of("der-stray-bytes", 1, &why) == -1 && strstr(why, "stray") != NULL);
	CHECK(certs_of("der-signed-not-certs-only", 1, &why) == -1 &&
	      strstr(why, "not certs-only") != NULL);
	CHECK(certs_of("der-a-certificate", 1, &why) == -1);
}

static void chain(void)
{
	STACK_OF(X509) *certs = NULL, *ch;
	const char *why;
	size_t len;
	char *data = seed("leaf-and-ca", &len);

	CHECK(data != NULL && est_parse_certs(data, len, &certs, &why) == 0);
	if (certs != NULL && sk_X509_num(certs) == 2) {
		X509 *leaf = sk_X509_value(certs, 0), *ca = sk_X509_value(certs, 1);
		/* crl2pkcs7 keeps the file's order: the leaf first */
		if (X509_check_ca(leaf))
			leaf = ca, ca = sk_X509_value(certs, 0);
		ch = est_chain_for(leaf, certs);
		CHECK(ch != NULL && sk_X509_num(ch) == 1 &&
		      X509_cmp(sk_X509_value(ch, 0), ca) == 0);
		sk_X509_pop_free(ch, X509_free);
		ch = est_chain_for(ca, certs); /* a root: nothing above it */
		CHECK(ch != NULL && sk_X509_num(ch) == 0);
		sk_X509_pop_free(ch, X509_free);
		CHECK(est_find_for_key(certs, X509_get0_pubkey(ca)) == ca);
	}
	sk_X509_pop_free(certs, X509_free);
	free(data);
}

static void base64(void)
{
	unsigned char *der = NULL;
	size_t n = 0;
	const char *why;

	CHECK(est_base64_decode(LEN("aGk="), &der, &n, &why) == 0 && n == 2 &&
	      memcmp(der, "hi", 2) == 0);
	free(der);
	CHECK(est_base64_decode(LEN(" aG\r\nk= \n"), &der, &n, &why) == 0 && n == 2);
	free(der);
	CHECK(est_base64_decode(LEN("aGk"), &der, &n, &why) == -1 && der == NULL);
	CHECK(est_base64_decode(LEN("a==="), &der, &n, &why) == -1);
	CHECK(est_base64_decode(LEN("aG=k"), &der, &n, &why) == -1);
	CHECK(est_base64_decode(LEN("aGk=aGk="), &der, &n, &why) == -1);
	CHECK(est_base64_decode(LEN("   "), &der, &n, &why) == -1 && strstr(why, "empty"));
}

static void content_type(void)
{
	CHECK(est_content_type_is("application/pkcs7-mime", "application/pkcs7-mime"));
	CHECK(est_content_type_is("Application/PKCS7-MIME; smime-type=certs-only",
				  "application/pkcs7-mime"));
	CHECK(!est_content_type_is("application/pkcs7-mimex", "application/pkcs7-mime"));
	CHECK(!est_content_type_is("text/plain", "application/pkcs7-mime"));
	CHECK(!est_content_type_is(NULL, "application/pkcs7-mime"));
}

int main(void)
{
	seeds();
	chain();
	base64();
	content_type();
	return check_done();
}
