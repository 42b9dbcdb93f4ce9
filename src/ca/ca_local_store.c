/* The embedded CA's state in the store (store.h), so that every station of
 * one store shares one index, one serial space and one CRL number:
 *
 *   ca-request CAID/REQUEST_KEY  {"serial", "pem", "issued_at"}: the
 *                                certificate issued for one request, so a
 *                                resubmission from any station gets it again
 *   ca-cert    CAID/SERIAL       the index line of one certificate
 *                                (ca_local_index.c), plus "revoked_at" and
 *                                "reason" once it is revoked
 *   counter    ca-crl/CAID       the last CRL number
 *   lock       ca/CAID           one submission, revocation or CRL at a time
 *
 * CAID is the hex SHA-256 of the CA's public key (SubjectPublicKeyInfo):
 * the same on every station, whatever directory the CA has there, and the
 * same for a CA certificate re-issued on the same key, whose serials and
 * revocations are still its own. With the file store all of it lives in the
 * CA's directory (p11e_store_open_home). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11enroll/ca.h"
#include "p11enroll/clock.h"
#include "p11enroll/pem.h"
#include "p11enroll/util.h"
#include "ca/ca_local.h"

/* Issuance holds the lock while it signs (on a token, a second or more):
 * a waiter gives up only when the holder is clearly stuck. */
#define CA_LOCK_WAIT_MS (10L * 60 * 1000)

p11e_rc p11e_ca_local_id(X509 *cert, char out[65], p11e_err *err)
{
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int ok = len > 0 && EVP_Digest(der, (size_t)len, md, &md_len, EVP_sha256(), NULL) == 1 &&
		 md_len == 32;

	OPENSSL_free(der);
	if (!ok)
		return p11e_errf_ssl(err, P11E_FAIL, "cannot hash the CA's public key");
	p11e_hex_encode(md, md_len, out);
	return P11E_OK;
}

p11e_rc p11e_ca_local_lock(const p11e_ca_local *ca, p11e_lock *lock, p11e_err *err)
{
	return p11e_lock_acquire(ca->store, "ca", ca->id, CA_LOCK_WAIT_MS, lock, err);
}

static p11e_rc doc_name(const p11e_ca_local *ca, const char *what, char *out, size_t cap,
			p11e_err *err)
{
	if ((size_t)snprintf(out, cap, "%s/%s", ca->id, what) >= cap)
		return p11e_errf(err, P11E_USAGE, "local CA: '%.80s' is too long", what);
	return P11E_OK;
}

/* The document kind/CAID/what as JSON: *o NULL when there is none. */
static p11e_rc get_json(const p11e_ca_local *ca, const char *kind, const char *what,
			struct json_object **o, p11e_err *err)
{
	char name[200];
	unsigned char *data = NULL;
	size_t len = 0;
	p11e_rc rc;

	*o = NULL;
	if ((rc = doc_name(ca, what, name, sizeof(name), err)) != P11E_OK)
		return rc;
	rc = p11e_store_get(ca->store, kind, name, &data, &len, err);
	if (rc == P11E_NOT_FOUND)
		return P11E_OK;
	if (rc != P11E_OK)
		return rc;
	*o = json_tokener_parse((const char *)data);
	free(data);
	if (*o == NULL || !json_object_is_type(*o, json_type_object)) {
		char where[400];

		json_object_put(*o);
		*o = NULL;
		return p11e_errf(err, P11E_FAIL, "local CA: %s is not JSON; restore it from backup",
				 p11e_store_describe(ca->store, kind, name, where, sizeof(where)));
	}
	return P11E_OK;
}

/* Written durably (flags P11E_STORE_DURABLE) where the certificate leaves
 * (or the revocation is reported) only after its document is on stable
 * storage. */
static p11e_rc put_json(const p11e_ca_local *ca, const char *kind, const char *what,
			struct json_object *o, int flags, p11e_err *err)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
	char name[200];
	p11e_rc rc;

	if (text == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((rc = doc_name(ca, what, name, sizeof(name), err)) != P11E_OK)
		return rc;
	return p11e_store_put(ca->store, kind, name, text, strlen(text), flags, err);
}

p11e_rc p11e_ca_local_serial_taken(const p11e_ca_local *ca, const char *serial, int *taken,
				   p11e_err *err)
{
	struct json_object *o = NULL;
	p11e_rc rc = get_json(ca, "ca-cert", serial, &o, err);

	*taken = o != NULL;
	json_object_put(o);
	return rc;
}

