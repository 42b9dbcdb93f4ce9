/* What the portal's files share (src/portal/): not public. */
#ifndef P11ENROLL_PORTAL_INT_H
#define P11ENROLL_PORTAL_INT_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>
#include <sys/types.h>
#include <sys/time.h>
#include <openssl/types.h>
#include "p11enroll/error.h"
#include "p11enroll/portal.h"

struct evhttp_request;
struct p11e_session;
struct bufferevent;
struct evconnlistener;
typedef struct portal_conn portal_conn; /* portal_conn.c */
struct portal_client;			/* portal_conn.c */

/* Failed code sign-ins (docs/portal.md, Security model): per (client, email
 * address) pair a growing delay, the n-th failure making the pair wait
 * 2^(n-1) seconds up to the cap, forgotten an hour after its last failure;
 * per client (an IPv4 address or an IPv6 /64) at most PER_CLIENT failures in
 * a window. No limit per address across clients: nobody can lock a user out.
 * Each count is a document of the store (portal_state.c), so that every
 * serve process on one store counts the same failures; stale ones are
 * swept every PORTAL_SWEEP_SECONDS, with expired sessions. */
#define PORTAL_SWEEP_SECONDS (5 * 60)
#define PORTAL_PAIR_DELAY_CAP (15 * 60)
#define PORTAL_PAIR_FORGET (60 * 60)
#define PORTAL_ATTEMPTS_PER_CLIENT 20
#define PORTAL_ATTEMPTS_WINDOW (15 * 60)
#define PORTAL_TOKEN_LEN 44 /* 43 characters and the NUL */

/* A count's key: "client UNIT", "pair CLIENT EMAIL". */
#define PORTAL_ATTEMPT_KEY_MAX (P11E_PORTAL_ID_MAX + 72)

typedef struct portal_attempts {
	int failures;
	long long since; /* the first failure (of the client's window), ms */
	long long last;	 /* the last failure, ms */
} portal_attempts;

/* What a watched file was when it was read: a change of any is a reload. */
typedef struct portal_file_id {
	int present;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
} portal_file_id;

#define PORTAL_WATCHED_FILES 3 /* tls_cert, tls_key (a file), client_cas */

typedef struct portal_worker {
	struct p11e_portal *portal;
	struct event_base *base;
	struct evhttp *http;
	struct event *stop_ev;
	pthread_t thread;
	int started;
	struct evconnlistener *listener; /* evhttp's, on the shared socket */
	struct event *tick_ev;		 /* every second: resumes a paused accept */
	int accept_paused;		 /* after an accept error (EMFILE) */
	int pending;			 /* accepted, not yet admitted */
	int listening;			 /* the listener is enabled */
	portal_conn *conns;		 /* its connections (portal_conn.c) */
} portal_worker;

struct p11e_portal {
	const p11e_config *cfg;
	const p11e_portal_conf *conf;
	/* ssl and client_store are swapped by a reload (portal_trust.c): read
	 * them only through portal_tls_new_ssl and portal_tls_store. */
	pthread_mutex_t trust_mu;
	SSL_CTX *ssl;
	X509_STORE *client_store; /* client_cas: the only trust anchors */
	/* The files ssl and client_store were made of, those a failed reload
	 * saw (not retried until they change again), those of the last look. */
	portal_file_id loaded[PORTAL_WATCHED_FILES];
	portal_file_id tried[PORTAL_WATCHED_FILES];
	portal_file_id seen[PORTAL_WATCHED_FILES];
	struct p11e_session *tls_token; /* a tls_key on a token, else NULL */
	EVP_PKEY *tls_key;		/* a token's key: kept across reloads */
	unsigned char csrf_key[32];	/* the store's (portal_csrf_key_load): shared */
	struct event *sweep_ev;		/* on the first worker: portal_state_sweep */
	int listen_fd;
	int stop_pipe[2];
	char address[80];
	int nworkers;
	portal_worker *workers;
	/* Connections and limits (portal_conn.c), under conns_mu. */
	pthread_mutex_t conns_mu;
	int conns_mu_ready;
	long max_conns;		       /* portal.max_connections, maybe lowered */
	long max_per_client;	       /* portal.max_connections_per_client */
	long nconns;		       /* open, admitted */
	struct portal_client *clients; /* max_conns slots */
	struct timeval request_timeout;
	time_t accept_warned; /* the last accept error logged */
	long accept_errors;   /* since then */
};

