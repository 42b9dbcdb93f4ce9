/* A station's audit chain into another store's chain (`store migrate
 * --from`, audit.h's p11e_audit_import_*).
 *
 * Why re-chained and not copied: a line's "seq" and "prev" only chain in
 * the log they were written in, so copying lines verbatim works only into
 * an empty chain, and a second station's log could never follow. Each
 * source entry becomes one target entry of action "audit-import" carrying
 * the source line whole ("source_line") with its position, seq and hash:
 * nothing is lost, the target stays one unbroken chain, and the source's
 * own chain can still be checked from the imported lines. Last comes an
 * "audit-import-head" entry naming the source's head (its entries, last
 * seq and hash).
 *
 * Why a rerun appends nothing twice: a source chain is known by the hash
 * of its first line ("source_chain"); before appending, the target's chain
 * is read for the last entry imported from that chain, and only the
 * entries after it are appended (a crash between two appends, or a source
 * that went on after the last import). Imports into one store take turns
 * (store_import.c holds the store's "import" lock). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "p11enroll/audit.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"

typedef struct src_entry {
	char *line;
	long long seq;
	char sha256[65];
} src_entry;

struct p11e_audit_source {
	src_entry *e;
	size_t n, cap;
	char chain[65]; /* the first line's hash: which chain this is */
	char *where;	/* the source's log, for messages */
};

