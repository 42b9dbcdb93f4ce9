/* The cyberark vault's optional read path through CyberArk's Central
 * Credential Provider (vault_cyberark.h): an application, named by its
 * AppID and proven by a TLS client certificate, reads a password with one
 * GET and no PVWA logon, so a machine that only reads escrowed passwords
 * back (`escrow show`, a software enrollment resumed) needs no vault user's
 * password at all. Writing (Add account, properties, delete) stays with the
 * PVWA API.
 *
 *   "ccp_app_id": "P11enroll", "ccp_cert_file": "ccp-client.pem",
 *   "ccp_key_file": "ccp-client.key", "ccp_url": "https://ccp.example"
 *
 *   GET /AIMWebService/api/Accounts?AppID=APP&Safe=SAFE&Folder=Root
 *       &Object=ACCOUNT&Reason=REASON
 *   -> 200 {"Content": "PASSWORD", "Name": "ACCOUNT", "Safe", ...}
 *   -> 404 {"ErrorCode": "APPAP004E", "ErrorMsg": "Password object matching
 *      query [...] was not found ..."}, or another status with the same
 *      two members
 * (CyberArk's "Call the Web Service using REST" page of the Central
 * Credential Provider documentation: the URL, its query parameters, the
 * "Content" member.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include "p11enroll/conf.h"
#include "p11enroll/http.h"
#include "p11enroll/util.h"
#include "vault/vault_cyberark.h"

static p11e_rc ccp_string(const json_object *conf, const char *key, char **out, p11e_err *err)
{
	const char *s = p11e_conf_string(conf, key);

	*out = NULL;
	if (s == NULL && !json_object_object_get_ex(conf, key, NULL))
		return P11E_OK;
	if (s == NULL || s[0] == '\0' || strlen(s) > 1024 || !p11e_printable_ascii(s, strlen(s)))
		return p11e_errf(err, P11E_CONFIG,
				 "vault: cyberark \"%s\" must be a printable string of at most "
				 "1024 characters",
				 key);
	return (*out = strdup(s)) ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
}

p11e_rc cyberark_ccp_config(cyberark *k, const json_object *conf, p11e_err *err)
{
	p11e_rc rc;
	size_t len;

	if ((rc = ccp_string(conf, "ccp_app_id", &k->ccp_app_id, err)) != P11E_OK ||
	    (rc = ccp_string(conf, "ccp_url", &k->ccp_url, err)) != P11E_OK ||
	    (rc = ccp_string(conf, "ccp_cert_file", &k->ccp_cert, err)) != P11E_OK ||
	    (rc = ccp_string(conf, "ccp_key_file", &k->ccp_key, err)) != P11E_OK)
		return rc;
	if (k->ccp_app_id == NULL) {
		if (k->ccp_url != NULL || k->ccp_cert != NULL || k->ccp_key != NULL)
			return p11e_errf(err, P11E_CONFIG,
					 "vault: cyberark \"ccp_url\", \"ccp_cert_file\" and "
					 "\"ccp_key_file\" need \"ccp_app_id\" (the Central "
					 "Credential Provider's application)");
		return P11E_OK;
	}
	/* An AppID alone is a name anyone can send: the provider must see the
	 * application's certificate. */
	if (k->ccp_cert == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "vault: cyberark \"ccp_app_id\" needs \"ccp_cert_file\": the "
				 "client certificate (PEM) the application is authenticated by");
	/* '+', '&' and '%' are in no URL value of CyberArk's REST APIs. */
	if (strpbrk(k->ccp_app_id, "+&%") != NULL || strpbrk(k->reason, "+&%") != NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "vault: cyberark \"ccp_app_id\" and \"reason\" cannot hold '+', "
				 "'&' or '%%' with the Central Credential Provider");
	if (k->ccp_url == NULL && (k->ccp_url = strdup(k->url)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	len = strlen(k->ccp_url);
	while (len > 0 && k->ccp_url[len - 1] == '/')
		k->ccp_url[--len] = '\0';
	if ((k->ccp_app_id_q = cyberark_url_escape(k->ccp_app_id)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* The PVWA's TLS trust and timeouts, with the client certificate. */
	k->ccp_http = k->http;
	k->ccp_http.client_cert = k->ccp_cert;
	k->ccp_http.client_key = k->ccp_key;
	return P11E_OK;
}

void cyberark_ccp_free(cyberark *k)
{
	free(k->ccp_url);
	free(k->ccp_app_id);
	free(k->ccp_app_id_q);
	free(k->ccp_cert);
	free(k->ccp_key);
}

/* The one-line error for a CCP answer that is not success. */
static p11e_rc ccp_status_error(const cyberark *k, const char *name, const char *acct,
				const p11e_http_resp *r, p11e_err *err)
{
	char text[300];

	cyberark_parse_error(r->body, r->body_len, text, sizeof(text));
	if (r->status == 404)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "vault: no secret escrowed for '%.200s' (cyberark safe '%s', "
				 "account '%s', through the Central Credential Provider%s%s)",
				 name, k->safe, acct, text[0] ? ": " : "", text);
	if (r->status >= 500)
		return p11e_errf(err, P11E_FAIL,
				 "cyberark Central Credential Provider %s failed (HTTP %ld%s%s); "
				 "try again later",
				 k->ccp_url, r->status, text[0] ? ": " : "", text);
	return p11e_errf(err, P11E_CONFIG,
			 "cyberark Central Credential Provider %s refused application '%s' "
			 "(HTTP %ld); check \"ccp_app_id\", the certificate it is allowed "
			 "(\"ccp_cert_file\") and that the application and its provider are "
			 "members of safe '%s' with Retrieve%s%s",
			 k->ccp_url, k->ccp_app_id, r->status, k->safe, text[0] ? ": " : "", text);
}

/* Failures after the TCP connection was made. A provider that does not
 * accept the client certificate ends the handshake (TLS 1.2) or, in TLS 1.3,
 * sends its alert after the client has finished and may already be sending
 * the request: what libcurl sees then depends on timing (the alert read, a
 * reset, a send into a closed socket, ENOTCONN from getpeername), so the
 * class is read from the CURLcode, never from the message's words. */
static int after_connect(int cc)
{
	return cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
	       cc == CURLE_GOT_NOTHING || cc == CURLE_SSL_SHUTDOWN_FAILED;
}

p11e_rc cyberark_ccp_transfer_error(const cyberark *k, int curl_code, const char *detail,
				    p11e_err *err)
{
	if (curl_code == CURLE_SSL_CERTPROBLEM)
		return p11e_errf(
		    err, P11E_FAIL,
		    "cyberark Central Credential Provider: cannot use the client "
		    "certificate \"ccp_cert_file\" %.150s with \"ccp_key_file\" %.150s "
		    "(%.300s)",
		    k->ccp_cert, k->ccp_key ? k->ccp_key : "(none: in the certificate's file)",
		    detail);
	if (after_connect(curl_code))
		return p11e_errf(
		    err, P11E_FAIL,
		    "cyberark Central Credential Provider %.200s ended the TLS connection: "
		    "most likely it does not accept the client certificate; check "
		    "\"ccp_cert_file\" %.150s and \"ccp_key_file\" %.150s (the "
		    "application's, from a CA the provider trusts) and \"ca_bundle\" "
		    "(%.300s)",
		    k->ccp_url, k->ccp_cert, k->ccp_key ? k->ccp_key : "(none)", detail);
	if (curl_code == CURLE_PEER_FAILED_VERIFICATION || curl_code == CURLE_SSL_CACERT_BADFILE)
		return p11e_errf(err, P11E_FAIL,
				 "cyberark Central Credential Provider: its certificate is not "
				 "trusted; check \"ca_bundle\" (%.300s)",
				 detail);
	return p11e_errf(err, P11E_FAIL, "cyberark Central Credential Provider unreachable: %.380s",
			 detail);
}

p11e_rc cyberark_ccp_get(cyberark *k, const char *name, const char *acct, unsigned char **out,
			 size_t *len, p11e_err *err)
{
	char *reason_q = cyberark_url_escape(k->reason), *url = NULL;
	p11e_http_resp resp = {0};
	p11e_http_req req = {.method = "GET"};
	size_t ulen;
	p11e_rc rc;

	*out = NULL;
	*len = 0;
	if (reason_q == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* acct is [A-Za-z0-9@._-] or SHA256-hex: nothing to escape. */
	ulen = strlen(k->ccp_url) + strlen(k->ccp_app_id_q) + strlen(k->safe_q) + strlen(acct) +
	       strlen(reason_q) + 128;
	if ((url = malloc(ulen)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	snprintf(url, ulen,
		 "%s/AIMWebService/api/Accounts?AppID=%s&Safe=%s&Folder=Root&Object=%s&Reason=%s",
		 k->ccp_url, k->ccp_app_id_q, k->safe_q, acct, reason_q);
	req.url = url;
	rc = p11e_http_request(&k->ccp_http, &req, &resp, err);
	if (rc == P11E_FAIL && err != NULL && resp.curl_code != 0) {
		char text[P11E_ERR_MAX], msg[P11E_ERR_MAX];
		size_t ul = strlen(url);
		p11e_http_error_text(err, text, sizeof(text));
		/* libcurl's words without the URL, which the message names. */
		snprintf(msg, sizeof(msg), "%s",
			 strncmp(text, url, ul) == 0 && text[ul] == ':'
			     ? text + ul + 1 + (text[ul + 1] == ' ')
			     : text);
		rc = cyberark_ccp_transfer_error(k, resp.curl_code, msg, err);
	}
	if (rc != P11E_OK)
		goto out;
	if (resp.status != 200) {
		rc = ccp_status_error(k, name, acct, &resp, err);
		goto out;
	}
	switch (cyberark_parse_ccp(resp.body, resp.body_len, acct, out, len)) {
	case 0:
		break;
	case -3:
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		break;
	default:
		rc = p11e_errf(err, P11E_FAIL,
			       "cyberark Central Credential Provider %s: the answer for account "
			       "'%s' holds no password of that account",
			       k->ccp_url, acct);
	}
out:
	free(url);
	free(reason_q);
	cyberark_wipe_resp(&resp);
	return rc;
}
