/* The ACME account: made once per account key and directory, then reused.
 * The store's acme-account HASH/account (the file store's DIR/account.json)
 * remembers the account URL (the "kid") with the directory and the key's
 * thumbprint; a run that finds both unchanged sends no newAccount at all,
 * whichever station of a shared store registered it. The store's lock
 * acme/HASH keeps two processes, batch workers or stations from making two
 * keys or two accounts at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "ca/ca_acme.h"
#include "p11enroll/lock.h"
#include "p11enroll/util.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)
/* As long as the holder takes: it only loads the key and registers (as the
 * flock on DIR/.lock waited before the store), bounded so that a holder
 * stuck for a day is told rather than waited on forever. */
#define ACCOUNT_LOCK_WAIT_MS (24L * 3600 * 1000)

static p11e_rc save_account(acme *a, p11e_err *err)
{
	json_object *o = json_object_new_object();
	char *name = acme_doc_name(a, "account");
	const char *text;
	p11e_rc rc;

	if (o == NULL || name == NULL) {
		json_object_put(o);
		free(name);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	json_object_object_add(o, "directory", json_object_new_string(a->url));
	json_object_object_add(o, "account", json_object_new_string(a->kid));
	json_object_object_add(o, "key_thumbprint", json_object_new_string(a->key.thumbprint));
	json_object_object_add(o, "key",
			       json_object_new_string(a->account_key_uri    ? a->account_key_uri
						      : a->account_key_file ? a->account_key_file
									    : "account.key"));
	text = json_object_to_json_string_ext(o, JSON_FLAGS);
	/* Durable: the CA has the account; no station may register another. */
	rc = p11e_store_put(a->store, "acme-account", name, text, strlen(text), P11E_STORE_DURABLE,
			    err);
	json_object_put(o);
	free(name);
	return rc;
}

/* The EAB MAC key: base64url in a file (as CAs hand it out). */
static p11e_rc read_mac(const acme *a, unsigned char **mac, size_t *mac_len, p11e_err *err)
{
	char *text = NULL;
	size_t len = 0;
	p11e_rc rc;

	rc = p11e_read_file(a->eab_hmac_key_file, 4096, &text, &len, err);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "ca acme: cannot read \"eab_hmac_key_file\" %s",
				 a->eab_hmac_key_file);
	if (acme_b64url_decode(text, mac, mac_len) != 0 || *mac_len == 0)
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca acme: \"eab_hmac_key_file\" %s does not hold a base64url key",
			       a->eab_hmac_key_file);
	p11e_secret_free(text, len);
	return rc;
}

