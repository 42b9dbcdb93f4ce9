/* Private to the est backend (RFC 7030). The parsers of an EST server's
 * answers live in ca_est_parse.c, each taking one answer's bytes, so that
 * tests and the fuzzer reach them without a server. */
#ifndef P11ENROLL_CA_EST_H
#define P11ENROLL_CA_EST_H

#include <stddef.h>
#include <openssl/x509.h>

/* The largest answer body the parsers look at (a certs-only of a few
 * certificates is a few kB; the HTTP layer stops at 4 MiB). */
#define EST_BODY_MAX (1024 * 1024)

/* Whether the Content-Type value (NULL: absent) is type, compared without
 * case and ignoring parameters ("application/pkcs7-mime; smime-type=certs-only"). */
int est_content_type_is(const char *value, const char *type);

/* RFC 7030 4.1.3 / 4.2.3 with RFC 8951 3.2.2: the body is base64 (line
 * breaks and spaces anywhere, padding required at the end) of DER. *der is
 * malloc'd. 0, or -1 with why (a static string) set. */
int est_base64_decode(const char *body, size_t len, unsigned char **der, size_t *der_len,
		      const char **why);

/* A certs-only CMS SignedData (RFC 5751 3.2.2: no content, no signers) in
 * DER: its certificates, in the order sent, into *out (at least one). 0, or
 * -1 with why set. */
int est_parse_certs_der(const unsigned char *der, size_t len, STACK_OF(X509) * *out,
			const char **why);

/* Both: the base64 body of /cacerts or /simpleenroll into certificates. */
int est_parse_certs(const char *body, size_t len, STACK_OF(X509) * *out, const char **why);

/* The certificate of certs whose public key is key's (the issued one), or
 * NULL. Not a new reference. */
X509 *est_find_for_key(STACK_OF(X509) * certs, EVP_PKEY *key);

/* The issuing chain of leaf out of pool (/cacerts): issuer first, root last,
 * each certificate the issuer of the one before it (signature checked); a
 * new stack of new references (empty when none is found), NULL on no memory. */
STACK_OF(X509) * est_chain_for(X509 *leaf, STACK_OF(X509) * pool);

#endif
