/* Files written so a crash leaves the old or the new content, never half;
 * state files and directories no one else can plant or swap; hex; secrets
 * wiped before free. Address and host name checks: validate.c. */
#define _GNU_SOURCE /* sync_file_range */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "p11enroll/util.h"

int p11e_write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			/* write(2) returning 0 for len > 0 would spin forever. */
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory entry of a rename is durable only once the directory is. */
static int fsync_parent(const char *path)
{
	char *dir = strdup(path), *slash;
	int fd, rc = -1, saved;

	if (dir == NULL)
		return -1;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		saved = errno;
		close(fd);
		errno = saved;
	}
	free(dir);
	return rc;
}

/* The temp file's bytes on the device before its rename can be, without a
 * flush: sync_file_range writes the pages out and waits for them, and the
 * journal commit that makes the rename durable (whenever it comes) flushes
 * the device's cache before it, so a rename that survives a power loss
 * names the whole file, never an empty or zero-filled one (on every file
 * system, not only ext4's auto_da_alloc). Not durable: the rename may be
 * lost, and the old file is what a power loss leaves. Where the call is
 * refused, an fsync does the same and more. */
static int write_out(int fd)
{
#ifdef SYNC_FILE_RANGE_WRITE
	if (sync_file_range(fd, 0, 0,
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
				SYNC_FILE_RANGE_WAIT_AFTER) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -1;
#endif
	return fsync(fd);
}

/* Writes data to a new temp file beside path (*tmp, malloc'd): created
 * 0600 by mkstemp, then given `mode` before any byte is written so a secret
 * is never readable by others, even briefly; fsync'd (durable) or written
 * out (write_out) and closed. */
static p11e_rc write_temp(const char *path, const void *data, size_t len, mode_t mode, int durable,
			  char **tmp, p11e_err *err)
{
	size_t tlen = strlen(path) + sizeof(".tmp.XXXXXX");
	int fd, saved;

	*tmp = malloc(tlen);
	if (*tmp == NULL)
		return p11e_errf(err, P11E_FAIL, "cannot write %s: out of memory", path);
	/* Same directory as the target, so rename() and link() stay atomic. */
	snprintf(*tmp, tlen, "%s.tmp.XXXXXX", path);
	fd = mkstemp(*tmp);
	if (fd < 0) {
		saved = errno;
		free(*tmp);
		*tmp = NULL;
		return p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(saved));
	}
	if (fchmod(fd, mode) != 0 || p11e_write_all(fd, data, len) != 0 ||
	    (durable ? fsync(fd) : write_out(fd)) != 0) {
		saved = errno;
		close(fd);
		goto fail;
	}
	/* close() can report a deferred write error (NFS): check it. */
	if (close(fd) != 0) {
		saved = errno;
		goto fail;
	}
	return P11E_OK;
fail:
	unlink(*tmp);
	free(*tmp);
	*tmp = NULL;
	return p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(saved));
}

p11e_rc p11e_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			       p11e_err *err)
{
	return p11e_write_file_replace(path, data, len, mode, 1, err);
}

p11e_rc p11e_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
				int durable, p11e_err *err)
{
	char *tmp = NULL;
	p11e_rc rc = write_temp(path, data, len, mode, durable, &tmp, err);

	if (rc != P11E_OK)
		return rc;
	if (rename(tmp, path) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	} else if (durable && fsync_parent(path) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
	}
	free(tmp);
	return rc;
}

p11e_rc p11e_write_file_new(const char *path, const void *data, size_t len, mode_t mode,
			    p11e_err *err)
{
	char *tmp = NULL;
	p11e_rc rc;

	/* Checked first only to spare the work; link() below is the real test. */
	if (access(path, F_OK) == 0)
		return p11e_errf(err, P11E_EXISTS, "%s already exists: it is never overwritten",
				 path);
	rc = write_temp(path, data, len, mode, 1, &tmp, err);
	if (rc != P11E_OK)
		return rc;
	/* link(2), unlike rename(2), refuses an existing target: two writers
	 * racing for one name cannot both win. */
	if (link(tmp, path) != 0)
		rc = errno == EEXIST
			 ? p11e_errf(err, P11E_EXISTS, "%s already exists: it is never overwritten",
				     path)
			 : p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
	else if (fsync_parent(path) != 0)
		/* The file is complete; only its durability is in doubt. */
		rc = p11e_errf(err, P11E_FAIL, "cannot sync the directory of %s: %s", path,
			       strerror(errno));
	unlink(tmp);
	free(tmp);
	return rc;
}

