/* The cmp backend's transaction documents and the first look at each answer.
 *
 * A document (kind "cmp-request", name HASH/REQUEST_KEY) is
 *   { "transaction": HEX, "request": "ir", "csr": PEM,
 *     "answers": [HEX DER, ...], "confirmed": true, "cert": PEM, "chain": PEM }
 * "answers" are the CA's messages that OpenSSL accepted, kept so that a run
 * after a crash can replay them into a new OSSL_CMP_CTX and go on with the
 * same transaction (ca_cmp_ses.c) instead of starting a second one. */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include "ca/ca_cmp.h"
#include "p11enroll/util.h"

void cmp_doc_clear(cmp_doc *d)
{
	if (d == NULL)
		return;
	free(d->csr_pem);
	free(d->cert_pem);
	free(d->chain_pem);
	for (size_t i = 0; i < d->n_kept; i++)
		free(d->kept[i]);
	memset(d, 0, sizeof(*d));
}

static const char *type_name(int req_type)
{
	switch (req_type) {
	case OSSL_CMP_P10CR:
		return "p10cr";
	case OSSL_CMP_KUR:
		return "kur";
	default:
		return "ir";
	}
}

static int type_of(const char *name)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "ir") == 0)
		return OSSL_CMP_IR;
	if (strcmp(name, "p10cr") == 0)
		return OSSL_CMP_P10CR;
	if (strcmp(name, "kur") == 0)
		return OSSL_CMP_KUR;
	return -1;
}

static int add_string(json_object *o, const char *key, const char *value)
{
	json_object *v;

	if (value == NULL)
		return 0;
	if ((v = json_object_new_string(value)) == NULL)
		return -1;
	return json_object_object_add(o, key, v);
}

char *cmp_doc_encode(const cmp_doc *d)
{
	json_object *o = json_object_new_object(), *answers = json_object_new_array();
	char *text = NULL;
	int bad = o == NULL || answers == NULL;

	for (size_t i = 0; !bad && i < d->n_kept; i++) {
		char *hex = malloc(2 * d->kept_len[i] + 1);
		json_object *v = NULL;

		if (hex != NULL) {
			p11e_hex_encode(d->kept[i], d->kept_len[i], hex);
			v = json_object_new_string(hex);
		}
		bad = v == NULL || json_object_array_add(answers, v) != 0;
		free(hex);
	}
	if (!bad) {
		bad = add_string(o, "transaction", d->txid) != 0 ||
		      add_string(o, "request", type_name(d->req_type)) != 0 ||
		      add_string(o, "csr", d->csr_pem) != 0 ||
		      json_object_object_add(o, "answers", answers) != 0;
		answers = NULL;
	}
	if (!bad && d->confirmed)
		bad = json_object_object_add(o, "confirmed", json_object_new_boolean(1)) != 0 ||
		      add_string(o, "cert", d->cert_pem) != 0 ||
		      add_string(o, "chain", d->chain_pem) != 0;
	if (!bad)
		text = strdup(json_object_to_json_string_ext(
		    o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(answers);
	json_object_put(o);
	return text;
}

static char *dup_member(json_object *o, const char *key, int *bad)
{
	json_object *v;
	char *s;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	if (!json_object_is_type(v, json_type_string) ||
	    (s = strdup(json_object_get_string(v))) == NULL) {
		*bad = 1;
		return NULL;
	}
	return s;
}

int cmp_doc_decode(const char *text, size_t len, cmp_doc *out)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *v, *answers;
	const char *tx;
	int bad = 0;

	memset(out, 0, sizeof(*out));
	if (tok == NULL || len > (size_t)INT32_MAX)
		goto fail;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "transaction", &v) ||
	    !json_object_is_type(v, json_type_string))
		goto fail;
	tx = json_object_get_string(v);
	if (strlen(tx) != 32 || strspn(tx, "0123456789abcdef") != 32)
		goto fail;
	memcpy(out->txid, tx, 33);
	if (!json_object_object_get_ex(o, "request", &v) ||
	    (out->req_type = type_of(json_object_get_string(v))) < 0)
		goto fail;
	out->csr_pem = dup_member(o, "csr", &bad);
	out->cert_pem = dup_member(o, "cert", &bad);
	out->chain_pem = dup_member(o, "chain", &bad);
	out->confirmed = json_object_object_get_ex(o, "confirmed", &v) &&
			 json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
	if (bad || out->csr_pem == NULL || (out->confirmed && out->cert_pem == NULL))
		goto fail;
	if (!json_object_object_get_ex(o, "answers", &answers) ||
	    !json_object_is_type(answers, json_type_array) ||
	    json_object_array_length(answers) > CMP_KEPT_MAX)
		goto fail;
	for (size_t i = 0; i < json_object_array_length(answers); i++) {
		const char *hex;
		size_t n = 0;

		v = json_object_array_get_idx(answers, i);
		if (!json_object_is_type(v, json_type_string))
			goto fail;
		hex = json_object_get_string(v);
		if (strlen(hex) == 0 || strlen(hex) / 2 > CMP_ANSWER_MAX ||
		    (out->kept[i] = malloc(strlen(hex) / 2 + 1)) == NULL)
			goto fail;
		out->n_kept = i + 1;
		if (p11e_hex_decode(hex, out->kept[i], strlen(hex) / 2 + 1, &n) != 0 || n == 0)
			goto fail;
		out->kept_len[i] = n;
	}
	json_object_put(o);
	json_tokener_free(tok);
	return 0;
