/* The pipeline's store step for an archived key: the software key's PFX (the
 * escrow copy), then the key imported onto the token. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <json-c/json.h>
#include "p11enroll/ca.h"
#include "p11enroll/csr.h"
#include "p11enroll/pem.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/pkcs12.h"
#include "p11enroll/recover.h"
#include "p11enroll/session.h"
#include "p11enroll/software.h"
#include "p11enroll/util.h"
#include "core/pipeline_steps.h"

/* issued -> stored, archived: the PFX as for a software key (the escrow
 * copy, which stays), then the key imported onto the token, sensitive and
 * not extractable, and the certificate and chain beside it. Whatever a
 * stopped run put on the token is found by CKA_ID and kept: never a second
 * key. */
p11e_rc pipe_step_store_archived(enroll_run *r, p11e_err *err)
{
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	p11e_id id;
	char hex[2 * P11E_ID_MAX + 1];
	p11e_rc rc = pipe_step_store_software(r, err);

	if (rc != P11E_OK)
		return rc;
	cert = p11e_x509_from_pem(r->rec->cert_pem);
	chain = p11e_chain_from_pem(r->rec->chain_pem);
	if (cert == NULL || chain == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "identity %s: the saved certificate cannot be read",
			       r->rec->identity);
		goto out;
	}
	rc = pipe_soft_key(r, err);
	if (rc == P11E_OK)
		rc = p11e_archive_import(r->token, r->skey, cert, chain, r->rec->label,
					 pipe_crash_point, NULL, &id, err);
	/* The token has it and the PFX keeps it: no copy stays in memory. */
	EVP_PKEY_free(r->skey);
	r->skey = NULL;
	if (rc == P11E_OK) {
		p11e_hex_encode(id.v, id.len, hex);
		if (strcmp(hex, r->rec->key_id) != 0)
			rc = p11e_errf(
			    err, P11E_FAIL,
			    "identity %s: the imported key has ID %s, not the recorded %s",
			    r->rec->identity, hex, r->rec->key_id);
	}
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_STORED;
out:
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
