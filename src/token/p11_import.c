/* Key pairs made elsewhere (an archived software key) put onto the token
 * with raw C_CreateObject: the private key sensitive and not extractable,
 * the public key beside it. libp11 0.4.12 has no import of a private key. */
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include "token/p11_internal.h"

/* One attribute value of a template, owned by the template: private values
 * are wiped before they are freed. */
typedef struct attr_buf {
	unsigned char *v[10];
	size_t len[10];
	int n;
} attr_buf;

static void bufs_free(attr_buf *b)
{
	for (int i = 0; i < b->n; i++) {
		OPENSSL_cleanse(b->v[i], b->len[i]);
		OPENSSL_free(b->v[i]);
	}
	b->n = 0;
}

/* The big-endian bytes of an RSA component (no leading zeros, as PKCS#11
 * big integers are). NULL if the key lacks it or on allocation failure. */
static unsigned char *bn_param(EVP_PKEY *key, const char *name, attr_buf *b, CK_ULONG *len)
{
	BIGNUM *bn = NULL;
	unsigned char *out = NULL;
	int n;

	if (b->n >= 10 || EVP_PKEY_get_bn_param(key, name, &bn) != 1)
		return NULL;
	n = BN_num_bytes(bn);
	if ((out = OPENSSL_malloc(n > 0 ? (size_t)n : 1)) != NULL) {
		BN_bn2bin(bn, out);
		b->v[b->n] = out;
		b->len[b->n++] = (size_t)n;
		*len = (CK_ULONG)n;
	}
	BN_clear_free(bn);
	return out;
}

/* CKA_EC_PARAMS (the named curve's OID, DER) of an EC key. */
static unsigned char *ec_params(EVP_PKEY *key, attr_buf *b, CK_ULONG *len)
{
	char group[64];
	unsigned char *der = NULL;
	int nid, n;

	if (b->n >= 10 ||
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					   NULL) != 1 ||
	    (nid = OBJ_sn2nid(group)) == NID_undef ||
	    (n = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &der)) <= 0)
		return NULL;
	b->v[b->n] = der;
	b->len[b->n++] = (size_t)n;
	*len = (CK_ULONG)n;
	return der;
}

static p11e_rc create(p11e_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_CLASS cls,
		      const p11e_id *id, const char *what, p11e_err *err)
{
	CK_OBJECT_HANDLE h;
	CK_RV rv = t->m->f->C_CreateObject(t->session, tmpl, n, &h);

	if (rv != CKR_OK)
		return p11e_errf(
		    err, rv == CKR_ATTRIBUTE_VALUE_INVALID ? P11E_UNSUPPORTED : P11E_FAIL,
		    "token '%s': cannot import the %s: %s", t->info.label, what, CKR_TEXT(rv));
	p11e_known_add(t, cls, id->v, id->len, h);
	return P11E_OK;
}

#define ADD(type, ptr, len) (tmpl[n++] = (CK_ATTRIBUTE){(type), (void *)(ptr), (CK_ULONG)(len)})

