/* The ACME account: made once per account key and directory, then reused.
 * DIR/account.json remembers the account URL (the "kid") with the directory
 * and the key's thumbprint; a run that finds both unchanged sends no
 * newAccount at all. A lock on DIR/.lock keeps two processes (or batch
 * workers) from making two keys or two accounts at once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "ca/ca_acme.h"
#include "p11enroll/util.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)

static p11e_rc lock_dir(const acme *a, int *fd, p11e_err *err)
{
	char *path;
	p11e_rc rc = p11e_mkdirs(a->dir, 0700, err);

	*fd = -1;
	if (rc != P11E_OK)
		return rc;
	if ((path = p11e_path_join(a->dir, ".lock")) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* Never through a planted symlink or FIFO, never another user's file. */
	rc = p11e_open_private(path, O_RDWR | O_CREAT, 0600, fd, err);
	if (rc == P11E_OK && flock(*fd, LOCK_EX) != 0)
		rc =
		    p11e_errf(err, P11E_FAIL, "ca acme: cannot lock %s: %s", path, strerror(errno));
	free(path);
	return rc;
}

static void unlock_dir(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

static p11e_rc save_account(acme *a, p11e_err *err)
{
	json_object *o = json_object_new_object();
	char *path = p11e_path_join(a->dir, "account.json");
	const char *text;
	p11e_rc rc;

	if (o == NULL || path == NULL) {
		json_object_put(o);
		free(path);
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
	rc = p11e_write_file_atomic(path, text, strlen(text), 0600, err);
	json_object_put(o);
	free(path);
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
	char *path = p11e_path_join(a->dir, "account.json"), *text = NULL;
	json_object *o = NULL;
	const char *dir, *kid, *tp;
	size_t len;
	p11e_rc rc;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_read_file(path, 64 * 1024, &text, &len, err);
	if (rc == P11E_NOT_FOUND) {
		rc = P11E_OK;
		goto out;
	}
	if (rc != P11E_OK)
		goto out;
	o = json_tokener_parse(text);
	dir = acme_str(o, "directory");
	kid = acme_str(o, "account");
	tp = acme_str(o, "key_thumbprint");
	if (dir != NULL && strcmp(dir, a->url) != 0) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca acme: %s holds the account for %s, not %s; give each ACME CA "
			       "its own \"dir\"",
			       path, dir, a->url);
		goto out;
	}
	/* Another key (replaced by hand): its account is not ours. */
	if (kid != NULL && tp != NULL && strcmp(tp, a->key.thumbprint) == 0 &&
	    (a->kid = strdup(kid)) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	json_object_put(o);
	free(text);
	free(path);
	return rc;
}

p11e_rc acme_account_ready(acme *a, p11e_err *err)
{
	int fd;
	p11e_rc rc;

	if (a->kid != NULL)
		return P11E_OK;
	rc = acme_directory(a, err);
	if (rc != P11E_OK)
		return rc;
	rc = lock_dir(a, &fd, err);
	if (rc == P11E_OK)
		rc = acme_key_load(a, err);
	if (rc == P11E_OK)
		rc = load_account(a, err);
	if (rc == P11E_OK && a->kid == NULL)
		rc = acme_account_register(a, err);
	unlock_dir(fd);
	return rc;
}
