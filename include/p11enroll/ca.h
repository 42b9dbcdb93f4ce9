/* Certificate authorities: one vtable, one file per backend. */
#ifndef P11ENROLL_CA_H
#define P11ENROLL_CA_H

#include <openssl/x509.h>
#include "p11enroll/error.h"
#include "p11enroll/profile.h"

struct json_object;

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
} p11e_ca_ops;

typedef struct p11e_ca p11e_ca;

/* The i-th CA backend, NULL past the last: for the config check. */
const p11e_ca_ops *p11e_ca_backend(size_t i);

/* Opens the backend named by conf's "type". */
p11e_rc p11e_ca_open(const struct json_object *conf, p11e_ca **out, p11e_err *err);
p11e_rc p11e_ca_submit(p11e_ca *ca, X509_REQ *csr, const p11e_profile *profile,
		       const char *request_key, p11e_ca_result *out, p11e_err *err);
p11e_rc p11e_ca_poll(p11e_ca *ca, const char *request_id, const p11e_profile *profile,
		     p11e_ca_result *out, p11e_err *err);
p11e_rc p11e_ca_chain(p11e_ca *ca, STACK_OF(X509) * *out, p11e_err *err);
void p11e_ca_close(p11e_ca *ca);
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

#endif
