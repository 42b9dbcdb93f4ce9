/* Fuzz harness: STATE_DIR/audit.head's parser (src/core/audit_parse.c): the
 * log it is about, its last seq and hash, and the log file's print. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/audit_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	p11e_audit_head h;
	p11e_err err;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (p11e_audit_head_parse("fuzz.head", text, "/state/audit.jsonl", &h, &err) == P11E_OK) {
		/* A head for another log vouches for nothing here. */
		if (!h.found || (!h.this_log && h.seq != 0) || h.seq < 0 ||
		    strlen(h.hash) != 64)
			abort();
	}
	free(text);
	return 0;
}
