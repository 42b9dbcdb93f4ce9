/* CFSSL's JSON API: /api/v1/cfssl/sign, /authsign (HMAC-SHA256 token over
 * the exact inner request bytes, key from a file), /info for the chain,
 * /revoke (a server with -db-config).
 * CFSSL answers at once: issued or refused, never pending.
 *
 *   { "type": "cfssl", "url": "https://ca.example:8888", "ca_bundle": "tls-ca.pem",
 *     "auth_key_file": "/etc/p11enroll/cfssl.key", "profile": "smime",
 *     "profiles": { "client-auth": "client" }, "label": "" } */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509v3.h>
#include "ca/ca_cfssl.h"
#include "p11enroll/ca.h"
#include "p11enroll/conf.h"
#include "p11enroll/csr.h"
#include "p11enroll/http.h"
#include "p11enroll/peer.h"
#include "p11enroll/pem.h"
#include "p11enroll/util.h"

typedef struct cfssl {
	json_object *conf; /* our reference: the strings below point into it */
	const char *url;
	const char *auth_key_file;
	const char *label;
	p11e_http http;
} cfssl;

static p11e_rc cfssl_open(const json_object *conf, void **state, p11e_err *err)
{
	cfssl *c = calloc(1, sizeof(*c));
	p11e_rc rc;

	*state = NULL;
	if (c == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	c->conf = json_object_get((json_object *)conf);
	c->url = p11e_conf_string(conf, "url");
	c->auth_key_file = p11e_conf_string(conf, "auth_key_file");
	c->label = p11e_conf_string(conf, "label");
	if (c->url == NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca cfssl: \"url\" is required (https://HOST:PORT)");
		goto fail;
	}
	rc = p11e_http_from_config(conf, "cfssl", &c->http, err);
	if (rc != P11E_OK)
		goto fail;
	*state = c;
	return P11E_OK;
fail:
	json_object_put(c->conf);
	free(c);
	return rc;
}

static void cfssl_close(void *state)
{
	cfssl *c = state;

	if (c == NULL)
		return;
	json_object_put(c->conf);
	free(c);
}

/* Our profile's name on the CFSSL server: "profiles" maps it, "profile" is
 * the fallback, else the same name. */
static const char *server_profile(const cfssl *c, const p11e_profile *p)
{
	json_object *map, *v;

	if (json_object_object_get_ex(c->conf, "profiles", &map) &&
	    json_object_object_get_ex(map, p->name, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return p11e_conf_string(c->conf, "profile") ? p11e_conf_string(c->conf, "profile")
						    : p->name;
}

static char *base64(const unsigned char *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* {"token": base64(HMAC-SHA256(key, inner)), "request": base64(inner)} */
static p11e_rc authsign_body(const cfssl *c, const char *inner, char **out, p11e_err *err)
{
	char *hex = NULL, *token = NULL, *request = NULL;
	unsigned char key[256], mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	size_t key_len = 0, hex_len = 0;
	json_object *o = NULL;
	p11e_rc rc;

	*out = NULL;
	rc = p11e_read_file(c->auth_key_file, 4096, &hex, &hex_len, err);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "ca cfssl: cannot read auth_key_file %s",
				 c->auth_key_file);
	while (hex_len > 0 && (hex[hex_len - 1] == '\n' || hex[hex_len - 1] == '\r'))
		hex[--hex_len] = '\0';
	if (p11e_hex_decode(hex, key, sizeof(key), &key_len) != 0 || key_len == 0) {
		rc = p11e_errf(err, P11E_CONFIG, "ca cfssl: auth_key_file %s is not a hex key",
			       c->auth_key_file);
		goto out;
	}
	if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)inner, strlen(inner), mac,
		 &mac_len) == NULL) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca cfssl: cannot compute the auth token");
		goto out;
	}
	token = base64(mac, mac_len);
	request = base64((const unsigned char *)inner, strlen(inner));
	o = json_object_new_object();
	if (token == NULL || request == NULL || o == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	json_object_object_add(o, "token", json_object_new_string(token));
	json_object_object_add(o, "request", json_object_new_string(request));
	*out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	if (*out == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	OPENSSL_cleanse(key, sizeof(key));
	p11e_secret_free(hex, hex_len);
	free(token);
	free(request);
	json_object_put(o);
	return rc;
}

void cfssl_answer_clear(cfssl_answer *a)
{
	X509_free(a->cert);
	memset(a, 0, sizeof(*a));
}

void cfssl_parse_answer(const char *body, size_t len, cfssl_answer *out)
{
	json_object *o = p11e_peer_json_object(body, len), *v, *result, *errs;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return;
	if (json_object_object_get_ex(o, "success", &v) &&
	    json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v) &&
	    json_object_object_get_ex(o, "result", &result) &&
	    json_object_is_type(result, json_type_object)) {
		out->success = 1;
		if (json_object_object_get_ex(result, "certificate", &v) &&
		    json_object_is_type(v, json_type_string))
			out->cert = p11e_x509_from_pem(json_object_get_string(v));
	}
	if (json_object_object_get_ex(o, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array) && json_object_array_length(errs) > 0) {
		json_object *e = json_object_array_get_idx(errs, 0), *code = NULL, *msg = NULL;
		char text[200];

		if (!json_object_object_get_ex(e, "code", &code) ||
		    !json_object_is_type(code, json_type_int))
			code = NULL;
		if (!json_object_object_get_ex(e, "message", &msg) ||
		    !json_object_is_type(msg, json_type_string))
			msg = NULL;
		p11e_peer_copy(text, sizeof(text),
			       msg ? json_object_get_string(msg) : "(no message)");
		snprintf(out->reason, sizeof(out->reason), "cfssl error %" PRId64 ": %s",
			 code ? json_object_get_int64(code) : (int64_t)0, text);
	}
	json_object_put(o);
}