fail:
	json_object_put(o);
	if (tok != NULL)
		json_tokener_free(tok);
	cmp_doc_clear(out);
	return -1;
}

int cmp_doc_keep(cmp_doc *d, const unsigned char *der, size_t len)
{
	unsigned char *copy;
	const unsigned char *p = der;
	OSSL_CMP_MSG *m = d2i_OSSL_CMP_MSG(NULL, &p, (long)len);
	int poll_rep = m != NULL && OSSL_CMP_MSG_get_bodytype(m) == CMP_BODY_POLLREP;
	size_t at = d->n_kept;

	OSSL_CMP_MSG_free(m);
	if (poll_rep && at > 0) {
		p = d->kept[at - 1];
		m = d2i_OSSL_CMP_MSG(NULL, &p, (long)d->kept_len[at - 1]);
		if (m != NULL && OSSL_CMP_MSG_get_bodytype(m) == CMP_BODY_POLLREP)
			at--;
		OSSL_CMP_MSG_free(m);
	}
	ERR_clear_error();
	if (at >= CMP_KEPT_MAX || (copy = malloc(len)) == NULL)
		return -1;
	memcpy(copy, der, len);
	if (at < d->n_kept)
		free(d->kept[at]);
	d->kept[at] = copy;
	d->kept_len[at] = len;
	d->n_kept = at + 1;
	return 0;
}

static char *doc_name(const cmp *c, const char *request_key)
{
	size_t n = strlen(c->hash) + strlen(request_key) + 2;
	char *name = malloc(n);

	if (name != NULL)
		snprintf(name, n, "%s/%s", c->hash, request_key);
	return name;
}

p11e_rc cmp_doc_load(const cmp *c, const char *request_key, cmp_doc *out, p11e_err *err)
{
	char *name = doc_name(c, request_key), where[400];
	unsigned char *text = NULL;
	size_t len = 0;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if (name == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_store_get(c->store, "cmp-request", name, &text, &len, err);
	if (rc == P11E_OK && cmp_doc_decode((const char *)text, len, out) != 0)
		rc = p11e_errf(
		    err, P11E_FAIL,
		    "ca cmp: %s is not a CMP transaction of p11enroll's; remove the "
		    "identity's record to start over",
		    p11e_store_describe(c->store, "cmp-request", name, where, sizeof(where)));
	free(text);
	free(name);
	return rc;
}

p11e_rc cmp_doc_save(const cmp *c, const char *request_key, const cmp_doc *d, p11e_err *err)
{
	char *name = doc_name(c, request_key), *text = cmp_doc_encode(d);
	p11e_rc rc;

	if (name == NULL || text == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	else /* durable: what the CA knows must survive a crash */
		rc = p11e_store_put(c->store, "cmp-request", name, text, strlen(text),
				    P11E_STORE_DURABLE, err);
	free(name);
	free(text);
	return rc;
}

p11e_rc cmp_doc_remove(const cmp *c, const char *request_key, p11e_err *err)
{
	char *name = doc_name(c, request_key);
	p11e_rc rc;

	if (name == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_store_remove(c->store, "cmp-request", name, err);
	free(name);
	return rc == P11E_NOT_FOUND ? P11E_OK : rc;
}

OSSL_CMP_MSG *cmp_answer_parse(const unsigned char *der, size_t len, const unsigned char *txid,
			       size_t txid_len, p11e_err *err)
{
	const unsigned char *p = der;
	OSSL_CMP_MSG *m = NULL;
	const OSSL_CMP_PKIHEADER *hdr;
	const ASN1_OCTET_STRING *tid;
	int type;

	if (len == 0 || len > CMP_ANSWER_MAX) {
		p11e_errf(err, P11E_FAIL, "ca cmp: the CA's answer is %s (%zu bytes)",
			  len == 0 ? "empty" : "too large", len);
		return NULL;
	}
	m = d2i_OSSL_CMP_MSG(NULL, &p, (long)len);
	if (m == NULL || p != der + len) {
		p11e_errf(err, P11E_FAIL, "ca cmp: the CA's answer is not a PKIMessage (DER)%s",
			  m != NULL ? ": bytes after its end" : "");
		goto bad;
	}
	hdr = OSSL_CMP_MSG_get0_header(m);
	tid = hdr ? OSSL_CMP_HDR_get0_transactionID((OSSL_CMP_PKIHEADER *)hdr) : NULL;
	if (txid != NULL && (tid == NULL || (size_t)ASN1_STRING_length(tid) != txid_len ||
			     memcmp(ASN1_STRING_get0_data(tid), txid, txid_len) != 0)) {
		p11e_errf(err, P11E_FAIL,
			  "ca cmp: the CA's answer is for another transaction (transactionID)");
		goto bad;
	}
	type = OSSL_CMP_MSG_get_bodytype(m);
	switch (type) {
	case CMP_BODY_IP:
	case CMP_BODY_CP:
	case CMP_BODY_KUP:
	case CMP_BODY_RP:
	case CMP_BODY_PKICONF:
	case CMP_BODY_ERROR:
	case CMP_BODY_POLLREP:
		ERR_clear_error();
		return m;
	default:
		p11e_errf(err, P11E_FAIL,
			  "ca cmp: the CA answered with a message of type %d, which no CA sends "
			  "to a client",
			  type);
	}
bad:
	OSSL_CMP_MSG_free(m);
	ERR_clear_error();
	return NULL;
}
