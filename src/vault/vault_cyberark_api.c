/* The cyberark vault's conversation with the PVWA (vault_cyberark.h): the
 * request helper, logon and its one renewal, finding an account by name,
 * retrieving its password. The vtable is vault_cyberark.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "p11enroll/http.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"
#include "vault/vault_cyberark.h"

/* --- small helpers --- */

char *cyberark_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(3 * strlen(s) + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~@", c) != NULL) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 0xf];
		}
	}
	*o = '\0';
	return out;
}

/* The account name for identity (see the top of the file): out holds 129. */
void cyberark_account_name(const char *identity, char out[ACCOUNT_NAME_MAX + 1])
{
	size_t n = strlen(identity), i;
	unsigned char md[SHA256_DIGEST_LENGTH];

	for (i = 0; i < n; i++) {
		char c = identity[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("@._-", c) != NULL))
			break;
	}
	if (n > 0 && n <= ACCOUNT_NAME_MAX && i == n) {
		memcpy(out, identity, n + 1);
		return;
	}
	SHA256((const unsigned char *)identity, n, md);
	memcpy(out, "SHA256-", 7);
	p11e_hex_encode(md, sizeof(md), out + 7);
}

p11e_rc cyberark_check_name(const char *name, p11e_err *err)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > IDENTITY_MAX ||
	    !p11e_printable_ascii(name, strlen(name)))
		return p11e_errf(err, P11E_USAGE,
				 "vault: a secret's name must be 1 to %d printable characters",
				 IDENTITY_MAX);
	return P11E_OK;
}

void cyberark_wipe_resp(p11e_http_resp *r)
{
	if (r->body != NULL)
		OPENSSL_cleanse(r->body, r->body_len);
	p11e_http_resp_free(r);
}

/* The one-line error for an answer that is not success. */
p11e_rc cyberark_status_error(const cyberark *k, const p11e_http_resp *r, const char *doing,
			      p11e_err *err)
{
	char text[300];

	cyberark_parse_error(r->body, r->body_len, text, sizeof(text));
	if (r->status == 401)
		return p11e_errf(
		    err, P11E_CONFIG,
		    "cyberark %s: session refused %s after a fresh logon (HTTP 401%s%s): "
		    "check \"username\" and \"auth\"",
		    k->url, doing, text[0] ? ": " : "", text);
	if (r->status == 403)
		return p11e_errf(
		    err, P11E_CONFIG,
		    "cyberark %s: '%s' may not %s in safe '%s' (HTTP 403%s%s): make it "
		    "a member of the safe with List, Add, Retrieve and Update accounts",
		    k->url, k->username, doing, k->safe, text[0] ? ": " : "", text);
	/* What a 400 names is the config's: the safe (CyberArk answers an Add
	 * to a safe the user is not a member of with PASWS031E "Safe [X] was
	 * not found"), the platform or the properties it defines. */
	if (r->status == 400)
		return p11e_errf(err, P11E_CONFIG,
				 "cyberark %s refused %s (HTTP 400); check \"safe\" (its "
				 "members must include '%s': a safe it may not see is \"not "
				 "found\"), \"platform_id\" and the platform's properties%s%s",
				 k->url, doing, k->username, text[0] ? ": " : "", text);
	if (r->status == 404)
		return p11e_errf(
		    err, P11E_CONFIG,
		    "cyberark %s: not found %s (HTTP 404%s%s): check \"url\" (the PVWA, "
		    "without /PasswordVault) and \"safe\"",
		    k->url, doing, text[0] ? ": " : "", text);
	if (r->status >= 500)
		return p11e_errf(err, P11E_FAIL,
				 "cyberark %s failed %s (HTTP %ld%s%s); try again later", k->url,
				 doing, r->status, text[0] ? ": " : "", text);
	return p11e_errf(err, P11E_FAIL, "cyberark %s refused %s (HTTP %ld%s%s)", k->url, doing,
			 r->status, text[0] ? ": " : "", text);
}

/* One request to /PasswordVault/API/PATH. A transfer failure (after
 * http.c's retries, none with no_retry) is "unreachable". */
