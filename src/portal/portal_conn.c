/* Connections and limits (docs/portal.md, "Connections and limits"): what
 * keeps `serve` up when a peer opens more connections than it has
 * descriptors, holds them open, or trickles a request.
 *
 * - Accepting: each worker's evhttp accepts on the shared listening socket
 *   through libevent's listener, which without an error callback retries a
 *   failing accept() at once and logs each failure: on EMFILE that is a
 *   spin writing megabytes a second. Here an accept error pauses the
 *   worker's listener; its next tick (every second) or one of its
 *   connections closing resumes it, and the error is logged at most once
 *   in 10 s with a count.
 * - Caps: connections in all (portal.max_connections, lowered at start to
 *   what the descriptor limit holds) and per client address (an IPv6
 *   client's /64), counted across the workers under conns_mu. evhttp 2.1
 *   offers no hook between accept() and its connection: the TLS
 *   bufferevent it asks for (new_tls_connection) schedules an admission
 *   check that runs right after, before the connection reads a byte; a
 *   connection over a cap is closed there.
 * - A deadline: evhttp's timeout restarts on every read, so a client
 *   trickling a byte a second would hold its connection forever. Each
 *   connection has one timer, portal.request_timeout_seconds, armed when
 *   it is admitted (the TLS handshake, the first request) and again when an
 *   answer has been sent (the wait for the next request, the request
 *   itself), stopped when a request has been read whole. When it fires the
 *   connection is closed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include "portal_int.h"

/* Descriptors kept free for what a request opens (the audit log and its
 * head, lock files, the vault, the token, the CRL): a base, and more per
 * worker since each may run a request at once. */
#define PORTAL_FD_RESERVE_BASE 16
#define PORTAL_FD_RESERVE_PER_WORKER (8 + PORTAL_ACCEPT_BATCH)
/* Connections a worker accepts before their admission has run (it runs
 * right after the listener's callback, which accepts until the backlog is
 * empty): a burst holds at most this many descriptors beyond the caps. */
#define PORTAL_ACCEPT_BATCH 8
#define PORTAL_ACCEPT_RETRY_SECONDS 1
#define PORTAL_ACCEPT_WARN_SECONDS 10

struct portal_conn {
	portal_worker *w;
	struct bufferevent *bev;	 /* held (incref) while c lives */
	struct evhttp_connection *evcon; /* NULL until admitted */
	struct event *timer;		 /* the admission, then the deadline */
	unsigned char client[16];	 /* the key counted in p->clients */
	struct portal_conn *prev, *next; /* the worker's connections */
};

struct portal_client {
	unsigned char addr[16];
	int open; /* 0: a free slot */
};

/* Descriptors open now (before the workers exist). */
static int fds_in_use(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 64; /* no /proc: a guess on the safe side */
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own */
}

p11e_rc portal_conn_setup(struct p11e_portal *p, p11e_err *err)
{
	const p11e_portal_conf *c = p->conf;
	struct rlimit rl;
	long room;

	p->max_conns = c->max_connections;
	p->max_per_client = c->max_connections_per_client;
	p->request_timeout.tv_sec = c->request_timeout_seconds;
	p->request_timeout.tv_usec = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		/* The hard limit is the administrator's (LimitNOFILE=); the soft
		 * one is often 1024 for compatibility with select(): raise it. */
		if (rl.rlim_cur < rl.rlim_max) {
			struct rlimit up = rl;

			up.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &up) == 0)
				rl = up;
		}
		room = rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
		room -= fds_in_use() + PORTAL_FD_RESERVE_BASE +
			PORTAL_FD_RESERVE_PER_WORKER * (long)c->workers;
		if (room < 1)
			return p11e_errf(err, P11E_FAIL,
					 "portal: the descriptor limit (%ld) leaves no room for "
					 "connections; raise it (LimitNOFILE=, ulimit -n)",
					 (long)rl.rlim_cur);
		if (room < p->max_conns) {
			fprintf(stderr,
				"p11enroll serve: the descriptor limit (%ld) holds %ld "
				"connections: portal.max_connections %ld lowered to %ld (raise "
				"LimitNOFILE= or ulimit -n)\n",
				(long)rl.rlim_cur, room, p->max_conns, room);
			p->max_conns = room;
		}
	}
	if ((p->clients = calloc((size_t)p->max_conns, sizeof(*p->clients))) == NULL)
		return p11e_errf(err, P11E_FAIL, "portal: out of memory");
	pthread_mutex_init(&p->conns_mu, NULL);
	p->conns_mu_ready = 1;
	return P11E_OK;
}