p11e_rc p11e_ca_local_request_get(const p11e_ca_local *ca, const char *request_key, X509 **cert,
				  p11e_err *err)
{
	struct json_object *o = NULL, *pem = NULL;
	p11e_rc rc = get_json(ca, "ca-request", request_key, &o, err);

	*cert = NULL;
	if (rc != P11E_OK || o == NULL)
		return rc;
	if (!json_object_object_get_ex(o, "pem", &pem) ||
	    (*cert = p11e_x509_from_pem(json_object_get_string(pem))) == NULL) {
		char name[200], where[400];

		snprintf(name, sizeof(name), "%s/%s", ca->id, request_key);
		rc = p11e_errf(err, P11E_FAIL,
			       "local CA: the certificate in %s is not PEM; restore it from backup",
			       p11e_store_describe(ca->store, "ca-request", name, where,
						   sizeof(where)));
	}
	json_object_put(o);
	return rc;
}

p11e_rc p11e_ca_local_request_put(const p11e_ca_local *ca, const char *request_key, X509 *cert,
				  const char *serial, time_t issued_at, p11e_err *err)
{
	struct json_object *o = json_object_new_object();
	char *pem = p11e_x509_to_pem(cert), at[32];
	p11e_rc rc;

	if (o == NULL || pem == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	p11e_iso_format(issued_at, at);
	json_object_object_add(o, "serial", json_object_new_string(serial));
	json_object_object_add(o, "issued_at", json_object_new_string(at));
	json_object_object_add(o, "pem", json_object_new_string(pem));
	/* The one durable document of an issuance: it holds the certificate
	 * and its serial, and the index entry after it is rebuilt from it. */
	rc = put_json(ca, "ca-request", request_key, o, P11E_STORE_DURABLE, err);
out:
	free(pem);
	json_object_put(o);
	return rc;
}

p11e_rc p11e_ca_local_cert_put(const p11e_ca_local *ca, struct json_object *line, p11e_err *err)
{
	struct json_object *s = NULL;

	if (!json_object_object_get_ex(line, "serial", &s))
		return p11e_errf(err, P11E_FAIL, "local CA: an index line without a serial");
	/* Not durable (docs/store.md#durability): the request's document,
	 * durable before it, names the serial; a lost entry is read back from
	 * it (p11e_ca_local_store_index) and put back by the next submission
	 * of that request. */
	return put_json(ca, "ca-cert", json_object_get_string(s), line, 0, err);
}

p11e_rc p11e_ca_local_cert_revoke(const p11e_ca_local *ca, const char *serial, int reason,
				  time_t at, int *already, p11e_err *err)
{
	struct json_object *o = NULL, *v = NULL;
	char when[32];
	p11e_rc rc;

	*already = 0;
	if ((rc = get_json(ca, "ca-cert", serial, &o, err)) != P11E_OK)
		return rc;
	if (o == NULL) {
		/* Issued before the index was in the store (the caller found it in
		 * index.jsonl): the revocation is what the store learns of it. */
		if ((o = json_object_new_object()) == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		json_object_object_add(o, "serial", json_object_new_string(serial));
	} else if (json_object_object_get_ex(o, "revoked_at", &v)) {
		struct json_object *r = NULL;
		/* A hold gives way to a final revocation (RFC 5280 5.3.1). */
		int held = json_object_object_get_ex(o, "reason", &r) &&
			   p11e_revoke_reason_parse(json_object_get_string(r)) ==
			       P11E_REASON_CERTIFICATE_HOLD;
		if (!held || reason == P11E_REASON_CERTIFICATE_HOLD) {
			*already = 1;
			json_object_put(o);
			return P11E_OK;
		}
	}
	p11e_iso_format(at, when);
	json_object_object_add(o, "revoked_at", json_object_new_string(when));
	json_object_object_add(o, "reason",
			       json_object_new_string(p11e_revoke_reason_name(reason)));
	rc = put_json(ca, "ca-cert", serial, o, P11E_STORE_DURABLE, err);
	json_object_put(o);
	return rc;
}

p11e_rc p11e_ca_local_cert_unhold(const p11e_ca_local *ca, const char *serial, p11e_err *err)
{
	struct json_object *o = NULL, *r = NULL;
	p11e_rc rc;

	if ((rc = get_json(ca, "ca-cert", serial, &o, err)) != P11E_OK || o == NULL)
		return rc;
	if (json_object_object_get_ex(o, "reason", &r) &&
	    p11e_revoke_reason_parse(json_object_get_string(r)) == P11E_REASON_CERTIFICATE_HOLD) {
		json_object_object_del(o, "revoked_at");
		json_object_object_del(o, "reason");
		rc = put_json(ca, "ca-cert", serial, o, P11E_STORE_DURABLE, err);
	}
	json_object_put(o);
	return rc;
}

static int in_issued(const p11e_ca_local_index *ix, const char *serial)
{
	for (size_t i = 0; i < ix->n_issued; i++)
		if (strcmp(ix->issued[i], serial) == 0)
			return 1;
	return 0;
}

static int in_revoked(const p11e_ca_local_index *ix, const char *serial)
{
	for (size_t i = 0; i < ix->n_revoked; i++)
		if (strcmp(ix->revoked[i].serial, serial) == 0)
			return 1;
	return 0;
}

/* One ca-cert document into ix, as index.jsonl's lines would put it. */
static p11e_rc merge_doc(const p11e_store_doc *d, p11e_ca_local_index *ix, p11e_err *err)
{
	struct json_object *o = json_tokener_parse((const char *)d->data), *v = NULL;
	const char *serial = NULL;
	p11e_ca_local_revocation r;
	p11e_err ignored;
	char canon[65];
	p11e_rc rc = P11E_OK;

	memset(&r, 0, sizeof(r));
	if (o != NULL && json_object_object_get_ex(o, "serial", &v))
		serial = json_object_get_string(v);
	if (serial == NULL ||
	    p11e_serial_canonical("serial", serial, canon, sizeof(canon), &ignored) != P11E_OK) {
		rc = p11e_errf(err, P11E_FAIL,
			       "local CA: the index entry %s is not one; restore it from backup",
			       d->name);
		goto out;
	}
	if (!in_issued(ix, canon) && p11e_ca_local_index_push_issued(ix, canon) != 0)
		goto oom;
	if (!json_object_object_get_ex(o, "revoked_at", &v) || in_revoked(ix, canon))
		goto out;
	snprintf(r.serial, sizeof(r.serial), "%s", canon);
	r.at = p11e_iso_parse(json_object_get_string(v));
	r.reason = json_object_object_get_ex(o, "reason", &v)
		       ? p11e_revoke_reason_parse(json_object_get_string(v))
		       : -1;
	if (r.at < 0 || r.reason < 0) {
		rc = p11e_errf(err, P11E_FAIL,
			       "local CA: the revocation of %s has no valid time or reason; "
			       "restore it from backup",
			       d->name);
		goto out;
	}
	if (p11e_ca_local_index_push_revoked(ix, &r) != 0)
		goto oom;
	goto out;
oom:
	rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	json_object_put(o);
	return rc;
}

/* The serial one ca-request document names, issued: its ca-cert entry,
 * written after it and not durably, may be lost with the power. */
static p11e_rc merge_request(const p11e_store_doc *d, p11e_ca_local_index *ix, p11e_err *err)
{
	struct json_object *o = json_tokener_parse((const char *)d->data), *v = NULL;
	p11e_err ignored;
	char canon[65];
	p11e_rc rc = P11E_OK;

	if (o == NULL || !json_object_object_get_ex(o, "serial", &v) ||
	    p11e_serial_canonical("serial", json_object_get_string(v), canon, sizeof(canon),
				  &ignored) != P11E_OK)
		rc = p11e_errf(err, P11E_FAIL,
			       "local CA: the request document %s names no serial; restore it "
			       "from backup",
			       d->name);
	else if (!in_issued(ix, canon) && p11e_ca_local_index_push_issued(ix, canon) != 0)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	json_object_put(o);
	return rc;
}

p11e_rc p11e_ca_local_store_index(const p11e_ca_local *ca, p11e_ca_local_index *ix, p11e_err *err)
{
	p11e_store_doc *docs = NULL;
	size_t n = 0, idlen = strlen(ca->id);
	p11e_rc rc = p11e_store_list(ca->store, "ca-cert", &docs, &n, err);

	for (size_t i = 0; rc == P11E_OK && i < n; i++)
		if (strncmp(docs[i].name, ca->id, idlen) == 0 && docs[i].name[idlen] == '/')
			rc = merge_doc(&docs[i], ix, err);
	p11e_store_docs_free(docs, n);
	docs = NULL;
	n = 0;
	if (rc == P11E_OK)
		rc = p11e_store_list(ca->store, "ca-request", &docs, &n, err);
	for (size_t i = 0; rc == P11E_OK && i < n; i++)
		if (strncmp(docs[i].name, ca->id, idlen) == 0 && docs[i].name[idlen] == '/')
			rc = merge_request(&docs[i], ix, err);
	p11e_store_docs_free(docs, n);
	return rc;
}

p11e_rc p11e_ca_local_crl_number(const p11e_ca_local *ca, unsigned long long first,
				 unsigned long long *out, p11e_err *err)
{
	char name[80];

	snprintf(name, sizeof(name), "ca-crl/%s", ca->id);
	return p11e_store_counter_next(ca->store, name, first, out, err);
}
