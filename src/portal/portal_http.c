/* The portal's server: libevent's evhttp over bufferevent_openssl. Several
 * worker threads, each with its own event_base and evhttp accepting on the
 * one listening socket, so a request that blocks (an enrollment, a vault
 * read, a token login) stalls only its own worker. A pipe that is never read
 * stops them all: its read end stays readable for every loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* req->major, req->minor: evhttp_send_error below */
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include "portal_int.h"

/* "ADDR:PORT" ("[v6]:PORT" for IPv6) bound and listening, non-blocking. */
static p11e_rc listen_on(struct p11e_portal *p, const char *spec, p11e_err *err)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	char host[64], bound[64];
	const char *colon = strrchr(spec, ':');
	char *end;
	long port;
	int one = 1, fd;

	memset(&ss, 0, sizeof(ss));
	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host))
		goto bad;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
		goto bad;
	if (spec[0] == '[' && colon > spec + 1 && colon[-1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec - 2), spec + 1);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto bad;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		slen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		slen = sizeof(*s4);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return p11e_errf(err, P11E_FAIL, "portal: socket: %s", strerror(errno));
	p->listen_fd = fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* evhttp writes an answer's headers and body apart: with Nagle the body
	 * waited for the client's delayed ACK, about 40 ms a kept-alive request
	 * (bench/portal.sh). Accepted sockets inherit it on Linux. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, 128) != 0)
		return p11e_errf(err, P11E_FAIL,
				 "portal: cannot listen on %s: %s (another server there? use "
				 "--listen ADDR:PORT)",
				 spec, strerror(errno));
	slen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &slen) != 0)
		return p11e_errf(err, P11E_FAIL, "portal: getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, bound, sizeof(bound));
		snprintf(p->address, sizeof(p->address), "[%s]:%u", bound, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, bound, sizeof(bound));
		snprintf(p->address, sizeof(p->address), "%s:%u", bound, ntohs(s4->sin_port));
	}
	return P11E_OK;
bad:
	return p11e_errf(err, P11E_USAGE,
			 "portal: listen '%.80s' is not ADDR:PORT (127.0.0.1:8443, [::1]:8443)",
			 spec);
}

/* Everything here is personal: never cached, framed or sniffed. */
static void security_headers(struct evkeyvalq *h, const char *cache_control)
{
	evhttp_add_header(h, "Cache-Control", cache_control ? cache_control : "no-store");
	if (cache_control == NULL)
		evhttp_add_header(h, "Pragma", "no-cache");
	evhttp_add_header(h, "Content-Security-Policy",
			  "default-src 'self'; frame-ancestors 'none'; form-action 'self'");
	evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

/* libevent answers what it cannot parse itself (400 a malformed request,
 * 413 headers or a body too large, 417 an unknown Expect) with
 * evhttp_send_error, whose page clears the answer's headers first: ours
 * would never be sent, and evhttp 2.1 has no hook before it. This
 * definition takes its place (libevent calls it through the dynamic
 * linker; tests/integration/portal_limits.sh checks the headers arrive):
 * the same answer with the security headers, and the connection closed. */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();
	const char *phrase = reason != NULL ? reason
			     : error == 400 ? "Bad Request"
			     : error == 404 ? "Not Found"
			     : error == 413 ? "Payload Too Large"
			     : error == 417 ? "Expectation Failed"
			     : error == 501 ? "Not Implemented"
			     : error == 503 ? "Service Unavailable"
					    : "Error";

	if (req->major == 0 && req->minor == 0) { /* the request line never parsed */
		req->major = 1;
		req->minor = 1;
	}
	evhttp_clear_headers(h);
	security_headers(h, NULL);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(h, "Connection", "close");
	if (buf != NULL)
		evbuffer_add_printf(buf, "%d %s\n", error, phrase);
	evhttp_send_reply(req, error, phrase, buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

void portal_send(portal_req *r, int code, const char *type, const void *body, size_t len,
		 const char *extra_name, const char *extra_value)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
	struct evbuffer *buf = evbuffer_new();
	const char *reason = code == 200   ? "OK"
			     : code == 201 ? "Created"
			     : code == 303 ? "See Other"
			     : code == 400 ? "Bad Request"
			     : code == 401 ? "Unauthorized"
			     : code == 403 ? "Forbidden"
			     : code == 404 ? "Not Found"
			     : code == 405 ? "Method Not Allowed"
			     : code == 409 ? "Conflict"
			     : code == 413 ? "Payload Too Large"
			     : code == 415 ? "Unsupported Media Type"
			     : code == 429 ? "Too Many Requests"
					   : "Error";

	security_headers(h, r->cache_control);
	evhttp_add_header(h, "Content-Type", type);
	if (extra_name != NULL)
		evhttp_add_header(h, extra_name, extra_value);
	if (buf != NULL && len > 0)
		evbuffer_add(buf, body, len);
	/* The handler may have run for long (an enrollment): the loop's cached
	 * time is from before it, and the write timeout (request_timeout_seconds)
	 * counted from there would already have passed. */
	if (conn != NULL)
		event_base_update_cache_time(evhttp_connection_get_base(conn));
	evhttp_send_reply(r->req, code, reason, buf);
	if (buf != NULL) {
		/* A revealed password may sit in the buffer: wipe what is left. */
		size_t left = evbuffer_get_length(buf);
		unsigned char *mem = left ? evbuffer_pullup(buf, -1) : NULL;

		if (mem != NULL)
			OPENSSL_cleanse(mem, left);
		evbuffer_free(buf);
	}
}

void portal_send_json(portal_req *r, int code, struct json_object *doc)
{
	const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE);

	portal_send(r, code, "application/json", text, strlen(text), NULL, NULL);
}

