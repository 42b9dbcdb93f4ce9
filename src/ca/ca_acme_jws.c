/* JOSE for ACME: base64url, the account key as a JWK and its RFC 7638
 * thumbprint, flattened JWS signed by the account key (in software through
 * OpenSSL, or on the token with raw C_Sign), and the HS256 external account
 * binding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>
#include "ca/ca_acme.h"

#define CKM_ECDSA_ 0x1041UL
#define CKM_SHA256_RSA_PKCS_ 0x40UL

char *acme_b64url(const unsigned char *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	size_t n;

	if (out == NULL)
		return NULL;
	n = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

int acme_b64url_decode(const char *in, unsigned char **out, size_t *out_len)
{
	size_t len = strlen(in), n = 0, pad;
	char *std = malloc(len + 4);
	unsigned char *bin;
	int got;

	*out = NULL;
	*out_len = 0;
	if (std == NULL)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '=')
			continue;
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		std[n++] = c;
	}
	if (n % 4 == 1) {
		free(std);
		return -1;
	}
	pad = (4 - n % 4) % 4;
	for (size_t i = 0; i < pad; i++)
		std[n++] = '=';
	std[n] = '\0';
	bin = malloc(n / 4 * 3 + 1);
	got = bin ? EVP_DecodeBlock(bin, (unsigned char *)std, (int)n) : -1;
	OPENSSL_cleanse(std, n);
	free(std);
	if (got < 0 || (size_t)got < pad) {
		free(bin);
		return -1;
	}
	*out_len = (size_t)got - pad;
	bin[*out_len] = '\0'; /* handy for JSON; not counted */
	*out = bin;
	return 0;
}

static char *bn_b64url(const BIGNUM *bn, size_t pad_to)
{
	size_t len = pad_to ? pad_to : (size_t)BN_num_bytes(bn);
	unsigned char *buf = malloc(len ? len : 1);
	char *out = NULL;

	if (buf != NULL && BN_bn2binpad(bn, buf, (int)len) == (int)len)
		out = acme_b64url(buf, len);
	free(buf);
	return out;
}

static p11e_rc describe_ec(acme_key *k, EVP_PKEY *pub, p11e_err *err)
{
	static const struct {
		const char *group, *crv, *alg;
		size_t coord;
	} curves[] = {
	    {"prime256v1", "P-256", "ES256", 32},
	    {"secp384r1", "P-384", "ES384", 48},
	    {"secp521r1", "P-521", "ES512", 66},
	};
	char group[64] = "", *x = NULL, *y = NULL;
	BIGNUM *bx = NULL, *by = NULL;
	size_t glen = 0, i, n = sizeof(curves) / sizeof(curves[0]);
	p11e_rc rc = P11E_OK;

	EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
				       &glen);
	for (i = 0; i < n && strcmp(group, curves[i].group) != 0; i++)
		;
	if (i == n)
		return p11e_errf(
		    err, P11E_UNSUPPORTED,
		    "ca acme: account key on curve '%s': use P-256, P-384, P-521 or RSA", group);
	if (EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
	    EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1 ||
	    (x = bn_b64url(bx, curves[i].coord)) == NULL ||
	    (y = bn_b64url(by, curves[i].coord)) == NULL) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca acme: cannot read the account key's point");
		goto out;
	}
	k->alg = curves[i].alg;
	k->coord = curves[i].coord;
	k->md = curves[i].coord == 32	? EVP_sha256()
		: curves[i].coord == 48 ? EVP_sha384()
					: EVP_sha512();
	k->jwk = acme_fmt("{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
			  curves[i].crv, x, y);
	if (k->jwk == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	BN_free(bx);
	BN_free(by);
	free(x);
	free(y);
	return rc;
}

