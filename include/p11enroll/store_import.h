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
	const char *kind; /* static: the store's kind name, "counter" or "audit" (entries
			   * of the source's chain appended, or found appended before) */
	size_t imported;  /* written into the target */
	size_t present;	  /* there already, the same bytes (a counter: as high or higher) */
	size_t conflicts; /* there already with other bytes: refused, named to conflict() */
} p11e_import_count;

typedef struct p11e_import_report {
	p11e_import_count *counts; /* one per kind, then "counter", then "audit" */
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
 * the failing document was done; a rerun goes on from there). from's audit
 * chain is verified before anything is copied (broken: P11E_FAIL, nothing
 * imported) and appended last to to's, re-chained, never twice
 * (p11e_audit_import_write, audit.h). */
p11e_rc p11e_store_import(p11e_store *to, p11e_store *from, long wait_ms,
			  p11e_import_conflict_fn conflict, void *arg, p11e_import_report *out,
			  p11e_err *err);
void p11e_import_report_free(p11e_import_report *r);

/* The ACME CAs' state a station kept in STATE_DIR/acme-HASH (the default
 * "dir" of an ACME CA): account, account key, orders in progress and last
 * chain, imported into to as above under the names a station on to uses
 * (HASH/account, HASH/REQUEST_KEY, HASH/chain), counted into rep (as filled
 * by p11e_store_import). Returns P11E_EXISTS when one of them conflicted
 * (another station's account for the same CA: refused by kind and name). An
 * ACME CA with a "dir" of its own elsewhere is not looked for. */
p11e_rc p11e_store_import_acme(p11e_store *to, const char *state_dir, long wait_ms,
			       p11e_import_conflict_fn conflict, void *arg,
			       p11e_import_report *rep, p11e_err *err);

/* The station's default embedded CA (STATE_DIR/ca, "local:STATE_DIR/ca"),
 * src/ca/ca_local_import.c: when that directory holds a CA (ca.pem), its
 * own file store (the index's ca-cert documents, the ca-request answers,
 * the CRL number) is imported into to as above, into rep; certificates only
 * in its index.jsonl (issued before the store) become ca-cert documents,
 * created where none exists; its crlnumber raises the CRL counter. The CA's
 * key and certificate stay where they are. */
typedef struct p11e_ca_import {
	int found;	       /* STATE_DIR/ca holds a CA */
	char *dir;	       /* STATE_DIR/ca (malloc'd) */
	char id[65];	       /* the CA's key's SHA-256: its documents' prefix */
	p11e_import_report rep; /* its store's documents and counters */
	size_t legacy;	       /* index.jsonl-only certificates created in to */
	size_t legacy_present; /* ... found there already */
} p11e_ca_import;
p11e_rc p11e_ca_local_import(p11e_store *to, const char *state_dir, long wait_ms,
			     p11e_import_conflict_fn conflict, void *arg, p11e_ca_import *out,
			     p11e_err *err);
void p11e_ca_import_free(p11e_ca_import *c);

#endif