void portal_send_error(portal_req *r, int code, const char *msg)
{
	json_object *doc;

	if (r->html) {
		portal_page_error(r, code, msg);
		return;
	}
	doc = json_object_new_object();

	json_object_object_add(doc, "error", json_object_new_string(msg));
	portal_send_json(r, code, doc);
	json_object_put(doc);
}

char *portal_body(portal_req *r, size_t max, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t n = evbuffer_get_length(in);
	char *out;

	*len = 0;
	if (n > max || (out = malloc(n + 1)) == NULL)
		return NULL;
	evbuffer_copyout(in, out, n);
	out[n] = '\0';
	*len = n;
	return out;
}

const char *portal_header(portal_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

/* Who is asking: a verified client certificate first, else a session. */
static void authenticate(portal_req *r)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	char who[P11E_PORTAL_ID_MAX + 64];
	const char *cookie;
	char *peer = NULL;
	ev_uint16_t port = 0;

	if (conn != NULL)
		evhttp_connection_get_peer(conn, &peer, &port);
	snprintf(r->client, sizeof(r->client), "%s", peer ? peer : "unknown");
	if (ssl != NULL && portal_tls_client_user(r->p, ssl, r->user, r->email, sizeof(r->user),
						  r->cert_problem, sizeof(r->cert_problem)) == 1) {
		r->auth = "certificate";
		snprintf(who, sizeof(who), "cert:%s", r->user);
		portal_csrf_for(r->p, who, r->csrf);
		return;
	}
	cookie = portal_header(r, "Cookie");
	if (p11e_portal_cookie_value(cookie, "p11e_session", r->session, sizeof(r->session)) == 1 &&
	    portal_session_user(r->p, r->session, r->user, r->email, sizeof(r->user),
				&r->session_expires)) {
		r->auth = "code";
		snprintf(who, sizeof(who), "session:%s", r->session);
		portal_csrf_for(r->p, who, r->csrf);
		return;
	}
	r->session[0] = '\0';
	snprintf(who, sizeof(who), "signin:%s", r->client);
	portal_csrf_for(r->p, who, r->csrf);
}

