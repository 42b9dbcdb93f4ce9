/* Publishers: where an issued certificate is made known (a directory's
 * entry for the address), behind one vtable like the CAs and the vault; one
 * backend per file (src/publish/publish_<type>.c).
 *
 * The config's "publishers" map names them:
 *   "publishers": { "gal": { "type": "ldap", "url": "ldaps://ldap.example/", ... } }
 * and a profile's "publish": ["gal"] picks some; the built-in S/MIME profiles
 * (smime, smime-sign, smime-encrypt) publish to every configured publisher
 * unless the config's profile says "publish": [] (docs/config.md). */
#ifndef P11ENROLL_PUBLISH_H
#define P11ENROLL_PUBLISH_H

#include <stddef.h>
#include <openssl/x509.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"
#include "p11enroll/record.h"

struct json_object;
struct p11e_dir_identity;

typedef struct p11e_publish_ops {
	const char *type; /* the config's "type": "ldap" */
	/* conf is the publisher's entry (paths made absolute), name its key in
	 * "publishers" (for messages). Nothing is contacted yet. */
	p11e_rc (*open)(const struct json_object *conf, const char *name, void **state,
			p11e_err *err);
	/* Adds cert to what the publisher holds for address (an email), never
	 * replacing other certificates there. Already there: success, *already
	 * set. */
	p11e_rc (*publish)(void *state, const char *address, X509 *cert, int *already,
			   p11e_err *err);
	/* Removes exactly cert, nothing else. Not there: success, *already set. */
	p11e_rc (*unpublish)(void *state, const char *address, X509 *cert, int *already,
			     p11e_err *err);
	void (*close)(void *state);
	/* The keys its entry may hold (include/p11enroll/conf.h's form). */
	const char *const *config_keys;
	/* The identity of address in the directory (profile "identity_from":
	 * include/p11enroll/directory.h), or NULL for a publisher that has no
	 * directory to ask. */
	p11e_rc (*lookup)(void *state, const char *address, struct p11e_dir_identity *out,
			  p11e_err *err);
} p11e_publish_ops;

/* The i-th backend, NULL past the last: for the config check. */
const p11e_publish_ops *p11e_publish_backend(size_t i);

typedef struct p11e_publisher p11e_publisher;

/* Opens the publisher called name in cfg's "publishers": P11E_CONFIG naming
 * it if it is not there or its type is unknown. */
p11e_rc p11e_publisher_open(const p11e_config *cfg, const char *name, p11e_publisher **out,
			    p11e_err *err);
p11e_rc p11e_publisher_publish(p11e_publisher *p, const char *address, X509 *cert, int *already,
			       p11e_err *err);
p11e_rc p11e_publisher_unpublish(p11e_publisher *p, const char *address, X509 *cert, int *already,
				 p11e_err *err);
void p11e_publisher_close(p11e_publisher *p);
/* The publisher's lookup op; P11E_CONFIG naming it if it has none. */
p11e_rc p11e_publisher_lookup(p11e_publisher *p, const char *address,
			      struct p11e_dir_identity *out, p11e_err *err);

/* The publishers a profile publishes to, as one string of names separated
 * by single spaces (malloc'd into *out; "" for none): the config profile's
 * "publish" list if it has one, else, for a built-in S/MIME profile or one
 * based on it, every name in "publishers" (sorted), else none. */
p11e_rc p11e_publish_targets(const p11e_config *cfg, const char *profile, char **out,
			     p11e_err *err);

/* Whether publisher name keeps retired encryption certificates (its
 * "keep_encryption_history", default true), for a renewal retiring the
 * previous certificate: a signing one is always removed (p11e_publish_cert
 * with remove), an encryption one only when this is 0. -1 if name is not in
 * "publishers". */
int p11e_publish_keeps_encryption_history(const p11e_config *cfg, const char *name);

