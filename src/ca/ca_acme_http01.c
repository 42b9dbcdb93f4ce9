/* http-01 (RFC 8555 8.3): the CA fetches
 * http://NAME/.well-known/acme-challenge/TOKEN and expects the key
 * authorization. Two ways to answer, usable together:
 *   - "http01_listen": a built-in responder, one per process (batch workers
 *     share it), a thread that accepts on the address while any order needs
 *     it and serves only the tokens currently put up;
 *   - "webroot": the answer written as WEBROOT/.well-known/acme-challenge/TOKEN
 *     (0644) for the web server already on port 80, removed afterwards. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "ca/ca_acme.h"
#include "p11enroll/util.h"

#define PREFIX "/.well-known/acme-challenge/"

typedef struct entry {
	char *token;
	char *key_auth;
	const acme *owner;
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *addr;
	int fd;
	int running;
	volatile int stop;
	int users;
	pthread_t thread;
	entry *e;
	size_t n;
} R = {.fd = -1};

static int token_ok(const char *t, size_t len)
{
	if (len == 0 || len > 256)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = t[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static void reply(int fd, int head, const char *status, const char *body)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 status, strlen(body), head ? "" : body);

	if (n > 0)
		(void)!send(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1,
			    MSG_NOSIGNAL);
}

static void serve_one(int fd)
{
	struct timeval tv = {5, 0};
	char req[4096], answer[600] = "";
	size_t got = 0;
	const char *path, *end;
	int head, found = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + got, sizeof(req) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[got] = '\0';
	head = strncmp(req, "HEAD ", 5) == 0;
	if (strncmp(req, "GET ", 4) != 0 && !head) {
		reply(fd, 0, "405 Method Not Allowed", "");
		return;
	}
	path = req + (head ? 5 : 4);
	end = strchr(path, ' ');
	if (end != NULL && strncmp(path, PREFIX, strlen(PREFIX)) == 0 &&
	    token_ok(path + strlen(PREFIX), (size_t)(end - path) - strlen(PREFIX))) {
		const char *t = path + strlen(PREFIX);
		size_t tlen = (size_t)(end - t);
		pthread_mutex_lock(&mu);
		for (size_t i = 0; i < R.n && !found; i++) {
			if (strlen(R.e[i].token) == tlen && memcmp(R.e[i].token, t, tlen) == 0) {
				snprintf(answer, sizeof(answer), "%s", R.e[i].key_auth);
				found = 1;
			}
		}
		pthread_mutex_unlock(&mu);
	}
	if (found)
		reply(fd, head, "200 OK", answer);
	else
		reply(fd, head, "404 Not Found", "");
}

static void *responder_main(void *arg)
{
	(void)arg;
	while (!R.stop) {
		struct pollfd p = {.fd = R.fd, .events = POLLIN};
		int c;
		if (poll(&p, 1, 200) <= 0)
			continue;
		c = accept(R.fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(c);
		close(c);
	}
	return NULL;
}

/* "HOST:PORT" or "[V6]:PORT". Called with mu held. */
static p11e_rc start(const char *addr, p11e_err *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
			*res = NULL;
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hlen;
	int one = 1, fd = -1, gai;

	if (colon == NULL || colon == addr || colon[1] == '\0')
		return p11e_errf(err, P11E_CONFIG,
				 "ca acme: \"http01_listen\" '%s' must be HOST:PORT", addr);
	hlen = (size_t)(colon - addr);
	if (addr[0] == '[' && hlen >= 2 && addr[hlen - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(hlen - 2), addr + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)hlen, addr);
	gai = getaddrinfo(host, colon + 1, &hints, &res);
	if (gai != 0)
		return p11e_errf(err, P11E_CONFIG, "ca acme: \"http01_listen\" '%s': %s", addr,
				 gai_strerror(gai));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return p11e_errf(err, P11E_FAIL, "ca acme: cannot listen on %s for http-01: %s",
				 addr, strerror(e));
	}
	freeaddrinfo(res);
	R.fd = fd;
	R.stop = 0;
	if (pthread_create(&R.thread, NULL, responder_main, NULL) != 0) {
		close(fd);
		R.fd = -1;
		return p11e_errf(err, P11E_FAIL, "ca acme: cannot start the http-01 responder");
	}
	if ((R.addr = strdup(addr)) == NULL) {
		R.stop = 1;
		pthread_join(R.thread, NULL);
		close(fd);
		R.fd = -1;
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	R.running = 1;
	return P11E_OK;
}

