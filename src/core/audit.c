/* The append-only, hash-chained audit log (see include/p11enroll/audit.h). */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>
#include <json-c/json.h>
#include "p11enroll/audit.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"
#include "core/audit_parse.h"
#include "core/state_paths.h"

p11e_rc p11e_audit_path(const p11e_config *cfg, char **out, p11e_err *err)
{
	json_object *v;
	const char *value, *slash;

	*out = NULL;
	if (cfg->root == NULL || !json_object_object_get_ex(cfg->root, "audit_log", &v)) {
		*out = p11e_state_audit_path(cfg->state_dir);
		return *out ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
	}
	if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: 'audit_log' must be a path (remove it for "
				 "STATE_DIR/audit.jsonl)",
				 cfg->path ? cfg->path : "");
	value = json_object_get_string(v);
	/* Relative to the config file's directory, like every path in it. */
	slash = cfg->path ? strrchr(cfg->path, '/') : NULL;
	if (value[0] == '/' || slash == NULL) {
		*out = strdup(value);
	} else {
		char *dir = strndup(cfg->path, (size_t)(slash - cfg->path));
		*out = dir ? p11e_path_join(dir[0] ? dir : "/", value) : NULL;
		free(dir);
	}
	return *out ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
}

static void add_str(json_object *o, const char *key, const char *value)
{
	if (value != NULL)
		json_object_object_add(o, key, json_object_new_string(value));
}

/* Who: the account of the real uid (not $USER, which anyone can set), and
 * under sudo the account that ran sudo as well. */
static void add_who(json_object *o)
{
	uid_t uid = getuid();
	const struct passwd *pw = getpwuid(uid);
	const char *sudo_user = getenv("SUDO_USER");
	char host[256] = "";
	char num[32];

	if (pw != NULL && pw->pw_name != NULL) {
		add_str(o, "user", pw->pw_name);
	} else {
		snprintf(num, sizeof(num), "uid:%lu", (unsigned long)uid);
		add_str(o, "user", num);
	}
	json_object_object_add(o, "uid", json_object_new_int64((int64_t)uid));
	if (uid == 0 && sudo_user != NULL && sudo_user[0] != '\0')
		add_str(o, "sudo_user", sudo_user);
	if (gethostname(host, sizeof(host) - 1) == 0)
		add_str(o, "host", host);
	json_object_object_add(o, "pid", json_object_new_int64((int64_t)getpid()));
}

/* The store cfg opened, else one opened for this call into *own (a config
 * built by hand: tests). */
static p11e_rc store_of(const p11e_config *cfg, p11e_store **s, p11e_store **own, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	*own = NULL;
	*s = cfg->store;
	if (*s == NULL && (rc = p11e_store_open(cfg, own, err)) == P11E_OK)
		*s = *own;
	return rc;
}

/* The chain as checked so far, entry by entry as the store hands them. */
typedef struct walker {
	p11e_audit_chain c;
	int any;		/* entries handed */
	p11e_audit_entry_fn fn; /* audit show: each good entry */
	void *fn_arg;
} walker;

static void walker_init(walker *w)
{
	memset(w, 0, sizeof(*w));
	strcpy(w->c.hash, P11E_AUDIT_ZERO_HASH);
}

static p11e_rc walk_entry(void *arg, p11e_store_audit_entry *e, p11e_err *err)
{
	walker *w = arg;
	const p11e_store_audit_head *h = e->head;
	long long number = e->seq > 0 ? e->seq : 0, seq = 0;
	char hash[65];
	p11e_rc rc;

	w->any = 1;
	if (e->unterminated) {
		w->c.lines++;
		w->c.bad = w->c.lines;
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s: %s %zu is cut short (no end of line); "
				 "investigate, then see p11enroll(1) AUDIT LOG",
				 h->where, h->unit, w->c.lines);
	}
	if (e->tail) {
		/* The last entry alone: the chain before it is the store's to
		 * vouch for (the head names this entry), not read here. */
		w->c.seq = e->seq - 1;
	}
	rc = p11e_audit_walk_line(h->where, h->unit, number, e->line, e->len, !e->tail, &w->c,
				  &seq, err);
	if (rc != P11E_OK)
		return rc;
	/* A row keeps its seq and its hash beside its line: both must be the
	 * line's own (a row moved, or its line edited in place). */
	if (e->seq > 0 && seq != e->seq) {
		w->c.bad = (size_t)e->seq;
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s: %s %lld holds the line of entry %lld (moved or "
				 "edited); investigate, then see p11enroll(1) AUDIT LOG",
				 h->where, h->unit, e->seq, seq);
	}
	if (e->sha256 != NULL && strcmp(e->sha256, w->c.hash) != 0) {
		w->c.bad = (size_t)(e->seq > 0 ? e->seq : (long long)w->c.lines);
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s: %s %lld is not the line that was written (its "
				 "hash is not the one stored with it: edited); investigate, then "
				 "see p11enroll(1) AUDIT LOG",
				 h->where, h->unit, (long long)w->c.bad);
	}
	if (w->fn != NULL) {
		snprintf(hash, sizeof(hash), "%s", w->c.hash);
		return w->fn(w->fn_arg, e->line, e->len, seq, hash, err);
	}
	return P11E_OK;
}

