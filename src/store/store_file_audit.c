/* The file store's audit chain (store.h, audit.h): the log, one line per
 * entry, is the config's "audit_log" or STATE_DIR/audit.jsonl (created 0600,
 * its directory 0700, opened without following a symlink); its head is
 * STATE_DIR/audit.head, written atomically after each append with the log
 * file's print (device, inode, size, change time), so that an append to a
 * log exactly as the last append left it need not read it whole. Appends
 * take turns under flock(2) on the log and each line is one write(2),
 * fsync'd. The chain itself (what a line holds, its hash, what is broken)
 * is src/core/audit*.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "core/audit_parse.h"
#include "core/state_paths.h"
#include "p11enroll/util.h"
#include "store_int.h"

#define AUDIT_MAX (256 * 1024 * 1024)
#define HEAD_MAX 4096

static void print_of(const struct stat *st, p11e_audit_print *lp)
{
	lp->dev = (long long)st->st_dev;
	lp->ino = (long long)st->st_ino;
	lp->size = (long long)st->st_size;
	lp->ctime_s = (long long)st->st_ctim.tv_sec;
	lp->ctime_ns = (long long)st->st_ctim.tv_nsec;
}

/* STATE_DIR/audit.head into h and its print into *lp (all 0 without one). */
static p11e_rc read_head(const char *state_dir, const char *log, p11e_store_audit_head *h,
			 p11e_audit_print *lp, p11e_err *err)
{
	char *path = p11e_state_audit_head_path(state_dir), *text = NULL;
	p11e_audit_head ph;
	p11e_rc rc;

	memset(lp, 0, sizeof(*lp));
	h->found = h->other_log = 0;
	h->seq = 0;
	strcpy(h->sha256, P11E_AUDIT_ZERO_HASH);
	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(h->where, sizeof(h->where), "%s", log);
	snprintf(h->head_where, sizeof(h->head_where), "%s", path);
	snprintf(h->unit, sizeof(h->unit), "line");
	rc = p11e_read_private(path, HEAD_MAX, &text, NULL, err);
	if (rc == P11E_NOT_FOUND) {
		rc = P11E_OK;
	} else if (rc == P11E_OK &&
		   (rc = p11e_audit_head_parse(path, text, log, &ph, err)) == P11E_OK) {
		h->found = 1;
		h->other_log = !ph.this_log;
		h->seq = ph.seq;
		strcpy(h->sha256, ph.hash);
		*lp = ph.print;
	}
	free(text);
	free(path);
	return rc;
}

static p11e_rc write_head(const char *state_dir, const char *log, long long seq,
			  const char *sha256, const p11e_audit_print *lp, p11e_err *err)
{
	char *path = p11e_state_audit_head_path(state_dir);
	json_object *o = json_object_new_object(), *f = json_object_new_array();
	long long v[5] = {lp->dev, lp->ino, lp->size, lp->ctime_s, lp->ctime_ns};
	const char *text;
	p11e_rc rc;

	if (path == NULL || o == NULL || f == NULL) {
		json_object_put(f);
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	json_object_object_add(o, "log", json_object_new_string(log));
	json_object_object_add(o, "seq", json_object_new_int64(seq));
	json_object_object_add(o, "sha256", json_object_new_string(sha256));
	for (size_t i = 0; i < 5; i++)
		json_object_array_add(f, json_object_new_int64(v[i]));
	json_object_object_add(o, "file", f);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = p11e_write_file_atomic(path, text, strlen(text), 0600, err);
out:
	json_object_put(o);
	free(path);
	return rc;
}

/* The log's directory and STATE_DIR (for the head), made if missing. */
static p11e_rc make_dirs(const char *state_dir, const char *log, p11e_err *err)
{
	char *dir = strdup(log), *slash;
	p11e_rc rc = P11E_OK;

	if (dir == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		rc = p11e_mkdirs(dir, 0700, err);
	}
	free(dir);
	return rc == P11E_OK ? p11e_mkdirs(state_dir, 0700, err) : rc;
}

/* Hands fn each line of text (len bytes, a NUL after them). */
static p11e_rc each_line(const p11e_store_audit_head *h, char *text, size_t len,
			 p11e_store_audit_fn fn, void *arg, p11e_err *err)
{
	char *p = text, *end = text + len;
	p11e_rc rc = P11E_OK;

	while (p < end && rc == P11E_OK) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		p11e_store_audit_entry e = {.line = p, .head = h};

		if (nl == NULL) {
			e.len = (size_t)(end - p);
			e.unterminated = 1;
			return fn(arg, &e, err);
		}
		*nl = '\0';
		e.len = (size_t)(nl - p);
		rc = fn(arg, &e, err);
		*nl = '\n';
		p = nl + 1;
	}
	return rc;
}

/* Opens and locks the log (exclusively to append), reads the head under the
 * lock, and hands fn the lines: all of them, or none with
 * P11E_STORE_AUDIT_TAIL when the log is exactly as the last append left it.
 * P11E_NOT_FOUND: no log and none expected (to append: unless create). */
