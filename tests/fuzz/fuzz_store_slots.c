/* Fuzz harness: the file store's two-slot record files
 * (src/store/store_file_slots.c): whatever the bytes, the parser reads
 * nothing past them, and a slot it calls whole lies inside them with its
 * hash right (encoded again from what it read, it is the same bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "store/store_file_slots.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1), *again;
	p11e_slots_view v;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	p11e_slots_parse(copy, size, &v);
	if ((v.format == P11E_SLOTS_OK) != (v.newest >= 0))
		abort();
	for (int i = 0; i < 2; i++) {
		const p11e_slot_info *s = &v.slot[i];

		if (!s->valid)
			continue;
		if (s->off > size || size - s->off < P11E_SLOT_HDR + s->len)
			abort();
		if ((again = malloc(P11E_SLOT_HDR + s->len)) == NULL)
			break;
		if (p11e_slot_encode(again, s->gen, s->flags, v.cap, copy + s->off + P11E_SLOT_HDR,
				     s->len) != 0)
			abort();
		again[P11E_SLOT_CONFIRMED_AT] = copy[s->off + P11E_SLOT_CONFIRMED_AT];
		if (memcmp(again, copy + s->off, P11E_SLOT_HDR + s->len) != 0)
			abort();
		free(again);
	}
	if (v.anchor >= 0 &&
	    !(v.slot[v.anchor].valid && (v.slot[v.anchor].flags & P11E_SLOT_DURABLE)))
		abort();
	free(copy);
	return 0;
}
