/* A load generator for the portal (`p11enroll serve`), bench/portal.sh drives
 * it: C threads, each with one libcurl easy handle that keeps its connection
 * alive (TLS handshakes amortised; --fresh: a new connection, so a full
 * handshake, for every request). Bounded in count (-n) and in time (-t: no
 * request starts after it; each has its own timeout). Prints one line:
 * requests, errors (non-2xx or transport, each kind counted and printed),
 * connections opened, req/s and p50/p99/max latency over every request.
 * Bodies are counted, never kept: a reveal's answer holds a password.
 *
 *   bench_portal --url URL [--method GET|POST] [--header-file FILE]
 *                [--cert PEM [--key PEM]] --cacert PEM [-c C] [-n N] [-t SECONDS]
 *                [--fresh] [--label TEXT]
 *
 * --header-file holds one header line ("X-CSRF-Token: ..."): never on argv;
 * without --cert it is how a client signs in ("Cookie: p11e_session=...").
 * --url, --cert, --key and --header-file may each be given up to 16 times,
 * for several users at once (a CSRF token and a URL are a user's own): thread
 * i takes the (i mod count)th of each list.
 * Exit 0 when every request got a 2xx, 1 when some did not, 2 usage. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include "bench_time.h"

#define MAX_REQUESTS 10000000L
#define MAX_THREADS 256
#define SHOWN_ERRORS 5

#define MAX_USERS 16

typedef struct {
	const char *url[MAX_USERS], *cert[MAX_USERS], *key[MAX_USERS];
	char header[MAX_USERS][512];
	int nurl, ncert, nkey, nheader;
	const char *method, *cacert, *label;
	long n, conc;
	double seconds;
	int fresh;
} opts;

typedef struct {
	const opts *o;
	double *lat;	      /* ms, one slot per request claimed */
	atomic_long next;     /* the next request's slot */
	atomic_long done;     /* requests finished (a slot filled) */
	atomic_long errors;   /* non-2xx answers and transport failures */
	atomic_long connects; /* connections opened */
	atomic_int shown;     /* error lines printed so far */
	long status[600];     /* answers by status, under mu */
	long transport;	      /* transport failures, under mu */
	pthread_mutex_t mu;
	double deadline; /* monotonic ms */
} shared;

/* Keeps the first bytes of an answer (shown for a non-2xx only), counts the rest. */
typedef struct {
	char head[160];
	size_t len;
} body;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	body *b = arg;
	size_t len = size * n, cap = sizeof(b->head) - 1;
	size_t used = b->len < cap ? b->len : cap;

	memcpy(b->head + used, p, len < cap - used ? len : cap - used);
	b->len += len;
	return len;
}

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n--)
		*v++ = 0;
}

static void error_line(shared *s, long code, CURLcode cc, const char *curl_msg, const body *b)
{
	char text[sizeof(b->head)];
	size_t i, n = b->len < sizeof(text) - 1 ? b->len : sizeof(text) - 1;

	pthread_mutex_lock(&s->mu);
	if (cc != CURLE_OK)
		s->transport++;
	else if (code >= 0 && code < 600)
		s->status[code]++;
	pthread_mutex_unlock(&s->mu);
	if (atomic_fetch_add(&s->shown, 1) >= SHOWN_ERRORS)
		return;
	memcpy(text, b->head, n);
	text[n] = '\0';
	for (i = 0; i < n; i++) /* one line: the peer's bytes are not trusted */
		if (text[i] < 0x20 || text[i] > 0x7e)
			text[i] = '.';
	if (cc != CURLE_OK)
		fprintf(stderr, "bench_portal: %s\n",
			curl_msg[0] ? curl_msg : curl_easy_strerror(cc));
	else
		fprintf(stderr, "bench_portal: HTTP %ld: %s\n", code, text);
	wipe(text, sizeof(text));
}

typedef struct {
	shared *s;
	int i; /* the thread's number */
} worker_arg;

