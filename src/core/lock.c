/* Named locks (include/p11enroll/lock.h), taken from the store that keeps
 * them: flock(2) files in the file store, advisory locks in PostgreSQL. */
#include <stddef.h>
#include "p11enroll/lock.h"

p11e_rc p11e_lock_acquire(p11e_store *store, const char *kind, const char *name, long wait_ms,
			  p11e_lock *out, p11e_err *err)
{
	p11e_rc rc;

	out->store = NULL;
	out->held = NULL;
	if ((rc = p11e_store_lock(store, kind, name, wait_ms, &out->held, err)) == P11E_OK)
		out->store = store;
	return rc;
}

void p11e_lock_release(p11e_lock *l)
{
	if (l == NULL || l->held == NULL)
		return;
	p11e_store_unlock(l->store, l->held);
	l->held = NULL;
	l->store = NULL;
}
