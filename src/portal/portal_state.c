/* Failed sign-in counts (per client, and per client and address:
 * docs/portal.md) and CSRF tokens. The counts are documents of kind
 * "attempt" in the store, named by their key and changed under the store's
 * lock "portal"/"attempts", so that every `serve` process on one store
 * counts the same failures (sessions: portal_session.c). */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <json-c/json.h>
#include "p11enroll/clock.h"
#include "p11enroll/lock.h"
#include "p11enroll/store.h"
#include "portal_int.h"

#define ATTEMPT_KIND "attempt"

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

/* The documents' names: "client UNIT" and "pair CLIENT EMAIL". */
static void attempt_keys(const char *client, const char *email, char *ckey, char *pkey, size_t cap)
{
	char unit[INET6_ADDRSTRLEN + 4];

	portal_client_unit(client, unit, sizeof(unit));
	snprintf(ckey, cap, "client %s", unit);
	/* The pair is the exact address: a neighbour in the /64 is another. */
	snprintf(pkey, cap, "pair %.64s %.254s", client, email);
}

/* The attempts' clock in milliseconds, so a 1 s delay is one second and
 * not "until the clock's next second": the real clock, unless a test moved
 * p11e_now() (P11ENROLL_TEST_NOW: then its whole seconds). time(2) reads a
 * coarse clock that may lag CLOCK_REALTIME across a second's edge, so only
 * a difference of more than a second means a moved clock (a lagging one
 * taken for it made a Retry-After of 901 s in a 900 s window). */
