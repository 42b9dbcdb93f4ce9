/* The portal's sessions, in the store (docs/portal.md, Sessions): one
 * document of kind "session" per session, named by the lowercase hex SHA-256
 * of its token (the token itself is never stored), holding who is signed in
 * and when the session ends. Every request reads its session's document, so
 * any number of `serve` processes on one store agree: a sign-in at one is
 * seen by all, a sign-out at one ends the session at all. An expired session
 * is removed when it is found, and by the sweep (portal_state_sweep).
 *
 * The CSRF key is shared the same way (a document of kind "portal-secret"),
 * so a form fetched from one process may be posted to another. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"
#include "portal_int.h"

#define SESSION_KIND "session"
#define SECRET_KIND "portal-secret"
#define CSRF_KEY_NAME "csrf"

/* A token as portal_random_token makes them: 43 base64url characters.
 * Anything else is no session's, and is not even hashed. */
static int token_well_formed(const char *token)
{
	size_t n = 0;

	for (; token[n] != '\0'; n++)
		if (!((token[n] >= 'a' && token[n] <= 'z') || (token[n] >= 'A' && token[n] <= 'Z') ||
		      (token[n] >= '0' && token[n] <= '9') || token[n] == '-' || token[n] == '_'))
			return 0;
	return n == PORTAL_TOKEN_LEN - 1;
}

static void session_name(const char *token, char name[65])
{
	portal_sha256_hex(token, strlen(token), name);
}

static void log_store_error(const char *what, const p11e_err *err)
{
	fprintf(stderr, "p11enroll serve: %s: %s\n", what, err->msg);
}

p11e_rc portal_session_new(struct p11e_portal *p, const char *user, const char *email, char *token,
			   p11e_err *err)
{
	time_t now = p11e_now();
	json_object *doc = NULL;
	const char *text;
	char name[65];
	p11e_rc rc = portal_random_token(token, PORTAL_TOKEN_LEN, err);

	if (rc != P11E_OK)
		return rc;
	session_name(token, name);
	if ((doc = json_object_new_object()) == NULL)
		return p11e_errf(err, P11E_FAIL, "session: out of memory");
	json_object_object_add(doc, "user", json_object_new_string(user));
	json_object_object_add(doc, "email", json_object_new_string(email ? email : user));
	json_object_object_add(doc, "created", json_object_new_int64((int64_t)now));
	json_object_object_add(doc, "expires",
			       json_object_new_int64((int64_t)now + p->conf->session_minutes * 60));
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	/* Durable: a session another process has been told of survives a
	 * crash of this one. */
	rc = p11e_store_put(p->cfg->store, SESSION_KIND, name, text, strlen(text),
			    P11E_STORE_DURABLE, err);
	json_object_put(doc);
	if (rc != P11E_OK)
		OPENSSL_cleanse(token, PORTAL_TOKEN_LEN);
	return rc;
}

/* A member that is a string that fits cap, into out: 1, else 0. */
static int member_string(json_object *doc, const char *key, char *out, size_t cap)
{
	json_object *v;

	if (!json_object_object_get_ex(doc, key, &v) || !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= cap)
		return 0;
	snprintf(out, cap, "%s", json_object_get_string(v));
	return 1;
}

int portal_session_user(struct p11e_portal *p, const char *token, char *user, char *email,
			size_t cap, time_t *expires)
{
	unsigned char *data = NULL;
	json_object *doc = NULL, *v;
	char name[65];
	size_t len = 0;
	p11e_err err;
	p11e_rc rc;
	int found = 0;

	if (!token_well_formed(token))
		return 0;
	session_name(token, name);
	rc = p11e_store_get(p->cfg->store, SESSION_KIND, name, &data, &len, &err);
	if (rc != P11E_OK) {
		/* Fails closed: not signed in. A store that cannot be read is
		 * said in the log, once per request. */
		if (rc != P11E_NOT_FOUND)
			log_store_error("session", &err);
		return 0;
	}
	doc = json_tokener_parse((const char *)data);
	if (doc == NULL || !json_object_object_get_ex(doc, "expires", &v) ||
	    !json_object_is_type(v, json_type_int) || !member_string(doc, "user", user, cap)) {
		char where[400];

		/* Named by the token's hash, not the token: safe to show. */
		fprintf(stderr, "p11enroll serve: session %s is damaged: refused\n",
			p11e_store_describe(p->cfg->store, SESSION_KIND, name, where,
					    sizeof(where)));
		goto out;
	}
	if ((time_t)json_object_get_int64(v) <= p11e_now()) {
		/* Over: forgotten now (another process may have done it). */
		rc = p11e_store_remove(p->cfg->store, SESSION_KIND, name, &err);
		if (rc != P11E_OK && rc != P11E_NOT_FOUND)
			log_store_error("removing an expired session", &err);
		goto out;
	}
	if (email != NULL && !member_string(doc, "email", email, cap))
		snprintf(email, cap, "%s", user);
	if (expires != NULL)
		*expires = (time_t)json_object_get_int64(v);
	found = 1;
out:
	if (!found)
		user[0] = '\0';
	json_object_put(doc);
	free(data);
	return found;
}

