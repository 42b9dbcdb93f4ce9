/* Key pairs on the token: generation, the public half as an OpenSSL key,
 * and signing (libp11's EVP_PKEY bridge, or raw C_Sign for EdDSA). */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include "token/p11_internal.h"

/* PKCS#11 3.0 names Edwards curves by this PrintableString in CKA_EC_PARAMS. */
static const unsigned char ed25519_params[] = {0x13, 0x0c, 'e', 'd', 'w', 'a', 'r',
					       'd',  's',  '2', '5', '5', '1', '9'};

static CK_MECHANISM_TYPE keygen_mechanism(const p11e_keytype *kt)
{
	switch (kt->kind) {
	case P11E_KEY_RSA:
		return CKM_RSA_PKCS_KEY_PAIR_GEN;
	case P11E_KEY_EC:
		return CKM_EC_KEY_PAIR_GEN;
	case P11E_KEY_ED25519:
		return CKM_EC_EDWARDS_KEY_PAIR_GEN;
	}
	return CKM_VENDOR_DEFINED;
}

static const char *mechanism_name(CK_MECHANISM_TYPE m)
{
	return m == CKM_RSA_PKCS_KEY_PAIR_GEN ? "CKM_RSA_PKCS_KEY_PAIR_GEN"
	       : m == CKM_EC_KEY_PAIR_GEN     ? "CKM_EC_KEY_PAIR_GEN"
					      : "CKM_EC_EDWARDS_KEY_PAIR_GEN";
}

p11e_rc p11e_token_check_keytype(p11e_token *t, const p11e_keytype *kt, p11e_err *err)
{
	CK_MECHANISM_TYPE mech = keygen_mechanism(kt);
	CK_MECHANISM_INFO mi;
	CK_RV rv = t->m->f->C_GetMechanismInfo(t->slot, mech, &mi);

	if (rv != CKR_OK || !(mi.flags & CKF_GENERATE_KEY_PAIR))
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "key type: token '%s' cannot generate %s keys (no %s)",
				 t->info.label, kt->name, mechanism_name(mech));
	if (kt->kind == P11E_KEY_RSA &&
	    ((CK_ULONG)kt->bits < mi.ulMinKeySize || (CK_ULONG)kt->bits > mi.ulMaxKeySize))
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "key type: token '%s' makes RSA keys of %lu to %lu bits, not %d",
				 t->info.label, (unsigned long)mi.ulMinKeySize,
				 (unsigned long)mi.ulMaxKeySize, kt->bits);
	return P11E_OK;
}

/* DER of the curve's OID (EC) or name (Edwards): CKA_EC_PARAMS. */
static unsigned char *ec_params(const p11e_keytype *kt, int *len)
{
	unsigned char *der = NULL;

	if (kt->kind == P11E_KEY_ED25519) {
		der = OPENSSL_memdup(ed25519_params, sizeof(ed25519_params));
		*len = der ? (int)sizeof(ed25519_params) : 0;
		return der;
	}
	*len = i2d_ASN1_OBJECT(OBJ_nid2obj(kt->curve_nid), &der);
	return *len > 0 ? der : NULL;
}

/* The usage attributes of a key pair, each on its half, and the use that
 * asks for it. */
static const struct usage_attr {
	CK_ATTRIBUTE_TYPE type;
	const char *name;
	int on_private;
	unsigned use;
} usage_attrs[] = {
    {CKA_VERIFY, "CKA_VERIFY", 0, P11E_USE_SIGN},
    {CKA_ENCRYPT, "CKA_ENCRYPT", 0, P11E_USE_DECRYPT},
    {CKA_WRAP, "CKA_WRAP", 0, P11E_USE_DECRYPT},
    {CKA_SIGN, "CKA_SIGN", 1, P11E_USE_SIGN},
    {CKA_DECRYPT, "CKA_DECRYPT", 1, P11E_USE_DECRYPT},
    {CKA_UNWRAP, "CKA_UNWRAP", 1, P11E_USE_DECRYPT},
    {CKA_DERIVE, "CKA_DERIVE", 1, P11E_USE_DERIVE},
};
#define N_USAGE_ATTRS (sizeof(usage_attrs) / sizeof(usage_attrs[0]))

