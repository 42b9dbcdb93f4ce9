/* PKCS#12 files for software keys (see include/p11enroll/pkcs12.h). */
#include <limits.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include "p11enroll/pkcs12.h"

const char *p11e_pfx_format_name(p11e_pfx_format f)
{
	return f == P11E_PFX_LEGACY ? "legacy" : "aes-256";
}

int p11e_pfx_format_parse(const char *name, p11e_pfx_format *out)
{
	if (name != NULL && strcmp(name, "aes-256") == 0)
		*out = P11E_PFX_AES256;
	else if (name != NULL && strcmp(name, "legacy") == 0)
		*out = P11E_PFX_LEGACY;
	else
		return -1;
	return 0;
}

p11e_rc p11e_pfx_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain, const char *friendly_name,
		       const char *password, p11e_pfx_format fmt, unsigned char **der, size_t *len,
		       p11e_err *err)
{
	int legacy = fmt == P11E_PFX_LEGACY;
	/* A cipher NID makes PKCS12_create use PBES2 (PBKDF2, whose PRF is
	 * hmacWithSHA256 in OpenSSL 3); a PBE NID the PKCS#12 scheme. */
	int nid = legacy ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC : NID_aes_256_cbc;
	int iter = legacy ? P11E_PFX_LEGACY_ITER : P11E_PFX_ITER;
	const EVP_MD *mac_md = legacy ? EVP_sha1() : EVP_sha256();
	PKCS12 *p12 = NULL;
	int n;
	p11e_rc rc = P11E_OK;

	*der = NULL;
	*len = 0;
	if (key == NULL || cert == NULL || password == NULL || password[0] == '\0')
		return p11e_errf(err, P11E_USAGE,
				 "pfx: a key, a certificate and a password are needed");
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		return p11e_errf(err, P11E_FAIL, "pfx: the certificate is not for this key");
	}
	/* mac_iter -1: no MAC here; it is added below with the digest chosen
	 * (PKCS12_create's own MAC is always SHA-1). */
	p12 = PKCS12_create_ex(password, friendly_name, key, cert, chain, nid, nid, iter, -1, 0,
			       NULL, NULL);
	if (p12 == NULL) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "pfx: cannot build the PKCS#12 (%s)",
				   p11e_pfx_format_name(fmt));
		goto out;
	}
	if (PKCS12_set_mac(p12, password, -1, NULL, 0, iter, mac_md) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "pfx: cannot add the MAC");
		goto out;
	}
	if ((n = i2d_PKCS12(p12, der)) <= 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "pfx: cannot encode the PKCS#12");
		goto out;
	}
	*len = (size_t)n;
out:
	PKCS12_free(p12);
	return rc;
}

p11e_rc p11e_pfx_open(const unsigned char *der, size_t len, const char *password, EVP_PKEY **key,
		      X509 **cert, STACK_OF(X509) * *others, p11e_err *err)
{
	const unsigned char *p = der;
	PKCS12 *p12 = NULL;
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	STACK_OF(X509) *ca = NULL;
	p11e_rc rc = P11E_OK;

	if (key != NULL)
		*key = NULL;
	if (cert != NULL)
		*cert = NULL;
	if (others != NULL)
		*others = NULL;
	if (len > LONG_MAX || (p12 = d2i_PKCS12(NULL, &p, (long)len)) == NULL || p != der + len) {
		ERR_clear_error();
		rc = p11e_errf(err, P11E_FAIL, "pfx: not a PKCS#12 file");
		goto out;
	}
	if (!PKCS12_mac_present(p12)) {
		rc = p11e_errf(err, P11E_FAIL, "pfx: the file has no MAC");
		goto out;
	}
	if (PKCS12_verify_mac(p12, password, -1) != 1) {
		ERR_clear_error();
		rc = p11e_errf(err, P11E_PIN_INCORRECT, "pfx: the password does not open it");
		goto out;
	}
	if (PKCS12_parse(p12, password, &k, &c, &ca) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "pfx: cannot decrypt its contents");
		goto out;
	}
	if (key != NULL) {
		*key = k;
		k = NULL;
	}
	if (cert != NULL) {
		*cert = c;
		c = NULL;
	}
	if (others != NULL) {
		*others = ca;
		ca = NULL;
	}
out:
	EVP_PKEY_free(k);
	X509_free(c);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return rc;
}

p11e_rc p11e_pfx_verify(const unsigned char *der, size_t len, const char *password, X509 *cert,
			p11e_err *err)
{
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	p11e_rc rc;

	rc = p11e_pfx_open(der, len, password, &k, &c, NULL, err);
	if (rc != P11E_OK)
		return rc;
	if (k == NULL || c == NULL)
		rc = p11e_errf(err, P11E_FAIL, "pfx: it lacks the %s",
			       k == NULL ? "private key" : "certificate");
	else if (X509_cmp(c, cert) != 0)
		rc = p11e_errf(err, P11E_FAIL, "pfx: it holds another certificate");
	else if (X509_check_private_key(c, k) != 1) {
		ERR_clear_error();
		rc = p11e_errf(err, P11E_FAIL, "pfx: its key is not the certificate's");
	}
	EVP_PKEY_free(k);
	X509_free(c);
	return rc;
}
