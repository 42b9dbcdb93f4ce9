/* Every path under STATE_DIR in one place: see core/state_paths.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "core/state_paths.h"
#include "p11enroll/util.h"

char *p11e_state_base_name(const char *name)
{
	return p11e_state_base_name_max(name, P11E_STATE_BASE_MAX);
}

char *p11e_state_base_name_max(const char *name, size_t max)
{
	size_t len = strlen(name), n;
	char *out = p11e_name_escape(name, 0);

	if (out == NULL)
		return NULL;
	n = strlen(out);
	if (n > max) {
		/* Too long for a file name: a hash, which fits any name. */
		unsigned char md[SHA256_DIGEST_LENGTH];
		SHA256((const unsigned char *)name, len, md);
		memcpy(out, "SHA256-", 7);
		p11e_hex_encode(md, sizeof(md), out + 7);
	}
	return out;
}

/* STATE_DIR/SUB/<base>EXT */
static char *state_file(const char *state_dir, const char *sub, const char *name, const char *ext)
{
	char *dir = p11e_path_join(state_dir, sub), *base = p11e_state_base_name(name);
	char *file = NULL, *out = NULL;
	size_t len;

	if (dir == NULL || base == NULL)
		goto out;
	len = strlen(base) + strlen(ext) + 1;
	if ((file = malloc(len)) == NULL)
		goto out;
	snprintf(file, len, "%s%s", base, ext);
	out = p11e_path_join(dir, file);
out:
	free(file);
	free(base);
	free(dir);
	return out;
}

char *p11e_state_record_path(const char *state_dir, const char *identity)
{
	return state_file(state_dir, "identities", identity, ".json");
}

char *p11e_state_lock_path(const char *state_dir, const char *kind, const char *name)
{
	char *sub = NULL, *out;
	size_t len = strlen("locks/") + strlen(kind) + 1;

	if ((sub = malloc(len)) == NULL)
		return NULL;
	snprintf(sub, len, "locks/%s", kind);
	out = state_file(state_dir, sub, name, ".lock");
	free(sub);
	return out;
}

char *p11e_state_audit_path(const char *state_dir)
{
	return p11e_path_join(state_dir, "audit.jsonl");
}

char *p11e_state_audit_head_path(const char *state_dir)
{
	return p11e_path_join(state_dir, "audit.head");
}

char *p11e_state_acme_dir(const char *state_dir, const char *url)
{
	unsigned char md[32];
	char hex[65], name[32];

	if (EVP_Digest(url, strlen(url), md, NULL, EVP_sha256(), NULL) != 1)
		return NULL;
	p11e_hex_encode(md, sizeof(md), hex);
	snprintf(name, sizeof(name), "acme-%.16s", hex);
	return p11e_path_join(state_dir, name);
}
