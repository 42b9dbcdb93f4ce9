/* DigiCert CertCentral, Services API v2: an S/MIME (secure email) order with
 * the CSR, the order polled until DigiCert issues it, the certificate and its
 * chain downloaded as PEM. Every request carries the API key in X-DC-DEVKEY;
 * the key is read from its source for each operation and wiped after it.
 *
 *   { "type": "digicert", "api_key_source": "file:/etc/p11enroll/digicert.key",
 *     "product": "secure_email_mailbox", "organization_id": 123456,
 *     "url": "https://www.digicert.com/services/v2" }
 *
 *   POST {url}/order/certificate/{product}        the order: {"id": ORDER, ...}
 *   GET  {url}/order/certificate/{ORDER}          status, certificate.id
 *   GET  {url}/certificate/{CERT}/download/format/pem_all   leaf, intermediates, root
 *   GET  {url}/order/certificate?filters[search]=EMAIL      an order already placed
 *
 * The request id is DigiCert's order id. CertCentral takes no idempotency
 * key, so before ordering (and before ordering again after a transfer that
 * may or may not have reached DigiCert) the orders for the address are
 * searched for one carrying this very CSR (or our request key in its
 * comments): a crash, a timeout or a 5xx after DigiCert took the order never
 * makes a second one. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include "ca/ca_digicert.h"
#include "p11enroll/ca.h"
#include "p11enroll/conf.h"
#include "p11enroll/csr.h"
#include "p11enroll/http.h"
#include "p11enroll/peer.h"
#include "p11enroll/pem.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"

#define DEFAULT_URL "https://www.digicert.com/services/v2"
#define DEFAULT_PRODUCT "secure_email_mailbox"
#define DEFAULT_POLL_INTERVAL 600

static const char *const known_keys[] = {
    "type",
    "url",
    "api_key_source",
    "product",
    "organization_id",
    "container_id",
    "payment_method",
    "skip_approval",
    "profile_type",
    "common_name_indicator",
    "poll_interval",
    "ca_bundle",
    "timeout",
    "connect_timeout",
    "retries",
    NULL,
};

void digicert_exchange_free(digicert_exchange *x)
{
	p11e_http_resp_free(&x->resp);
	memset(x, 0, sizeof(*x));
}

/* What goes into a URL path: DigiCert's names are [a-z0-9_]. */
static int is_name(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

static p11e_rc get_int_key(const json_object *conf, const char *key, int64_t min, int64_t max,
			   int64_t *out, p11e_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(conf, key, &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < min ||
	    json_object_get_int64(v) > max)
		return p11e_errf(err, P11E_CONFIG,
				 "ca digicert: \"%s\" must be a number from %" PRId64
				 " to %" PRId64,
				 key, min, max);
	*out = json_object_get_int64(v);
	return P11E_OK;
}

/* "X-DC-DEVKEY: KEY", malloc'd; free it with p11e_secret_free. The key must
 * be one printable word: a line break would inject headers. */
p11e_rc digicert_devkey_header(const digicert *d, char **out, p11e_err *err)
{
	static const char name[] = "X-DC-DEVKEY: ";
	p11e_err inner = {0};
	char *key = NULL;
	size_t len;
	p11e_rc rc;

	*out = NULL;
	rc = p11e_secret_read(d->key_source, "DigiCert API key", &key, &inner);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "ca digicert: api_key_source: %s", inner.msg);
	len = strlen(key);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f) {
			p11e_secret_free(key, len);
			return p11e_errf(err, P11E_CONFIG,
					 "ca digicert: the API key from %s holds spaces or control "
					 "characters; it must be the key alone",
					 d->key_source);
		}
	*out = malloc(sizeof(name) + len);
	if (*out == NULL) {
		p11e_secret_free(key, len);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	memcpy(*out, name, sizeof(name) - 1);
	memcpy(*out + sizeof(name) - 1, key, len + 1);
	p11e_secret_free(key, len);
	return P11E_OK;
}

