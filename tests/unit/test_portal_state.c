/* The portal's memory (src/portal/portal_state.c): sessions expire on the
 * server at session_minutes, failed sign-ins are limited per key within a
 * window, CSRF tokens are bound to who is signed in. The clock is moved
 * with P11ENROLL_TEST_NOW (test-hooks builds). */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "portal/portal_int.h"

int main(void)
{
	p11e_portal_conf conf = {.session_minutes = 10};
	struct p11e_portal *p = calloc(1, sizeof(*p));
	char tok[PORTAL_TOKEN_LEN], tok2[PORTAL_TOKEN_LEN], user[P11E_PORTAL_ID_MAX];
	char a[PORTAL_TOKEN_LEN], b[PORTAL_TOKEN_LEN];
	portal_req r;
	p11e_err err;

	if (p == NULL)
		return 1;
	p->conf = &conf;
	pthread_mutex_init(&p->mu, NULL);
	memset(p->csrf_key, 7, sizeof(p->csrf_key));

	/* Sessions: random, distinct, looked up in constant time, expiring. */
	CHECK_RC(portal_session_new(p, "alice@example.com", tok, &err), P11E_OK, &err);
	CHECK_RC(portal_session_new(p, "bob@example.com", tok2, &err), P11E_OK, &err);
	CHECK(strlen(tok) == PORTAL_TOKEN_LEN - 1 && strcmp(tok, tok2) != 0);
	CHECK(portal_session_user(p, tok, user, sizeof(user)) == 1);
	CHECK(strcmp(user, "alice@example.com") == 0);
	CHECK(portal_session_user(p, tok2, user, sizeof(user)) == 1);
	CHECK(strcmp(user, "bob@example.com") == 0);
	tok2[0] = tok2[0] == 'A' ? 'B' : 'A';
	CHECK(portal_session_user(p, tok2, user, sizeof(user)) == 0);
	CHECK(portal_session_user(p, "", user, sizeof(user)) == 0);
	CHECK(portal_session_user(p, "short", user, sizeof(user)) == 0);
#ifdef P11ENROLL_TEST_HOOKS
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:00:00Z", 1);
	CHECK_RC(portal_session_new(p, "carol@example.com", tok, &err), P11E_OK, &err);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:09:59Z", 1);
	CHECK(portal_session_user(p, tok, user, sizeof(user)) == 1);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:10:00Z", 1);
	CHECK(portal_session_user(p, tok, user, sizeof(user)) == 0); /* expired */
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:05:00Z", 1);
	CHECK(portal_session_user(p, tok, user, sizeof(user)) == 0); /* and forgotten */

	/* Failed attempts: max per window, then allowed again after it. */
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T01:00:00Z", 1);
	for (int i = 0; i < 5; i++) {
		CHECK(portal_attempt_allowed(p, "user:x@example.com", 5) == 1);
		portal_attempt_failed(p, "user:x@example.com");
	}
	CHECK(portal_attempt_allowed(p, "user:x@example.com", 5) == 0);
	CHECK(portal_attempt_allowed(p, "user:y@example.com", 5) == 1);
	CHECK(portal_attempt_allowed(p, "user:x@example.com", 20) == 1);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T01:14:59Z", 1);
	CHECK(portal_attempt_allowed(p, "user:x@example.com", 5) == 0);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T01:15:00Z", 1);
	CHECK(portal_attempt_allowed(p, "user:x@example.com", 5) == 1);
	portal_attempt_failed(p, "user:x@example.com");
	portal_attempt_forget(p, "user:x@example.com");
	CHECK(portal_attempt_allowed(p, "user:x@example.com", 1) == 1);
	/* A full table reuses the stalest count, never crashes. */
	for (int i = 0; i < PORTAL_MAX_ATTEMPTS + 10; i++) {
		char key[40];

		snprintf(key, sizeof(key), "addr:10.0.%d.%d", i / 256, i % 256);
		portal_attempt_failed(p, key);
	}
	/* A new key still gets a slot, and its count holds. */
	portal_attempt_failed(p, "addr:192.0.2.1");
	CHECK(portal_attempt_allowed(p, "addr:192.0.2.1", 2) == 1);
	portal_attempt_failed(p, "addr:192.0.2.1");
	CHECK(portal_attempt_allowed(p, "addr:192.0.2.1", 2) == 0);
	unsetenv("P11ENROLL_TEST_NOW");
#endif

	/* CSRF: per who, never empty, compared whole. */
	portal_csrf_for(p, "cert:alice@example.com", a);
	portal_csrf_for(p, "cert:bob@example.com", b);
	CHECK(strlen(a) == PORTAL_TOKEN_LEN - 1 && strcmp(a, b) != 0);
	memset(&r, 0, sizeof(r));
	memcpy(r.csrf, a, sizeof(a));
	CHECK(portal_csrf_ok(&r, a));
	CHECK(!portal_csrf_ok(&r, b));
	CHECK(!portal_csrf_ok(&r, NULL));
	CHECK(!portal_csrf_ok(&r, ""));
	a[10] = '\0';
	CHECK(!portal_csrf_ok(&r, a));
	r.csrf[0] = '\0';
	CHECK(!portal_csrf_ok(&r, ""));

	pthread_mutex_destroy(&p->mu);
	free(p);
	return check_done();
}
