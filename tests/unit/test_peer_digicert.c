/* Hostile answers from DigiCert CertCentral fed to its parsers
 * (src/ca/ca_digicert_parse.c) without a server, and the wait bound its
 * pending answers go through (finding 22). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "check.h"
#include "ca/ca_digicert.h"
#include "p11enroll/csr.h"
#include "p11enroll/peer.h"
#include "p11enroll/util.h"

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

/* A CSR (PEM, as JSON string content: its newlines escaped) and its key,
 * the hex SHA-256 of its DER. */
static char *csr_json_pem(char key[65])
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	unsigned char *der = NULL, md[32];
	unsigned int md_len;
	char *pem, *out, *o;
	int n;

	X509_REQ_set_pubkey(req, pk);
	X509_REQ_sign(req, pk, EVP_sha256());
	n = i2d_X509_REQ(req, &der);
	EVP_Digest(der, (size_t)n, md, &md_len, EVP_sha256(), NULL);
	p11e_hex_encode(md, sizeof(md), key);
	pem = p11e_csr_to_pem(req);
	out = o = malloc(2 * strlen(pem) + 1);
	for (const char *p = pem; *p; p++) {
		if (*p == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	free(pem);
	OPENSSL_free(der);
	X509_REQ_free(req);
	EVP_PKEY_free(pk);
	return out;
}

/* List reissues: the one with our CSR, whatever else the list holds. */
static void reissues(void)
{
	char key[65], other_key[65], status[32], body[4096];
	char *csr = csr_json_pem(key), *other = csr_json_pem(other_key);
	int64_t id;

	snprintf(body, sizeof(body),
		 "{\"certificates\":[{\"id\":7,\"status\":\"issued\",\"csr\":\"%s\"},"
		 "{\"id\":8,\"status\":\"pending\",\"csr\":\"%s\"}]}",
		 other, csr);
	CHECK(digicert_parse_reissues(body, strlen(body), key, NULL, &id, status, sizeof(status)) ==
	      1);
	CHECK(id == 8 && strcmp(status, "pending") == 0);
	CHECK(digicert_parse_reissues(body, strlen(body), other_key, NULL, &id, status,
				      sizeof(status)) == 1 &&
	      id == 7 && strcmp(status, "issued") == 0);
	/* Ours is not there: none, not the newest. */
	snprintf(body, sizeof(body),
		 "{\"certificates\":[{\"id\":7,\"status\":\"issued\",\"csr\":\"%s\"}]}", other);
	CHECK(digicert_parse_reissues(body, strlen(body), key, NULL, &id, status, sizeof(status)) ==
		  0 &&
	      id == 0);
	/* Wrong types: a string id, a numeric status, a csr that is no CSR. */
	snprintf(body, sizeof(body),
		 "{\"certificates\":[5,null,{\"csr\":7},{\"csr\":\"-----BEGIN x\"},"
		 "{\"id\":\"x9\",\"status\":3,\"csr\":\"%s\"}]}",
		 csr);
	CHECK(digicert_parse_reissues(body, strlen(body), key, NULL, &id, status, sizeof(status)) ==
		  1 &&
	      id == 0 && strcmp(status, "unknown") == 0);
	/* A status that would reach a terminal: cleaned. */
	snprintf(body, sizeof(body),
		 "{\"certificates\":[{\"id\":1,\"status\":\"\\u001b[2J\",\"csr\":\"%s\"}]}", csr);
	CHECK(digicert_parse_reissues(body, strlen(body), key, NULL, &id, status, sizeof(status)) ==
		  1 &&
	      strchr(status, 0x1b) == NULL);
	/* The same CSR reissued before (a reused RSA key signs the same CSR
	 * again): the certificate being renewed is never ours, the other is. */
	snprintf(body, sizeof(body),
		 "{\"certificates\":[{\"id\":7,\"status\":\"issued\",\"serial_number\":"
		 "\"0A:FF\",\"csr\":\"%s\"},{\"id\":9,\"status\":\"pending\",\"csr\":\"%s\"}]}",
		 csr, csr);
	CHECK(digicert_parse_reissues(body, strlen(body), key, "0aff", &id, status,
				      sizeof(status)) == 1 &&
	      id == 9 && strcmp(status, "pending") == 0);
	CHECK(digicert_parse_reissues(body, strlen(body), key, "", &id, status, sizeof(status)) ==
		  1 &&
	      id == 7);
	/* Not a list of certificates. */
	CHECK(digicert_parse_reissues(LEN("{\"certificates\":{}}"), key, NULL, &id, status,
				      sizeof(status)) == -1);
	CHECK(digicert_parse_reissues(LEN("[]"), key, NULL, &id, status, sizeof(status)) == -1);
	CHECK(digicert_parse_reissues(LEN("<html>"), key, NULL, &id, status, sizeof(status)) == -1);
	free(csr);
	free(other);
}

/* The reissue's request id, and the order in any of ours. */
static void reissue_ids(void)
{
	char id[128], key[65];
	const char *k64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	int64_t order;

	CHECK(digicert_reissue_id_make(1000001, k64, id, sizeof(id)) == 0);
	CHECK(strcmp(id, "1000001:reissue:0123456789abcdef0123456789abcdef0123456789abcdef0123456"
			 "789abcdef") == 0);
	CHECK(digicert_reissue_id_parse(id, &order, key, sizeof(key)) == 1 && order == 1000001 &&
	      strcmp(key, k64) == 0);
	CHECK(digicert_reissue_id_make(1000001, k64, id, 40) == -1);
	CHECK(digicert_request_order("1000001") == 1000001);
	CHECK(digicert_request_order("1000001:reissue:ab") == 1000001);
	/* Not ours: another CA's ids, no digits, too many digits, a short key. */
	CHECK(digicert_request_order("abc:1") == 0);
	CHECK(digicert_request_order("12x") == 0);
	CHECK(digicert_request_order("12345678901234567890") == 0);
	CHECK(digicert_request_order(NULL) == 0);
	CHECK(digicert_reissue_id_parse("1000001", &order, key, sizeof(key)) == 0);
	CHECK(digicert_reissue_id_parse("1000001:reissue:abc", &order, key, sizeof(key)) == 0);
	CHECK(digicert_reissue_id_parse("x:reissue:0123456789abcdef0123456789abcdef0123456789abcdef"
					"0123456789abcdef",
					&order, key, sizeof(key)) == 0);
	snprintf(id, sizeof(id), "1:reissue:%s:x", k64);
	CHECK(digicert_reissue_id_parse(id, &order, key, sizeof(key)) == 0);
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
	reissues();
	reissue_ids();
	waits();
	return check_done();
}
