/* The "cyberark" vault: CyberArk Privileged Access Manager through the PVWA
 * REST API (v10.4 and later), over HTTPS (util/http.c: TLS always verified,
 * against "ca_bundle" when given).
 *
 *   "vault": { "type": "cyberark", "url": "https://pvwa.example",
 *              "auth": "CyberArk" | "LDAP" | "RADIUS" (any case),
 *              "username": "svc-p11enroll", "address": "p11enroll",
 *              "password_source": "file:/etc/p11enroll/pvwa-password",
 *              "safe": "PKI-Escrow", "platform_id": "P11EnrollPFX",
 *              "reason": "p11enroll escrow", "ca_bundle": "pvwa-ca.pem" }
 *
 * A secret named IDENTITY is one account of the safe, secretType password:
 *   logon    POST /PasswordVault/API/auth/AUTH/Logon {username,password}
 *            (AUTH spelled as CyberArk's Logon page does: Cyberark, LDAP,
 *            RADIUS)
 *            -> "TOKEN" (sent as the Authorization header; one renewal
 *            when a call answers 401: the session expired)
 *   find     GET  /PasswordVault/API/Accounts?search=NAME&filter=safeName eq SAFE
 *            (the exact name picked from the answer's "value")
 *   put      find; POST /PasswordVault/API/Accounts {name, userName,
 *            address, safeName, platformId, secretType, secret,
 *            platformAccountProperties, secretManagement (CPM off: a PFX
 *            password must never be rotated)}
 *   get      find; POST .../Accounts/ID/Password/Retrieve {reason}; or, with
 *            "ccp_app_id", through the Central Credential Provider
 *            (vault_cyberark_ccp.c: client certificate, no logon)
 *   set_meta find; PATCH .../Accounts/ID [{"op":"add","path":...}]
 *   list     GET  .../Accounts?filter=safeName eq SAFE (pages of 1000)
 *   delete   find; DELETE .../Accounts/ID
 *   logoff   POST /PasswordVault/API/Auth/Logoff (at close)
 * The account's name is the identity when it is 1 to 128 characters of
 * [A-Za-z0-9@._-] (CyberArk's object names refuse \ / : * ? " < > | and the
 * API's query values + & %), else "SHA256-" and the identity's hash; the
 * full identity is the account property P11eIdentity either way.
 *
 * Never a second account: an Add whose answer is lost (a timeout, a 5xx)
 * is followed by a find before any new attempt, and a 409 or an existing
 * account counts as done only when it holds this very secret (P11E_EXISTS
 * otherwise). The logon password and the session token are wiped after
 * use, and never in a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "p11enroll/conf.h"
#include "p11enroll/http.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"
#include "vault/vault_cyberark.h"

static const char *const known_keys[] = {
    "type",    "url",	      "auth",	    "address",	     "username",     "password_source",
    "safe",    "platform_id", "reason",	    "ca_bundle",     "timeout",	     "connect_timeout",
    "retries", "ccp_url",     "ccp_app_id", "ccp_cert_file", "ccp_key_file", NULL};

static void ca_close(void *state)
{
	cyberark *k = state;
	p11e_http_resp resp = {0};
	p11e_err ignored = {0};

	if (k == NULL)
		return;
	/* Logoff ends the session at once rather than at its timeout; its
	 * failure changes nothing for what was done, and an expired session
	 * is not worth a new logon just to end it. */
	k->renewed = 1;
	if (k->auth_header != NULL &&
	    cyberark_authed(k, "POST", "Auth/Logoff", NULL, 0, &resp, &ignored) == P11E_OK)
		cyberark_wipe_resp(&resp);
	p11e_secret_free(k->auth_header, (size_t)-1);
	free(k->url);
	free(k->auth);
	free(k->username);
	free(k->password_source);
	free(k->safe);
	free(k->safe_q);
	free(k->platform_id);
	free(k->address);
	free(k->reason);
	free(k->ca_bundle);
	cyberark_ccp_free(k);
	free(k);
}

/* A config string that must be present, printable and short. */
static p11e_rc need(const json_object *conf, const char *key, size_t max, const char *hint,
		    char **out, p11e_err *err)
{
	const char *s = p11e_conf_string(conf, key);

	if (s == NULL || s[0] == '\0' || strlen(s) > max || !p11e_printable_ascii(s, strlen(s)))
		return p11e_errf(err, P11E_CONFIG,
				 "vault: type cyberark needs \"%s\" (%s), printable, at most %zu "
				 "characters",
				 key, hint, max);
	return (*out = strdup(s)) ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
}