/* One request as the handlers see it. */
typedef struct portal_req {
	struct p11e_portal *p;
	struct evhttp_request *req;
	char client[64];		/* the peer's address */
	char user[P11E_PORTAL_ID_MAX];	/* "" : not signed in */
	char email[P11E_PORTAL_ID_MAX]; /* user's address as its certificate or invitation spells it
					 */
	const char *auth;		/* "certificate" or "code" */
	char session[PORTAL_TOKEN_LEN]; /* the session cookie's token, or "" */
	time_t session_expires;		/* when that session ends */
	char cert_problem[160];		/* why a presented certificate was refused */
	char csrf[PORTAL_TOKEN_LEN];	/* the token the user's forms must carry */
	int html;			/* a page route: errors answer as HTML pages */
	const char *cache_control;	/* NULL: "no-store" (static files: cacheable) */
} portal_req;

/* portal_tls.c: the server's SSL_CTX (TLS 1.2+, a client certificate asked
 * for, never required: the application decides) and the client store. */
p11e_rc portal_tls_setup(struct p11e_portal *p, p11e_err *err);
void portal_tls_free(struct p11e_portal *p);
/* A new, consistent pair from the files (a token's key as loaded). */
p11e_rc portal_tls_build(struct p11e_portal *p, SSL_CTX **ssl, X509_STORE **store, p11e_err *err);
/* portal_trust.c: the current SSL_CTX and client store, each reference
 * counted, so a reload swaps them under a connection or request in flight.
 * An SSL for a new connection from the current SSL_CTX (NULL: none). */
SSL *portal_tls_new_ssl(struct p11e_portal *p);
/* The current client store, referenced: X509_STORE_free it after use. */
X509_STORE *portal_tls_store(struct p11e_portal *p);
/* Installs ssl and store (their references taken over), freeing the old. */
void portal_tls_swap(struct p11e_portal *p, SSL_CTX *ssl, X509_STORE *store);
/* The watched files' identities now (a missing file: present 0). */
void portal_trust_stat(const struct p11e_portal *p, portal_file_id ids[PORTAL_WATCHED_FILES]);
/* The verified client certificate's first rfc822Name (a CA's certificate
 * is never a user) into user, lower-cased, and into email as it spells its
 * local part (each cap bytes):
 * 1 signed in, 0 no certificate, -1 refused (why into problem). */
int portal_tls_client_user(struct p11e_portal *p, SSL *ssl, char *user, char *email, size_t cap,
			   char *problem, size_t pcap);

/* portal_conn.c: connections and limits (docs/portal.md). setup raises the
 * descriptor limit and fits max_conns to it (after listen_on); listen makes a
 * worker's evhttp accept with a pause on errors; accepted is called for each
 * new TLS bufferevent (admission: the caps, the deadline); request_read when
 * a request has been read whole (the deadline is met; re-armed once its
 * answer is sent). stopping before evhttp_free, worker_free after it. */
p11e_rc portal_conn_setup(struct p11e_portal *p, p11e_err *err);
void portal_conn_free(struct p11e_portal *p);
p11e_rc portal_conn_listen(portal_worker *w, p11e_err *err);
void portal_conn_accepted(struct p11e_portal *p, struct event_base *base, struct bufferevent *bev);
void portal_conn_request_read(struct evhttp_request *req);
void portal_conn_worker_stopping(portal_worker *w);
void portal_conn_worker_free(portal_worker *w);

/* portal_session.c: sessions, documents of the store named by their
 * token's SHA-256. A session for user (the identity: lower-cased) whose
 * address is spelt email (NULL: as user); its token into token. */
p11e_rc portal_session_new(struct p11e_portal *p, const char *user, const char *email, char *token,
			   p11e_err *err);
/* The user of a live session (and, when email is not NULL, its spelling),
 * each cap bytes, and when it ends (unless expires is NULL): 1, else 0
 * (unknown, expired: removed, or the store cannot say). */
int portal_session_user(struct p11e_portal *p, const char *token, char *user, char *email,
			size_t cap, time_t *expires);
/* Ends the session of token (its document removed): 1, or 0 when there is
 * none. */
