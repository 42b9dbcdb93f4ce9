/* The parsers of DigiCert CertCentral's answers (ca_digicert.h). */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "ca/ca_digicert.h"
#include "p11enroll/ca.h"
#include "p11enroll/csr.h"
#include "p11enroll/peer.h"
#include "p11enroll/util.h"

int digicert_is_id(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n]; n++)
		if (!isdigit((unsigned char)s[n]))
			return 0;
	return n > 0 && n < 20;
}

int digicert_final_refusal(const char *status)
{
	static const char *const bad[] = {"rejected", "denied",	 "canceled", "cancelled",
					  "revoked",  "expired", NULL};

	for (size_t i = 0; status != NULL && bad[i] != NULL; i++)
		if (strcmp(status, bad[i]) == 0)
			return 1;
	return 0;
}

static const char *obj_string(const json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* An id: a positive number, or a string of digits (strtoll of 1 to 19
 * digits may still pass INT64_MAX: those are refused). 0 if neither. */
static int64_t obj_id(const json_object *o, const char *key)
{
	json_object *v;
	int64_t id = 0;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_int))
		id = json_object_get_int64(v);
	else if (json_object_is_type(v, json_type_string) &&
		 digicert_is_id(json_object_get_string(v))) {
		char *end;
		long long n = strtoll(json_object_get_string(v), &end, 10);
		id = n == LLONG_MAX ? 0 : (int64_t)n;
	}
	return id > 0 && id < INT64_MAX ? id : 0;
}

void digicert_parse_errors(const char *body, size_t len, long status, char *out, size_t out_len)
{
	json_object *o = p11e_peer_json_object(body, len), *errs;
	size_t used;
	int n;

	n = snprintf(out, out_len, "HTTP %ld", status);
	used = n > 0 && (size_t)n < out_len ? (size_t)n : out_len - 1;
	if (o != NULL && json_object_object_get_ex(o, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array)) {
		for (size_t i = 0;
		     i < json_object_array_length(errs) && i < 4 && used + 1 < out_len; i++) {
			json_object *e = json_object_array_get_idx(errs, i);
			const char *code = obj_string(e, "code"), *msg = obj_string(e, "message");
			n = snprintf(out + used, out_len - used, "%s %s: %s", i ? ";" : ":",
				     code ? code : "error", msg ? msg : "(no message)");
			used = n > 0 && (size_t)n < out_len - used ? used + (size_t)n : out_len - 1;
		}
	} else if (o == NULL && body != NULL && len > 0) {
		snprintf(out + used, out_len - used, ": %.*s", len < 120 ? (int)len : 120, body);
	}
	json_object_put(o);
	p11e_peer_clean(out);
}

void digicert_order_doc_clear(digicert_order_doc *d)
{
	free(d->csr);
	memset(d, 0, sizeof(*d));
}

/* Why an order was refused: a request's processor_comment (the approver's
 * words), else the order's, else its status. */
static void refusal_reason(const json_object *order, const char *status, char *out, size_t len)
{
	json_object *reqs;
	const char *why = NULL;

	if (json_object_object_get_ex(order, "requests", &reqs) &&
	    json_object_is_type(reqs, json_type_array))
		for (size_t i = json_object_array_length(reqs); i > 0 && why == NULL; i--) {
			why =
			    obj_string(json_object_array_get_idx(reqs, i - 1), "processor_comment");
			if (why != NULL && why[0] == '\0')
				why = NULL;
		}
	if (why == NULL)
		why = obj_string(order, "processor_comment");
	if (why != NULL && why[0] != '\0')
		snprintf(out, len, "DigiCert order %s: %.200s", status, why);
	else
		snprintf(out, len, "DigiCert order %s", status);
	p11e_peer_clean(out);
}

int digicert_parse_order(const char *body, size_t len, const char *request_key,
			 digicert_order_doc *out)
{
	json_object *o = p11e_peer_json_object(body, len), *cert = NULL;
	const char *status, *comments, *csr;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return -1;
	status = obj_string(o, "status");
	p11e_peer_copy(out->status, sizeof(out->status), status ? status : "unknown");
	if (json_object_object_get_ex(o, "certificate", &cert)) {
		out->cert_id = obj_id(cert, "id");
		if ((csr = obj_string(cert, "csr")) != NULL && (out->csr = strdup(csr)) != NULL)
			out->same_csr_text = 1;
	}
	comments = obj_string(o, "comments");
	out->has_comment = comments != NULL && request_key != NULL && request_key[0] != '\0' &&
			   strstr(comments, request_key) != NULL;
	if (digicert_final_refusal(out->status))
		refusal_reason(o, out->status, out->reason, sizeof(out->reason));
	json_object_put(o);
	return 0;
}

