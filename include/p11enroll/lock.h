/* Named exclusive locks under STATE_DIR/locks/ (src/core/lock.c): flock(2) on
 * a file opened without following links, so the kernel releases a lock when
 * its holder dies and a crash never leaves a stale one. The file holds the
 * holder's pid and host, for the message a waiting process gives up with.
 *
 * Kinds in use: "identity" (the whole run of one identity: enroll, batch rows,
 * poll, recover, export, forget) and "token" (work on one token that is not
 * an identity's: the CA certificates written beside every key). */
#ifndef P11ENROLL_LOCK_H
#define P11ENROLL_LOCK_H

#include "p11enroll/error.h"

typedef struct p11e_lock {
	int fd; /* -1: not held */
} p11e_lock;

#define P11E_LOCK_INIT {-1}
/* The default --wait, in milliseconds. */
#define P11E_LOCK_WAIT_DEFAULT_MS 5000

/* Takes the lock KIND/NAME, waiting up to wait_ms (0: try once). P11E_BUSY
 * naming the holder's pid and host when it is still held after that. */
p11e_rc p11e_lock_acquire(const char *state_dir, const char *kind, const char *name,
			  long wait_ms, p11e_lock *out, p11e_err *err);
/* Releases it (a no-op on a lock not held). */
void p11e_lock_release(p11e_lock *l);

#endif
