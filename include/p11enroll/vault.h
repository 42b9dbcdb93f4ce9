/* The vault: where generated secrets (a PFX's password) are escrowed. One
 * vtable, one file per backend, chosen by the config's "vault" object:
 *
 *   "vault": { "type": "file", "dir": "/var/lib/p11enroll/escrow",
 *              "officer_certs_file": "/etc/p11enroll/officers.pem" }
 *   "vault": { "type": "vault-kv2", "url": "https://vault:8200", "mount": "secret",
 *              "path": "p11enroll", ... }
 *   "vault": { "type": "cyberark", "url": "https://pvwa.example", "safe": "PKI", ... }
 *
 * A secret is named by the identity it belongs to. Nothing in this API ever
 * puts a secret in a message. */
#ifndef P11ENROLL_VAULT_H
#define P11ENROLL_VAULT_H

#include <stddef.h>
#include <openssl/x509.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"

struct json_object;

/* What opening a vault may need beyond its config entry: for reading the
 * file vault, an escrow officer's private key (a PEM file or a PKCS#11 URI)
 * and where its PIN or passphrase comes from. NULL where not needed (put). */
typedef struct p11e_vault_open_params {
	const char *officer_key; /* "file:PATH", a path, or "pkcs11:..." */
	const char *officer_pin_source;
	const char *module; /* for a pkcs11: officer key; NULL: as for tokens */
} p11e_vault_open_params;

/* What is kept beside an escrowed secret (issue 12): when it was escrowed
 * and, once the certificate exists, its expiry and SHA-256. Empty strings
 * are unknown (an escrow made before this existed, or before issuance).
 * Times are ISO 8601 UTC ("2026-11-29T16:00:00Z"). */
typedef struct p11e_vault_meta {
	char created[32];
	char not_after[32];
	char cert_sha256[65]; /* lowercase hex of the DER */
} p11e_vault_meta;

/* One escrowed secret as list shows it. */
typedef struct p11e_vault_entry {
	char *name;
	p11e_vault_meta meta;
} p11e_vault_entry;

typedef struct p11e_vault_ops {
	const char *type; /* "file", "vault-kv2", "cyberark": the config's "type" */
	p11e_rc (*open)(const p11e_config *cfg, const struct json_object *conf,
			const p11e_vault_open_params *p, void **state, p11e_err *err);
	/* Stores secret under name. Never overwrites: P11E_EXISTS if name
	 * already holds a secret (vault-kv2: unless it is this very secret, as
	 * when a retried request's first answer was lost: then P11E_OK).
	 * meta (may be NULL) is stored beside it. */
	p11e_rc (*put)(void *state, const char *name, const unsigned char *secret, size_t len,
		       const p11e_vault_meta *meta, p11e_err *err);
	/* Replaces the metadata of name's secret (the secret is untouched):
	 * the non-empty fields of meta, the others kept. Repeating it is
	 * harmless. P11E_NOT_FOUND if name holds no secret. */
	p11e_rc (*set_meta)(void *state, const char *name, const p11e_vault_meta *meta,
			    p11e_err *err);
	/* *out is malloc'd with a NUL after *len bytes; wipe it with
	 * p11e_secret_free(*out, *len). P11E_NOT_FOUND if name holds none. */
	p11e_rc (*get)(void *state, const char *name, unsigned char **out, size_t *len,
		       p11e_err *err);
	/* *entries: malloc'd array (free with p11e_vault_entries_free). */
	p11e_rc (*list)(void *state, p11e_vault_entry **entries, size_t *n, p11e_err *err);
	p11e_rc (*del)(void *state, const char *name, p11e_err *err);
	void (*close)(void *state);
	/* Who reads, for the audit log (the file vault: the subject of the
	 * officer certificate that matched the key), or NULL. May be NULL. */
	const char *(*reader)(void *state);
	/* The keys the "vault" object may hold for this backend (the form is
	 * in include/p11enroll/conf.h); checked at config load. */
	const char *const *config_keys;
} p11e_vault_ops;

typedef struct p11e_vault p11e_vault;

/* The i-th vault backend, NULL past the last: for the config check. */
const p11e_vault_ops *p11e_vault_backend(size_t i);

/* Opens the vault the config names (P11E_CONFIG when there is none). */
p11e_rc p11e_vault_open(const p11e_config *cfg, const p11e_vault_open_params *p, p11e_vault **out,
			p11e_err *err);
p11e_rc p11e_vault_put(p11e_vault *v, const char *name, const unsigned char *secret, size_t len,
		       p11e_err *err);
/* put with metadata (meta NULL: none). */
p11e_rc p11e_vault_put_meta(p11e_vault *v, const char *name, const unsigned char *secret,
			    size_t len, const p11e_vault_meta *meta, p11e_err *err);
p11e_rc p11e_vault_set_meta(p11e_vault *v, const char *name, const p11e_vault_meta *meta,
			    p11e_err *err);
/* The secrets' names with their metadata, sorted by name. */
p11e_rc p11e_vault_list_entries(p11e_vault *v, p11e_vault_entry **entries, size_t *n,
				p11e_err *err);
void p11e_vault_entries_free(p11e_vault_entry *entries, size_t n);
/* meta->created set to now (p11e_now); the rest empty. */
void p11e_vault_meta_now(p11e_vault_meta *meta);
p11e_rc p11e_vault_get(p11e_vault *v, const char *name, unsigned char **out, size_t *len,
		       p11e_err *err);
p11e_rc p11e_vault_list(p11e_vault *v, char ***names, size_t *n, p11e_err *err);
p11e_rc p11e_vault_delete(p11e_vault *v, const char *name, p11e_err *err);
void p11e_vault_close(p11e_vault *v);
/* The backend's "type" ("file", "vault-kv2"). */
const char *p11e_vault_type(const p11e_vault *v);
/* The backend's reader() (for the audit log), or NULL. */
const char *p11e_vault_reader(const p11e_vault *v);

/* A secret source for a backend: "file:REL" made relative to the config
 * file's directory, as config.c does for the keys it knows; anything else as
 * is. malloc'd; NULL on no memory. */
char *p11e_vault_resolve_source(const p11e_config *cfg, const char *src);

/* Whether cert can receive escrowed secrets as a file vault officer: an RSA
 * or EC key; a keyUsage, when present, with keyEncipherment (RSA) or
 * keyAgreement (EC); not a CA's certificate (basicConstraints CA:TRUE with
 * keyCertSign or without keyUsage: an `openssl req -x509` certificate
 * limited to keyEncipherment is an officer's). 1 if it can; else 0 and why
 * (one phrase, e.g. "lacks keyUsage keyEncipherment") in why. */
int p11e_vault_officer_cert_ok(X509 *cert, char *why, size_t cap);

/* The backends (src/vault/vault_*.c). */
extern const p11e_vault_ops p11e_vault_file_ops, p11e_vault_kv2_ops, p11e_vault_cyberark_ops;

#endif
