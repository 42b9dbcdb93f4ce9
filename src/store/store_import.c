/* `store migrate --from file:DIR` (store_import.h): a station's STATE_DIR
 * into the configured store, kind by kind over the store API, so that a new
 * kind in store.c's table is imported with no change here.
 *
 * Why it is safe to rerun and to run beside stations: each document is put
 * with P11E_STORE_CREATE (link(2) in files, INSERT ... ON CONFLICT DO
 * NOTHING in PostgreSQL), so nothing the target holds is ever replaced; a
 * document found there is compared byte for byte: the same bytes are what a
 * crashed import (or the other station, for a shared document) left, other
 * bytes a conflict. Counters are raised, never lowered, to the source's last
 * value, so the target never hands out a value the source used. The audit
 * chain last: verified before anything moves, appended re-chained
 * (core/audit_import.c), so the target's chain stays one chain. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "p11enroll/audit.h"
#include "p11enroll/store_import.h"
#include "p11enroll/util.h"
#include "store_int.h"

/* How long a document of identity X waits for X's lock in the target (a
 * station enrolling X there): as long as an enrollment may take. */
#define IMPORT_IDENTITY_WAIT_MS 60000

typedef struct name_map {
	char **stored, **real;
	size_t n;
} name_map;

typedef struct import_run {
	p11e_store *to, *from;
	p11e_import_conflict_fn conflict;
	void *arg;
	p11e_import_report *rep;
	name_map names;
	long written; /* documents written so far, for the test hook */
} import_run;

/* Test builds: exit at once (no cleanup) after the Nth document written,
 * P11ENROLL_TEST_CRASH_AFTER=import-N, for the crash-and-rerun test. */
static void crash_point(long written)
{
#ifdef P11ENROLL_TEST_HOOKS
	const char *at = getenv("P11ENROLL_TEST_CRASH_AFTER");

	if (at != NULL && strncmp(at, "import-", 7) == 0 && atol(at + 7) == written)
		_exit(86);
#else
	(void)written;
#endif
}

/* The file store names a document whose escaped name is too long for a
 * file by the name's hash (core/state_paths.c): the source is a file store,
 * and such a name is not the document's. */
static int hashed(const char *stored)
{
	if (strncmp(stored, "SHA256-", 7) != 0 || strlen(stored) != 7 + 64)
		return 0;
	for (const char *p = stored + 7; *p != '\0'; p++)
		if (p11e_hex_digit(*p) < 0)
			return 0;
	return 1;
}

static void names_free(name_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->stored[i]);
		free(m->real[i]);
	}
	free(m->stored);
	free(m->real);
	memset(m, 0, sizeof(*m));
}

/* The names behind hashed ones, from the records (each names its identity):
 * the other kinds named by an identity (keys, PFX files) follow them. */
static p11e_rc recover_names(import_run *r, p11e_err *err)
{
	p11e_store_doc *docs = NULL;
	size_t n = 0;
	p11e_rc rc;

	if ((rc = p11e_store_list(r->from, "identity", &docs, &n, err)) != P11E_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		json_tokener *tok;
		json_object *o = NULL, *id;
		const char *real;
		char **s, **rl;

		if (!hashed(docs[i].name) || (tok = json_tokener_new()) == NULL)
			continue;
		o = json_tokener_parse_ex(tok, (const char *)docs[i].data, (int)docs[i].len);
		json_tokener_free(tok);
		if (o != NULL && json_object_object_get_ex(o, "identity", &id) &&
		    json_object_is_type(id, json_type_string) &&
		    p11e_store_same_name(r->from, "identity", docs[i].name,
					 real = json_object_get_string(id))) {
			s = realloc(r->names.stored, (r->names.n + 1) * sizeof(*s));
			if (s != NULL)
				r->names.stored = s;
			rl = realloc(r->names.real, (r->names.n + 1) * sizeof(*rl));
			if (rl != NULL)
				r->names.real = rl;
			if (s == NULL || rl == NULL ||
			    (s[r->names.n] = strdup(docs[i].name)) == NULL) {
				json_object_put(o);
				rc = p11e_errf(err, P11E_FAIL, "out of memory");
				goto out;
			}
			if ((rl[r->names.n] = strdup(real)) == NULL) {
				free(s[r->names.n]);
				json_object_put(o);
				rc = p11e_errf(err, P11E_FAIL, "out of memory");
				goto out;
			}
			r->names.n++;
		}
		json_object_put(o);
	}
out:
	p11e_store_docs_free(docs, n);
	return rc;
}

/* The name a listed document stands for, or NULL when the source cannot
 * say (a hashed name no record accounts for). */
static const char *real_name(import_run *r, const char *kind, const char *stored)
{
	if (!hashed(stored))
		return stored;
	for (size_t i = 0; i < r->names.n; i++)
		if (p11e_store_same_name(r->from, kind, stored, r->names.real[i]))
			return r->names.real[i];
	return NULL;
}