int portal_session_end(struct p11e_portal *p, const char *token)
{
	char name[65];
	p11e_err err;
	p11e_rc rc;

	if (!token_well_formed(token))
		return 0;
	session_name(token, name);
	rc = p11e_store_remove(p->cfg->store, SESSION_KIND, name, &err);
	if (rc != P11E_OK && rc != P11E_NOT_FOUND)
		log_store_error("sign-out", &err);
	return rc == P11E_OK;
}

/* Removes every expired session; returns how many. */
static size_t sweep_sessions(struct p11e_portal *p, time_t now)
{
	p11e_store_doc *docs = NULL;
	size_t n = 0, removed = 0;
	p11e_err err;

	if (p11e_store_list(p->cfg->store, SESSION_KIND, &docs, &n, &err) != P11E_OK) {
		log_store_error("session sweep", &err);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *doc = json_tokener_parse((const char *)docs[i].data), *v;

		/* A session never gets longer, so one seen expired stays so:
		 * removing it needs no lock. A damaged one is left for a
		 * person to look at (it signs nobody in). */
		if (doc != NULL && json_object_object_get_ex(doc, "expires", &v) &&
		    json_object_is_type(v, json_type_int) &&
		    (time_t)json_object_get_int64(v) <= now &&
		    p11e_store_remove(p->cfg->store, SESSION_KIND, docs[i].name, &err) == P11E_OK)
			removed++;
		json_object_put(doc);
	}
	p11e_store_docs_free(docs, n);
	return removed;
}

size_t portal_state_sweep(struct p11e_portal *p)
{
	return sweep_sessions(p, p11e_now()) + portal_attempts_sweep(p);
}

p11e_rc portal_csrf_key_load(struct p11e_portal *p, p11e_err *err)
{
	p11e_lock lock = P11E_LOCK_INIT;
	unsigned char *data = NULL, key[sizeof(p->csrf_key)];
	size_t len = 0;
	p11e_rc rc;

	/* Under the lock, so that two processes starting at once make one key. */
	if ((rc = p11e_lock_acquire(p->cfg->store, "portal", "secrets", P11E_LOCK_WAIT_DEFAULT_MS,
				    &lock, err)) != P11E_OK)
		return rc;
	rc = p11e_store_get(p->cfg->store, SECRET_KIND, CSRF_KEY_NAME, &data, &len, err);
	if (rc == P11E_NOT_FOUND) {
		if (RAND_priv_bytes(key, sizeof(key)) != 1) {
			rc = p11e_errf_ssl(err, P11E_FAIL, "portal: no random bytes");
			goto out;
		}
		rc = p11e_store_put(p->cfg->store, SECRET_KIND, CSRF_KEY_NAME, key, sizeof(key),
				    P11E_STORE_DURABLE, err);
		if (rc == P11E_OK)
			memcpy(p->csrf_key, key, sizeof(key));
		goto out;
	}
	if (rc != P11E_OK)
		goto out;
	if (len != sizeof(p->csrf_key)) {
		char where[400];

		rc = p11e_errf(err, P11E_FAIL,
			       "portal: the CSRF key (%s) is %zu bytes, not %zu: remove it and "
			       "serve makes a new one",
			       p11e_store_describe(p->cfg->store, SECRET_KIND, CSRF_KEY_NAME, where,
						   sizeof(where)),
			       len, sizeof(p->csrf_key));
		goto out;
	}
	memcpy(p->csrf_key, data, len);
out:
	if (data != NULL)
		p11e_secret_free((char *)data, len + 1);
	OPENSSL_cleanse(key, sizeof(key));
	p11e_lock_release(&lock);
	return rc;
}
