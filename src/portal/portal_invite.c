/* One-time invitation codes (`p11enroll invite`, POST /api/v1/session): the
 * code is shown once and only its SHA-256 is kept, as the name of a document
 * of the store (kind "invite"; the file store: STATE_DIR/portal/invites/
 * HASH.json) that holds the address and the expiry. A document per code
 * makes a redeem one remove: single use even when two requests race (on one
 * station or two of one store), and a stolen store gives no usable code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/portal.h"
#include "p11enroll/record.h"
#include "p11enroll/util.h"
#include "p11enroll/validate.h"
#include "p11enroll/store.h"
#include "portal_int.h"

#define INVITE_CODE_LEN 43 /* 32 bytes as base64url */

/* The document's name: the code's SHA-256 in hex. */
static void invite_name(const char *code, char name[65])
{
	portal_sha256_hex(code, strlen(code), name);
}

/* Expiry of an invitation document, 0 if it is not one; its address into
 * email. */
static time_t parse_invite(const char *text, char **email)
{
	json_object *root = NULL, *e, *x;
	time_t expires = 0;

	*email = NULL;
	root = text != NULL ? json_tokener_parse(text) : NULL;
	if (root != NULL && json_object_object_get_ex(root, "email", &e) &&
	    json_object_object_get_ex(root, "expires", &x) &&
	    json_object_is_type(e, json_type_string) && json_object_is_type(x, json_type_string)) {
		expires = p11e_iso_parse(json_object_get_string(x));
		*email = strdup(json_object_get_string(e));
	}
	json_object_put(root);
	return *email != NULL ? expires : 0;
}

/* Expired invitations are deleted whenever a new one is made. */
static void sweep_expired(p11e_store *store)
{
	p11e_store_doc *docs = NULL;
	size_t n = 0;
	p11e_err ignored;

	if (p11e_store_list(store, "invite", &docs, &n, &ignored) != P11E_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		char *email = NULL;
		if (strlen(docs[i].name) == 64 &&
		    parse_invite((const char *)docs[i].data, &email) < p11e_now())
			p11e_store_remove(store, "invite", docs[i].name, &ignored);
		free(email);
	}
	p11e_store_docs_free(docs, n);
}

p11e_rc p11e_portal_invite(const p11e_config *cfg, const char *email, int hours, char *code,
			   size_t cap, p11e_err *err)
{
	p11e_lock lock = P11E_LOCK_INIT;
	char *identity = NULL, *spelling = NULL, when[21], name[65];
	json_object *doc = NULL;
	const char *text;
	p11e_rc rc;

	if (email == NULL || !p11e_email_valid(email))
		return p11e_errf(err, P11E_USAGE,
				 "invite: '%.80s' is not an email address; give the user's "
				 "address",
				 email ? email : "");
	if (hours < 1 || hours > 720)
		return p11e_errf(err, P11E_USAGE, "invite: --hours must be 1 to 720");
	/* The address as given (its local part's case kept, RFC 5321) is what
	 * a certificate requested through the portal will carry. */
	if ((identity = p11e_record_identity(email)) == NULL ||
	    (spelling = p11e_email_canonical(email)) == NULL) {
		free(identity);
		return p11e_errf(err, P11E_FAIL, "invite: out of memory");
	}
	if ((rc = portal_random_token(code, cap, err)) != P11E_OK)
		goto out;
	if ((rc = p11e_lock_acquire(cfg->store, "portal", "invites", P11E_LOCK_WAIT_DEFAULT_MS,
				    &lock, err)) != P11E_OK)
		goto out;
	sweep_expired(cfg->store);
	p11e_iso_format(p11e_now() + (time_t)hours * 3600, when);
	invite_name(code, name);
	if ((doc = json_object_new_object()) == NULL ||
	    json_object_object_add(doc, "email", json_object_new_string(spelling)) != 0 ||
	    json_object_object_add(doc, "expires", json_object_new_string(when)) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "invite: out of memory");
		goto out;
	}
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	rc = p11e_store_put(cfg->store, "invite", name, text, strlen(text),
			    P11E_STORE_CREATE | P11E_STORE_DURABLE, err);
out:
	if (rc != P11E_OK)
		OPENSSL_cleanse(code, cap);
	p11e_lock_release(&lock);
	json_object_put(doc);
	free(identity);
	free(spelling);
	return rc;
}

p11e_rc p11e_portal_invite_redeem(const p11e_config *cfg, const char *email, const char *code,
				  char **spelling, p11e_err *err)
{
	p11e_lock lock = P11E_LOCK_INIT;
	char *identity = NULL, *owner = NULL, name[65];
	unsigned char *text = NULL;
	size_t len = 0;
	p11e_rc rc = p11e_errf(err, P11E_NOT_FOUND,
			       "session: this code is not valid for this address (unknown, used "
			       "or expired): ask for a new invitation");
	p11e_err inner;
	p11e_rc inner_rc;
	time_t expires;

	if (spelling != NULL)
		*spelling = NULL;
	if (email == NULL || code == NULL || strlen(code) != INVITE_CODE_LEN ||
	    !p11e_email_valid(email))
		return rc;
	for (const char *c = code; *c != '\0'; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
			return rc;
	invite_name(code, name);
	if ((identity = p11e_record_identity(email)) == NULL ||
	    p11e_lock_acquire(cfg->store, "portal", "invites", P11E_LOCK_WAIT_DEFAULT_MS, &lock,
			      &inner) != P11E_OK) {
		rc = p11e_errf(err, P11E_FAIL,
			       "session: the invitation store cannot be read now; "
			       "try again later");
		goto out;
	}
	inner_rc = p11e_store_get(cfg->store, "invite", name, &text, &len, &inner);
	if (inner_rc != P11E_OK && inner_rc != P11E_NOT_FOUND) {
		rc = p11e_errf(err, P11E_FAIL,
			       "session: the invitation store cannot be read now; "
			       "try again later");
		goto out;
	}
	expires = parse_invite((const char *)text, &owner);
	if (owner == NULL)
		goto out;
	if (expires < p11e_now()) {
		p11e_store_remove(cfg->store, "invite", name, &inner);
		goto out;
	}
	/* Addresses match without regard to case (the invitation keeps the
	 * spelling it was made for; older ones hold the lower-cased one). */
	if (strcasecmp(owner, identity) != 0)
		goto out; /* someone else's code: left for its owner */
	/* Used up: NOT_FOUND here is another request that took it first. */
	if ((inner_rc = p11e_store_remove(cfg->store, "invite", name, &inner)) != P11E_OK) {
		if (inner_rc != P11E_NOT_FOUND)
			rc = p11e_errf(err, P11E_FAIL, "session: invitation: cannot delete it (%s)",
				       inner.msg);
		goto out;
	}
	rc = P11E_OK;
	if (spelling != NULL) {
		*spelling = owner;
		owner = NULL;
	}
out:
	p11e_lock_release(&lock);
	free(owner);
	free(text);
	free(identity);
	return rc;
}
