/* Fuzz harness: the logon names read back from DER (src/x509/ext_upn.c,
 * ext_sid.c), which the embedded CA reads from requests and the pipeline from
 * what a CA issued: the input as a GeneralName (UPN, id-pkinit-san) and as an
 * Extension (the SID extension). */
#include <stdint.h>
#include <stdlib.h>
#include <openssl/x509v3.h>
#include "x509/ext_logon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	GENERAL_NAME *gn = d2i_GENERAL_NAME(NULL, &p, (long)size);
	X509_EXTENSION *ext;

	if (gn != NULL) {
		free(p11e_x509_upn_of(gn));
		free(p11e_x509_pkinit_san_of(gn));
		GENERAL_NAME_free(gn);
	}
	p = data;
	ext = d2i_X509_EXTENSION(NULL, &p, (long)size);
	if (ext != NULL) {
		free(p11e_x509_sid_of(ext));
		X509_EXTENSION_free(ext);
	}
	return 0;
}