static p11e_rc digicert_open(const json_object *conf, void **state, p11e_err *err)
{
	digicert *d = calloc(1, sizeof(*d));
	const char *url;
	char *hdr = NULL;
	json_object *v;
	int64_t poll = DEFAULT_POLL_INTERVAL;
	size_t n;
	p11e_rc rc = P11E_OK;

	*state = NULL;
	if (d == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	d->conf = json_object_get((json_object *)conf);
	if ((rc = p11e_conf_check_keys(conf, known_keys, "ca digicert", err)) != P11E_OK)
		goto fail;
	url = p11e_conf_string(conf, "url") ? p11e_conf_string(conf, "url") : DEFAULT_URL;
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(d->base)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca digicert: \"url\" must be the API's base, like " DEFAULT_URL);
		goto fail;
	}
	memcpy(d->base, url, n);
	d->base[n] = '\0';
	d->key_source = p11e_conf_string(conf, "api_key_source");
	if (d->key_source == NULL ||
	    (strncmp(d->key_source, "env:", 4) != 0 && strncmp(d->key_source, "file:", 5) != 0)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca digicert: \"api_key_source\" is required: env:VAR or file:PATH "
			       "holding the CertCentral API key (never the key itself)");
		goto fail;
	}
	d->product =
	    p11e_conf_string(conf, "product") ? p11e_conf_string(conf, "product") : DEFAULT_PRODUCT;
	if (!is_name(d->product)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca digicert: \"product\" '%.60s' is not a CertCentral product name "
			       "id like secure_email_mailbox",
			       d->product);
		goto fail;
	}
	d->opts.payment_method = p11e_conf_string(conf, "payment_method");
	d->opts.profile_type = p11e_conf_string(conf, "profile_type");
	d->opts.cn_indicator = p11e_conf_string(conf, "common_name_indicator");
	d->opts.skip_approval = -1;
	if (json_object_object_get_ex(conf, "skip_approval", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			rc = p11e_errf(err, P11E_CONFIG,
				       "ca digicert: \"skip_approval\" must be true or false");
			goto fail;
		}
		d->opts.skip_approval = json_object_get_boolean(v);
	}
	rc = get_int_key(conf, "organization_id", 1, INT64_MAX, &d->opts.organization_id, err);
	if (rc == P11E_OK)
		rc = get_int_key(conf, "container_id", 1, INT64_MAX, &d->opts.container_id, err);
	if (rc == P11E_OK)
		rc = get_int_key(conf, "poll_interval", 1, 86400, &poll, err);
	if (rc == P11E_OK)
		rc = p11e_http_from_config(conf, "digicert", &d->http, err);
	/* The key must be there before any token key is made. */
	if (rc == P11E_OK)
		rc = digicert_devkey_header(d, &hdr, err);
	p11e_secret_free(hdr, (size_t)-1);
	if (rc != P11E_OK)
		goto fail;
	d->poll_interval = (int)poll;
	*state = d;
	return P11E_OK;
fail:
	json_object_put(d->conf);
	free(d);
	return rc;
}

static void digicert_close(void *state)
{
	digicert *d = state;

	if (d == NULL)
		return;
	json_object_put(d->conf);
	free(d);
}

p11e_rc digicert_api(const digicert *d, const char *devkey, const char *method, const char *path,
		     const char *body, int no_retry, digicert_exchange *x, p11e_err *err)
{
	const char *headers[] = {devkey, "Accept: application/json", NULL};
	char url[1024];
	p11e_http_req req = {
	    .method = method,
	    .url = url,
	    .body = body,
	    .body_len = body ? strlen(body) : 0,
	    .headers = headers,
	    .no_retry = no_retry,
	};

	memset(x, 0, sizeof(*x));
	if ((size_t)snprintf(url, sizeof(url), "%s%s", d->base, path) >= sizeof(url))
		return p11e_errf(err, P11E_FAIL, "ca digicert: url too long");
	/* The download is PEM, not JSON. */
	if (strstr(path, "/download/") != NULL)
		headers[1] = "Accept: */*";
	return p11e_http_request(&d->http, &req, &x->resp, err);
}

void digicert_api_reason(const digicert_exchange *x, char *out, size_t len)
{
	digicert_parse_errors(x->resp.body, x->resp.body_len, x->resp.status, out, len);
}

/* The statuses every call treats alike: a refused key is the config's
 * problem, a 5xx or a rate limit the CA's (rerun later). P11E_OK otherwise,
 * the caller reading resp.status. */
p11e_rc digicert_common_status(const digicert_exchange *x, const char *what, p11e_err *err)
{
	char reason[300];
	long s = x->resp.status;

	if (s != 401 && s != 403 && s != 429 && s < 500)
		return P11E_OK;
	digicert_api_reason(x, reason, sizeof(reason));
	if (s == 401 || s == 403)
		return p11e_errf(err, P11E_CONFIG,
				 "ca digicert: %s: the API key was refused (%s); check "
				 "api_key_source and the key's permissions in CertCentral",
				 what, reason);
	return p11e_errf(err, P11E_FAIL, "ca digicert: %s: %s; rerun later", what, reason);
}

