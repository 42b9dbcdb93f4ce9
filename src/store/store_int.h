/* What the store's files share (src/store/): not public. */
#ifndef P11ENROLL_STORE_INT_H
#define P11ENROLL_STORE_INT_H

#include "p11enroll/store.h"

/* A kind of document (store.c's table). */
typedef struct p11e_store_kind {
	const char *name; /* "identity" */
	const char *dir;  /* file store: its directory under STATE_DIR */
	const char *ext;  /* and its files' suffix */
	size_t max;	  /* the largest document read back */
	/* file store: the longest escaped name kept as a file name before a
	 * hash stands for it (0: P11E_STATE_BASE_MAX); the vault's entries
	 * have always been hashed sooner */
	size_t base_max;
} p11e_store_kind;

extern const p11e_store_ops p11e_store_file_ops;

/* Waiting for a lock, as both backends poll (store.c): short pauses first,
 * as most holders finish within a fraction of a second, then up to 200 ms. */
typedef struct p11e_store_wait {
	long deadline; /* CLOCK_MONOTONIC, ms */
	long pause;
} p11e_store_wait;
void p11e_store_wait_start(p11e_store_wait *w, long wait_ms);
/* Sleeps before the next try: 0 once the wait is over (nothing slept). */
int p11e_store_wait_more(p11e_store_wait *w);
/* The one message of a lock still held when the wait is over (P11E_BUSY). */
p11e_rc p11e_store_busy(p11e_err *err, const char *kind, const char *name, const char *holder);
/* 1 for a kind named HOME/REST, HOME naming the home the document belongs
 * to (an ACME CA's directory URL hash): a file store rooted at that home
 * (p11e_store_open_home) leaves "HOME/" out of the file's name, so the
 * files stay where they always were; a shared store keeps the whole name,
 * so two homes never share one. */
int p11e_store_kind_home_prefixed(const char *kind);
/* Makes an open file store flat (p11e_store_open_flat). */
void p11e_store_file_set_flat(void *state);

/* The file store's locks (store_file_lock.c): held is a malloc'd fd. */
p11e_rc p11e_store_file_lock(const char *state_dir, const char *kind, const char *name,
			     long wait_ms, void **held, p11e_err *err);
void p11e_store_file_unlock(void *held);
/* Its documents (store_file_doc.c), in dir: the kind's directory. */
char *p11e_store_file_doc_path(const char *dir, const p11e_store_kind *k, const char *name);
p11e_rc p11e_store_file_get(const char *dir, const p11e_store_kind *k, const char *name,
			    unsigned char **data, size_t *len, p11e_err *err);
p11e_rc p11e_store_file_put(const char *dir, const p11e_store_kind *k, const char *name,
			    const void *data, size_t len, int flags, p11e_err *err);
p11e_rc p11e_store_file_remove(const char *dir, const p11e_store_kind *k, const char *name,
			       p11e_err *err);
p11e_rc p11e_store_file_list(const char *dir, const p11e_store_kind *k,
			     p11e_store_doc **docs, size_t *n, p11e_err *err);
/* Two-slot documents (store_file_slot_io.c): the kinds written in place
 * into two checksummed slots (the identity records), the format before still
 * read; *text, read whole from path, made the document it holds; their get
 * and put. */
int p11e_store_file_slotted(const p11e_store_kind *k);
p11e_rc p11e_store_file_slots_decode(const char *path, const p11e_store_kind *k, char **text,
				     size_t *len, p11e_err *err);
p11e_rc p11e_store_file_slots_get(const char *path, const p11e_store_kind *k, char **text,
				  size_t *len, p11e_err *err);
p11e_rc p11e_store_file_slots_put(const char *dir, const char *path, const p11e_store_kind *k,
				  const void *data, size_t len, int durable, p11e_err *err);
int p11e_store_file_same_name(const p11e_store_kind *k, const char *stored, const char *name);
/* Its audit chain (store_file_audit.c): the log at log, its head under
 * state_dir. */
p11e_rc p11e_store_file_audit_read(const char *state_dir, const char *log, int flags,
				   p11e_store_audit_head *head, enum p11e_store_audit_given *given,
				   p11e_store_audit_fn fn, void *arg, p11e_err *err);
p11e_rc p11e_store_file_audit_append(const char *state_dir, const char *log, int flags,
				     p11e_store_audit_head *head,
				     const p11e_store_audit_append_cb *cb, void *arg,
				     p11e_err *err);
/* Its counters (store_file_counter.c): STATE_DIR/counters/NAME. */
p11e_rc p11e_store_file_counter_next(const char *state_dir, const char *name,
				     unsigned long long first, unsigned long long *out,
				     p11e_err *err);
p11e_rc p11e_store_file_counter_raise(const char *state_dir, const char *name,
				      unsigned long long at_least, unsigned long long *now,
				      p11e_err *err);
p11e_rc p11e_store_file_counter_list(const char *state_dir, p11e_store_counter **out, size_t *n,
				     p11e_err *err);
extern const p11e_store_ops p11e_store_pg_ops;

/* The PostgreSQL schema's migrations, oldest first (store_pg_schema.c):
 * migration i brings the schema from version i to i + 1. */
typedef struct p11e_pg_migration {
	const char *summary; /* one line, kept in the schema's history */
	const char *sql;     /* statements run in the migration's transaction */
} p11e_pg_migration;

const p11e_pg_migration *p11e_pg_migrations(int *count);

#endif
