/* Certificate signing requests, built with OpenSSL and signed by whatever
 * EVP_PKEY (token bridge or software) or raw token signer is given. */
#ifndef P11ENROLL_CSR_H
#define P11ENROLL_CSR_H

#include <openssl/x509.h>
#include "p11enroll/error.h"
#include "p11enroll/profile.h"
#include "p11enroll/token.h"

typedef struct p11e_csr_params {
	const char *email; /* required for S/MIME profiles; becomes the rfc822Name SAN */
	const char *dns;   /* required for tls-server profiles; becomes the dNSName SAN */
	const char *name;  /* CN; defaults to the email */
	/* Logon (profiles with P11E_PURPOSE_LOGON or _KDC; docs/logon.md):
	 * UPN and id-pkinit-san otherNames after the rfc822Name or dNSName, and
	 * the SID extension (LOGON only); NULL: left out. Checked by the caller
	 * (validate.h). */
	const char *upn;
	const char *principal;
	const char *sid;
	const p11e_profile *profile;
	const char *digest; /* NULL: the profile's, else "sha256" */
	int rsa_pss;	    /* RSA keys: sign with RSASSA-PSS */
} p11e_csr_params;

/* Builds and signs a CSR. pubkey is the key to certify. signer signs it:
 * an EVP_PKEY whose private half may live on a token. Subject is the
 * profile's base DN plus CN; extensions requested: subjectAltName (rfc822Name
 * email, never a DNS name for an address), keyUsage, extendedKeyUsage. */
p11e_rc p11e_csr_build(EVP_PKEY *pubkey, EVP_PKEY *signer, const p11e_csr_params *p, X509_REQ **out,
		       p11e_err *err);

/* Builds the same request and signs its to-be-signed bytes on the token with
 * raw C_Sign through p11e_token_sign_raw(t, id): CKM_EDDSA for Ed25519 (which
 * libp11 0.4.12 cannot bridge), CKM_ECDSA over the digest for EC,
 * CKM_SHA*_RSA_PKCS for RSA. The fallback when libp11 cannot use a token's
 * keys; RSA-PSS is P11E_UNSUPPORTED here. */
p11e_rc p11e_csr_build_token_raw(EVP_PKEY *pubkey, p11e_token *t, const p11e_id *id,
				 const p11e_csr_params *p, X509_REQ **out, p11e_err *err);

/* PEM text of req, malloc'd. */
char *p11e_csr_to_pem(X509_REQ *req);
X509_REQ *p11e_csr_from_pem(const char *pem);
/* req as PEM (*pem, malloc'd) and the request's idempotency key, which a CA
 * is given: hex SHA-256 (65 bytes with the NUL) of its DER followed by tag
 * (NULL or "": none). A tag keeps a CSR that is signed again byte for byte
 * (RSA PKCS#1 v1.5 is deterministic: a renewal reusing the key, a
 * temporary card's request) from passing for the first request. */
p11e_rc p11e_csr_request_key(X509_REQ *req, const char *tag, char **pem, char hex[65],
			     p11e_err *err);

#endif
