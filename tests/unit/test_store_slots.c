/* The file store's two-slot records (src/store/store_file_slots.c and
 * store_file_slot_io.c): the parser on whole, torn, short, corrupt and
 * old-format input, and the store's put and get over them: a durable slot is
 * never written over by the saves after it, a torn slot leaves the other,
 * a record in the format before is read and upgraded on its first write. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"
#include "store/store_file_slots.h"

static char state[512];

/* slot 0 (gen g0, flags f0) and, if g1, slot 1, in a file of 2 * cap. */
static size_t two_slots(unsigned char *buf, size_t cap, uint64_t g0, unsigned f0, const char *d0,
			uint64_t g1, unsigned f1, const char *d1)
{
	memset(buf, 0, 2 * cap);
	CHECK(p11e_slot_encode(buf, g0, f0, cap, d0, strlen(d0)) == 0);
	if (g1 == 0)
		return P11E_SLOT_HDR + strlen(d0);
	CHECK(p11e_slot_encode(buf + cap, g1, f1, cap, d1, strlen(d1)) == 0);
	return cap + P11E_SLOT_HDR + strlen(d1);
}

static void parser(void)
{
	static unsigned char buf[2 * 8192];
	p11e_slots_view v;
	size_t n;

	p11e_slots_parse(buf, 0, &v);
	CHECK(v.format == P11E_SLOTS_NONE && v.newest == -1);
	memset(buf, 0, 5000);
	p11e_slots_parse(buf, 5000, &v);
	CHECK(v.format == P11E_SLOTS_NONE);
	p11e_slots_parse((const unsigned char *)"{\"step\":\"done\"}", 15, &v);
	CHECK(v.format == P11E_SLOTS_PLAIN && v.newest == -1);

	/* One slot, not durable; then a durable one older than a newer one. */
	n = two_slots(buf, 4096, 1, 0, "{\"a\":1}", 0, 0, NULL);
	p11e_slots_parse(buf, n, &v);
	CHECK(v.format == P11E_SLOTS_OK && v.newest == 0 && v.anchor == -1 && v.cap == 4096);
	CHECK(v.slot[0].len == 7 && v.slot[0].off == 0 && !v.slot[0].confirmed);
	n = two_slots(buf, 4096, 5, P11E_SLOT_DURABLE, "{\"d\":5}", 6, 0, "{\"n\":6}");
	p11e_slots_parse(buf, n, &v);
	CHECK(v.format == P11E_SLOTS_OK && v.newest == 1 && v.anchor == 0);
	CHECK(v.slot[1].off == 4096 && v.slot[1].gen == 6);
	/* "confirmed" lies outside the hash. */
	buf[P11E_SLOT_CONFIRMED_AT] = 1;
	p11e_slots_parse(buf, n, &v);
	CHECK(v.slot[0].valid && v.slot[0].confirmed && v.confirmed_seen);

	/* Slot 1 torn (a byte of its document, or cut short): slot 0 wins. */
	buf[4096 + P11E_SLOT_HDR + 2] ^= 0x20;
	p11e_slots_parse(buf, n, &v);
	CHECK(v.format == P11E_SLOTS_OK && v.newest == 0 && !v.slot[1].valid);
	buf[4096 + P11E_SLOT_HDR + 2] ^= 0x20;
	p11e_slots_parse(buf, n - 1, &v);
	CHECK(v.newest == 0 && !v.slot[1].valid);
	p11e_slots_parse(buf, 4096 + 10, &v);
	CHECK(v.newest == 0 && !v.slot[1].valid);

	/* Slot 0's header zeroed (its page lost): slot 1 is found at its size. */
	n = two_slots(buf, 8192, 7, P11E_SLOT_DURABLE, "{\"x\":7}", 8, P11E_SLOT_DURABLE, "{}");
	memset(buf, 0, P11E_SLOT_HDR);
	p11e_slots_parse(buf, n, &v);
	CHECK(v.format == P11E_SLOTS_OK && v.newest == 1 && v.cap == 8192 && v.anchor == 1);
	/* A slot 1 whose size is not where it lies is not one. */
	n = two_slots(buf, 4096, 1, 0, "{}", 2, 0, "{}");
	buf[4096 + 25] = 0x20; /* its size now 8192 + 4096 */
	p11e_slots_parse(buf, n, &v);
	CHECK(v.newest == 0 && !v.slot[1].valid);

	/* Both torn: slots with nothing whole; "confirmed" tells whether a
	 * durable state was there to lose. */
	n = two_slots(buf, 4096, 3, P11E_SLOT_DURABLE, "{\"t\":3}", 0, 0, NULL);
	buf[P11E_SLOT_HDR] ^= 1;
	p11e_slots_parse(buf, n, &v);
	CHECK(v.format == P11E_SLOTS_TORN && !v.confirmed_seen);
	buf[P11E_SLOT_CONFIRMED_AT] = 1;
	p11e_slots_parse(buf, n, &v);
	CHECK(v.format == P11E_SLOTS_TORN && v.confirmed_seen);
	/* Headers that lie: a length past the slot, a size not a power of
	 * two, an unknown flag, another version. */
	n = two_slots(buf, 4096, 1, 0, "{}", 0, 0, NULL);
	buf[14] = 1;
	p11e_slots_parse(buf, n, &v);
	CHECK(!v.slot[0].valid);
	n = two_slots(buf, 4096, 1, 0, "{}", 0, 0, NULL);
	buf[24] = 1;
	p11e_slots_parse(buf, n, &v);
	CHECK(!v.slot[0].valid);
	n = two_slots(buf, 4096, 1, 0, "{}", 0, 0, NULL);
	buf[9] = 0x80;
	p11e_slots_parse(buf, n, &v);
	CHECK(!v.slot[0].valid);
	n = two_slots(buf, 4096, 1, 0, "{}", 0, 0, NULL);
	buf[8] = 2;
	p11e_slots_parse(buf, n, &v);
	CHECK(!v.slot[0].valid && v.format == P11E_SLOTS_TORN);
	/* Short input: less than a header. */
	p11e_slots_parse(buf, 20, &v);
	CHECK(v.format == P11E_SLOTS_TORN && v.newest == -1);

	CHECK(p11e_slots_cap_for(0) == 16384 && p11e_slots_cap_for(3000) == 16384);
	CHECK(p11e_slots_cap_for(5000) == 32768);
	CHECK(p11e_slot_encode(buf, 1, 0, 4096, buf, 4096) == -1);
	CHECK(p11e_slot_encode(buf, 1, 0, 5000, "{}", 2) == -1);
}

