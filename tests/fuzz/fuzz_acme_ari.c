/* Fuzz harness: ACME Renewal Information (RFC 9773, src/ca/ca_acme_ari.c).
 * The first byte picks what the rest is: 0 a RenewalInfo answer, 1 an
 * RFC 3339 time, 2 a directory (its renewalInfo kept only as a URL), 3 a DER
 * certificate whose certID is computed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ca/ca_acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	acme_ari_doc doc;

	if (size < 1)
		return 0;
	size--;
	switch (data[0] % 4) {
	case 0:
		acme_parse_renewal_info(body, size, &doc);
		break;
	case 1: {
		char *s = malloc(size + 1);
		long long t;
		if (s == NULL)
			return 0;
		memcpy(s, body, size);
		s[size] = '\0';
		acme_rfc3339_parse(s, &t);
		free(s);
		break;
	}
	case 2:
		json_object_put(acme_parse_directory(body, size));
		break;
	default: {
		const unsigned char *p = (const unsigned char *)body;
		X509 *cert = d2i_X509(NULL, &p, (long)size);
		char *id = NULL;
		if (cert != NULL && acme_ari_cert_id(cert, &id, NULL) == P11E_OK)
			free(id);
		X509_free(cert);
		break;
	}
	}
	return 0;
}
