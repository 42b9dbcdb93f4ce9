/* Fuzz harness: CFSSL's answers (cfssl_parse_answer, src/ca/ca_cfssl.c),
 * which come from a network peer. */
#include <stdint.h>
#include <stddef.h>
#include "ca/ca_cfssl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cfssl_answer a;

	cfssl_parse_answer((const char *)data, size, &a);
	cfssl_answer_clear(&a);
	return 0;
}
