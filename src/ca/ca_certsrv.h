/* Private to the certsrv backend (Microsoft AD CS web enrollment): the
 * readers of certsrv's pages and downloads (ca_certsrv_parse.c), each taking
 * one answer's bytes, so that tests and the fuzzer reach them without a
 * server. certsrv is a web application for people, not an API: its pages
 * are read for the few markers Microsoft's own pages carry (the links and
 * sentences named below), and anything else is "an answer certsrv does not
 * give", never a guess. */
#ifndef P11ENROLL_CA_CERTSRV_H
#define P11ENROLL_CA_CERTSRV_H

#include <stddef.h>
#include <openssl/x509.h>

typedef enum certsrv_disposition {
	CERTSRV_UNKNOWN = 0, /* none of the markers: not a certsrv answer */
	CERTSRV_ISSUED,
	CERTSRV_PENDING, /* "Taken Under Submission": a CA manager must issue it */
	CERTSRV_DENIED,
} certsrv_disposition;

typedef struct certsrv_answer {
	certsrv_disposition disposition;
	long req_id;	   /* the CA's request id, 0 when the page names none */
	char message[256]; /* the CA's disposition message, cleaned, or "" */
} certsrv_answer;

/* The largest request id taken from a page: AD CS numbers requests with a
 * 32-bit counter. */
#define CERTSRV_REQ_ID_MAX 2147483647L

/* certfnsh.asp's answer to Mode=newreq:
 *   issued:  a link "certnew.cer?ReqID=N&" to the certificate;
 *   pending: "Your Request Id is N." (the "Certificate Pending" page);
 *   denied:  "The disposition message is "TEXT"" (the "Certificate Request
 *            Denied" page), also when it names the error code.
 * Returns 0 and fills out, or -1 (out->disposition CERTSRV_UNKNOWN) when
 * body carries no marker or a malformed id. */
int certsrv_parse_submit(const char *body, size_t len, certsrv_answer *out);

/* certnew.cer?ReqID=N&Enc=b64's answer: with a Content-Type of
 * application/pkix-cert the certificate (PEM or DER) in *cert (0, or -1
 * when it does not decode); any other type is certsrv's page about the
 * request, "Disposition message: TEXT": TEXT "Taken Under Submission" is
 * CERTSRV_PENDING, one starting "Denied" or "Revoked", or an "Error" page,
 * CERTSRV_DENIED (0 either way; -1 with no disposition message). */
int certsrv_parse_cert(const char *content_type, const char *body, size_t len, X509 **cert,
		       certsrv_answer *out);

/* certcarc.asp's "var nRenewals=N;": how many times the CA certificate
 * was renewed, which certnew.p7b's Renewal= selects. 0, or -1. */
int certsrv_parse_renewals(const char *body, size_t len, int *renewals);

/* certnew.p7b's answer: a certs-only PKCS#7, DER, PEM or bare base64, as
 * the certificates it holds (at least one), in *out. 0, or -1. */
int certsrv_parse_chain(const char *body, size_t len, STACK_OF(X509) * *out);

#endif