/* The methods a route answers; the others get 405 with them in Allow. */
static int route_methods(p11e_portal_route route)
{
	switch (route) {
	case P11E_ROUTE_PAGE_HOME:
	case P11E_ROUTE_PAGE_CA_CHAIN:
	case P11E_ROUTE_STATIC_CSS:
	case P11E_ROUTE_STATIC_JS:
	case P11E_ROUTE_STATIC_LOGO:
	case P11E_ROUTE_ME:
	case P11E_ROUTE_CERTIFICATE:
	case P11E_ROUTE_PFX:
	case P11E_ROUTE_PAGE_CARDS:
	case P11E_ROUTE_CARDS:
		return EVHTTP_REQ_GET;
	/* GET the confirmation, POST the revocation or the report */
	case P11E_ROUTE_PAGE_REVOKE:
	case P11E_ROUTE_PAGE_LOST:
		return EVHTTP_REQ_GET | EVHTTP_REQ_POST;
	case P11E_ROUTE_SESSION: /* POST signs in, DELETE signs out */
		return EVHTTP_REQ_POST | EVHTTP_REQ_DELETE;
	default:
		return EVHTTP_REQ_POST;
	}
}

static void send_not_allowed(portal_req *r, int methods)
{
	static const struct {
		int method;
		const char *name;
	} names[] = {
	    {EVHTTP_REQ_GET, "GET"}, {EVHTTP_REQ_POST, "POST"}, {EVHTTP_REQ_DELETE, "DELETE"}};
	char allow[32] = "";
	size_t n = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (methods & names[i].method)
			n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "",
					      names[i].name);
	/* A page on a page route, JSON under /api/ (portal_send_error). */
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
	portal_send_error(r, 405, "this address does not take that method");
}

static void on_request(struct evhttp_request *req, void *arg)
{
	portal_req r;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char id[P11E_PORTAL_ID_MAX];
	p11e_portal_route route;

	portal_conn_request_read(req);
	memset(&r, 0, sizeof(r));
	r.p = arg;
	r.req = req;
	authenticate(&r);
	route = p11e_portal_route_parse(path, id);
	/* The answers before dispatch too: a page on a page route. */
	r.html = route != P11E_ROUTE_NONE && route < P11E_ROUTE_ME;
	if (route != P11E_ROUTE_NONE && (route_methods(route) & (int)cmd) == 0) {
		send_not_allowed(&r, route_methods(route));
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST && cmd != EVHTTP_REQ_DELETE) {
		portal_not_found(&r, path);
		return;
	}
	if (!portal_origin_check(&r)) /* every state-changing request: one rule */
		return;
	if (route >= P11E_ROUTE_ME)
		portal_api_dispatch(&r, route, id, cmd == EVHTTP_REQ_POST,
				    uri ? evhttp_uri_get_query(uri) : NULL);
	else if (route != P11E_ROUTE_NONE)
		portal_html_dispatch(&r, route, id, cmd == EVHTTP_REQ_POST);
	else
		portal_not_found(&r, path);
}

static struct bufferevent *new_tls_connection(struct event_base *base, void *arg)
{
	struct p11e_portal *p = arg;
	SSL *ssl = portal_tls_new_ssl(p); /* the current SSL_CTX: a reload swaps it */
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	else
		portal_conn_accepted(p, base, bev); /* the caps and the deadline */
	return bev;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(arg, NULL);
}

/* Expired sessions and stale counts go (portal_session.c); a request that
 * finds one removes it anyway, so this only bounds what is left behind. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	portal_state_sweep(arg);
}

static p11e_rc sweep_setup(struct p11e_portal *p, p11e_err *err)
{
	struct timeval every = {.tv_sec = PORTAL_SWEEP_SECONDS};

	portal_state_sweep(p);
	if ((p->sweep_ev = event_new(p->workers[0].base, -1, EV_PERSIST, on_sweep, p)) == NULL ||
	    event_add(p->sweep_ev, &every) != 0)
		return p11e_errf(err, P11E_FAIL, "portal: event loop setup failed");
	return P11E_OK;
}

static void *worker_main(void *arg)
{
	portal_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static p11e_rc worker_setup(struct p11e_portal *p, portal_worker *w, p11e_err *err)
{
	w->portal = p;
	if ((w->base = event_base_new()) == NULL || (w->http = evhttp_new(w->base)) == NULL ||
	    (w->stop_ev = event_new(w->base, p->stop_pipe[0], EV_READ, on_stop, w->base)) == NULL ||
	    event_add(w->stop_ev, NULL) != 0)
		return p11e_errf(err, P11E_FAIL, "portal: event loop setup failed");
	evhttp_set_bevcb(w->http, new_tls_connection, p);
	evhttp_set_gencb(w->http, on_request, p);
	/* Every method libevent knows reaches on_request: 405 with Allow. */
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(w->http, 16384);
	evhttp_set_max_headers_size(w->http, 16384);
	/* Inactivity, reading and writing; a request's whole time is bounded by
	 * portal_conn.c's deadline (evhttp's restarts on every read). */
	evhttp_set_timeout(w->http, (int)p->conf->request_timeout_seconds);
	return portal_conn_listen(w, err);
}