/* The other attributes of the templates; boolean ones show their value in
 * messages. */
static const struct {
	CK_ATTRIBUTE_TYPE type;
	const char *name;
	int boolean;
} fixed_attrs[] = {
    {CKA_TOKEN, "CKA_TOKEN", 1},
    {CKA_PRIVATE, "CKA_PRIVATE", 1},
    {CKA_SENSITIVE, "CKA_SENSITIVE", 1},
    {CKA_EXTRACTABLE, "CKA_EXTRACTABLE", 1},
    {CKA_ID, "CKA_ID", 0},
    {CKA_LABEL, "CKA_LABEL", 0},
    {CKA_MODULUS_BITS, "CKA_MODULUS_BITS", 0},
    {CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT", 0},
    {CKA_EC_PARAMS, "CKA_EC_PARAMS", 0},
};

/* The name of attribute type, and whether it is a CK_BBOOL. */
static const char *attr_name(CK_ATTRIBUTE_TYPE type, int *boolean)
{
	for (size_t i = 0; i < N_USAGE_ATTRS; i++)
		if (usage_attrs[i].type == type) {
			*boolean = 1;
			return usage_attrs[i].name;
		}
	for (size_t i = 0; i < sizeof(fixed_attrs) / sizeof(fixed_attrs[0]); i++)
		if (fixed_attrs[i].type == type) {
			*boolean = fixed_attrs[i].boolean;
			return fixed_attrs[i].name;
		}
	*boolean = 0;
	return "CKA_?";
}

/* "CKA_TOKEN=true CKA_ID ...": what a template holds, for a message a user
 * compares with the module's log (no value but the booleans'). */
static void describe(const CK_ATTRIBUTE *a, CK_ULONG n, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (CK_ULONG i = 0; i < n && used < len; i++) {
		int boolean = 0;
		const char *name = attr_name(a[i].type, &boolean);
		int w = snprintf(out + used, len - used, "%s%s%s", i ? " " : "", name,
				 !boolean			  ? ""
				 : *(const CK_BBOOL *)a[i].pValue ? "=true"
								  : "=false");
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* The uses a key of this kind can have: decryption is RSA's, key agreement
 * EC's (an Ed25519 key only signs). */
static unsigned usable(const p11e_keytype *kt, unsigned usage)
{
	unsigned mask = P11E_USE_SIGN;

	if (kt->kind == P11E_KEY_RSA)
		mask |= P11E_USE_DECRYPT;
	else if (kt->kind == P11E_KEY_EC)
		mask |= P11E_USE_DERIVE;
	return usage & mask;
}

typedef struct keygen_templates {
	CK_ATTRIBUTE pub[12], priv[16];
	CK_ULONG npub, npriv;
	CK_ULONG bits;
} keygen_templates;

static const CK_BBOOL bool_true = CK_TRUE, bool_false = CK_FALSE;
static const CK_BYTE rsa_exponent[] = {0x01, 0x00, 0x01};

/* The two templates: what the key is (a private, sensitive, unextractable
 * token object, its ID, label, size or curve) and the uses wanted, as
 * CK_TRUE; the uses not wanted as explicit CK_FALSE only if state_unwanted. */
static void build_templates(keygen_templates *k, const p11e_keytype *kt, const p11e_id *id,
			    const char *label, unsigned usage, const unsigned char *params,
			    int params_len, int state_unwanted)
{
#define ADD(arr, n, type, ptr, len) (k->arr[k->n++] = (CK_ATTRIBUTE){(type), (void *)(ptr), (len)})
	k->npub = k->npriv = 0;
	ADD(pub, npub, CKA_TOKEN, &bool_true, sizeof(CK_BBOOL));
	ADD(pub, npub, CKA_PRIVATE, &bool_false, sizeof(CK_BBOOL));
	ADD(pub, npub, CKA_ID, id->v, id->len);
	ADD(pub, npub, CKA_LABEL, label, strlen(label));
	ADD(priv, npriv, CKA_TOKEN, &bool_true, sizeof(CK_BBOOL));
	ADD(priv, npriv, CKA_PRIVATE, &bool_true, sizeof(CK_BBOOL));
	ADD(priv, npriv, CKA_SENSITIVE, &bool_true, sizeof(CK_BBOOL));
	ADD(priv, npriv, CKA_EXTRACTABLE, &bool_false, sizeof(CK_BBOOL));
	ADD(priv, npriv, CKA_ID, id->v, id->len);
	ADD(priv, npriv, CKA_LABEL, label, strlen(label));
	for (size_t i = 0; i < N_USAGE_ATTRS; i++) {
		const CK_BBOOL *v = (usage & usage_attrs[i].use) ? &bool_true : &bool_false;
		if (v == &bool_false && !state_unwanted)
			continue;
		if (usage_attrs[i].on_private)
			ADD(priv, npriv, usage_attrs[i].type, v, sizeof(CK_BBOOL));
		else
			ADD(pub, npub, usage_attrs[i].type, v, sizeof(CK_BBOOL));
	}
	if (kt->kind == P11E_KEY_RSA) {
		k->bits = (CK_ULONG)kt->bits;
		ADD(pub, npub, CKA_MODULUS_BITS, &k->bits, sizeof(k->bits));
		ADD(pub, npub, CKA_PUBLIC_EXPONENT, rsa_exponent, sizeof(rsa_exponent));
	} else {
		ADD(pub, npub, CKA_EC_PARAMS, params, (CK_ULONG)params_len);
	}
#undef ADD
}

/* The codes with which modules refuse a template they could otherwise
 * make a key for (tpm2-pkcs11 says CKR_GENERAL_ERROR). */
static int template_refused(CK_RV rv)
{
	return rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	       rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_TEMPLATE_INCOMPLETE ||
	       rv == CKR_GENERAL_ERROR;
}

/* Sets every use the profile does not want that the module gave the key
 * pair by default to CK_FALSE. */
static p11e_rc withdraw_defaults(p11e_token *t, const p11e_keytype *kt, CK_OBJECT_HANDLE pub,
				 CK_OBJECT_HANDLE priv, unsigned usage, p11e_err *err)
{
	for (size_t i = 0; i < N_USAGE_ATTRS; i++) {
		CK_OBJECT_HANDLE h = usage_attrs[i].on_private ? priv : pub;
		CK_BBOOL v = CK_FALSE;
		CK_ATTRIBUTE a = {usage_attrs[i].type, &v, sizeof(v)};
		CK_RV rv;

		if (usage & usage_attrs[i].use)
			continue;
		rv = t->m->f->C_GetAttributeValue(t->session, h, &a, 1);
		if (rv == CKR_ATTRIBUTE_TYPE_INVALID || (rv == CKR_OK && v != CK_TRUE))
			continue;
		v = CK_FALSE;
		if (rv == CKR_OK)
			rv = t->m->f->C_SetAttributeValue(t->session, h, &a, 1);
		if (rv != CKR_OK)
			return p11e_errf(err, P11E_UNSUPPORTED,
					 "token '%s': its %s key has %s true, which the profile "
					 "does not want, and the module refuses to clear it (%s)",
					 t->info.label, kt->name, usage_attrs[i].name,
					 CKR_TEXT(rv));
	}
	return P11E_OK;
}

p11e_rc p11e_token_generate_keypair(p11e_token *t, const p11e_keytype *kt, const p11e_id *id,
				    const char *label, unsigned usage, p11e_err *err)
{
	CK_MECHANISM mech = {keygen_mechanism(kt), NULL, 0};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	unsigned char *params = NULL;
	int params_len = 0;
	keygen_templates k;
	size_t npriv = 0, npub = 0;
	char pub_text[200], priv_text[240];
	p11e_rc rc = P11E_OK;
	CK_RV rv;

	usage = usable(kt, usage);
	if (kt->kind != P11E_KEY_RSA && (params = ec_params(kt, &params_len)) == NULL)
		return p11e_errf_ssl(err, P11E_FAIL, "cannot encode the curve of %s", kt->name);
	/* Every use stated, wanted or not: the key has exactly the profile's
	 * uses from its first moment, whatever the module's defaults. */
	rv = CKR_GENERAL_ERROR;
	if (!t->m->keygen_wanted_only) {
		build_templates(&k, kt, id, label, usage, params, params_len, 1);
		rv = t->m->f->C_GenerateKeyPair(t->session, &mech, k.pub, k.npub, k.priv, k.npriv,
						&pub, &priv);
	}
	/* A module that refuses those (tpm2-pkcs11 wants no usage stated that
	 * differs from the TPM object it makes) gets only the wanted uses; the
	 * rest are withdrawn below. Only if the refusal left nothing behind. */
	if (t->m->keygen_wanted_only ||
	    (template_refused(rv) &&
	     p11e_token_count(t, CKO_PRIVATE_KEY, id, &npriv, err) == P11E_OK &&
	     p11e_token_count(t, CKO_PUBLIC_KEY, id, &npub, err) == P11E_OK && npriv + npub == 0)) {
		build_templates(&k, kt, id, label, usage, params, params_len, 0);
		rv = t->m->f->C_GenerateKeyPair(t->session, &mech, k.pub, k.npub, k.priv, k.npriv,
						&pub, &priv);
		if (rv == CKR_OK) {
			t->m->keygen_wanted_only = 1;
			rc = withdraw_defaults(t, kt, pub, priv, usage, err);
		}
		/* A key with a use the profile forbids is not kept: it is this
		 * call's own, just made under the caller's fresh ID. */
		if (rc != P11E_OK) {
			t->m->f->C_DestroyObject(t->session, priv);
			t->m->f->C_DestroyObject(t->session, pub);
			OPENSSL_free(params);
			return rc;
		}
	}
	OPENSSL_free(params);
	if (rv != CKR_OK && template_refused(rv)) {
		describe(k.pub, k.npub, pub_text, sizeof(pub_text));
		describe(k.priv, k.npriv, priv_text, sizeof(priv_text));
		return p11e_errf(err, P11E_FAIL,
				 "token '%s': %s key generation failed: %s, with every use "
				 "stated and with only the wanted ones (last sent: public: %s; "
				 "private: %s); the module's log may name the attribute",
				 t->info.label, kt->name, CKR_TEXT(rv), pub_text, priv_text);
	}
	if (rv != CKR_OK)
		return p11e_errf(err, rv == CKR_MECHANISM_INVALID ? P11E_UNSUPPORTED : P11E_FAIL,
				 "token '%s': %s key generation failed: %s", t->info.label,
				 kt->name, CKR_TEXT(rv));
	p11e_known_add_made(t, CKO_PUBLIC_KEY, id, pub);
	p11e_known_add_made(t, CKO_PRIVATE_KEY, id, priv);
	return rc;
}

/* CKA_EC_POINT is a DER OCTET STRING around the point; a few modules give
 * the bare point. Returns a pointer into buf. */
static const unsigned char *unwrap_point(const unsigned char *buf, CK_ULONG len, size_t *out)
{
	const unsigned char *p = buf;
	ASN1_OCTET_STRING *os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)len);

	if (os != NULL && p == buf + len) {
		size_t n = (size_t)ASN1_STRING_length(os);
		*out = n;
		ASN1_OCTET_STRING_free(os);
		return buf + (len - n);
	}
	ASN1_OCTET_STRING_free(os);
	*out = len;
	return buf;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *rsa_public(p11e_token *t, CK_OBJECT_HANDLE h)
{
	unsigned char *n = NULL, *e = NULL;
	CK_ULONG nlen = 0, elen = 0;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (p11e_get_attr(t, h, CKA_MODULUS, &n, &nlen) != CKR_OK ||
	    p11e_get_attr(t, h, CKA_PUBLIC_EXPONENT, &e, &elen) != CKR_OK || n == NULL || e == NULL)
		goto out;
	bn_n = BN_bin2bn(n, (int)nlen, NULL);
	bn_e = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn_n == NULL || bn_e == NULL || bld == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1)
		goto out;
	pkey = from_params("RSA", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return pkey;
}

static EVP_PKEY *ec_public(p11e_token *t, CK_OBJECT_HANDLE h, CK_KEY_TYPE kt)
{
	unsigned char *params = NULL, *point = NULL;
	CK_ULONG plen = 0, ptlen = 0;
	const unsigned char *p, *raw;
	size_t rawlen = 0;
	ASN1_OBJECT *oid = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (p11e_get_attr(t, h, CKA_EC_POINT, &point, &ptlen) != CKR_OK || point == NULL)
		goto out;
	raw = unwrap_point(point, ptlen, &rawlen);
	if (kt == CKK_EC_EDWARDS) {
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rawlen);
		goto out;
	}
	if (p11e_get_attr(t, h, CKA_EC_PARAMS, &params, &plen) != CKR_OK || params == NULL)
		goto out;
	p = params;
	oid = d2i_ASN1_OBJECT(NULL, &p, (long)plen);
	if (oid == NULL || OBJ_obj2nid(oid) == NID_undef)
		goto out;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    OBJ_nid2sn(OBJ_obj2nid(oid)), 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, raw, rawlen) != 1)
		goto out;
	pkey = from_params("EC", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	ASN1_OBJECT_free(oid);
	free(params);
	free(point);
	return pkey;
}

