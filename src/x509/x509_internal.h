/* X.509 building blocks shared by the CSR builder (src/x509/csr.c) and the
 * embedded CA (src/ca/ca_local*.c). Private to the library. */
#ifndef P11ENROLL_X509_INTERNAL_H
#define P11ENROLL_X509_INTERNAL_H

#include <openssl/x509v3.h>
#include "p11enroll/error.h"
#include "p11enroll/token.h"

/* Appends the entries of an OpenSSL slash-form DN ("/O=Example/OU=People";
 * "\/" escapes a slash inside a value) to name. "" adds nothing. field names
 * the input in error messages, e.g. "subject". */
p11e_rc p11e_x509_name_add_slash(X509_NAME *name, const char *dn, const char *field, p11e_err *err);

/* RSA (also RSA-PSS), EC or Ed25519; 0 for anything else. */
p11e_key_kind p11e_x509_key_kind(const EVP_PKEY *k);

/* The keyUsage BIT STRING for a KU_* mask. NULL on allocation failure. */
ASN1_BIT_STRING *p11e_x509_key_usage(unsigned ku);

/* extendedKeyUsage for P11E_PURPOSE_* bits: emailProtection for SIGN or
 * ENCRYPT, clientAuth for CLIENT_AUTH. Free with
 * sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free). */
EXTENDED_KEY_USAGE *p11e_x509_ext_key_usage(unsigned purposes);

/* What a memory BIO holds, as a malloc'd NUL-terminated string. */
char *p11e_bio_to_string(BIO *bio);

#endif
