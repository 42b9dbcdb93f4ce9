/* The portal's memory (src/portal/portal_state.c): sessions expire on the
 * server at session_minutes and when ended, failed sign-ins wait per
 * (client, address) with growing delays and per client within a window,
 * the table stays bounded, CSRF tokens are bound to who is signed in. The clock is moved
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
	CHECK_RC(portal_session_new(p, "alice@example.com", NULL, tok, &err), P11E_OK, &err);
	CHECK_RC(portal_session_new(p, "bob@example.com", NULL, tok2, &err), P11E_OK, &err);
	CHECK(strlen(tok) == PORTAL_TOKEN_LEN - 1 && strcmp(tok, tok2) != 0);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user)) == 1);
	CHECK(strcmp(user, "alice@example.com") == 0);
	CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user)) == 1);
	CHECK(strcmp(user, "bob@example.com") == 0);
	tok2[0] = tok2[0] == 'A' ? 'B' : 'A';
	CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user)) == 0);
	CHECK(portal_session_user(p, "", user, NULL, sizeof(user)) == 0);
	CHECK(portal_session_user(p, "short", user, NULL, sizeof(user)) == 0);
	/* Ended (sign-out): the slot wiped, the token refused from then on. */
	CHECK_RC(portal_session_new(p, "erin@example.com", NULL, tok2, &err), P11E_OK, &err);
	CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user)) == 1);
	CHECK(portal_session_end(p, tok2) == 1);
	CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user)) == 0);
	CHECK(portal_session_end(p, tok2) == 0);
	CHECK(portal_session_end(p, "short") == 0);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user)) == 1); /* alice's stays */
