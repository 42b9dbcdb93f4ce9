/* Counters and what the stores do without a server: the file store's
 * counter (src/store/store_file_counter.c: first value, increments, kept
 * across a reopen, never repeated by threads or processes at once, a
 * corrupt file refused), and the postgresql store's open, which reads no
 * secret and connects to nothing (store_pg.c: the first operation does). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "p11enroll/config.h"
#include "p11enroll/lock.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"

static char state[512];

static void file_counter(void)
{
	p11e_store *s = NULL;
	p11e_err err = {0};
	unsigned long long v = 0;
	char path[700], *text;
	struct stat st;

	CHECK_RC(p11e_store_open_dir(state, &s, &err), P11E_OK, &err);
	CHECK_RC(p11e_store_counter_next(s, "serial", 1000, &v, &err), P11E_OK, &err);
	CHECK(v == 1000);
	CHECK_RC(p11e_store_counter_next(s, "serial", 1000, &v, &err), P11E_OK, &err);
	CHECK(v == 1001);
	CHECK_RC(p11e_store_counter_next(s, "crl", 1, &v, &err), P11E_OK, &err);
	CHECK(v == 1);
	p11e_store_close(s);
	/* Kept on disk, as the last value handed out, 0600. */
	snprintf(path, sizeof(path), "%s/counters/serial", state);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	snprintf(path, sizeof(path), "cat %s/counters/serial", state);
	text = check_capture(path);
	CHECK(text != NULL && strcmp(text, "1001\n") == 0);
	free(text);
	CHECK_RC(p11e_store_open_dir(state, &s, &err), P11E_OK, &err);
	CHECK_RC(p11e_store_counter_next(s, "serial", 1000, &v, &err), P11E_OK, &err);
	CHECK(v == 1002);
	CHECK_RC(p11e_store_counter_next(s, "", 1, &v, &err), P11E_USAGE, &err);
	/* A corrupt counter is refused, never guessed. */
	snprintf(path, sizeof(path), "printf 'x12\\n' >%s/counters/crl", state);
	CHECK(check_sh(path) == 0);
	CHECK_RC(p11e_store_counter_next(s, "crl", 1, &v, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "counter crl") != NULL && strstr(err.msg, "corrupt") != NULL);
	p11e_store_close(s);
}

#define WORKERS 4
#define EACH 40

typedef struct worker {
	p11e_store *s;
	unsigned long long got[EACH];
	int failed;
} worker;

static void *count_some(void *arg)
{
	worker *w = arg;
	p11e_err err = {0};

	for (int i = 0; i < EACH; i++)
		if (p11e_store_counter_next(w->s, "threads", 1, &w->got[i], &err) != P11E_OK)
			w->failed++;
	return NULL;
}

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

/* All values 1..n, each once. */
static int one_each(unsigned long long *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_ull);
	for (size_t i = 0; i < n; i++)
		if (v[i] != i + 1)
			return 0;
	return 1;
}

static void file_counter_threads(void)
{
	worker w[WORKERS] = {0};
	pthread_t t[WORKERS];
	unsigned long long all[WORKERS * EACH];
	p11e_store *s = NULL;
	p11e_err err = {0};
	int failed = 0;

	CHECK_RC(p11e_store_open_dir(state, &s, &err), P11E_OK, &err);
	for (int i = 0; i < WORKERS; i++) {
		w[i].s = s;
		pthread_create(&t[i], NULL, count_some, &w[i]);
	}
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(t[i], NULL);
		failed += w[i].failed;
		memcpy(all + i * EACH, w[i].got, sizeof(w[i].got));
	}
	CHECK(failed == 0);
	CHECK(one_each(all, WORKERS * EACH));
	p11e_store_close(s);
}