/* pem_all: the leaf (the one certificate that is not a CA) and the chain in
 * the order given, issuing CA first, root last. */
p11e_rc digicert_take_pem(const char *pem, const char *where, p11e_ca_result *out, p11e_err *err)
{
	STACK_OF(X509) *all = p11e_chain_from_pem(pem);
	X509 *leaf = NULL;

	if (all == NULL || sk_X509_num(all) == 0) {
		sk_X509_pop_free(all, X509_free);
		return p11e_errf(err, P11E_FAIL, "ca digicert: %s holds no PEM certificate", where);
	}
	for (int i = 0; i < sk_X509_num(all); i++)
		if (X509_check_ca(sk_X509_value(all, i)) == 0) {
			leaf = sk_X509_delete(all, i);
			break;
		}
	if (leaf == NULL) {
		sk_X509_pop_free(all, X509_free);
		return p11e_errf(err, P11E_FAIL, "ca digicert: %s holds only CA certificates",
				 where);
	}
	out->cert = leaf;
	out->chain = all;
	out->state = P11E_CA_STATE_ISSUED;
	return P11E_OK;
}

void digicert_set_pending(const digicert *d, const digicert_exchange *x, p11e_ca_result *out)
{
	out->state = P11E_CA_STATE_PENDING;
	/* Bounded before the cast: a huge Retry-After must not wrap negative. */
	out->retry_after = (int)p11e_peer_wait_s(p11e_http_retry_after(&x->resp, d->poll_interval));
}

p11e_rc digicert_download(const digicert *d, const char *devkey, int64_t cert_id,
			  p11e_ca_result *out, p11e_err *err)
{
	char path[128], what[96];
	digicert_exchange x;
	p11e_rc rc;

	snprintf(path, sizeof(path), "/certificate/%" PRId64 "/download/format/pem_all", cert_id);
	snprintf(what, sizeof(what), "certificate %" PRId64 " download", cert_id);
	rc = digicert_api(d, devkey, "GET", path, NULL, 0, &x, err);
	if (rc == P11E_OK)
		rc = digicert_common_status(&x, what, err);
	if (rc != P11E_OK)
		goto out;
	if (x.resp.status == 404) {
		/* Issued, not yet downloadable: ask again soon. */
		digicert_set_pending(d, &x, out);
		if (out->retry_after > 60)
			out->retry_after = 60;
	} else if (x.resp.status / 100 != 2) {
		char reason[300];
		digicert_api_reason(&x, reason, sizeof(reason));
		rc = p11e_errf(err, P11E_FAIL, "ca digicert: %s: %s", what, reason);
	} else {
		rc = digicert_take_pem(x.resp.body, what, out, err);
	}
out:
	digicert_exchange_free(&x);
	return rc;
}

/* The order's state now: issued (and downloaded), pending or refused. */
static p11e_rc order_state(const digicert *d, const char *devkey, int64_t order_id,
			   p11e_ca_result *out, p11e_err *err)
{
	char path[64], what[64];
	digicert_order_doc doc = {0};
	digicert_exchange x;
	p11e_rc rc;

	snprintf(path, sizeof(path), "/order/certificate/%" PRId64, order_id);
	snprintf(what, sizeof(what), "order %" PRId64, order_id);
	snprintf(out->request_id, sizeof(out->request_id), "%" PRId64, order_id);
	rc = digicert_api(d, devkey, "GET", path, NULL, 0, &x, err);
	if (rc == P11E_OK)
		rc = digicert_common_status(&x, what, err);
	if (rc != P11E_OK)
		goto out;
	if (x.resp.status == 404) {
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "ca digicert: order %" PRId64 " is unknown to DigiCert (HTTP 404); "
			       "is it the account the API key belongs to?",
			       order_id);
		goto out;
	}
	if (x.resp.status / 100 != 2 ||
	    digicert_parse_order(x.resp.body, x.resp.body_len, NULL, &doc) != 0) {
		char reason[300];
		digicert_api_reason(&x, reason, sizeof(reason));
		rc = p11e_errf(err, P11E_FAIL, "ca digicert: %s: %s", what, reason);
		goto out;
	}
	if (strcmp(doc.status, "issued") == 0) {
		int64_t cert_id = doc.cert_id;
		if (cert_id <= 0)
			rc = p11e_errf(err, P11E_FAIL,
				       "ca digicert: order %" PRId64 " is issued but names no "
				       "certificate id",
				       order_id);
		else
			rc = digicert_download(d, devkey, cert_id, out, err);
	} else if (digicert_final_refusal(doc.status)) {
		out->state = P11E_CA_STATE_REJECTED;
		snprintf(out->reason, sizeof(out->reason), "%s", doc.reason);
	} else {
		/* pending, processing, needs_approval, waiting_pickup, ...: later. */
		digicert_set_pending(d, &x, out);
	}