/* One call. P11E_OK with the parsed answer in out (out->success says whether
 * CFSSL gave a result; out->reason always holds words for a refusal); a 5xx
 * without a result is P11E_FAIL (rerun later). */
static p11e_rc call(const cfssl *c, const char *path, const char *body, cfssl_answer *out,
		    p11e_err *err)
{
	char url[1024], *answer = NULL;
	long status = 0;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s%s", c->url, path);
	rc = p11e_http_post(&c->http, url, body, &status, &answer, err);
	if (rc != P11E_OK)
		return rc;
	cfssl_parse_answer(answer, answer ? strlen(answer) : 0, out);
	free(answer);
	if (out->success)
		return P11E_OK;
	if (out->reason[0] == '\0')
		snprintf(out->reason, sizeof(out->reason),
			 "cfssl answered HTTP %ld without a result", status);
	if (status >= 500)
		rc = p11e_errf(err, P11E_FAIL, "%s: %s; rerun later", url, out->reason);
	return rc;
}

/* The CA certificate from /info (CFSSL 1.2 serves one, not a bundle). */
static p11e_rc cfssl_chain(void *state, STACK_OF(X509) * *out, p11e_err *err)
{
	cfssl *c = state;
	json_object *req = json_object_new_object();
	cfssl_answer ans = {0};
	p11e_rc rc;

	*out = NULL;
	if (req == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	json_object_object_add(req, "label", json_object_new_string(c->label ? c->label : ""));
	rc = call(c, "/api/v1/cfssl/info",
		  json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), &ans, err);
	if (rc == P11E_OK && !ans.success)
		rc = p11e_errf(err, P11E_FAIL, "%s: info: %s", c->url, ans.reason);
	if (rc != P11E_OK)
		goto out;
	if (ans.cert == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "%s: info holds no CA certificate", c->url);
		goto out;
	}
	if ((*out = sk_X509_new_null()) == NULL || sk_X509_push(*out, ans.cert) == 0) {
		sk_X509_free(*out);
		*out = NULL;
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	ans.cert = NULL; /* the stack's now */
out:
	cfssl_answer_clear(&ans);
	json_object_put(req);
	return rc;
}

static p11e_rc cfssl_submit(void *state, X509_REQ *csr, const p11e_profile *profile,
			    const char *request_key, p11e_ca_result *out, p11e_err *err)
{
	cfssl *c = state;
	json_object *inner = json_object_new_object();
	cfssl_answer ans = {0};
	char *csr_pem = p11e_csr_to_pem(csr), *body = NULL;
	const char *inner_text;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if (inner == NULL || csr_pem == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	json_object_object_add(inner, "certificate_request", json_object_new_string(csr_pem));
	json_object_object_add(inner, "profile",
			       json_object_new_string(server_profile(c, profile)));
	if (c->label != NULL)
		json_object_object_add(inner, "label", json_object_new_string(c->label));
	inner_text = json_object_to_json_string_ext(inner, JSON_C_TO_STRING_PLAIN);
	if (c->auth_key_file != NULL)
		rc = authsign_body(c, inner_text, &body, err);
	else
		rc = (body = strdup(inner_text)) ? P11E_OK
						 : p11e_errf(err, P11E_FAIL, "out of memory");
	if (rc == P11E_OK)
		rc = call(c, c->auth_key_file ? "/api/v1/cfssl/authsign" : "/api/v1/cfssl/sign",
			  body, &ans, err);
	if (rc != P11E_OK)
		goto out;
	/* CFSSL has no request ids: ours names the request. */
	snprintf(out->request_id, sizeof(out->request_id), "%s", request_key);
	if (!ans.success) {
		out->state = P11E_CA_STATE_REJECTED;
		snprintf(out->reason, sizeof(out->reason), "%s", ans.reason);
		goto out;
	}
	if (ans.cert == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "%s: the answer holds no certificate", c->url);
		goto out;
	}
	out->cert = ans.cert;
	ans.cert = NULL;
	rc = cfssl_chain(c, &out->chain, err);
	if (rc == P11E_OK)
		out->state = P11E_CA_STATE_ISSUED;
out:
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	cfssl_answer_clear(&ans);
	json_object_put(inner);
	free(csr_pem);
	free(body);
	return rc;
}