static p11e_rc serve_builtin(acme *a, const char *token, const char *key_auth, p11e_err *err)
{
	entry *grown;
	p11e_rc rc = P11E_OK;

	pthread_mutex_lock(&mu);
	if (R.running && strcmp(R.addr, a->http01_listen) != 0) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "ca acme: the http-01 responder already listens on %s; one "
			       "\"http01_listen\" per process",
			       R.addr);
		goto out;
	}
	if (!R.running && (rc = start(a->http01_listen, err)) != P11E_OK)
		goto out;
	if (!a->responder_held) {
		a->responder_held = 1;
		R.users++;
	}
	for (size_t i = 0; i < R.n; i++)
		if (strcmp(R.e[i].token, token) == 0)
			goto out; /* already up */
	grown = realloc(R.e, (R.n + 1) * sizeof(*R.e));
	if (grown == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	R.e = grown;
	R.e[R.n].token = strdup(token);
	R.e[R.n].key_auth = strdup(key_auth);
	R.e[R.n].owner = a;
	if (R.e[R.n].token == NULL || R.e[R.n].key_auth == NULL) {
		free(R.e[R.n].token);
		free(R.e[R.n].key_auth);
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	R.n++;
out:
	pthread_mutex_unlock(&mu);
	return rc;
}

static p11e_rc serve_webroot(acme *a, const char *token, const char *key_auth, p11e_err *err)
{
	char *dir = p11e_path_join(a->webroot, ".well-known/acme-challenge");
	char *path = dir ? p11e_path_join(dir, token) : NULL;
	char **grown;
	p11e_rc rc;

	if (path == NULL) {
		free(dir);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	rc = p11e_mkdirs(dir, 0755, err);
	/* Read by the web server: world-readable, and not a secret. */
	if (rc == P11E_OK)
		rc = p11e_write_file_atomic(path, key_auth, strlen(key_auth), 0644, err);
	if (rc == P11E_OK && (grown = realloc(a->webroot_files,
					      (a->n_webroot_files + 1) * sizeof(char *))) != NULL) {
		a->webroot_files = grown;
		a->webroot_files[a->n_webroot_files++] = path;
		path = NULL;
	}
	free(path);
	free(dir);
	return rc;
}

p11e_rc acme_http01_serve(acme *a, const char *token, const char *key_auth, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	if (!token_ok(token, strlen(token)))
		return p11e_errf(err, P11E_CA_REJECTED,
				 "ca acme: the CA sent an http-01 token that is not base64url");
	if (a->http01_listen == NULL && a->webroot == NULL)
		return p11e_errf(
		    err, P11E_CONFIG,
		    "ca acme: an http-01 challenge needs an answer: set \"http01_listen\" "
		    "(HOST:PORT for the built-in responder) or \"webroot\"");
	if (a->http01_listen != NULL)
		rc = serve_builtin(a, token, key_auth, err);
	if (rc == P11E_OK && a->webroot != NULL)
		rc = serve_webroot(a, token, key_auth, err);
	return rc;
}

void acme_http01_withdraw(acme *a)
{
	size_t kept = 0;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < R.n; i++) {
		if (R.e[i].owner == a) {
			free(R.e[i].token);
			free(R.e[i].key_auth);
		} else {
			R.e[kept++] = R.e[i];
		}
	}
	R.n = kept;
	pthread_mutex_unlock(&mu);
	for (size_t i = 0; i < a->n_webroot_files; i++) {
		unlink(a->webroot_files[i]);
		free(a->webroot_files[i]);
	}
	free(a->webroot_files);
	a->webroot_files = NULL;
	a->n_webroot_files = 0;
}

void acme_http01_release(acme *a)
{
	int join = 0;
	pthread_t t;

	acme_http01_withdraw(a);
	pthread_mutex_lock(&mu);
	if (a->responder_held) {
		a->responder_held = 0;
		if (--R.users == 0 && R.running) {
			R.stop = 1;
			t = R.thread;
			join = 1;
		}
	}
	pthread_mutex_unlock(&mu);
	if (!join)
		return;
	pthread_join(t, NULL);
	pthread_mutex_lock(&mu);
	close(R.fd);
	R.fd = -1;
	R.running = 0;
	free(R.addr);
	R.addr = NULL;
	if (R.n == 0) {
		free(R.e);
		R.e = NULL;
	}
	pthread_mutex_unlock(&mu);
}
