/* Fuzz harness: an EST server's answers (src/ca/ca_est_parse.c). The first
 * byte picks what the rest is: even, a /cacerts or /simpleenroll body
 * (base64 of certs-only CMS, est_parse_certs), whose certificates are then
 * chained as a renewal would (est_chain_for, est_find_for_key); odd, the
 * DER alone (est_parse_certs_der); and the Content-Type test on the rest as
 * text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "ca/ca_est.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs = NULL;
	const char *why = NULL;
	char *text;
	int rc;

	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		rc = est_parse_certs((const char *)data + 1, size - 1, &certs, &why);
	else
		rc = est_parse_certs_der(data + 1, size - 1, &certs, &why);
	if (rc == 0) {
		X509 *leaf = sk_X509_value(certs, 0);
		STACK_OF(X509) *chain = est_chain_for(leaf, certs);
		EVP_PKEY *pub = X509_get0_pubkey(leaf);

		if (pub != NULL && est_find_for_key(certs, pub) == NULL)
			abort(); /* the leaf's own key must find a certificate */
		sk_X509_pop_free(chain, X509_free);
		sk_X509_pop_free(certs, X509_free);
	} else if (why == NULL || certs != NULL) {
		abort(); /* a failure always says why and hands back nothing */
	}
	if ((text = malloc(size)) != NULL) {
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		(void)est_content_type_is(text, "application/pkcs7-mime");
		free(text);
	}
	return 0;
}
