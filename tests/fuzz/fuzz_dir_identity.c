/* Fuzz harness: identities from the directory (src/publish/ldap_identity.c):
 * the binary objectSid decoder and the entry parser, what a directory
 * answers being hostile until checked.
 * Input: the whole of it is first decoded as a SID; then it is read as an
 * entry: records of one byte choosing the attribute (userPrincipalName,
 * objectSid, displayName, or another name), one byte of length, and that
 * many bytes of value.
 * Checked, not only run: a SID decodes only at exactly 8 + 4n bytes, to
 * "S-1-" and printable ASCII; a parsed identity has a UPN with one '@' and
 * no byte below 0x21, and a SID that decodes the same way. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/directory.h"

static void check_sid_text(const char *t)
{
	if (strncmp(t, "S-1-", 4) != 0)
		abort();
	for (const char *c = t; *c; c++)
		if (*c < 0x21 || *c > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"userPrincipalName", "objectSid", "displayName",
					    "mail"};
	p11e_dir_value v[64];
	p11e_dir_identity id;
	char text[P11E_SID_TEXT_MAX];
	size_t n = 0, at = 0;

	if (p11e_sid_to_text(data, size, text, sizeof(text)) == 0) {
		if (size < 12 || size != 8 + 4 * (size_t)data[1])
			abort();
		check_sid_text(text);
	}
	while (at + 2 <= size && n < sizeof(v) / sizeof(v[0])) {
		size_t len = data[at + 1];
		if (len > size - at - 2)
			len = size - at - 2;
		v[n++] = (p11e_dir_value){names[data[at] % 4], data + at + 2, len};
		at += 2 + len;
	}
	if (p11e_dir_identity_parse(v, n, "fuzz", &id, NULL) == P11E_OK) {
		const char *a = strchr(id.upn, '@');
		if (a == NULL || a == id.upn || strchr(a + 1, '@') != NULL)
			abort();
		for (const unsigned char *c = (const unsigned char *)id.upn; *c; c++)
			if (*c < 0x21 || *c == 0x7f)
				abort();
		check_sid_text(id.sid);
		p11e_dir_identity_clear(&id);
	}
	return 0;
}
