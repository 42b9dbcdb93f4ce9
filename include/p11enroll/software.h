/* Software keys: generated in memory with OpenSSL, delivered in a PFX.
 *
 * Between generation and the PFX, a key exists only as an encrypted PKCS#8
 * document in the store, kind "key" (PEM "ENCRYPTED PRIVATE KEY": PBES2,
 * AES-256-CBC, PBKDF2-HMAC-SHA256; the file store: STATE_DIR/keys/
 * <identity>.p8, 0600, directory 0700), under the very password the PFX
 * will have. That password is
 * generated first and escrowed in the vault before the key file is written,
 * so no key exists whose password could be lost; the store never holds
 * it. A run that must read the key again (a rerun after a crash) fetches the
 * password back from the vault: for the file vault with an escrow officer's
 * key, for vault-kv2 with the configured Vault credentials. */
#ifndef P11ENROLL_SOFTWARE_H
#define P11ENROLL_SOFTWARE_H

#include <openssl/evp.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"
#include "p11enroll/pkcs12.h"
#include "p11enroll/token.h"
#include "p11enroll/vault.h"

/* PBKDF2 iterations of the key file: as many as the PFX's (the same
 * password guards both, so more here would protect nothing). */
#define P11E_SOFT_KEY_ITER P11E_PFX_ITER

/* A new key pair of type kt (the token path's types: rsa:2048..4096,
 * ec:P-256..P-521 as named curves, ed25519). */
p11e_rc p11e_soft_keygen(const p11e_keytype *kt, EVP_PKEY **out, p11e_err *err);

/* The key in progress of the secret name NAME (IDENTITY, IDENTITY#N from
 * the second generation on) is the store's document "key" NAME (the file
 * store: STATE_DIR/keys/<escaped NAME>.p8). */
struct p11e_store;

/* Writes key encrypted under password as that document: whole, and never
 * over an existing one (P11E_EXISTS), durable before it returns. */
p11e_rc p11e_soft_key_save(struct p11e_store *store, const char *name, EVP_PKEY *key,
			   const char *password, p11e_err *err);

/* Reads and decrypts it. P11E_NOT_FOUND without one; P11E_PIN_INCORRECT
 * when password does not open it. */
p11e_rc p11e_soft_key_load(struct p11e_store *store, const char *name, const char *password,
			   EVP_PKEY **out, p11e_err *err);

/* Whether there is one (*found). */
p11e_rc p11e_soft_key_exists(struct p11e_store *store, const char *name, int *found,
			     p11e_err *err);

/* Removes it, durably (an absent one is fine). */
p11e_rc p11e_soft_key_remove(struct p11e_store *store, const char *name, p11e_err *err);

/* Where a software key's PFX is: the record's pfx_path holds either
 * "store:NAME", the store's document "pfx" NAME (the default, without
 * --out: the file store keeps it as STATE_DIR/pfx/<escaped NAME>.p12, and
 * every station of a shared store reads it; `p11enroll export` writes it
 * out), or the absolute path of a file: the --out the user asked for, or an
 * older record's default file. */
#define P11E_PFX_STORED "store:"

/* "store:NAME" for the secret name NAME, malloc'd (NULL: out of memory). */
char *p11e_soft_pfx_default(const char *name);
/* 1 when pfx_path is a store-kept PFX ("store:NAME"). */
int p11e_soft_pfx_stored(const char *pfx_path);
/* The PFX pfx_path names into *data (malloc'd, NUL after *len bytes; it is
 * encrypted: free it). P11E_NOT_FOUND when there is none. */
p11e_rc p11e_soft_pfx_read(struct p11e_store *store, const char *pfx_path, char **data,
			   size_t *len, p11e_err *err);
/* Whether it exists (*found). */
p11e_rc p11e_soft_pfx_exists(struct p11e_store *store, const char *pfx_path, int *found,
			     p11e_err *err);
/* Writes it, 0600, never over another (P11E_EXISTS), durable on return. */
p11e_rc p11e_soft_pfx_write_new(struct p11e_store *store, const char *pfx_path, const void *data,
				size_t len, p11e_err *err);

/* Whether the vault holds a secret named identity (listed by name: needs no
 * officer key). */
p11e_rc p11e_soft_escrowed(const p11e_config *cfg, const char *identity, int *found, p11e_err *err);

/* Generates a password (length characters from alphabet; NULL alphabet:
 * the default) and escrows it under identity. *out: free with
 * p11e_secret_free(*out, (size_t)-1). P11E_EXISTS if the vault already holds
 * one for identity (nothing is replaced). */
p11e_rc p11e_soft_password_escrow(const p11e_config *cfg, const char *identity, size_t length,
				  const char *alphabet, char **out, p11e_err *err);

/* The certificate's expiry and SHA-256 beside the password escrowed under
 * identity (the escrow's creation date was stored with it); repeating it is
 * harmless. */
struct x509_st;
p11e_rc p11e_soft_escrow_meta(const p11e_config *cfg, const char *identity, struct x509_st *cert,
			      p11e_err *err);

/* The password escrowed under identity, from the vault opened with vp (the
 * officer key for the file vault). */
p11e_rc p11e_soft_password_fetch(const p11e_config *cfg, const p11e_vault_open_params *vp,
				 const char *identity, char **out, p11e_err *err);

#endif
