/* The embedded CA with its key on a token: generated there, never exported;
 * DIR/ca-key.json says where it is (URI, module, PIN source: never a PIN). */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include "ca/ca_local.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"

#define KEY_FILE "ca-key.json"

static p11e_rc open_session(const char *uri, const char *module, const char *pin_source,
			    p11e_session **out, p11e_err *err)
{
	p11e_session_params sp = {
	    .uri = uri, .module = module, .pin_source = pin_source, .login = 1};
	p11e_session *s = calloc(1, sizeof(*s));
	p11e_rc rc;

	*out = NULL;
	if (s == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_session_open(NULL, &sp, s, err);
	if (rc != P11E_OK) {
		free(s);
		return rc;
	}
	*out = s;
	return P11E_OK;
}

void p11e_ca_local_token_key_close(p11e_session *session)
{
	if (session == NULL)
		return;
	p11e_session_close(session);
	free(session);
}

static p11e_rc write_key_file(const char *dir, const char *key_uri, const char *module,
			      const char *pin_source, p11e_err *err)
{
	json_object *o = json_object_new_object();
	char *path = p11e_path_join(dir, KEY_FILE);
	const char *text;
	p11e_rc rc;

	if (o == NULL || path == NULL) {
		json_object_put(o);
		free(path);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	json_object_object_add(o, "key_uri", json_object_new_string(key_uri));
	if (module != NULL)
		json_object_object_add(o, "module", json_object_new_string(module));
	if (pin_source != NULL)
		json_object_object_add(o, "pin_source", json_object_new_string(pin_source));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = p11e_write_file_atomic(path, text, strlen(text), 0600, err);
	json_object_put(o);
	free(path);
	return rc;
}

p11e_rc p11e_ca_local_token_key_new(const char *dir, const char *key_uri, const char *module,
				    const char *pin_source, const p11e_keytype *kt,
				    p11e_session **session, EVP_PKEY **key, p11e_err *err)
{
	const p11e_token_info *info;
	p11e_session *s = NULL;
	p11e_id id;
	size_t existing = 0;
	char *full_uri = NULL;
	p11e_rc rc;

	*session = NULL;
	*key = NULL;
	/* libp11 0.4.12 signs certificates for RSA and EC keys only. */
	if (kt->kind == P11E_KEY_ED25519)
		return p11e_errf(err, P11E_USAGE,
				 "key: a CA key on a token must be rsa or ec (libp11 cannot sign "
				 "certificates with ed25519)");
	rc = open_session(key_uri, module, pin_source, &s, err);
	if (rc != P11E_OK)
		return rc;
	if (s->uri.has_id) {
		memcpy(id.v, s->uri.id, s->uri.id_len);
		id.len = s->uri.id_len;
		rc = p11e_token_count(s->token, 3 /* CKO_PRIVATE_KEY */, &id, &existing, err);
	} else {
		id.len = 20;
		if (RAND_bytes(id.v, (int)id.len) != 1)
			rc = p11e_errf_ssl(err, P11E_FAIL, "cannot draw a random key ID");
	}
	/* An id= naming an existing key means: use that key. */
	if (rc == P11E_OK && existing == 0) {
		rc = p11e_token_check_keytype(s->token, kt, err);
		if (rc == P11E_OK)
			rc = p11e_token_generate_keypair(
			    s->token, kt, &id, s->uri.object ? s->uri.object : "p11enroll CA",
			    P11E_USE_SIGN, err);
	}
	if (rc == P11E_OK)
		rc = p11e_token_signing_key(s->token, &id, key, err);
	if (rc != P11E_OK)
		goto out;
	info = p11e_token_get_info(s->token);
	full_uri = p11e_uri_format(info->label, info->manufacturer, info->serial, info->model, id.v,
				   id.len, "private");
	if (full_uri == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	else
		rc = write_key_file(dir, full_uri, module ? module : s->uri.module_path,
				    pin_source ? pin_source : s->uri.pin_source, err);
out:
	free(full_uri);
	if (rc != P11E_OK) {
		EVP_PKEY_free(*key);
		*key = NULL;
		p11e_ca_local_token_key_close(s);
		return rc;
	}
	*session = s;
	return P11E_OK;
}

static const char *string_of(const json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

p11e_rc p11e_ca_local_token_key_open(const char *dir, const json_object *conf,
				     p11e_session **session, EVP_PKEY **key, p11e_err *err)
{
	char *path = p11e_path_join(dir, KEY_FILE);
	char *text = NULL;
	json_object *o = NULL;
	const char *uri, *module, *pin_source;
	p11e_session *s = NULL;
	p11e_id id;
	p11e_rc rc;

	*session = NULL;
	*key = NULL;
	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_read_file(path, 64 * 1024, &text, NULL, err);
	if (rc != P11E_OK)
		goto out;
	o = json_tokener_parse(text);
	uri = string_of(o, "key_uri");
	if (uri == NULL) {
		rc = p11e_errf(err, P11E_CONFIG, "local CA in %s: %s has no \"key_uri\"", dir,
			       KEY_FILE);
		goto out;
	}
	/* The CA's entry in the config may say how to reach the token here. */
	module = string_of(conf, "module") ? string_of(conf, "module") : string_of(o, "module");
	pin_source = string_of(conf, "pin_source") ? string_of(conf, "pin_source")
						   : string_of(o, "pin_source");
	rc = open_session(uri, module, pin_source, &s, err);
	if (rc != P11E_OK)
		goto out;
	memcpy(id.v, s->uri.id, s->uri.id_len);
	id.len = s->uri.id_len;
	rc = p11e_token_signing_key(s->token, &id, key, err);
	if (rc != P11E_OK) {
		p11e_ca_local_token_key_close(s);
		goto out;
	}
	*session = s;
out:
	json_object_put(o);
	free(text);
	free(path);
	return rc;
}
