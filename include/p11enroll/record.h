/* Per-identity enrollment records: a JSON file per identity in
 * STATE_DIR/identities/, written atomically (0600), so a rerun after a crash
 * knows exactly which steps are done. */
#ifndef P11ENROLL_RECORD_H
#define P11ENROLL_RECORD_H

#include <stddef.h>
#include "p11enroll/error.h"
#include "p11enroll/store.h"

/* The pipeline's steps in order; a record's step is the last one finished. */
typedef enum p11e_step {
	P11E_STEP_NEW = 0,	 /* record created, nothing on the token yet */
	P11E_STEP_KEY_PENDING,	 /* temp_id chosen; key generation may have run */
	P11E_STEP_KEY_GENERATED, /* key pair on the token under key_id */
	P11E_STEP_CSR_BUILT,	 /* csr_pem saved */
	P11E_STEP_SUBMITTED,	 /* CA has the request (request_id); may be pending */
	P11E_STEP_ISSUED,	 /* cert_pem and chain_pem saved */
	P11E_STEP_STORED,	 /* certificate and chain written to the token */
	P11E_STEP_DONE,
} p11e_step;

const char *p11e_step_name(p11e_step s);	       /* "new", "key-pending", ... */
int p11e_step_parse(const char *name, p11e_step *out); /* 0 ok, -1 unknown */

/* One earlier generation of an identity's key and certificate (renewal:
 * include/p11enroll/renew.h). Strings are malloc'd or NULL. */
typedef struct p11e_generation {
	int number; /* 1, 2, ... */
	/* "current" (a renewal is making its successor; it is still the one in
	 * use), "superseded", "revoked", "retired" */
	char *state;
	char *key_store;    /* as the record's: NULL/"token", "software", "archived" */
	char *key_id;	    /* hex CKA_ID on the token */
	char *token_serial; /* the token it was on */
	char *label;	    /* its CKA_LABEL now (old encryption keys are relabelled) */
	char *ca;
	char *request_id;
	char *cert_pem;
	char *chain_pem;
	char *cert_sha256;
	char *not_after;
	char *pfx_path;	   /* software: its own PFX */
	char *secret_name; /* software: the vault entry of its PFX password */
	/* A token key once its successor was stored: "kept" (an encryption key,
	 * relabelled, so old mail still decrypts), "removed" (a signing key and
	 * its certificate deleted), "shared" (--reuse-key: the key is the
	 * successor's; only the old certificate removed). NULL until then. */
	char *on_token;
	char *revoked_reason; /* RFC 5280 name, once revoked */
	char *revoked_at;     /* ISO 8601 UTC */
	char *published;      /* the publishers it was published to (record's form) */
	/* Publishers it is still to be withdrawn from (a signing certificate
	 * its successor retired): p11e_publish_record does that first. */
	char *unpublish_pending;
} p11e_generation;

typedef struct p11e_record {
	char *identity; /* the email address, lower-cased: the record's key */
	char *email;	/* the address as certified: local part as first given, domain
			   lower-cased (p11e_email_canonical); NULL for a server and in a
			   record made before it was kept (p11e_record_email) */
	char *name;	/* subject CN */
	/* Logon identities (pipeline.h): a UPN, a principal name@REALM, a SID
	 * "S-1-5-..."; NULL when none. Kept, so renewal certifies them again. */
	char *upn;
	char *principal;
	char *sid;
	char *profile;
	char *key_type;	 /* "ec:P-256" */
	char *ca;	 /* CA spec as given ("local:DIR" or a config name) */
	char *token_uri; /* token the key lives on */
	char *token_serial;
	char *label; /* CKA_LABEL */
	p11e_step step;
	char *temp_id; /* hex: CKA_ID used during generation */
	char *key_id;  /* hex: final CKA_ID */
	char *csr_pem;
	char *request_key; /* hex SHA-256 of the CSR DER */
	char *request_id;  /* the CA's id */
	char *cert_pem;
	char *chain_pem;   /* concatenated PEM, issuing CA first */
	char *cert_sha256; /* hex fingerprint of the certificate DER */
	char *not_after;   /* ISO 8601 UTC */
	char *last_error;  /* the one-line message of the last failure, or NULL */
	char *created;	   /* ISO 8601 UTC */
	char *updated;	   /* ISO 8601 UTC, set by save */
	char *key_store;   /* NULL or "token": key made on the token; "software": key made
			      in memory, delivered as a PFX; "archived": made in software,
			      escrowed, then imported onto the token */
	char *pfx_path;	   /* software and archived: the PKCS#12 file written */
	char *pfx_format;  /* software: "aes-256" or "legacy" (include/p11enroll/pkcs12.h) */
	char *dns_name;	   /* a server identity (TLS, ACME): the DNS name; else NULL */
	char *retired;	   /* NULL: in use; "retiring": `p11enroll wipe` began removing its
			      token objects (a rerun of wipe finishes); "retired": they are
			      gone, and a new enroll of the identity starts afresh */
	char *key_id_note; /* why key_id is temp_id (a token that does not change CKA_ID) */
	char *chain_note;  /* why the CA certificates are not on the token, or NULL */
	/* A key for a fixed slot (--slot-id, --piv-slot; docs/tokens.md): */
	char *slot_id;		    /* hex: the slot's CKA_ID */
	char *slot_kind;	    /* "free": made under temp_id, moved in once stored;
				       "fixed": made in the slot (the card allows no other ID) */
	char *slot_old_key_sha256;  /* hex SHA-256 of the replaced public key (SPKI DER) */
	char *slot_old_cert_sha256; /* hex SHA-256 of the replaced certificate (DER) */
	char *slot_phase; /* "free" slots once stored: "clearing" the old objects, "moving" in */
	/* Publishing cert_pem (include/p11enroll/publish.h): publishers still to
	 * do and those done, names separated by single spaces; both NULL before
	 * publishing started; publish_sha256 is the cert_sha256 they are for
	 * (another certificate starts them afresh). */
	char *publish_pending;
	char *published;
	char *publish_sha256;
	/* Generations (renewal). The fields above are the current one, number
	 * `generation` (a record written before renewal existed has none: 1).
	 * history holds the earlier ones, oldest first; while a renewal runs,
	 * its last entry is the generation being replaced, in state "current",
	 * and renew_mode says how ("rekey" or "reuse-key"). */
	int generation;
	char *renew_mode;
	char *revoked_reason; /* the current generation was revoked (RFC 5280 name) */
	char *revoked_at;
	char *token_removed; /* "yes": `revoke --remove` took it off the token */
	p11e_generation *history;
	size_t n_history;
} p11e_record;

