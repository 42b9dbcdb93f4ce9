/* Hostile answers from a Vault / OpenBao server fed to the vault-kv2
 * parsers (src/vault/vault_kv2_parse.c) without a server. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "p11enroll/util.h"
#include "vault/vault_kv2.h"

#define LEN(s) s, strlen(s)

static void errors(void)
{
	char buf[200];

	kv2_parse_error(LEN("{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}"),
			buf, sizeof(buf));
	CHECK(strcmp(buf, "1 error occurred: * permission denied") == 0);
	kv2_parse_error(LEN("{\"errors\":1}"), buf, sizeof(buf));
	CHECK(buf[0] == '\0');
	kv2_parse_error(LEN("{\"errors\":[null]}"), buf, sizeof(buf));
	CHECK(buf[0] == '\0');
	kv2_parse_error(LEN("{\"errors\":[\"a\\u009b2Jb\\u007f\"]}"), buf, sizeof(buf));
	CHECK(strcmp(buf, "a??2Jb?") == 0);
}

static void secret(void)
{
	unsigned char *s = NULL;
	size_t n = 0;

	CHECK(kv2_parse_secret(LEN("{\"data\":{\"data\":{\"secret\":\"pw\"}}}"), &s, &n) == 0 &&
	      n == 2 && memcmp(s, "pw", 2) == 0);
	p11e_secret_free((char *)s, n);
	CHECK(kv2_parse_secret(LEN("{\"data\":{\"data\":{\"secret_base64\":\"AAEC/w==\"}}}"), &s,
			       &n) == 0 &&
	      n == 4 && s[3] == 0xff);
	p11e_secret_free((char *)s, n);
	CHECK(kv2_parse_secret(LEN("{\"data\":{\"data\":{\"secret_base64\":\"AAE\"}}}"), &s, &n) ==
	      -2);
	CHECK(kv2_parse_secret(LEN("{\"data\":{\"data\":{\"secret\":5}}}"), &s, &n) == -1);
	CHECK(kv2_parse_secret(LEN("{\"data\":{\"data\":null}}"), &s, &n) == -1);
	CHECK(kv2_parse_secret(LEN("{\"data\":\"x\"}"), &s, &n) == -1);
	CHECK(kv2_parse_secret(LEN("{\"data\":[{\"data\":1}]}"), &s, &n) == -1);
	CHECK(kv2_parse_secret(LEN("[]"), &s, &n) == -1 && s == NULL);
}

static void list(void)
{
	char **names = NULL;
	size_t n = 0;

	CHECK(kv2_parse_list(LEN("{\"data\":{\"keys\":[\"a\",\"dir/\",5,null,\"\",\"b\"]}}"),
			     &names, &n) == 0);
	CHECK(n == 2 && strcmp(names[0], "a") == 0 && strcmp(names[1], "b") == 0);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	CHECK(kv2_parse_list(LEN("{\"data\":{\"keys\":\"a\"}}"), &names, &n) == -1);
	CHECK(kv2_parse_list(LEN("{\"data\":1}"), &names, &n) == -1);
	CHECK(kv2_parse_list(LEN("{\"data\":{\"keys\":[]}}"), &names, &n) == 0 && n == 0);
	free(names);
}

static void login(void)
{
	char *t = NULL;

	CHECK(kv2_parse_login(LEN("{\"auth\":{\"client_token\":\"hvs.X\"}}"), &t) == 0 &&
	      strcmp(t, "hvs.X") == 0);
	p11e_secret_free(t, (size_t)-1);
	/* A token that would end the header line and add one of its own. */
	CHECK(kv2_parse_login(LEN("{\"auth\":{\"client_token\":\"a\\r\\nX-Evil: 1\"}}"), &t) == -1);
	CHECK(kv2_parse_login(LEN("{\"auth\":{\"client_token\":7}}"), &t) == -1);
	CHECK(kv2_parse_login(LEN("{\"auth\":\"x\"}"), &t) == -1);
	CHECK(kv2_parse_login(LEN("{\"auth\":{\"client_token\":\"\"}}"), &t) == -1 && t == NULL);
}

int main(void)
{
	errors();
	secret();
	list();
	login();
	return check_done();
}