static p11e_rc cfssl_poll(void *state, const char *request_id, const p11e_profile *profile,
			  p11e_ca_result *out, p11e_err *err)
{
	(void)state;
	(void)request_id;
	(void)profile;
	(void)out;
	return p11e_errf(err, P11E_UNSUPPORTED,
			 "ca cfssl: CFSSL never leaves a request pending; nothing to poll");
}

/* The certificate's authority key identifier in lower-case hex, or "". */
static void aki_hex(X509 *cert, char *out, size_t cap)
{
	const ASN1_OCTET_STRING *kid = cert ? X509_get0_authority_key_id(cert) : NULL;
	size_t n = kid ? (size_t)ASN1_STRING_length(kid) : 0;

	out[0] = '\0';
	if (n > 0 && n * 2 < cap)
		p11e_hex_encode(ASN1_STRING_get0_data(kid), n, out);
}

static p11e_rc revoke_once(const cfssl *c, const char *serial_dec, const char *aki,
			   const char *reason, cfssl_answer *ans, p11e_err *err)
{
	json_object *req = json_object_new_object();
	p11e_rc rc;

	if (req == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	json_object_object_add(req, "serial", json_object_new_string(serial_dec));
	json_object_object_add(req, "authority_key_id", json_object_new_string(aki));
	json_object_object_add(req, "reason", json_object_new_string(reason));
	rc = call(c, "/api/v1/cfssl/revoke", json_object_to_json_string(req), ans, err);
	json_object_put(req);
	return rc;
}

/* /api/v1/cfssl/revoke with the serial in decimal (as CFSSL's certificate
 * database keeps it) and the authority key identifier. CFSSL 1.2.0 (Debian
 * 12's) stores an empty identifier (measured), so a "not found" with the
 * real one is asked again with the empty one. CFSSL updates the row again on
 * a second revocation: no "already" to report. */
static p11e_rc cfssl_revoke(void *state, const char *serial, X509 *cert, int reason, int *already,
			    p11e_err *err)
{
	cfssl *c = state;
	BIGNUM *bn = NULL;
	char *dec = NULL, aki[130];
	cfssl_answer ans = {0};
	p11e_rc rc;

	*already = 0;
	aki_hex(cert, aki, sizeof(aki));
	if (BN_hex2bn(&bn, serial) == 0 || (dec = BN_bn2dec(bn)) == NULL) {
		rc = p11e_errf(err, P11E_USAGE, "serial: %s is not a serial number", serial);
		goto out;
	}
	rc = revoke_once(c, dec, aki, p11e_revoke_reason_name(reason), &ans, err);
	if (rc == P11E_OK && !ans.success && aki[0] != '\0' &&
	    strstr(ans.reason, "not found") != NULL) {
		cfssl_answer_clear(&ans);
		rc = revoke_once(c, dec, "", p11e_revoke_reason_name(reason), &ans, err);
	}
	if (rc == P11E_OK && !ans.success)
		rc = p11e_errf(err,
			       strstr(ans.reason, "not found") != NULL ? P11E_NOT_FOUND
								       : P11E_CA_REJECTED,
			       "ca cfssl: revoke %s: %s (CFSSL revokes only what its certificate "
			       "database, serve -db-config, holds)",
			       serial, ans.reason);
out:
	cfssl_answer_clear(&ans);
	OPENSSL_free(dec);
	BN_free(bn);
	return rc;
}

/* "profiles" maps p11enroll profile names (the user's) to CFSSL's; ca_bundle
 * and the timeouts are p11e_http_from_config's. */
static const char *const cfssl_config_keys[] = {
    "type",    "url",	   "ca_bundle",	 "timeout",	  "connect_timeout", "retries",
    "profile", "profiles", "profiles.*", "auth_key_file", "label",	     NULL};

const p11e_ca_ops p11e_ca_cfssl_ops = {
    .type = "cfssl",
    .open = cfssl_open,
    .submit = cfssl_submit,
    .poll = cfssl_poll,
    .chain = cfssl_chain,
    .close = cfssl_close,
    .config_keys = cfssl_config_keys,
    .revoke = cfssl_revoke,
};
