/* Fuzz harness: DigiCert CertCentral's answers (src/ca/ca_digicert_parse.c).
 * The first byte picks the parser (0 error envelope, 1 order, 2 order list,
 * 3 new order or reissue, 4 revocation request, 5 list of reissues); the rest
 * is the answer. */
#include <stdint.h>
#include <stdlib.h>
#include "ca/ca_digicert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	char buf[300];
	int64_t ids[DIGICERT_LOOKUP_MAX], id;
	size_t n;
	char *pem;
	digicert_order_doc doc;

	if (size < 1)
		return 0;
	size--;
	switch (data[0] % 6) {
	case 0:
		digicert_parse_errors(body, size, 400, buf, sizeof(buf));
		break;
	case 1:
		if (digicert_parse_order(body, size, "0123abcd", &doc) == 0)
			digicert_order_doc_clear(&doc);
		break;
	case 2:
		digicert_parse_order_list(body, size, "secure_email_mailbox", ids,
					  DIGICERT_LOOKUP_MAX, &n);
		break;
	case 3:
		if (digicert_parse_new_order(body, size, &id, &pem) == 0)
			free(pem);
		break;
	case 4:
		digicert_parse_revoke(body, size, &id, buf, sizeof(buf));
		break;
	default:
		digicert_parse_reissues(
		    body, size, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		    "0a", &id, buf, sizeof(buf));
		break;
	}
	return 0;
}