/* The Logon method, in any case (the PVWA's routes ignore it), as CyberArk's
 * Logon page spells it in the path. */
static p11e_rc auth_method(const char *auth, const char **out, p11e_err *err)
{
	static const char *const methods[] = {"Cyberark", "LDAP", "RADIUS"};

	*out = methods[0];
	if (auth == NULL)
		return P11E_OK;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcasecmp(auth, methods[i]) == 0) {
			*out = methods[i];
			return P11E_OK;
		}
	/* auth/Windows/Logon takes no password: IIS authenticates the caller
	 * by Negotiate (Kerberos) or NTLM, which needs a domain identity here
	 * that nothing in p11enroll sets up or tests. */
	if (strcasecmp(auth, "Windows") == 0)
		return p11e_errf(err, P11E_CONFIG,
				 "vault: cyberark \"auth\": Windows (integrated Windows "
				 "authentication) is not supported; log on with \"LDAP\" as the "
				 "same directory user, or \"CyberArk\" or \"RADIUS\"");
	return p11e_errf(err, P11E_CONFIG,
			 "vault: cyberark \"auth\" must be \"CyberArk\", \"LDAP\" or "
			 "\"RADIUS\" (any case)");
}

static p11e_rc ca_open(const p11e_config *cfg, const json_object *conf,
		       const p11e_vault_open_params *p, void **state, p11e_err *err)
{
	const char *auth = p11e_conf_string(conf, "auth"),
		   *reason = p11e_conf_string(conf, "reason"),
		   *address = p11e_conf_string(conf, "address"), *method = NULL;
	char *source = NULL;
	cyberark *k;
	size_t len;
	p11e_rc rc;

	(void)p; /* no officer key: the safe's members decide who reads */
	*state = NULL;
	if ((rc = p11e_conf_check_keys(conf, known_keys, "vault (type cyberark)", err)) != P11E_OK)
		return rc;
	if ((rc = auth_method(auth, &method, err)) != P11E_OK)
		return rc;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((rc = need(conf, "url", 1024, "https://PVWA-HOST", &k->url, err)) != P11E_OK ||
	    (rc = need(conf, "username", 128, "the vault user", &k->username, err)) != P11E_OK ||
	    (rc = need(conf, "password_source", 4096, "env:VAR or file:PATH", &source, err)) !=
		P11E_OK ||
	    (rc = need(conf, "safe", 28, "the safe's name", &k->safe, err)) != P11E_OK ||
	    (rc = need(conf, "platform_id", 100, "a platform defining the P11e* properties",
		       &k->platform_id, err)) != P11E_OK)
		goto fail;
	/* The safe's name goes into the Get accounts filter, a URL value, and
	 * CyberArk's REST API documentation says URL values cannot hold '+',
	 * '&' or '%' (escaped or not). */
	if (strpbrk(k->safe, "+&%") != NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "vault: cyberark \"safe\" cannot hold '+', '&' or '%%': the PVWA "
			       "REST API takes none of them in a URL");
		goto fail;
	}
	if (address != NULL && (address[0] == '\0' || strlen(address) > 256 ||
				!p11e_printable_ascii(address, strlen(address)))) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "vault: cyberark \"address\" must be 1 to 256 printable characters");
		goto fail;
	}
	if (reason != NULL &&
	    (reason[0] == '\0' || !p11e_printable_ascii(reason, strlen(reason)))) {
		rc = p11e_errf(err, P11E_CONFIG, "vault: cyberark \"reason\" must be printable");
		goto fail;
	}
	if ((rc = p11e_http_from_config(conf, "vault", &k->http, err)) != P11E_OK)
		goto fail;
	/* Add account is never resent blind (see put): its attempts are ours. */
	k->add_attempts = k->http.retries < 0 ? 0 : k->http.retries;
	k->auth = strdup(method);
	k->address = strdup(address ? address : "p11enroll");
	k->reason = strdup(reason ? reason : "p11enroll escrow");
	k->safe_q = cyberark_url_escape(k->safe);
	k->password_source = p11e_vault_resolve_source(cfg, source);
	if (k->http.ca_bundle != NULL)
		k->http.ca_bundle = k->ca_bundle = strdup(k->http.ca_bundle);
	if (k->auth == NULL || k->address == NULL || k->reason == NULL || k->safe_q == NULL ||
	    k->password_source == NULL || (k->http.ca_bundle != NULL && k->ca_bundle == NULL)) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto fail;
	}
	len = strlen(k->url);
	while (len > 0 && k->url[len - 1] == '/')
		k->url[--len] = '\0';
	/* No logon yet: the first PVWA call logs on (cyberark_authed), so a
	 * read through the Central Credential Provider needs none. */
	if ((rc = cyberark_ccp_config(k, conf, err)) != P11E_OK)
		goto fail;
	free(source);
	*state = k;
	return P11E_OK;