/* errno is left as the cause of a failure. */
p11e_rc p11e_read_fd(int fd, const char *path, size_t max, char **out, size_t *out_len,
		     p11e_err *err)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int saved = 0;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	for (;;) {
		ssize_t n;
		if (len + 1 >= cap) {
			/* Grow to at most max + 2, enough to see that a file is
			 * larger than max without reading all of it. */
			size_t want = cap ? cap * 2 : 4096;
			char *grown;
			if (max < (size_t)-1 - 2 && want > max + 2)
				want = max + 2;
			if (want <= cap)
				want = cap + 1;
			grown = realloc(buf, want);
			if (grown == NULL) {
				saved = ENOMEM;
				rc = p11e_errf(err, P11E_FAIL, "cannot read %s: out of memory",
					       path);
				goto out;
			}
			buf = grown;
			cap = want;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			rc = p11e_errf(err, P11E_FAIL, "cannot read %s: %s", path, strerror(saved));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			saved = EFBIG;
			rc = p11e_errf(err, P11E_FAIL, "cannot read %s: larger than %zu bytes",
				       path, max);
			goto out;
		}
	}
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		saved = ENOMEM;
		rc = p11e_errf(err, P11E_FAIL, "cannot read %s: out of memory", path);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	if (out_len != NULL)
		*out_len = len;
out:
	free(buf);
	errno = saved;
	return rc;
}