static p11e_rc describe_rsa(acme_key *k, EVP_PKEY *pub, p11e_err *err)
{
	BIGNUM *bn = NULL, *be = NULL;
	char *n = NULL, *e = NULL;
	p11e_rc rc = P11E_OK;

	if (EVP_PKEY_get_bits(pub) < 2048)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "ca acme: an RSA account key needs at least 2048 bits");
	if (EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &bn) != 1 ||
	    EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &be) != 1 ||
	    (n = bn_b64url(bn, 0)) == NULL || (e = bn_b64url(be, 0)) == NULL) {
		rc =
		    p11e_errf_ssl(err, P11E_FAIL, "ca acme: cannot read the account key's modulus");
		goto out;
	}
	k->alg = "RS256";
	k->md = EVP_sha256();
	k->jwk = acme_fmt("{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
	if (k->jwk == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return rc;
}

p11e_rc acme_key_describe(acme_key *k, p11e_err *err)
{
	unsigned char *der = NULL, digest[32];
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	char *tp;
	int len;
	p11e_rc rc;

	/* Through DER, so a key built by the token layer (legacy or not)
	 * becomes a provider key whose parameters can be read. */
	len = i2d_PUBKEY(k->pkey, &der);
	p = der;
	if (len <= 0 || (pub = d2i_PUBKEY(NULL, &p, len)) == NULL) {
		OPENSSL_free(der);
		return p11e_errf_ssl(err, P11E_FAIL, "ca acme: cannot encode the account key");
	}
	OPENSSL_free(der);
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_EC:
		rc = describe_ec(k, pub, err);
		break;
	case EVP_PKEY_RSA:
		rc = describe_rsa(k, pub, err);
		break;
	default:
		rc = p11e_errf(err, P11E_UNSUPPORTED,
			       "ca acme: the account key must be EC (P-256, P-384, P-521) or RSA");
	}
	EVP_PKEY_free(pub);
	if (rc != P11E_OK)
		return rc;
	if (EVP_Digest(k->jwk, strlen(k->jwk), digest, NULL, EVP_sha256(), NULL) != 1 ||
	    (tp = acme_b64url(digest, sizeof(digest))) == NULL)
		return p11e_errf_ssl(err, P11E_FAIL, "ca acme: cannot compute the key thumbprint");
	snprintf(k->thumbprint, sizeof(k->thumbprint), "%s", tp);
	free(tp);
	return P11E_OK;
}

/* DER ECDSA-Sig-Value -> r||s, each coord bytes (JWS, RFC 7518 3.4). */
static int der_to_rs(const unsigned char *der, size_t len, size_t coord, unsigned char *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *s;
	int ok;

	if (sig == NULL)
		return -1;
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, out, (int)coord) == (int)coord &&
	     BN_bn2binpad(s, out + coord, (int)coord) == (int)coord;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

static p11e_rc sign_software(acme_key *k, const unsigned char *in, size_t len, unsigned char **sig,
			     size_t *sig_len, p11e_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	size_t der_len = 0;
	p11e_rc rc = P11E_OK;

	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, k->md, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &der_len, in, len) != 1 || (der = malloc(der_len)) == NULL ||
	    EVP_DigestSign(ctx, der, &der_len, in, len) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "ca acme: cannot sign with the account key");
		goto out;
	}
	if (k->coord == 0) {
		*sig = der;
		*sig_len = der_len;
		der = NULL;
		goto out;
	}
	if ((*sig = malloc(2 * k->coord)) == NULL || der_to_rs(der, der_len, k->coord, *sig) != 0) {
		free(*sig);
		*sig = NULL;
		rc = p11e_errf(err, P11E_FAIL, "ca acme: cannot encode the ECDSA signature");
		goto out;
	}
	*sig_len = 2 * k->coord;
out:
	free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* On the token: CKM_ECDSA over the digest answers r||s already; RSA is
 * CKM_SHA256_RSA_PKCS over the data (RS256). */
static p11e_rc sign_token(acme_key *k, const unsigned char *in, size_t len, unsigned char **sig,
			  size_t *sig_len, p11e_err *err)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	p11e_rc rc;

	if (k->coord == 0)
		return p11e_token_sign_raw(k->sess.token, &k->id, CKM_SHA256_RSA_PKCS_, in, len,
					   sig, sig_len, err);
	if (EVP_Digest(in, len, digest, &dlen, k->md, NULL) != 1)
		return p11e_errf_ssl(err, P11E_FAIL, "ca acme: cannot hash the JWS");
	rc =
	    p11e_token_sign_raw(k->sess.token, &k->id, CKM_ECDSA_, digest, dlen, sig, sig_len, err);
	if (rc == P11E_OK && *sig_len != 2 * k->coord) {
		free(*sig);
		*sig = NULL;
		rc = p11e_errf(err, P11E_FAIL,
			       "ca acme: the token's ECDSA signature has %zu bytes, not %zu",
			       *sig_len, 2 * k->coord);
	}
	return rc;
}

