/* The embedded CA's pieces shared by src/ca/ca_local*.c. Private. */
#ifndef P11ENROLL_CA_LOCAL_H
#define P11ENROLL_CA_LOCAL_H

#include <stddef.h>
#include <time.h>
#include <openssl/x509v3.h>
#include "p11enroll/error.h"
#include "p11enroll/lock.h"
#include "p11enroll/profile.h"
#include "p11enroll/store.h"
#include "p11enroll/token.h"

struct json_object;
struct p11e_session;

/* An open local CA: its directory, certificate and key. */
typedef struct p11e_ca_local {
	char *dir;
	X509 *cert;
	EVP_PKEY *key;		      /* software, or signing on the token below */
	struct p11e_session *session; /* NULL unless the key is on a token */
	char *crl_url;		      /* the config's crl_url: a CRL distribution point, or NULL */
	p11e_store *store;	      /* its index and counters (ca_local_store.c) */
	char id[65];		      /* its name there: the key's SHA-256, hex */
} p11e_ca_local;

/* The store's lock "ca"/CAID: one submission, revocation or CRL at a time,
 * across every station of the store. p11e_lock_release it. */
p11e_rc p11e_ca_local_lock(const p11e_ca_local *ca, p11e_lock *lock, p11e_err *err);

/* What DIR/index.jsonl says, for revocation and CRLs (ca_local_revoke.c).
 * Issued lines carry "serial"; revocation lines {"revoked": serial,
 * "reason": RFC 5280 name, "revoked_at": ISO 8601 UTC}. */
typedef struct p11e_ca_local_revocation {
	char serial[65];
	int reason;
	time_t at;
} p11e_ca_local_revocation;
typedef struct p11e_ca_local_index {
	char (*issued)[65];
	size_t n_issued;
	p11e_ca_local_revocation *revoked;
	size_t n_revoked;
	int torn_tail; /* the last line has no newline: a crash cut an append */
} p11e_ca_local_index;
/* Parses the index text (len bytes, no NUL needed). A last line without
 * its newline that is not JSON is a torn append and ignored; any other line
 * that is not an issued, revocation or unhold line (a hold lifted: the
 * serial's certificateHold entry dropped) is P11E_FAIL naming its number
 * (a revocation must never be lost silently). */
p11e_rc p11e_ca_local_index_parse(const char *text, size_t len, p11e_ca_local_index *out,
				  p11e_err *err);
void p11e_ca_local_index_clear(p11e_ca_local_index *ix);
/* Adds one issued serial or one revocation to ix: -1 out of memory. */
int p11e_ca_local_index_push_issued(p11e_ca_local_index *ix, const char *serial);
int p11e_ca_local_index_push_revoked(p11e_ca_local_index *ix, const p11e_ca_local_revocation *r);
/* Appends o as one line to DIR/index.jsonl (not synced: the store's
 * document, written durably first, is what counts), first cutting off
 * a torn last line (a crash inside an earlier append). */
p11e_rc p11e_ca_local_index_write(const p11e_ca_local *ca, struct json_object *o, p11e_err *err);
/* A certificateHold lifted (ca_local_revoke.c; ca.h's unhold). */
p11e_rc p11e_ca_local_unhold(void *state, const char *serial, int *lifted, p11e_err *err);
/* The store's index entry of serial no longer revoked for certificateHold
 * (ca_local_store.c); nothing when it is not on hold. */
p11e_rc p11e_ca_local_cert_unhold(const p11e_ca_local *ca, const char *serial, p11e_err *err);
p11e_rc p11e_ca_local_revoke(void *state, const char *serial, X509 *cert, int reason, int *already,
			     p11e_err *err);
p11e_rc p11e_ca_local_crl(void *state, int days, X509_CRL **out, p11e_err *err);

/* A CA key on a token (src/ca/ca_local_token.c). new: generates it (or takes
 * the URI's id=) and writes DIR/ca-key.json; open: from DIR/ca-key.json, the
 * CA's config "pin_source"/"module" overriding it. P11E_NOT_FOUND if there is
 * no ca-key.json. *key signs on the token; free it before the session. */
