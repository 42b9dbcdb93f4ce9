/* Hostile answers from DigiCert CertCentral fed to its parsers
 * (src/ca/ca_digicert_parse.c) without a server, and the wait bound its
 * pending answers go through (finding 22). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "ca/ca_digicert.h"
#include "p11enroll/peer.h"

#define LEN(s) s, strlen(s)

static void errors(void)
{
	char buf[300];

	digicert_parse_errors(LEN("{\"errors\":[{\"code\":\"invalid_csr\",\"message\":\"The CSR "
				  "is invalid.\"}]}"),
			      400, buf, sizeof(buf));
	CHECK(strcmp(buf, "HTTP 400: invalid_csr: The CSR is invalid.") == 0);
	/* Wrong types: no assertion, no crash. */
	digicert_parse_errors(LEN("{\"errors\":1}"), 400, buf, sizeof(buf));
	CHECK(strcmp(buf, "HTTP 400") == 0);
	digicert_parse_errors(LEN("{\"errors\":[null,{\"code\":5,\"message\":[]}]}"), 400, buf,
			      sizeof(buf));
	CHECK(strcmp(buf, "HTTP 400: error: (no message); error: (no message)") == 0);
	/* Not JSON: its start, cleaned. */
	digicert_parse_errors(LEN("<html>\x1b[2Joops\n</html>"), 502, buf, sizeof(buf));
	CHECK(strcmp(buf, "HTTP 502: <html>?[2Joops </html>") == 0);
	digicert_parse_errors(
	    LEN("{\"errors\":[{\"code\":\"x\",\"message\":\"\\u001b]0;t\\u0007\"}]}"), 400, buf,
	    sizeof(buf));
	CHECK(strchr(buf, 0x1b) == NULL && strchr(buf, 7) == NULL);
}

static void order(void)
{
	digicert_order_doc d;

	CHECK(digicert_parse_order(LEN("{\"id\":1,\"status\":\"issued\",\"certificate\":{\"id\":"
				       "5678,\"csr\":\"PEM\"},\"comments\":\"p11enroll request "
				       "abcd\"}"),
				   "abcd", &d) == 0);
	CHECK(strcmp(d.status, "issued") == 0 && d.cert_id == 5678 && d.has_comment &&
	      d.csr != NULL && strcmp(d.csr, "PEM") == 0);
	digicert_order_doc_clear(&d);
	/* Ids as strings, huge, negative, of the wrong type. */
	CHECK(digicert_parse_order(LEN("{\"status\":\"issued\",\"certificate\":{\"id\":\"42\"}}"),
				   NULL, &d) == 0 &&
	      d.cert_id == 42);
	digicert_order_doc_clear(&d);
	CHECK(digicert_parse_order(LEN("{\"status\":\"issued\",\"certificate\":{\"id\":"
				       "\"9999999999999999999\"}}"),
				   NULL, &d) == 0 &&
	      d.cert_id == 0);
	digicert_order_doc_clear(&d);
	CHECK(digicert_parse_order(LEN("{\"status\":\"issued\",\"certificate\":{\"id\":-3}}"), NULL,
				   &d) == 0 &&
	      d.cert_id == 0);
	digicert_order_doc_clear(&d);
	CHECK(digicert_parse_order(LEN("{\"status\":7,\"certificate\":[1]}"), NULL, &d) == 0 &&
	      strcmp(d.status, "unknown") == 0 && d.cert_id == 0 && d.csr == NULL);
	digicert_order_doc_clear(&d);
	CHECK(digicert_parse_order(LEN("[1]"), NULL, &d) == -1);
	/* A refusal in the approver's words, cleaned. */
	CHECK(digicert_parse_order(LEN("{\"status\":\"rejected\",\"requests\":[1,null,{"
				       "\"processor_comment\":\"no\\u001b[2J\"}]}"),
				   NULL, &d) == 0);
	CHECK(strcmp(d.reason, "DigiCert order rejected: no?[2J") == 0);
	digicert_order_doc_clear(&d);
	CHECK(digicert_parse_order(LEN("{\"status\":\"denied\",\"requests\":\"x\"}"), NULL, &d) ==
		  0 &&
	      strcmp(d.reason, "DigiCert order denied") == 0);
	digicert_order_doc_clear(&d);
}

static void order_list(void)
{
	int64_t ids[DIGICERT_LOOKUP_MAX];
	size_t n;

	CHECK(digicert_parse_order_list(
		  LEN("{\"orders\":[{\"id\":1,\"status\":\"pending\",\"product\":{\"name_id\":"
		      "\"secure_email_mailbox\"}},{\"id\":2,\"status\":\"rejected\"},{\"id\":3,"
		      "\"product\":{\"name_id\":\"ssl_basic\"}},null,7,{\"id\":\"4\"},{\"id\":-1},"
		      "{\"id\":{}}]}"),
		  "secure_email_mailbox", ids, DIGICERT_LOOKUP_MAX, &n) == 0);
	CHECK(n == 2 && ids[0] == 1 && ids[1] == 4);
	CHECK(digicert_parse_order_list(LEN("{\"orders\":{}}"), "p", ids, DIGICERT_LOOKUP_MAX,
					&n) == -1 &&
	      n == 0);
	CHECK(digicert_parse_order_list(LEN("{}"), "p", ids, DIGICERT_LOOKUP_MAX, &n) == -1);
	{
		/* More orders than are looked at: the first DIGICERT_LOOKUP_MAX. */
		char big[4096] = "{\"orders\":[";
		for (int i = 1; i <= 50; i++)
			snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s{\"id\":%d}",
				 i > 1 ? "," : "", i);
		strcat(big, "]}");
		CHECK(digicert_parse_order_list(LEN(big), "p", ids, DIGICERT_LOOKUP_MAX, &n) == 0 &&
		      n == DIGICERT_LOOKUP_MAX && ids[19] == 20);
	}
}

static void new_order(void)
{
	int64_t id;
	char *pem;

	CHECK(digicert_parse_new_order(LEN("{\"id\":12,\"certificate_chain\":[{\"pem\":\"A\"},"
					   "null,{\"pem\":5},{\"pem\":\"B\"}]}"),
				       &id, &pem) == 0);
	CHECK(id == 12 && pem != NULL && strcmp(pem, "A\nB\n") == 0);
	free(pem);
	CHECK(digicert_parse_new_order(LEN("{\"id\":\"x\",\"certificate_chain\":{}}"), &id, &pem) ==
		  0 &&
	      id == 0 && pem == NULL);
	CHECK(digicert_parse_new_order(LEN("{\"id\":1e300}"), &id, &pem) == 0 && id == 0);
	CHECK(digicert_parse_new_order(LEN("nope"), &id, &pem) == -1);
}

/* Finding 22: what a huge Retry-After becomes before (int) and *1000. */
static void waits(void)
{
	CHECK((int)p11e_peer_wait_s(9223372036854775807L) == 86400);
	CHECK((int)p11e_peer_wait_s(4294967296L + 5) == 86400); /* (int) alone gave 5 */
	CHECK(p11e_peer_wait_s(-1) == 0);
}

int main(void)
{
	errors();
	order();
	order_list();
	new_order();
	waits();
	return check_done();
}
