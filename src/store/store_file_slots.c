/* The two-slot format's parser and encoder (store_file_slots.h): bytes only,
 * no file I/O, so that a unit test and a fuzz harness drive it directly. */
#include <string.h>
#include <openssl/evp.h>
#include "store_file_slots.h"

static const unsigned char magic[8] = {'p', '1', '1', 'e', 's', 'l', 'o', 't'};

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

/* SHA-256 of the header with the confirmed byte and the hash as zeros, then
 * the document. */
static int slot_hash(const unsigned char *hdr, const unsigned char *data, size_t len,
		     unsigned char out[32])
{
	unsigned char h[P11E_SLOT_HDR];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	memcpy(h, hdr, sizeof(h));
	h[P11E_SLOT_CONFIRMED_AT] = 0;
	memset(h + 32, 0, 32);
	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, h, sizeof(h)) == 1 &&
	     (len == 0 || EVP_DigestUpdate(ctx, data, len) == 1) &&
	     EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int pow2_cap(uint64_t cap)
{
	return cap >= P11E_SLOT_MIN && cap <= ((uint64_t)1 << 40) && (cap & (cap - 1)) == 0;
}

/* The slot at off, if whole: its header says it is one of this layout's
 * (slot 1 at the slot size) and the hash matches. */
static void read_slot(const unsigned char *buf, size_t n, size_t off, p11e_slot_info *s)
{
	const unsigned char *h = buf + off;
	unsigned char md[32];
	uint64_t cap, len;

	memset(s, 0, sizeof(*s));
	s->off = off;
	if (off > n || n - off < P11E_SLOT_HDR || memcmp(h, magic, sizeof(magic)) != 0 ||
	    h[8] != 1 || h[11] != 0 || (h[9] & ~(P11E_SLOT_DURABLE | P11E_SLOT_ENTRY)) != 0)
		return;
	cap = get_le(h + 24, 8);
	len = get_le(h + 12, 4);
	if (!pow2_cap(cap) || (off != 0 && off != cap) || len > cap - P11E_SLOT_HDR ||
	    len > n - off - P11E_SLOT_HDR)
		return;
	if (slot_hash(h, h + P11E_SLOT_HDR, (size_t)len, md) != 0 ||
	    memcmp(md, h + 32, sizeof(md)) != 0)
		return;
	s->valid = 1;
	s->gen = get_le(h + 16, 8);
	s->flags = h[9];
	s->confirmed = h[P11E_SLOT_CONFIRMED_AT] == 1;
	s->len = (size_t)len;
}

void p11e_slots_parse(const unsigned char *buf, size_t n, p11e_slots_view *v)
{
	size_t zeros = 0;

	memset(v, 0, sizeof(*v));
	v->newest = v->anchor = -1;
	while (zeros < n && buf[zeros] == 0)
		zeros++;
	if (zeros == n) {
		v->format = P11E_SLOTS_NONE;
		return;
	}
	read_slot(buf, n, 0, &v->slot[0]);
	if (v->slot[0].valid) {
		v->cap = (size_t)get_le(buf + 24, 8);
		read_slot(buf, n, v->cap, &v->slot[1]);
	} else {
		/* Slot 0 torn: slot 1 is at one of the sizes the layout allows. */
		for (size_t cap = P11E_SLOT_MIN; cap < n && cap <= ((size_t)1 << 40); cap *= 2) {
			read_slot(buf, n, cap, &v->slot[1]);
			if (v->slot[1].valid) {
				v->cap = cap;
				break;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		if (!v->slot[i].valid)
			continue;
		if (v->newest < 0 || v->slot[i].gen > v->slot[v->newest].gen)
			v->newest = i;
		if ((v->slot[i].flags & P11E_SLOT_DURABLE) &&
		    (v->anchor < 0 || v->slot[i].gen > v->slot[v->anchor].gen))
			v->anchor = i;
	}
	for (size_t off = 0; off < n; off = off == 0 ? P11E_SLOT_MIN : off * 2) {
		if (n - off >= P11E_SLOT_HDR && memcmp(buf + off, magic, sizeof(magic)) == 0 &&
		    buf[off + P11E_SLOT_CONFIRMED_AT] == 1)
			v->confirmed_seen = 1;
		if (off > ((size_t)1 << 40))
			break;
	}
	if (v->newest >= 0)
		v->format = P11E_SLOTS_OK;
	else if (buf[0] == 0 || (n >= sizeof(magic) && memcmp(buf, magic, sizeof(magic)) == 0))
		/* No document of the format before starts with a NUL or the
		 * magic: what is left of slots. */
		v->format = P11E_SLOTS_TORN;
	else
		v->format = P11E_SLOTS_PLAIN;
}

size_t p11e_slots_cap_for(size_t len)
{
	/* 16 KiB at least: a record is made small (its first save) and
	 * grows to a few KiB by its end, more with each generation; slot 1
	 * past a hole costs no disk until it is written. */
	size_t cap = 4 * P11E_SLOT_MIN;

	while (cap < 4 * (P11E_SLOT_HDR + len))
		cap *= 2;
	return cap;
}

int p11e_slot_encode(unsigned char *out, uint64_t gen, unsigned flags, size_t cap, const void *data,
		     size_t len)
{
	if (!pow2_cap(cap) || len > cap - P11E_SLOT_HDR || len > UINT32_MAX)
		return -1;
	memset(out, 0, P11E_SLOT_HDR);
	memcpy(out, magic, sizeof(magic));
	out[8] = 1;
	out[9] = (unsigned char)flags;
	put_le(out + 12, len, 4);
	put_le(out + 16, gen, 8);
	put_le(out + 24, cap, 8);
	if (len > 0)
		memcpy(out + P11E_SLOT_HDR, data, len);
	return slot_hash(out, out + P11E_SLOT_HDR, len, out + 32);
}