static char *record_path(const char *name)
{
	static char path[1024];

	snprintf(path, sizeof(path), "%s/identities/%s.json", state, name);
	return path;
}

static void view_of(const char *name, p11e_slots_view *v, unsigned char **buf, size_t *n)
{
	p11e_err err = {0};

	*buf = NULL;
	CHECK_RC(p11e_read_file(record_path(name), 1 << 22, (char **)buf, n, &err), P11E_OK, &err);
	if (*buf != NULL)
		p11e_slots_parse(*buf, *n, v);
	else
		memset(v, 0, sizeof(*v));
}

static int got(p11e_store *s, const char *name, const char *want)
{
	unsigned char *data = NULL;
	size_t len = 0;
	p11e_err err = {0};
	int same;

	if (p11e_store_get(s, "identity", name, &data, &len, &err) != P11E_OK) {
		fprintf(stderr, "get %s: %s\n", name, err.msg);
		return 0;
	}
	same = len == strlen(want) && memcmp(data, want, len) == 0;
	if (!same)
		fprintf(stderr, "get %s: %.*s, expected %s\n", name, (int)len, data, want);
	free(data);
	return same;
}

static void overwrite(const char *name, size_t off, const void *bytes, size_t len)
{
	int fd = open(record_path(name), O_WRONLY);

	CHECK(fd >= 0 && pwrite(fd, bytes, len, (off_t)off) == (ssize_t)len);
	if (fd >= 0)
		close(fd);
}

