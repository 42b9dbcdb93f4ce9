/* Private to the cfssl backend (src/ca/ca_cfssl.c): the parser of CFSSL's
 * answers, its own function so that tests and the fuzzer reach it without a
 * server. */
#ifndef P11ENROLL_CA_CFSSL_H
#define P11ENROLL_CA_CFSSL_H

#include <stddef.h>
#include <openssl/x509.h>

typedef struct cfssl_answer {
	int success;	  /* "success": true with an object "result" */
	X509 *cert;	  /* result.certificate (sign, authsign and info all carry one) */
	char reason[256]; /* the CA's first error, "cfssl error CODE: MESSAGE", cleaned; or "" */
} cfssl_answer;

/* CFSSL's envelope {"success": bool, "result": {...}, "errors": [{"code",
 * "message"}]} in body (len bytes). Anything missing or of another type is
 * taken as absent: a hostile answer gives an empty out, never a crash. */
void cfssl_parse_answer(const char *body, size_t len, cfssl_answer *out);
void cfssl_answer_clear(cfssl_answer *a);

#endif
