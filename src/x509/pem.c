/* PEM conversions and certificate facts (fingerprint, expiry, email). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "p11enroll/pem.h"
#include "p11enroll/util.h"
#include "x509/x509_internal.h"

char *p11e_bio_to_string(BIO *bio)
{
	char *data = NULL, *out = NULL;
	long len = BIO_get_mem_data(bio, &data);

	if (len < 0)
		return NULL;
	out = malloc((size_t)len + 1);
	if (out == NULL)
		return NULL;
	/* An empty BIO (an empty chain) may hand back data == NULL, and
	 * memcpy from NULL is undefined even for 0 bytes. */
	if (len > 0)
		memcpy(out, data, (size_t)len);
	out[len] = '\0';
	return out;
}

char *p11e_chain_to_pem(STACK_OF(X509) * chain)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;

	if (bio == NULL)
		return NULL;
	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++)
		if (PEM_write_bio_X509(bio, sk_X509_value(chain, i)) != 1)
			goto out;
	out = p11e_bio_to_string(bio);
out:
	BIO_free(bio);
	return out;
}

char *p11e_x509_to_pem(X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;

	if (bio != NULL && PEM_write_bio_X509(bio, cert) == 1)
		out = p11e_bio_to_string(bio);
	BIO_free(bio);
	return out;
}

X509 *p11e_x509_from_pem(const char *pem)
{
	BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *cert = NULL;

	if (bio != NULL)
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return cert;
}

STACK_OF(X509) * p11e_chain_from_pem(const char *pem)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	BIO *bio = NULL;
	X509 *cert;

	if (chain == NULL || pem == NULL || pem[0] == '\0')
		return chain;
	bio = BIO_new_mem_buf(pem, -1);
	if (bio == NULL)
		goto fail;
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(chain, cert) == 0) {
			X509_free(cert);
			goto fail;
		}
	}
	/* The loop ends on "no start line" at the end of input: that is not an error. */
	ERR_clear_error();
	BIO_free(bio);
	return chain;
fail:
	BIO_free(bio);
	sk_X509_pop_free(chain, X509_free);
	return NULL;
}

int p11e_asn1_time_iso(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	return strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 ? -1 : 0;
}

int p11e_x509_sha256_hex(X509 *cert, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1)
		return -1;
	p11e_hex_encode(md, md_len, out);
	return 0;
}

char *p11e_x509_first_email(X509 *cert)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	char *out = NULL;

	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		if (gn->type == GEN_EMAIL) {
			const ASN1_IA5STRING *s = gn->d.rfc822Name;
			out = strndup((const char *)ASN1_STRING_get0_data(s),
				      (size_t)ASN1_STRING_length(s));
			break;
		}
	}
	GENERAL_NAMES_free(names);
	return out;
}