static p11e_rc call(const cyberark *k, const char *method, const char *path, const p11e_sbuf *body,
		    int no_retry, p11e_http_resp *resp, p11e_err *err)
{
	const char *headers[2] = {k->auth_header, NULL};
	size_t ulen = strlen(k->url) + strlen(path) + 24;
	char *url = malloc(ulen);
	p11e_http_req req = {.method = method, .no_retry = no_retry};
	p11e_rc rc;

	if (url == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	memset(resp, 0, sizeof(*resp));
	snprintf(url, ulen, "%s/PasswordVault/API/%s", k->url, path);
	req.url = url;
	req.headers = k->auth_header ? headers : NULL;
	if (body != NULL) {
		req.body = body->p;
		req.body_len = body->len;
	}
	rc = p11e_http_request(&k->http, &req, resp, err);
	if (rc == P11E_FAIL && err != NULL) {
		char msg[P11E_ERR_MAX];
		int tls = p11e_http_error_text(err, msg, sizeof(msg));
		p11e_errf(err, P11E_FAIL, "cyberark unreachable: %.400s%s", msg,
			  tls ? "; check \"ca_bundle\"" : "");
	}
	free(url);
	return rc;
}

/* --- logon --- */

p11e_rc cyberark_logon(cyberark *k, p11e_err *err)
{
	char *password = NULL, *token = NULL, path[64];
	p11e_http_resp resp = {0};
	p11e_sbuf body = {0};
	p11e_rc rc;

	p11e_secret_free(k->auth_header, (size_t)-1);
	k->auth_header = NULL;
	rc = p11e_secret_read(k->password_source, "cyberark logon password", &password, err);
	if (rc != P11E_OK)
		return rc;
	if (!p11e_printable_ascii(password, strlen(password))) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "vault: the password from \"password_source\" is not printable");
		goto out;
	}
	snprintf(path, sizeof(path), "auth/%s/Logon", k->auth);
	p11e_sbuf_str(&body, "{\"username\":");
	p11e_sbuf_json(&body, k->username);
	p11e_sbuf_str(&body, ",\"password\":");
	p11e_sbuf_json(&body, password);
	p11e_sbuf_str(&body, ",\"concurrentSession\":true}");
	if (body.failed) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if ((rc = call(k, "POST", path, &body, 0, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status == 401 || resp.status == 403) {
		char text[300];
		cyberark_parse_error(resp.body, resp.body_len, text, sizeof(text));
		rc =
		    p11e_errf(err, P11E_CONFIG,
			      "cyberark %s: logon of '%s' (%s) refused (HTTP %ld%s%s): check "
			      "\"username\", \"auth\" and \"password_source\"",
			      k->url, k->username, k->auth, resp.status, text[0] ? ": " : "", text);
		goto out;
	}
	if (resp.status != 200) {
		rc = cyberark_status_error(k, &resp, "at logon", err);
		goto out;
	}
	if (cyberark_parse_token(resp.body, resp.body_len, &token) != 0) {
		rc = p11e_errf(err, P11E_FAIL,
			       "cyberark %s: the logon answer holds no session token", k->url);
		goto out;
	}
	if ((k->auth_header = malloc(strlen(token) + 16)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	snprintf(k->auth_header, strlen(token) + 16, "Authorization: %s", token);
out:
	p11e_secret_free(token, (size_t)-1);
	p11e_secret_free(password, (size_t)-1);
	p11e_sbuf_free(&body);
	cyberark_wipe_resp(&resp);
	return rc;
}

/* call() with the session; a 401 (the token expired) renews it once per
 * vault and sends the request again: a 401 is a refusal, nothing was done. */
p11e_rc cyberark_authed(cyberark *k, const char *method, const char *path, const p11e_sbuf *body,
			int no_retry, p11e_http_resp *resp, p11e_err *err)
{
	p11e_rc rc;

	/* The first PVWA call logs on (none at open: a vault that only reads
	 * through the Central Credential Provider never needs to). */
	memset(resp, 0, sizeof(*resp));
	if (k->auth_header == NULL && (rc = cyberark_logon(k, err)) != P11E_OK)
		return rc;
	rc = call(k, method, path, body, no_retry, resp, err);
	if (rc != P11E_OK || resp->status != 401 || k->renewed)
		return rc;
	k->renewed = 1;
	cyberark_wipe_resp(resp);
	if ((rc = cyberark_logon(k, err)) != P11E_OK)
		return rc;
	return call(k, method, path, body, no_retry, resp, err);
}

/* --- finding an account --- */

/* One page of the search for acct from *offset (moved past it): the exact
 * name into *out (*found), and whether another page follows (*more). */
static p11e_rc find_page(cyberark *k, const char *acct, size_t *offset, cyberark_account *out,
			 int *found, int *more, p11e_err *err)
{
	p11e_http_resp resp = {0};
	cyberark_account *list = NULL;
	size_t n = 0, seen = 0, plen = strlen(acct) + strlen(k->safe_q) + 128;
	char *path = malloc(plen), doing[200];
	p11e_rc rc;

	*more = 0;
	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* acct is [A-Za-z0-9@._-] or SHA256-hex: nothing to escape. */
	snprintf(path, plen, "Accounts?search=%s&filter=safeName%%20eq%%20%s&limit=%d&offset=%zu",
		 acct, k->safe_q, PAGE, *offset);
	snprintf(doing, sizeof(doing), "searching for account '%.128s'", acct);
	if ((rc = cyberark_authed(k, "GET", path, NULL, 0, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status != 200) {
		rc = cyberark_status_error(k, &resp, doing, err);
		goto out;
	}
	switch (cyberark_parse_accounts(resp.body, resp.body_len, k->safe, &list, &n, &seen)) {
	case 0:
		break;
	case -3:
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	default:
		rc =
		    p11e_errf(err, P11E_FAIL, "cyberark %s: the answer to %s has no \"value\" list",
			      k->url, doing);
		goto out;
	}
	/* search matches words anywhere: only the exact name counts. */
	for (size_t i = 0; i < n && !*found; i++) {
		if (strcasecmp(list[i].name, acct) != 0)
			continue;
		*out = list[i];
		memset(&list[i], 0, sizeof(list[i]));
		*found = 1;
	}
	*more = cyberark_parse_more(resp.body, resp.body_len, *offset, seen, PAGE);
	*offset += seen;
out:
	cyberark_accounts_free(list, n);
	p11e_http_resp_free(&resp);
	free(path);
	return rc;
}

/* The account named acct in the safe: *found is 1 and *out filled, or 0.
 * Every page of the search is read: "search" matches names that contain
 * acct (alice@x.org finds malice@x.org too), and a PVWA may cap a page
 * below the limit asked for. */
p11e_rc cyberark_find(cyberark *k, const char *acct, cyberark_account *out, int *found,
		      p11e_err *err)
{
	p11e_rc rc = P11E_OK;
	int more = 1;

	*found = 0;
	memset(out, 0, sizeof(*out));
	/* A bound, as for the list: a server that ignores offset. */
	for (size_t offset = 0, pages = 0; more && !*found && rc == P11E_OK && pages < 1000;
	     pages++) {
		size_t before = offset;
		rc = find_page(k, acct, &offset, out, found, &more, err);
		if (offset == before)
			break;
	}
	return rc;
}

void cyberark_account_clear(cyberark_account *a)
{
	free(a->id);
	free(a->name);
	free(a->identity);
	memset(a, 0, sizeof(*a));
}

p11e_rc cyberark_retrieve(cyberark *k, const cyberark_account *a, unsigned char **out, size_t *len,
			  p11e_err *err)
{
	p11e_http_resp resp = {0};
	p11e_sbuf body = {0};
	char path[128], doing[200];
	p11e_rc rc;

	snprintf(path, sizeof(path), "Accounts/%s/Password/Retrieve", a->id);
	snprintf(doing, sizeof(doing), "retrieving the password of account '%.128s'", a->name);
	p11e_sbuf_str(&body, "{\"reason\":");
	p11e_sbuf_json(&body, k->reason);
	p11e_sbuf_str(&body, "}");
	if (body.failed)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((rc = cyberark_authed(k, "POST", path, &body, 0, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status != 200) {
		rc = cyberark_status_error(k, &resp, doing, err);
		goto out;
	}
	switch (cyberark_parse_password(resp.body, resp.body_len, out, len)) {
	case 0:
		break;
	case -3:
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		break;
	default:
		rc = p11e_errf(err, P11E_FAIL, "cyberark %s: the answer to %s is not a password",
			       k->url, doing);
	}
out:
	p11e_sbuf_free(&body);
	cyberark_wipe_resp(&resp);
	return rc;
}

/* An existing account for name: this very secret (P11E_OK) or not
 * (P11E_EXISTS, never overwritten). */
p11e_rc cyberark_same_or_exists(cyberark *k, const char *name, const cyberark_account *a,
				const unsigned char *secret, size_t len, p11e_err *err)
{
	unsigned char *have = NULL;
	size_t have_len = 0;
	p11e_rc rc = cyberark_retrieve(k, a, &have, &have_len, err);

	if (rc != P11E_OK)
		return rc;
	if (have_len == len && CRYPTO_memcmp(have, secret, len) == 0)
		rc = P11E_OK;
	else
		rc = p11e_errf(err, P11E_EXISTS,
			       "vault: a secret for '%.200s' is already escrowed (cyberark safe "
			       "'%s', account '%s'); it is never overwritten",
			       name, k->safe, a->name);
	p11e_secret_free((char *)have, have_len);
	return rc;
}