static long long attempt_now_ms(void)
{
	struct timespec ts;
	time_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = p11e_now();
	if (now > ts.tv_sec + 1 || now < ts.tv_sec - 1)
		return (long long)now * 1000;
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An entry nothing depends on any more: the client's window is over, or
 * the pair's delay has passed long ago. */
static int attempt_stale(const char *key, const portal_attempts *a, long long now)
{
	if (strncmp(key, "client ", 7) == 0)
		return now - a->since >= PORTAL_ATTEMPTS_WINDOW * 1000LL;
	return now - a->last >= PORTAL_PAIR_FORGET * 1000LL;
}

static int member_ll(json_object *doc, const char *key, long long *out)
{
	json_object *v;

	if (!json_object_object_get_ex(doc, key, &v) || !json_object_is_type(v, json_type_int))
		return 0;
	*out = (long long)json_object_get_int64(v);
	return 1;
}

/* A count's document into a (and its key into key, cap bytes, unless
 * NULL): 1, else 0 (damaged: counts for nothing, replaced on the next
 * failure). */
static int attempts_parse(const unsigned char *data, portal_attempts *a, char *key, size_t cap)
{
	json_object *doc = json_tokener_parse((const char *)data), *k;
	long long failures = 0;
	int ok = doc != NULL && member_ll(doc, "failures", &failures) &&
		 member_ll(doc, "since", &a->since) && member_ll(doc, "last", &a->last) &&
		 failures >= 0 && failures <= 1000000;

	if (ok && key != NULL)
		ok = json_object_object_get_ex(doc, "key", &k) &&
		     json_object_is_type(k, json_type_string) &&
		     (size_t)json_object_get_string_len(k) < cap &&
		     snprintf(key, cap, "%s", json_object_get_string(k)) > 0;
	a->failures = ok ? (int)failures : 0;
	json_object_put(doc);
	return ok;
}

/* A count's document is named by its key's SHA-256: an address is not a
 * file name, and every name has one length. */
static void attempts_name(const char *key, char name[65])
{
	portal_sha256_hex(key, strlen(key), name);
}

/* The live count of key into a (else a zeroed): 1; 0 when there is none
 * (or only a stale or damaged one); -1 when the store cannot say. */
static int attempts_read(struct p11e_portal *p, const char *key, long long now, portal_attempts *a)
{
	unsigned char *data = NULL;
	char name[65];
	size_t len = 0;
	p11e_err err;
	p11e_rc rc;
	int live;

	attempts_name(key, name);
	rc = p11e_store_get(p->cfg->store, ATTEMPT_KIND, name, &data, &len, &err);
	memset(a, 0, sizeof(*a));
	if (rc != P11E_OK) {
		if (rc == P11E_NOT_FOUND)
			return 0;
		fprintf(stderr, "p11enroll serve: sign-in count: %s\n", err.msg);
		return -1;
	}
	live = attempts_parse(data, a, NULL, 0) && !attempt_stale(key, a, now);
	free(data);
	if (!live)
		memset(a, 0, sizeof(*a));
	return live;
}

static p11e_rc attempts_write(struct p11e_portal *p, const char *key, const portal_attempts *a,
			      p11e_err *err)
{
	json_object *doc = json_object_new_object();
	const char *text;
	char name[65];
	p11e_rc rc;

	if (doc == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	attempts_name(key, name);
	json_object_object_add(doc, "key", json_object_new_string(key));
	json_object_object_add(doc, "failures", json_object_new_int(a->failures));
	json_object_object_add(doc, "since", json_object_new_int64(a->since));
	json_object_object_add(doc, "last", json_object_new_int64(a->last));
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	/* Not asked to be durable: a count lost in a crash lets one client
	 * try a little sooner, never anyone in. */
	rc = p11e_store_put(p->cfg->store, ATTEMPT_KIND, name, text, strlen(text), 0, err);
	json_object_put(doc);
	return rc;
}

/* The lock every change of a count is made under, so that two processes
 * (or two workers) counting a failure at once count two. */
static p11e_rc attempts_lock(struct p11e_portal *p, p11e_lock *lock)
{
	p11e_err err;
	p11e_rc rc = p11e_lock_acquire(p->cfg->store, "portal", "attempts",
				       P11E_LOCK_WAIT_DEFAULT_MS, lock, &err);

	if (rc != P11E_OK)
		fprintf(stderr, "p11enroll serve: sign-in count: %s\n", err.msg);
	return rc;
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
	char ckey[PORTAL_ATTEMPT_KEY_MAX], pkey[PORTAL_ATTEMPT_KEY_MAX];
	long long now = attempt_now_ms(), wait = 0, w;
	portal_attempts a;

	/* Read without the lock: each document is whole, and a count that
	 * grows just after this read only makes the next try wait. */
	attempt_keys(client, email, ckey, pkey, sizeof(ckey));
	if (attempts_read(p, ckey, now, &a) > 0 && a.failures >= PORTAL_ATTEMPTS_PER_CLIENT)
		wait = a.since + PORTAL_ATTEMPTS_WINDOW * 1000LL - now;
	if (attempts_read(p, pkey, now, &a) > 0 && (w = a.last + pair_delay(a.failures) - now) > wait)
		wait = w;
	/* Whole seconds (Retry-After), rounded up: never too early. */
	return wait > 0 ? (long)((wait + 999) / 1000) : 0;
}

void portal_attempt_failed(struct p11e_portal *p, const char *client, const char *email)
{
	char ckey[PORTAL_ATTEMPT_KEY_MAX], pkey[PORTAL_ATTEMPT_KEY_MAX];
	const char *keys[2] = {ckey, pkey};
	p11e_lock lock = P11E_LOCK_INIT;
	long long now;
	p11e_err err;

	attempt_keys(client, email, ckey, pkey, sizeof(ckey));
	if (attempts_lock(p, &lock) != P11E_OK)
		return;
	now = attempt_now_ms();
	for (size_t i = 0; i < 2; i++) {
		portal_attempts a;

		if (attempts_read(p, keys[i], now, &a) <= 0) /* none or stale: a new one */
			a.since = now;
		a.failures++;
		a.last = now;
		if (attempts_write(p, keys[i], &a, &err) != P11E_OK)
			fprintf(stderr, "p11enroll serve: sign-in count: %s\n", err.msg);
	}
	p11e_lock_release(&lock);
}

void portal_attempt_succeeded(struct p11e_portal *p, const char *client, const char *email)
{
	char ckey[PORTAL_ATTEMPT_KEY_MAX], pkey[PORTAL_ATTEMPT_KEY_MAX], name[65];
	p11e_lock lock = P11E_LOCK_INIT;
	p11e_err err;
	p11e_rc rc;

	attempt_keys(client, email, ckey, pkey, sizeof(ckey));
	if (attempts_lock(p, &lock) != P11E_OK)
		return;
	attempts_name(pkey, name);
	rc = p11e_store_remove(p->cfg->store, ATTEMPT_KIND, name, &err);
	if (rc != P11E_OK && rc != P11E_NOT_FOUND)
		fprintf(stderr, "p11enroll serve: sign-in count: %s\n", err.msg);
	p11e_lock_release(&lock);
}

size_t portal_attempts_sweep(struct p11e_portal *p)
{
	p11e_store_doc *docs = NULL;
	p11e_lock lock = P11E_LOCK_INIT;
	size_t n = 0, removed = 0;
	long long now = attempt_now_ms();
	p11e_err err;

	if (p11e_store_list(p->cfg->store, ATTEMPT_KIND, &docs, &n, &err) != P11E_OK) {
		fprintf(stderr, "p11enroll serve: sign-in count sweep: %s\n", err.msg);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		char key[PORTAL_ATTEMPT_KEY_MAX];
		portal_attempts a;
		int parsed = attempts_parse(docs[i].data, &a, key, sizeof(key));

		if (parsed && !attempt_stale(key, &a, now))
			continue;
		/* Checked again under the lock: a failure may have just
		 * renewed it. A damaged one goes. */
		if (lock.held == NULL && attempts_lock(p, &lock) != P11E_OK)
			break;
		if (parsed && attempts_read(p, key, now, &a) != 0)
			continue;
		if (p11e_store_remove(p->cfg->store, ATTEMPT_KIND, docs[i].name, &err) == P11E_OK)
			removed++;
	}
	p11e_lock_release(&lock);
	p11e_store_docs_free(docs, n);
	return removed;
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