/* The identity an email is recorded under: the address lower-cased.
 * malloc'd; NULL on allocation failure. */
char *p11e_record_identity(const char *email);
/* The address rec certifies (the rfc822Name): its email, else (a record
 * made before the case was kept) its identity. */
const char *p11e_record_email(const p11e_record *rec);

/* Records live in the store (store.h) as documents of kind "identity",
 * named by identity: a file STATE_DIR/identities/<escaped>.json in the file
 * store (src/core/state_paths.h), a row in PostgreSQL.
 * P11E_NOT_FOUND if there is no record; P11E_FAIL naming it if it is
 * corrupt (or is another identity's). */
p11e_rc p11e_record_load(p11e_store *store, const char *identity, p11e_record *out,
			 p11e_err *err);
/* The same from a buffer (len bytes, no NUL needed), name standing for the
 * document in messages: P11E_FAIL if it is not a record. Whose it is is not
 * checked (p11e_record_load does). */
p11e_rc p11e_record_parse(const char *name, const char *text, size_t len, p11e_record *out,
			  p11e_err *err);
/* Stores it durably; sets r->updated. */
p11e_rc p11e_record_save(p11e_store *store, p11e_record *r, p11e_err *err);
/* The same with p11e_store_put's flags: 0 for a save a crash may lose
 * because the step it records can be redone from the durable one before it
 * (the pipeline decides: docs/store.md#durability). */
p11e_rc p11e_record_save_flags(p11e_store *store, p11e_record *r, int flags, p11e_err *err);
/* Deletes the identity's record durably (P11E_NOT_FOUND without one): for
 * `p11enroll forget` (include/p11enroll/forget.h). */
p11e_rc p11e_record_remove(p11e_store *store, const char *identity, p11e_err *err);
/* All records, sorted by identity. */
p11e_rc p11e_record_list(p11e_store *store, p11e_record **out, size_t *n, p11e_err *err);
void p11e_record_clear(p11e_record *r);
void p11e_records_free(p11e_record *rs, size_t n);

/* The current generation's number (1 for a record without one). */
int p11e_record_generation(const p11e_record *r);
/* The earlier generation numbered n, or NULL. */
p11e_generation *p11e_record_history_find(p11e_record *r, int n);
/* The generation a renewal in progress replaces (the last in the history,
 * state "current", or "revoked" when replace revoked it first), or NULL. */
p11e_generation *p11e_record_renewing(p11e_record *r);
/* Appends a copy of the record's current generation to its history (state
 * "current"); *out points at it (valid until the history changes). */
p11e_rc p11e_record_push_generation(p11e_record *r, p11e_generation **out, p11e_err *err);
/* The vault entry of generation n's PFX password: the identity for 1, else
 * "IDENTITY#n" ('#' is in no host name and never ends an address). malloc'd. */
char *p11e_record_secret_name(const char *identity, int n);
/* Makes generation n the one r's own fields describe (cert_pem, chain_pem,
 * cert_sha256, not_after, key_id, key_store, token_serial, label,
 * pfx_path), for readers of an earlier one (export --generation); such an r
 * is never saved. n == the current generation changes nothing.
 * P11E_NOT_FOUND if r has no generation n. */
p11e_rc p11e_record_select_generation(p11e_record *r, int n, p11e_err *err);
/* The state a generation shows: the current one "current", "revoked" or
 * "retired"; an earlier one its own. */
const char *p11e_record_current_state(const p11e_record *r);

/* Replaces *field with a malloc'd copy of value (NULL clears it). */
p11e_rc p11e_record_set(char **field, const char *value, p11e_err *err);

#endif
