/* Escrow metadata as JSON (vault_meta.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "p11enroll/clock.h"
#include "p11enroll/util.h"
#include "vault/vault_meta.h"

#define META_MAX 4096

static const char *string_of(const json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static void copy_time(char *out, size_t cap, const char *s)
{
	if (s != NULL && strlen(s) < cap && p11e_iso_parse(s) != (time_t)-1)
		strcpy(out, s);
}

void vault_meta_from_json(const json_object *o, p11e_vault_meta *meta)
{
	const char *h = string_of(o, "cert_sha256");

	copy_time(meta->created, sizeof(meta->created), string_of(o, "created"));
	copy_time(meta->not_after, sizeof(meta->not_after), string_of(o, "not_after"));
	if (h != NULL && strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64)
		strcpy(meta->cert_sha256, h);
}

void vault_meta_to_json(const p11e_vault_meta *meta, json_object *o)
{
	if (meta->created[0])
		json_object_object_add(o, "created", json_object_new_string(meta->created));
	if (meta->not_after[0])
		json_object_object_add(o, "not_after", json_object_new_string(meta->not_after));
	if (meta->cert_sha256[0])
		json_object_object_add(o, "cert_sha256", json_object_new_string(meta->cert_sha256));
}

void vault_meta_merge(p11e_vault_meta *dst, const p11e_vault_meta *src)
{
	if (src->created[0])
		memcpy(dst->created, src->created, sizeof(dst->created));
	if (src->not_after[0])
		memcpy(dst->not_after, src->not_after, sizeof(dst->not_after));
	if (src->cert_sha256[0])
		memcpy(dst->cert_sha256, src->cert_sha256, sizeof(dst->cert_sha256));
}

static char *meta_path(const char *cms_path)
{
	size_t n = strlen(cms_path);
	char *out = malloc(n + 2);

	if (out == NULL)
		return NULL;
	memcpy(out, cms_path, n + 1);
	if (n >= 4 && strcmp(out + n - 4, ".cms") == 0)
		strcpy(out + n - 4, ".meta");
	else
		strcat(out, "~");
	return out;
}

void vault_meta_file_read(const char *cms_path, p11e_vault_meta *meta)
{
	char *path = meta_path(cms_path), *data = NULL;
	size_t len = 0;
	p11e_err ignored = {0};

	/* Through p11e_read_private: never a link, only our own 0600 file. */
	if (path != NULL && p11e_read_private(path, META_MAX, &data, &len, &ignored) == P11E_OK) {
		json_object *o = json_tokener_parse(data);
		vault_meta_from_json(o, meta);
		json_object_put(o);
	}
	free(data);
	free(path);
}

char *vault_meta_file_name(const char *cms_path)
{
	char *path = meta_path(cms_path), *data = NULL, *out = NULL;
	size_t len = 0;
	p11e_err ignored = {0};

	if (path != NULL && p11e_read_private(path, META_MAX, &data, &len, &ignored) == P11E_OK) {
		json_object *o = json_tokener_parse(data);
		const char *name = string_of(o, "name");
		if (name != NULL && name[0] != '\0')
			out = strdup(name);
		json_object_put(o);
	}
	free(data);
	free(path);
	return out;
}

p11e_rc vault_meta_file_write(const char *cms_path, const char *name, const p11e_vault_meta *meta,
			      p11e_err *err)
{
	char *path = meta_path(cms_path);
	json_object *o = json_object_new_object();
	const char *text;
	p11e_rc rc;

	if (path == NULL || o == NULL) {
		free(path);
		json_object_put(o);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	if (name != NULL)
		json_object_object_add(o, "name", json_object_new_string(name));
	vault_meta_to_json(meta, o);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	rc = p11e_write_file_atomic(path, text, strlen(text), 0600, err);
	json_object_put(o);
	free(path);
	return rc;
}

p11e_rc vault_meta_file_remove(const char *cms_path, p11e_err *err)
{
	char *path = meta_path(cms_path);
	p11e_rc rc = P11E_OK;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (unlink(path) != 0 && errno != ENOENT)
		rc =
		    p11e_errf(err, P11E_FAIL, "vault: cannot delete %s: %s", path, strerror(errno));
	free(path);
	return rc;
}
