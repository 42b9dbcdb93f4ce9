/* The file vault's state, shared by vault_file.c (the vtable: put, get,
 * list, del) and vault_file_key.c (loading the reading officer's key). */
#ifndef P11E_VAULT_FILE_H
#define P11E_VAULT_FILE_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"
#include "p11enroll/session.h"
#include "p11enroll/vault.h"

struct p11e_store;

typedef struct file_vault {
	struct p11e_store *store;     /* where the entries are: own_store, or the config's */
	struct p11e_store *own_store; /* a file store on the configured "dir" */
	char *certs_path;
	STACK_OF(X509) * officers;
	const EVP_CIPHER *cipher;
	/* the reading officer, when a key was given */
	EVP_PKEY *key;
	X509 *key_cert; /* the officer certificate that matches key */
	char key_subject[128];
	p11e_session *session; /* an officer key on a token */
} file_vault;

/* Loads the reading officer's key named by p (a key file or a pkcs11: URI)
 * into v->key, with v->key_cert the officer certificate it matches. */
p11e_rc vault_file_load_key(file_vault *v, const p11e_config *cfg, const p11e_vault_open_params *p,
			    p11e_err *err);
/* The one-line subject of cert, for messages. */
void vault_file_subject(X509 *cert, char *out, size_t len);

#endif
