/* Certificate authorities: one vtable, one file per backend. */
#ifndef P11ENROLL_CA_H
#define P11ENROLL_CA_H

#include <openssl/x509.h>
#include "p11enroll/error.h"
#include "p11enroll/profile.h"

struct json_object;
struct p11e_ca_renewal;
struct p11e_store;

typedef enum p11e_ca_state {
	P11E_CA_STATE_ISSUED = 1, /* (STATE_: P11E_CA_REJECTED is a p11e_rc) */
	P11E_CA_STATE_PENDING = 2,
	P11E_CA_STATE_REJECTED = 3,
} p11e_ca_state;

typedef struct p11e_ca_result {
	p11e_ca_state state;
	X509 *cert;		/* ISSUED */
	STACK_OF(X509) * chain; /* ISSUED: issuing CA first, root last */
	char request_id[512];	/* every state: the CA's handle on this request (SCEP's
				   carries the subject) */
	int retry_after;	/* PENDING: seconds */
	char reason[256];	/* REJECTED: the CA's words */
} p11e_ca_result;
void p11e_ca_result_clear(p11e_ca_result *r);

typedef struct p11e_ca_ops {
	const char *type; /* "local", "cfssl", ... : the config's "type" */
	/* conf is the CA's JSON object from the config (or built from
	 * "local:DIR"), its paths already absolute (p11e_config_ca). */
	p11e_rc (*open)(const struct json_object *conf, void **state, p11e_err *err);
	/* request_key is stable for one CSR (hex SHA-256 of its DER): a backend
	 * that sees it again must answer for the same request, never issue a
	 * second certificate. */
	p11e_rc (*submit)(void *state, X509_REQ *csr, const p11e_profile *profile,
			  const char *request_key, p11e_ca_result *out, p11e_err *err);
	p11e_rc (*poll)(void *state, const char *request_id, const p11e_profile *profile,
			p11e_ca_result *out, p11e_err *err);
	p11e_rc (*chain)(void *state, STACK_OF(X509) * *out, p11e_err *err);
	void (*close)(void *state);
	/* Optional, for protocols whose messages the requester signs with the
	 * key being certified (SCEP): called before submit and poll with that
	 * key (private operations on the token, or a software key) and the
	 * identity. The backend does not own key. NULL: not needed. */
	p11e_rc (*set_requester)(void *state, EVP_PKEY *key, const char *identity, p11e_err *err);
	/* The keys this backend's config entry may hold, NULL-terminated, in
	 * the form include/p11enroll/conf.h describes; the config is checked
	 * against it at load (an unknown key is exit 8, naming its path). */
	const char *const *config_keys;
	/* Optional (NULL: this CA cannot revoke through p11enroll): revokes the
	 * certificate with serial (lower-case hex, no leading zero byte) for
	 * reason (enum p11e_revoke_reason); cert is the certificate itself when
	 * the caller has it (protocols that send it), else NULL. Revoking a
	 * revoked certificate again is success, *already set. */
	p11e_rc (*revoke)(void *state, const char *serial, X509 *cert, int reason, int *already,
			  p11e_err *err);
	/* Optional: a CRL (v2, CRL number, authority key identifier) of every
	 * certificate this CA revoked, valid for days. Only CAs that sign their
	 * own lists (the embedded one) have it. */
	p11e_rc (*crl)(void *state, int days, X509_CRL **out, p11e_err *err);
	/* Optional: the next submit (and its polls) renews renewal->old_cert
	 * (ACME: the order "replaces" it; SCEP: a RenewalReq signed with the
	 * old key and certificate where GetCACaps offers "Renewal"; DigiCert:
	 * a reissue of the old order). NULL renewal: a first enrollment again.
	 * The backend does not own what renewal points to and must not keep
	 * the pointers past the next submit or poll. NULL op: a renewal is an
	 * ordinary request to this CA. */
	p11e_rc (*set_renewal)(void *state, const struct p11e_ca_renewal *renewal,
			       p11e_err *err);
	/* Optional: the window in which the CA wants cert renewed (ACME
	 * renewalInfo, RFC 9773), as UTC seconds, start < end. P11E_NOT_FOUND
	 * when this CA offers none (the configured renew_within_days then
	 * applies). The caller renews when now >= start: RFC 9773 4.2 lets a
	 * client pick its time in the window, and its recommended uniform
	 * random pick only spreads clients that wake at that exact time; a run
	 * that comes later renews at once. Any other error (the CA unreachable,
	 * an invalid answer: RFC 9773 4.3.3 says to treat it as no answer) is
	 * also "fall back to renew_within_days", with err worth a warning. On
	 * P11E_OK, err->msg may hold the CA's explanationURL for the operator
	 * (else ""). */
	p11e_rc (*renewal_window)(void *state, X509 *cert, long long *start, long long *end,
				  p11e_err *err);
	/* Optional, for backends that keep state in the store (the embedded
	 * CA's index, an ACME account): open as open does, given the store
	 * this process opened for its config (never NULL), to share it
	 * (p11e_store_open_home_in) rather than open one of their own. */
	p11e_rc (*open_in)(const struct json_object *conf, struct p11e_store *store, void **state,
			   p11e_err *err);
	/* Optional (NULL: this CA cannot lift a hold through p11enroll): the
	 * certificate with serial, revoked for certificateHold, valid again
	 * (RFC 5280 removeFromCRL: the next CRL leaves it out). *lifted 0 when
	 * it was not on hold (a rerun); P11E_USAGE when it is revoked for
	 * another reason (that is final). A card's suspension (card.h). */
	p11e_rc (*unhold)(void *state, const char *serial, int *lifted, p11e_err *err);
	/* Optional, with revoke NULL: why this CA cannot revoke (its protocol
	 * has no revocation), for the message. */
	const char *revoke_none;
} p11e_ca_ops;

