/* PKCS#12 (PFX) files for software keys: the key, its certificate and the
 * full chain, with a friendly name and a localKeyID pairing key and
 * certificate (what Windows, macOS, NSS and GnuTLS look for).
 *
 *   aes-256 (default): both bags PBES2 with AES-256-CBC and PBKDF2-HMAC-SHA256
 *                      (P11E_PFX_ITER iterations), MAC HMAC-SHA-256
 *   legacy:            both bags pbeWithSHAAnd3-KeyTripleDES-CBC, MAC
 *                      HMAC-SHA-1, 2048 iterations: for Windows before 10
 *                      1709 / Server 2016 and older macOS keychains. Readable
 *                      by OpenSSL 3 without its legacy provider (no RC2). */
#ifndef P11ENROLL_PKCS12_H
#define P11ENROLL_PKCS12_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11enroll/error.h"

typedef enum p11e_pfx_format {
	P11E_PFX_AES256 = 0,
	P11E_PFX_LEGACY = 1,
} p11e_pfx_format;

#define P11E_PFX_ITER 10000
#define P11E_PFX_LEGACY_ITER 2048

/* "aes-256", "legacy"; parse returns 0, or -1 for another name. */
const char *p11e_pfx_format_name(p11e_pfx_format f);
int p11e_pfx_format_parse(const char *name, p11e_pfx_format *out);

/* DER of a new PFX: key (must be cert's), cert, chain (may be NULL; in
 * order, e.g. issuing CA first, root last), friendly_name on key and
 * certificate, protected by password. *der is OPENSSL_malloc'd. */
p11e_rc p11e_pfx_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain, const char *friendly_name,
		       const char *password, p11e_pfx_format fmt, unsigned char **der, size_t *len,
		       p11e_err *err);

/* Opens a PFX: the MAC checked with password, then key, certificate and the
 * other certificates out (each pointer may be NULL when not wanted).
 * P11E_PIN_INCORRECT if the password does not fit the MAC. */
p11e_rc p11e_pfx_open(const unsigned char *der, size_t len, const char *password, EVP_PKEY **key,
		      X509 **cert, STACK_OF(X509) * *others, p11e_err *err);

/* Whether the PFX opens with password and holds cert and its private key. */
p11e_rc p11e_pfx_verify(const unsigned char *der, size_t len, const char *password, X509 *cert,
			p11e_err *err);

#endif