/* The publish step and `p11enroll publish` (src/core/publish_step.c).
 *
 * Record fields: publish_pending holds the names (space-separated) still to
 * be published to for the record's certificate (cert_sha256); published
 * holds the names done for it. p11e_publish_identity, under the identity's
 * lock:
 *   - a record without a certificate (before step issued): P11E_NOT_FOUND;
 *   - with publish_pending NULL and published NULL (never started, or a
 *     record from before publishers), starts: publish_pending = the
 *     profile's targets (p11e_publish_targets), saved first;
 *   - each pending name in turn: published, audited ("publish", with
 *     "publisher" and "sha256"), moved from publish_pending to published and
 *     the record saved. The first failure stops the run with its code, the
 *     record saying last_error and the rest still pending: a rerun (`publish
 *     --retry` or the pipeline's next run) carries on.
 * retry: also publish again to the names in published (idempotent: a value
 * already there is success). */
typedef struct p11e_publish_params {
	const char *identity;
	long wait_ms; /* for the identity's lock, as p11e_enroll_params.wait_ms */
	int retry;    /* publish again to those already done */
	int remove;   /* unpublish the record's certificate from every target instead */
} p11e_publish_params;

typedef struct p11e_publish_result {
	size_t done;	/* publishers that now hold (or, remove: no longer hold) it */
	size_t already; /* of those, how many already did */
	size_t pending; /* still to do (after a failure) */
} p11e_publish_result;

p11e_rc p11e_publish_identity(const p11e_config *cfg, const p11e_publish_params *p,
			      p11e_publish_result *out, p11e_err *err);

/* The same on a record the caller loaded and holds the identity's lock for
 * (the pipeline's publish step, which already holds it: taking it again
 * would wait for itself); saves rec after each change. */
p11e_rc p11e_publish_record(const p11e_config *cfg, p11e_record *rec, int retry, int remove,
			    p11e_publish_result *out, p11e_err *err);

/* Withdraws the certificates of earlier generations from the publishers
 * their unpublish_pending names (a renewal retiring a signing certificate,
 * a revocation), saving rec after each generation; p11e_publish_record
 * does this first. *done: the publishers it was removed from. */
p11e_rc p11e_publish_withdraw_history(const p11e_config *cfg, p11e_record *rec, size_t *done,
				      p11e_err *err);

/* Publishes (remove: unpublishes) cert for address to each of the
 * space-separated names, each audited; for a caller that holds a
 * certificate the record no longer does (a renewal retiring a signing
 * certificate). Stops at the first failure. */
p11e_rc p11e_publish_cert(const p11e_config *cfg, const char *names, const char *identity,
			  X509 *cert, int remove, p11e_publish_result *out, p11e_err *err);

/* LDAP helpers (src/publish/ldap_filter.c), public for the tests.
 *
 * RFC 4515 escaping of an assertion value: '*', '(', ')', '\\', NUL and
 * every byte >= 0x80 or < 0x20 become \XX. len bytes of in; out gets a NUL
 * ended string. -1 if it does not fit in cap. */
int p11e_ldap_filter_escape(const char *in, size_t len, char *out, size_t cap);
/* The search filter: template with each "%s" replaced by the escaped
 * address ("%%" is a '%'; any other '%' is an error). -1 for a template
 * that is not that or a result longer than cap. */
int p11e_ldap_filter_build(const char *tmpl, const char *address, char *out, size_t cap);

/* How a value of an attribute is made. */
typedef enum p11e_ldap_form {
	P11E_LDAP_DER = 1,   /* the certificate's DER (userCertificate[;binary]) */
	P11E_LDAP_PKCS7 = 2, /* a certs-only PKCS#7 of it (userSMIMECertificate) */
} p11e_ldap_form;
/* The form for attribute name (case-insensitive): P11E_LDAP_DER for
 * userCertificate and userCertificate;binary, P11E_LDAP_PKCS7 for
 * userSMIMECertificate, 0 for anything else. */
int p11e_ldap_attribute_form(const char *name);
/* The attributes for a "directory": "openldap" gives
 * "userCertificate;binary" and "userSMIMECertificate", "ad"
 * "userCertificate" and "userSMIMECertificate". NULL-terminated static list,
 * NULL for another name. */
const char *const *p11e_ldap_directory_attributes(const char *directory);
/* A certs-only PKCS#7 (SignedData, no signers) holding cert alone, DER, in
 * *der (OPENSSL_malloc'd, OPENSSL_free it). */
p11e_rc p11e_ldap_pkcs7_of(X509 *cert, unsigned char **der, int *len, p11e_err *err);

#endif
