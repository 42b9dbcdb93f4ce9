/* The file store's documents: KIND's directory under STATE_DIR, one file per
 * document, named by core/state_paths.c's escaped base (a hash for a long
 * name), written atomically and 0600, read without following a link. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/state_paths.h"
#include "p11enroll/util.h"
#include "store_int.h"

static char *base_of(const p11e_store_kind *k, const char *name)
{
	return p11e_state_base_name_max(name, k->base_max ? k->base_max : P11E_STATE_BASE_MAX);
}

/* DIR/<base><ext>, malloc'd; NULL: out of memory. */
char *p11e_store_file_doc_path(const char *dir, const p11e_store_kind *k, const char *name)
{
	char *base = base_of(k, name);
	char *file = NULL, *out = NULL;
	size_t len;

	if (base == NULL)
		goto out;
	len = strlen(base) + strlen(k->ext) + 1;
	if ((file = malloc(len)) == NULL)
		goto out;
	snprintf(file, len, "%s%s", base, k->ext);
	out = p11e_path_join(dir, file);
out:
	free(file);
	free(base);
	return out;
}

p11e_rc p11e_store_file_get(const char *dir, const p11e_store_kind *k, const char *name,
			    unsigned char **data, size_t *len, p11e_err *err)
{
	char *path = p11e_store_file_doc_path(dir, k, name), *text = NULL;
	p11e_rc rc;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_store_file_slotted(k) ? p11e_store_file_slots_get(path, k, &text, len, err)
					: p11e_read_private(path, k->max, &text, len, err);
	free(path);
	*data = (unsigned char *)text;
	return rc;
}

/* Test builds only: P11ENROLL_TEST_LOSE_UNSYNCED=1 drops every put that is
 * not durable, as a power loss may (the page cache gone with the machine):
 * with a crash point after it, a rerun meets only what was made durable
 * (tests/integration/power_loss.sh). "torn" drops them too, but tears those
 * of the documents kept in two slots (store_file_slot_io.c). */
static int lost_by_power(const p11e_store_kind *k, int flags)
{
#ifdef P11ENROLL_TEST_HOOKS
	const char *lose = getenv("P11ENROLL_TEST_LOSE_UNSYNCED");
	return !(flags & P11E_STORE_DURABLE) && lose != NULL &&
	       (strcmp(lose, "1") == 0 ||
		(strcmp(lose, "torn") == 0 && !p11e_store_file_slotted(k)));
#else
	(void)k;
	(void)flags;
	return 0;
#endif
}

