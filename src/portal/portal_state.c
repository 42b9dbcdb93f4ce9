/* The portal's memory: sessions (server-side expiry), failed sign-in counts
 * (per client, and per client and address: docs/portal.md) and CSRF tokens.
 * All of it lives in the p11e_portal, under its mutex; a restart signs
 * everybody out, which is the safe direction. */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "p11enroll/clock.h"
#include "portal_int.h"

p11e_rc portal_session_new(struct p11e_portal *p, const char *user, const char *email, char *token,
			   p11e_err *err)
{
	time_t now = p11e_now();
	portal_session *slot = NULL;
	p11e_rc rc = portal_random_token(token, PORTAL_TOKEN_LEN, err);

	if (rc != P11E_OK)
		return rc;
	pthread_mutex_lock(&p->mu);
	/* A free or expired slot, else the one closest to expiry. */
	for (size_t i = 0; i < PORTAL_MAX_SESSIONS; i++) {
		portal_session *s = &p->sessions[i];

		if (s->token[0] == '\0' || s->expires <= now) {
			slot = s;
			break;
		}
		if (slot == NULL || s->expires < slot->expires)
			slot = s;
	}
	snprintf(slot->token, sizeof(slot->token), "%s", token);
	snprintf(slot->user, sizeof(slot->user), "%s", user);
	snprintf(slot->email, sizeof(slot->email), "%s", email ? email : user);
	slot->expires = now + p->conf->session_minutes * 60;
	pthread_mutex_unlock(&p->mu);
	return P11E_OK;
}

/* The session of token, or NULL; under p->mu. */
static portal_session *find_session(struct p11e_portal *p, const char *token)
{
	if (strlen(token) != PORTAL_TOKEN_LEN - 1)
		return NULL;
	for (size_t i = 0; i < PORTAL_MAX_SESSIONS; i++) {
		portal_session *s = &p->sessions[i];

		if (s->token[0] != '\0' &&
		    CRYPTO_memcmp(s->token, token, PORTAL_TOKEN_LEN - 1) == 0)
			return s;
	}
	return NULL;
}

int portal_session_user(struct p11e_portal *p, const char *token, char *user, char *email,
			size_t cap)
{
	time_t now = p11e_now();
	portal_session *s;
	int found = 0;

	pthread_mutex_lock(&p->mu);
	if ((s = find_session(p, token)) != NULL) {
		if (s->expires > now) {
			snprintf(user, cap, "%s", s->user);
			if (email != NULL)
				snprintf(email, cap, "%s", s->email);
			found = 1;
		} else {
			memset(s, 0, sizeof(*s));
		}
	}
	pthread_mutex_unlock(&p->mu);
	return found;
}

time_t portal_session_expires(struct p11e_portal *p, const char *token)
{
	portal_session *s;
	time_t expires = 0;

	pthread_mutex_lock(&p->mu);
	if ((s = find_session(p, token)) != NULL)
		expires = s->expires;
	pthread_mutex_unlock(&p->mu);
	return expires;
}

int portal_session_end(struct p11e_portal *p, const char *token)
{
	portal_session *s;
	int found = 0;

	pthread_mutex_lock(&p->mu);
	if ((s = find_session(p, token)) != NULL) {
		OPENSSL_cleanse(s, sizeof(*s));
		found = 1;
	}
	pthread_mutex_unlock(&p->mu);
	return found;
}

