/* The "vault-kv2" vault: HashiCorp Vault / OpenBao, KV secrets engine version
 * 2, over HTTPS (libcurl through util/http.c: TLS always verified, against
 * "ca_bundle" when given).
 *
 *   "vault": { "type": "vault-kv2", "url": "https://vault.example:8200",
 *              "mount": "secret", "path": "p11enroll", "namespace": "pki",
 *              "ca_bundle": "vault-ca.pem",
 *              "token_source": "file:/etc/p11enroll/vault-token" }
 *   or, instead of token_source,
 *              "approle": { "role_id": "...", "secret_id_source": "env:SECRET_ID",
 *                           "mount": "approle" }
 *
 * A secret named NAME is the KV entry PATH/NAME of MOUNT, data
 * {"secret": "..."} (printable ASCII) or {"secret_base64": "..."}:
 *   put    POST   /v1/MOUNT/data/PATH/NAME  {"options":{"cas":0},"data":{...}}
 *          cas 0 = write only if absent: Vault answers 400 "check-and-set
 *          parameter did not match the current version" if NAME exists.
 *   get    GET    /v1/MOUNT/data/PATH/NAME  -> {"data":{"data":{...},"metadata":{...}}}
 *   list   GET    /v1/MOUNT/metadata/PATH?list=true -> {"data":{"keys":[...]}}
 *   delete DELETE /v1/MOUNT/metadata/PATH/NAME (every version)
 *   login  POST   /v1/auth/APPROLE/login {"role_id","secret_id"} -> auth.client_token
 * with X-Vault-Token and, for Vault Enterprise / OpenBao namespaces,
 * X-Vault-Namespace. Errors come as {"errors":["..."]}; a 404 with an empty
 * list is "no such secret", one with a message is "no such mount/route".
 *
 * Secrets in request and response bodies and the token are wiped after use
 * (json-c's own parse buffers are beyond reach). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "p11enroll/http.h"
#include "p11enroll/sbuf.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"
#include "p11enroll/conf.h"
#include "p11enroll/vault.h"
#include "vault/vault_kv2.h"
#include "vault/vault_meta.h"

#define NAME_MAX_LEN 1024 /* identities reach 254 (RFC 5321); Vault takes long keys */

typedef struct kv2 {
	char *url;	    /* without a trailing '/' */
	char *mount;	    /* URL-escaped segments, no outer '/' */
	char *prefix;	    /* URL-escaped segments, no outer '/'; may be "" */
	char *mount_plain;  /* for messages */
	char *prefix_plain; /* for messages */
	char *ns_header;    /* "X-Vault-Namespace: NS" or NULL */
	char *ns;
	char *token_header; /* "X-Vault-Token: ..." (a secret) */
	char *ca_bundle;
	p11e_http http;
} kv2;

static const char *const known_keys[] = {"type",
					 "url",
					 "mount",
					 "path",
					 "namespace",
					 "ca_bundle",
					 "timeout",
					 "connect_timeout",
					 "retries",
					 "token_source",
					 "approle",
					 "approle.role_id",
					 "approle.secret_id_source",
					 "approle.mount",
					 NULL};
static const char *const approle_keys[] = {"role_id", "secret_id_source", "mount", NULL};

/* --- small helpers --- */

/* A header value must not end the header: no CR, LF or other controls. */
static int header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Percent-encodes s, keeping unreserved characters, '@' and (with
 * keep_slash) '/'; outer slashes are dropped. */
static char *escape_path(const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s), n = 0;
	char *out = malloc(3 * len + 1);

	if (out == NULL)
		return NULL;
	while (keep_slash && *s == '/')
		s++;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~@", c) != NULL || (keep_slash && c == '/')) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 0xf];
		}
	}
	while (keep_slash && n > 0 && out[n - 1] == '/')
		n--;
	out[n] = '\0';
	return out;
}

static p11e_rc check_name(const char *name, p11e_err *err)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > NAME_MAX_LEN ||
	    strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    !header_safe(name))
		return p11e_errf(err, P11E_USAGE,
				 "vault: a secret's name must be 1 to %d printable characters "
				 "without '/'",
				 NAME_MAX_LEN);
	return P11E_OK;
}

/* A growing buffer for request bodies that may hold a secret. */
static void wipe_resp(p11e_http_resp *r)
{
	if (r->body != NULL)
		OPENSSL_cleanse(r->body, r->body_len);
	p11e_http_resp_free(r);
}