static void refuse(import_run *r, p11e_import_count *c, const char *kind, const char *name,
		   const char *why)
{
	c->conflicts++;
	r->rep->conflicts++;
	if (r->conflict != NULL)
		r->conflict(r->arg, kind, name, why);
}

/* One document: created in the target, or found there. */
static p11e_rc import_doc(import_run *r, p11e_import_count *c, const char *kind,
			  const p11e_store_doc *d, p11e_err *err)
{
	const char *name = real_name(r, kind, d->name);
	unsigned char *there = NULL;
	size_t len = 0;
	void *held = NULL;
	p11e_rc rc;

	if (name == NULL) {
		refuse(r, c, kind, d->name,
		       "its name is a hash in the source and no record there names it");
		return P11E_OK;
	}
	/* A record is written as a station writes it: under the identity's
	 * lock, so an enrollment of that identity on the target waits and
	 * then finds it (and PostgreSQL fences the write by the lock). */
	if (strcmp(kind, "identity") == 0 &&
	    (rc = p11e_store_lock(r->to, "identity", name, IMPORT_IDENTITY_WAIT_MS, &held, err)) !=
		P11E_OK)
		return rc;
	rc = p11e_store_put(r->to, kind, name, d->data, d->len,
			    P11E_STORE_CREATE | P11E_STORE_DURABLE, err);
	if (rc == P11E_OK) {
		c->imported++;
		crash_point(++r->written);
		goto out;
	}
	if (rc != P11E_EXISTS)
		goto out;
	if ((rc = p11e_store_get(r->to, kind, name, &there, &len, err)) != P11E_OK)
		goto out;
	if (len == d->len && memcmp(there, d->data, len) == 0)
		c->present++;
	else
		refuse(r, c, kind, name, "differs from the one in the target; left as it is");
out:
	p11e_secret_free((char *)there, len + 1);
	p11e_store_unlock(r->to, held);
	return rc;
}

static p11e_rc import_kind(import_run *r, p11e_import_count *c, p11e_err *err)
{
	p11e_store_doc *docs = NULL;
	size_t n = 0;
	p11e_rc rc;

	/* Not kept under STATE_DIR but in a home of their own (an ACME CA's
	 * acme-HASH directory), whose file names leave out the home's part of
	 * the name: a station's directory holds none of them to copy. */
	if (p11e_store_kind_home_prefixed(c->kind))
		return P11E_OK;
	if ((rc = p11e_store_list(r->from, c->kind, &docs, &n, err)) != P11E_OK)
		return rc;
	for (size_t i = 0; i < n && rc == P11E_OK; i++)
		rc = import_doc(r, c, c->kind, &docs[i], err);
	p11e_store_docs_free(docs, n);
	return rc;
}

/* The home-prefixed kinds (an ACME CA's account, key, orders and chain) of
 * from, a file store rooted at one home: each document named HOME/NAME in
 * the target, as a station on a shared store names it. */
static p11e_rc import_home(import_run *r, const char *home, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	for (size_t i = 0; i < r->rep->n && rc == P11E_OK; i++) {
		const char *kind = r->rep->counts[i].kind;
		p11e_store_doc *docs = NULL;
		size_t n = 0;

		if (!p11e_store_kind_home_prefixed(kind))
			continue;
		if ((rc = p11e_store_list(r->from, kind, &docs, &n, err)) != P11E_OK)
			return rc;
		for (size_t j = 0; j < n && rc == P11E_OK; j++) {
			p11e_store_doc d = docs[j];
			char name[256];

			if ((size_t)snprintf(name, sizeof(name), "%s/%s", home, docs[j].name) >=
			    sizeof(name)) {
				refuse(r, &r->rep->counts[i], kind, docs[j].name,
				       "its name is too long for a document");
				continue;
			}
			d.name = name;
			rc = import_doc(r, &r->rep->counts[i], kind, &d, err);
		}
		p11e_store_docs_free(docs, n);
	}
	return rc;
}

/* An ACME CA's directory as a station makes it by default: acme-HASH (HASH:
 * 16 hex digits of the directory URL's SHA-256, ca_acme.c), not a link. */
static int acme_home(const char *state_dir, const char *entry)
{
	struct stat st;
	char *path;
	int ok;

	if (strncmp(entry, "acme-", 5) != 0 || strlen(entry) != 5 + 16)
		return 0;
	for (const char *p = entry + 5; *p != '\0'; p++)
		if (p11e_hex_digit(*p) < 0 || (*p >= 'A' && *p <= 'F'))
			return 0;
	if ((path = p11e_path_join(state_dir, entry)) == NULL)
		return 0;
	ok = lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
	free(path);
	return ok;
}

