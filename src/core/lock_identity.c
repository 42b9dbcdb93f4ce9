/* One identity's record under its lock (include/p11enroll/lock.h), the
 * opening that renew, revoke, replace and publish share. */
#include <stdlib.h>
#include <string.h>
#include "p11enroll/lock.h"

p11e_rc p11e_held_acquire(const p11e_config *cfg, const char *text, long wait_ms, p11e_held *h,
			  p11e_err *err)
{
	long wait = wait_ms < 0 ? 0 : wait_ms > 0 ? wait_ms : P11E_LOCK_WAIT_DEFAULT_MS;
	p11e_rc rc;

	memset(h, 0, sizeof(*h));
	h->lock = (p11e_lock)P11E_LOCK_INIT;
	if (text == NULL || text[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "identity: give an address or host name");
	if ((h->identity = p11e_record_identity(text)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_lock_acquire(cfg->store, "identity", h->identity, wait, &h->lock, err);
	if (rc == P11E_OK)
		rc = p11e_record_load(cfg->store, h->identity, &h->rec, err);
	return rc;
}

void p11e_held_release(p11e_held *h)
{
	p11e_record_clear(&h->rec);
	p11e_lock_release(&h->lock);
	free(h->identity);
	h->identity = NULL;
}