p11e_rc p11e_ca_local_token_key_new(const char *dir, const char *key_uri, const char *module,
				    const char *pin_source, const p11e_keytype *kt,
				    struct p11e_session **session, EVP_PKEY **key, p11e_err *err);
p11e_rc p11e_ca_local_token_key_open(const char *dir, const struct json_object *conf,
				     struct p11e_session **session, EVP_PKEY **key, p11e_err *err);
void p11e_ca_local_token_key_close(struct p11e_session *session);

/* A fresh 128-bit random serial (16 bytes from RAND_bytes, positive). */
p11e_rc p11e_ca_local_set_serial(X509 *cert, p11e_err *err);

/* Adds one extension given in openssl.cnf syntax ("critical,CA:TRUE",
 * "hash", "keyid:always"); issuer NULL means cert is self-signed. */
p11e_rc p11e_ca_local_add_ext(X509 *cert, X509 *issuer, int nid, const char *value, p11e_err *err);

/* Signs cert with key: digest by name ("" means sha256), or none for
 * Ed25519 (which hashes internally). */
p11e_rc p11e_ca_local_sign(X509 *cert, EVP_PKEY *key, const char *digest, p11e_err *err);

/* The leaf certificate for csr under profile. A request the CA refuses is
 * P11E_OK with *out NULL and reason filled; errors are the CA's own. */
p11e_rc p11e_ca_local_issue(const p11e_ca_local *ca, X509_REQ *csr, const p11e_profile *profile,
			    X509 **out, char *reason, size_t reason_len, p11e_err *err);

/* Whether DIR/index.jsonl has a line for request_key. */
p11e_rc p11e_ca_local_index_has(const p11e_ca_local *ca, const char *request_key, int *found,
				p11e_err *err);
/* Appends cert's line (serial, subject, not_after, request_key, sha256,
 * profile, issued_at) to DIR/index.jsonl; in_store: stores it
 * as its ca-cert document first; in_store P11E_CA_INDEX_STORE_ONLY: only
 * that (index.jsonl has the line). */
#define P11E_CA_INDEX_STORE_ONLY 3
p11e_rc p11e_ca_local_index_append(const p11e_ca_local *ca, X509 *cert, const p11e_profile *profile,
				   const char *request_key, time_t issued_at, int in_store,
				   p11e_err *err);

/* The CA's state in the store (ca_local_store.c; names there). */
/* CAID for the CA certificate cert: hex SHA-256 of its public key. */
p11e_rc p11e_ca_local_id(X509 *cert, char out[65], p11e_err *err);
/* Whether the store's index has serial (its ca-cert document). */
p11e_rc p11e_ca_local_serial_taken(const p11e_ca_local *ca, const char *serial, int *taken,
				   p11e_err *err);
/* The certificate issued for request_key: *cert NULL when none. */
p11e_rc p11e_ca_local_request_get(const p11e_ca_local *ca, const char *request_key, X509 **cert,
				  p11e_err *err);
p11e_rc p11e_ca_local_request_put(const p11e_ca_local *ca, const char *request_key, X509 *cert,
				  const char *serial, time_t issued_at, p11e_err *err);
/* line (an index line, its "serial" the name) as the ca-cert document. */
p11e_rc p11e_ca_local_cert_put(const p11e_ca_local *ca, struct json_object *line, p11e_err *err);
/* Marks serial revoked in its document (made if the certificate predates
 * the store's index); *already when it was. */
p11e_rc p11e_ca_local_cert_revoke(const p11e_ca_local *ca, const char *serial, int reason,
				  time_t at, int *already, p11e_err *err);
/* Every ca-cert document of this CA into ix (on top of what it holds). */
p11e_rc p11e_ca_local_store_index(const p11e_ca_local *ca, p11e_ca_local_index *ix, p11e_err *err);
/* The next CRL number (never below first, the old DIR/crlnumber's next). */
p11e_rc p11e_ca_local_crl_number(const p11e_ca_local *ca, unsigned long long first,
				 unsigned long long *out, p11e_err *err);

#endif
