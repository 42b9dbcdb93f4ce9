/* Fuzz harness: a CyberArk PVWA server's answers
 * (src/vault/vault_cyberark_parse.c). The first byte picks the parser (0
 * error, 1 Logon token, 2 Retrieve password, 3 Get accounts, 5 a Central
 * Credential Provider answer, 4 and the rest: Add account id); the rest is
 * the answer. */
#include <stdint.h>
#include <stdlib.h>
#include "p11enroll/util.h"
#include "vault/vault_cyberark.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	char buf[300], *s = NULL;
	unsigned char *secret = NULL;
	cyberark_account *accts = NULL;
	size_t n = 0, seen = 0;

	if (size < 1)
		return 0;
	size--;
	switch (data[0] % 8) { /* ASCII digits 0-5 name the seeds */
	case 0:
		cyberark_parse_error(body, size, buf, sizeof(buf));
		break;
	case 1:
		if (cyberark_parse_token(body, size, &s) == 0)
			p11e_secret_free(s, (size_t)-1);
		break;
	case 2:
		if (cyberark_parse_password(body, size, &secret, &n) == 0)
			p11e_secret_free((char *)secret, n);
		break;
	case 3:
		if (cyberark_parse_accounts(body, size, "PKI", &accts, &n, &seen) == 0)
			cyberark_accounts_free(accts, n);
		break;
	case 5:
		if (cyberark_parse_ccp(body, size, "a@b.org", &secret, &n) == 0)
			p11e_secret_free((char *)secret, n);
		break;
	default:
		if (cyberark_parse_account_id(body, size, &s) == 0)
			free(s);
		break;
	}
	return 0;
}
