/* The file store's two-slot documents (docs/store.md#durability): a document
 * written in place into one of two checksummed slots, so that a durable save
 * on an existing file is one fdatasync and no directory fsync. Not public. */
#ifndef P11ENROLL_STORE_FILE_SLOTS_H
#define P11ENROLL_STORE_FILE_SLOTS_H

#include <stddef.h>
#include <stdint.h>

/* A slot: a 64-byte header, then the document.
 *   0  "p11eslot"       8  version (1)     9  flags    10 confirmed (0/1)
 *   11 0                12 length (u32 LE) 16 generation (u64 LE)
 *   24 the slot's size, also the second slot's offset (u64 LE, a power of
 *      two from 4096)   32 SHA-256 of the header (bytes 10 and 32-63 as 0)
 *      and the document
 * Slot 0 starts the file, slot 1 starts at the slot size. "confirmed" is
 * set after the fdatasync of a durable slot returned, outside the hash. */
#define P11E_SLOT_HDR 64
#define P11E_SLOT_MIN 4096u
#define P11E_SLOT_DURABLE 1u /* written for a durable save, fdatasync'd after */
#define P11E_SLOT_ENTRY 2u   /* the directory was fsync'd after the file was made */
#define P11E_SLOT_CONFIRMED_AT 10

typedef enum {
	P11E_SLOTS_NONE,  /* empty, or zeros only: nothing was ever made durable */
	P11E_SLOTS_PLAIN, /* the whole file is the document (the format before) */
	P11E_SLOTS_OK,	  /* at least one whole slot */
	P11E_SLOTS_TORN	  /* slots, none whole: with confirmed_seen, a durable
			     state is lost (a disk that lied); without, none
			     was ever made durable in this file */
} p11e_slots_format;

typedef struct {
	int valid;
	uint64_t gen;
	unsigned flags;
	int confirmed;
	size_t off; /* of the header */
	size_t len; /* of the document, after the header */
} p11e_slot_info;

typedef struct {
	p11e_slots_format format;
	size_t cap; /* the slot size (0 when unknown) */
	p11e_slot_info slot[2];
	int newest;	    /* the valid slot of the highest generation, or -1 */
	int anchor;	    /* the newest valid durable one, or -1 */
	int confirmed_seen; /* a slot header, whole or not, says "confirmed" */
} p11e_slots_view;

/* What buf (a whole file) holds. Never reads past n. */
void p11e_slots_parse(const unsigned char *buf, size_t n, p11e_slots_view *v);
/* The slot size for a document of len bytes: room for it four times over,
 * so that a record that grows (a renewal's generation) stays in place. */
size_t p11e_slots_cap_for(size_t len);
/* Encodes one slot into out (P11E_SLOT_HDR + len bytes); 0, or -1 if len
 * does not fit in cap or the hash fails. */
int p11e_slot_encode(unsigned char *out, uint64_t gen, unsigned flags, size_t cap, const void *data,
		     size_t len);

#endif
