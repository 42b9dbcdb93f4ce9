/* Key archival: an encryption key made in software, escrowed as a PFX whose
 * password is in the vault, and imported onto a token (record key_store
 * "archived", `enroll URI --archive`); `p11enroll recover` puts the key and
 * its certificate from that PFX onto another token, so that mail encrypted
 * to a lost card can still be read (src/core/recover.c). */
#ifndef P11ENROLL_RECOVER_H
#define P11ENROLL_RECOVER_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"
#include "p11enroll/token.h"

/* Puts key and cert (with chain, may be NULL) onto the token: private key
 * (sensitive, not extractable) and public key under CKA_ID = SHA-1 of the
 * public key bits (the token path's ID and the certificate's SKI), then the
 * certificate under the same ID and the chain. What is already there under
 * that ID is kept: never a second key, the certificate written once. The
 * key may do what the certificate's keyUsage allows (keyEncipherment:
 * CKA_DECRYPT/CKA_UNWRAP, keyAgreement: CKA_DERIVE, digitalSignature:
 * CKA_SIGN). after (may be NULL) is called after each object is created
 * ("private-key-imported", "key-imported", "cert-written": test crash
 * hooks). *already (may be NULL): 1 if key pair and certificate were all
 * there before. id_out (may be NULL): the CKA_ID. */
p11e_rc p11e_archive_import(p11e_token *t, EVP_PKEY *key, X509 *cert, STACK_OF(X509) * chain,
			    const char *label, void (*after)(const char *point), int *already,
			    p11e_id *id_out, p11e_err *err);

typedef struct p11e_recover_params {
	const char *identity;	/* an address or host name, as enrolled */
	const char *token_uri;	/* the token that gets the key */
	const char *module;	/* --module */
	const char *pin_source; /* the token's PIN, as for enroll */
	/* Reading the PFX password back: the file vault needs an escrow
	 * officer's key (file or pkcs11: URI); vault-kv2 its credentials. */
	const char *officer_key;
	const char *officer_pin_source;
	const char *pfx_path; /* NULL: the record's pfx_path */
	const char *label;    /* CKA_LABEL; NULL: the record's label */
	int generation;	      /* 0: the current one; else an earlier generation's key */
	/* replace: the caller holds the identity's lock and an open, logged-in
	 * token (token_uri is then not opened). */
	int lock_held;
	p11e_token *token;
} p11e_recover_params;

typedef struct p11e_recover_result {
	char identity[256];
	char key_id[2 * P11E_ID_MAX + 1]; /* hex */
	char token_label[33];
	char token_serial[17];
	int already; /* everything was on that token already: nothing changed */
} p11e_recover_result;

/* Recovers an archived (or software) key onto p->token_uri: the identity's
 * record (P11E_NOT_FOUND without one, or when its key was never archived:
 * key_store "token"), its PFX opened with the password from the vault
 * (which must hold the recorded certificate), then p11e_archive_import.
 * Writes an audit record ("recover") before anything goes onto the token;
 * if it cannot be written, nothing is imported. */
p11e_rc p11e_recover(const p11e_config *cfg, const p11e_recover_params *p, p11e_recover_result *res,
		     p11e_err *err);

#endif