p11e_rc p11e_token_import_private_key(p11e_token *t, EVP_PKEY *key, const p11e_id *id,
				      const char *label, unsigned usage, p11e_err *err)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE kt;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL sign = (usage & P11E_USE_SIGN) ? CK_TRUE : CK_FALSE;
	CK_BBOOL decrypt = CK_FALSE, derive = CK_FALSE;
	CK_ATTRIBUTE tmpl[24];
	CK_ULONG n = 0, len = 0;
	attr_buf b = {0};
	BIGNUM *priv = NULL;
	unsigned char *v;
	p11e_rc rc = P11E_OK;

	ADD(CKA_CLASS, &cls, sizeof(cls));
	ADD(CKA_KEY_TYPE, &kt, sizeof(kt));
	ADD(CKA_TOKEN, &yes, sizeof(yes));
	ADD(CKA_PRIVATE, &yes, sizeof(yes));
	ADD(CKA_SENSITIVE, &yes, sizeof(yes));
	ADD(CKA_EXTRACTABLE, &no, sizeof(no));
	ADD(CKA_ID, id->v, id->len);
	ADD(CKA_LABEL, label, strlen(label));
	ADD(CKA_SIGN, &sign, sizeof(sign));
	ADD(CKA_DECRYPT, &decrypt, sizeof(decrypt));
	ADD(CKA_UNWRAP, &decrypt, sizeof(decrypt));
	ADD(CKA_DERIVE, &derive, sizeof(derive));
	if (EVP_PKEY_is_a(key, "RSA")) {
		static const struct {
			CK_ATTRIBUTE_TYPE type;
			const char *param;
		} parts[] = {
		    {CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N},
		    {CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
		    {CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},
		    {CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1},
		    {CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2},
		    {CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
		    {CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2},
		    {CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
		};
		kt = CKK_RSA;
		decrypt = (usage & P11E_USE_DECRYPT) ? CK_TRUE : CK_FALSE;
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
			if ((v = bn_param(key, parts[i].param, &b, &len)) == NULL) {
				rc = p11e_errf_ssl(
				    err, P11E_FAIL,
				    "key: the RSA key lacks a component PKCS#11 needs "
				    "(two-prime CRT form)");
				goto out;
			}
			ADD(parts[i].type, v, len);
		}
	} else if (EVP_PKEY_is_a(key, "EC")) {
		int bytes = (EVP_PKEY_get_bits(key) + 7) / 8;
		kt = CKK_EC;
		derive = (usage & P11E_USE_DERIVE) ? CK_TRUE : CK_FALSE;
		if ((v = ec_params(key, &b, &len)) == NULL) {
			rc = p11e_errf_ssl(err, P11E_UNSUPPORTED, "key: not a named-curve EC key");
			goto out;
		}
		ADD(CKA_EC_PARAMS, v, len);
		/* CKA_VALUE: the private scalar, as many bytes as the order. */
		if (bytes <= 0 ||
		    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1 ||
		    (v = OPENSSL_malloc((size_t)bytes)) == NULL) {
			rc = p11e_errf_ssl(err, P11E_FAIL, "key: cannot read the EC private key");
			goto out;
		}
		b.v[b.n] = v;
		b.len[b.n++] = (size_t)bytes;
		if (BN_bn2binpad(priv, v, bytes) != bytes) {
			rc = p11e_errf(err, P11E_FAIL,
				       "key: the EC private key does not fit its curve");
			goto out;
		}
		ADD(CKA_VALUE, v, bytes);
	} else {
		rc = p11e_errf(err, P11E_UNSUPPORTED,
			       "key: only RSA and EC keys can be imported onto a token");
		goto out;
	}
	rc = create(t, tmpl, n, cls, id, "private key", err);
out:
	BN_clear_free(priv);
	bufs_free(&b);
	return rc;
}

p11e_rc p11e_token_import_public_key(p11e_token *t, EVP_PKEY *key, const p11e_id *id,
				     const char *label, unsigned usage, p11e_err *err)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL verify = (usage & P11E_USE_SIGN) ? CK_TRUE : CK_FALSE;
	CK_BBOOL encrypt = CK_FALSE;
	CK_ATTRIBUTE tmpl[12];
	CK_ULONG n = 0, len = 0;
	attr_buf b = {0};
	unsigned char *v, *point = NULL, *wrapped = NULL;
	size_t point_len = 0;
	ASN1_OCTET_STRING *os = NULL;
	int wrapped_len;
	p11e_rc rc = P11E_OK;

	ADD(CKA_CLASS, &cls, sizeof(cls));
	ADD(CKA_KEY_TYPE, &kt, sizeof(kt));
	ADD(CKA_TOKEN, &yes, sizeof(yes));
	ADD(CKA_PRIVATE, &no, sizeof(no));
	ADD(CKA_ID, id->v, id->len);
	ADD(CKA_LABEL, label, strlen(label));
	ADD(CKA_VERIFY, &verify, sizeof(verify));
	ADD(CKA_ENCRYPT, &encrypt, sizeof(encrypt));
	ADD(CKA_WRAP, &encrypt, sizeof(encrypt));
	if (EVP_PKEY_is_a(key, "RSA")) {
		kt = CKK_RSA;
		encrypt = (usage & P11E_USE_DECRYPT) ? CK_TRUE : CK_FALSE;
		if ((v = bn_param(key, OSSL_PKEY_PARAM_RSA_N, &b, &len)) == NULL)
			goto bad;
		ADD(CKA_MODULUS, v, len);
		if ((v = bn_param(key, OSSL_PKEY_PARAM_RSA_E, &b, &len)) == NULL)
			goto bad;
		ADD(CKA_PUBLIC_EXPONENT, v, len);
	} else if (EVP_PKEY_is_a(key, "EC")) {
		kt = CKK_EC;
		if ((v = ec_params(key, &b, &len)) == NULL)
			goto bad;
		ADD(CKA_EC_PARAMS, v, len);
		/* CKA_EC_POINT: the uncompressed point in a DER OCTET STRING,
		 * as SoftHSM and OpenSC write it. */
		if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, NULL, 0,
						    &point_len) != 1 ||
		    (point = OPENSSL_malloc(point_len)) == NULL ||
		    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, point_len,
						    &point_len) != 1 ||
		    (os = ASN1_OCTET_STRING_new()) == NULL ||
		    ASN1_OCTET_STRING_set(os, point, (int)point_len) != 1 ||
		    (wrapped_len = i2d_ASN1_OCTET_STRING(os, &wrapped)) <= 0)
			goto bad;
		ADD(CKA_EC_POINT, wrapped, wrapped_len);
	} else {
		rc = p11e_errf(err, P11E_UNSUPPORTED,
			       "key: only RSA and EC keys can be imported onto a token");
		goto out;
	}
	rc = create(t, tmpl, n, cls, id, "public key", err);
	goto out;
bad:
	rc = p11e_errf_ssl(err, P11E_FAIL, "key: cannot encode the public key for the token");
out:
	ASN1_OCTET_STRING_free(os);
	OPENSSL_free(point);
	OPENSSL_free(wrapped);
	bufs_free(&b);
	return rc;
}

#undef ADD
