/* The parsers of what a Vault / OpenBao server answers (vault_kv2.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "p11enroll/peer.h"
#include "p11enroll/util.h"
#include "vault/vault_kv2.h"
#include "vault/vault_meta.h"

/* Wipes a string held by a json-c object in place. */
static void wipe_json_string(json_object *s)
{
	if (s != NULL && json_object_is_type(s, json_type_string))
		OPENSSL_cleanse((char *)json_object_get_string(s),
				(size_t)json_object_get_string_len(s));
}

/* A member that must be an object, or NULL. */
static json_object *member_object(json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_object))
		return v;
	return NULL;
}

void kv2_parse_error(const char *body, size_t len, char *out, size_t cap)
{
	json_object *o = p11e_peer_json_object(body, len), *errs, *first;
	const char *s = NULL;
	size_t n = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (o != NULL && json_object_object_get_ex(o, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array) && json_object_array_length(errs) > 0 &&
	    (first = json_object_array_get_idx(errs, 0)) != NULL &&
	    json_object_is_type(first, json_type_string))
		s = json_object_get_string(first);
	for (; s != NULL && *s && n + 1 < cap; s++) {
		/* "1 error occurred:\n\t* permission denied\n\n" -> one line */
		char c = (unsigned char)*s < 0x20 ? ' ' : *s;
		if (c == ' ' && (n == 0 || out[n - 1] == ' '))
			continue;
		out[n++] = c;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	p11e_peer_clean(out);
	json_object_put(o);
}

int kv2_parse_secret(const char *body, size_t len, unsigned char **out, size_t *out_len)
{
	json_object *o = p11e_peer_json_object(body, len), *d2, *v = NULL;
	int b64 = 0, rc = -1;

	*out = NULL;
	*out_len = 0;
	d2 = member_object(member_object(o, "data"), "data");
	if (d2 != NULL && !json_object_object_get_ex(d2, "secret", &v) &&
	    json_object_object_get_ex(d2, "secret_base64", &v))
		b64 = 1;
	if (v == NULL || !json_object_is_type(v, json_type_string))
		goto out;
	{
		const char *s = json_object_get_string(v);
		size_t slen = (size_t)json_object_get_string_len(v);
		if ((*out = malloc(slen + 1)) == NULL) {
			rc = -3;
			goto out;
		}
		if (!b64) {
			memcpy(*out, s, slen);
			*out_len = slen;
		} else {
			int n = slen % 4 == 0 && slen <= INT32_MAX
				    ? EVP_DecodeBlock(*out, (const unsigned char *)s, (int)slen)
				    : -1;
			if (n < 0) {
				p11e_secret_free((char *)*out, slen);
				*out = NULL;
				rc = -2;
				goto out;
			}
			/* EVP_DecodeBlock counts the '=' padding as zero bytes. */
			while (slen > 0 && s[slen - 1] == '=' && n > 0) {
				slen--;
				n--;
			}
			*out_len = (size_t)n;
		}
		(*out)[*out_len] = '\0';
	}
	rc = 0;
out:
	wipe_json_string(v);
	json_object_put(o);
	return rc;
}

int kv2_parse_list(const char *body, size_t len, char ***names, size_t *n)
{
	json_object *o = p11e_peer_json_object(body, len), *keys;
	json_object *d = member_object(o, "data");
	size_t cnt;
	int rc = 0;

	*names = NULL;
	*n = 0;
	if (d == NULL || !json_object_object_get_ex(d, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array)) {
		json_object_put(o);
		return -1;
	}
	cnt = json_object_array_length(keys);
	if (cnt > 0 && (*names = calloc(cnt, sizeof(char *))) == NULL)
		rc = -3;
	for (size_t i = 0; rc == 0 && i < cnt; i++) {
		json_object *e = json_object_array_get_idx(keys, i);
		const char *s;
		size_t sl;
		if (!json_object_is_type(e, json_type_string))
			continue;
		s = json_object_get_string(e);
		sl = strlen(s);
		if (sl == 0 || s[sl - 1] == '/')
			continue; /* a folder below the path is not a secret */
		if (((*names)[*n] = strdup(s)) == NULL)
			rc = -3;
		else
			(*n)++;
	}
	if (rc != 0) {
		for (size_t i = 0; i < *n; i++)
			free((*names)[i]);
		free(*names);
		*names = NULL;
		*n = 0;
	}
	json_object_put(o);
	return rc;
}

int kv2_parse_login(const char *body, size_t len, char **token)
{
	json_object *o = p11e_peer_json_object(body, len), *tok = NULL;
	json_object *auth = member_object(o, "auth");
	int rc = -1;

	*token = NULL;
	if (auth != NULL && json_object_object_get_ex(auth, "client_token", &tok) &&
	    json_object_is_type(tok, json_type_string) && json_object_get_string_len(tok) > 0) {
		const char *s = json_object_get_string(tok);
		size_t i, sl = (size_t)json_object_get_string_len(tok);
		/* A header value: printable, nothing that ends the header line. */
		for (i = 0; i < sl; i++)
			if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
				break;
		if (i == sl && (*token = strdup(s)) != NULL)
			rc = 0;
	}
	wipe_json_string(tok);
	json_object_put(o);
	return rc;
}

int kv2_parse_meta(const char *body, size_t len, p11e_vault_meta *meta)
{
	json_object *o = p11e_peer_json_object(body, len);
	json_object *d = member_object(o, "data");

	memset(meta, 0, sizeof(*meta));
	if (d == NULL) {
		json_object_put(o);
		return -1;
	}
	vault_meta_from_json(member_object(d, "custom_metadata"), meta);
	json_object_put(o);
	return 0;
}