void portal_conn_free(struct p11e_portal *p)
{
	free(p->clients);
	p->clients = NULL;
	if (p->conns_mu_ready)
		pthread_mutex_destroy(&p->conns_mu);
	p->conns_mu_ready = 0;
}

/* The peer's address as the caps count it: IPv4 as v4-mapped IPv6, an IPv6
 * address by its /64 (one host can use a whole /64). 0 when unknown. */
static int client_key(int fd, unsigned char key[16])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(key, 0, 16);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		return 1;
	}
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		memcpy(key, a, IN6_IS_ADDR_V4MAPPED(a) ? 16 : 8);
		return 1;
	}
	return 0;
}

/* Counts a new connection from key: 1 admitted, 0 over a cap. */
static int count_in(struct p11e_portal *p, const unsigned char key[16])
{
	struct portal_client *free_slot = NULL, *mine = NULL;
	int ok = 0;

	pthread_mutex_lock(&p->conns_mu);
	for (long i = 0; i < p->max_conns && mine == NULL; i++) {
		struct portal_client *s = &p->clients[i];

		if (s->open == 0) {
			if (free_slot == NULL)
				free_slot = s;
		} else if (memcmp(s->addr, key, 16) == 0)
			mine = s;
	}
	if (p->nconns < p->max_conns && (mine == NULL || mine->open < p->max_per_client)) {
		if (mine == NULL) {
			mine = free_slot; /* there is one: fewer clients than connections */
			memcpy(mine->addr, key, 16);
		}
		mine->open++;
		p->nconns++;
		ok = 1;
	}
	pthread_mutex_unlock(&p->conns_mu);
	return ok;
}

static void count_out(struct p11e_portal *p, const unsigned char key[16])
{
	pthread_mutex_lock(&p->conns_mu);
	for (long i = 0; i < p->max_conns; i++)
		if (p->clients[i].open > 0 && memcmp(p->clients[i].addr, key, 16) == 0) {
			p->clients[i].open--;
			p->nconns--;
			break;
		}
	pthread_mutex_unlock(&p->conns_mu);
}

/* Also drops c's hold on its bufferevent. */
static void conn_unlink_free(portal_conn *c)
{
	portal_worker *w = c->w;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

	if (ssl != NULL && SSL_get_app_data(ssl) == c)
		SSL_set_app_data(ssl, NULL);
	bufferevent_decref(c->bev);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	event_free(c->timer);
	free(c);
}

/* The worker's listener runs unless accept() failed (until the tick) or a
 * batch of accepted connections waits for its admission. */
static void listener_update(portal_worker *w)
{
	int run = !w->accept_paused && w->pending < PORTAL_ACCEPT_BATCH;

	if (w->listener == NULL || run == w->listening)
		return;
	if (run)
		evconnlistener_enable(w->listener);
	else
		evconnlistener_disable(w->listener);
	w->listening = run;
}

/* evhttp frees an admitted connection (closed by either side, timed out,
 * or over the deadline below): uncount it; a paused listener may resume. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	portal_conn *c = arg;
	portal_worker *w = c->w;

	count_out(w->portal, c->client);
	conn_unlink_free(c);
	w->accept_paused = 0;
	listener_update(w);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	portal_conn *c = arg;
	struct p11e_portal *p = c->w->portal;
	void *cbarg = NULL;
	bufferevent_event_cb eventcb = NULL;
	unsigned char key[16];

	/* evhttp set its callbacks on the bufferevent with its connection as
	 * their argument; a connection it has freed has none (bufferevent_free
	 * clears them; c's hold keeps the bufferevent itself). */
	bufferevent_getcb(c->bev, NULL, NULL, &eventcb, &cbarg);
	if (c->evcon != NULL) {
		if (eventcb == NULL) { /* freed without calling on_close */
			count_out(p, c->client);
			conn_unlink_free(c);
		} else {
			evhttp_connection_free(c->evcon); /* the deadline: on_close */
		}
		return;
	}
	/* The admission. */
	c->w->pending--;
	listener_update(c->w);
	if (eventcb == NULL || cbarg == NULL || !client_key(bufferevent_getfd(c->bev), key) ||
	    !count_in(p, key)) {
		struct evhttp_connection *evcon = eventcb != NULL ? cbarg : NULL;

		conn_unlink_free(c);
		if (evcon != NULL)
			evhttp_connection_free(evcon); /* over a cap: closed at once */
		return;
	}
	memcpy(c->client, key, 16);
	c->evcon = cbarg;
	evhttp_connection_set_closecb(c->evcon, on_close, c);
	event_add(c->timer, &p->request_timeout);
}

