/* The file store's documents in two slots (store_file_slots.h), read and
 * written: the identity records. A durable save on an existing file is one
 * pwrite and one fdatasync; a save that is not durable one pwrite and no
 * wait at all; the directory is fsync'd once, by the first durable save
 * after the file was made (docs/store.md#durability). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "p11enroll/util.h"
#include "store_file_slots.h"
#include "store_int.h"

/* The identity records, and the embedded CA's index entries (written at
 * issuance as saves that are not durable: ca_local_store.c). */
int p11e_store_file_slotted(const p11e_store_kind *k)
{
	return strcmp(k->name, "identity") == 0 || strcmp(k->name, "ca-cert") == 0;
}

/* Test builds only: P11ENROLL_TEST_LOSE_UNSYNCED=torn tears every save that
 * is not durable, as a power loss during its write-back may: half of its
 * bytes reach the file (store_file_doc.c's "1" drops them all). */
static int torn_by_power(int durable)
{
#ifdef P11ENROLL_TEST_HOOKS
	const char *lose = getenv("P11ENROLL_TEST_LOSE_UNSYNCED");
	return !durable && lose != NULL && strcmp(lose, "torn") == 0;
#else
	(void)durable;
	return 0;
#endif
}

/* The largest file a document of at most max bytes is kept in. */
static size_t file_max(size_t max)
{
	return 2 * p11e_slots_cap_for(max);
}

static void wipe_free(unsigned char *buf, size_t len)
{
	if (buf != NULL)
		OPENSSL_cleanse(buf, len);
	free(buf);
}

p11e_rc p11e_store_file_slots_decode(const char *path, const p11e_store_kind *k, char **text,
				     size_t *len, p11e_err *err)
{
	p11e_slots_view v;
	const p11e_slot_info *s;

	p11e_slots_parse((const unsigned char *)*text, *len, &v);
	switch (v.format) {
	case P11E_SLOTS_PLAIN:
		break;
	case P11E_SLOTS_NONE:
		/* A file made by a save that was not durable, its bytes lost
		 * with the power: no state was ever durable in it. */
		return p11e_errf(err, P11E_NOT_FOUND, "%s holds nothing yet", path);
	case P11E_SLOTS_TORN:
		/* No durable save ever finished in it: a completed one is never
		 * written over before the next one completes (the put below). */
		if (!v.confirmed_seen)
			return p11e_errf(err, P11E_NOT_FOUND, "%s holds nothing yet", path);
		return p11e_errf(err, P11E_FAIL,
				 "%s: neither of its two slots is whole (a disk that lied about a "
				 "flush?); restore it from backup",
				 path);
	case P11E_SLOTS_OK:
		s = &v.slot[v.newest];
		memmove(*text, *text + s->off + P11E_SLOT_HDR, s->len);
		OPENSSL_cleanse(*text + s->len, *len - s->len);
		(*text)[s->len] = '\0';
		*len = s->len;
		break;
	}
	if (*len > k->max)
		return p11e_errf(err, P11E_FAIL, "%s: larger than %zu bytes", path, k->max);
	return P11E_OK;
}

p11e_rc p11e_store_file_slots_get(const char *path, const p11e_store_kind *k, char **text,
				  size_t *len, p11e_err *err)
{
	p11e_rc rc = p11e_read_private(path, file_max(k->max), text, len, err);

	if (rc == P11E_OK &&
	    (rc = p11e_store_file_slots_decode(path, k, text, len, err)) != P11E_OK) {
		wipe_free((unsigned char *)*text, *len);
		*text = NULL;
	}
	return rc;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1, saved;

	if (fd >= 0) {
		rc = fsync(fd);
		saved = errno;
		close(fd);
		errno = saved;
	}
	return rc;
}

static int pwrite_all(int fd, const unsigned char *p, size_t len, size_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += (size_t)n;
	}
	return 0;
}

/* The whole file made again with the document in slot 0: a new document,
 * one in the format before (migrated on its first write), or one outgrowing
 * its slots. `keep` says the file there holds state a power loss must not
 * take: then the temp file's bytes are on the device before the rename
 * (fsync, or p11e_write_file_replace's write-out); a new file has nothing to
 * keep and is renamed into place with no wait at all. */
