/* The EST server's answers (RFC 7030): base64 bodies of certs-only CMS.
 * Everything here reads what a network peer sent: bounded, checked, and
 * reached by tests/fuzz/fuzz_est.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "ca/ca_est.h"

int est_content_type_is(const char *value, const char *type)
{
	size_t n = strlen(type);

	if (value == NULL)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	if (strncasecmp(value, type, n) != 0)
		return 0;
	value += n;
	while (*value == ' ' || *value == '\t')
		value++;
	return *value == '\0' || *value == ';';
}

static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int est_base64_decode(const char *body, size_t len, unsigned char **der, size_t *der_len,
		      const char **why)
{
	unsigned char *out;
	unsigned long acc = 0;
	size_t n = 0, chars = 0, pad = 0;

	*der = NULL;
	*der_len = 0;
	if (len > EST_BODY_MAX) {
		*why = "the body is larger than 1 MiB";
		return -1;
	}
	if ((out = malloc(len / 4 * 3 + 3)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)body[i];
		int v;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			/* Only at the end of a quantum's last two places. */
			if (++pad > 2 || chars % 4 < 2)
				goto bad;
			chars++;
			continue;
		}
		if (pad > 0 || (v = sextet(c)) < 0)
			goto bad;
		acc = acc << 6 | (unsigned long)v;
		chars++;
		if (chars % 4 == 0) {
			out[n++] = (unsigned char)(acc >> 16);
			out[n++] = (unsigned char)(acc >> 8);
			out[n++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (chars == 0 || chars % 4 != 0)
		goto bad;
	if (pad == 1) {
		acc <<= 6;
		out[n++] = (unsigned char)(acc >> 16);
		out[n++] = (unsigned char)(acc >> 8);
	} else if (pad == 2) {
		acc <<= 12;
		out[n++] = (unsigned char)(acc >> 16);
	}
	*der = out;
	*der_len = n;
	return 0;
bad:
	free(out);
	*why = chars == 0 ? "the body is empty" : "the body is not base64 (RFC 7030 4.1.3)";
	return -1;
}

int est_parse_certs_der(const unsigned char *der, size_t len, STACK_OF(X509) * *out,
			const char **why)
{
	const unsigned char *p = der;
	STACK_OF(X509) *certs = NULL, *copy = NULL;
	PKCS7 *p7 = NULL;
	int rc = -1;

	*out = NULL;
	if (len > EST_BODY_MAX || len > 0x7fffffff) {
		*why = "the body is larger than 1 MiB";
		return -1;
	}
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	if (p7 == NULL) {
		*why = "the body is not a PKCS#7 (CMS) structure; truncated?";
		goto out;
	}
	if (p != der + len) {
		*why = "the PKCS#7 structure is followed by stray bytes";
		goto out;
	}
	if (!PKCS7_type_is_signed(p7) || p7->d.sign == NULL) {
		*why = "the PKCS#7 structure is not SignedData (certs-only)";
		goto out;
	}
	if (sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info) > 0) {
		*why = "the PKCS#7 structure is signed data, not certs-only";
		goto out;
	}
	certs = p7->d.sign->cert;
	if (certs == NULL || sk_X509_num(certs) == 0) {
		*why = "the PKCS#7 structure holds no certificate";
		goto out;
	}
	if ((copy = sk_X509_new_null()) == NULL) {
		*why = "out of memory";
		goto out;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);
		if (!sk_X509_push(copy, c)) {
			*why = "out of memory";
			goto out;
		}
		X509_up_ref(c); /* the stack's reference, freed with it */
	}
	*out = copy;
	copy = NULL;
	rc = 0;
out:
	sk_X509_pop_free(copy, X509_free);
	PKCS7_free(p7);
	return rc;
}

int est_parse_certs(const char *body, size_t len, STACK_OF(X509) * *out, const char **why)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	int rc;

	*out = NULL;
	if (est_base64_decode(body, len, &der, &der_len, why) != 0)
		return -1;
	rc = est_parse_certs_der(der, der_len, out, why);
	free(der);
	return rc;
}

X509 *est_find_for_key(STACK_OF(X509) * certs, EVP_PKEY *key)
{
	for (int i = 0; i < sk_X509_num(certs); i++) {
		EVP_PKEY *pub = X509_get0_pubkey(sk_X509_value(certs, i));
		if (pub != NULL && EVP_PKEY_eq(pub, key) == 1)
			return sk_X509_value(certs, i);
	}
	return NULL;
}

/* The certificate of pool that issued c (name and signature), or NULL. */
static X509 *issuer_of(X509 *c, STACK_OF(X509) * pool)
{
	for (int i = 0; i < sk_X509_num(pool); i++) {
		X509 *cand = sk_X509_value(pool, i);
		EVP_PKEY *pub = X509_get0_pubkey(cand);

		if (cand != c && X509_check_issued(cand, c) == X509_V_OK && pub != NULL &&
		    X509_verify(c, pub) == 1)
			return cand;
	}
	return NULL;
}

STACK_OF(X509) * est_chain_for(X509 *leaf, STACK_OF(X509) * pool)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *at = leaf, *up;

	if (chain == NULL)
		return NULL;
	/* Bounded by the pool: a loop of cross-certificates ends. */
	for (int depth = 0; depth < sk_X509_num(pool); depth++) {
		if (X509_check_issued(at, at) == X509_V_OK)
			break; /* self-issued: the root */
		if ((up = issuer_of(at, pool)) == NULL)
			break;
		if (!sk_X509_push(chain, up)) {
			sk_X509_pop_free(chain, X509_free);
			return NULL;
		}
		X509_up_ref(up);
		at = up;
	}
	return chain;
}