out:
	digicert_order_doc_clear(&doc);
	digicert_exchange_free(&x);
	return rc;
}

int digicert_same_csr(const char *pem, const unsigned char *der, int der_len)
{
	X509_REQ *req;
	unsigned char *their = NULL;
	int n, same;

	if (pem == NULL || strstr(pem, "-----BEGIN") == NULL)
		return 0;
	if ((req = p11e_csr_from_pem(pem)) == NULL)
		return 0;
	n = i2d_X509_REQ(req, &their);
	same = n == der_len && memcmp(their, der, (size_t)n) == 0;
	OPENSSL_free(their);
	X509_REQ_free(req);
	return same;
}

/* An order DigiCert already has for this request: one of the address's
 * orders (newest first) for our product, still alive, with the same CSR or
 * our request key in its comments. *order_id 0: none. A search the API
 * refuses (4xx) finds none; a CA that fails (5xx, down) is an error, so that
 * no second order is placed blind. */
static p11e_rc find_order(const digicert *d, const char *devkey, const char *email,
			  const unsigned char *der, int der_len, const char *request_key,
			  int64_t *order_id, p11e_err *err)
{
	char path[512], esc[300];
	int64_t ids[DIGICERT_LOOKUP_MAX];
	size_t n = 0;
	digicert_exchange list;
	p11e_rc rc;

	*order_id = 0;
	digicert_query_escape(email, esc, sizeof(esc));
	snprintf(path, sizeof(path),
		 "/order/certificate?filters%%5Bsearch%%5D=%s&sort=-date_created&limit=100", esc);
	rc = digicert_api(d, devkey, "GET", path, NULL, 0, &list, err);
	if (rc == P11E_OK)
		rc = digicert_common_status(&list, "order search", err);
	if (rc != P11E_OK || list.resp.status / 100 != 2 ||
	    digicert_parse_order_list(list.resp.body, list.resp.body_len, d->product, ids,
				      DIGICERT_LOOKUP_MAX, &n) != 0)
		goto out;
	for (size_t i = 0; i < n && *order_id == 0; i++) {
		digicert_order_doc doc;
		char opath[64];
		digicert_exchange info;

		snprintf(opath, sizeof(opath), "/order/certificate/%" PRId64, ids[i]);
		rc = digicert_api(d, devkey, "GET", opath, NULL, 0, &info, err);
		if (rc == P11E_OK)
			rc = digicert_common_status(&info, "order search", err);
		if (rc != P11E_OK) {
			digicert_exchange_free(&info);
			goto out;
		}
		if (info.resp.status / 100 == 2 &&
		    digicert_parse_order(info.resp.body, info.resp.body_len, request_key, &doc) ==
			0) {
			if (doc.has_comment || digicert_same_csr(doc.csr, der, der_len))
				*order_id = ids[i];
			digicert_order_doc_clear(&doc);
		}
		digicert_exchange_free(&info);
	}
out:
	digicert_exchange_free(&list);
	return rc;
}

void digicert_pause_before(int attempt)
{
	struct timespec ts = {1L << (attempt < 3 ? attempt : 3), 0};

	nanosleep(&ts, NULL);
}

/* Places the order, unless DigiCert already has one for this request. The
 * POST is never resent blind: after a transfer failure or a 5xx the orders
 * are searched again first. */