fail:
	free(source);
	ca_close(k);
	return rc;
}

/* "CertCreated":"...",... for the non-empty fields of meta. */
static void add_props(p11e_sbuf *b, const p11e_vault_meta *meta, const char *lead)
{
	const char *keys[] = {CYBERARK_PROP_CREATED, CYBERARK_PROP_NOT_AFTER, CYBERARK_PROP_SHA256};
	const char *vals[] = {meta->created, meta->not_after, meta->cert_sha256};

	for (size_t i = 0; i < 3; i++) {
		if (vals[i][0] == '\0' || !p11e_printable_ascii(vals[i], strlen(vals[i])))
			continue;
		p11e_sbuf_str(b, lead);
		p11e_sbuf_json(b, keys[i]);
		p11e_sbuf_str(b, ":");
		p11e_sbuf_json(b, vals[i]);
	}
}

static p11e_rc ca_set_meta(void *state, const char *name, const p11e_vault_meta *meta,
			   p11e_err *err);

/* After an Add whose answer was lost or refused as a duplicate: is the
 * account there now, and is it ours? *found 0 means it is not there. */
static p11e_rc settle(cyberark *k, const char *name, const char *acct, const unsigned char *secret,
		      size_t len, int *found, p11e_err *err)
{
	cyberark_account a = {0};
	p11e_err inner = {0};
	p11e_rc rc = cyberark_find(k, acct, &a, found, &inner);

	if (rc != P11E_OK)
		return p11e_errf(err, rc,
				 "cyberark: the answer to adding account '%s' was lost, and the "
				 "safe cannot be searched to see whether it was made (%.200s); "
				 "rerun: a rerun searches before it adds",
				 acct, inner.msg);
	if (*found)
		rc = cyberark_same_or_exists(k, name, &a, secret, len, err);
	cyberark_account_clear(&a);
	return rc;
}

static p11e_rc ca_put(void *state, const char *name, const unsigned char *secret, size_t len,
		      const p11e_vault_meta *meta, p11e_err *err)
{
	cyberark *k = state;
	char acct[ACCOUNT_NAME_MAX + 1], doing[200];
	cyberark_account a = {0};
	p11e_http_resp resp = {0};
	p11e_sbuf body = {0};
	int found = 0;
	p11e_rc rc;

	if ((rc = cyberark_check_name(name, err)) != P11E_OK)
		return rc;
	if (len == 0 || len > 4096 || !p11e_printable_ascii((const char *)secret, len) ||
	    memchr(secret, '\0', len) != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "vault: a cyberark secret must be 1 to 4096 printable characters");
	cyberark_account_name(name, acct);
	snprintf(doing, sizeof(doing), "adding account '%s'", acct);
	if ((rc = cyberark_find(k, acct, &a, &found, err)) != P11E_OK)
		return rc;
	if (found) {
		rc = cyberark_same_or_exists(k, name, &a, secret, len, err);
		cyberark_account_clear(&a);
		if (rc == P11E_OK && meta != NULL)
			rc = ca_set_meta(k, name, meta, err);
		return rc;
	}
	p11e_sbuf_str(&body, "{\"name\":");
	p11e_sbuf_json(&body, acct);
	p11e_sbuf_str(&body, ",\"userName\":");
	p11e_sbuf_json(&body, acct);
	/* Most platforms require an address; an escrowed PFX password has no
	 * machine: the config's "address" (default "p11enroll"). */
	p11e_sbuf_str(&body, ",\"address\":");
	p11e_sbuf_json(&body, k->address);
	p11e_sbuf_str(&body, ",\"safeName\":");
	p11e_sbuf_json(&body, k->safe);
	p11e_sbuf_str(&body, ",\"platformId\":");
	p11e_sbuf_json(&body, k->platform_id);
	p11e_sbuf_str(&body, ",\"secretType\":\"password\",\"secret\":");
	p11e_sbuf_json(&body, (const char *)secret); /* printable, NUL-terminated: checked */
	p11e_sbuf_str(&body, ",\"platformAccountProperties\":{\"" CYBERARK_PROP_IDENTITY "\":");
	p11e_sbuf_json(&body, name);
	if (meta != NULL)
		add_props(&body, meta, ",");
	/* The CPM must never change it: the PFX opens with this password only. */
	p11e_sbuf_str(&body, "},\"secretManagement\":{\"automaticManagementEnabled\":false,"
			     "\"manualManagementReason\":\"PFX password escrowed by p11enroll: "
			     "it must not change\"}}");
	if (body.failed) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		p11e_err sent = {0};
		rc = cyberark_authed(k, "POST", "Accounts", &body, 1, &resp, &sent);
		if (rc == P11E_OK && (resp.status == 201 || resp.status == 200))
			goto out;
		if (rc == P11E_OK && resp.status != 409 && resp.status < 500) {
			rc = cyberark_status_error(k, &resp, doing, err);
			goto out;
		}
		/* A duplicate, or an answer lost (transfer failure, 5xx): the
		 * account may exist now; look before anything else. */
		if (rc == P11E_OK)
			cyberark_status_error(k, &resp, doing, &sent);
		cyberark_wipe_resp(&resp);
		if ((rc = settle(k, name, acct, secret, len, &found, err)) != P11E_OK || found) {
			if (rc == P11E_OK && meta != NULL)
				rc = ca_set_meta(k, name, meta, err);
			goto out;
		}
		if (attempt >= k->add_attempts) {
			rc = p11e_errf(
			    err, P11E_FAIL,
			    "%s; no account was made for '%.200s' (searched); try again "
			    "later",
			    sent.msg[0] ? sent.msg : "cyberark: adding the account failed", name);
			goto out;
		}
	}