void portal_conn_accepted(struct p11e_portal *p, struct event_base *base, struct bufferevent *bev)
{
	portal_worker *w = NULL;
	portal_conn *c;

	for (int i = 0; i < p->nworkers && w == NULL; i++)
		if (p->workers[i].base == base)
			w = &p->workers[i];
	if (w == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	if ((c->timer = event_new(base, -1, 0, on_timer, c)) == NULL) {
		free(c);
		return;
	}
	c->w = w;
	c->bev = bev;
	bufferevent_incref(bev);
	SSL_set_app_data(bufferevent_openssl_get_ssl(bev), c);
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->pending++;
	listener_update(w); /* ends the listener's accept loop at a batch */
	/* Runs once evhttp has set the connection up, in this same pass of
	 * the loop: before the connection's first read. */
	event_active(c->timer, EV_TIMEOUT, 0);
}

static portal_conn *conn_of(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	portal_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;

	return c != NULL && c->evcon == evcon ? c : NULL;
}

/* The answer is out: the next request has the same time again. */
static void on_answered(struct evhttp_request *req, void *arg)
{
	portal_conn *c = arg;

	event_add(c->timer, &c->w->portal->request_timeout);
}

void portal_conn_request_read(struct evhttp_request *req)
{
	portal_conn *c = conn_of(req);

	if (c == NULL)
		return;
	event_del(c->timer);
	evhttp_request_set_on_complete_cb(req, on_answered, c);
}

/* One line at most every PORTAL_ACCEPT_WARN_SECONDS, with how many errors
 * it stands for: a descriptor shortage must not fill the journal. */
static void warn_accept(struct p11e_portal *p, int e)
{
	time_t now = time(NULL);
	long n = 0;

	pthread_mutex_lock(&p->conns_mu);
	p->accept_errors++;
	if (now - p->accept_warned >= PORTAL_ACCEPT_WARN_SECONDS) {
		n = p->accept_errors;
		p->accept_errors = 0;
		p->accept_warned = now;
	}
	pthread_mutex_unlock(&p->conns_mu);
	if (n > 0)
		fprintf(stderr,
			"p11enroll serve: cannot accept connections: %s (%ld time%s since the "
			"last such line); accepting paused until connections close%s\n",
			strerror(e), n, n == 1 ? "" : "s",
			e == EMFILE || e == ENFILE ? " (raise LimitNOFILE= or lower "
						     "portal.max_connections)"
						   : "");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	portal_worker *w = arg;

	w->accept_paused = 0;
	listener_update(w);
}

/* The worker whose loop runs: libevent hands the listener's error callback
 * only evhttp's pointer, so it is found through the worker's tick (always
 * pending). */
static int find_tick(const struct event_base *base, const struct event *ev, void *arg)
{
	if (event_get_callback(ev) != on_tick)
		return 0;
	*(portal_worker **)arg = event_get_callback_arg(ev);
	return 1;
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	int e = errno;
	portal_worker *w = NULL;

	event_base_foreach_event(evconnlistener_get_base(lev), find_tick, &w);
	/* The socket stays readable: without a pause this would run again at
	 * once, for ever. The tick or a closing connection resumes it. */
	if (w == NULL) {
		evconnlistener_disable(lev);
		return;
	}
	w->accept_paused = 1;
	listener_update(w);
	warn_accept(w->portal, e);
}

p11e_rc portal_conn_listen(portal_worker *w, p11e_err *err)
{
	struct p11e_portal *p = w->portal;
	struct evhttp_bound_socket *bound;

	struct timeval tick = {PORTAL_ACCEPT_RETRY_SECONDS, 0};

	if ((w->tick_ev = event_new(w->base, -1, EV_PERSIST, on_tick, w)) == NULL ||
	    event_add(w->tick_ev, &tick) != 0)
		return p11e_errf(err, P11E_FAIL, "portal: event loop setup failed");
	if ((bound = evhttp_accept_socket_with_handle(w->http, p->listen_fd)) == NULL ||
	    (w->listener = evhttp_bound_socket_get_listener(bound)) == NULL)
		return p11e_errf(err, P11E_FAIL, "portal: cannot accept on %s", p->address);
	evconnlistener_set_error_cb(w->listener, on_accept_error);
	w->listening = 1;
	return P11E_OK;
}

void portal_conn_worker_stopping(portal_worker *w)
{
	w->listener = NULL; /* evhttp_free frees it before the connections */
	if (w->tick_ev != NULL)
		event_free(w->tick_ev);
	w->tick_ev = NULL;
}

void portal_conn_worker_free(portal_worker *w)
{
	/* After evhttp_free: connections never admitted (or freed without
	 * on_close) are left. */
	while (w->conns != NULL)
		conn_unlink_free(w->conns);
}
