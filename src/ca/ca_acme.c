/* ACME (RFC 8555): the CA backend's vtable. The pieces are in ca_acme_*.c
 * (see ca_acme.h).
 *
 *   { "type": "acme", "url": "https://acme.example/directory",
 *     "ca_bundle": "tls-ca.pem", "terms_agreed": true,
 *     "contact": ["mailto:ops@example.org"],
 *     "account_key_uri": "pkcs11:token=ops;object=acme-account",
 *     "http01_listen": "0.0.0.0:80", "wait": 60 }
 *
 * Requests and resumption: every order is saved as DIR/orders/KEY.json (KEY:
 * the pipeline's request_key, the CSR's SHA-256) with its URL and the CSR,
 * before anything else happens to it. The request_id handed back is the order
 * URL, so `enroll` after a restart polls the same order (and can still
 * finalize it with the saved CSR); submit with a known KEY resumes the saved
 * order instead of making a second one. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ca/ca_acme.h"
#include "p11enroll/conf.h"
#include "p11enroll/pem.h"
#include "p11enroll/util.h"
#include "core/state_paths.h"

#define WAIT_DEFAULT_S 60

static const char *const known_keys[] = {"type",
					 "url",
					 "dir",
					 "ca_bundle",
					 "timeout",
					 "connect_timeout",
					 "retries",
					 "account_key_file",
					 "account_key_uri",
					 "account_key_type",
					 "module",
					 "pin_source",
					 "eab_kid",
					 "eab_hmac_key_file",
					 "contact",
					 "terms_agreed",
					 "http01_listen",
					 "webroot",
					 "email_identifiers",
					 "wait",
					 NULL};

static const char *conf_string(const json_object *conf, const char *key, int *bad)
{
	json_object *v;

	if (!json_object_object_get_ex(conf, key, &v))
		return NULL;
	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
		*bad = 1;
		return NULL;
	}
	return json_object_get_string(v);
}

static int conf_bool(const json_object *conf, const char *key, int *bad)
{
	json_object *v;

	if (!json_object_object_get_ex(conf, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		*bad = 1;
		return 0;
	}
	return json_object_get_boolean(v);
}

/* Without "dir": STATE/acme-HASH, STATE the config's state dir (which
 * p11e_config_ca passes as "_state_dir"), else its defaults
 * ($P11ENROLL_STATE_DIR, $XDG_STATE_HOME/p11enroll, ~/.local/state/p11enroll),
 * HASH from the directory URL. */
static char *default_dir(const char *state_dir, const char *url)
{
	const char *env = getenv("P11ENROLL_STATE_DIR"), *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *base = NULL, *out;

	if (state_dir != NULL && state_dir[0] == '/')
		base = strdup(state_dir);
	else if (env != NULL && env[0] != '\0')
		base = strdup(env);
	else if (xdg != NULL && xdg[0] == '/')
		base = p11e_path_join(xdg, "p11enroll");
	else if (home != NULL && home[0] == '/')
		base = p11e_path_join(home, ".local/state/p11enroll");
	out = base ? p11e_state_acme_dir(base, url) : NULL;
	free(base);
	return out;
}