/* What a renewal tells the CA about the certificate it replaces. */
typedef struct p11e_ca_renewal {
	X509 *old_cert;		    /* the certificate being renewed */
	STACK_OF(X509) * old_chain; /* its issuing CA first, or NULL */
	/* Its private key (on the token through libp11, or a software key),
	 * for protocols that prove possession of the old key (SCEP
	 * RenewalReq); NULL when the caller cannot reach it. */
	EVP_PKEY *old_key;
	const char *old_request_id; /* the CA's handle on the old request, or NULL */
} p11e_ca_renewal;

/* RFC 5280 CRLReason codes, by their ASN.1 names (keyCompromise, ...). */
enum p11e_revoke_reason {
	P11E_REASON_UNSPECIFIED = 0,
	P11E_REASON_KEY_COMPROMISE = 1,
	P11E_REASON_CA_COMPROMISE = 2,
	P11E_REASON_AFFILIATION_CHANGED = 3,
	P11E_REASON_SUPERSEDED = 4,
	P11E_REASON_CESSATION_OF_OPERATION = 5,
	P11E_REASON_CERTIFICATE_HOLD = 6,
	P11E_REASON_PRIVILEGE_WITHDRAWN = 9,
	P11E_REASON_AA_COMPROMISE = 10,
};
/* The code for an RFC 5280 name ("keyCompromise", case as written there);
 * -1 if unknown. removeFromCRL (8) is not a reason to revoke: -1. */
int p11e_revoke_reason_parse(const char *name);
/* The RFC 5280 name of code, NULL if none. */
const char *p11e_revoke_reason_name(int code);
/* The serial in the canonical form the CAs compare: lower-case hex of the
 * positive integer, two digits a byte, no leading zero byte. Takes hex with
 * or without colons or a 0x prefix (what `openssl x509 -serial` prints
 * after "serial="). P11E_USAGE naming field if it is not such a number. */
p11e_rc p11e_serial_canonical(const char *field, const char *text, char *out, size_t cap,
			      p11e_err *err);

/* cert's serial in that canonical form (out: at least 65 bytes);
 * P11E_USAGE naming field when it has none that fits. */
p11e_rc p11e_cert_serial(const char *field, X509 *cert, char *out, size_t cap, p11e_err *err);

typedef struct p11e_ca p11e_ca;

/* The i-th CA backend, NULL past the last: for the config check. */
const p11e_ca_ops *p11e_ca_backend(size_t i);

/* Opens the backend named by conf's "type". */
p11e_rc p11e_ca_open(const struct json_object *conf, p11e_ca **out, p11e_err *err);
/* The same in a process whose config's store is open (cfg->store, or NULL:
 * as p11e_ca_open): a CA that keeps state in the store shares it. */
