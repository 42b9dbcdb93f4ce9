/* Fuzz harness: an ACME server's answers (src/ca/ca_acme_parse.c). The first
 * byte picks the parser (0 directory, 1 account, 2 problem, 3 order,
 * 4 authorization with its challenges); the rest is the answer. */
#include <stdint.h>
#include <stddef.h>
#include "ca/ca_acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	char buf[300];
	acme_order_doc order;
	acme_authz_doc authz;

	if (size < 1)
		return 0;
	size--;
	switch (data[0] % 5) {
	case 0:
		json_object_put(acme_parse_directory(body, size));
		break;
	case 1:
		acme_parse_account(body, size, buf, sizeof(buf));
		break;
	case 2:
		acme_parse_problem(body, size, buf, sizeof(buf));
		break;
	case 3:
		if (acme_parse_order(body, size, &order) == 0)
			acme_order_doc_clear(&order);
		break;
	default:
		if (acme_parse_authz(body, size, &authz) == 0)
			acme_authz_doc_clear(&authz);
		break;
	}
	return 0;
}
