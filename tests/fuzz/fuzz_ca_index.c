/* Fuzz harness: the embedded CA's index.jsonl parser (src/ca/ca_local_revoke.c),
 * which CRLs and revocations read: a file an operator may have edited or a
 * crash may have cut. */
#include <stdint.h>
#include <stddef.h>
#include "ca/ca_local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p11e_ca_local_index ix;
	p11e_err err;

	if (p11e_ca_local_index_parse((const char *)data, size, &ix, &err) == P11E_OK)
		p11e_ca_local_index_clear(&ix);
	return 0;
}
