/* What `p11enroll wipe` needs of the token beyond destroying by CKA_ID:
 * certificates found by their value (the CA certificates p11enroll wrote
 * beside its keys carry the CA's ID, which a user's own objects may share). */
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include "token/p11_internal.h"

p11e_rc p11e_token_destroy_cert_value(p11e_token *t, X509 *cert, size_t *n, p11e_err *err)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	unsigned char *der = NULL;
	int der_len = i2d_X509(cert, &der);
	CK_OBJECT_HANDLE *list = NULL;
	CK_ULONG count = 0;
	p11e_rc rc;

	*n = 0;
	if (der_len <= 0)
		return p11e_errf_ssl(err, P11E_FAIL, "certificate: cannot encode it");
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_VALUE, der, (CK_ULONG)der_len}};
	rc = p11e_find(t, tmpl, 2, &list, &count, err);
	for (CK_ULONG i = 0; rc == P11E_OK && i < count; i++)
		if ((rc = p11e_destroy_handle(t, list[i], "a certificate", err)) == P11E_OK)
			(*n)++;
	free(list);
	OPENSSL_free(der);
	return rc;
}
