/* The file store's counters (store.h, p11e_store_counter_next): the counter
 * NAME is the file STATE_DIR/counters/NAME (escaped as documents are),
 * holding the last value handed out in decimal, read and rewritten under
 * the lock "counter"/NAME (flock: other processes and other threads wait),
 * written atomically and fsync'd (file and directory) before the value is
 * returned. A crash before the rename hands the value out again, but nobody
 * had it yet; after it, the value is on disk: never handed out twice. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/util.h"
#include "store_int.h"

/* A counter is tiny: a number and a newline. */
static const p11e_store_kind counter_kind = {"counter", "counters", "", 64, 0};

/* How long a counter waits for another process's increment: generous, as
 * one takes a write and two fsyncs (a loaded disk). */
#define COUNTER_WAIT_MS 60000

static p11e_rc parse_value(const char *state_dir, const char *name, const unsigned char *text,
			   size_t len, unsigned long long *v, p11e_err *err)
{
	char buf[32];
	char *end;

	if (len == 0 || len >= sizeof(buf))
		goto bad;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		goto bad;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno != 0 || (strcmp(end, "\n") != 0 && *end != '\0'))
		goto bad;
	return P11E_OK;
bad:
	return p11e_errf(err, P11E_FAIL,
			 "store: counter %.100s in %s/counters is corrupt (not a number); "
			 "restore it from a backup: a guessed value could repeat one",
			 name, state_dir);
}

p11e_rc p11e_store_file_counter_next(const char *state_dir, const char *name,
				     unsigned long long first, unsigned long long *out,
				     p11e_err *err)
{
	unsigned char *text = NULL;
	unsigned long long v = first;
	char num[32], *dir = p11e_path_join(state_dir, counter_kind.dir);
	size_t len = 0;
	void *held = NULL;
	p11e_rc rc;
	int n;

	if (dir == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((rc = p11e_store_file_lock(state_dir, "counter", name, COUNTER_WAIT_MS, &held, err)) !=
	    P11E_OK) {
		free(dir);
		return rc;
	}
	rc = p11e_store_file_get(dir, &counter_kind, name, &text, &len, err);
	if (rc == P11E_OK) {
		if ((rc = parse_value(state_dir, name, text, len, &v, err)) != P11E_OK)
			goto out;
		if (v == ULLONG_MAX) {
			rc = p11e_errf(err, P11E_FAIL, "store: counter %.100s is at its largest",
				       name);
			goto out;
		}
		v++;
	} else if (rc != P11E_NOT_FOUND) {
		goto out;
	}
	n = snprintf(num, sizeof(num), "%llu\n", v);
	rc = p11e_store_file_put(dir, &counter_kind, name, num, (size_t)n, P11E_STORE_DURABLE, err);
	if (rc == P11E_OK)
		*out = v;
out:
	free(text);
	free(dir);
	p11e_store_file_unlock(held);
	return rc;
}