static p11e_rc open_log(const char *state_dir, const char *log, int append, int flags, int *fd,
			p11e_store_audit_head *h, p11e_audit_print *hp,
			enum p11e_store_audit_given *given, p11e_store_audit_fn fn, void *arg,
			p11e_err *err)
{
	p11e_audit_print now;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	p11e_rc rc;

	*fd = -1;
	*given = P11E_STORE_AUDIT_ALL;
	if ((rc = read_head(state_dir, log, h, hp, err)) != P11E_OK)
		return rc;
	rc = p11e_open_private(log, append ? O_RDWR | O_APPEND : O_RDONLY, 0, fd, err);
	if (rc == P11E_NOT_FOUND && h->found && !h->other_log && h->seq > 0)
		/* Never recreated silently: that is what hid a deleted log. */
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s is missing but held %lld entries; restore it from "
				 "a backup or syslog, see p11enroll(1) AUDIT LOG",
				 log, h->seq);
	if (rc == P11E_NOT_FOUND && append && !(flags & P11E_STORE_AUDIT_EXISTING))
		rc = p11e_open_private(log, O_RDWR | O_APPEND | O_CREAT, 0600, fd, err);
	if (rc != P11E_OK)
		return rc;
	/* Appends take turns; a reader waits for a half-done append. */
	while (flock(*fd, append ? LOCK_EX : LOCK_SH) != 0)
		if (errno != EINTR) {
			rc = p11e_errf(err, P11E_FAIL, "audit log %s: cannot lock: %s", log,
				       strerror(errno));
			goto out;
		}
	/* The head again, now that no append runs: the one read before the
	 * lock may be one that a concurrent append has since replaced. */
	if ((rc = read_head(state_dir, log, h, hp, err)) != P11E_OK)
		goto out;
	/* A log exactly as the last append left it (same file, length and
	 * change time, which only the kernel sets) need not be read: the walk
	 * grew slower with every entry (a third of a second at 100,000).
	 * Anything else, a crash between an append and its head included, is
	 * read whole. */
	if ((flags & P11E_STORE_AUDIT_TAIL) && h->found && !h->other_log && h->seq > 0 && fstat(*fd, &st) == 0) {
		print_of(&st, &now);
		if (memcmp(&now, hp, sizeof(now)) == 0) {
			*given = P11E_STORE_AUDIT_VOUCHED;
			goto out;
		}
	}
	if (lseek(*fd, 0, SEEK_SET) != 0 ||
	    (rc = p11e_read_fd(*fd, log, AUDIT_MAX, &text, &len, err)) != P11E_OK) {
		if (rc == P11E_OK)
			rc = p11e_errf(err, P11E_FAIL, "audit log %s: %s", log, strerror(errno));
		goto out;
	}
	rc = each_line(h, text, len, fn, arg, err);
out:
	free(text);
	if (rc != P11E_OK && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

p11e_rc p11e_store_file_audit_read(const char *state_dir, const char *log, int flags,
				   p11e_store_audit_head *head, enum p11e_store_audit_given *given,
				   p11e_store_audit_fn fn, void *arg, p11e_err *err)
{
	p11e_audit_print hp;
	int fd = -1;
	p11e_rc rc;

	rc = open_log(state_dir, log, 0, flags, &fd, head, &hp, given, fn, arg, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

p11e_rc p11e_store_file_audit_append(const char *state_dir, const char *log, int flags,
				     p11e_store_audit_head *head,
				     const p11e_store_audit_append_cb *cb, void *arg,
				     p11e_err *err)
{
	enum p11e_store_audit_given given;
	p11e_audit_print hp, lp;
	char sha256[65], *line = NULL;
	long long seq = 0;
	size_t len = 0;
	struct stat st;
	int fd = -1;
	p11e_rc rc;

	if ((rc = make_dirs(state_dir, log, err)) != P11E_OK)
		return rc;
	rc = open_log(state_dir, log, 1, flags, &fd, head, &hp, &given, cb->entry, arg, err);
	if (rc != P11E_OK)
		return rc;
	if ((rc = cb->build(arg, head, given, &line, &len, &seq, sha256, err)) != P11E_OK ||
	    line == NULL)
		goto out;
	/* One write per line, under the lock: concurrent runs never
	 * interleave. json-c escapes control characters: it is one line. */
	line[len] = '\n';
	if (p11e_write_all(fd, line, len + 1) != 0 || fsync(fd) != 0) {
		int saved = errno ? errno : EIO;

		line[len] = '\0';
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: cannot append: %s", log,
			       strerror(saved));
		goto out;
	}
	line[len] = '\0';
	/* Still under the lock, so heads are written in the log's order. */
	if (fstat(fd, &st) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: %s", log, strerror(errno));
		goto out;
	}
	print_of(&st, &lp);
	rc = write_head(state_dir, log, seq, sha256, &lp, err);
out:
	free(line);
	if (close(fd) != 0 && rc == P11E_OK)
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: cannot append: %s", log,
			       strerror(errno));
	return rc;
}
