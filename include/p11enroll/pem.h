/* PEM text and small certificate facts, shared by the pipeline and the CLI. */
#ifndef P11ENROLL_PEM_H
#define P11ENROLL_PEM_H

#include <stddef.h>
#include <openssl/x509.h>

/* malloc'd PEM of one certificate / of every certificate in chain. */
char *p11e_x509_to_pem(X509 *cert);
char *p11e_chain_to_pem(STACK_OF(X509) * chain);
/* The first certificate in pem, or NULL. */
X509 *p11e_x509_from_pem(const char *pem);
/* Every certificate in pem (an empty stack for NULL or ""), NULL on a parse error. */
STACK_OF(X509) * p11e_chain_from_pem(const char *pem);

/* "2026-11-22T09:00:00Z" into out (at least 21 bytes); 0 or -1. */
int p11e_asn1_time_iso(const ASN1_TIME *t, char *out, size_t len);
/* Hex SHA-256 of the certificate's DER into out (65 bytes); 0 or -1. */
int p11e_x509_sha256_hex(X509 *cert, char out[65]);
/* The first rfc822Name in the certificate's subjectAltName, malloc'd, or NULL. */
char *p11e_x509_first_email(X509 *cert);

#endif
