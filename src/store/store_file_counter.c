/* The file store's counters (p11e_store_counter_next): one decimal number in
 * STATE_DIR/counters/<base>.count, read and rewritten atomically (written to
 * a temp file, synced, renamed) under the store's lock "counter"/NAME, so two
 * processes never take one value and a crash at any point either left the
 * old number (the value was never handed out) or the new one (it was, and is
 * never handed out again). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/state_paths.h"
#include "p11enroll/util.h"
#include "store_int.h"

#define COUNTER_MAX_BYTES 64
/* A counter is a lock's holder for a moment only: waiting this long means
 * something is wrong with the other process, not that it is busy. */
#define COUNTER_WAIT_MS 60000

static char *counter_path(const char *state_dir, const char *name, char **dir)
{
	char *base = p11e_state_base_name(name), *file = NULL, *out = NULL;
	size_t len;

	*dir = p11e_path_join(state_dir, "counters");
	if (*dir == NULL || base == NULL)
		goto out;
	len = strlen(base) + sizeof(".count");
	if ((file = malloc(len)) == NULL)
		goto out;
	snprintf(file, len, "%s.count", base);
	out = p11e_path_join(*dir, file);
out:
	free(file);
	free(base);
	return out;
}

/* The value stored at path: *last 0 and *found 0 when there is none. */
static p11e_rc read_counter(const char *path, unsigned long long *last, int *found, p11e_err *err)
{
	char *data = NULL, *end = NULL;
	size_t len = 0;
	p11e_rc rc = p11e_read_private(path, COUNTER_MAX_BYTES, &data, &len, err);

	*last = 0;
	*found = 0;
	if (rc == P11E_NOT_FOUND)
		return P11E_OK;
	if (rc != P11E_OK)
		return rc;
	errno = 0;
	*last = strtoull(data, &end, 10);
	if (len == 0 || data[0] < '0' || data[0] > '9' || errno != 0 ||
	    (*end != '\0' && *end != '\n') || *last >= (1ULL << 62))
		rc = p11e_errf(err, P11E_FAIL,
			       "store: %s is not a number; restore it from backup (it must be at "
			       "least the last value handed out)",
			       path);
	*found = rc == P11E_OK;
	free(data);
	return rc;
}

p11e_rc p11e_store_file_counter_next(const char *state_dir, const char *name,
				     unsigned long long first, unsigned long long *out,
				     p11e_err *err)
{
	char *dir = NULL, *path = counter_path(state_dir, name, &dir), text[32];
	unsigned long long last = 0;
	void *held = NULL;
	int found = 0;
	p11e_rc rc;

	*out = 0;
	if (path == NULL) {
		free(dir);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	if ((rc = p11e_store_file_lock(state_dir, "counter", name, COUNTER_WAIT_MS, &held, err)) !=
		P11E_OK ||
	    (rc = read_counter(path, &last, &found, err)) != P11E_OK)
		goto out;
	*out = found ? last + 1 : first;
	if (found && last + 1 < first)
		*out = first; /* never below what the caller knows was used */
	snprintf(text, sizeof(text), "%llu\n", *out);
	if ((rc = p11e_mkdirs(dir, 0700, err)) != P11E_OK ||
	    (rc = p11e_write_file_atomic(path, text, strlen(text), 0600, err)) != P11E_OK)
		*out = 0;
out:
	if (held != NULL)
		p11e_store_file_unlock(held);
	free(path);
	free(dir);
	return rc;
}
