/* The pipeline's steps that talk to the CA, shared by every key store: the
 * CSR (signed on the token or by the software key), the submission and the
 * poll for a pending request. */
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

/* key-generated -> csr-built: the CSR is signed on the token (or by the
 * software key) and saved, so every later submission sends the very same
 * request. A new key on the token had its CSR signed before its rename
 * (pipe_csr_sign, called by pipe_step_key) and saved durably with its final
 * ID: that CSR is the one sent, and csr-built need not be durable again. */
p11e_rc pipe_step_csr(enroll_run *r, p11e_err *err)
{
	p11e_id id;
	p11e_rc rc = P11E_OK;

	if (!r->software && r->rec->csr_pem != NULL && r->rec->request_key != NULL) {
		r->csr_before_rename = 1;
	} else {
		if (!r->software)
			rc = pipe_parse_id(r->rec->key_id, &id, "record key_id", err);
		if (rc == P11E_OK)
			rc = pipe_csr_sign(r, r->software ? NULL : &id, err);
	}
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_CSR_BUILT;
	return rc;
}

/* Signs the CSR with the software key, or the token's key under id, and sets
 * the record's csr_pem and request_key (the step is the caller's). */
p11e_rc pipe_csr_sign(enroll_run *r, const p11e_id *id, p11e_err *err)
{
	p11e_csr_params cp = {
	    .email = r->rec->dns_name != NULL ? NULL : p11e_record_email(r->rec),
	    .dns = r->rec->dns_name,
	    .name = r->rec->name,
	    .upn = r->rec->upn,
	    .principal = r->rec->principal,
	    .sid = r->rec->sid,
	    .profile = &r->profile,
	    .digest = r->p->digest,
	    .rsa_pss = r->p->rsa_pss,
	};
	X509_REQ *req = NULL;
	char hex[2 * SHA256_DIGEST_LENGTH + 1], tag[16] = "", *pem = NULL;
	p11e_rc rc;

	if (r->software) {
		rc = pipe_soft_key(r, err);
		if (rc == P11E_OK)
			rc = p11e_csr_build(r->skey, r->skey, &cp, &req, err);
	} else {
		rc = p11e_token_csr(r->token, id, &cp, r->p->shared != NULL, &req, err);
	}
	if (rc != P11E_OK)
		goto out;
	/* The CA's idempotency key. A renewal that reuses the key may sign
	 * the very same CSR again, which must not be taken for the first
	 * request: from generation 2 on, the generation is hashed after the
	 * DER. */
	if (p11e_record_generation(r->rec) > 1)
		snprintf(tag, sizeof(tag), "#%d", p11e_record_generation(r->rec));
	if ((rc = p11e_csr_request_key(req, tag, &pem, hex, err)) != P11E_OK)
		goto out;
	rc = p11e_record_set(&r->rec->csr_pem, pem, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->request_key, hex, err);
out:
	free(pem);
	X509_REQ_free(req);
	return rc;
}

/* Takes what the CA answered into the record. */
static p11e_rc take_result(enroll_run *r, p11e_ca_result *res, p11e_err *err)
{
	char *cert_pem = NULL, *chain_pem = NULL;
	char fp[65], not_after[32];
	p11e_rc rc = P11E_OK;

	if (res->request_id[0] != '\0')
		rc = p11e_record_set(&r->rec->request_id, res->request_id, err);
	if (rc != P11E_OK)
		return rc;
	switch (res->state) {
	case P11E_CA_STATE_PENDING:
		r->rec->step = P11E_STEP_SUBMITTED;
		return p11e_errf(err, P11E_PENDING,
				 "identity %s: the CA has request %s pending; run enroll or poll "
				 "again later",
				 r->rec->identity, r->rec->request_id ? r->rec->request_id : "?");
	case P11E_CA_STATE_REJECTED:
		return p11e_errf(err, P11E_CA_REJECTED,
				 "identity %s: the CA rejected the request: %s", r->rec->identity,
				 res->reason);
	case P11E_CA_STATE_ISSUED:
		break;
	}
	/* Whatever the CA was asked, it must have issued what the profile says. */
	rc = p11e_profile_check_cert(&r->profile, res->cert, r->rec->identity, err);
	if (rc == P11E_OK)
		rc = p11e_profile_check_logon(&r->profile, res->cert, r->rec->upn,
					      r->rec->principal, r->rec->sid, err);
	if (rc != P11E_OK)
		return rc;
	cert_pem = p11e_x509_to_pem(res->cert);
	chain_pem = p11e_chain_to_pem(res->chain);
	if (cert_pem == NULL || chain_pem == NULL || p11e_x509_sha256_hex(res->cert, fp) != 0 ||
	    p11e_asn1_time_iso(X509_get0_notAfter(res->cert), not_after, sizeof(not_after)) != 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the issued certificate");
		goto out;
	}
	rc = p11e_record_set(&r->rec->cert_pem, cert_pem, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->chain_pem, chain_pem, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->cert_sha256, fp, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&r->rec->not_after, not_after, err);
	if (rc == P11E_OK)
		r->rec->step = P11E_STEP_ISSUED;
out:
	free(cert_pem);
	free(chain_pem);
	return rc;
}

