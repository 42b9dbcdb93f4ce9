/* Fuzz harness: a Vault / OpenBao server's answers
 * (src/vault/vault_kv2_parse.c). The first byte picks the parser (0 error
 * envelope, 1 KV v2 read, 2 LIST, 3 AppRole login, 4 and up: metadata read); the rest
 * is the answer. */
#include <stdint.h>
#include <stdlib.h>
#include "p11enroll/util.h"
#include "vault/vault_kv2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	char buf[200], **names = NULL, *token = NULL;
	unsigned char *secret = NULL;
	size_t n = 0;
	p11e_vault_meta meta;

	if (size < 1)
		return 0;
	size--;
	switch (data[0] % 8) { /* ASCII digits 0-4 name the seeds */
	case 0:
		kv2_parse_error(body, size, buf, sizeof(buf));
		break;
	case 1:
		if (kv2_parse_secret(body, size, &secret, &n) == 0)
			p11e_secret_free((char *)secret, n);
		break;
	case 2:
		if (kv2_parse_list(body, size, &names, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				free(names[i]);
			free(names);
		}
		break;
	case 3:
		if (kv2_parse_login(body, size, &token) == 0)
			p11e_secret_free(token, (size_t)-1);
		break;
	default:
		kv2_parse_meta(body, size, &meta);
		break;
	}
	return 0;
}
