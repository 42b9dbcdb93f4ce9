/* Fuzz harness: the enrollment record parser (src/core/record.c), which reads
 * what a previous run, or someone editing the state directory, left. */
#include <stdint.h>
#include <stdlib.h>
#include "p11enroll/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p11e_record r;
	p11e_err err;

	if (p11e_record_parse("fuzz.json", (const char *)data, size, &r, &err) == P11E_OK) {
		/* A parsed record always has what load promises. */
		if (r.identity == NULL || r.identity[0] == '\0')
			abort();
		p11e_record_clear(&r);
	}
	return 0;
}
