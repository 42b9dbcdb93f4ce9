/* The portal's memory: sessions (server-side expiry), failed sign-in counts
 * and CSRF tokens. All of it lives in the p11e_portal, under its mutex; a
 * restart signs everybody out, which is the safe direction. */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "p11enroll/clock.h"
#include "portal_int.h"

p11e_rc portal_session_new(struct p11e_portal *p, const char *user, char *token, p11e_err *err)
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
	slot->expires = now + p->conf->session_minutes * 60;
	pthread_mutex_unlock(&p->mu);
	return P11E_OK;
}

int portal_session_user(struct p11e_portal *p, const char *token, char *user, size_t cap)
{
	time_t now = p11e_now();
	int found = 0;

	if (strlen(token) != PORTAL_TOKEN_LEN - 1)
		return 0;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < PORTAL_MAX_SESSIONS; i++) {
		portal_session *s = &p->sessions[i];

		if (s->token[0] == '\0' ||
		    CRYPTO_memcmp(s->token, token, PORTAL_TOKEN_LEN - 1) != 0)
			continue;
		if (s->expires > now) {
			snprintf(user, cap, "%s", s->user);
			found = 1;
		} else {
			memset(s, 0, sizeof(*s));
		}
		break;
	}
	pthread_mutex_unlock(&p->mu);
	return found;
}

time_t portal_session_expires(struct p11e_portal *p, const char *token)
{
	time_t expires = 0;

	if (strlen(token) != PORTAL_TOKEN_LEN - 1)
		return 0;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < PORTAL_MAX_SESSIONS; i++)
		if (p->sessions[i].token[0] != '\0' &&
		    CRYPTO_memcmp(p->sessions[i].token, token, PORTAL_TOKEN_LEN - 1) == 0)
			expires = p->sessions[i].expires;
	pthread_mutex_unlock(&p->mu);
	return expires;
}

/* The entry for key (made, or the stalest one reused); under p->mu. */
static portal_attempts *attempts_entry(struct p11e_portal *p, const char *key, int create)
{
	time_t now = p11e_now();
	portal_attempts *free_slot = NULL, *oldest = NULL, *victim;

	for (size_t i = 0; i < PORTAL_MAX_ATTEMPTS; i++) {
		portal_attempts *a = &p->attempts[i];

		if (a->key[0] == '\0') {
			if (free_slot == NULL)
				free_slot = a;
			continue;
		}
		if (strcmp(a->key, key) == 0) {
			if (now - a->since >= PORTAL_ATTEMPTS_WINDOW) {
				a->failures = 0;
				a->since = now;
			}
			return a;
		}
		if (oldest == NULL || a->since < oldest->since)
			oldest = a;
	}
	if (!create)
		return NULL;
	/* Full: the stalest count goes. A flood of new keys can push a count
	 * out early, so the table is sized well beyond one window's clients. */
	victim = free_slot != NULL ? free_slot : oldest;
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->failures = 0;
	victim->since = now;
	return victim;
}

int portal_attempt_allowed(struct p11e_portal *p, const char *key, int max)
{
	portal_attempts *a;
	int ok;

	pthread_mutex_lock(&p->mu);
	a = attempts_entry(p, key, 0);
	ok = a == NULL || a->failures < max;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

void portal_attempt_failed(struct p11e_portal *p, const char *key)
{
	pthread_mutex_lock(&p->mu);
	attempts_entry(p, key, 1)->failures++;
	pthread_mutex_unlock(&p->mu);
}

void portal_attempt_forget(struct p11e_portal *p, const char *key)
{
	portal_attempts *a;

	pthread_mutex_lock(&p->mu);
	if ((a = attempts_entry(p, key, 0)) != NULL)
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