out:
	p11e_sbuf_free(&body);
	cyberark_wipe_resp(&resp);
	return rc;
}

/* The account for name, or P11E_NOT_FOUND. */
static p11e_rc find_named(cyberark *k, const char *name, cyberark_account *a, p11e_err *err)
{
	char acct[ACCOUNT_NAME_MAX + 1];
	int found = 0;
	p11e_rc rc;

	if ((rc = cyberark_check_name(name, err)) != P11E_OK)
		return rc;
	cyberark_account_name(name, acct);
	if ((rc = cyberark_find(k, acct, a, &found, err)) != P11E_OK)
		return rc;
	if (!found)
		return p11e_errf(
		    err, P11E_NOT_FOUND,
		    "vault: no secret escrowed for '%.200s' (cyberark safe '%s', account "
		    "'%s')",
		    name, k->safe, acct);
	return P11E_OK;
}

static p11e_rc ca_get(void *state, const char *name, unsigned char **out, size_t *len,
		      p11e_err *err)
{
	cyberark *k = state;
	cyberark_account a = {0};
	p11e_rc rc;

	if (k->ccp_app_id != NULL) {
		char acct[ACCOUNT_NAME_MAX + 1];
		if ((rc = cyberark_check_name(name, err)) != P11E_OK)
			return rc;
		cyberark_account_name(name, acct);
		return cyberark_ccp_get(k, name, acct, out, len, err);
	}
	if ((rc = find_named(k, name, &a, err)) == P11E_OK)
		rc = cyberark_retrieve(k, &a, out, len, err);
	cyberark_account_clear(&a);
	return rc;
}