/* "contact": a string or an array of strings; "mailto:" added to bare addresses. */
static p11e_rc read_contact(acme *a, p11e_err *err)
{
	json_object *v, *arr;
	size_t n;

	if (!json_object_object_get_ex(a->conf, "contact", &v))
		return P11E_OK;
	if ((arr = json_object_new_array()) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	a->contact = arr;
	n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
	for (size_t i = 0; i < n; i++) {
		json_object *c =
		    json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i) : v;
		const char *s =
		    json_object_is_type(c, json_type_string) ? json_object_get_string(c) : NULL;
		char *full;
		if (s == NULL || s[0] == '\0')
			return p11e_errf(err, P11E_CONFIG,
					 "ca acme: \"contact\" must be an address or a list of "
					 "\"mailto:\" URLs");
		full = strchr(s, ':') ? strdup(s) : acme_fmt("mailto:%s", s);
		if (full == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		json_object_array_add(arr, json_object_new_string(full));
		free(full);
	}
	return P11E_OK;
}

static void acme_close(void *state)
{
	acme *a = state;

	if (a == NULL)
		return;
	acme_http01_release(a);
	acme_key_clear(&a->key);
	json_object_put(a->directory);
	json_object_put(a->contact);
	json_object_put(a->conf);
	free(a->nonce);
	free(a->kid);
	free(a->dir);
	free(a->replaces);
	free(a);
}

static p11e_rc acme_open(const json_object *conf, void **state, p11e_err *err)
{
	acme *a = calloc(1, sizeof(*a));
	json_object *v;
	const char *dir;
	int bad = 0;
	p11e_rc rc = P11E_OK;

	*state = NULL;
	if (a == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	a->conf = json_object_get((json_object *)conf);
	a->wait_s = WAIT_DEFAULT_S;
	if ((rc = p11e_conf_check_keys(a->conf, known_keys, "ca acme", err)) != P11E_OK)
		goto out;
#define STR(field, key)                                                                            \
	do {                                                                                       \
		a->field = conf_string(a->conf, key, &bad);                                        \
		if (bad) {                                                                         \
			rc = p11e_errf(err, P11E_CONFIG, "ca acme: \"%s\" must be a string", key); \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)
	STR(url, "url");
	STR(account_key_file, "account_key_file");
	STR(account_key_uri, "account_key_uri");
	STR(account_key_type, "account_key_type");
	STR(module, "module");
	STR(pin_source, "pin_source");
	STR(eab_kid, "eab_kid");
	STR(eab_hmac_key_file, "eab_hmac_key_file");
	STR(http01_listen, "http01_listen");
	STR(webroot, "webroot");
	dir = conf_string(a->conf, "dir", &bad);
#undef STR
	a->terms_agreed = conf_bool(a->conf, "terms_agreed", &bad);
	a->email_identifiers = conf_bool(a->conf, "email_identifiers", &bad);
	if (bad) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca acme: \"dir\" must be a string; \"terms_agreed\" and "
			       "\"email_identifiers\" true or false");
		goto out;
	}
	if (a->url == NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca acme: \"url\" is required (the CA's directory, "
			       "https://HOST/directory)");
		goto out;
	}
	if (a->account_key_file != NULL && a->account_key_uri != NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca acme: \"account_key_file\" or \"account_key_uri\", not both");
		goto out;
	}
	if ((a->eab_kid == NULL) != (a->eab_hmac_key_file == NULL)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca acme: external account binding needs both \"eab_kid\" and "
			       "\"eab_hmac_key_file\"");
		goto out;
	}
	if (json_object_object_get_ex(a->conf, "wait", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > 3600) {
			rc = p11e_errf(err, P11E_CONFIG,
				       "ca acme: \"wait\" must be 0 to 3600 seconds");
			goto out;
		}
		a->wait_s = (long)json_object_get_int64(v);
	}
	a->dir = dir ? strdup(dir) : default_dir(p11e_conf_string(a->conf, "_state_dir"), a->url);
	if (a->dir == NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca acme: no \"dir\" for the account and no state directory "
			       "(P11ENROLL_STATE_DIR, HOME) to put it in");
		goto out;
	}
	rc = read_contact(a, err);
	if (rc == P11E_OK)
		rc = p11e_http_from_config(a->conf, "acme", &a->http, err);
out:
	if (rc != P11E_OK) {
		acme_close(a);
		return rc;
	}
	*state = a;
	return P11E_OK;
}

/* --- saved orders --- */

static char *order_path(const acme *a, const char *request_key)
{
	char name[160];

	snprintf(name, sizeof(name), "orders/%.100s.json", request_key);
	return p11e_path_join(a->dir, name);
}

