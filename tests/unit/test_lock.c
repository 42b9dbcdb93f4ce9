/* Named locks in the file store (src/store/store_file_lock.c): exclusion
 * between processes and between
 * threads of one process, waiting, release by the kernel when the holder
 * dies, the holder named in the busy message, planted links refused. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "core/state_paths.h"
#include "p11enroll/lock.h"
#include "p11enroll/util.h"

static char state[512];
static p11e_store *store; /* a file store on state */

static void basics(void)
{
	p11e_lock a = P11E_LOCK_INIT, b = P11E_LOCK_INIT;
	p11e_err err = {0};
	char want[64];
	struct stat st;
	char *path = p11e_state_lock_path(state, "identity", "alice@example.org");

	CHECK_RC(p11e_lock_acquire(store, "identity", "alice@example.org", 0, &a, &err), P11E_OK,
		 &err);
	CHECK(a.held != NULL);
	CHECK(path != NULL && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* A second open file description, even in the same process. */
	CHECK_RC(p11e_lock_acquire(store, "identity", "alice@example.org", 0, &b, &err), P11E_BUSY,
		 &err);
	CHECK(b.held == NULL);
	snprintf(want, sizeof(want), "by pid %ld on host ", (long)getpid());
	CHECK(strstr(err.msg, want) != NULL);
	CHECK(strncmp(err.msg, "busy: identity alice@example.org is being enrolled", 50) == 0);
	/* Another name, another kind: independent. */
	CHECK_RC(p11e_lock_acquire(store, "identity", "bob@example.org", 0, &b, &err), P11E_OK,
		 &err);
	p11e_lock_release(&b);
	CHECK_RC(p11e_lock_acquire(store, "token", "alice@example.org", 0, &b, &err), P11E_OK,
		 &err);
	p11e_lock_release(&b);
	p11e_lock_release(&a);
	CHECK(a.held == NULL);
	p11e_lock_release(&a); /* a no-op */
	CHECK_RC(p11e_lock_acquire(store, "identity", "alice@example.org", 0, &b, &err), P11E_OK,
		 &err);
	p11e_lock_release(&b);
	CHECK_RC(p11e_lock_acquire(store, "Bad/kind", "x", 0, &b, &err), P11E_USAGE, &err);
	CHECK_RC(p11e_lock_acquire(store, "identity", "", 0, &b, &err), P11E_USAGE, &err);
	free(path);
}

typedef struct try_arg {
	p11e_rc rc;
	long wait_ms;
} try_arg;

static void *try_lock(void *arg)
{
	try_arg *t = arg;
	p11e_lock l = P11E_LOCK_INIT;
	p11e_err err = {0};

	t->rc = p11e_lock_acquire(store, "identity", "threads@example.org", t->wait_ms, &l, &err);
	p11e_lock_release(&l);
	return NULL;
}

/* Batch rows are threads of one process: they must exclude each other. */
static void threads(void)
{
	p11e_lock held = P11E_LOCK_INIT;
	p11e_err err = {0};
	pthread_t th;
	try_arg t = {.rc = P11E_OK, .wait_ms = 0};

	CHECK_RC(p11e_lock_acquire(store, "identity", "threads@example.org", 0, &held, &err),
		 P11E_OK, &err);
	CHECK(pthread_create(&th, NULL, try_lock, &t) == 0);
	pthread_join(th, NULL);
	CHECK(t.rc == P11E_BUSY);
	p11e_lock_release(&held);
	t.rc = P11E_FAIL;
	CHECK(pthread_create(&th, NULL, try_lock, &t) == 0);
	pthread_join(th, NULL);
	CHECK(t.rc == P11E_OK);
}

/* A child takes the lock, tells us, and then either holds it for a while
 * and releases it, or dies holding it. */
static pid_t child_holding(const char *name, int hold_ms, int crash)
{
	int fds[2];
	char c = 0;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		p11e_lock l = P11E_LOCK_INIT;
		p11e_err err = {0};
		close(fds[0]);
		if (p11e_lock_acquire(store, "identity", name, 0, &l, &err) != P11E_OK)
			_exit(3);
		(void)!write(fds[1], "x", 1);
		if (crash)
			_exit(86); /* no release: the kernel's job */
		usleep((useconds_t)hold_ms * 1000);
		p11e_lock_release(&l);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &c, 1) != 1)
		c = 0;
	close(fds[0]);
	CHECK(c == 'x');
	return pid;
}

static void processes(void)
{
	p11e_lock l = P11E_LOCK_INIT;
	p11e_err err = {0};
	char want[64];
	int status = 0;
	pid_t pid = child_holding("wait@example.org", 400, 0);

	/* Busy at once, naming the child... */
	CHECK_RC(p11e_lock_acquire(store, "identity", "wait@example.org", 0, &l, &err), P11E_BUSY,
		 &err);
	snprintf(want, sizeof(want), "by pid %ld on host ", (long)pid);
	CHECK(strstr(err.msg, want) != NULL);
	/* ... and ours after waiting for it (generously: CI is slow). */
	CHECK_RC(p11e_lock_acquire(store, "identity", "wait@example.org", 30000, &l, &err), P11E_OK,
		 &err);
	p11e_lock_release(&l);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* A holder that dies leaves no stale lock. */
	pid = child_holding("crash@example.org", 0, 1);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 86);
	CHECK_RC(p11e_lock_acquire(store, "identity", "crash@example.org", 0, &l, &err), P11E_OK,
		 &err);
	p11e_lock_release(&l);
}

static void planted_link(void)
{
	p11e_lock l = P11E_LOCK_INIT;
	p11e_err err = {0};
	char target[600], cmd[4096];
	char *path = p11e_state_lock_path(state, "identity", "link@example.org");
	struct stat st;

	snprintf(target, sizeof(target), "%s/victim", state);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/locks/identity && echo keep > %s && ln -s %s %s",
		 state, target, target, path);
	CHECK(check_sh(cmd) == 0);
	CHECK_RC(p11e_lock_acquire(store, "identity", "link@example.org", 0, &l, &err), P11E_FAIL,
		 &err);
	CHECK(strstr(err.msg, "symbolic link") != NULL);
	CHECK(stat(target, &st) == 0 && st.st_size == 5);
	CHECK(l.held == NULL);
	free(path);
}

static void long_name(void)
{
	p11e_lock l = P11E_LOCK_INIT;
	p11e_err err = {0};
	char name[300];

	memset(name, 'a', 250);
	strcpy(name + 250, "@x.org");
	CHECK_RC(p11e_lock_acquire(store, "identity", name, 0, &l, &err), P11E_OK, &err);
	p11e_lock_release(&l);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(state, sizeof(state), "%s/p11e-lock-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(state) == NULL || p11e_store_open_dir(state, &store, NULL) != P11E_OK)
		return 1;
	basics();
	threads();
	processes();
	planted_link();
	long_name();
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", state);
		check_sh(cmd);
	}
	p11e_store_close(store);
	return check_done();
}