p11e_rc p11e_ca_open_in(const struct json_object *conf, struct p11e_store *store, p11e_ca **out,
			p11e_err *err);
p11e_rc p11e_ca_submit(p11e_ca *ca, X509_REQ *csr, const p11e_profile *profile,
		       const char *request_key, p11e_ca_result *out, p11e_err *err);
p11e_rc p11e_ca_poll(p11e_ca *ca, const char *request_id, const p11e_profile *profile,
		     p11e_ca_result *out, p11e_err *err);
p11e_rc p11e_ca_chain(p11e_ca *ca, STACK_OF(X509) * *out, p11e_err *err);
void p11e_ca_close(p11e_ca *ca);
/* Through the ops above; P11E_UNSUPPORTED naming the CA type if it has none. */
p11e_rc p11e_ca_revoke(p11e_ca *ca, const char *serial, X509 *cert, int reason, int *already,
		       p11e_err *err);
/* Whether this backend revokes through p11enroll (ops->revoke): asked before
 * anything is removed that only a revocation may follow (`p11enroll wipe`). */
int p11e_ca_can_revoke(const p11e_ca *ca);
p11e_rc p11e_ca_crl(p11e_ca *ca, int days, X509_CRL **out, p11e_err *err);
/* Through ops->unhold; P11E_UNSUPPORTED naming the CA type if it has none. */
p11e_rc p11e_ca_unhold(p11e_ca *ca, const char *serial, int *lifted, p11e_err *err);
/* Whether this backend can lift a hold (ops->unhold): a card is suspended
 * only where every certificate on it can be resumed. */
int p11e_ca_can_hold(const p11e_ca *ca);
/* The backend's "type" ("local", "cfssl"), for messages. */
const char *p11e_ca_type(const p11e_ca *ca);
/* Through ops->set_renewal; P11E_OK doing nothing when the backend has none. */
p11e_rc p11e_ca_set_renewal(p11e_ca *ca, const p11e_ca_renewal *renewal, p11e_err *err);
/* Through ops->renewal_window; P11E_NOT_FOUND when the backend has none. */
p11e_rc p11e_ca_renewal_window(p11e_ca *ca, X509 *cert, long long *start, long long *end,
			       p11e_err *err);
/* Whether this backend wants the requester's key (ops->set_requester). */
int p11e_ca_needs_requester(const p11e_ca *ca);
p11e_rc p11e_ca_set_requester(p11e_ca *ca, EVP_PKEY *key, const char *identity, p11e_err *err);

/* The embedded CA's one-time setup: DIR/ca.key (PEM, 0600) or a key on a
 * token (see key_uri), DIR/ca.pem
 * (self-signed, CA:TRUE, keyCertSign+cRLSign, SKI), DIR/index.jsonl, DIR/issued/.
 * P11E_EXISTS if DIR already holds a CA. */
typedef struct p11e_ca_local_init_params {
	const char *dir;
	const char *subject;  /* NULL: "/CN=p11enroll local CA" */
	const char *key_type; /* NULL: "ec:P-256" */
	int validity_days;    /* 0: 3650 */
	/* A CA key on a token instead of DIR/ca.key: the token (and, with id=,
	 * an existing key) by PKCS#11 URI. The key is generated there (rsa or
	 * ec), and DIR/ca-key.json records its URI, module and PIN source (a
	 * source, never a PIN). */
	const char *key_uri;
	const char *module;
	const char *pin_source;
} p11e_ca_local_init_params;
p11e_rc p11e_ca_local_init(const p11e_ca_local_init_params *p, p11e_err *err);

extern const p11e_ca_ops p11e_ca_local_ops;
extern const p11e_ca_ops p11e_ca_cfssl_ops;
extern const p11e_ca_ops p11e_ca_acme_ops;
extern const p11e_ca_ops p11e_ca_digicert_ops;
extern const p11e_ca_ops p11e_ca_scep_ops;
extern const p11e_ca_ops p11e_ca_certsrv_ops;
extern const p11e_ca_ops p11e_ca_cmp_ops;
extern const p11e_ca_ops p11e_ca_est_ops;

#endif
