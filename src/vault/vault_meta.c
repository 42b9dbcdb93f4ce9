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

void vault_meta_parse(const char *text, p11e_vault_meta *meta, char **name)
{
	json_object *o = text != NULL ? json_tokener_parse(text) : NULL;
	const char *n = string_of(o, "name");

	vault_meta_from_json(o, meta);
	if (name != NULL)
		*name = n != NULL && n[0] != '\0' ? strdup(n) : NULL;
	json_object_put(o);
}

char *vault_meta_text(const char *name, const p11e_vault_meta *meta)
{
	json_object *o = json_object_new_object();
	char *out = NULL;

	if (o == NULL)
		return NULL;
	if (name != NULL)
		json_object_object_add(o, "name", json_object_new_string(name));
	vault_meta_to_json(meta, o);
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}
