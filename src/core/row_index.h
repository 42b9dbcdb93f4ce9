/* A hash index of strings to the first row that had each (src/core/row_index.c):
 * batch finds the first line of a repeated identity, and each row's token,
 * in constant time per row, where comparing every row with every earlier one
 * took minutes for a 200,000-row roster. */
#ifndef P11ENROLL_ROW_INDEX_H
#define P11ENROLL_ROW_INDEX_H

#include <stddef.h>

typedef struct p11e_row_index {
	const char **keys; /* borrowed: the caller keeps them alive */
	size_t *rows;
	size_t cap; /* a power of two, at least twice the keys it can hold */
	size_t n;
	int nocase; /* keys equal without regard to ASCII case (addresses) */
} p11e_row_index;

/* Room for up to max keys. 0, or -1 when out of memory. */
int p11e_row_index_init(p11e_row_index *ix, size_t max, int nocase);
/* The row of key if it is in the index (returns 1); else key is added with
 * row (returns 0). -1 when the index is full (more keys than max). */
int p11e_row_index_add(p11e_row_index *ix, const char *key, size_t row, size_t *first);
void p11e_row_index_free(p11e_row_index *ix);

#endif
