/* ACME (RFC 8555): the CA backend's vtable. The pieces are in ca_acme_*.c
 * (see ca_acme.h).
 *
 *   { "type": "acme", "url": "https://acme.example/directory",
 *     "ca_bundle": "tls-ca.pem", "terms_agreed": true,
 *     "contact": ["mailto:ops@example.org"],
 *     "account_key_uri": "pkcs11:token=ops;object=acme-account",
 *     "http01_listen": "0.0.0.0:80", "wait": 60 }
 *
 * Requests and resumption: every order is saved in the store as the document
 * acme-order HASH/KEY (KEY: the pipeline's request_key, the CSR's SHA-256;
 * the file store's DIR/orders/KEY.json) with its URL and the CSR, before
 * anything else happens to it, so any station of a shared store resumes it.
 * The request_id handed back is the order URL, so `enroll` after a restart
 * polls the same order (and can still finalize it with the saved CSR); submit
 * with a known KEY resumes the saved order instead of making a second one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ca/ca_acme.h"
#include "ca/ca_home.h"
#include "p11enroll/conf.h"
#include "p11enroll/pem.h"
#include "p11enroll/util.h"

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

/* HASH: the first 16 hex digits of the directory URL's SHA-256. */
char *acme_doc_name(const acme *a, const char *rest)
{
	return acme_fmt("%s/%s", a->hash, rest);
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
	p11e_store_close(a->store);
	free(a->nonce);
	free(a->kid);
	free(a->dir);
	free(a->replaces);
	free(a);
}

/* store: the config's store open in this process (p11e_ca_open_in), else
 * NULL and the account's state is opened here. */
static p11e_rc acme_open_in(const json_object *conf, p11e_store *store, void **state,
			    p11e_err *err)
{
	acme *a = calloc(1, sizeof(*a));
	json_object *v, *js;
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
	if (ca_url_hash(a->url, a->hash) != 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca acme: cannot hash the directory URL");
		goto out;
	}
	a->dir =
	    dir ? strdup(dir)
		: ca_home_default_dir(p11e_conf_string(a->conf, "_state_dir"), "acme", a->hash);
	if (a->dir == NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca acme: no \"dir\" for the account and no state directory "
			       "(P11ENROLL_STATE_DIR, HOME) to put it in");
		goto out;
	}
	/* "_store": the config's store (p11e_config_ca); none: files in dir. */
	if (!json_object_object_get_ex(a->conf, "_store", &js))
		js = NULL;
	rc = read_contact(a, err);
	if (rc == P11E_OK)
		rc = p11e_http_from_config(a->conf, "acme", &a->http, err);
	if (rc == P11E_OK)
		rc = store != NULL ? p11e_store_open_home_in(store, a->dir, &a->store, err)
				   : p11e_store_open_home(js, a->dir, &a->store, err);
out:
	if (rc != P11E_OK) {
		acme_close(a);
		return rc;
	}
	*state = a;
	return P11E_OK;
}

static p11e_rc acme_open(const json_object *conf, void **state, p11e_err *err)
{
	return acme_open_in(conf, NULL, state, err);
}

/* --- saved orders --- */