p11e_rc p11e_token_public_key(p11e_token *t, const p11e_id *id, EVP_PKEY **out, p11e_err *err)
{
	CK_OBJECT_HANDLE h;
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE a = {CKA_KEY_TYPE, &kt, sizeof(kt)};
	p11e_rc rc;
	CK_RV rv;

	*out = NULL;
	rc = p11e_find_one(t, CKO_PUBLIC_KEY, id, &h, err);
	if (rc != P11E_OK)
		return rc;
	rv = t->m->f->C_GetAttributeValue(t->session, h, &a, 1);
	if (rv != CKR_OK)
		return p11e_errf(err, P11E_FAIL, "token '%s': cannot read the key type: %s",
				 t->info.label, CKR_TEXT(rv));
	if (kt == CKK_RSA)
		*out = rsa_public(t, h);
	else if (kt == CKK_EC || kt == CKK_EC_EDWARDS)
		*out = ec_public(t, h, kt);
	else
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "token '%s': key type 0x%lx is not supported", t->info.label,
				 (unsigned long)kt);
	if (*out == NULL)
		return p11e_errf_ssl(err, P11E_FAIL, "token '%s': cannot read the public key",
				     t->info.label);
	return P11E_OK;
}

/* libp11's view of our token: found once, by serial and label. */
static p11e_rc p11_slot(p11e_token *t, PKCS11_SLOT **out, p11e_err *err)
{
	p11e_module *m = t->m;
	p11e_quiet quiet;
	int loaded;

	if (m->p11 == NULL) {
		m->p11 = PKCS11_CTX_new();
		if (m->p11 == NULL)
			return p11e_errf(err, P11E_FAIL, "libp11: out of memory");
		/* libp11 initialises the module again after a fork: with ours. */
		PKCS11_CTX_init_args(m->p11, m->init_args);
		/* Through p11-kit-proxy libp11 gets a proxy of its own, which
		 * initialises every registered module again: what they print
		 * is held back as in p11e_module_load_args. */
		p11e_quiet_begin(&quiet);
		loaded = PKCS11_CTX_load(m->p11, m->path) == 0;
		p11e_quiet_end(&quiet, loaded && !p11e_module_is_proxy(m->path), NULL, 0);
		if (!loaded || PKCS11_enumerate_slots(m->p11, &m->p11_slots, &m->p11_nslots) != 0) {
			PKCS11_CTX_free(m->p11);
			m->p11 = NULL;
			m->p11_slots = NULL;
			return p11e_errf_ssl(err, P11E_FAIL, "libp11: cannot load %s", m->path);
		}
	}
	for (unsigned int i = 0; i < m->p11_nslots; i++) {
		PKCS11_TOKEN *tok = m->p11_slots[i].token;
		if (tok != NULL && tok->serialnr != NULL && tok->label != NULL &&
		    strcmp(tok->serialnr, t->info.serial) == 0 &&
		    strcmp(tok->label, t->info.label) == 0) {
			*out = &m->p11_slots[i];
			return P11E_OK;
		}
	}
	return p11e_errf(err, P11E_TOKEN_NOT_FOUND, "libp11 does not see token '%s'",
			 t->info.label);
}