/* Hands the CA the requester's key when its protocol signs with it (SCEP):
 * the token key through libp11's bridge, or the software key. *key stays ours (free it after the
 * call that used it). */
static p11e_rc give_requester(enroll_run *r, EVP_PKEY **key, p11e_err *err)
{
	p11e_id id;
	p11e_rc rc;

	*key = NULL;
	if (!p11e_ca_needs_requester(r->ca))
		return P11E_OK;
	if (r->software) {
		/* The key in memory, freed with the run (not through *key). */
		rc = pipe_soft_key(r, err);
		if (rc == P11E_OK)
			rc = p11e_ca_set_requester(r->ca, r->skey, r->rec->identity, err);
		return rc;
	}
	rc = pipe_parse_id(r->rec->key_id, &id, "record key_id", err);
	if (rc == P11E_OK)
		rc = p11e_token_signing_key(r->token, &id, key, err);
	if (rc == P11E_OK)
		rc = p11e_ca_set_requester(r->ca, *key, r->rec->identity, err);
	return rc;
}

/* A renewal tells the CA which certificate it replaces (and, for a CA that
 * wants the old key's signature, SCEP, hands that key over: on the token,
 * the old generation's; a software key is gone once its PFX is written).
 * Cleared again by the caller after the call that used it. */
static p11e_rc give_renewal(enroll_run *r, p11e_ca_renewal *ren, p11e_err *err)
{
	p11e_generation *g = p11e_record_renewing(r->rec);
	p11e_id id;
	p11e_rc rc = P11E_OK;

	memset(ren, 0, sizeof(*ren));
	if (g == NULL)
		return p11e_ca_set_renewal(r->ca, NULL, err);
	ren->old_cert = p11e_x509_from_pem(g->cert_pem);
	ren->old_chain = g->chain_pem ? p11e_chain_from_pem(g->chain_pem) : NULL;
	ren->old_request_id = g->request_id;
	if (ren->old_cert == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: generation %d's certificate is unreadable in its "
				 "record",
				 r->rec->identity, g->number);
	if (p11e_ca_needs_requester(r->ca) && !r->software && r->token != NULL &&
	    g->key_id != NULL && pipe_parse_id(g->key_id, &id, "history key_id", NULL) == P11E_OK &&
	    p11e_token_signing_key(r->token, &id, &ren->old_key, NULL) != P11E_OK)
		ren->old_key = NULL; /* gone: the CA gets an ordinary request */
	rc = p11e_ca_set_renewal(r->ca, ren, err);
	return rc;
}

static void drop_renewal(enroll_run *r, p11e_ca_renewal *ren)
{
	if (ren->old_cert != NULL)
		p11e_ca_set_renewal(r->ca, NULL, NULL);
	X509_free(ren->old_cert);
	sk_X509_pop_free(ren->old_chain, X509_free);
	EVP_PKEY_free(ren->old_key);
	memset(ren, 0, sizeof(*ren));
}

/* csr-built -> issued (or submitted, when the CA answers later). */
p11e_rc pipe_step_submit(enroll_run *r, p11e_err *err)
{
	X509_REQ *req = p11e_csr_from_pem(r->rec->csr_pem);
	EVP_PKEY *key = NULL;
	p11e_ca_renewal ren = {0};
	p11e_ca_result res;
	p11e_rc rc;

	memset(&res, 0, sizeof(res));
	if (req == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s: the saved CSR cannot be read; remove its record to "
				 "start over",
				 r->rec->identity);
	rc = give_requester(r, &key, err);
	if (rc == P11E_OK)
		rc = give_renewal(r, &ren, err);
	if (rc == P11E_OK)
		rc = p11e_ca_submit(r->ca, req, &r->profile, r->rec->request_key, &res, err);
	drop_renewal(r, &ren);
	if (rc == P11E_OK) {
		pipe_crash_point("ca-answered");
		rc = take_result(r, &res, err);
	}
	p11e_ca_result_clear(&res);
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	return rc;
}

/* submitted -> issued: ask about the request the CA already has. */
p11e_rc pipe_step_poll(enroll_run *r, p11e_err *err)
{
	EVP_PKEY *key = NULL;
	p11e_ca_renewal ren = {0};
	p11e_ca_result res;
	p11e_rc rc;

	memset(&res, 0, sizeof(res));
	rc = give_requester(r, &key, err);
	if (rc == P11E_OK)
		rc = give_renewal(r, &ren, err);
	if (rc == P11E_OK)
		rc = p11e_ca_poll(r->ca, r->rec->request_id, &r->profile, &res, err);
	drop_renewal(r, &ren);
	if (rc == P11E_OK)
		rc = take_result(r, &res, err);
	p11e_ca_result_clear(&res);
	EVP_PKEY_free(key);
	return rc;
}