/* Whether a 404 names no secret ({"errors":[]}) rather than no route. */
static int plain_404(const p11e_http_resp *r)
{
	char text[8];

	kv2_parse_error(r->body, r->body_len, text, sizeof(text));
	return r->status == 404 && text[0] == '\0';
}

/* The one-line error for an answer that is not success. */
static p11e_rc status_error(const kv2 *k, const p11e_http_resp *r, const char *doing, p11e_err *err)
{
	char text[200], ns[160] = "";

	kv2_parse_error(r->body, r->body_len, text, sizeof(text));
	if (k->ns != NULL)
		snprintf(ns, sizeof(ns), " in namespace '%.100s'", k->ns);
	else
		snprintf(ns, sizeof(ns), " (and \"namespace\", if it lives in one)");
	if (r->status == 401 || r->status == 403)
		return p11e_errf(err, P11E_FAIL,
				 "vault %s: permission denied %s (HTTP %ld%s%s): check the token's "
				 "policy%s",
				 k->url, doing, r->status, text[0] ? ": " : "", text, ns);
	if (r->status == 404)
		return p11e_errf(
		    err, P11E_CONFIG, "vault %s: no such mount or route %s (%s): check \"mount\"%s",
		    k->url, doing, text[0] ? text : "HTTP 404", k->ns ? " and \"namespace\"" : "");
	if (r->status >= 500)
		return p11e_errf(err, P11E_FAIL,
				 "vault %s failed %s (HTTP %ld: %s); try again later", k->url,
				 doing, r->status,
				 text[0]	    ? text
				 : r->status == 503 ? "sealed or in maintenance?"
						    : "server error");
	return p11e_errf(err, P11E_FAIL, "vault %s refused %s (HTTP %ld%s%s)", k->url, doing,
			 r->status, text[0] ? ": " : "", text);
}