#ifdef P11ENROLL_TEST_HOOKS
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:00:00Z", 1);
	CHECK_RC(portal_session_new(p, "carol@example.com", NULL, tok, &err), P11E_OK, &err);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:09:59Z", 1);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user)) == 1);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:10:00Z", 1);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user)) == 0); /* expired */
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:05:00Z", 1);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user)) == 0); /* and forgotten */

	/* Failed code sign-ins: the pair (client, address) waits 2^(n-1) s after
	 * its n-th failure, up to the cap; other clients never wait for it. */
	setenv("P11ENROLL_TEST_NOW", "1767229200", 1); /* 2026-01-01T01:00:00Z */
	{
		long t = 1767229200, expect = 1;
		char now[24];

		CHECK(portal_attempt_wait(p, "192.0.2.1", "x@example.com") == 0);
		for (int n = 1; n <= 14; n++) {
			portal_attempt_failed(p, "192.0.2.1", "x@example.com");
			CHECK(portal_attempt_wait(p, "192.0.2.1", "x@example.com") == expect);
			/* The right code from elsewhere is never held up. */
			CHECK(portal_attempt_wait(p, "192.0.2.2", "x@example.com") == 0);
			/* Nor this client for another address, below its cap. */
			CHECK(portal_attempt_wait(p, "192.0.2.1", "y@example.com") == 0);
			snprintf(now, sizeof(now), "%ld", t + expect - 1);
			setenv("P11ENROLL_TEST_NOW", now, 1);
			CHECK(portal_attempt_wait(p, "192.0.2.1", "x@example.com") == 1);
			t += expect;
			snprintf(now, sizeof(now), "%ld", t);
			setenv("P11ENROLL_TEST_NOW", now, 1);
			CHECK(portal_attempt_wait(p, "192.0.2.1", "x@example.com") == 0);
			expect =
			    expect * 2 > PORTAL_PAIR_DELAY_CAP ? PORTAL_PAIR_DELAY_CAP : expect * 2;
		}
		CHECK(expect == PORTAL_PAIR_DELAY_CAP); /* capped by now */
		/* 14 failures are under the client's cap: */
		CHECK(portal_attempt_wait(p, "192.0.2.1", "z@example.com") == 0);
		/* A success forgets the pair (not the client's count). */
		portal_attempt_failed(p, "192.0.2.1", "x@example.com");
		CHECK(portal_attempt_wait(p, "192.0.2.1", "x@example.com") ==
		      PORTAL_PAIR_DELAY_CAP);
		portal_attempt_succeeded(p, "192.0.2.1", "x@example.com");
		CHECK(portal_attempt_wait(p, "192.0.2.1", "x@example.com") == 0);
		portal_attempt_failed(p, "192.0.2.1", "x@example.com");
		CHECK(portal_attempt_wait(p, "192.0.2.1", "x@example.com") == 1);
		/* An hour after its last failure a pair starts again at 1 s. */
		for (int n = 0; n < 5; n++)
			portal_attempt_failed(p, "192.0.2.3", "w@example.com");
		CHECK(portal_attempt_wait(p, "192.0.2.3", "w@example.com") == 16);
		snprintf(now, sizeof(now), "%ld", t + PORTAL_PAIR_FORGET);
		setenv("P11ENROLL_TEST_NOW", now, 1);
		CHECK(portal_attempt_wait(p, "192.0.2.3", "w@example.com") == 0);
		portal_attempt_failed(p, "192.0.2.3", "w@example.com");
		CHECK(portal_attempt_wait(p, "192.0.2.3", "w@example.com") == 1);
	}

	/* The client's cap: PER_CLIENT failures in a window, over any
	 * addresses; then everything from it waits for the window's end. */
	setenv("P11ENROLL_TEST_NOW", "1767240000", 1);
	for (int i = 0; i < PORTAL_ATTEMPTS_PER_CLIENT; i++) {
		char email[40];

		snprintf(email, sizeof(email), "u%d@example.com", i);
		CHECK(portal_attempt_wait(p, "198.51.100.7", email) == 0);
		portal_attempt_failed(p, "198.51.100.7", email);
	}
	CHECK(portal_attempt_wait(p, "198.51.100.7", "fresh@example.com") ==
	      PORTAL_ATTEMPTS_WINDOW);
	CHECK(portal_attempt_wait(p, "198.51.100.8", "fresh@example.com") == 0);
	setenv("P11ENROLL_TEST_NOW", "1767240600", 1);
	CHECK(portal_attempt_wait(p, "198.51.100.7", "fresh@example.com") ==
	      PORTAL_ATTEMPTS_WINDOW - 600);
	setenv("P11ENROLL_TEST_NOW", "1767240900", 1);
	CHECK(portal_attempt_wait(p, "198.51.100.7", "fresh@example.com") == 0);
	/* IPv6: a /64 is one client (a host has all of it); the pair is the
	 * exact address. */
	for (int i = 0; i < PORTAL_ATTEMPTS_PER_CLIENT; i++) {
		char client[48];

		snprintf(client, sizeof(client), "2001:db8:1:2::%x", i + 1);
		portal_attempt_failed(p, client, "v6@example.com");
	}
	CHECK(portal_attempt_wait(p, "2001:db8:1:2:ffff::1", "other@example.com") > 0);
	CHECK(portal_attempt_wait(p, "2001:db8:1:3::1", "other@example.com") == 0);
	{
		char unit[64];

		portal_client_unit("2001:db8:1:2:aaaa:bbbb:cccc:dddd", unit, sizeof(unit));
		CHECK(strcmp(unit, "2001:db8:1:2::/64") == 0);
		portal_client_unit("::ffff:192.0.2.9", unit, sizeof(unit));
		CHECK(strcmp(unit, "192.0.2.9") == 0);
		portal_client_unit("192.0.2.9", unit, sizeof(unit));
		CHECK(strcmp(unit, "192.0.2.9") == 0);
		portal_client_unit("unknown", unit, sizeof(unit));
		CHECK(strcmp(unit, "unknown") == 0);
	}

	/* A full table: bounded, never a crash; the least recently failed
	 * entries make room, so the newest counts hold. */
	setenv("P11ENROLL_TEST_NOW", "1767250000", 1);
	for (int i = 0; i < PORTAL_MAX_ATTEMPTS; i++) {
		char client[40];

		snprintf(client, sizeof(client), "10.%d.%d.%d", i / 65536, (i / 256) % 256,
			 i % 256);
		portal_attempt_failed(p, client, "flood@example.com");
	}
	setenv("P11ENROLL_TEST_NOW", "1767250010", 1);
	portal_attempt_failed(p, "192.0.2.50", "new@example.com");
	CHECK(portal_attempt_wait(p, "192.0.2.50", "new@example.com") == 1);
	portal_attempt_failed(p, "192.0.2.51", "new2@example.com");
	CHECK(portal_attempt_wait(p, "192.0.2.50", "new@example.com") == 1);
	CHECK(portal_attempt_wait(p, "192.0.2.51", "new2@example.com") == 1);
	{
		size_t used = 0;

		for (size_t i = 0; i < PORTAL_MAX_ATTEMPTS; i++)
			used += p->attempts[i].key[0] != '\0';
		CHECK(used == PORTAL_MAX_ATTEMPTS);
	}
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