/* libp11's private key listed under id, as an EVP_PKEY; NULL if none. */
static EVP_PKEY *libp11_private_key(PKCS11_KEY *keys, unsigned int nkeys, const p11e_id *id)
{
	for (unsigned int i = 0; i < nkeys; i++)
		if (keys[i].id_len == id->len && memcmp(keys[i].id, id->v, id->len) == 0 &&
		    keys[i].isPrivate)
			return PKCS11_get_private_key(&keys[i]);
	return NULL;
}

p11e_rc p11e_token_signing_key(p11e_token *t, const p11e_id *id, EVP_PKEY **out, p11e_err *err)
{
	PKCS11_SLOT *slot = NULL;
	PKCS11_KEY *keys = NULL;
	unsigned int nkeys = 0;
	int logged_in = 0;
	p11e_rc rc;

	*out = NULL;
	rc = p11_slot(t, &slot, err);
	if (rc != P11E_OK)
		return rc;
	/* libp11 keeps its own sessions: log them in with the PIN that already
	 * worked (the token answers "already logged in"; no PIN is tried twice). */
	if (t->pin != NULL && PKCS11_is_logged_in(slot, 0, &logged_in) == 0 && !logged_in &&
	    PKCS11_login(slot, 0, t->pin) != 0)
		return p11e_errf_ssl(err, P11E_FAIL, "libp11: cannot log in to token '%s'",
				     t->info.label);
	if (PKCS11_enumerate_keys(slot->token, &keys, &nkeys) != 0)
		return p11e_errf_ssl(err, P11E_FAIL, "libp11: cannot list the keys of token '%s'",
				     t->info.label);
	*out = libp11_private_key(keys, nkeys, id);
	/* A key this session renamed after libp11 listed it (a CSR signed
	 * before the rename) is still in libp11's list under its old ID; the
	 * object is the same. libp11 0.4.12 has no way to list keys afresh
	 * without closing every session of the slot (PKCS11_update_slots also
	 * misreads a list of more than one slot). */
	for (size_t k = 0; *out == NULL && k < P11E_RENAMED_MAX && k < t->renamed_next; k++) {
		size_t at = (t->renamed_next - 1 - k) % P11E_RENAMED_MAX;
		if (t->renamed[at].to.len == id->len &&
		    memcmp(t->renamed[at].to.v, id->v, id->len) == 0)
			*out = libp11_private_key(keys, nkeys, &t->renamed[at].from);
	}
	if (*out == NULL)
		return p11e_errf_ssl(
		    err, P11E_NOT_FOUND,
		    "libp11: no usable private key under that CKA_ID on token '%s'", t->info.label);
	return P11E_OK;
}

