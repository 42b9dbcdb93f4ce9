/* The portal's state (src/portal/portal_session.c, portal_state.c), in a
 * file store: sessions expire on the server at session_minutes and when
 * ended, failed sign-ins wait per (client, address) with growing delays and
 * per client within a window, two portals on one store share both, the
 * sweep removes what is over and keeps what is not, CSRF tokens are bound
 * to who is signed in. The clock is moved with P11ENROLL_TEST_NOW
 * (test-hooks builds). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "check.h"
#include "p11enroll/store.h"
#include "portal/portal_int.h"

/* How many documents of kind the store holds. */
static size_t count_docs(p11e_store *store, const char *kind)
{
	p11e_store_doc *docs = NULL;
	size_t n = 0;
	p11e_err err;

	if (p11e_store_list(store, kind, &docs, &n, &err) != P11E_OK)
		return (size_t)-1;
	p11e_store_docs_free(docs, n);
	return n;
}

/* Failures counted by a thread, on its portal, for one client. */
typedef struct counter_arg {
	struct p11e_portal *p;
	int id;
} counter_arg;

#define RACE_THREADS 4
#define RACE_FAILURES 25

static void *count_failures(void *arg)
{
	counter_arg *c = arg;

	for (int i = 0; i < RACE_FAILURES; i++) {
		char email[48];

		snprintf(email, sizeof(email), "race%d-%d@example.com", c->id, i);
		portal_attempt_failed(c->p, "192.0.2.70", email);
	}
	return NULL;
}

/* The failures the store holds for key (its document, named by the key's
 * SHA-256), or -1. */
static int stored_failures(p11e_store *store, const char *key)
{
	unsigned char *data = NULL;
	char name[65], *at;
	size_t len = 0;
	p11e_err err;
	int n = -1;

	portal_sha256_hex(key, strlen(key), name);
	if (p11e_store_get(store, "attempt", name, &data, &len, &err) != P11E_OK)
		return -1;
	if ((at = strstr((char *)data, "\"failures\":")) != NULL)
		n = atoi(at + 11);
	free(data);
	return n;
}

static void remove_all(p11e_store *store, const char *kind)
{
	p11e_store_doc *docs = NULL;
	size_t n = 0;
	p11e_err err;

	if (p11e_store_list(store, kind, &docs, &n, &err) != P11E_OK)
		return;
	for (size_t i = 0; i < n; i++)
		p11e_store_remove(store, kind, docs[i].name, &err);
	p11e_store_docs_free(docs, n);
}

int main(void)
{
	p11e_portal_conf conf = {.session_minutes = 10};
	p11e_config cfg = {0};
	char state[] = "/tmp/p11e-portal-state-XXXXXX", cmd[200];
	struct p11e_portal *p = calloc(1, sizeof(*p)), *p2 = calloc(1, sizeof(*p2));
	char tok[PORTAL_TOKEN_LEN], tok2[PORTAL_TOKEN_LEN], user[P11E_PORTAL_ID_MAX];
	char a[PORTAL_TOKEN_LEN], b[PORTAL_TOKEN_LEN];
	portal_req r;
	p11e_err err;

	if (p == NULL || p2 == NULL || mkdtemp(state) == NULL ||
	    p11e_store_open_dir(state, &cfg.store, NULL) != P11E_OK)
		return 1;
	cfg.state_dir = state;
	/* Two portals (two serve processes) on one store. */
	p->conf = p2->conf = &conf;
	p->cfg = p2->cfg = &cfg;
	CHECK_RC(portal_csrf_key_load(p, &err), P11E_OK, &err);
	CHECK_RC(portal_csrf_key_load(p2, &err), P11E_OK, &err);
	CHECK(memcmp(p->csrf_key, p2->csrf_key, sizeof(p->csrf_key)) == 0); /* one key */

	/* Sessions: random, distinct, looked up in constant time, expiring. */
	CHECK_RC(portal_session_new(p, "alice@example.com", NULL, tok, &err), P11E_OK, &err);
	CHECK_RC(portal_session_new(p, "bob@example.com", NULL, tok2, &err), P11E_OK, &err);
	CHECK(strlen(tok) == PORTAL_TOKEN_LEN - 1 && strcmp(tok, tok2) != 0);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user), NULL) == 1);
	CHECK(strcmp(user, "alice@example.com") == 0);
	CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user), NULL) == 1);
	CHECK(strcmp(user, "bob@example.com") == 0);
	tok2[0] = tok2[0] == 'A' ? 'B' : 'A';
	CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user), NULL) == 0);
	CHECK(portal_session_user(p, "", user, NULL, sizeof(user), NULL) == 0);
	CHECK(portal_session_user(p, "short", user, NULL, sizeof(user), NULL) == 0);
	/* Ended (sign-out): the slot wiped, the token refused from then on. */
	CHECK_RC(portal_session_new(p, "erin@example.com", NULL, tok2, &err), P11E_OK, &err);
	CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user), NULL) == 1);
	CHECK(portal_session_end(p, tok2) == 1);
	CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user), NULL) == 0);
	CHECK(portal_session_end(p, tok2) == 0);
	CHECK(portal_session_end(p, "short") == 0);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user), NULL) == 1); /* alice's stays */
	/* The other portal sees alice's session; ended there, it is over here. */
	{
		time_t ends = 0;
		char email[P11E_PORTAL_ID_MAX];
		struct stat st;

		CHECK_RC(portal_session_new(p, "dave@example.com", "Dave@Example.com", tok2, &err),
			 P11E_OK, &err);
		CHECK(portal_session_user(p2, tok2, user, email, sizeof(user), &ends) == 1);
		CHECK(strcmp(user, "dave@example.com") == 0 &&
		      strcmp(email, "Dave@Example.com") == 0);
		CHECK(ends > 0);
		/* The token is nowhere in the store; its document is 0600. */
		snprintf(cmd, sizeof(cmd), "grep -rqF -- '%s' %s", tok2, state);
		CHECK(check_sh(cmd) == 1);
		snprintf(cmd, sizeof(cmd), "%s/portal/sessions", state);
		CHECK(stat(cmd, &st) == 0 && (st.st_mode & 077) == 0);
		CHECK(count_docs(cfg.store, "session") == 3); /* alice, bob, dave */
		CHECK(portal_session_end(p2, tok2) == 1);
		CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user), NULL) == 0);
		CHECK(count_docs(cfg.store, "session") == 2);
	}
