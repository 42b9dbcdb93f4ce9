/* Named exclusive locks, kept by the store (store.h, src/core/lock.c): in the
 * file store flock(2) on a file under STATE_DIR/locks/ opened without
 * following links, which holds the holder's pid and host for the message a
 * waiting process gives up with; in PostgreSQL an advisory lock held by a
 * connection of the lock's own. Either way the lock goes when its holder dies
 * (or loses its connection): a crash never leaves a stale one.
 *
 * Kinds in use: "identity" (the whole run of one identity: enroll, batch rows,
 * poll, recover, export, forget) and "token" (work on one token that is not
 * an identity's: the CA certificates written beside every key). */
#ifndef P11ENROLL_LOCK_H
#define P11ENROLL_LOCK_H

#include "p11enroll/error.h"
#include "p11enroll/store.h"

typedef struct p11e_lock {
	p11e_store *store;
	void *held; /* NULL: not held */
} p11e_lock;

#define P11E_LOCK_INIT {NULL, NULL}
/* The default --wait, in milliseconds. */
#define P11E_LOCK_WAIT_DEFAULT_MS 5000

/* Takes the lock KIND/NAME, waiting up to wait_ms (0: try once). P11E_BUSY
 * naming the holder's pid and host when it is still held after that. */
p11e_rc p11e_lock_acquire(p11e_store *store, const char *kind, const char *name, long wait_ms,
			  p11e_lock *out, p11e_err *err);
/* Releases it (a no-op on a lock not held). */
void p11e_lock_release(p11e_lock *l);

/* An identity's record held under its lock, for the commands that change
 * an identity outside the pipeline (renew, revoke, replace, publish;
 * src/core/lock_identity.c). */
#include "p11enroll/config.h"
#include "p11enroll/record.h"
typedef struct p11e_held {
	char *identity; /* lower-cased */
	p11e_lock lock;
	p11e_record rec;
} p11e_held;
/* text (an address or host name) lower-cased, its lock taken (wait_ms as
 * p11e_enroll_params.wait_ms: 0 the default, negative not at all) and its
 * record loaded: P11E_USAGE for an empty text, P11E_NOT_FOUND without a
 * record. p11e_held_release undoes what was done, also after a failure. */
p11e_rc p11e_held_acquire(const p11e_config *cfg, const char *text, long wait_ms, p11e_held *h,
			  p11e_err *err);
void p11e_held_release(p11e_held *h);

#endif