/* One request to /v1/PATH. A transfer failure is "unreachable". */
static p11e_rc call(const kv2 *k, const char *method, const char *path, const p11e_sbuf *body,
		    int with_token, p11e_http_resp *resp, p11e_err *err)
{
	const char *headers[4];
	size_t nh = 0;
	size_t ulen = strlen(k->url) + strlen(path) + 8;
	char *url = malloc(ulen);
	p11e_http_req req = {.method = method};
	p11e_rc rc;

	if (url == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(url, ulen, "%s/v1/%s", k->url, path);
	if (with_token)
		headers[nh++] = k->token_header;
	if (k->ns_header != NULL)
		headers[nh++] = k->ns_header;
	headers[nh++] = "X-Vault-Request: true";
	headers[nh] = NULL;
	req.url = url;
	req.headers = headers;
	if (body != NULL) {
		req.body = body->p;
		req.body_len = body->len;
	}
	rc = p11e_http_request(&k->http, &req, resp, err);
	if (rc == P11E_FAIL && err != NULL) {
		/* http.c speaks of CAs; say what is down here. */
		char msg[P11E_ERR_MAX];
		if (p11e_http_error_text(err, msg, sizeof(msg)))
			p11e_errf(err, P11E_FAIL,
				  "vault TLS check failed: %.400s; check \"ca_bundle\"", msg);
		else
			p11e_errf(err, P11E_FAIL, "vault unreachable: %.400s", msg);
	}
	free(url);
	return rc;
}

/* "MOUNT/KIND/PREFIX/NAME" (NAME and PREFIX optional), escaped. */
static char *api_path(const kv2 *k, const char *kind, const char *name, const char *query)
{
	char *ename = name ? escape_path(name, 0) : strdup("");
	size_t len;
	char *out;

	if (ename == NULL)
		return NULL;
	len = strlen(k->mount) + strlen(kind) + strlen(k->prefix) + strlen(ename) +
	      (query ? strlen(query) : 0) + 8;
	if ((out = malloc(len)) != NULL)
		snprintf(out, len, "%s/%s%s%s%s%s%s", k->mount, kind, k->prefix[0] ? "/" : "",
			 k->prefix, ename[0] ? "/" : "", ename, query ? query : "");
	free(ename);
	return out;
}

/* --- login --- */

static p11e_rc approle_login(kv2 *k, const p11e_config *cfg, const json_object *ar, p11e_err *err)
{
	const char *role_id = p11e_conf_string(ar, "role_id");
	const char *sid_src = p11e_conf_string(ar, "secret_id_source");
	const char *mount = p11e_conf_string(ar, "mount");
	char *src = NULL, *secret_id = NULL, *emount = NULL, *path = NULL, *token = NULL;
	p11e_http_resp resp = {0};
	p11e_sbuf body = {0};
	p11e_rc rc;

	if ((rc = p11e_conf_check_keys(ar, approle_keys, "vault.approle", err)) != P11E_OK)
		return rc;
	if (role_id == NULL || role_id[0] == '\0' || sid_src == NULL || sid_src[0] == '\0')
		return p11e_errf(err, P11E_CONFIG,
				 "vault: approle needs \"role_id\" and \"secret_id_source\" "
				 "(env:VAR or file:PATH)");
	if (!p11e_printable_ascii(role_id, strlen(role_id)))
		return p11e_errf(err, P11E_CONFIG, "vault: approle role_id is not printable");
	if ((src = p11e_vault_resolve_source(cfg, sid_src)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_secret_read(src, "vault AppRole secret_id", &secret_id, err);
	free(src);
	if (rc != P11E_OK)
		return rc;
	if (!p11e_printable_ascii(secret_id, strlen(secret_id))) {
		rc = p11e_errf(err, P11E_CONFIG, "vault: the AppRole secret_id is not printable");
		goto out;
	}
	emount = escape_path(mount && mount[0] ? mount : "approle", 1);
	if (emount == NULL || (path = malloc(strlen(emount) + 16)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	sprintf(path, "auth/%s/login", emount);
	p11e_sbuf_str(&body, "{\"role_id\":");
	p11e_sbuf_json_n(&body, role_id, strlen(role_id));
	p11e_sbuf_str(&body, ",\"secret_id\":");
	p11e_sbuf_json_n(&body, secret_id, strlen(secret_id));
	p11e_sbuf_str(&body, "}");
	if (body.failed) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if ((rc = call(k, "POST", path, &body, 0, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status != 200) {
		rc = status_error(k, &resp, "the AppRole login (check role_id and secret_id)", err);
		goto out;
	}
	if (kv2_parse_login(resp.body, resp.body_len, &token) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "vault %s: the AppRole login answer has no token",
			       k->url);
		goto out;
	}
	if ((k->token_header = malloc(strlen(token) + 16)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	sprintf(k->token_header, "X-Vault-Token: %s", token);
	rc = P11E_OK;
out:
	p11e_secret_free(token, (size_t)-1);
	wipe_resp(&resp);
	p11e_sbuf_free(&body);
	p11e_secret_free(secret_id, (size_t)-1);
	free(emount);
	free(path);
	return rc;
}

static p11e_rc token_login(kv2 *k, const p11e_config *cfg, const char *source, p11e_err *err)
{
	char *src = p11e_vault_resolve_source(cfg, source), *token = NULL;
	p11e_rc rc;

	if (src == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_secret_read(src, "vault token", &token, err);
	free(src);
	if (rc != P11E_OK)
		return rc;
	if (!header_safe(token))
		rc = p11e_errf(err, P11E_CONFIG,
			       "vault: the token from token_source is not printable");
	else if ((k->token_header = malloc(strlen(token) + 16)) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	else
		sprintf(k->token_header, "X-Vault-Token: %s", token);
	p11e_secret_free(token, (size_t)-1);
	return rc;
}

/* --- the vtable --- */

static void kv2_close(void *state)
{
	kv2 *k = state;

	if (k == NULL)
		return;
	p11e_secret_free(k->token_header, (size_t)-1);
	free(k->url);
	free(k->mount);
	free(k->prefix);
	free(k->mount_plain);
	free(k->prefix_plain);
	free(k->ns_header);
	free(k->ns);
	free(k->ca_bundle);
	free(k);
}

static p11e_rc kv2_open(const p11e_config *cfg, const json_object *conf,
			const p11e_vault_open_params *p, void **state, p11e_err *err)
{
	const char *url = p11e_conf_string(conf, "url"), *mount = p11e_conf_string(conf, "mount");
	const char *prefix = p11e_conf_string(conf, "path"),
		   *ns = p11e_conf_string(conf, "namespace");
	const char *token_source = p11e_conf_string(conf, "token_source");
	json_object *approle = NULL;
	kv2 *k;
	size_t len;
	p11e_rc rc;

	(void)p; /* no officer key: Vault's policies decide who reads */
	*state = NULL;
	if ((rc = p11e_conf_check_keys(conf, known_keys, "vault (type vault-kv2)", err)) != P11E_OK)
		return rc;
	json_object_object_get_ex(conf, "approle", &approle);
	if (url == NULL || url[0] == '\0')
		return p11e_errf(err, P11E_CONFIG,
				 "vault: type vault-kv2 needs \"url\" (https://HOST:8200)");
	if ((token_source == NULL) == (approle == NULL))
		return p11e_errf(err, P11E_CONFIG,
				 "vault: give exactly one of \"token_source\" (env:VAR or "
				 "file:PATH) and \"approle\" {role_id, secret_id_source}");
	if (approle != NULL && !json_object_is_type(approle, json_type_object))
		return p11e_errf(err, P11E_CONFIG, "vault: \"approle\" must be an object");
	if (ns != NULL && (ns[0] == '\0' || !header_safe(ns)))
		return p11e_errf(err, P11E_CONFIG, "vault: \"namespace\" must be printable");
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((rc = p11e_http_from_config(conf, "vault", &k->http, err)) != P11E_OK)
		goto fail;
	k->url = strdup(url);
	k->mount_plain = strdup(mount && mount[0] ? mount : "secret");
	k->prefix_plain = strdup(prefix ? prefix : "p11enroll");
	k->mount = k->mount_plain ? escape_path(k->mount_plain, 1) : NULL;
	k->prefix = k->prefix_plain ? escape_path(k->prefix_plain, 1) : NULL;
	if (k->http.ca_bundle != NULL)
		k->http.ca_bundle = k->ca_bundle = strdup(k->http.ca_bundle);
	if (ns != NULL) {
		k->ns = strdup(ns);
		if ((k->ns_header = malloc(strlen(ns) + 24)) != NULL)
			sprintf(k->ns_header, "X-Vault-Namespace: %s", ns);
	}
	if (k->url == NULL || k->mount == NULL || k->prefix == NULL ||
	    (ns != NULL && (k->ns == NULL || k->ns_header == NULL)) ||
	    (k->http.ca_bundle != NULL && k->ca_bundle == NULL)) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto fail;
	}
	if (k->mount[0] == '\0') {
		rc = p11e_errf(err, P11E_CONFIG, "vault: \"mount\" is empty");
		goto fail;
	}
	len = strlen(k->url);
	while (len > 0 && k->url[len - 1] == '/')
		k->url[--len] = '\0';
	rc = token_source ? token_login(k, cfg, token_source, err)
			  : approle_login(k, cfg, approle, err);
	if (rc != P11E_OK)
		goto fail;
	*state = k;
	return P11E_OK;
fail:
	kv2_close(k);
	return rc;
}

static p11e_rc kv2_get(void *state, const char *name, unsigned char **out, size_t *len,
		       p11e_err *err)
{
	kv2 *k = state;
	p11e_http_resp resp = {0};
	char *path = NULL, doing[300];
	p11e_rc rc;

	if ((rc = check_name(name, err)) != P11E_OK)
		return rc;
	if ((path = api_path(k, "data", name, NULL)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(doing, sizeof(doing), "reading '%.200s'", name);
	if ((rc = call(k, "GET", path, NULL, 1, &resp, err)) != P11E_OK)
		goto out;
	if (plain_404(&resp)) {
		rc = p11e_errf(
		    err, P11E_NOT_FOUND, "vault: no secret escrowed for '%.200s' (%s/data/%s%s%s)",
		    name, k->mount_plain, k->prefix_plain, k->prefix_plain[0] ? "/" : "", name);
		goto out;
	}
	if (resp.status != 200) {
		rc = status_error(k, &resp, doing, err);
		goto out;
	}
	switch (kv2_parse_secret(resp.body, resp.body_len, out, len)) {
	case 0:
		break;
	case -2:
		rc = p11e_errf(err, P11E_FAIL, "vault %s: the entry for '%.200s' is not base64",
			       k->url, name);
		goto out;
	case -3:
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	default:
		rc = p11e_errf(err, P11E_FAIL,
			       "vault %s: the entry for '%.200s' has no \"secret\" field (not "
			       "written by p11enroll?)",
			       k->url, name);
		goto out;
	}
	rc = P11E_OK;
out:
	wipe_resp(&resp);
	free(path);
	return rc;
}

/* The custom metadata of name's entry (GET MOUNT/metadata/PATH/NAME). */
static p11e_rc read_meta(kv2 *k, const char *name, p11e_vault_meta *meta, p11e_err *err)
{
	p11e_http_resp resp = {0};
	char *path = api_path(k, "metadata", name, NULL), doing[300];
	p11e_rc rc;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(doing, sizeof(doing), "reading the metadata of '%.200s'", name);
	if ((rc = call(k, "GET", path, NULL, 1, &resp, err)) != P11E_OK)
		goto out;
	if (plain_404(&resp))
		rc = p11e_errf(err, P11E_NOT_FOUND, "vault: no secret escrowed for '%.200s'", name);
	else if (resp.status != 200)
		rc = status_error(k, &resp, doing, err);
	else if (kv2_parse_meta(resp.body, resp.body_len, meta) != 0)
		rc = p11e_errf(err, P11E_FAIL, "vault %s: the metadata of '%.200s' has no data",
			       k->url, name);
out:
	p11e_http_resp_free(&resp);
	free(path);
	return rc;
}

/* Vault replaces custom_metadata as a whole: read, merge, write. */
static p11e_rc kv2_set_meta(void *state, const char *name, const p11e_vault_meta *meta,
			    p11e_err *err)
{
	kv2 *k = state;
	p11e_vault_meta merged = {.created = ""};
	p11e_http_resp resp = {0};
	json_object *o = NULL, *custom = NULL;
	char *path = NULL, doing[300];
	p11e_sbuf body = {0};
	p11e_rc rc;

	if ((rc = check_name(name, err)) != P11E_OK ||
	    (rc = read_meta(k, name, &merged, err)) != P11E_OK)
		return rc;
	vault_meta_merge(&merged, meta);
	if ((path = api_path(k, "metadata", name, NULL)) == NULL ||
	    (o = json_object_new_object()) == NULL || (custom = json_object_new_object()) == NULL) {
		json_object_put(custom);
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	vault_meta_to_json(&merged, custom);
	json_object_object_add(o, "custom_metadata", custom);
	p11e_sbuf_str(&body, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	snprintf(doing, sizeof(doing), "writing the metadata of '%.200s'", name);
	if ((rc = call(k, "POST", path, &body, 1, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status != 200 && resp.status != 204)
		rc = status_error(k, &resp, doing, err);
out:
	p11e_sbuf_free(&body);
	json_object_put(o);
	p11e_http_resp_free(&resp);
	free(path);
	return rc;
}

static p11e_rc kv2_put(void *state, const char *name, const unsigned char *secret, size_t len,
		       const p11e_vault_meta *meta, p11e_err *err)
{
	kv2 *k = state;
	p11e_http_resp resp = {0};
	p11e_sbuf body = {0};
	char *path = NULL, *b64 = NULL, doing[300], text[200];
	unsigned char *have = NULL;
	size_t have_len = 0;
	p11e_err inner = {0};
	p11e_rc rc;

	if ((rc = check_name(name, err)) != P11E_OK)
		return rc;
	if (len == 0 || len > 64 * 1024)
		return p11e_errf(err, P11E_USAGE, "vault: a secret must be 1 byte to 64 KiB");
	if ((path = api_path(k, "data", name, NULL)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(doing, sizeof(doing), "writing '%.200s'", name);
	p11e_sbuf_str(&body, "{\"options\":{\"cas\":0},\"data\":{");
	if (p11e_printable_ascii((const char *)secret, len)) {
		p11e_sbuf_str(&body, "\"secret\":");
		p11e_sbuf_json_n(&body, (const char *)secret, len);
	} else {
		size_t blen = 4 * ((len + 2) / 3) + 1;
		if ((b64 = malloc(blen)) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		EVP_EncodeBlock((unsigned char *)b64, secret, (int)len);
		p11e_sbuf_str(&body, "\"secret_base64\":");
		p11e_sbuf_json_n(&body, b64, strlen(b64));
	}
	p11e_sbuf_str(&body, "}}");
	if (body.failed) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if ((rc = call(k, "POST", path, &body, 1, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status == 200 || resp.status == 204) {
		if (meta != NULL)
			rc = kv2_set_meta(k, name, meta, err);
		goto out;
	}
	kv2_parse_error(resp.body, resp.body_len, text, sizeof(text));
	if (resp.status == 400 && strstr(text, "check-and-set") != NULL) {
		/* Already there. If it is this very secret (a retried request whose
		 * first answer was lost), the put is done; otherwise refuse. */
		if (kv2_get(k, name, &have, &have_len, &inner) == P11E_OK && have_len == len &&
		    CRYPTO_memcmp(have, secret, len) == 0) {
			rc = meta != NULL ? kv2_set_meta(k, name, meta, err) : P11E_OK;
			goto out;
		}
		rc = p11e_errf(err, P11E_EXISTS,
			       "vault: a secret for '%.200s' is already escrowed (%s/data/%s%s%s); "
			       "it is never overwritten",
			       name, k->mount_plain, k->prefix_plain, k->prefix_plain[0] ? "/" : "",
			       name);
		goto out;
	}
	rc = status_error(k, &resp, doing, err);
out:
	p11e_secret_free((char *)have, have_len);
	p11e_secret_free(b64, (size_t)-1);
	p11e_sbuf_free(&body);
	wipe_resp(&resp);
	free(path);
	return rc;
}

/* Each name with its custom metadata (one read each): names move into
 * *entries. */
static p11e_rc list_entries(kv2 *k, char **names, size_t n, p11e_vault_entry **entries,
			    p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	if (n > 0 && (*entries = calloc(n, sizeof(**entries))) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (rc == P11E_OK) {
			(*entries)[i].name = names[i];
			rc = read_meta(k, names[i], &(*entries)[i].meta, err);
			if (rc == P11E_NOT_FOUND) /* deleted since the list */
				rc = P11E_OK;
		} else if (*entries == NULL || (*entries)[i].name != names[i]) {
			free(names[i]);
		}
	}
	free(names);
	return rc;
}

static p11e_rc kv2_list(void *state, p11e_vault_entry **entries, size_t *n, p11e_err *err)
{
	kv2 *k = state;
	p11e_http_resp resp = {0};
	char *path = api_path(k, "metadata", NULL, "?list=true");
	char **names = NULL;
	p11e_rc rc;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((rc = call(k, "GET", path, NULL, 1, &resp, err)) != P11E_OK)
		goto out;
	if (plain_404(&resp))
		goto out; /* nothing under the path yet */
	if (resp.status != 200) {
		rc = status_error(k, &resp, "listing the escrowed secrets", err);
		goto out;
	}
	switch (kv2_parse_list(resp.body, resp.body_len, &names, n)) {
	case 0:
		rc = list_entries(k, names, *n, entries, err);
		break;
	case -3:
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		break;
	default:
		rc =
		    p11e_errf(err, P11E_FAIL, "vault %s: the list answer has no data.keys", k->url);
	}
out:
	if (rc != P11E_OK) {
		p11e_vault_entries_free(*entries, *n);
		*entries = NULL;
		*n = 0;
	}
	p11e_http_resp_free(&resp);
	free(path);
	return rc;
}

static p11e_rc kv2_del(void *state, const char *name, p11e_err *err)
{
	kv2 *k = state;
	p11e_http_resp resp = {0};
	char *path = NULL, doing[300];
	p11e_rc rc;

	if ((rc = check_name(name, err)) != P11E_OK)
		return rc;
	if ((path = api_path(k, "metadata", name, NULL)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(doing, sizeof(doing), "deleting '%.200s'", name);
	/* Vault deletes a missing entry without complaint: ask first. */
	if ((rc = call(k, "GET", path, NULL, 1, &resp, err)) != P11E_OK)
		goto out;
	if (plain_404(&resp)) {
		rc = p11e_errf(err, P11E_NOT_FOUND, "vault: no secret escrowed for '%.200s'", name);
		goto out;
	}
	if (resp.status != 200) {
		rc = status_error(k, &resp, doing, err);
		goto out;
	}
	p11e_http_resp_free(&resp);
	if ((rc = call(k, "DELETE", path, NULL, 1, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status != 204 && resp.status != 200)
		rc = status_error(k, &resp, doing, err);
out:
	p11e_http_resp_free(&resp);
	free(path);
	return rc;
}

const p11e_vault_ops p11e_vault_kv2_ops = {
    .type = "vault-kv2",
    .open = kv2_open,
    .put = kv2_put,
    .set_meta = kv2_set_meta,
    .get = kv2_get,
    .list = kv2_list,
    .del = kv2_del,
    .close = kv2_close,
    .config_keys = known_keys,
};
