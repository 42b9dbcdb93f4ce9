/* Fuzz harness: certsrv's pages and downloads (src/ca/ca_certsrv_parse.c).
 * The first byte picks the reader (0 certfnsh.asp's answer, 1 certnew.cer as
 * a certificate, 2 certnew.cer as a page, 3 certcarc.asp, 4 certnew.p7b); the
 * rest is the answer. */
#include <stdint.h>
#include <openssl/x509.h>
#include "ca/ca_certsrv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	certsrv_answer a;
	STACK_OF(X509) *chain = NULL;
	X509 *cert = NULL;
	int n;

	if (size < 1)
		return 0;
	size--;
	switch (data[0] % 5) {
	case 0:
		certsrv_parse_submit(body, size, &a);
		break;
	case 1:
		certsrv_parse_cert("application/pkix-cert", body, size, &cert, &a);
		X509_free(cert);
		break;
	case 2:
		certsrv_parse_cert("text/html", body, size, &cert, &a);
		X509_free(cert);
		break;
	case 3:
		certsrv_parse_renewals(body, size, &n);
		break;
	default:
		if (certsrv_parse_chain(body, size, &chain) == 0)
			sk_X509_pop_free(chain, X509_free);
		break;
	}
	return 0;
}