static p11e_rc place_order(const digicert *d, const char *devkey, const p11e_profile *profile,
			   const char *csr_pem, const unsigned char *der, int der_len,
			   const char *email, const char *request_key, p11e_ca_result *out,
			   p11e_err *err)
{
	char path[160], *body = NULL, *chain_pem = NULL;
	int64_t order_id = 0;
	int taken = 0;
	digicert_exchange x = {0};
	p11e_rc rc = P11E_OK;

	snprintf(path, sizeof(path), "/order/certificate/%s", d->product);
	for (int attempt = 0;; attempt++) {
		rc = find_order(d, devkey, email, der, der_len, request_key, &order_id, err);
		if (rc != P11E_OK || order_id != 0)
			break;
		if (body == NULL && (body = digicert_order_body(&d->opts, profile, csr_pem, email,
								request_key)) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			break;
		}
		digicert_exchange_free(&x);
		rc = digicert_api(d, devkey, "POST", path, body, 1, &x, err);
		if (rc == P11E_OK && x.resp.status / 100 == 2) {
			free(chain_pem);
			if (digicert_parse_new_order(x.resp.body, x.resp.body_len, &order_id,
						     &chain_pem) != 0)
				order_id = 0;
			if (order_id <= 0)
				rc =
				    p11e_errf(err, P11E_FAIL,
					      "ca digicert: the order was taken (HTTP %ld) but the "
					      "answer names no order id",
					      x.resp.status);
			break;
		}
		if (rc == P11E_OK && x.resp.status < 500)
			break; /* DigiCert's answer: a refusal, or the key's */
		/* Down, slow, or failing: DigiCert may have the order or not. */
		if (attempt >= (d->http.retries < 0 ? 0 : d->http.retries)) {
			if (rc == P11E_OK)
				rc = digicert_common_status(&x, "order", err);
			break;
		}
		digicert_pause_before(attempt);
	}
	free(body);
	if (rc != P11E_OK)
		goto out;
	if (order_id == 0) {
		/* 4xx: DigiCert refused the order, in its words. */
		rc = digicert_common_status(&x, "order", err);
		if (rc == P11E_OK) {
			char reason[200];
			digicert_api_reason(&x, reason, sizeof(reason));
			out->state = P11E_CA_STATE_REJECTED;
			snprintf(out->reason, sizeof(out->reason),
				 "DigiCert refused the order (%s)", reason);
		}
		goto out;
	}
	snprintf(out->request_id, sizeof(out->request_id), "%" PRId64, order_id);
	/* Issued at once: the order's certificate_chain, leaf first. */
	if (chain_pem != NULL && strstr(chain_pem, "-----BEGIN") != NULL) {
		rc = digicert_take_pem(chain_pem, "the order's certificate_chain", out, err);
		taken = rc == P11E_OK;
	}
	if (rc == P11E_OK && !taken)
		rc = order_state(d, devkey, order_id, out, err);
out:
	free(chain_pem);
	digicert_exchange_free(&x);
	return rc;
}

static p11e_rc digicert_submit(void *state, X509_REQ *csr, const p11e_profile *profile,
			       const char *request_key, p11e_ca_result *out, p11e_err *err)
{
	digicert *d = state;
	char *devkey = NULL, *csr_pem = NULL, *email = NULL;
	unsigned char *der = NULL;
	int der_len;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if ((profile->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT)) == 0 ||
	    (profile->purposes & P11E_PURPOSE_SERVER_AUTH) != 0)
		return p11e_errf(err, P11E_USAGE,
				 "ca digicert: orders secure email (S/MIME) certificates; profile "
				 "'%s' is not an S/MIME profile",
				 profile->name);
	if ((email = digicert_csr_email(csr)) == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "ca digicert: the CSR names no email address (rfc822Name); a "
				 "secure email order needs one");
	csr_pem = p11e_csr_to_pem(csr);
	der_len = i2d_X509_REQ(csr, &der);
	if (csr_pem == NULL || der_len <= 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca digicert: cannot encode the CSR");
		goto out;
	}
	rc = digicert_devkey_header(d, &devkey, err);
	if (rc == P11E_OK && d->renew_order > 0)
		rc = digicert_reissue(d, devkey, csr, out, err);
	else if (rc == P11E_OK)
		rc = place_order(d, devkey, profile, csr_pem, der, der_len, email, request_key, out,
				 err);
out:
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	/* set_renewal is for one submit or poll: a batch's next row is its own */
	d->renew_order = 0;
	d->renew_serial[0] = '\0';
	p11e_secret_free(devkey, (size_t)-1);
	OPENSSL_free(der);
	free(csr_pem);
	free(email);
	return rc;
}

