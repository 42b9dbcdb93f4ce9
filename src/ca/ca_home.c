/* The homes of CA backends' own documents (ca_home.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "ca/ca_home.h"
#include "p11enroll/util.h"

int ca_url_hash(const char *url, char hash[17])
{
	unsigned char md[32];
	char hex[65];

	if (EVP_Digest(url, strlen(url), md, NULL, EVP_sha256(), NULL) != 1)
		return -1;
	p11e_hex_encode(md, sizeof(md), hex);
	snprintf(hash, 17, "%.16s", hex);
	return 0;
}

char *ca_home_default_dir(const char *state_dir, const char *prefix, const char *hash)
{
	const char *env = getenv("P11ENROLL_STATE_DIR"), *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *base = NULL, *out, name[64];

	if (state_dir != NULL && state_dir[0] == '/')
		base = strdup(state_dir);
	else if (env != NULL && env[0] != '\0')
		base = strdup(env);
	else if (xdg != NULL && xdg[0] == '/')
		base = p11e_path_join(xdg, "p11enroll");
	else if (home != NULL && home[0] == '/')
		base = p11e_path_join(home, ".local/state/p11enroll");
	snprintf(name, sizeof(name), "%s-%s", prefix, hash);
	out = base ? p11e_path_join(base, name) : NULL;
	free(base);
	return out;
}
