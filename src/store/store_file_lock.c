/* The file store's named locks (include/p11enroll/lock.h): flock(2) on
 * STATE_DIR/locks/<kind>/<name>.lock. flock belongs to the open file
 * description, so two open()s of one file exclude each other even within one
 * process (the worker threads of a batch), and the kernel drops it when the
 * holder dies: no stale lock survives a crash. Lock files are never deleted:
 * unlinking one while another process waits on it would let a third lock a
 * new file of the same name beside it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "core/state_paths.h"
#include "p11enroll/lock.h"
#include "p11enroll/util.h"
#include "store_int.h"

/* Opens the lock file: created 0600 if missing, never through a symlink, and
 * only a regular file of ours with no permission for others (another user's
 * file could be held forever): util.c's one check of p11enroll's own files. */
static p11e_rc open_lock_file(const char *path, int *fd_out, p11e_err *err)
{
	return p11e_open_private(path, O_RDWR | O_CREAT | O_NOCTTY, 0600, fd_out, err);
}

/* "pid P on host H" from the holder's note, or a neutral phrase while the
 * holder has not written it yet (or is rewriting it). */
static void read_holder(int fd, char *out, size_t cap)
{
	char buf[160];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid = 0;
	char host[128];

	snprintf(out, cap, "another process");
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "pid %ld host %127s", &pid, host) == 2 && pid > 0)
		snprintf(out, cap, "pid %ld on host %s", pid, host);
}

static void write_holder(int fd)
{
	char note[160], host[128] = "unknown";
	int len;

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	len = snprintf(note, sizeof(note), "pid %ld host %s\n", (long)getpid(), host);
	/* Only a message depends on it: a failure here costs nothing else. */
	if (ftruncate(fd, 0) == 0 && len > 0)
		(void)!pwrite(fd, note, (size_t)len, 0);
}

p11e_rc p11e_store_file_lock(const char *state_dir, const char *kind, const char *name,
			     long wait_ms, void **held, p11e_err *err)
{
	char *path = NULL, *dir = NULL, *slash;
	char holder[200];
	p11e_store_wait w;
	int fd = -1;
	p11e_rc rc;

	*held = NULL;
	path = p11e_state_lock_path(state_dir, kind, name);
	dir = path ? strdup(path) : NULL;
	if (dir == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	rc = p11e_mkdirs(dir, 0700, err);
	if (rc == P11E_OK)
		rc = open_lock_file(path, &fd, err);
	if (rc != P11E_OK)
		goto out;
	/* Polling, since flock has no timeout. */
	p11e_store_wait_start(&w, wait_ms);
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = p11e_errf(err, P11E_FAIL, "cannot lock %s: %s", path, strerror(errno));
			goto out;
		}
		if (!p11e_store_wait_more(&w)) {
			read_holder(fd, holder, sizeof(holder));
			rc = p11e_store_busy(err, kind, name, holder);
			goto out;
		}
	}
	write_holder(fd);
	if ((*held = malloc(sizeof(int))) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	*(int *)*held = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	free(path);
	return rc;
}

void p11e_store_file_unlock(void *held)
{
	int fd = *(int *)held;

	/* The holder's note stays: a waiter reading it now reads an old one,
	 * harmless, and truncating would race the next holder's write. */
	flock(fd, LOCK_UN);
	close(fd);
	free(held);
}
