/* Certificates on the token, with the attributes NSS and OpenSC need to pair
 * them with their key (raw C_CreateObject: libp11 sets no SERIAL_NUMBER). */
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include "token/p11_internal.h"

typedef struct der {
	unsigned char *value, *subject, *issuer, *serial;
	int value_len, subject_len, issuer_len, serial_len;
} der;

static void der_free(der *d)
{
	OPENSSL_free(d->value);
	OPENSSL_free(d->subject);
	OPENSSL_free(d->issuer);
	OPENSSL_free(d->serial);
}

static int der_encode(X509 *cert, der *d)
{
	memset(d, 0, sizeof(*d));
	d->value_len = i2d_X509(cert, &d->value);
	d->subject_len = i2d_X509_NAME(X509_get_subject_name(cert), &d->subject);
	d->issuer_len = i2d_X509_NAME(X509_get_issuer_name(cert), &d->issuer);
	d->serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &d->serial);
	return d->value_len > 0 && d->subject_len > 0 && d->issuer_len > 0 && d->serial_len > 0;
}

static int same_value(p11e_token *t, CK_OBJECT_HANDLE h, const der *d)
{
	unsigned char *val = NULL;
	CK_ULONG vlen = 0;
	int same = p11e_get_attr(t, h, CKA_VALUE, &val, &vlen) == CKR_OK &&
		   vlen == (CK_ULONG)d->value_len && memcmp(val, d->value, vlen) == 0;

	free(val);
	return same;
}

/* Certificates matching {CKO_CERTIFICATE, attr}: how many, and whether one
 * of them has exactly this DER value. */
static p11e_rc find_certs(p11e_token *t, CK_ATTRIBUTE_TYPE type, const void *v, CK_ULONG len,
			  const der *d, CK_ULONG *n, int *same, CK_OBJECT_HANDLE *match,
			  p11e_err *err)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {type, (void *)v, len}};
	CK_OBJECT_HANDLE *list = NULL;
	p11e_rc rc = p11e_find(t, tmpl, 2, &list, n, err);

	*same = 0;
	for (CK_ULONG i = 0; rc == P11E_OK && i < *n && !*same; i++)
		if (same_value(t, list[i], d)) {
			*same = 1;
			*match = list[i];
		}
	free(list);
	return rc;
}

static CK_RV create(p11e_token *t, const der *d, const unsigned char *id, size_t id_len,
		    const char *label, int authority, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE type = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG category = 2; /* authority */
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_CERTIFICATE_TYPE, &type, sizeof(type)},
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &no, sizeof(no)},
	    {CKA_ID, (void *)id, id_len},
	    {CKA_LABEL, (void *)label, strlen(label)},
	    {CKA_SUBJECT, d->subject, (CK_ULONG)d->subject_len},
	    {CKA_ISSUER, d->issuer, (CK_ULONG)d->issuer_len},
	    {CKA_SERIAL_NUMBER, d->serial, (CK_ULONG)d->serial_len},
	    {CKA_VALUE, d->value, (CK_ULONG)d->value_len},
	    {CKA_CERTIFICATE_CATEGORY, &category, sizeof(category)},
	};
	CK_ULONG n = authority ? 11 : 10;
	CK_RV rv = t->m->f->C_CreateObject(t->session, tmpl, n, out);

	/* Not every module knows CKA_CERTIFICATE_CATEGORY: it is only a hint. */
	if (authority && (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT ||
			  rv == CKR_ATTRIBUTE_VALUE_INVALID))
		rv = t->m->f->C_CreateObject(t->session, tmpl, 10, out);
	if (rv == CKR_OK && authority)
		p11e_known_add_kept(t, id, id_len, *out);
	else if (rv == CKR_OK)
		p11e_known_add(t, CKO_CERTIFICATE, id, id_len, *out);
	if (rv == CKR_DEVICE_MEMORY)
		t->out_of_room = 1; /* a card with no room for it: p11e_token_out_of_room */
	return rv;
}

