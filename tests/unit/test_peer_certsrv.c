/* certsrv's pages and downloads fed to their readers
 * (src/ca/ca_certsrv_parse.c) without a server: each disposition, ids at
 * and past their bounds, hostile text, broken certificates and chains. */
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include "check.h"
#include "ca/ca_certsrv.h"

#define LEN(s) s, strlen(s)

static void submit_pages(void)
{
	certsrv_answer a;

	CHECK(certsrv_parse_submit(LEN("<A Href=\"certnew.cer?ReqID=42&amp;Enc=b64\">"), &a) == 0);
	CHECK(a.disposition == CERTSRV_ISSUED && a.req_id == 42);
	CHECK(certsrv_parse_submit(LEN("<P>Your Request Id is 7.<P>"), &a) == 0);
	CHECK(a.disposition == CERTSRV_PENDING && a.req_id == 7 &&
	      strcmp(a.message, "Taken Under Submission") == 0);
	CHECK(certsrv_parse_submit(LEN("The disposition message is \"Denied by Policy Module  "
				       "0x80094012\"."),
				   &a) == 0);
	CHECK(a.disposition == CERTSRV_DENIED &&
	      strcmp(a.message, "Denied by Policy Module  0x80094012") == 0);
	/* Control characters in the CA's words never survive. */
	CHECK(certsrv_parse_submit(LEN("The disposition message is \"x\x1b]0;t\x07y\""), &a) == 0);
	CHECK(strchr(a.message, 0x1b) == NULL && strchr(a.message, 7) == NULL);
	/* Ids: 0, past 2^31-1, no digits, no terminator: not an answer. */
	CHECK(certsrv_parse_submit(LEN("certnew.cer?ReqID=0&"), &a) == -1);
	CHECK(certsrv_parse_submit(LEN("certnew.cer?ReqID=2147483648&"), &a) == -1);
	CHECK(certsrv_parse_submit(LEN("certnew.cer?ReqID=2147483647&"), &a) == 0 &&
	      a.req_id == 2147483647L);
	CHECK(certsrv_parse_submit(LEN("certnew.cer?ReqID=&"), &a) == -1);
	CHECK(certsrv_parse_submit(LEN("certnew.cer?ReqID=12"), &a) == -1);
	CHECK(certsrv_parse_submit(LEN("Your Request Id is 99999999999999999999."), &a) == -1);
	CHECK(certsrv_parse_submit(LEN("<H1>Welcome</H1>"), &a) == -1 &&
	      a.disposition == CERTSRV_UNKNOWN);
	/* A NUL before the marker does not hide it; one inside the id ends it. */
	CHECK(certsrv_parse_submit("x\0Your Request Id is 5.",
				   sizeof("x\0Your Request Id is 5.") - 1, &a) == 0 &&
	      a.req_id == 5);
	CHECK(certsrv_parse_submit("certnew.cer?ReqID=4\0&", sizeof("certnew.cer?ReqID=4\0&") - 1,
				   &a) == -1);
}

static X509 *self_signed(EVP_PKEY **keyp)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
	X509_set_issuer_name(x, n);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_sign(x, key, EVP_sha256());
	*keyp = key;
	return x;
}

static char *pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)n);
	BIO_free(b);
	return out;
}