p11e_rc acme_account_register(acme *a, p11e_err *err)
{
	json_object *meta = NULL, *v, *payload = json_object_new_object(), *eab = NULL;
	const char *tos = NULL, *url = acme_dir_url(a, "newAccount");
	unsigned char *mac = NULL;
	size_t mac_len = 0;
	int eab_required = 0;
	p11e_http_resp resp = {0};
	char why[400];
	p11e_rc rc = P11E_OK;

	if (payload == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (json_object_object_get_ex(a->directory, "meta", &meta)) {
		tos = acme_str(meta, "termsOfService");
		/* acme_parse_directory checked the type. */
		eab_required = json_object_object_get_ex(meta, "externalAccountRequired", &v) &&
			       json_object_get_boolean(v);
	}
	if (tos != NULL && !a->terms_agreed) {
		rc =
		    p11e_errf(err, P11E_CONFIG,
			      "ca acme: this CA has terms of service (%.200s); read them, then set "
			      "\"terms_agreed\": true",
			      tos);
		goto out;
	}
	if (eab_required && (a->eab_kid == NULL || a->eab_hmac_key_file == NULL)) {
		rc =
		    p11e_errf(err, P11E_CONFIG,
			      "ca acme: this CA requires external account binding: set \"eab_kid\" "
			      "and \"eab_hmac_key_file\" from the CA's account page");
		goto out;
	}
	json_object_object_add(payload, "termsOfServiceAgreed",
			       json_object_new_boolean(a->terms_agreed));
	if (a->contact != NULL)
		json_object_object_add(payload, "contact", json_object_get(a->contact));
	if (a->eab_kid != NULL && a->eab_hmac_key_file != NULL) {
		rc = read_mac(a, &mac, &mac_len, err);
		if (rc == P11E_OK)
			rc = acme_eab(a->eab_kid, mac, mac_len, url, a->key.jwk, &eab, err);
		if (rc != P11E_OK)
			goto out;
		json_object_object_add(payload, "externalAccountBinding", eab);
	}
	rc = acme_post(a, url,
		       json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE),
		       1, NULL, &resp, err);
	if (rc != P11E_OK)
		goto out;
	if (resp.status == 200 || resp.status == 201) {
		char status[32];
		/* A key the CA deactivated or revoked gets its old account back. */
		if (acme_parse_account(resp.body, resp.body_len, status, sizeof(status)) == 0 &&
		    status[0] != '\0' && strcmp(status, "valid") != 0) {
			rc = p11e_errf(err, P11E_CA_REJECTED,
				       "ca acme: the CA's account for this key is %s; use another "
				       "account key",
				       status);
			goto out;
		}
		a->kid = p11e_http_resp_header(&resp, "Location");
		if (acme_url_ok(a->kid)) {
			rc = save_account(a, err);
			goto out;
		}
		free(a->kid);
		a->kid = NULL;
		rc = p11e_errf(err, P11E_FAIL,
			       "ca acme: the CA's newAccount answer (HTTP %ld) names no account "
			       "URL (Location)",
			       resp.status);
		goto out;
	}
	acme_problem(&resp, why, sizeof(why));
	rc = p11e_errf(err, resp.status >= 500 ? P11E_FAIL : P11E_CA_REJECTED,
		       "ca acme: the CA refused the account: %s", why);
out:
	if (mac != NULL) {
		OPENSSL_cleanse(mac, mac_len);
		free(mac);
	}
	p11e_http_resp_free(&resp);
	json_object_put(payload);
	return rc;
}

/* The account remembered for this directory and key, if any. */
static p11e_rc load_account(acme *a, p11e_err *err)
{
	char *name = acme_doc_name(a, "account"), where[400];
	unsigned char *text = NULL;
	json_object *o = NULL;
	const char *dir, *kid, *tp;
	size_t len;
	p11e_rc rc;

	if (name == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_store_get(a->store, "acme-account", name, &text, &len, err);
	if (rc == P11E_NOT_FOUND) {
		rc = P11E_OK;
		goto out;
	}
	if (rc != P11E_OK)
		goto out;
	o = json_tokener_parse((const char *)text);
	dir = acme_str(o, "directory");
	kid = acme_str(o, "account");
	tp = acme_str(o, "key_thumbprint");
	if (dir != NULL && strcmp(dir, a->url) != 0) {
		rc = p11e_errf(
		    err, P11E_CONFIG,
		    "ca acme: %s holds the account for %s, not %s; give each ACME CA "
		    "its own \"dir\"",
		    p11e_store_describe(a->store, "acme-account", name, where, sizeof(where)), dir,
		    a->url);
		goto out;
	}
	/* Another key (replaced by hand): its account is not ours. */
	if (kid != NULL && tp != NULL && strcmp(tp, a->key.thumbprint) == 0 &&
	    (a->kid = strdup(kid)) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	json_object_put(o);
	free(text);
	free(name);
	return rc;
}

p11e_rc acme_account_ready(acme *a, p11e_err *err)
{
	p11e_lock lock = P11E_LOCK_INIT;
	p11e_rc rc;

	if (a->kid != NULL)
		return P11E_OK;
	rc = acme_directory(a, err);
	if (rc != P11E_OK)
		return rc;
	rc = p11e_lock_acquire(a->store, "acme", a->hash, ACCOUNT_LOCK_WAIT_MS, &lock, err);
	if (rc == P11E_OK)
		rc = acme_key_load(a, err);
	if (rc == P11E_OK)
		rc = load_account(a, err);
	if (rc == P11E_OK && a->kid == NULL)
		rc = acme_account_register(a, err);
	p11e_lock_release(&lock);
	return rc;
}