p11e_rc p11e_token_store_cert(p11e_token *t, X509 *cert, const p11e_id *id, const char *label,
			      p11e_err *err)
{
	CK_OBJECT_HANDLE h;
	der d;
	CK_ULONG n = 0;
	int same = 0;
	CK_RV rv;
	p11e_rc rc = P11E_OK;

	if (!der_encode(cert, &d)) {
		der_free(&d);
		return p11e_errf_ssl(err, P11E_FAIL, "cannot encode the certificate");
	}
	/* A key this session made has no certificate yet: no search. */
	if (!p11e_known_made_key(t, id))
		rc = find_certs(t, CKA_ID, id->v, id->len, &d, &n, &same, &h, err);
	if (rc != P11E_OK || same) /* already there: writing it again is a no-op */
		goto out;
	if (n > 0) {
		rc = p11e_errf(err, P11E_EXISTS,
			       "token '%s': another certificate is already stored under this "
			       "CKA_ID; nothing was overwritten",
			       t->info.label);
		goto out;
	}
	rv = create(t, &d, id->v, id->len, label, 0, &h);
	if (rv == CKR_OK)
		p11e_known_unmade(t, id); /* it has a certificate now */
	if (rv != CKR_OK)
		rc = p11e_errf(err, P11E_FAIL, "token '%s': cannot store the certificate: %s",
			       t->info.label, CKR_TEXT(rv));
out:
	der_free(&d);
	return rc;
}

p11e_rc p11e_token_store_ca_cert(p11e_token *t, X509 *cert, p11e_err *err)
{
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
	unsigned char id[SHA_DIGEST_LENGTH];
	const unsigned char *idp = id;
	size_t id_len = sizeof(id);
	char label[129] = "";
	CK_OBJECT_HANDLE h;
	p11e_id known_id;
	der d;
	CK_ULONG n = 0;
	int same = 0;
	CK_RV rv;
	p11e_rc rc;

	if (!der_encode(cert, &d)) {
		der_free(&d);
		return p11e_errf_ssl(err, P11E_FAIL, "cannot encode the CA certificate");
	}
	if (ski != NULL) {
		idp = ASN1_STRING_get0_data(ski);
		id_len = (size_t)ASN1_STRING_length(ski);
	} else {
		X509_pubkey_digest(cert, EVP_sha1(), id, NULL);
	}
	/* The CA certificate a previous enrollment of this session stored or
	 * found: compared by value, without a search. */
	if (id_len <= P11E_ID_MAX) {
		memcpy(known_id.v, idp, id_len);
		known_id.len = id_len;
		if (p11e_known_get(t, CKO_CERTIFICATE, &known_id, &h) && same_value(t, h, &d)) {
			rc = P11E_OK;
			goto out;
		}
	}
	rc = find_certs(t, CKA_VALUE, d.value, (CK_ULONG)d.value_len, &d, &n, &same, &h, err);
	if (rc != P11E_OK)
		goto out;
	if (same) {
		p11e_known_add_kept(t, idp, id_len, h);
		goto out;
	}
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, label,
				      sizeof(label)) <= 0)
		X509_NAME_oneline(X509_get_subject_name(cert), label, sizeof(label));
	rv = create(t, &d, idp, id_len, label, 1, &h);
	if (rv != CKR_OK)
		rc = p11e_errf(err, P11E_FAIL, "token '%s': cannot store the CA certificate: %s",
			       t->info.label, CKR_TEXT(rv));
out:
	der_free(&d);
	return rc;
}

static X509 *cert_of(p11e_token *t, CK_OBJECT_HANDLE h)
{
	unsigned char *val = NULL;
	CK_ULONG len = 0;
	const unsigned char *p;
	X509 *cert = NULL;

	if (p11e_get_attr(t, h, CKA_VALUE, &val, &len) == CKR_OK && val != NULL) {
		p = val;
		cert = d2i_X509(NULL, &p, (long)len);
	}
	free(val);
	return cert;
}

