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

/* The counter's last value into *v and *found, under its lock. */
static p11e_rc read_value(const char *state_dir, const char *name, unsigned long long *v,
			  int *found, p11e_err *err)
{
	char *dir = p11e_path_join(state_dir, counter_kind.dir);
	unsigned char *text = NULL;
	size_t len = 0;
	p11e_rc rc;

	*found = 0;
	if (dir == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_store_file_get(dir, &counter_kind, name, &text, &len, err);
	free(dir);
	*found = rc == P11E_OK;
	if (rc == P11E_OK)
		rc = parse_value(state_dir, name, text, len, v, err);
	else if (rc == P11E_NOT_FOUND)
		rc = P11E_OK;
	free(text);
	return rc;
}

static p11e_rc write_value(const char *state_dir, const char *name, unsigned long long v,
			   p11e_err *err)
{
	char num[32], *dir = p11e_path_join(state_dir, counter_kind.dir);
	int n = snprintf(num, sizeof(num), "%llu\n", v);
	p11e_rc rc;

	if (dir == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_store_file_put(dir, &counter_kind, name, num, (size_t)n, P11E_STORE_DURABLE, err);
	free(dir);
	return rc;
}

/* The counter's lock taken (*held, for p11e_store_file_unlock) and its value
 * read under it: *found 0 when it was never written. */
static p11e_rc lock_and_read(const char *state_dir, const char *name, void **held,
			     unsigned long long *v, int *found, p11e_err *err)
{
	p11e_rc rc = p11e_store_file_lock(state_dir, "counter", name, COUNTER_WAIT_MS, held, err);

	if (rc == P11E_OK && (rc = read_value(state_dir, name, v, found, err)) != P11E_OK) {
		p11e_store_file_unlock(*held);
		*held = NULL;
	}
	return rc;
}

p11e_rc p11e_store_file_counter_next(const char *state_dir, const char *name,
				     unsigned long long first, unsigned long long *out,
				     p11e_err *err)
{
	unsigned long long v = first;
	void *held = NULL;
	p11e_rc rc;
	int found;

	if ((rc = lock_and_read(state_dir, name, &held, &v, &found, err)) != P11E_OK)
		return rc;
	if (found && v == ULLONG_MAX) {
		rc = p11e_errf(err, P11E_FAIL, "store: counter %.100s is at its largest", name);
		goto out;
	}
	if (found)
		v++;
	if ((rc = write_value(state_dir, name, v, err)) == P11E_OK)
		*out = v;
out:
	p11e_store_file_unlock(held);
	return rc;
}

p11e_rc p11e_store_file_counter_raise(const char *state_dir, const char *name,
				      unsigned long long at_least, unsigned long long *now,
				      p11e_err *err)
{
	unsigned long long v = 0;
	void *held = NULL;
	p11e_rc rc;
	int found;

	if ((rc = lock_and_read(state_dir, name, &held, &v, &found, err)) != P11E_OK)
		return rc;
	/* A counter at or past at_least is not written at all. */
	if (!found || v < at_least) {
		v = at_least;
		rc = write_value(state_dir, name, v, err);
	}
	if (rc == P11E_OK && now != NULL)
		*now = v;
	p11e_store_file_unlock(held);
	return rc;
}

/* A temp file a crash left behind (p11e_write_file_atomic's NAME.tmp.XXXXXX):
 * not a counter. */
static int leftover(const char *name)
{
	size_t n = strlen(name);

	return n > 11 && strncmp(name + n - 11, ".tmp.", 5) == 0;
}

/* Read without the counters' locks: a list (`store migrate --from`) reads a
 * station's directory that is not in use; each value is whole, as each was
 * written by rename. */
p11e_rc p11e_store_file_counter_list(const char *state_dir, p11e_store_counter **out, size_t *n,
				     p11e_err *err)
{
	char *dir = p11e_path_join(state_dir, counter_kind.dir);
	p11e_store_doc *docs = NULL;
	size_t ndocs = 0;
	p11e_rc rc;

	*out = NULL;
	*n = 0;
	if (dir == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((rc = p11e_store_file_list(dir, &counter_kind, &docs, &ndocs, err)) != P11E_OK)
		goto out;
	if (ndocs > 0 && (*out = calloc(ndocs, sizeof(**out))) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "store: out of memory");
		goto out;
	}
	for (size_t i = 0; i < ndocs; i++) {
		p11e_store_counter *c = &(*out)[*n];

		if (leftover(docs[i].name))
			continue;
		if ((rc = parse_value(state_dir, docs[i].name, docs[i].data, docs[i].len, &c->value,
				      err)) != P11E_OK)
			goto out;
		c->name = docs[i].name;
		docs[i].name = NULL;
		(*n)++;
	}
out:
	p11e_store_docs_free(docs, ndocs);
	free(dir);
	return rc;
}
