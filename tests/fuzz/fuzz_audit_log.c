/* Fuzz harness: the audit log's chain walk (src/core/audit_parse.c), which
 * reads a log anyone with the state directory's owner's rights may have
 * edited: every line a JSON object with "seq" and "prev" (the SHA-256 of the
 * line before), lines without "seq" only before the chain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/audit_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *copy;
	p11e_audit_chain c;
	p11e_err err;
	p11e_rc rc;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	copy = malloc(size + 1);
	if (copy != NULL)
		memcpy(copy, text, size + 1);
	rc = p11e_audit_walk("fuzz.jsonl", text, size, &c, &err);
	/* What the walk promises: the text given back as it was, a bad line
	 * named within the lines read, none when intact. */
	if (copy != NULL && memcmp(copy, text, size + 1) != 0)
		abort();
	if (rc == P11E_OK ? c.bad != 0 : (c.bad == 0 || c.bad > c.lines))
		abort();
	if (strlen(c.hash) != 64 || c.seq < 0)
		abort();
	free(copy);
	free(text);
	return 0;
}