static void cert_answers(void)
{
	EVP_PKEY *key;
	X509 *x = self_signed(&key), *got = NULL;
	char *pem = pem_of(x);
	unsigned char *der = NULL;
	int der_len = i2d_X509(x, &der);
	certsrv_answer a;

	CHECK(certsrv_parse_cert("application/pkix-cert", LEN(pem), &got, &a) == 0);
	CHECK(a.disposition == CERTSRV_ISSUED && got != NULL && X509_cmp(got, x) == 0);
	X509_free(got);
	CHECK(certsrv_parse_cert("application/pkix-cert; charset=x", (const char *)der,
				 (size_t)der_len, &got, &a) == 0 &&
	      got != NULL);
	X509_free(got);
	/* DER with a trailing byte, half a PEM, another type. */
	CHECK(certsrv_parse_cert("application/pkix-cert", (const char *)der, (size_t)der_len - 1,
				 &got, &a) == -1 &&
	      got == NULL);
	CHECK(certsrv_parse_cert("application/pkix-cert", pem, strlen(pem) / 2, &got, &a) == -1);
	CHECK(certsrv_parse_cert("application/pkix-certificate", LEN(pem), &got, &a) == -1);
	CHECK(certsrv_parse_cert(NULL, LEN(pem), &got, &a) == -1);
	/* The pages about a request. */
	CHECK(certsrv_parse_cert("text/html",
				 LEN("<P>Disposition message:\t\tTaken Under "
				     "Submission\r\n"),
				 &got, &a) == 0);
	CHECK(a.disposition == CERTSRV_PENDING && got == NULL);
	CHECK(certsrv_parse_cert(
		  "text/html", LEN("<TD>Disposition message:</TD><TD>Denied by Policy Module</TD>"),
		  &got, &a) == 0);
	CHECK(a.disposition == CERTSRV_DENIED && strcmp(a.message, "Denied by Policy Module") == 0);
	CHECK(certsrv_parse_cert("text/html", LEN("Disposition message:\t\t\r\n"), &got, &a) == -1);
	CHECK(certsrv_parse_cert("text/html", LEN("Disposition message:<unterminated"), &got, &a) ==
	      -1);
	CHECK(certsrv_parse_cert("text/html", LEN("<H1>Server Error</H1>"), &got, &a) == -1);
	free(pem);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void renewals_and_chain(void)
{
	EVP_PKEY *key;
	X509 *x = self_signed(&key);
	PKCS7 *p7 = PKCS7_new();
	unsigned char *der = NULL;
	int der_len, n = -1;
	STACK_OF(X509) *got = NULL;
	BIO *b64 = BIO_new(BIO_f_base64()), *mem = BIO_new(BIO_s_mem());
	char *text;
	long text_len;

	CHECK(certsrv_parse_renewals(LEN("var nRenewals=0;"), &n) == 0 && n == 0);
	CHECK(certsrv_parse_renewals(LEN("<Script>var nRenewals=3;</Script>"), &n) == 0 && n == 3);
	CHECK(certsrv_parse_renewals(LEN("var nRenewals=;"), &n) == -1);
	CHECK(certsrv_parse_renewals(LEN("var nRenewals=123456;"), &n) == -1);
	CHECK(certsrv_parse_renewals(LEN("var nRenewals=2"), &n) == -1);

	PKCS7_set_type(p7, NID_pkcs7_signed);
	PKCS7_content_new(p7, NID_pkcs7_data);
	PKCS7_add_certificate(p7, x);
	der_len = i2d_PKCS7(p7, &der);
	CHECK(certsrv_parse_chain((const char *)der, (size_t)der_len, &got) == 0 &&
	      sk_X509_num(got) == 1 && X509_cmp(sk_X509_value(got, 0), x) == 0);
	sk_X509_pop_free(got, X509_free);
	/* Base64 with line breaks, as certnew.p7b?Enc=b64 sends it. */
	mem = BIO_push(b64, mem);
	BIO_write(mem, der, der_len);
	(void)BIO_flush(mem);
	text_len = BIO_get_mem_data(BIO_next(mem), &text);
	CHECK(certsrv_parse_chain(text, (size_t)text_len, &got) == 0 && sk_X509_num(got) == 1);
	sk_X509_pop_free(got, X509_free);
	/* Broken: cut DER, base64 with a stray byte, data after padding, empty. */
	CHECK(certsrv_parse_chain((const char *)der, (size_t)der_len - 3, &got) == -1 &&
	      got == NULL);
	CHECK(certsrv_parse_chain(LEN("MIIB!AAA"), &got) == -1);
	CHECK(certsrv_parse_chain(LEN("MA==MA=="), &got) == -1);
	CHECK(certsrv_parse_chain("", 0, &got) == -1);
	CHECK(certsrv_parse_chain(LEN("-----BEGIN PKCS7-----\nMAA=\n"), &got) == -1);
	BIO_free_all(mem);
	OPENSSL_free(der);
	PKCS7_free(p7);
	X509_free(x);
	EVP_PKEY_free(key);
}

int main(void)
{
	submit_pages();
	cert_answers();
	renewals_and_chain();
	return check_done();
}