p11e_rc p11e_store_import_acme(p11e_store *to, const char *state_dir, long wait_ms,
			       p11e_import_conflict_fn conflict, void *arg,
			       p11e_import_report *rep, p11e_err *err)
{
	import_run r = {.to = to, .conflict = conflict, .arg = arg, .rep = rep};
	size_t conflicts = rep->conflicts;
	struct dirent *e;
	void *held = NULL;
	DIR *d;
	p11e_rc rc;

	if ((d = opendir(state_dir)) == NULL)
		return P11E_OK; /* p11e_store_import said what was wrong with it */
	if ((rc = p11e_store_lock(to, "store", "import", wait_ms, &held, err)) != P11E_OK)
		goto out;
	while (rc == P11E_OK && (e = readdir(d)) != NULL) {
		char *path;

		if (!acme_home(state_dir, e->d_name))
			continue;
		if ((path = p11e_path_join(state_dir, e->d_name)) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			break;
		}
		rc = p11e_store_open_dir(path, &r.from, err);
		free(path);
		if (rc == P11E_OK)
			rc = import_home(&r, e->d_name + 5, err);
		p11e_store_close(r.from);
		r.from = NULL;
	}
	if (rc == P11E_OK && rep->conflicts > conflicts)
		rc = P11E_EXISTS;
out:
	p11e_store_unlock(to, held);
	closedir(d);
	return rc;
}

static p11e_rc import_counters(import_run *r, p11e_import_count *c, p11e_err *err)
{
	p11e_store_counter *list = NULL, *there = NULL;
	size_t n = 0, m = 0;
	p11e_rc rc;

	/* The target's values before, to count what was raised: they only go
	 * up meanwhile (stations counting), which changes a count, never a
	 * value. */
	if ((rc = p11e_store_counter_list(r->from, &list, &n, err)) != P11E_OK ||
	    (rc = p11e_store_counter_list(r->to, &there, &m, err)) != P11E_OK)
		goto out;
	for (size_t i = 0; i < n && rc == P11E_OK; i++) {
		int high = 0;

		for (size_t j = 0; j < m; j++)
			if (strcmp(there[j].name, list[i].name) == 0)
				high = there[j].value >= list[i].value;
		if (high) {
			c->present++;
			continue;
		}
		if ((rc = p11e_store_counter_raise(r->to, list[i].name, list[i].value, NULL,
						   err)) == P11E_OK)
			c->imported++;
	}
out:
	p11e_store_counters_free(list, n);
	p11e_store_counters_free(there, m);
	return rc;
}

p11e_rc p11e_store_import(p11e_store *to, p11e_store *from, long wait_ms,
			  p11e_import_conflict_fn conflict, void *arg, p11e_import_report *out,
			  p11e_err *err)
{
	import_run r = {.to = to, .from = from, .conflict = conflict, .arg = arg, .rep = out};
	p11e_audit_source *audit = NULL;
	size_t kinds = 0;
	void *held = NULL;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	while (p11e_store_kind_name(kinds) != NULL)
		kinds++;
	if ((out->counts = calloc(kinds + 2, sizeof(*out->counts))) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	for (size_t i = 0; i < kinds; i++)
		out->counts[i].kind = p11e_store_kind_name(i);
	out->counts[kinds].kind = "counter";
	out->counts[kinds + 1].kind = "audit";
	out->n = kinds + 2;
	if ((rc = p11e_store_lock(to, "store", "import", wait_ms, &held, err)) != P11E_OK)
		return rc;
	/* The source's audit chain verified before anything moves: a broken
	 * one is the station's to investigate first (audit verify there). */
	if ((rc = p11e_audit_import_read(from, &audit, err)) != P11E_OK ||
	    (rc = recover_names(&r, err)) != P11E_OK)
		goto out;
	for (size_t i = 0; i < kinds && rc == P11E_OK; i++)
		rc = import_kind(&r, &out->counts[i], err);
	/* Counters last: they only ever go up, so an import cut short before
	 * them loses nothing a rerun does not raise. */
	if (rc == P11E_OK)
		rc = import_counters(&r, &out->counts[kinds], err);
	/* The audit chain after them: its entries name what was imported. */
	if (rc == P11E_OK)
		rc = p11e_audit_import_write(to, audit, &out->counts[kinds + 1].imported,
					     &out->counts[kinds + 1].present, err);
	if (rc == P11E_OK && out->conflicts > 0)
		rc = p11e_errf(err, P11E_EXISTS,
			       "%zu document%s refused (named above): the target holds other "
			       "bytes under that name; everything else was imported. Resolve each "
			       "(keep one of the two) and rerun",
			       out->conflicts, out->conflicts == 1 ? "" : "s");
out:
	p11e_audit_import_free(audit);
	names_free(&r.names);
	p11e_store_unlock(to, held);
	return rc;
}

void p11e_import_report_free(p11e_import_report *r)
{
	free(r->counts);
	memset(r, 0, sizeof(*r));
}