/* Where the chain stands after what the store handed over. */
static void chain_end(walker *w, const p11e_store_audit_head *h,
		      enum p11e_store_audit_given given)
{
	if (given == P11E_STORE_AUDIT_VOUCHED) {
		w->c.seq = h->seq;
		snprintf(w->c.hash, sizeof(w->c.hash), "%s", h->sha256);
	}
}

/* The end of the chain against the head: entries cut from the end, or the
 * last one replaced, or no head at all beside chained entries (deleting the
 * head must not switch the check off: it is recreated only by `audit
 * reset-head`, which says what it trusts). A head behind the log is a crash
 * between the append and the head's update in a file, which is fine (the
 * chain itself is whole); where both are written in one transaction it is
 * entries added behind p11enroll's back. */
static p11e_rc match_head(p11e_audit_chain *c, const p11e_store_audit_head *h, p11e_err *err)
{
	int in_file = strcmp(h->unit, "line") == 0;

	if ((!h->found || h->other_log) && c->seq > 0)
		return p11e_errf(
		    err, P11E_FAIL,
		    "audit log %s holds %lld chained entries but its head %s %s, so entries cut "
		    "from its end would go unnoticed; investigate (compare with syslog), then "
		    "`p11enroll audit reset-head` trusts the log as it is now (see p11enroll(1) "
		    "AUDIT LOG)",
		    h->where, c->seq, h->head_where,
		    h->found ? "is about another log" : "is missing");
	if (c->seq < h->seq) {
		char at[40] = "";

		if (in_file)
			snprintf(at, sizeof(at), " (line %zu)", c->lines);
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s ends at entry %lld%s but held %lld: entries at its "
				 "end were removed; investigate, then see p11enroll(1) AUDIT LOG",
				 h->where, c->seq, at, h->seq);
	}
	if (c->seq > h->seq && h->atomic) {
		c->bad = (size_t)(h->seq + 1);
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s goes on past its head (entry %lld) to entry %lld: "
				 "entries were added without p11enroll; investigate, then see "
				 "p11enroll(1) AUDIT LOG",
				 h->where, h->seq, c->seq);
	}
	if (c->seq == h->seq && h->seq > 0 && strcmp(c->hash, h->sha256) != 0) {
		char which[64];

		/* A file counts lines, a table entries. */
		c->bad = in_file ? c->lines : (size_t)c->seq;
		if (in_file)
			snprintf(which, sizeof(which), "line %zu (entry %lld)", c->lines, c->seq);
		else
			snprintf(which, sizeof(which), "%s %lld", h->unit, c->seq);
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s: %s is not the entry written last; investigate, "
				 "then see p11enroll(1) AUDIT LOG",
				 h->where, which);
	}
	return P11E_OK;
}

/* What an append builds its line from. */
typedef struct writer {
	walker w;
	int reset; /* audit reset-head: the head is not asked, only reported */
	p11e_audit_reset *out;
	const char *action, *identity;
	const char *const *extra;
	p11e_rc outcome;
	const p11e_err *outcome_err;
	char *syslog_text; /* the line, for syslog once it is stored */
} writer;

