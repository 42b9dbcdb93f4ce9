/* Fuzz harness: the LDAP publisher's search filter (src/publish/ldap_filter.c):
 * RFC 4515 escaping of an address and its place in the configured template.
 * Input: TEMPLATE '\n' ADDRESS (no newline: all of it is escaped alone).
 * Checked, not only run: the escaped text is printable ASCII with no bare
 * '*', '(' or ')', and unescapes to exactly the input, so no address can
 * widen the search to another entry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/publish.h"

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void check_escaped(const uint8_t *in, size_t len, const char *esc)
{
	size_t k = 0;

	for (const char *e = esc; *e != '\0'; e++, k++) {
		unsigned char c = (unsigned char)*e;
		if (c < 0x20 || c >= 0x7f || c == '*' || c == '(' || c == ')')
			abort();
		if (c == '\\') {
			int hi = hexval(e[1]), lo = hi < 0 ? -1 : hexval(e[2]);
			if (hi < 0 || lo < 0)
				abort();
			c = (unsigned char)(hi * 16 + lo);
			e += 2;
		}
		if (k >= len || in[k] != c)
			abort();
	}
	if (k != len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *esc = malloc(3 * size + 1), *tmpl = NULL, *addr = NULL, out[2048];

	if (esc == NULL)
		return 0;
	if (p11e_ldap_filter_escape((const char *)data, size, esc, 3 * size + 1) != 0)
		abort(); /* always fits in 3 bytes an input byte */
	check_escaped(data, size, esc);
	if (nl != NULL) {
		size_t tl = (size_t)(nl - data), al = size - tl - 1;
		tmpl = malloc(tl + 1);
		addr = malloc(al + 1);
		if (tmpl != NULL && addr != NULL) {
			memcpy(tmpl, data, tl);
			tmpl[tl] = '\0';
			memcpy(addr, nl + 1, al);
			addr[al] = '\0';
			(void)p11e_ldap_filter_build(tmpl, addr, out, sizeof(out));
		}
	}
	free(tmpl);
	free(addr);
	free(esc);
	return 0;
}
