/* `p11enroll escrow officer-init` (src/core/escrow_officer.c): an escrow
 * officer for the file vault made by the tool. A key pair, generated on a
 * token by PKCS#11 URI (never leaving it) or, for tests, written to a 0600
 * PEM file, and its certificate with the key usage the vault needs
 * (keyEncipherment for RSA, keyAgreement for EC, never a CA certificate),
 * self-signed or issued by a CA of the config (profile smime-encrypt), is
 * appended to the config's officer_certs_file (or written to --out). Under
 * a lock; a rerun after a crash reuses the key it made (the key file, or the
 * token key by id= or object=) and never appends the same certificate's key
 * twice. Audited ("escrow-officer-init"). */
#ifndef P11ENROLL_OFFICER_H
#define P11ENROLL_OFFICER_H

#include "p11enroll/config.h"
#include "p11enroll/error.h"

typedef struct p11e_officer_init_params {
	const char *key_uri;  /* the token (object=/id= name the key; made if absent) */
	const char *key_file; /* or a PEM key file, written 0600 if absent (tests) */
	const char *key_type; /* rsa or ec; NULL: rsa:3072 */
	const char *subject;  /* self-signed: NULL is "/CN=Escrow Officer" */
	int days;	      /* self-signed validity; 0: 730 */
	const char *ca;	      /* NULL: self-signed; else this CA issues it (needs email) */
	const char *email;    /* its rfc822Name (required with ca) */
	const char *name;     /* with ca: the CN (NULL: the email) */
	const char *out;      /* NULL: append to the config's officer_certs_file */
	const char *module;
	const char *pin_source; /* the officer token's PIN (never the config's) */
} p11e_officer_init_params;

typedef struct p11e_officer_init_result {
	char subject[256];
	char sha256[65];
	char not_after[32];
	char certs_file[1024]; /* where the certificate is */
	char key[1024];	       /* the key: its file, or its full pkcs11: URI */
	int already;	       /* a certificate for this key was there: nothing written */
} p11e_officer_init_result;

p11e_rc p11e_officer_init(const p11e_config *cfg, const p11e_officer_init_params *p,
			  p11e_officer_init_result *out, p11e_err *err);

#endif
