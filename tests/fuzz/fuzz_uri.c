/* Fuzz harness: the RFC 7512 PKCS#11 URI parser (src/util/uri.c), which reads
 * what users type and what rosters and records hold. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	p11e_uri uri;
	p11e_err err;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&uri, 0, sizeof(uri));
	if (p11e_uri_parse(text, &uri, &err) == P11E_OK)
		p11e_uri_clear(&uri);
	free(text);
	return 0;
}