static p11e_rc ca_set_meta(void *state, const char *name, const p11e_vault_meta *meta,
			   p11e_err *err)
{
	cyberark *k = state;
	cyberark_account a = {0};
	p11e_http_resp resp = {0};
	p11e_sbuf body = {0};
	char path[128], doing[200];
	p11e_rc rc = find_named(k, name, &a, err);

	if (rc != P11E_OK)
		goto out;
	snprintf(path, sizeof(path), "Accounts/%s", a.id);
	snprintf(doing, sizeof(doing), "updating the properties of account '%.128s'", a.name);
	/* JSON Patch; "add" sets a property whether or not it is there. */
	p11e_sbuf_str(&body, "[");
	for (size_t i = 0; i < 3; i++) {
		const char *keys[] = {CYBERARK_PROP_CREATED, CYBERARK_PROP_NOT_AFTER,
				      CYBERARK_PROP_SHA256};
		const char *vals[] = {meta->created, meta->not_after, meta->cert_sha256};
		if (vals[i][0] == '\0' || !p11e_printable_ascii(vals[i], strlen(vals[i])))
			continue;
		p11e_sbuf_str(&body, body.len > 1 ? "," : "");
		p11e_sbuf_str(&body, "{\"op\":\"add\",\"path\":\"/platformAccountProperties/");
		p11e_sbuf_str(&body, keys[i]);
		p11e_sbuf_str(&body, "\",\"value\":");
		p11e_sbuf_json(&body, vals[i]);
		p11e_sbuf_str(&body, "}");
	}
	if (body.len == 1)
		goto out; /* nothing to set */
	p11e_sbuf_str(&body, "]");
	if (body.failed) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if ((rc = cyberark_authed(k, "PATCH", path, &body, 0, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status != 200 && resp.status != 204)
		rc = cyberark_status_error(k, &resp, doing, err);
out:
	p11e_sbuf_free(&body);
	cyberark_wipe_resp(&resp);
	cyberark_account_clear(&a);
	return rc;
}

static p11e_rc ca_list(void *state, p11e_vault_entry **entries, size_t *n, p11e_err *err)
{
	cyberark *k = state;
	size_t cap = 0, plen = strlen(k->safe_q) + 96;
	char *path = malloc(plen);
	p11e_rc rc = P11E_OK;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	for (size_t offset = 0; rc == P11E_OK;) {
		p11e_http_resp resp = {0};
		cyberark_account *page = NULL;
		size_t got = 0, seen = 0;
		int more = 0;
		snprintf(path, plen, "Accounts?filter=safeName%%20eq%%20%s&limit=%d&offset=%zu",
			 k->safe_q, PAGE, offset);
		if ((rc = cyberark_authed(k, "GET", path, NULL, 0, &resp, err)) != P11E_OK)
			break;
		if (resp.status != 200) {
			rc = cyberark_status_error(k, &resp, "listing the safe's accounts", err);
		} else {
			int prc = cyberark_parse_accounts(resp.body, resp.body_len, k->safe, &page,
							  &got, &seen);
			more = cyberark_parse_more(resp.body, resp.body_len, offset, seen, PAGE);
			if (prc == -3)
				rc = p11e_errf(err, P11E_FAIL, "out of memory");
			else if (prc != 0)
				rc = p11e_errf(err, P11E_FAIL,
					       "cyberark %s: the list answer has no \"value\" list",
					       k->url);
		}
		p11e_http_resp_free(&resp);
		if (rc == P11E_OK && *n + got > cap) {
			p11e_vault_entry *grown = realloc(*entries, (*n + got) * sizeof(**entries));
			if (grown == NULL)
				rc = p11e_errf(err, P11E_FAIL, "out of memory");
			else {
				*entries = grown;
				cap = *n + got;
			}
		}
		for (size_t i = 0; rc == P11E_OK && i < got; i++) {
			(*entries)[*n].name = page[i].identity;
			(*entries)[*n].meta = page[i].meta;
			page[i].identity = NULL;
			(*n)++;
		}
		cyberark_accounts_free(page, got);
		/* A server that ignores offset would repeat itself forever: a
		 * bound. A short page may not be the last (cyberark_parse_more). */
		if (rc != P11E_OK || !more || offset >= 1000 * PAGE)
			break;
		offset += seen;
	}
	free(path);
	if (rc != P11E_OK) {
		p11e_vault_entries_free(*entries, *n);
		*entries = NULL;
		*n = 0;
	}
	return rc;
}

static p11e_rc ca_del(void *state, const char *name, p11e_err *err)
{
	cyberark *k = state;
	cyberark_account a = {0};
	p11e_http_resp resp = {0};
	char path[128], doing[200];
	p11e_rc rc = find_named(k, name, &a, err);

	if (rc != P11E_OK)
		goto out;
	snprintf(path, sizeof(path), "Accounts/%s", a.id);
	snprintf(doing, sizeof(doing), "deleting account '%.128s'", a.name);
	if ((rc = cyberark_authed(k, "DELETE", path, NULL, 0, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status != 204 && resp.status != 200)
		rc = cyberark_status_error(k, &resp, doing, err);
out:
	p11e_http_resp_free(&resp);
	cyberark_account_clear(&a);
	return rc;
}

const p11e_vault_ops p11e_vault_cyberark_ops = {
    .type = "cyberark",
    .open = ca_open,
    .put = ca_put,
    .set_meta = ca_set_meta,
    .get = ca_get,
    .list = ca_list,
    .del = ca_del,
    .close = ca_close,
    .config_keys = known_keys,
};