static p11e_rc digicert_poll(void *state, const char *request_id, const p11e_profile *profile,
			     p11e_ca_result *out, p11e_err *err)
{
	digicert *d = state;
	char *devkey = NULL, key[65];
	int64_t order_id;
	p11e_rc rc;

	(void)profile;
	memset(out, 0, sizeof(*out));
	if (digicert_reissue_id_parse(request_id, &order_id, key, sizeof(key))) {
		rc = digicert_devkey_header(d, &devkey, err);
		if (rc == P11E_OK)
			rc = digicert_reissue_state(d, devkey, order_id, key, out, err);
		if (rc != P11E_OK)
			p11e_ca_result_clear(out);
		p11e_secret_free(devkey, (size_t)-1);
		d->renew_order = 0;
		d->renew_serial[0] = '\0';
		return rc;
	}
	if (!digicert_is_id(request_id))
		return p11e_errf(err, P11E_FAIL,
				 "ca digicert: request '%.40s' is not a DigiCert order id; was it "
				 "submitted to another CA?",
				 request_id ? request_id : "");
	rc = digicert_devkey_header(d, &devkey, err);
	if (rc == P11E_OK)
		rc = order_state(d, devkey, strtoll(request_id, NULL, 10), out, err);
	if (rc != P11E_OK)
		p11e_ca_result_clear(out);
	p11e_secret_free(devkey, (size_t)-1);
	d->renew_order = 0;
	d->renew_serial[0] = '\0';
	return rc;
}

static p11e_rc digicert_chain(void *state, STACK_OF(X509) * *out, p11e_err *err)
{
	(void)state;
	*out = NULL;
	return p11e_errf(err, P11E_UNSUPPORTED,
			 "ca digicert: DigiCert's chain comes with each certificate (pem_all); "
			 "see the chain stored on the token, or the enrollment record");
}

/* A revocation request for one certificate, named by its serial number
 * (CertCentral takes a certificate id or serial in the path), with the
 * reason in "comments" (the documented request has no reason field) and
 * skip_approval as configured. DigiCert revokes once an administrator
 * approves: a request left pending is P11E_PENDING, not done. */
static p11e_rc digicert_revoke(void *state, const char *serial, X509 *cert, int reason,
			       int *already, p11e_err *err)
{
	digicert *d = state;
	json_object *body = json_object_new_object();
	char path[128], why[300], status[32], upper[65];
	char *devkey = NULL;
	int64_t request_id = 0;
	digicert_exchange x = {0};
	p11e_rc rc;

	(void)cert;
	*already = 0;
	for (size_t i = 0; i < sizeof(upper) && (upper[i] = (char)toupper(serial[i])); i++)
		;
	upper[sizeof(upper) - 1] = '\0';
	snprintf(path, sizeof(path), "/certificate/%s/revoke", upper);
	json_object_object_add(body, "comments",
			       json_object_new_string(p11e_revoke_reason_name(reason)));
	if (d->opts.skip_approval == 1)
		json_object_object_add(body, "skip_approval", json_object_new_boolean(1));
	if ((rc = digicert_devkey_header(d, &devkey, err)) != P11E_OK ||
	    (rc = digicert_api(d, devkey, "PUT", path, json_object_to_json_string(body), 1, &x,
			       err)) != P11E_OK ||
	    (rc = digicert_common_status(&x, "revoke", err)) != P11E_OK)
		goto out;
	digicert_api_reason(&x, why, sizeof(why));
	if (x.resp.status == 404)
		rc = p11e_errf(err, P11E_NOT_FOUND, "ca digicert: no certificate %s: %s", upper,
			       why);
	else if (x.resp.status >= 400)
		rc = p11e_errf(err, P11E_CA_REJECTED, "ca digicert: revoke %s refused: %s", upper,
			       why);
	else if (digicert_parse_revoke(x.resp.body, x.resp.body_len, &request_id, status,
				       sizeof(status)) != 0)
		rc = p11e_errf(err, P11E_FAIL, "ca digicert: revoke %s: the answer is not JSON",
			       upper);
	else if (strcmp(status, "pending") == 0)
		rc = p11e_errf(err, P11E_PENDING,
			       "ca digicert: revocation request %" PRId64
			       " for %s awaits an administrator's approval in CertCentral",
			       request_id, upper);
out:
	digicert_exchange_free(&x);
	p11e_secret_free(devkey, (size_t)-1);
	json_object_put(body);
	return rc;
}

const p11e_ca_ops p11e_ca_digicert_ops = {
    .type = "digicert",
    .open = digicert_open,
    .submit = digicert_submit,
    .poll = digicert_poll,
    .chain = digicert_chain,
    .close = digicert_close,
    .config_keys = known_keys,
    .revoke = digicert_revoke,
    .set_renewal = digicert_set_renewal,
};
