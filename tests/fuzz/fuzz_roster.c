/* Fuzz harness: the roster parser (src/core/roster.c), CSV and JSON lines,
 * what HR exports and hand-edited files hold. The first byte picks the mode:
 * bit 0 JSON lines (by the file name) or CSV, bit 1 --allow-extra-columns. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/roster.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	p11e_roster r;
	p11e_err err;
	unsigned mode;

	if (size == 0)
		return 0;
	mode = data[0];
	if (p11e_roster_parse(mode & 1 ? "fuzz.jsonl" : "fuzz.csv", (const char *)data + 1,
			      size - 1, mode & 2 ? P11E_ROSTER_ALLOW_EXTRA_COLUMNS : 0, &r,
			      &err) == P11E_OK) {
		/* Every row is either usable or says why not. */
		for (size_t i = 0; i < r.n; i++)
			if (r.rows[i].error == NULL && r.rows[i].email == NULL)
				abort();
		p11e_roster_clear(&r);
	}
	return 0;
}