static void *worker(void *arg)
{
	shared *s = ((worker_arg *)arg)->s;
	const opts *o = s->o;
	int i = ((worker_arg *)arg)->i;
	const char *cert = o->ncert > 0 ? o->cert[i % o->ncert] : NULL;
	struct curl_slist *hdrs = NULL;
	char curl_msg[CURL_ERROR_SIZE];
	CURL *c = curl_easy_init();
	body b;

	if (c == NULL)
		return NULL;
	if (o->nheader > 0)
		hdrs = curl_slist_append(NULL, o->header[i % o->nheader]);
	curl_easy_setopt(c, CURLOPT_URL, o->url[i % o->nurl]);
	if (cert != NULL) { /* else a session cookie (--header-file) signs in */
		curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, o->nkey > 0 ? o->key[i % o->nkey] : cert);
	}
	curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_msg);
	if (o->fresh) {
		curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	}
	if (strcmp(o->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	for (;;) {
		long slot, code = 0, conns = 0;
		double t0;
		CURLcode cc;

		if (bench_now_ms() >= s->deadline || (slot = atomic_fetch_add(&s->next, 1)) >= o->n)
			break;
		memset(&b, 0, sizeof(b));
		curl_msg[0] = '\0';
		t0 = bench_now_ms();
		cc = curl_easy_perform(c);
		s->lat[slot] = bench_now_ms() - t0;
		atomic_fetch_add(&s->done, 1);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
		atomic_fetch_add(&s->connects, conns);
		if (cc != CURLE_OK || code < 200 || code > 299) {
			atomic_fetch_add(&s->errors, 1);
			error_line(s, code, cc, curl_msg, &b);
		}
		wipe(&b, sizeof(b));
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	return NULL;
}

static int usage(const char *why)
{
	fprintf(stderr,
		"bench_portal: %s\nusage: bench_portal --url URL [--method GET|POST] "
		"[--header-file FILE] [--cert PEM [--key PEM]] --cacert PEM [-c C] [-n N] "
		"[-t SECONDS] [--fresh] [--label TEXT]\n",
		why);
	return 2;
}

static int read_header(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	int ok = f != NULL && fgets(out, (int)size, f) != NULL;

	if (f != NULL)
		fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return ok && strchr(out, ':') != NULL;
}

static int parse(int argc, char **argv, opts *o)
{
	memset(o, 0, sizeof(*o));
	o->method = "GET";
	o->label = "run";
	o->n = 1000;
	o->conc = 1;
	o->seconds = 60;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;

		if (strcmp(a, "--fresh") == 0) {
			o->fresh = 1;
			continue;
		}
		if (v == NULL)
			return usage("an option without its value");
		i++;
		if ((strcmp(a, "--url") == 0 && o->nurl == MAX_USERS) ||
		    (strcmp(a, "--cert") == 0 && o->ncert == MAX_USERS) ||
		    (strcmp(a, "--key") == 0 && o->nkey == MAX_USERS) ||
		    (strcmp(a, "--header-file") == 0 && o->nheader == MAX_USERS))
			return usage("--url, --cert, --key, --header-file: 16 of each at most");
		if (strcmp(a, "--url") == 0)
			o->url[o->nurl++] = v;
		else if (strcmp(a, "--method") == 0)
			o->method = v;
		else if (strcmp(a, "--header-file") == 0) {
			if (!read_header(v, o->header[o->nheader++], sizeof(o->header[0])))
				return usage("--header-file: no 'Name: value' line in the file");
		} else if (strcmp(a, "--cert") == 0)
			o->cert[o->ncert++] = v;
		else if (strcmp(a, "--key") == 0)
			o->key[o->nkey++] = v;
		else if (strcmp(a, "--cacert") == 0)
			o->cacert = v;
		else if (strcmp(a, "--label") == 0)
			o->label = v;
		else if (strcmp(a, "-c") == 0)
			o->conc = strtol(v, &end, 10);
		else if (strcmp(a, "-n") == 0)
			o->n = strtol(v, &end, 10);
		else if (strcmp(a, "-t") == 0)
			o->seconds = strtod(v, &end);
		else
			return usage("unknown option");
		if (end != NULL && (*end != '\0' || end == v))
			return usage("-c, -n, -t: a number");
	}
	if (o->nurl == 0 || (o->ncert == 0 && o->nheader == 0) || o->cacert == NULL)
		return usage("--url, --cacert and --cert (or a --header-file) are needed");
	if (strcmp(o->method, "GET") != 0 && strcmp(o->method, "POST") != 0)
		return usage("--method: GET or POST");
	if (o->conc < 1 || o->conc > MAX_THREADS || o->n < 1 || o->n > MAX_REQUESTS ||
	    !(o->seconds > 0 && o->seconds <= 3600))
		return usage("-c 1..256, -n 1..10000000, -t 0..3600 seconds");
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	worker_arg args[MAX_THREADS];
	shared s;
	opts o;
	long started = 0, n;
	double t0, wall;
	int rc;

	if ((rc = parse(argc, argv, &o)) != 0)
		return rc;
	memset(&s, 0, sizeof(s));
	s.o = &o;
	pthread_mutex_init(&s.mu, NULL);
	if ((s.lat = calloc((size_t)o.n, sizeof(*s.lat))) == NULL ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "bench_portal: out of memory\n");
		return 1;
	}
	t0 = bench_now_ms();
	s.deadline = t0 + o.seconds * 1e3;
	for (; started < o.conc; started++) {
		args[started] = (worker_arg){.s = &s, .i = (int)started};
		if (pthread_create(&th[started], NULL, worker, &args[started]) != 0)
			break;
	}
	for (long i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	wall = (bench_now_ms() - t0) / 1e3;
	n = atomic_load(&s.done);
	/* Slots are claimed in order and each claimed one is filled. */
	qsort(s.lat, (size_t)n, sizeof(*s.lat), bench_cmp_ms);
	printf("%s: requests %ld errors %ld connections %ld threads %ld wall %.2f s req/s %.1f "
	       "p50 %.1f ms p99 %.1f ms max %.1f ms\n",
	       o.label, n, atomic_load(&s.errors), atomic_load(&s.connects), started, wall,
	       wall > 0 ? (double)n / wall : 0.0, n ? s.lat[(n - 1) / 2] : 0.0,
	       n ? s.lat[(long)((double)(n - 1) * 0.99)] : 0.0, n ? s.lat[n - 1] : 0.0);
	if (s.transport)
		printf("%s: transport failures %ld\n", o.label, s.transport);
	for (int code = 0; code < 600; code++)
		if (s.status[code] && (code < 200 || code > 299))
			printf("%s: HTTP %d x %ld\n", o.label, code, s.status[code]);
	curl_global_cleanup();
	free(s.lat);
	pthread_mutex_destroy(&s.mu);
	wipe(o.header, sizeof(o.header)); /* CSRF tokens */
	return started < 1 ? 1 : atomic_load(&s.errors) ? 1 : 0;
}
