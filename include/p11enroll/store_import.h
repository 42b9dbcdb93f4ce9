/* `p11enroll store migrate --from file:DIR`: a station's state (a file
 * store's STATE_DIR) copied into another store, generically over the store
 * API (docs/store.md, "Importing a station"): every kind of document store.c
 * knows, then the counters. Nothing is ever replaced: a document the target
 * holds already with the same bytes is counted as there (a rerun after a
 * crash, or a second station's directory, finishes the job), one with other
 * bytes is a conflict, refused by kind and name and left as it is in both. */
#ifndef P11ENROLL_STORE_IMPORT_H
#define P11ENROLL_STORE_IMPORT_H

#include "p11enroll/store.h"

/* What one kind (or "counter") came to. */
typedef struct p11e_import_count {
	const char *kind; /* static: the store's kind name, or "counter" */
	size_t imported;  /* written into the target */
	size_t present;	  /* there already, the same bytes (a counter: as high or higher) */
	size_t conflicts; /* there already with other bytes: refused, named to conflict() */
} p11e_import_count;

typedef struct p11e_import_report {
	p11e_import_count *counts; /* one per kind, then "counter" */
	size_t n;
	size_t conflicts; /* over all of them */
} p11e_import_report;

/* Called once per refused document: kind and name, and why in a few words
 * ("differs from the one in the target"). */
typedef void (*p11e_import_conflict_fn)(void *arg, const char *kind, const char *name,
					const char *why);

/* Copies from's documents and counters into to, under to's lock
 * ("store", "import": two imports take turns). from is only read. Every
 * document is put create-only and durably, so an import running beside
 * stations that use the target overwrites nothing of theirs. Returns
 * P11E_EXISTS when there were conflicts (the rest imported all the same:
 * rerun once they are resolved), P11E_BUSY when another import holds the
 * lock past wait_ms, else what the stores said (P11E_FAIL: nothing after
 * the failing document was done; a rerun goes on from there). */
p11e_rc p11e_store_import(p11e_store *to, p11e_store *from, long wait_ms,
			  p11e_import_conflict_fn conflict, void *arg, p11e_import_report *out,
			  p11e_err *err);
void p11e_import_report_free(p11e_import_report *r);

#endif
