/* Files written so a crash leaves the old or the new content, never half;
 * hex; secrets wiped before free; a conservative email check. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "p11enroll/util.h"

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory entry of a rename is durable only once the directory is. */
static int fsync_parent(const char *path)
{
	char *dir = strdup(path), *slash;
	int fd, rc = -1;

	if (dir == NULL)
		return -1;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(dir);
	return rc;
}

p11e_rc p11e_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			       p11e_err *err)
{
	size_t tlen = strlen(path) + sizeof(".tmp.XXXXXX");
	char *tmp = malloc(tlen);
	int fd = -1, saved;
	p11e_rc rc = P11E_OK;

	if (tmp == NULL)
		return p11e_errf(err, P11E_FAIL, "cannot write %s: out of memory", path);
	snprintf(tmp, tlen, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
		free(tmp);
		return rc;
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		saved = errno;
		close(fd);
		fd = -1;
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(saved));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (fsync_parent(path) != 0)
		rc = p11e_errf(err, P11E_FAIL, "cannot sync the directory of %s: %s", path,
			       strerror(errno));
out:
	if (rc != P11E_OK)
		unlink(tmp);
	free(tmp);
	return rc;
}

p11e_rc p11e_read_file(const char *path, size_t max, char **out, size_t *out_len, p11e_err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (out_len != NULL)
		*out_len = 0;
	if (f == NULL)
		return p11e_errf(err, errno == ENOENT ? P11E_NOT_FOUND : P11E_FAIL,
				 "cannot read %s: %s", path, strerror(errno));
	for (;;) {
		if (len + 1 >= cap) {
			char *grown;
			cap = cap ? cap * 2 : 4096;
			grown = realloc(buf, cap);
			if (grown == NULL) {
				rc = p11e_errf(err, P11E_FAIL, "cannot read %s: out of memory",
					       path);
				goto out;
			}
			buf = grown;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (len > max) {
			rc = p11e_errf(err, P11E_FAIL, "cannot read %s: larger than %zu bytes",
				       path, max);
			goto out;
		}
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		rc = p11e_errf(err, P11E_FAIL, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	if (out_len != NULL)
		*out_len = len;
out:
	free(buf);
	fclose(f);
	return rc;
}

p11e_rc p11e_mkdirs(const char *path, mode_t mode, p11e_err *err)
{
	char *copy = strdup(path);
	p11e_rc rc = P11E_OK;

	if (copy == NULL)
		return p11e_errf(err, P11E_FAIL, "cannot create %s: out of memory", path);
	for (char *p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, mode) != 0 && errno != EEXIST) {
			rc = p11e_errf(err, P11E_FAIL, "cannot create directory %s: %s", copy,
				       strerror(errno));
			break;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	if (rc == P11E_OK) {
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			rc = p11e_errf(err, P11E_FAIL,
				       "cannot create directory %s: not a directory", path);
	}
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

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int p11e_hex_decode(const char *hex, unsigned char *out, size_t cap, size_t *out_len)
{
	size_t n = 0;
	int hi = -1;

	for (const char *p = hex; *p; p++) {
		int v;
		if (*p == ':' && hi < 0)
			continue;
		v = hexval(*p);
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
	OPENSSL_cleanse(s, len == (size_t)-1 ? strlen(s) : len);
	free(s);
}

char *p11e_path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	int slash = dl > 0 && dir[dl - 1] != '/';
	char *out = malloc(dl + (size_t)slash + nl + 1);

	if (out == NULL)
		return NULL;
	memcpy(out, dir, dl);
	if (slash)
		out[dl] = '/';
	memcpy(out + dl + (size_t)slash, name, nl + 1);
	return out;
}

static int local_char_ok(unsigned char c)
{
	return isalnum(c) || strchr("!#$%&'*+/=?^_`{|}~.-", c) != NULL;
}

int p11e_email_valid(const char *email)
{
	const char *at, *label;
	size_t local_len, domain_len;
	int dots = 0;

	if (email == NULL || (at = strchr(email, '@')) == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	local_len = (size_t)(at - email);
	domain_len = strlen(at + 1);
	if (local_len < 1 || local_len > 64 || domain_len < 1 || domain_len > 253)
		return 0;
	if (email[0] == '.' || at[-1] == '.')
		return 0;
	for (const char *p = email; p < at; p++)
		if (!local_char_ok((unsigned char)*p) || (p[0] == '.' && p[1] == '.'))
			return 0;
	label = at + 1;
	for (const char *p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t ll = (size_t)(p - label);
			if (ll < 1 || ll > 63 || label[0] == '-' || p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			dots++;
			label = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-') {
			return 0;
		}
	}
	return dots > 0;
}