p11e_rc p11e_read_file(const char *path, size_t max, char **out, size_t *out_len, p11e_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int saved;
	p11e_rc rc;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (fd < 0) {
		saved = errno;
		rc = p11e_errf(err, saved == ENOENT ? P11E_NOT_FOUND : P11E_FAIL,
			       "cannot read %s: %s", path, strerror(saved));
		/* Callers (the config loader) word their own message from errno. */
		errno = saved;
		return rc;
	}
	rc = p11e_read_fd(fd, path, max, out, out_len, err);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

p11e_rc p11e_check_private_stat(const struct stat *st, const char *path, const char *what,
				unsigned checks, p11e_rc rc_bad, p11e_err *err)
{
	unsigned long euid = (unsigned long)geteuid();
	const char *sep = what != NULL && what[0] != '\0' ? ": " : "";

	if (what == NULL)
		what = "";
	if ((checks & P11E_PRIVATE_REGULAR) && !S_ISREG(st->st_mode))
		return p11e_errf(err, rc_bad,
				 "%s%s%s is not a regular file (a FIFO, device or directory "
				 "planted there?); remove it",
				 what, sep, path);
	if ((checks & P11E_PRIVATE_OWNER) && (unsigned long)st->st_uid != euid)
		return p11e_errf(err, rc_bad,
				 "%s%s%s is owned by uid %lu, not by uid %lu that runs p11enroll "
				 "(planted by someone else?); remove it or chown it",
				 what, sep, path, (unsigned long)st->st_uid, euid);
	if ((st->st_mode & 077) != 0)
		return p11e_errf(err, rc_bad,
				 "%s%s%s is readable or writable by group or others; chmod 600 %s",
				 what, sep, path, path);
	return P11E_OK;
}

p11e_rc p11e_open_private(const char *path, int flags, mode_t mode, int *fd_out, p11e_err *err)
{
	struct stat st;
	int fd, saved;
	p11e_rc rc;

	*fd_out = -1;
	/* O_NOFOLLOW: a symlink planted as the name is refused, not followed.
	 * O_NONBLOCK: a FIFO planted there cannot hang us in open(2); the
	 * check below then refuses it. (No effect on a regular file.) */
	fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	if (fd < 0) {
		saved = errno;
		if (saved == ENOENT)
			rc = p11e_errf(err, P11E_NOT_FOUND, "cannot open %s: %s", path,
				       strerror(saved));
		else if (saved == ELOOP)
			rc = p11e_errf(err, P11E_FAIL,
				       "%s is a symbolic link, which p11enroll never follows "
				       "for its own files; remove it",
				       path);
		else if (saved == ENXIO)
			rc = p11e_errf(err, P11E_FAIL,
				       "%s is not a regular file (a FIFO planted there?); "
				       "remove it",
				       path);
		else
			rc = p11e_errf(err, P11E_FAIL, "cannot open %s: %s", path, strerror(saved));
		errno = saved;
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "cannot check %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	rc = p11e_check_private_stat(&st, path, NULL, P11E_PRIVATE_REGULAR | P11E_PRIVATE_OWNER,
				     P11E_FAIL, err);
	if (rc != P11E_OK || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
		if (rc == P11E_OK)
			rc = p11e_errf(err, P11E_FAIL, "cannot open %s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	*fd_out = fd;
	return P11E_OK;
}

p11e_rc p11e_read_private(const char *path, size_t max, char **out, size_t *out_len, p11e_err *err)
{
	int fd, saved;
	p11e_rc rc;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	rc = p11e_open_private(path, O_RDONLY, 0, &fd, err);
	if (rc != P11E_OK)
		return rc;
	rc = p11e_read_fd(fd, path, max, out, out_len, err);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* Whether the directory at path can be trusted with our files. Every one on
 * the way must be owned by root or by us, and not writable by group or
 * others unless sticky (/tmp): else someone else could swap a directory
 * under us. The last one (the one we use) must be ours and writable by
 * nobody else. A symbolic link is followed only if root or we made it: one
 * planted by another user (STATE_DIR/identities -> their directory) is
 * refused. */
static p11e_rc trusted_dir(const char *path, int last, p11e_err *err)
{
	unsigned long euid = (unsigned long)geteuid();
	struct stat lst, st;

	if (lstat(path, &lst) != 0 || stat(path, &st) != 0)
		return p11e_errf(err, P11E_FAIL, "cannot check directory %s: %s", path,
				 strerror(errno));
	if (S_ISLNK(lst.st_mode) && lst.st_uid != 0 && (unsigned long)lst.st_uid != euid)
		return p11e_errf(err, P11E_FAIL,
				 "%s is a symbolic link owned by uid %lu (planted by someone "
				 "else?); remove it",
				 path, (unsigned long)lst.st_uid);
	if (!S_ISDIR(st.st_mode))
		return p11e_errf(err, P11E_FAIL, "cannot create directory %s: not a directory",
				 path);
	if (last ? (unsigned long)st.st_uid != euid
		 : st.st_uid != 0 && (unsigned long)st.st_uid != euid)
		return p11e_errf(err, P11E_FAIL,
				 "directory %s is owned by uid %lu, not by uid %lu that runs "
				 "p11enroll%s; chown it or use another directory",
				 path, (unsigned long)st.st_uid, euid, last ? "" : " or root");
	if ((st.st_mode & 022) != 0 && (last || !(st.st_mode & S_ISVTX)))
		return p11e_errf(err, P11E_FAIL,
				 "directory %s is writable by group or others; chmod go-w it "
				 "(700 for a state directory)",
				 path);
	return P11E_OK;
}

p11e_rc p11e_mkdirs(const char *path, mode_t mode, p11e_err *err)
{
	char *copy;
	p11e_rc rc = P11E_OK;

	if (path == NULL || path[0] == '\0')
		return p11e_errf(err, P11E_FAIL, "cannot create a directory with an empty name");
	copy = strdup(path);
	if (copy == NULL)
		return p11e_errf(err, P11E_FAIL, "cannot create directory %s: out of memory", path);
	/* Each prefix ending at a '/' (and the whole path) in turn; EEXIST is
	 * fine, whether it was there before or a concurrent run made it. */
	for (char *p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, mode) != 0 && errno != EEXIST) {
			rc = p11e_errf(err, P11E_FAIL, "cannot create directory %s: %s", copy,
				       strerror(errno));
			goto out;
		}
		/* Checked after mkdir, whoever made it: the directory we
		 * would use is the one that is there now. */
		if ((rc = trusted_dir(copy, c == '\0', err)) != P11E_OK)
			goto out;
		*p = c;
		if (c == '\0')
			break;
	}
out:
	free(copy);
	return rc;
}

void p11e_hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int p11e_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int p11e_hex_decode(const char *hex, unsigned char *out, size_t cap, size_t *out_len)
{
	size_t n = 0;
	int hi = -1;

	for (const char *p = hex; *p; p++) {
		int v;
		/* ':' only between bytes ("00:ab"), never inside one ("0:0ab"). */
		if (*p == ':' && hi < 0)
			continue;
		v = p11e_hex_digit((unsigned char)*p);
		if (v < 0)
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= cap)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		return -1;
	*out_len = n;
	return 0;
}

void p11e_secret_free(char *s, size_t len)
{
	if (s == NULL)
		return;
	/* Cleanses, then frees from the secure heap or, for anything else,
	 * with free(): OpenSSL tells them apart. */
	OPENSSL_secure_clear_free(s, len == (size_t)-1 ? strlen(s) : len);
}

char *p11e_path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl;
	int slash;
	char *out;

	/* One '/' between them, however they were written. */
	while (dl > 0 && name[0] == '/')
		name++;
	nl = strlen(name);
	slash = dl > 0 && dir[dl - 1] != '/';
	out = malloc(dl + (size_t)slash + nl + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, dir, dl);
	if (slash)
		out[dl] = '/';
	memcpy(out + dl + (size_t)slash, name, nl + 1);
	return out;
}

char *p11e_name_escape(const char *name, size_t extra)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(name), n = 0;
	char *out = malloc(3 * len + 1 + extra);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		     strchr("@._+-", c) != NULL) &&
		    !(c == '.' && n == 0)) {
			out[n++] = (char)c;
			continue;
		}
		out[n++] = '%';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 0xf];
	}
	out[n] = '\0';
	return out;
}

int p11e_dl_symbols(const char *const *sonames, const char *const *names, void **const *slots,
		    size_t n)
{
	void *dl = NULL;

	for (size_t i = 0; dl == NULL && sonames[i] != NULL; i++)
		dl = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (dl == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((*slots[i] = dlsym(dl, names[i])) == NULL)
			return -1;
	return 0;
}