static p11e_rc save_order(const acme *a, const char *request_key, const char *url,
			  const unsigned char *der, size_t der_len, p11e_err *err)
{
	json_object *o = json_object_new_object();
	char *path = order_path(a, request_key), *dir = p11e_path_join(a->dir, "orders");
	char *b64 = acme_b64url(der, der_len);
	const char *text;
	p11e_rc rc;

	if (o == NULL || path == NULL || dir == NULL || b64 == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	json_object_object_add(o, "order", json_object_new_string(url));
	json_object_object_add(o, "csr", json_object_new_string(b64));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = p11e_mkdirs(dir, 0700, err);
	if (rc == P11E_OK)
		rc = p11e_write_file_atomic(path, text, strlen(text), 0600, err);
out:
	json_object_put(o);
	free(path);
	free(dir);
	free(b64);
	return rc;
}

/* The saved order at path: its URL and CSR (malloc'd). P11E_NOT_FOUND if none. */
static p11e_rc load_order_file(const char *path, char **url, unsigned char **der, size_t *der_len,
			       p11e_err *err)
{
	char *text = NULL;
	size_t len;
	json_object *o;
	p11e_rc rc;

	*url = NULL;
	*der = NULL;
	*der_len = 0;
	rc = p11e_read_file(path, 256 * 1024, &text, &len, err);
	if (rc != P11E_OK)
		return rc;
	o = json_tokener_parse(text);
	free(text);
	if (acme_str(o, "order") == NULL || (*url = strdup(acme_str(o, "order"))) == NULL) {
		json_object_put(o);
		return p11e_errf(err, P11E_FAIL, "ca acme: %s is not a saved order", path);
	}
	if (acme_str(o, "csr") != NULL)
		acme_b64url_decode(acme_str(o, "csr"), der, der_len);
	json_object_put(o);
	return P11E_OK;
}

/* The saved order whose URL is url (poll knows only the URL). */
static void find_order_by_url(const acme *a, const char *url, unsigned char **der, size_t *der_len)
{
	char *dirpath = p11e_path_join(a->dir, "orders");
	DIR *d = dirpath ? opendir(dirpath) : NULL;
	struct dirent *de;

	*der = NULL;
	*der_len = 0;
	while (d != NULL && *der == NULL && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char *path, *u = NULL;
		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		if ((path = p11e_path_join(dirpath, de->d_name)) == NULL)
			continue;
		if (load_order_file(path, &u, der, der_len, NULL) == P11E_OK &&
		    strcmp(u, url) != 0) {
			free(*der);
			*der = NULL;
			*der_len = 0;
		}
		free(u);
		free(path);
	}
	if (d != NULL)
		closedir(d);
	free(dirpath);
}

/* The request_id: the order URL when it fits, else "acme:" and our key. */
static void set_request_id(p11e_ca_result *out, const char *url, const char *request_key)
{
	if (strlen(url) < sizeof(out->request_id))
		snprintf(out->request_id, sizeof(out->request_id), "%s", url);
	else
		snprintf(out->request_id, sizeof(out->request_id), "acme:%s", request_key);
}

/* Keeps the chain of the last certificate for `p11enroll ca chain`. */
static void remember_chain(const acme *a, const p11e_ca_result *out)
{
	char *pem = p11e_chain_to_pem(out->chain), *path = p11e_path_join(a->dir, "chain.pem");

	if (pem != NULL && path != NULL)
		p11e_write_file_atomic(path, pem, strlen(pem), 0644, NULL);
	free(pem);
	free(path);
}

static p11e_rc drive(acme *a, const char *url, const unsigned char *der, size_t der_len,
		     p11e_ca_result *out, p11e_err *err)
{
	p11e_rc rc = acme_drive(a, url, der, der_len, out, err);

	if (rc == P11E_OK && out->state == P11E_CA_STATE_ISSUED)
		remember_chain(a, out);
	return rc;
}

static p11e_rc acme_submit(void *state, X509_REQ *csr, const p11e_profile *profile,
			   const char *request_key, p11e_ca_result *out, p11e_err *err)
{
	acme *a = state;
	unsigned char *der = NULL, *saved_der = NULL;
	size_t saved_len = 0;
	char *path = order_path(a, request_key), *url = NULL;
	json_object *ids = NULL;
	int der_len;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	der_len = i2d_X509_REQ(csr, &der);
	if (path == NULL || der_len <= 0) {
		rc = p11e_errf(err, P11E_FAIL, "ca acme: cannot encode the CSR");
		goto out;
	}
	rc = acme_account_ready(a, err);
	if (rc != P11E_OK)
		goto out;
	/* Seen before: the same order, never a second one while it lives. */
	rc = load_order_file(path, &url, &saved_der, &saved_len, NULL);
	if (rc == P11E_OK) {
		set_request_id(out, url, request_key);
		rc = drive(a, url, der, (size_t)der_len, out, err);
		/* Gone (expired, or a test CA restarted) or failed: a new order. */
		if (rc != P11E_NOT_FOUND && out->state != P11E_CA_STATE_REJECTED)
			goto out;
		p11e_ca_result_clear(out);
		free(url);
		url = NULL;
	}
	rc = P11E_OK;
	ids = acme_identifiers(a, csr, out->reason, sizeof(out->reason), err);
	if (ids == NULL) {
		if (out->reason[0] != '\0')
			out->state = P11E_CA_STATE_REJECTED;
		else
			rc = P11E_FAIL;
		goto out;
	}
	rc = acme_new_order(a, ids, &url, out, err);
	if (rc != P11E_OK || out->state != 0)
		goto out;
	rc = save_order(a, request_key, url, der, (size_t)der_len, err);
	if (rc != P11E_OK)
		goto out;
	set_request_id(out, url, request_key);
	rc = drive(a, url, der, (size_t)der_len, out, err);
out:
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	else if (out->request_id[0] == '\0')
		snprintf(out->request_id, sizeof(out->request_id), "%s", request_key);
	/* The renewal (set_renewal) was for this request only. */
	free(a->replaces);
	a->replaces = NULL;
	json_object_put(ids);
	OPENSSL_free(der);
	free(saved_der);
	free(path);
	free(url);
	return rc;
}

static p11e_rc acme_poll(void *state, const char *request_id, const p11e_profile *profile,
			 p11e_ca_result *out, p11e_err *err)
{
	acme *a = state;
	unsigned char *der = NULL;
	size_t der_len = 0;
	char *url = NULL, *path = NULL;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	/* A poll orders nothing: a renewal set for it must not reach a later
	 * submit (a batch worker keeps its CA across identities). */
	free(a->replaces);
	a->replaces = NULL;
	rc = acme_account_ready(a, err);
	if (rc != P11E_OK)
		return rc;
	if (strncmp(request_id, "acme:", 5) == 0) {
		path = order_path(a, request_id + 5);
		rc = path ? load_order_file(path, &url, &der, &der_len, err)
			  : p11e_errf(err, P11E_FAIL, "out of memory");
		if (rc == P11E_NOT_FOUND)
			rc = p11e_errf(err, P11E_NOT_FOUND,
				       "ca acme: request %s is not in %s/orders", request_id,
				       a->dir);
	} else {
		if ((url = strdup(request_id)) == NULL)
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
		else
			find_order_by_url(a, url, &der, &der_len);
	}
	if (rc == P11E_OK) {
		snprintf(out->request_id, sizeof(out->request_id), "%s", request_id);
		rc = drive(a, url, der, der_len, out, err);
	}
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(err, P11E_CA_REJECTED,
			       "ca acme: the CA no longer knows order %s; remove the identity's "
			       "record to enroll afresh",
			       request_id);
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	free(der);
	free(url);
	free(path);
	return rc;
}

static p11e_rc acme_chain(void *state, STACK_OF(X509) * *out, p11e_err *err)
{
	acme *a = state;
	char *path = p11e_path_join(a->dir, "chain.pem"), *text = NULL;
	size_t len;
	p11e_rc rc;

	*out = NULL;
	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_read_file(path, 256 * 1024, &text, &len, err);
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "ca acme: an ACME CA hands out its chain with a certificate; none "
			       "was issued through %s yet",
			       a->dir);
	else if (rc == P11E_OK && (*out = p11e_chain_from_pem(text)) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "ca acme: %s cannot be read", path);
	free(text);
	free(path);
	return rc;
}

const p11e_ca_ops p11e_ca_acme_ops = {
    .type = "acme",
    .open = acme_open,
    .submit = acme_submit,
    .poll = acme_poll,
    .chain = acme_chain,
    .close = acme_close,
    .config_keys = known_keys,
    .revoke = acme_revoke,
    .set_renewal = acme_set_renewal,
    .renewal_window = acme_renewal_window,
};