int portal_session_end(struct p11e_portal *p, const char *token);
/* The CSRF key from the store into p->csrf_key, made there by the first
 * serve process that finds none. */
p11e_rc portal_csrf_key_load(struct p11e_portal *p, p11e_err *err);
/* Removes expired sessions and stale counts (at start and every
 * PORTAL_SWEEP_SECONDS): how many. */
size_t portal_state_sweep(struct p11e_portal *p);
/* portal_state.c: failed sign-in counts and CSRF tokens. */
/* Code sign-ins of email (lower-cased, valid) from client: 0 when it may
 * try now, else the seconds to wait (the pair's delay or the client's
 * window). A failure is counted for the pair and the client; a success
 * forgets the pair. */
long portal_attempt_wait(struct p11e_portal *p, const char *client, const char *email);
void portal_attempt_failed(struct p11e_portal *p, const char *client, const char *email);
void portal_attempt_succeeded(struct p11e_portal *p, const char *client, const char *email);
/* The unit the client's limit counts: an IPv4 address as is, an IPv6
 * address's /64 ("2001:db8:1:2::/64"; a v4-mapped one as IPv4). */
void portal_client_unit(const char *client, char *out, size_t cap);
/* Removes the stale counts: how many. */
size_t portal_attempts_sweep(struct p11e_portal *p);
/* The CSRF token for a request's sign-in (r->csrf). */
void portal_csrf_for(struct p11e_portal *p, const char *who, char out[PORTAL_TOKEN_LEN]);
int portal_csrf_ok(const portal_req *r, const char *given);

/* portal_http.c: answers. Every one carries no-store, CSP and HSTS. */
void portal_send(portal_req *r, int code, const char *type, const void *body, size_t len,
		 const char *extra_name, const char *extra_value);
void portal_send_json(portal_req *r, int code, struct json_object *doc);
void portal_send_error(portal_req *r, int code, const char *msg);
/* The request body as a NUL-terminated string (at most max): malloc'd. */
char *portal_body(portal_req *r, size_t max, size_t *len);
const char *portal_header(portal_req *r, const char *name);

/* portal_origin.c: a state-changing request (any method but GET and HEAD)
 * from a browser must come from the portal's own pages (Origin,
 * Sec-Fetch-Site): 1, else a 403 is sent and 0. */
int portal_origin_check(portal_req *r);

/* portal_signout.c: POST /signout (the form; 303 to / with the cookie
 * cleared) and DELETE /api/v1/session. */
void portal_page_signout(portal_req *r);
void portal_api_signout(portal_req *r);
/* The Set-Cookie value of a new session (r->session), or of none (clear). */
void portal_session_cookie(const portal_req *r, int clear, char *out, size_t cap);

/* portal_api.c and portal_html.c: the handlers. */
void portal_api_dispatch(portal_req *r, p11e_portal_route route, const char *id, int post,
			 const char *query);
void portal_html_dispatch(portal_req *r, p11e_portal_route route, const char *id, int post);
/* portal_page_util.c: an error as an HTML page (page routes, r->html), and
 * the answer to a path no route has (HTML, or JSON under /api/). */
void portal_page_error(portal_req *r, int code, const char *msg);
void portal_not_found(portal_req *r, const char *path);
/* portal_api_revoke.c: POST /api/v1/identities/ID/revoke. */
void portal_api_revoke(portal_req *r, const char *id);

/* Shared by both: the operations, each audited before anything is sent. */
struct p11e_record;
/* r->user's record for id: 0 ok; else an answer was sent (401/403/404). */
int portal_own_record(portal_req *r, const char *id, struct p11e_record *rec);
/* The escrowed PFX password of rec's current generation (malloc'd; wipe it
 * with p11e_secret_free). */
p11e_rc portal_reveal(portal_req *r, const struct p11e_record *rec, char **password, size_t *len,
		      p11e_err *err);
/* Sign-in with a code: 0 signed in (cookie into r->session), else the HTTP
 * code to answer with and msg. */
int portal_sign_in(portal_req *r, const char *email, const char *code, p11e_err *err);
/* A new software identity of profile for r->user, audited: 201 (issued) or
 * 202 (the CA has not yet) with *rec; else the HTTP status and *msg. */
int portal_request_identity(portal_req *r, const char *profile, struct p11e_record *rec,
			    const char **msg);