/* Processes, each with a store of its own, through a pipe of values. */
static void file_counter_processes(void)
{
	unsigned long long all[WORKERS * EACH];
	size_t n = 0;
	int fds[2];
	pid_t pids[WORKERS];

	CHECK(pipe(fds) == 0);
	for (int i = 0; i < WORKERS; i++) {
		if ((pids[i] = fork()) == 0) {
			p11e_store *s = NULL;
			unsigned long long v;

			close(fds[0]);
			if (p11e_store_open_dir(state, &s, NULL) != P11E_OK)
				_exit(1);
			for (int j = 0; j < EACH; j++) {
				if (p11e_store_counter_next(s, "processes", 1, &v, NULL) != P11E_OK)
					_exit(1);
				if (write(fds[1], &v, sizeof(v)) != (ssize_t)sizeof(v))
					_exit(1);
			}
			p11e_store_close(s);
			_exit(0);
		}
	}
	close(fds[1]);
	while (n < WORKERS * EACH && read(fds[0], &all[n], sizeof(all[n])) == sizeof(all[n]))
		n++;
	close(fds[0]);
	for (int i = 0; i < WORKERS; i++) {
		int status = -1;

		waitpid(pids[i], &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK(n == WORKERS * EACH);
	CHECK(one_each(all, n));
}

/* A postgresql store: the config is checked at open, nothing else. */
static void pg_lazy(void)
{
	char text[1200], where[300];
	p11e_config cfg;
	p11e_err err = {0};
	void *held = NULL;
	unsigned char *data = NULL;
	size_t len = 0;

	/* A secret that is not there, a server that is not there: open and
	 * everything that needs neither still work. */
	snprintf(text, sizeof(text),
		 "{ \"state_dir\": \"%s\", \"store\": { \"type\": \"postgresql\", "
		 "\"conninfo_source\": \"file:%s/no-such-conninfo\", \"schema\": \"desk\" } }",
		 state, state);
	CHECK_RC(p11e_config_parse("lazy.json", text, strlen(text), &cfg, &err), P11E_OK, &err);
	CHECK(strcmp(p11e_store_describe(cfg.store, "identity", "a@example.org", where,
					 sizeof(where)),
		     "identity a@example.org in PostgreSQL schema desk (table documents)") == 0);
	CHECK(p11e_store_same_name(cfg.store, "identity", "a@example.org", "a@example.org"));
	CHECK(!p11e_store_same_name(cfg.store, "identity", "A@example.org", "a@example.org"));
	CHECK_RC(p11e_store_lock(cfg.store, "Bad/kind", "x", 0, &held, &err), P11E_USAGE, &err);
	CHECK(held == NULL);
	/* The first operation reads the secret: its error names the field. */
	CHECK_RC(p11e_store_get(cfg.store, "identity", "a@example.org", &data, &len, &err),
		 P11E_USAGE, &err);
	CHECK(strstr(err.msg, "store.conninfo_source") != NULL);
	p11e_config_clear(&cfg);

	/* A server that does not answer: one line, P11E_FAIL, each time (the
	 * next operation tries again). */
	snprintf(text, sizeof(text), "%s/conninfo", state);
	CHECK(p11e_write_file_atomic(text, "host=127.0.0.1 port=1 dbname=x connect_timeout=5", 49,
				     0600, &err) == P11E_OK);
	snprintf(text, sizeof(text),
		 "{ \"state_dir\": \"%s\", \"store\": { \"type\": \"postgresql\", "
		 "\"conninfo_source\": \"file:%s/conninfo\" } }",
		 state, state);
	CHECK_RC(p11e_config_parse("down.json", text, strlen(text), &cfg, &err), P11E_OK, &err);
	for (int i = 0; i < 2; i++) {
		CHECK_RC(p11e_store_get(cfg.store, "identity", "a@example.org", &data, &len, &err),
			 P11E_FAIL, &err);
		CHECK(strncmp(err.msg, "store: cannot connect to PostgreSQL: ", 37) == 0);
		CHECK(strchr(err.msg, '\n') == NULL);
	}
	CHECK_RC(p11e_store_lock(cfg.store, "identity", "a@example.org", 0, &held, &err), P11E_FAIL,
		 &err);
	p11e_config_clear(&cfg);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[600];

	snprintf(state, sizeof(state), "%s/p11e-store-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(state) == NULL)
		return 1;
	file_counter();
	file_counter_threads();
	file_counter_processes();
	pg_lazy();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", state);
	check_sh(cmd);
	return check_done();
}