static p11e_rc write_whole(const char *dir, const char *path, uint64_t gen, const void *data,
			   size_t len, int durable, int keep, p11e_err *err)
{
	size_t cap = p11e_slots_cap_for(len), n = P11E_SLOT_HDR + len, wlen, tlen;
	unsigned char *buf = malloc(n);
	char *tmp = NULL;
	p11e_rc rc = P11E_OK;
	int fd = -1;

	if (buf == NULL ||
	    p11e_slot_encode(buf, gen, durable ? P11E_SLOT_DURABLE : 0, cap, data, len) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: out of memory", path);
		goto out;
	}
	if (keep && torn_by_power(durable))
		goto out; /* written out before its rename: all or nothing */
	if (keep || durable) {
		rc = p11e_write_file_replace(path, buf, n, 0600, durable, err);
		goto out;
	}
	wlen = torn_by_power(durable) ? n / 2 : n;
	tlen = strlen(path) + sizeof(".tmp.XXXXXX");
	if ((tmp = malloc(tlen)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: out of memory", path);
		goto out;
	}
	snprintf(tmp, tlen, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) != 0 || p11e_write_all(fd, buf, wlen) != 0 || close(fd) != 0 ||
	    rename(tmp, path) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	fd = -1;
out:
	(void)dir;
	if (fd >= 0)
		close(fd);
	free(tmp);
	wipe_free(buf, n);
	return rc;
}

p11e_rc p11e_store_file_slots_put(const char *dir, const char *path, const p11e_store_kind *k,
				  const void *data, size_t len, int durable, p11e_err *err)
{
	unsigned char *file = NULL, *slot = NULL, one = 1;
	size_t n = 0, off;
	p11e_slots_view v;
	p11e_rc rc;
	unsigned flags;
	int fd = -1, target;

	rc = p11e_open_private(path, O_RDWR, 0, &fd, err);
	if (rc == P11E_NOT_FOUND)
		return write_whole(dir, path, 1, data, len, durable, 0, err);
	if (rc != P11E_OK)
		return rc;
	/* Writers of one document hold its lock already (the identity's);
	 * this only keeps two that do not from writing one slot at once. */
	if (flock(fd, LOCK_EX) != 0 ||
	    (rc = p11e_read_fd(fd, path, file_max(k->max), (char **)&file, &n, err)) != P11E_OK) {
		if (rc == P11E_OK)
			rc = p11e_errf(err, P11E_FAIL, "cannot lock %s: %s", path, strerror(errno));
		goto out;
	}
	p11e_slots_parse(file, n, &v);
	if (v.format == P11E_SLOTS_TORN && v.confirmed_seen) {
		rc = p11e_store_file_slots_decode(path, k, (char **)&file, &n, err);
		goto out;
	}
	if (v.format != P11E_SLOTS_OK || P11E_SLOT_HDR + len > v.cap) {
		rc = write_whole(dir, path, v.newest >= 0 ? v.slot[v.newest].gen + 1 : 1, data, len,
				 durable, v.format == P11E_SLOTS_OK || v.format == P11E_SLOTS_PLAIN,
				 err);
		goto out;
	}
	/* Never over the newest durable slot (what a power loss must leave),
	 * and, with none, never over the newest: a crash during this write
	 * leaves the slot it keeps. */
	if (v.anchor >= 0 && !v.slot[v.anchor].confirmed) {
		/* Its writer died before its fdatasync returned (or the power
		 * went before "confirmed" was written out): make sure. */
		if (fdatasync(fd) != 0 ||
		    pwrite_all(fd, &one, 1, v.slot[v.anchor].off + P11E_SLOT_CONFIRMED_AT) != 0) {
			rc = p11e_errf(err, P11E_FAIL, "cannot sync %s: %s", path, strerror(errno));
			goto out;
		}
	}
	target = 1 - (v.anchor >= 0 ? v.anchor : v.newest);
	off = target == 0 ? 0 : v.cap;
	flags = (durable ? P11E_SLOT_DURABLE : 0) |
		((v.slot[0].valid && (v.slot[0].flags & P11E_SLOT_ENTRY)) ||
			 (v.slot[1].valid && (v.slot[1].flags & P11E_SLOT_ENTRY))
		     ? P11E_SLOT_ENTRY
		     : 0);
	if (durable && !(flags & P11E_SLOT_ENTRY)) {
		/* The file's name is durable once its directory is: once. */
		if (sync_dir(dir) != 0) {
			rc = p11e_errf(err, P11E_FAIL, "cannot sync %s: %s", dir, strerror(errno));
			goto out;
		}
		flags |= P11E_SLOT_ENTRY;
	}
	if ((slot = malloc(P11E_SLOT_HDR + len)) == NULL ||
	    p11e_slot_encode(slot, v.slot[v.newest].gen + 1, flags, v.cap, data, len) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: out of memory", path);
		goto out;
	}
	if (torn_by_power(durable)) {
		rc = pwrite_all(fd, slot, (P11E_SLOT_HDR + len) / 2, off) == 0
			 ? P11E_OK
			 : p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (pwrite_all(fd, slot, P11E_SLOT_HDR + len, off) != 0 ||
	    (durable &&
	     (fdatasync(fd) != 0 || pwrite_all(fd, &one, 1, off + P11E_SLOT_CONFIRMED_AT) != 0)))
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
out:
	if (fd >= 0 && close(fd) != 0 && rc == P11E_OK)
		rc = p11e_errf(err, P11E_FAIL, "cannot write %s: %s", path, strerror(errno));
	wipe_free(file, n);
	wipe_free(slot, P11E_SLOT_HDR + len);
	return rc;
}