p11e_rc p11e_token_sign_raw(p11e_token *t, const p11e_id *id, unsigned long mech_type,
			    const unsigned char *data, size_t len, unsigned char **sig,
			    size_t *sig_len, p11e_err *err)
{
	CK_MECHANISM mech = {mech_type, NULL, 0};
	CK_OBJECT_HANDLE key;
	CK_ULONG n = 0;
	CK_RV rv;
	p11e_rc rc;

	*sig = NULL;
	*sig_len = 0;
	rc = p11e_find_one(t, CKO_PRIVATE_KEY, id, &key, err);
	if (rc != P11E_OK)
		return rc;
	rv = t->m->f->C_SignInit(t->session, &mech, key);
	if (rv == CKR_OK)
		rv = t->m->f->C_Sign(t->session, (CK_BYTE_PTR)data, (CK_ULONG)len, NULL, &n);
	if (rv == CKR_OK && (*sig = malloc(n ? n : 1)) == NULL)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK)
		rv = t->m->f->C_Sign(t->session, (CK_BYTE_PTR)data, (CK_ULONG)len, *sig, &n);
	if (rv != CKR_OK) {
		free(*sig);
		*sig = NULL;
		return p11e_errf(err, P11E_FAIL, "token '%s': signing failed: %s", t->info.label,
				 CKR_TEXT(rv));
	}
	*sig_len = n;
	return P11E_OK;
}