void portal_client_unit(const char *client, char *out, size_t cap)
{
	unsigned char a6[16];
	char text[INET6_ADDRSTRLEN];

	if (strchr(client, ':') == NULL || inet_pton(AF_INET6, client, a6) != 1) {
		snprintf(out, cap, "%s", client);
		return;
	}
	/* ::ffff:a.b.c.d is an IPv4 client. */
	if (memcmp(a6, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
	    inet_ntop(AF_INET, a6 + 12, text, sizeof(text)) != NULL) {
		snprintf(out, cap, "%s", text);
		return;
	}
	/* One host's share of IPv6 is a /64: its addresses count as one. */
	memset(a6 + 8, 0, 8);
	if (inet_ntop(AF_INET6, a6, text, sizeof(text)) == NULL)
		snprintf(text, sizeof(text), "%s", client);
	snprintf(out, cap, "%s/64", text);
}

static void attempt_keys(const char *client, const char *email, char *ckey, char *pkey, size_t cap)
{
	char unit[INET6_ADDRSTRLEN + 4];

	portal_client_unit(client, unit, sizeof(unit));
	snprintf(ckey, cap, "client %s", unit);
	/* The pair is the exact address: a neighbour in the /64 is another. */
	snprintf(pkey, cap, "pair %.64s %.254s", client, email);
}

/* The attempts' clock in milliseconds, so a 1 s delay is one second and
 * not "until the clock's next second". p11e_now() unless a test moved it
 * (P11ENROLL_TEST_NOW: then its whole seconds), with the real clock's
 * milliseconds. */
static long long attempt_now_ms(void)
{
	struct timespec ts;
	time_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = p11e_now();
	if (now != ts.tv_sec)
		return (long long)now * 1000;
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An entry nothing depends on any more: the client's window is over, or
 * the pair's delay has passed long ago. */
static int attempt_stale(const portal_attempts *a, long long now)
{
	if (strncmp(a->key, "client ", 7) == 0)
		return now - a->since >= PORTAL_ATTEMPTS_WINDOW * 1000LL;
	return now - a->last >= PORTAL_PAIR_FORGET * 1000LL;
}

/* The entry for key: found (reset when stale), else made when create (a
 * free or stale slot, else the least recently failed one), else NULL.
 * Under p->mu. */
static portal_attempts *attempts_entry(struct p11e_portal *p, const char *key, long long now,
				       int create)
{
	portal_attempts *free_slot = NULL, *oldest = NULL, *victim;

	for (size_t i = 0; i < PORTAL_MAX_ATTEMPTS; i++) {
		portal_attempts *a = &p->attempts[i];

		if (a->key[0] == '\0') {
			if (free_slot == NULL)
				free_slot = a;
			continue;
		}
		if (strcmp(a->key, key) == 0) {
			if (!attempt_stale(a, now))
				return a;
			if (!create)
				return NULL; /* counts for nothing; reused as it is */
			a->failures = 0;
			a->since = a->last = now;
			return a;
		}
		if (free_slot == NULL && attempt_stale(a, now))
			free_slot = a;
		if (oldest == NULL || a->last < oldest->last)
			oldest = a;
	}
	if (!create)
		return NULL;
	/* Reusing a live entry only ever lets its owner try sooner: eviction
	 * never locks anybody out. */
	victim = free_slot != NULL ? free_slot : oldest;
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->failures = 0;
	victim->since = victim->last = now;
	return victim;
}

/* The n-th failure makes the pair wait 2^(n-1) s, at most the cap. */
static long long pair_delay(int failures)
{
	if (failures <= 0)
		return 0;
	if (failures > 20)
		return PORTAL_PAIR_DELAY_CAP * 1000LL;
	return 1000LL * ((1L << (failures - 1)) < PORTAL_PAIR_DELAY_CAP ? 1L << (failures - 1)
									: PORTAL_PAIR_DELAY_CAP);
}

long portal_attempt_wait(struct p11e_portal *p, const char *client, const char *email)
{
	char ckey[sizeof(p->attempts[0].key)], pkey[sizeof(p->attempts[0].key)];
	long long now = attempt_now_ms(), wait = 0, w;
	portal_attempts *a;

	attempt_keys(client, email, ckey, pkey, sizeof(ckey));
	pthread_mutex_lock(&p->mu);
	if ((a = attempts_entry(p, ckey, now, 0)) != NULL &&
	    a->failures >= PORTAL_ATTEMPTS_PER_CLIENT)
		wait = a->since + PORTAL_ATTEMPTS_WINDOW * 1000LL - now;
	if ((a = attempts_entry(p, pkey, now, 0)) != NULL &&
	    (w = a->last + pair_delay(a->failures) - now) > wait)
		wait = w;
	pthread_mutex_unlock(&p->mu);
	/* Whole seconds (Retry-After), rounded up: never too early. */
	return wait > 0 ? (long)((wait + 999) / 1000) : 0;
}

void portal_attempt_failed(struct p11e_portal *p, const char *client, const char *email)
{
	char ckey[sizeof(p->attempts[0].key)], pkey[sizeof(p->attempts[0].key)];
	long long now = attempt_now_ms();
	portal_attempts *a;

	attempt_keys(client, email, ckey, pkey, sizeof(ckey));
	pthread_mutex_lock(&p->mu);
	a = attempts_entry(p, ckey, now, 1);
	a->failures++;
	a->last = now;
	a = attempts_entry(p, pkey, now, 1);
	a->failures++;
	a->last = now;
	pthread_mutex_unlock(&p->mu);
}

void portal_attempt_succeeded(struct p11e_portal *p, const char *client, const char *email)
{
	char ckey[sizeof(p->attempts[0].key)], pkey[sizeof(p->attempts[0].key)];
	portal_attempts *a;

	attempt_keys(client, email, ckey, pkey, sizeof(ckey));
	pthread_mutex_lock(&p->mu);
	if ((a = attempts_entry(p, pkey, attempt_now_ms(), 0)) != NULL)
		memset(a, 0, sizeof(*a));
	pthread_mutex_unlock(&p->mu);
}

/* HMAC-SHA256 under the process's key: a token a page can embed and an
 * attacker's page cannot read, tied to who is signed in (or, before
 * sign-in, to the client's address). */
void portal_csrf_for(struct p11e_portal *p, const char *who, char out[PORTAL_TOKEN_LEN])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (HMAC(EVP_sha256(), p->csrf_key, sizeof(p->csrf_key), (const unsigned char *)who,
		 strlen(who), mac, &len) == NULL ||
	    len != 32) {
		out[0] = '\0'; /* portal_csrf_ok refuses an empty token */
		return;
	}
	portal_base64url(mac, 32, out, PORTAL_TOKEN_LEN);
}

int portal_csrf_ok(const portal_req *r, const char *given)
{
	return given != NULL && r->csrf[0] != '\0' && strlen(given) == strlen(r->csrf) &&
	       CRYPTO_memcmp(given, r->csrf, strlen(r->csrf)) == 0;
}