/* A key the portal may renew: a software one (a card's, also an archived
 * key's, is renewed where the card is). */
int portal_renewable(const struct p11e_record *rec);
/* rec is inside its profile's renewal window (renew_within_days, as
 * `p11enroll renew` reads it; 30 days when the config cannot say): GET
 * /api/v1/me's "renewal_due" and the page's Renew button. */
int portal_renewal_due(const portal_req *r, const struct p11e_record *rec);
/* r->user's identity rec renewed through p11e_renew when it is due,
 * audited "portal-renew": 201 (renewed) or 202 (the CA has not issued yet)
 * with *res; else the HTTP status (409 not due, a card's key or busy; 500)
 * and why into msg (cap bytes), a sentence for the user. */
struct p11e_renew_result;
int portal_renew_identity(portal_req *r, const struct p11e_record *rec,
			  struct p11e_renew_result *res, char *msg, size_t cap);
/* portal_ops_history.c: r->user's software identity rec revoked (reason
 * keyCompromise) through p11e_revoke_identity, audited "portal-revoke":
 * 200, else the HTTP status and why into msg (a sentence for the user). */
int portal_revoke_identity(portal_req *r, const struct p11e_record *rec, char *msg, size_t cap);
/* 0 when rec may be revoked here, else the HTTP status and why into msg. */
int portal_revocable(portal_req *r, const struct p11e_record *rec, char *msg, size_t cap);
/* A new certificate after the current one was revoked: a new generation
 * through p11e_renew (a revoked certificate is due), audited
 * "portal-request": as portal_request_identity. */
int portal_request_replacement(portal_req *r, const char *profile,
			       const struct p11e_record *revoked, struct p11e_record *rec,
			       const char **msg);
/* portal_ops_cards.c: r->user's cards (those their identity's current
 * generation went onto) as a JSON array of {serial, state (null: not in
 * the registry), label, manufacturer, model, since, generations} into
 * *cards (new reference): 0. */
struct json_object;
int portal_user_cards(portal_req *r, struct json_object **cards);
/* 0 when serial is one of r->user's cards, else the HTTP status (400 a bad
 * serial, 401, 403 not theirs or unknown: the same answer) and why. */
int portal_own_card(portal_req *r, const char *serial, char *msg, size_t cap);
/* "I lost my card": r->user's card moved "lost" (p11e_card_move: held,
 * operator "portal:USER", reason "reported lost in the portal: WORDS"),
 * audited "portal-card-lost" too: 200 (*already: it was reported lost
 * before, nothing changed), else the HTTP status (403, 404 not in the
 * registry, 409 a state it cannot be lost from, busy, 500) and why. */
int portal_report_card_lost(portal_req *r, const char *serial, const char *words, int *already,
			    char *msg, size_t cap);
/* 0 when r->user's card serial may be reported lost now (issued or
 * suspended), else the status (as portal_own_card; 404 not in the
 * registry; 409 already lost or another state) and why: the confirmation
 * page. */
int portal_card_lostable(portal_req *r, const char *serial, char *msg, size_t cap);
/* What a user may say about the loss: at most PORTAL_CARD_REASON_MAX
 * bytes, no control character (it goes into the card's history, the audit
 * and the helpdesk's notification): 1, else 0. */
#define PORTAL_CARD_REASON_MAX 200
int portal_card_reason_ok(const char *words);
/* portal_api_cards.c: GET /api/v1/cards, POST /api/v1/cards/SERIAL/lost. */
void portal_api_cards(portal_req *r);
void portal_api_card_lost(portal_req *r, const char *serial);
void portal_audit(portal_req *r, const char *action, const char *identity, p11e_rc outcome,
		  const p11e_err *outcome_err, p11e_rc *audit_rc, p11e_err *err);

/* 32 random bytes as base64url without padding (43 characters) into out
 * (>= 44 bytes): session ids, invitation codes. */
p11e_rc portal_random_token(char *out, size_t cap, p11e_err *err);
/* base64url without padding of len bytes into out (cap >= 4*len/3+2). */
void portal_base64url(const unsigned char *in, size_t len, char *out, size_t cap);
/* Lowercase hex SHA-256 of text into out[65]. */
void portal_sha256_hex(const char *text, size_t len, char out[65]);

#endif