int digicert_parse_order_list(const char *body, size_t len, const char *product, int64_t *ids,
			      size_t max, size_t *n)
{
	json_object *o = p11e_peer_json_object(body, len), *orders;

	*n = 0;
	if (o == NULL || !json_object_object_get_ex(o, "orders", &orders) ||
	    !json_object_is_type(orders, json_type_array)) {
		json_object_put(o);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(orders) && *n < max; i++) {
		json_object *e = json_object_array_get_idx(orders, i), *prod;
		const char *name_id = NULL;
		int64_t id = obj_id(e, "id");

		if (json_object_object_get_ex(e, "product", &prod))
			name_id = obj_string(prod, "name_id");
		if (id <= 0 || digicert_final_refusal(obj_string(e, "status")) ||
		    (name_id != NULL && product != NULL && strcmp(name_id, product) != 0))
			continue;
		ids[(*n)++] = id;
	}
	json_object_put(o);
	return 0;
}

int digicert_parse_new_order(const char *body, size_t len, int64_t *order_id, char **chain_pem)
{
	json_object *o = p11e_peer_json_object(body, len), *chain;
	size_t total = 1, n;
	char *pem;

	*order_id = 0;
	*chain_pem = NULL;
	if (o == NULL)
		return -1;
	*order_id = obj_id(o, "id");
	if (!json_object_object_get_ex(o, "certificate_chain", &chain) ||
	    !json_object_is_type(chain, json_type_array) ||
	    (n = json_object_array_length(chain)) == 0) {
		json_object_put(o);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const char *p = obj_string(json_object_array_get_idx(chain, i), "pem");
		total += (p ? strlen(p) : 0) + 1;
	}
	if ((pem = malloc(total)) == NULL) {
		json_object_put(o);
		return -1;
	}
	total = 0; /* now what is used */
	for (size_t i = 0; i < n; i++) {
		const char *p = obj_string(json_object_array_get_idx(chain, i), "pem");
		size_t plen = p ? strlen(p) : 0;
		if (p != NULL) {
			memcpy(pem + total, p, plen);
			pem[total + plen] = '\n';
			total += plen + 1;
		}
	}
	pem[total] = '\0';
	*chain_pem = pem;
	json_object_put(o);
	return 0;
}

int digicert_parse_revoke(const char *body, size_t len, int64_t *request_id, char *status,
			  size_t status_len)
{
	json_object *o = p11e_peer_json_object(body, len);
	const char *s;

	*request_id = 0;
	p11e_peer_copy(status, status_len, "unknown");
	if (o == NULL)
		return -1;
	*request_id = obj_id(o, "id");
	if ((s = obj_string(o, "status")) != NULL)
		p11e_peer_copy(status, status_len, s);
	json_object_put(o);
	return 0;
}

/* Whether a PEM CSR's DER has the SHA-256 key (hex). */
static int csr_has_key(const char *pem, const char *key)
{
	X509_REQ *req = pem && strstr(pem, "-----BEGIN") ? p11e_csr_from_pem(pem) : NULL;
	unsigned char *der = NULL, md[32];
	unsigned int md_len = 0;
	char hex[2 * sizeof(md) + 1];
	int n = req ? i2d_X509_REQ(req, &der) : 0, same = 0;

	if (n > 0 && EVP_Digest(der, (size_t)n, md, &md_len, EVP_sha256(), NULL) == 1 &&
	    md_len == sizeof(md)) {
		p11e_hex_encode(md, sizeof(md), hex);
		same = strcasecmp(hex, key) == 0;
	}
	OPENSSL_free(der);
	X509_REQ_free(req);
	return same;
}

/* Whether a listed reissue is the certificate with serial skip. */
static int is_serial(const json_object *c, const char *skip)
{
	const char *serial = obj_string(c, "serial_number");
	char canon[80];

	return skip != NULL && skip[0] != '\0' && serial != NULL &&
	       p11e_serial_canonical("serial_number", serial, canon, sizeof(canon), NULL) ==
		   P11E_OK &&
	       strcmp(canon, skip) == 0;
}

int digicert_parse_reissues(const char *body, size_t len, const char *key, const char *skip,
			    int64_t *cert_id, char *status, size_t status_len)
{
	json_object *o = p11e_peer_json_object(body, len), *certs;
	int found = 0;

	*cert_id = 0;
	p11e_peer_copy(status, status_len, "unknown");
	if (o == NULL || !json_object_object_get_ex(o, "certificates", &certs) ||
	    !json_object_is_type(certs, json_type_array)) {
		json_object_put(o);
		return -1;
	}
	/* Newest last or first: the one with our CSR, whichever it is. */
	for (size_t i = 0; i < json_object_array_length(certs) && !found; i++) {
		json_object *c = json_object_array_get_idx(certs, i);
		const char *st;

		if (!json_object_is_type(c, json_type_object) ||
		    !csr_has_key(obj_string(c, "csr"), key) || is_serial(c, skip))
			continue;
		found = 1;
		*cert_id = obj_id(c, "id");
		st = obj_string(c, "status");
		p11e_peer_copy(status, status_len, st ? st : "unknown");
	}
	json_object_put(o);
	return found;
}