static p11e_rc save_order(const acme *a, const char *request_key, const char *url,
			  const unsigned char *der, size_t der_len, p11e_err *err)
{
	json_object *o = json_object_new_object();
	char *name = acme_doc_name(a, request_key), *b64 = acme_b64url(der, der_len);
	const char *text;
	p11e_rc rc;

	if (o == NULL || name == NULL || b64 == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	json_object_object_add(o, "order", json_object_new_string(url));
	json_object_object_add(o, "csr", json_object_new_string(b64));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	/* Durable: the order exists at the CA now; a crash must not make a
	 * rerun (at this station or another) order it twice. */
	rc = p11e_store_put(a->store, "acme-order", name, text, strlen(text), P11E_STORE_DURABLE,
			    err);
out:
	json_object_put(o);
	free(name);
	free(b64);
	return rc;
}

/* A saved order's text: its URL and CSR (malloc'd). what names it in a
 * message. */
static p11e_rc parse_order(const char *text, const char *what, char **url, unsigned char **der,
			   size_t *der_len, p11e_err *err)
{
	json_object *o = json_tokener_parse(text);

	*url = NULL;
	*der = NULL;
	*der_len = 0;
	if (acme_str(o, "order") == NULL || (*url = strdup(acme_str(o, "order"))) == NULL) {
		json_object_put(o);
		return p11e_errf(err, P11E_FAIL, "ca acme: %s is not a saved order", what);
	}
	if (acme_str(o, "csr") != NULL)
		acme_b64url_decode(acme_str(o, "csr"), der, der_len);
	json_object_put(o);
	return P11E_OK;
}

/* The order saved for request_key: its URL and CSR (malloc'd).
 * P11E_NOT_FOUND if none. */
static p11e_rc load_order(const acme *a, const char *request_key, char **url, unsigned char **der,
			  size_t *der_len, p11e_err *err)
{
	char *name = acme_doc_name(a, request_key), where[400];
	unsigned char *text = NULL;
	size_t len = 0;
	p11e_rc rc;

	*url = NULL;
	*der = NULL;
	*der_len = 0;
	if (name == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_store_get(a->store, "acme-order", name, &text, &len, err);
	if (rc == P11E_OK)
		rc = parse_order(
		    (const char *)text,
		    p11e_store_describe(a->store, "acme-order", name, where, sizeof(where)), url,
		    der, der_len, err);
	free(text);
	free(name);
	return rc;
}

/* The saved order whose URL is url (poll knows only the URL). Order URLs
 * are the CA's own: one never names another CA's order, so the documents
 * of every ACME CA in a shared store may be looked through. */
static void find_order_by_url(const acme *a, const char *url, unsigned char **der, size_t *der_len)
{
	p11e_store_doc *docs = NULL;
	size_t n = 0;

	*der = NULL;
	*der_len = 0;
	if (p11e_store_list(a->store, "acme-order", &docs, &n, NULL) != P11E_OK)
		return;
	for (size_t i = 0; i < n && *der == NULL; i++) {
		char *u = NULL;
		if (parse_order((const char *)docs[i].data, docs[i].name, &u, der, der_len, NULL) ==
			P11E_OK &&
		    strcmp(u, url) != 0) {
			free(*der);
			*der = NULL;
			*der_len = 0;
		}
		free(u);
	}
	p11e_store_docs_free(docs, n);
}

/* The request_id: the order URL when it fits, else "acme:" and our key. */
static void set_request_id(p11e_ca_result *out, const char *url, const char *request_key)
{
	if (strlen(url) < sizeof(out->request_id))
		snprintf(out->request_id, sizeof(out->request_id), "%s", url);
	else
		snprintf(out->request_id, sizeof(out->request_id), "acme:%s", request_key);
}

/* Keeps the chain of the last certificate for `p11enroll ca chain`: a
 * convenience, rewritten with each certificate, so not synced and never a
 * failure of the issuance. */
static void remember_chain(const acme *a, const p11e_ca_result *out)
{
	char *pem = p11e_chain_to_pem(out->chain), *name = acme_doc_name(a, "chain");

	if (pem != NULL && name != NULL)
		p11e_store_put(a->store, "acme-chain", name, pem, strlen(pem), 0, NULL);
	free(pem);
	free(name);
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
	char *url = NULL;
	json_object *ids = NULL;
	int der_len;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	der_len = i2d_X509_REQ(csr, &der);
	if (der_len <= 0) {
		rc = p11e_errf(err, P11E_FAIL, "ca acme: cannot encode the CSR");
		goto out;
	}
	rc = acme_account_ready(a, err);
	if (rc != P11E_OK)
		goto out;
	/* Seen before: the same order, never a second one while it lives. */
	rc = load_order(a, request_key, &url, &saved_der, &saved_len, NULL);
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
	free(url);
	return rc;
}

static p11e_rc acme_poll(void *state, const char *request_id, const p11e_profile *profile,
			 p11e_ca_result *out, p11e_err *err)
{
	acme *a = state;
	unsigned char *der = NULL;
	size_t der_len = 0;
	char *url = NULL;
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
		char *name = acme_doc_name(a, request_id + 5), where[400];
		rc = name ? load_order(a, request_id + 5, &url, &der, &der_len, err)
			  : p11e_errf(err, P11E_FAIL, "out of memory");
		if (rc == P11E_NOT_FOUND)
			rc = p11e_errf(err, P11E_NOT_FOUND, "ca acme: request %s is not saved (%s)",
				       request_id,
				       p11e_store_describe(a->store, "acme-order", name, where,
							   sizeof(where)));
		free(name);
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
	return rc;
}

/* DIR/chain.pem as p11enroll wrote it before the store: 0644, which the file
 * store (documents 0600) refuses to read, until the next certificate
 * replaces it; or left in DIR by a station since moved to a shared store.
 * Not a secret: read as any file. */
static p11e_rc legacy_chain(const acme *a, unsigned char **text, size_t *len)
{
	char *path = p11e_path_join(a->dir, "chain.pem"), *pem = NULL;
	p11e_rc rc;

	if (path == NULL)
		return P11E_FAIL;
	rc = p11e_read_file(path, 256 * 1024, &pem, len, NULL);
	free(path);
	free(*text);
	*text = (unsigned char *)pem;
	return rc;
}

static p11e_rc acme_chain(void *state, STACK_OF(X509) * *out, p11e_err *err)
{
	acme *a = state;
	char *name = acme_doc_name(a, "chain"), where[400];
	unsigned char *text = NULL;
	size_t len;
	p11e_rc rc;

	*out = NULL;
	if (name == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	p11e_store_describe(a->store, "acme-chain", name, where, sizeof(where));
	rc = p11e_store_get(a->store, "acme-chain", name, &text, &len, err);
	if (rc != P11E_OK && legacy_chain(a, &text, &len) == P11E_OK)
		rc = P11E_OK;
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "ca acme: an ACME CA hands out its chain with a certificate; none "
			       "was issued through it yet (%s)",
			       where);
	else if (rc == P11E_OK && (*out = p11e_chain_from_pem((const char *)text)) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "ca acme: %s cannot be read", where);
	free(text);
	free(name);
	return rc;
}

const p11e_ca_ops p11e_ca_acme_ops = {
    .type = "acme",
    .open = acme_open,
    .open_in = acme_open_in,
    .submit = acme_submit,
    .poll = acme_poll,
    .chain = acme_chain,
    .close = acme_close,
    .config_keys = known_keys,
    .revoke = acme_revoke,
    .set_renewal = acme_set_renewal,
    .renewal_window = acme_renewal_window,
};
