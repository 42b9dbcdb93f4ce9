/* The enrollment pipeline: one explicit state machine (src/core/pipeline.c)
 * that takes an identity from nothing to a certificate on the token, saving
 * its record after every step so that a rerun resumes where it stopped.
 *
 *   new -> key-pending -> key-generated -> csr-built -> submitted -> issued
 *       -> stored -> done
 *
 * Guarantees: never a second key for an identity (the key is generated under
 * a temporary CKA_ID recorded first, then renamed); never a second request to
 * the CA for the same key (the CSR is saved, and its hash is the CA's
 * idempotency key); the certificate is written only if its public key is the
 * token key's; one run of an identity at a time (its lock, held from loading
 * the record to the last save).
 *
 * A software key (--software, or a profile's key_store "software") runs the
 * same machine without a token: key made in memory, kept encrypted under its
 * escrowed PFX password until the PKCS#12 file is written (software.h). */
#ifndef P11ENROLL_PIPELINE_H
#define P11ENROLL_PIPELINE_H

#include <openssl/x509.h>
#include "p11enroll/config.h"
#include "p11enroll/csr.h"
#include "p11enroll/record.h"
#include "p11enroll/token.h"

#define P11E_WAIT_NONE (-1L)

typedef struct p11e_enroll_params {
	const char *token_uri;
	const char *email;    /* a person: the identity is the address ... */
	const char *dns;      /* ... or a server (profile tls-server): its host name */
	const char *name;     /* CN; default: p11e_default_cn (validate.h) */
	/* Logon identities (profile smartcard-logon, docs/logon.md): the user
	 * principal name (UPN otherName), the Kerberos principal name@REALM
	 * (id-pkinit-san; its realm upper-cased) and the security identifier
	 * in its text form S-1-5-... (the SID extension). NULL: none, or the
	 * record's. */
	const char *upn;
	const char *principal;
	const char *sid;
	const char *profile;  /* default: config default_profile */
	const char *key_type; /* default: the profile's */
	const char *ca;	      /* default: config default_ca */
	const char *label;    /* CKA_LABEL; default: the email */
	const char *id_hex;   /* CKA_ID; default: SHA-1 of the public key */
	/* A card's key slot (hex CKA_ID; --slot-id, --piv-slot mapped; default:
	 * the profile's): the key goes there; an occupied slot only with
	 * replace (docs/tokens.md, Fixed-slot cards). */
	const char *slot_id_hex;
	int replace;
	const char *digest; /* default: the profile's */
	int rsa_pss;
	const char *module;
	const char *pin_source;
	p11e_step stop_after; /* 0: run to the end; else stop once this step is done */
	/* Software key (also when the profile's key_store is "software"): made
	 * in memory, delivered as a PKCS#12 file at pfx_out (default
	 * STATE_DIR/pfx/<identity>.p12) with an escrowed password (see
	 * include/p11enroll/software.h); no token. */
	int software;
	/* Key archival (record key_store "archived"): the software key's steps
	 * and its PFX (the escrow copy), then the key imported onto the token at
	 * token_uri, sensitive and not extractable, with the certificate under
	 * the same CKA_ID (include/p11enroll/recover.h). Encryption profiles only. */
	int archive;
	int pfx_legacy; /* 3DES and SHA-1 MAC instead of AES-256 and SHA-256 */
	const char *pfx_out;
	/* Resuming a software key reads its password back from the vault: the
	 * file vault needs an escrow officer's key (file or pkcs11: URI). */
	const char *officer_key;
	const char *officer_pin_source;
	/* How long to wait for the identity's lock while another run holds it
	 * (include/p11enroll/lock.h): 0 means P11E_LOCK_WAIT_DEFAULT_MS,
	 * P11E_WAIT_NONE (or any negative) not at all; then P11E_BUSY. */
	long wait_ms;
	/* The caller holds the identity's lock already (renew: from its
	 * decision to the last save); p11e_enroll does not take it again. */
	int lock_held;
	/* Batch: what one worker keeps open across enrollments, or NULL. */
	struct p11e_enroll_shared *shared;
} p11e_enroll_params;

/* Handles a caller keeps open across many enrollments (batch): a session on
 * the row's token, already logged in (the pipeline neither opens nor closes
 * it), and a CA. When ca is NULL the pipeline leaves the CA it opens here
 * (with its spec) for the next enrollment; the caller closes both. With
 * shared set, CSRs are signed by CKA_ID with raw C_Sign (by_id above). */
typedef struct p11e_enroll_shared {
	p11e_token *token;
	struct p11e_ca *ca;
	char *ca_spec; /* malloc'd: the record's "ca" that ca was opened for */
} p11e_enroll_shared;

/* Runs (or resumes) one enrollment. On return *rec holds the identity's
 * record as saved (clear it with p11e_record_clear), also on failure when a
 * record exists. P11E_PENDING when the CA has not issued yet; P11E_BUSY when
 * another run holds the identity past wait_ms. While nothing exists for the
 * record (step new, or a token key's key-pending with no key under its IDs)
 * the parameters given replace the recorded ones. */
p11e_rc p11e_enroll(const p11e_config *cfg, const p11e_enroll_params *p, p11e_record *rec,
		    p11e_err *err);

/* A CSR for the key pair with CKA_ID id on the token, signed there: through
 * libp11 for RSA and EC, with raw CKM_EDDSA for Ed25519. by_id: always raw
 * C_Sign on the key found by its CKA_ID, because libp11 0.4.12 reads every
 * key of the token to find one (batch; RSA-PSS is then unsupported). */
p11e_rc p11e_token_csr(p11e_token *t, const p11e_id *id, const p11e_csr_params *cp, int by_id,
		       X509_REQ **out, p11e_err *err);

#endif
