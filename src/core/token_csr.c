/* A CSR for a key that lives on a token, signed on the token. */
#include <stdio.h>
#include "p11enroll/pipeline.h"

p11e_rc p11e_token_csr(p11e_token *t, const p11e_id *id, const p11e_csr_params *cp, int by_id,
		       X509_REQ **out, p11e_err *err)
{
	EVP_PKEY *pub = NULL, *signer = NULL;
	p11e_err bridge_err = {0};
	p11e_rc rc;

	rc = p11e_token_public_key(t, id, &pub, err);
	if (rc != P11E_OK)
		goto out;
	/* libp11 0.4.12 has no EdDSA bridge: Ed25519 is signed with raw C_Sign;
	 * so is every key when the caller wants no key enumeration (by_id). */
	if (by_id || EVP_PKEY_get_base_id(pub) == EVP_PKEY_ED25519) {
		rc = p11e_csr_build_token_raw(pub, t, id, cp, out, err);
		goto out;
	}
	/* RSA and EC go through libp11's EVP_PKEY bridge. It cannot list the keys
	 * of a token that also holds a key type it does not know (an Ed25519 key,
	 * measured with libp11 0.4.12): then sign with raw C_Sign instead. */
	rc = p11e_token_signing_key(t, id, &signer, &bridge_err);
	if (rc == P11E_OK) {
		rc = p11e_csr_build(pub, signer, cp, out, err);
		goto out;
	}
	rc = p11e_csr_build_token_raw(pub, t, id, cp, out, err);
	if (rc == P11E_UNSUPPORTED && err != NULL) {
		char why[P11E_ERR_MAX];
		snprintf(why, sizeof(why), "%s", err->msg);
		rc = p11e_errf(err, P11E_UNSUPPORTED, "%.300s (libp11: %.150s)", why,
			       bridge_err.msg);
	}
out:
	EVP_PKEY_free(signer);
	EVP_PKEY_free(pub);
	return rc;
}