/* The reset's own entry: what it trusts, and what the head was. */
static p11e_rc reset_check(writer *wr, const p11e_store_audit_head *h, int *skip, p11e_err *err)
{
	p11e_audit_reset *out = wr->out;
	p11e_err ignored;

	*skip = 0;
	if (!wr->w.any && !h->found)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "audit log %s does not exist: there is nothing to trust (the next "
				 "audited action starts it)",
				 h->where);
	out->entries = wr->w.c.seq;
	out->lines = wr->w.c.lines;
	snprintf(out->sha256, sizeof(out->sha256), "%s", wr->w.c.hash);
	if (!h->found)
		snprintf(out->previous, sizeof(out->previous), "missing");
	else if (h->other_log)
		snprintf(out->previous, sizeof(out->previous), "about another log");
	else
		snprintf(out->previous, sizeof(out->previous), "entry %lld", h->seq);
	/* Nothing to reset when the head already vouches for this very end. */
	if (match_head(&wr->w.c, h, &ignored) == P11E_OK &&
	    (wr->w.c.seq == 0 || (h->found && !h->other_log && h->seq == wr->w.c.seq))) {
		out->unchanged = 1;
		*skip = 1;
	}
	return P11E_OK;
}

static p11e_rc build_line(void *arg, const p11e_store_audit_head *h,
			  enum p11e_store_audit_given given, char **line, size_t *len,
			  long long *seq, char sha256[65], p11e_err *err)
{
	writer *wr = arg;
	p11e_audit_chain *c = &wr->w.c;
	char when[32], entries[24], lines[24];
	const char *reset_extra[] = {"trusted_entries", entries,	     "trusted_lines",
				     lines,		"trusted_sha256",    NULL,
				     "previous_head",	NULL,		     NULL};
	const char *const *extra = wr->extra;
	struct tm tm;
	time_t now = time(NULL);
	json_object *o = NULL;
	const char *text;
	int skip = 0;
	size_t n;
	p11e_rc rc;

	*line = NULL;
	chain_end(&wr->w, h, given);
	if (wr->reset) {
		if ((rc = reset_check(wr, h, &skip, err)) != P11E_OK || skip)
			return rc;
		snprintf(entries, sizeof(entries), "%lld", c->seq);
		snprintf(lines, sizeof(lines), "%zu", c->lines);
		reset_extra[5] = wr->out->sha256;
		reset_extra[7] = wr->out->previous;
		extra = reset_extra;
	} else if ((rc = match_head(c, h, err)) != P11E_OK) {
		return rc;
	}
	if ((o = json_object_new_object()) == NULL)
		return p11e_errf(err, P11E_FAIL, "audit log %s: out of memory", h->where);
	/* The chain first: each entry names the one before it by hash. */
	json_object_object_add(o, "seq", json_object_new_int64(c->seq + 1));
	json_object_object_add(o, "prev", json_object_new_string(c->hash));
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	add_str(o, "time", when);
	add_who(o);
	add_str(o, "action", wr->action);
	add_str(o, "identity", wr->identity);
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i += 2)
		add_str(o, extra[i], extra[i + 1]);
	add_str(o, "outcome", wr->outcome == P11E_OK ? "ok" : p11e_rc_name(wr->outcome));
	if (wr->outcome != P11E_OK && wr->outcome_err != NULL && wr->outcome_err->msg[0] != '\0')
		add_str(o, "error", wr->outcome_err->msg);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	/* json-c escapes control characters, so the record is one line. */
	if (text == NULL || (*line = malloc((n = strlen(text)) + 2)) == NULL ||
	    (wr->syslog_text = strdup(text)) == NULL) {
		free(*line);
		*line = NULL;
		json_object_put(o);
		return p11e_errf(err, P11E_FAIL, "audit log %s: out of memory", h->where);
	}
	memcpy(*line, text, n + 1);
	*len = n;
	*seq = c->seq + 1;
	p11e_audit_line_hash(*line, n, sha256);
	json_object_put(o);
	return P11E_OK;
}

static p11e_rc append(const p11e_config *cfg, writer *wr, int flags, p11e_store_audit_head *h,
		      p11e_err *err)
{
	const p11e_store_audit_append_cb cb = {.entry = walk_entry, .build = build_line};
	p11e_store *s, *own;
	p11e_rc rc;

	memset(h, 0, sizeof(*h));
	if ((rc = store_of(cfg, &s, &own, err)) != P11E_OK)
		return rc;
	walker_init(&wr->w);
	rc = p11e_store_audit_append(s, flags, h, &cb, wr, err);
	/* A copy the local user cannot edit: syslog/journald (auth log). */
	if (rc == P11E_OK && wr->syslog_text != NULL)
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "p11enroll audit: %s", wr->syslog_text);
	free(wr->syslog_text);
	wr->syslog_text = NULL;
	p11e_store_close(own);
	return rc;
}