static void store(p11e_store *s)
{
	p11e_err err = {0};
	p11e_slots_view v;
	unsigned char *buf = NULL, *data = NULL;
	size_t n = 0, len = 0;
	char big[20000];
	FILE *f;

	/* Made by a save that is not durable; then durable, then not twice:
	 * the durable slot stays whole under the two after it. */
	CHECK_RC(p11e_store_put(s, "identity", "a@example.com", "{\"g\":1}", 7, 0, &err), P11E_OK,
		 &err);
	view_of("a@example.com", &v, &buf, &n);
	CHECK(v.format == P11E_SLOTS_OK && v.newest == 0 && v.anchor == -1);
	CHECK(!(v.slot[0].flags & P11E_SLOT_ENTRY));
	free(buf);
	CHECK_RC(p11e_store_put(s, "identity", "a@example.com", "{\"g\":2}", 7, P11E_STORE_DURABLE,
				&err),
		 P11E_OK, &err);
	view_of("a@example.com", &v, &buf, &n);
	CHECK(v.newest == 1 && v.anchor == 1 && v.slot[1].confirmed && v.slot[1].off == 16384);
	CHECK(v.slot[1].flags == (P11E_SLOT_DURABLE | P11E_SLOT_ENTRY));
	free(buf);
	CHECK_RC(p11e_store_put(s, "identity", "a@example.com", "{\"g\":3}", 7, 0, &err), P11E_OK,
		 &err);
	CHECK_RC(p11e_store_put(s, "identity", "a@example.com", "{\"g\":4}", 7, 0, &err), P11E_OK,
		 &err);
	view_of("a@example.com", &v, &buf, &n);
	CHECK(v.newest == 0 && v.slot[0].gen == 4 && v.anchor == 1 && v.slot[1].gen == 2);
	CHECK(v.slot[0].flags == P11E_SLOT_ENTRY);
	free(buf);
	CHECK(got(s, "a@example.com", "{\"g\":4}"));

	/* The power lost during the last save: its slot torn, the durable one
	 * is what is read, and the next save goes over the torn one. */
	overwrite("a@example.com", P11E_SLOT_HDR + 3, "X", 1);
	CHECK(got(s, "a@example.com", "{\"g\":2}"));
	CHECK_RC(p11e_store_put(s, "identity", "a@example.com", "{\"g\":5}", 7, 0, &err), P11E_OK,
		 &err);
	view_of("a@example.com", &v, &buf, &n);
	CHECK(v.newest == 0 && v.slot[0].gen == 3 && v.anchor == 1);
	free(buf);
	CHECK(got(s, "a@example.com", "{\"g\":5}"));

	/* A durable slot whose writer died before its fdatasync returned (no
	 * "confirmed"): the next save syncs it and confirms it first. */
	overwrite("a@example.com", 16384 + P11E_SLOT_CONFIRMED_AT, "\0", 1);
	CHECK_RC(p11e_store_put(s, "identity", "a@example.com", "{\"g\":6}", 7, 0, &err), P11E_OK,
		 &err);
	view_of("a@example.com", &v, &buf, &n);
	CHECK(v.anchor == 1 && v.slot[1].confirmed && v.slot[0].gen == 4);
	free(buf);

	/* A record in the format before: read as it is, upgraded on its first
	 * write (the whole file made again), read back. */
	f = fopen(record_path("old@example.com"), "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("{\"step\":\"done\"}", f);
		fclose(f);
	}
	chmod(record_path("old@example.com"), 0600);
	CHECK(got(s, "old@example.com", "{\"step\":\"done\"}"));
	CHECK_RC(
	    p11e_store_put(s, "identity", "old@example.com", "{\"step\":\"new\"}", 14, 0, &err),
	    P11E_OK, &err);
	view_of("old@example.com", &v, &buf, &n);
	CHECK(v.format == P11E_SLOTS_OK && v.newest == 0);
	free(buf);
	CHECK(got(s, "old@example.com", "{\"step\":\"new\"}"));

	/* Outgrowing the slots: the file made again, larger. */
	CHECK(sizeof(big) > 16384 - P11E_SLOT_HDR);
	memset(big, 'x', sizeof(big));
	big[0] = '"';
	big[sizeof(big) - 1] = '"';
	CHECK_RC(p11e_store_put(s, "identity", "old@example.com", big, sizeof(big),
				P11E_STORE_DURABLE, &err),
		 P11E_OK, &err);
	CHECK_RC(p11e_store_get(s, "identity", "old@example.com", &data, &len, &err), P11E_OK,
		 &err);
	CHECK(len == sizeof(big) && data != NULL && memcmp(data, big, len) == 0);
	free(data);
	view_of("old@example.com", &v, &buf, &n);
	CHECK(v.cap == 131072);
	free(buf);

	/* Zeros only (a new file's bytes lost with the power): no record; a
	 * torn file that had a confirmed durable slot: refused, named. */
	overwrite("old@example.com", 0, big, 0);
	{
		unsigned char zeros[200] = {0};
		CHECK(truncate(record_path("old@example.com"), 0) == 0);
		overwrite("old@example.com", 0, zeros, sizeof(zeros));
	}
	CHECK_RC(p11e_store_get(s, "identity", "old@example.com", &data, &len, &err),
		 P11E_NOT_FOUND, &err);
	overwrite("a@example.com", 16384 + P11E_SLOT_HDR + 3, "X", 1);
	overwrite("a@example.com", P11E_SLOT_HDR + 3, "X", 1);
	CHECK_RC(p11e_store_get(s, "identity", "a@example.com", &data, &len, &err), P11E_FAIL,
		 &err);
	CHECK(strstr(err.msg, "a@example.com.json") != NULL);
	CHECK_RC(p11e_store_put(s, "identity", "a@example.com", "{}", 2, 0, &err), P11E_FAIL, &err);

	/* list decodes as get does. */
	{
		p11e_store_doc *docs = NULL;
		size_t count = 0;
		int seen = 0;

		CHECK_RC(p11e_store_remove(s, "identity", "a@example.com", &err), P11E_OK, &err);
		CHECK_RC(p11e_store_put(s, "identity", "b@example.com", "{\"b\":1}", 7, 0, &err),
			 P11E_OK, &err);
		CHECK_RC(p11e_store_list(s, "identity", &docs, &count, &err), P11E_OK, &err);
		for (size_t i = 0; i < count; i++)
			if (strcmp(docs[i].name, "b@example.com") == 0 && docs[i].len == 7 &&
			    memcmp(docs[i].data, "{\"b\":1}", 7) == 0)
				seen = 1;
		CHECK(seen);
		p11e_store_docs_free(docs, count);
	}
}

int main(void)
{
	char tmpl[] = "/tmp/p11e-slots-XXXXXX";
	p11e_store *s = NULL;
	p11e_err err = {0};
	char cmd[600];

	parser();
	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(state, sizeof(state), "%s", tmpl);
	CHECK_RC(p11e_store_open_dir(state, &s, &err), P11E_OK, &err);
	if (s != NULL) {
		/* The directory, made by a first put. */
		CHECK_RC(p11e_store_put(s, "identity", "first@example.com", "{}", 2, 0, &err),
			 P11E_OK, &err);
		store(s);
		p11e_store_close(s);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
	check_sh(cmd);
	return check_done();
}