/* BASE64URL(header) "." BASE64URL(payload) and its signature, as a JSON object. */
static p11e_rc flattened(const char *header, const char *payload, const unsigned char *mac,
			 size_t mac_len, acme_key *k, json_object **out, p11e_err *err)
{
	char *h64 = acme_b64url((const unsigned char *)header, strlen(header));
	char *p64 = acme_b64url((const unsigned char *)payload, strlen(payload));
	char *input = NULL, *s64 = NULL;
	unsigned char *sig = NULL, hm[EVP_MAX_MD_SIZE];
	unsigned int hm_len = 0;
	size_t sig_len = 0;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (h64 == NULL || p64 == NULL || (input = acme_fmt("%s.%s", h64, p64)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if (mac != NULL) {
		if (HMAC(EVP_sha256(), mac, (int)mac_len, (unsigned char *)input, strlen(input), hm,
			 &hm_len) == NULL) {
			rc = p11e_errf_ssl(err, P11E_FAIL, "ca acme: cannot compute the EAB MAC");
			goto out;
		}
		s64 = acme_b64url(hm, hm_len);
		OPENSSL_cleanse(hm, sizeof(hm));
	} else {
		rc = k->on_token
			 ? sign_token(k, (unsigned char *)input, strlen(input), &sig, &sig_len, err)
			 : sign_software(k, (unsigned char *)input, strlen(input), &sig, &sig_len,
					 err);
		if (rc != P11E_OK)
			goto out;
		s64 = acme_b64url(sig, sig_len);
	}
	if (s64 == NULL || (*out = json_object_new_object()) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	json_object_object_add(*out, "protected", json_object_new_string(h64));
	json_object_object_add(*out, "payload", json_object_new_string(p64));
	json_object_object_add(*out, "signature", json_object_new_string(s64));
out:
	free(h64);
	free(p64);
	free(input);
	free(s64);
	free(sig);
	return rc;
}

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

p11e_rc acme_jws(acme_key *k, const char *url, const char *nonce, const char *kid,
		 const char *payload, char **out, p11e_err *err)
{
	json_object *h = json_object_new_object(), *jws = NULL;
	p11e_rc rc;

	*out = NULL;
	if (h == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	json_object_object_add(h, "alg", json_object_new_string(k->alg));
	if (kid != NULL)
		json_object_object_add(h, "kid", json_object_new_string(kid));
	else
		json_object_object_add(h, "jwk", json_tokener_parse(k->jwk));
	json_object_object_add(h, "nonce", json_object_new_string(nonce));
	json_object_object_add(h, "url", json_object_new_string(url));
	rc = flattened(json_object_to_json_string_ext(h, JSON_FLAGS), payload ? payload : "", NULL,
		       0, k, &jws, err);
	if (rc == P11E_OK &&
	    (*out = strdup(json_object_to_json_string_ext(jws, JSON_FLAGS))) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	json_object_put(jws);
	json_object_put(h);
	return rc;
}

p11e_rc acme_eab(const char *eab_kid, const unsigned char *mac, size_t mac_len, const char *url,
		 const char *jwk, json_object **out, p11e_err *err)
{
	json_object *h = json_object_new_object();
	p11e_rc rc;

	*out = NULL;
	if (h == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	json_object_object_add(h, "alg", json_object_new_string("HS256"));
	json_object_object_add(h, "kid", json_object_new_string(eab_kid));
	json_object_object_add(h, "url", json_object_new_string(url));
	rc = flattened(json_object_to_json_string_ext(h, JSON_FLAGS), jwk, mac, mac_len, NULL, out,
		       err);
	json_object_put(h);
	return rc;
}