static p11e_rc collect(void *arg, const char *line, size_t len, long long seq, const char *sha256,
		       p11e_err *err)
{
	p11e_audit_source *s = arg;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		src_entry *e = realloc(s->e, cap * sizeof(*e));

		if (e == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		s->e = e;
		s->cap = cap;
	}
	if ((s->e[s->n].line = strndup(line, len)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	s->e[s->n].seq = seq;
	snprintf(s->e[s->n].sha256, sizeof(s->e[s->n].sha256), "%s", sha256);
	s->n++;
	return P11E_OK;
}

static p11e_rc no_entry(void *arg, p11e_store_audit_entry *e, p11e_err *err)
{
	(void)arg;
	(void)e;
	(void)err;
	return P11E_OK;
}

/* No log where the source store looks, but a head about another: the
 * station's config put its "audit_log" elsewhere. Refused rather than
 * importing no chain at all without a word. */
static p11e_rc other_log(p11e_store *from, p11e_err *err)
{
	p11e_store_audit_head h;
	enum p11e_store_audit_given given;
	p11e_err ignored;

	memset(&h, 0, sizeof(h));
	p11e_store_audit_read(from, P11E_STORE_AUDIT_TAIL, &h, &given, no_entry, NULL, &ignored);
	if (h.found && h.other_log)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "store migrate --from: no audit log at %s, and the source's head "
				 "%s is about another log: the station's config names it "
				 "(\"audit_log\"); give it with --audit-log FILE",
				 h.where, h.head_where);
	return P11E_OK;
}

p11e_rc p11e_audit_import_read(p11e_store *from, p11e_audit_source **out, p11e_err *err)
{
	p11e_config cfg = {.store = from};
	p11e_audit_report rep;
	p11e_audit_source *s = calloc(1, sizeof(*s));
	p11e_rc rc;

	*out = NULL;
	if (s == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* The whole chain walked and checked against its head first: a broken
	 * one is refused before anything of it (or of the station) moves. */
	rc = p11e_audit_each(&cfg, collect, s, &rep, err);
	if (rc != P11E_OK && rep.path != NULL) {
		p11e_err why = *err;

		rc = p11e_errf(err, rc,
			       "store migrate --from: the source's audit chain is broken, nothing "
			       "imported: %s",
			       why.msg);
	}
	if (rc == P11E_OK && !rep.exists)
		rc = other_log(from, err);
	if (rc == P11E_OK && s->n > 0)
		snprintf(s->chain, sizeof(s->chain), "%s", s->e[0].sha256);
	if (rc == P11E_OK && rep.path != NULL && (s->where = strdup(rep.path)) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	p11e_audit_report_free(&rep);
	if (rc != P11E_OK) {
		p11e_audit_import_free(s);
		return rc;
	}
	*out = s;
	return P11E_OK;
}

size_t p11e_audit_import_count(const p11e_audit_source *s)
{
	return s != NULL ? s->n : 0;
}

/* What the target's chain already holds of one source chain. */
typedef struct found {
	const p11e_audit_source *s;
	size_t last;	   /* the last source entry imported (1-based), 0: none */
	char last_sha[65]; /* its hash as imported */
	int head_done;	   /* an audit-import-head for the source's head as it is now */
	int own;	   /* the target's chain is the source's (same first line) */
	int any;	   /* entries seen */
} found;

static const char *str_field(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static p11e_rc scan(void *arg, const char *line, size_t len, long long seq, const char *sha256,
		    p11e_err *err)
{
	found *f = arg;
	const src_entry *last = &f->s->e[f->s->n - 1];
	json_tokener *tok = json_tokener_new();
	json_object *o;
	const char *action, *chain, *v;
	char count[24];

	(void)seq;
	(void)err;
	if (!f->any++ && strcmp(sha256, f->s->chain) == 0)
		f->own = 1;
	if (tok == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	o = json_tokener_parse_ex(tok, line, (int)len);
	json_tokener_free(tok);
	if (o == NULL || (action = str_field(o, "action")) == NULL ||
	    (chain = str_field(o, "source_chain")) == NULL || strcmp(chain, f->s->chain) != 0)
		goto out;
	if (strcmp(action, "audit-import") == 0 && (v = str_field(o, "source_entry")) != NULL &&
	    strtoull(v, NULL, 10) > f->last) {
		f->last = (size_t)strtoull(v, NULL, 10);
		snprintf(f->last_sha, sizeof(f->last_sha), "%s",
			 str_field(o, "source_sha256") ? str_field(o, "source_sha256") : "");
	}
	snprintf(count, sizeof(count), "%zu", f->s->n);
	if (strcmp(action, "audit-import-head") == 0 &&
	    (v = str_field(o, "source_entries")) != NULL && strcmp(v, count) == 0 &&
	    (v = str_field(o, "source_head_sha256")) != NULL && strcmp(v, last->sha256) == 0)
		f->head_done = 1;
out:
	json_object_put(o);
	return P11E_OK;
}

/* Test builds: exit at once after the Nth entry appended,
 * P11ENROLL_TEST_CRASH_AFTER=audit-N, for the crash-and-rerun test. */
static void crash_point(size_t appended)
{
#ifdef P11ENROLL_TEST_HOOKS
	const char *at = getenv("P11ENROLL_TEST_CRASH_AFTER");

	if (at != NULL && strncmp(at, "audit-", 6) == 0 && (size_t)atol(at + 6) == appended)
		_exit(86);
#else
	(void)appended;
#endif
}

p11e_rc p11e_audit_import_write(p11e_store *to, const p11e_audit_source *s, size_t *imported,
				size_t *present, p11e_err *err)
{
	p11e_config cfg = {.store = to};
	p11e_audit_report rep;
	found f = {.s = s};
	char pos[24], seq[24];
	p11e_rc rc;

	*imported = *present = 0;
	if (s == NULL || s->n == 0)
		return P11E_OK;
	/* The target's chain must be whole to be appended to; its entries say
	 * how far an earlier import of this chain got. */
	rc = p11e_audit_each(&cfg, scan, &f, &rep, err);
	p11e_audit_report_free(&rep);
	if (rc != P11E_OK)
		return rc;
	/* DIR is the target's own STATE_DIR (or a copy of its log): its
	 * entries are there as they are; appending them would grow the chain
	 * with every run. */
	if (f.own) {
		*present = s->n;
		return P11E_OK;
	}
	if (f.last > s->n || (f.last > 0 && strcmp(f.last_sha, s->e[f.last - 1].sha256) != 0))
		return p11e_errf(err, P11E_EXISTS,
				 "store migrate --from: the target's audit chain holds entry %zu "
				 "of the source's chain (%s) with another hash: the source's log "
				 "is not the one imported before; nothing appended",
				 f.last, s->where ? s->where : "");
	*present = f.last;
	for (size_t i = f.last; i < s->n; i++) {
		const char *extra[] = {"source_chain",
				       s->chain,
				       "source_entry",
				       pos,
				       "source_seq",
				       seq,
				       "source_sha256",
				       s->e[i].sha256,
				       "source_line",
				       s->e[i].line,
				       NULL};

		snprintf(pos, sizeof(pos), "%zu", i + 1);
		snprintf(seq, sizeof(seq), "%lld", s->e[i].seq);
		if ((rc = p11e_audit_write(&cfg, "audit-import", NULL, extra, P11E_OK, NULL,
					   err)) != P11E_OK)
			return rc;
		(*imported)++;
		crash_point(*imported);
	}
	if (!f.head_done) {
		const src_entry *last = &s->e[s->n - 1];
		const char *extra[] = {"source_chain",
				       s->chain,
				       "source_log",
				       s->where,
				       "source_entries",
				       pos,
				       "source_head_seq",
				       seq,
				       "source_head_sha256",
				       last->sha256,
				       NULL};

		snprintf(pos, sizeof(pos), "%zu", s->n);
		snprintf(seq, sizeof(seq), "%lld", last->seq);
		rc = p11e_audit_write(&cfg, "audit-import-head", NULL, extra, P11E_OK, NULL, err);
	}
	return rc;
}

void p11e_audit_import_free(p11e_audit_source *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].line);
	free(s->e);
	free(s->where);
	free(s);
}