#ifdef P11ENROLL_TEST_HOOKS
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:00:00Z", 1);
	CHECK_RC(portal_session_new(p, "carol@example.com", NULL, tok, &err), P11E_OK, &err);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:09:59Z", 1);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user), NULL) == 1);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:10:00Z", 1);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user), NULL) == 0); /* expired */
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:05:00Z", 1);
	CHECK(portal_session_user(p, tok, user, NULL, sizeof(user), NULL) == 0); /* and forgotten */

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

	/* Two portals count one client's failures together: an attacker
	 * going from one to the other meets the same delays and cap. */
	setenv("P11ENROLL_TEST_NOW", "1767250000", 1);
	portal_attempt_failed(p, "192.0.2.60", "alt@example.com");
	CHECK(portal_attempt_wait(p2, "192.0.2.60", "alt@example.com") == 1);
	setenv("P11ENROLL_TEST_NOW", "1767250001", 1);
	portal_attempt_failed(p2, "192.0.2.60", "alt@example.com");
	CHECK(portal_attempt_wait(p, "192.0.2.60", "alt@example.com") == 2);
	for (int i = 0; i < PORTAL_ATTEMPTS_PER_CLIENT - 2; i++) {
		char email[40];

		snprintf(email, sizeof(email), "alt%d@example.com", i);
		portal_attempt_failed(i % 2 ? p : p2, "192.0.2.60", email);
	}
	CHECK(portal_attempt_wait(p, "192.0.2.60", "next@example.com") ==
	      PORTAL_ATTEMPTS_WINDOW - 1);
	CHECK(portal_attempt_wait(p2, "192.0.2.60", "next@example.com") ==
	      PORTAL_ATTEMPTS_WINDOW - 1);

	/* The sweep: sessions over and counts nothing depends on go, the
	 * others stay (a count an hour old is over only for a pair whose
	 * delay has passed; the client's window is 15 minutes). */
	{
		size_t before = count_docs(cfg.store, "attempt");

		/* The earlier counts are hours old: only .60's 20 stay (its
		 * client and 19 pairs). */
		CHECK(before > 40);
		/* alice's and bob's sessions were made on the real clock. */
		CHECK(count_docs(cfg.store, "session") == 2);
		remove_all(cfg.store, "session");
		CHECK(portal_state_sweep(p) == before - 20);
		CHECK(count_docs(cfg.store, "attempt") == 20);
		CHECK(portal_state_sweep(p2) == 0); /* nothing more is over */
		CHECK(portal_attempt_wait(p, "192.0.2.60", "next@example.com") ==
		      PORTAL_ATTEMPTS_WINDOW - 1);
		CHECK_RC(portal_session_new(p, "frank@example.com", NULL, tok2, &err), P11E_OK,
			 &err);
		setenv("P11ENROLL_TEST_NOW", "1767250901", 1); /* .60's window is over */
		CHECK(portal_attempt_wait(p, "192.0.2.60", "next@example.com") == 0);
		portal_attempt_failed(p, "192.0.2.61", "late@example.com");
		/* An hour after .60's last failures; .61's window is over too,
		 * its pair's hour is not; frank's 10 minutes are. */
		setenv("P11ENROLL_TEST_NOW", "1767253700", 1);
		CHECK(portal_state_sweep(p2) == 20 + 1 + 1);
		CHECK(count_docs(cfg.store, "attempt") == 1);
		CHECK(count_docs(cfg.store, "session") == 0);
		CHECK(portal_session_user(p, tok2, user, NULL, sizeof(user), NULL) == 0);
		setenv("P11ENROLL_TEST_NOW", "1767300000", 1);
		CHECK(portal_state_sweep(p) == 1);
		CHECK(count_docs(cfg.store, "attempt") == 0);
	}
	/* Four threads, two on each portal, failing at once for one client:
	 * every failure is counted (the store's lock around each change). */
	{
		pthread_t t[RACE_THREADS];
		counter_arg args[RACE_THREADS];

		for (int i = 0; i < RACE_THREADS; i++) {
			args[i].p = i % 2 ? p : p2;
			args[i].id = i;
			CHECK(pthread_create(&t[i], NULL, count_failures, &args[i]) == 0);
		}
		for (int i = 0; i < RACE_THREADS; i++)
			pthread_join(t[i], NULL);
		CHECK(stored_failures(cfg.store, "client 192.0.2.70") ==
		      RACE_THREADS * RACE_FAILURES);
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

	/* The one key is kept: a restarted portal takes it again. */
	{
		unsigned char key[sizeof(p->csrf_key)];

		memcpy(key, p->csrf_key, sizeof(key));
		memset(p->csrf_key, 0, sizeof(p->csrf_key));
		CHECK_RC(portal_csrf_key_load(p, &err), P11E_OK, &err);
		CHECK(memcmp(key, p->csrf_key, sizeof(key)) == 0);
	}
	p11e_store_close(cfg.store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", state);
	check_sh(cmd);
	free(p2);
	free(p);
	return check_done();
}
