/* The string-to-row hash index of src/core/row_index.h: open addressing with
 * linear probing, FNV-1a over the key (ASCII-lower-cased for addresses).
 * Filled once, never shrunk: a batch's roster is read whole first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/row_index.h"

static uint64_t key_hash(const char *s, int nocase)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (nocase && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 1099511628211ULL;
	}
	return h;
}

int p11e_row_index_init(p11e_row_index *ix, size_t max, int nocase)
{
	size_t cap = 16;

	memset(ix, 0, sizeof(*ix));
	/* At most half full: probes stay short. */
	while (cap < max * 2) {
		if (cap > SIZE_MAX / 4)
			return -1;
		cap *= 2;
	}
	ix->keys = calloc(cap, sizeof(*ix->keys));
	ix->rows = calloc(cap, sizeof(*ix->rows));
	if (ix->keys == NULL || ix->rows == NULL) {
		p11e_row_index_free(ix);
		return -1;
	}
	ix->cap = cap;
	ix->nocase = nocase;
	return 0;
}

int p11e_row_index_add(p11e_row_index *ix, const char *key, size_t row, size_t *first)
{
	size_t mask = ix->cap - 1, i = (size_t)key_hash(key, ix->nocase) & mask;

	for (; ix->keys[i] != NULL; i = (i + 1) & mask) {
		const char *k = ix->keys[i];
		if (ix->nocase ? strcasecmp(k, key) == 0 : strcmp(k, key) == 0) {
			*first = ix->rows[i];
			return 1;
		}
	}
	if (ix->n * 2 >= ix->cap)
		return -1;
	ix->keys[i] = key;
	ix->rows[i] = row;
	ix->n++;
	return 0;
}

void p11e_row_index_free(p11e_row_index *ix)
{
	free(ix->keys);
	free(ix->rows);
	memset(ix, 0, sizeof(*ix));
}