p11e_rc p11e_token_find_cert(p11e_token *t, const p11e_id *id, X509 **out, p11e_err *err)
{
	CK_OBJECT_HANDLE h;
	p11e_rc rc = p11e_find_one(t, CKO_CERTIFICATE, id, &h, err);

	*out = NULL;
	if (rc != P11E_OK)
		return rc;
	*out = cert_of(t, h);
	if (*out == NULL)
		return p11e_errf_ssl(err, P11E_FAIL, "token '%s': the certificate cannot be parsed",
				     t->info.label);
	return P11E_OK;
}

/* The entry for id in objs, appended if new. */
static p11e_token_object *entry(p11e_token_object **objs, size_t *n, size_t *cap,
				const unsigned char *id, CK_ULONG id_len)
{
	for (size_t i = 0; i < *n; i++)
		if ((*objs)[i].id.len == id_len && memcmp((*objs)[i].id.v, id, id_len) == 0)
			return &(*objs)[i];
	if (*n == *cap) {
		size_t grown_cap = *cap ? *cap * 2 : 16;
		p11e_token_object *grown = realloc(*objs, grown_cap * sizeof(**objs));
		if (grown == NULL)
			return NULL;
		*objs = grown;
		*cap = grown_cap;
	}
	memset(&(*objs)[*n], 0, sizeof(**objs));
	memcpy((*objs)[*n].id.v, id, id_len);
	(*objs)[*n].id.len = id_len;
	return &(*objs)[(*n)++];
}

p11e_rc p11e_token_list(p11e_token *t, p11e_token_object **out, size_t *nout, p11e_err *err)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE};
	p11e_token_object *objs = NULL;
	size_t n = 0, cap = 0;
	p11e_rc rc = P11E_OK;

	for (size_t c = 0; rc == P11E_OK && c < 3; c++) {
		CK_OBJECT_CLASS cls = classes[c];
		CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}};
		CK_OBJECT_HANDLE *list = NULL;
		CK_ULONG count = 0;
		rc = p11e_find(t, tmpl, 1, &list, &count, err);
		for (CK_ULONG i = 0; rc == P11E_OK && i < count; i++) {
			unsigned char *id = NULL, *label = NULL;
			CK_ULONG id_len = 0, label_len = 0;
			p11e_token_object *o;
			p11e_get_attr(t, list[i], CKA_ID, &id, &id_len);
			p11e_get_attr(t, list[i], CKA_LABEL, &label, &label_len);
			if (id_len > P11E_ID_MAX)
				id_len = P11E_ID_MAX;
			o = entry(&objs, &n, &cap, id ? id : (unsigned char *)"", id_len);
			if (o == NULL) {
				rc = p11e_errf(err, P11E_FAIL, "out of memory");
			} else {
				if (o->label[0] == '\0' && label != NULL) {
					size_t l = label_len < sizeof(o->label) - 1
						       ? label_len
						       : sizeof(o->label) - 1;
					memcpy(o->label, label, l);
					o->label[l] = '\0';
				}
				if (cls == CKO_PRIVATE_KEY)
					o->has_private = 1;
				else if (cls == CKO_PUBLIC_KEY)
					o->has_public = 1;
				else if (o->cert == NULL)
					o->cert = cert_of(t, list[i]);
			}
			free(id);
			free(label);
		}
		free(list);
	}
	if (rc != P11E_OK) {
		p11e_token_objects_free(objs, n);
		return rc;
	}
	*out = objs;
	*nout = n;
	return P11E_OK;
}

void p11e_token_objects_free(p11e_token_object *objs, size_t n)
{
	for (size_t i = 0; objs != NULL && i < n; i++)
		X509_free(objs[i].cert);
	free(objs);
}