/* CKA_LOCAL of h: 1 true, 0 false, -1 the module has no such attribute. */
static int local_flag(p11e_token *t, CK_OBJECT_HANDLE h)
{
	CK_BBOOL local = CK_FALSE;
	CK_ATTRIBUTE a = {CKA_LOCAL, &local, sizeof(local)};
	CK_RV rv = t->m->f->C_GetAttributeValue(t->session, h, &a, 1);

	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || (rv == CKR_OK && a.ulValueLen != sizeof(local)))
		return -1;
	return rv == CKR_OK && local == CK_TRUE;
}

p11e_rc p11e_token_key_pair_whole(p11e_token *t, const p11e_id *id, int *whole, p11e_err *err)
{
	CK_OBJECT_HANDLE priv, pub;
	EVP_PKEY *pkey = NULL;
	p11e_rc rc;

	*whole = 0;
	rc = p11e_find_one(t, CKO_PRIVATE_KEY, id, &priv, err);
	if (rc == P11E_OK)
		rc = p11e_find_one(t, CKO_PUBLIC_KEY, id, &pub, err);
	if (rc != P11E_OK)
		return rc;
	if (local_flag(t, priv) == 0 || local_flag(t, pub) == 0)
		return P11E_OK;
	/* A public key without its modulus or point is half made too. */
	p11e_err ignored;
	if (p11e_token_public_key(t, id, &pkey, &ignored) == P11E_OK)
		*whole = 1;
	EVP_PKEY_free(pkey);
	return P11E_OK;
}

p11e_rc p11e_token_forbid_signing(p11e_token *t, const p11e_id *id, p11e_err *err)
{
	static const struct {
		CK_OBJECT_CLASS cls;
		CK_ATTRIBUTE_TYPE attr;
	} halves[] = {{CKO_PRIVATE_KEY, CKA_SIGN}, {CKO_PUBLIC_KEY, CKA_VERIFY}};
	CK_BBOOL no = CK_FALSE;

	for (size_t i = 0; i < 2; i++) {
		CK_ATTRIBUTE a = {halves[i].attr, &no, sizeof(no)};
		CK_OBJECT_HANDLE h;
		p11e_rc rc = p11e_find_one(t, halves[i].cls, id, &h, err);
		CK_RV rv;

		if (rc != P11E_OK)
			return rc;
		rv = t->m->f->C_SetAttributeValue(t->session, h, &a, 1);
		if (rv != CKR_OK && rv != CKR_ATTRIBUTE_READ_ONLY)
			return p11e_errf(err, P11E_FAIL,
					 "token '%s': cannot withdraw the signing use of an "
					 "encryption key: %s",
					 t->info.label, CKR_TEXT(rv));
	}
	return P11E_OK;
}