p11e_rc p11e_audit_write(const p11e_config *cfg, const char *action, const char *identity,
			 const char *const *extra, p11e_rc outcome, const p11e_err *outcome_err,
			 p11e_err *err)
{
	writer wr = {.action = action,
		     .identity = identity,
		     .extra = extra,
		     .outcome = outcome,
		     .outcome_err = outcome_err};
	p11e_store_audit_head h;

	/* Only the chain's end, checked against the head (the store hands
	 * over what that takes): `audit verify` walks the whole chain. */
	return append(cfg, &wr, P11E_STORE_AUDIT_TAIL, &h, err);
}

p11e_rc p11e_audit_reset_head(const p11e_config *cfg, p11e_audit_reset *out, p11e_err *err)
{
	writer wr = {.reset = 1, .out = out, .action = "audit-reset-head", .outcome = P11E_OK};
	p11e_store_audit_head h;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	/* A broken chain is no chain a head can vouch for: walked whole. */
	rc = append(cfg, &wr, P11E_STORE_AUDIT_EXISTING, &h, err);
	if (h.where[0] != '\0' && (out->path = strdup(h.where)) == NULL && rc == P11E_OK)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	if (rc == P11E_NOT_FOUND)
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "audit log %s does not exist: there is nothing to trust (the next "
			       "audited action starts it)",
			       h.where);
	return rc;
}

void p11e_audit_reset_free(p11e_audit_reset *r)
{
	if (r != NULL) {
		free(r->path);
		r->path = NULL;
	}
}

/* Reads the chain (whole, or its end with P11E_STORE_AUDIT_TAIL) and checks
 * it against its head; fn (may be NULL) sees each good entry. */
static p11e_rc check_chain(const p11e_config *cfg, int flags, p11e_audit_entry_fn fn, void *arg,
			   p11e_audit_report *rep, p11e_err *err)
{
	p11e_store_audit_head h;
	enum p11e_store_audit_given given;
	p11e_store *s, *own;
	walker w;
	p11e_rc rc;

	memset(rep, 0, sizeof(*rep));
	if ((rc = store_of(cfg, &s, &own, err)) != P11E_OK)
		return rc;
	walker_init(&w);
	w.fn = fn;
	w.fn_arg = arg;
	rc = p11e_store_audit_read(s, flags, &h, &given, walk_entry, &w, err);
	rep->exists = rc != P11E_NOT_FOUND;
	if (rc == P11E_NOT_FOUND)
		rc = P11E_OK;
	else if (rc == P11E_OK) {
		chain_end(&w, &h, given);
		rc = match_head(&w.c, &h, err);
	}
	rep->entries = w.c.seq;
	rep->lines = w.c.lines;
	rep->bad_line = w.c.bad;
	snprintf(rep->sha256, sizeof(rep->sha256), "%s", w.c.hash);
	snprintf(rep->unit, sizeof(rep->unit), "%s", h.unit[0] ? h.unit : "line");
	rep->whole = given == P11E_STORE_AUDIT_ALL;
	if (h.where[0] != '\0' && (rep->path = strdup(h.where)) == NULL && rc == P11E_OK)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	p11e_store_close(own);
	return rc;
}

p11e_rc p11e_audit_verify(const p11e_config *cfg, p11e_audit_report *rep, p11e_err *err)
{
	return check_chain(cfg, 0, NULL, NULL, rep, err);
}

p11e_rc p11e_audit_each(const p11e_config *cfg, p11e_audit_entry_fn fn, void *arg,
			p11e_audit_report *rep, p11e_err *err)
{
	return check_chain(cfg, 0, fn, arg, rep, err);
}

p11e_rc p11e_audit_head_check(const p11e_config *cfg, p11e_audit_report *rep, p11e_err *err)
{
	return check_chain(cfg, P11E_STORE_AUDIT_TAIL, NULL, NULL, rep, err);
}

void p11e_audit_report_free(p11e_audit_report *rep)
{
	if (rep != NULL) {
		free(rep->path);
		rep->path = NULL;
	}
}

p11e_rc p11e_audit(const p11e_config *cfg, const char *action, const char *identity,
		   p11e_rc outcome, const p11e_err *outcome_err, p11e_err *err)
{
	return p11e_audit_write(cfg, action, identity, NULL, outcome, outcome_err, err);
}