p11e_rc p11e_portal_start(const p11e_config *cfg, const p11e_portal_conf *conf, p11e_portal **out,
			  p11e_err *err)
{
	p11e_portal *p = calloc(1, sizeof(*p));
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (p == NULL)
		return p11e_errf(err, P11E_FAIL, "portal: out of memory");
	p->cfg = cfg;
	p->conf = conf;
	p->listen_fd = p->stop_pipe[0] = p->stop_pipe[1] = -1;
	pthread_mutex_init(&p->trust_mu, NULL);
	if ((rc = portal_csrf_key_load(p, err)) != P11E_OK ||
	    (rc = portal_tls_setup(p, err)) != P11E_OK ||
	    (rc = listen_on(p, conf->listen, err)) != P11E_OK ||
	    (rc = portal_conn_setup(p, err)) != P11E_OK)
		goto out;
	if (pipe(p->stop_pipe) != 0 || fcntl(p->stop_pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(p->stop_pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
	    (p->workers = calloc((size_t)conf->workers, sizeof(*p->workers))) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "portal: out of resources: %s", strerror(errno));
		goto out;
	}
	for (p->nworkers = 0; p->nworkers < conf->workers; p->nworkers++)
		if ((rc = worker_setup(p, &p->workers[p->nworkers], err)) != P11E_OK) {
			p->nworkers++; /* freed with the others */
			goto out;
		}
	if ((rc = sweep_setup(p, err)) != P11E_OK)
		goto out;
	for (int i = 0; i < p->nworkers; i++) {
		if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]) != 0) {
			rc = p11e_errf(err, P11E_FAIL, "portal: cannot start a worker thread");
			goto out;
		}
		p->workers[i].started = 1;
	}
out:
	if (rc != P11E_OK) {
		p11e_portal_stop(p);
		return rc;
	}
	*out = p;
	return P11E_OK;
}

const char *p11e_portal_address(const p11e_portal *p)
{
	return p->address;
}

void p11e_portal_stop(p11e_portal *p)
{
	if (p == NULL)
		return;
	if (p->stop_pipe[1] >= 0 && write(p->stop_pipe[1], "x", 1) != 1)
		/* Without the byte the loops would not end: exit them directly. */
		for (int i = 0; i < p->nworkers; i++)
			if (p->workers[i].base != NULL)
				event_base_loopexit(p->workers[i].base, NULL);
	for (int i = 0; i < p->nworkers; i++)
		if (p->workers[i].started)
			pthread_join(p->workers[i].thread, NULL);
	if (p->sweep_ev != NULL)
		event_free(p->sweep_ev); /* before its base */
	for (int i = 0; i < p->nworkers; i++) {
		portal_worker *w = &p->workers[i];

		portal_conn_worker_stopping(w);
		if (w->http != NULL)
			evhttp_free(w->http);
		portal_conn_worker_free(w);
		if (w->stop_ev != NULL)
			event_free(w->stop_ev);
		if (w->base != NULL)
			event_base_free(w->base);
	}
	free(p->workers);
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	for (int i = 0; i < 2; i++)
		if (p->stop_pipe[i] >= 0)
			close(p->stop_pipe[i]);
	portal_tls_free(p);
	portal_conn_free(p);
	pthread_mutex_destroy(&p->trust_mu);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}
