/* Fuzz harness: a CMP CA's answers and the cmp backend's kept transactions
 * (src/ca/ca_cmp_doc.c). The first byte picks the path: 0, an answer as the
 * transfer callback reads it (cmp_answer_parse: OpenSSL's d2i of a
 * PKIMessage, then our checks of its length, transactionID and body type),
 * without a transactionID to match; 1, the same against a fixed one (the
 * seeds' bytes 0..15 of transactionID are not it: the mismatch path); 2, a
 * transaction document (cmp_doc_decode), encoded again and read back (the
 * same document), and the answer kept into it (cmp_doc_keep). Seeds:
 * answers of Debian's `openssl cmp` mock server (-rspout), and documents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include "ca/ca_cmp.h"

static void doc_path(const uint8_t *data, size_t size)
{
	cmp_doc d, again;
	char *text;

	if (cmp_doc_decode((const char *)data, size, &d) != 0)
		return;
	text = cmp_doc_encode(&d);
	if (text == NULL)
		abort();
	if (cmp_doc_decode(text, strlen(text), &again) != 0 || again.n_kept != d.n_kept ||
	    strcmp(again.txid, d.txid) != 0 || again.req_type != d.req_type ||
	    again.confirmed != d.confirmed)
		abort(); /* what we wrote we must read back */
	for (size_t i = 0; i < d.n_kept; i++)
		if (again.kept_len[i] != d.kept_len[i] ||
		    memcmp(again.kept[i], d.kept[i], d.kept_len[i]) != 0)
			abort();
	if (d.n_kept > 0)
		(void)cmp_doc_keep(&d, d.kept[0], d.kept_len[0]);
	if (d.n_kept > CMP_KEPT_MAX)
		abort();
	free(text);
	cmp_doc_clear(&again);
	cmp_doc_clear(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char txid[16] = "p11enroll-fuzz!";
	OSSL_CMP_MSG *m;
	p11e_err err = {0};

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
	case 1:
		m = cmp_answer_parse(data + 1, size - 1, data[0] % 3 ? txid : NULL, sizeof(txid),
				     &err);
		if ((m == NULL) == (err.msg[0] == '\0'))
			abort(); /* a refusal always says why, an answer never fails */
		OSSL_CMP_MSG_free(m);
		break;
	default:
		doc_path(data + 1, size - 1);
	}
	ERR_clear_error();
	return 0;
}