p11e_rc p11e_store_file_put(const char *dir, const p11e_store_kind *k, const char *name,
			    const void *data, size_t len, int flags, p11e_err *err)
{
	char *path = p11e_store_file_doc_path(dir, k, name);
	p11e_rc rc;

	if (path == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	else if (lost_by_power(k, flags))
		rc = P11E_OK;
	else if ((rc = p11e_mkdirs(dir, 0700, err)) != P11E_OK)
		;
	else if (p11e_store_file_slotted(k) && !(flags & P11E_STORE_CREATE))
		/* In place: one fdatasync when durable, no wait when not. */
		rc = p11e_store_file_slots_put(dir, path, k, data, len, flags & P11E_STORE_DURABLE,
					       err);
	else if (flags & P11E_STORE_CREATE)
		/* link(2) of a finished temp file: of two writers one wins, and a
		 * document there already is never replaced (P11E_EXISTS). */
		rc = p11e_write_file_new(path, data, len, 0600, err);
	else
		/* Not durable: no fsync of the file or the directory; a power
		 * loss leaves the old document or the whole new one
		 * (docs/store.md#durability). */
		rc =
		    p11e_write_file_replace(path, data, len, 0600, flags & P11E_STORE_DURABLE, err);
	free(path);
	return rc;
}

p11e_rc p11e_store_file_remove(const char *dir, const p11e_store_kind *k, const char *name,
			       p11e_err *err)
{
	char *path = p11e_store_file_doc_path(dir, k, name);
	p11e_rc rc = P11E_OK;
	int fd;

	if (path == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if (unlink(path) != 0) {
		rc = p11e_errf(err, errno == ENOENT ? P11E_NOT_FOUND : P11E_FAIL,
			       "cannot remove %s: %s", path, strerror(errno));
		goto out;
	}
	/* Gone for good only once the directory says so. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = p11e_errf(err, P11E_FAIL, "cannot sync %s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
out:
	free(path);
	return rc;
}

/* A file's base back to the name it escapes (p11e_name_escape's %XX); a
 * hashed base ("SHA256-...") stays as it is. */
static char *unescape(const char *base, size_t n)
{
	char *out = malloc(n + 1);
	int hashed = strncmp(base, "SHA256-", 7) == 0;
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (!hashed && base[i] == '%' && i + 2 < n &&
		    (hi = p11e_hex_digit(base[i + 1])) >= 0 &&
		    (lo = p11e_hex_digit(base[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = base[i];
		}
	}
	out[o] = '\0';
	return out;
}

static p11e_rc grow(p11e_store_doc **docs, size_t count, size_t *cap, p11e_err *err)
{
	p11e_store_doc *grown;

	if (count < *cap)
		return P11E_OK;
	if ((grown = realloc(*docs, (*cap ? *cap * 2 : 16) * sizeof(**docs))) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	*docs = grown;
	*cap = *cap ? *cap * 2 : 16;
	return P11E_OK;
}

p11e_rc p11e_store_file_list(const char *dir, const p11e_store_kind *k,
			     p11e_store_doc **docs, size_t *n, p11e_err *err)
{
	size_t ext = strlen(k->ext), count = 0, cap = 0;
	struct dirent *e;
	struct stat st;
	p11e_rc rc = P11E_OK;
	DIR *d = NULL;

	/* Trusted as a write trusts it (p11e_mkdirs: ours, writable by nobody
	 * else, nor anything on the way), so that no list shows documents from
	 * a directory someone else could have filled or swapped. Nothing is
	 * created: none there means no documents. */
	if (lstat(dir, &st) == 0 && (rc = p11e_mkdirs(dir, 0700, err)) != P11E_OK)
		goto out;
	if ((d = opendir(dir)) == NULL) {
		if (errno != ENOENT)
			rc = p11e_errf(err, P11E_FAIL, "cannot list %s: %s", dir, strerror(errno));
		goto out; /* ENOENT: none yet */
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char *path, *text = NULL;

		/* Only finished files: temp files end in .tmp.XXXXXX; no hidden
		 * ones (an escaped name never starts with a dot). */
		if (len <= ext || strcmp(e->d_name + len - ext, k->ext) != 0 ||
		    e->d_name[0] == '.')
			continue;
		if ((rc = grow(docs, count, &cap, err)) != P11E_OK)
			goto out;
		if ((path = p11e_path_join(dir, e->d_name)) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		rc = p11e_store_file_slotted(k)
			 ? p11e_store_file_slots_get(path, k, &text, &(*docs)[count].len, err)
			 : p11e_read_private(path, k->max, &text, &(*docs)[count].len, err);
		free(path);
		if (rc == P11E_NOT_FOUND) /* removed since readdir */
			continue;
		if (rc != P11E_OK)
			goto out;
		(*docs)[count].data = (unsigned char *)text;
		if (((*docs)[count].name = unescape(e->d_name, len - ext)) == NULL) {
			p11e_secret_free(text, (*docs)[count].len + 1);
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		count++;
	}
out:
	if (d != NULL)
		closedir(d);
	*n = count;
	return rc;
}

int p11e_store_file_same_name(const p11e_store_kind *k, const char *stored, const char *name)
{
	char *base;
	int same;

	if (strcmp(stored, name) == 0)
		return 1;
	if (strncmp(stored, "SHA256-", 7) != 0 || (base = base_of(k, name)) == NULL)
		return 0;
	same = strcmp(base, stored) == 0;
	free(base);
	return same;
}
