/* The append-only, hash-chained audit log (see include/p11enroll/audit.h). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <syslog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "p11enroll/audit.h"
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

#define AUDIT_MAX (256 * 1024 * 1024)
#define HEAD_MAX 4096

static void print_of(const struct stat *st, p11e_audit_print *lp)
{
	lp->dev = (long long)st->st_dev;
	lp->ino = (long long)st->st_ino;
	lp->size = (long long)st->st_size;
	lp->ctime_s = (long long)st->st_ctim.tv_sec;
	lp->ctime_ns = (long long)st->st_ctim.tv_nsec;
}

/* The chain state the last append left: STATE_DIR/audit.head, so that a log
 * deleted whole (or cut at its end) is noticed. h->found 0 when there is
 * none; h->this_log 0 when it is about another log (the config's
 * "audit_log" was changed). */
static p11e_rc read_head(const p11e_config *cfg, const char *log, p11e_audit_head *h,
			 p11e_err *err)
{
	char *path = p11e_state_audit_head_path(cfg->state_dir), *text = NULL;
	p11e_rc rc;

	memset(h, 0, sizeof(*h));
	strcpy(h->hash, P11E_AUDIT_ZERO_HASH);
	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_read_private(path, HEAD_MAX, &text, NULL, err);
	if (rc == P11E_NOT_FOUND)
		rc = P11E_OK;
	else if (rc == P11E_OK)
		rc = p11e_audit_head_parse(path, text, log, h, err);
	free(text);
	free(path);
	return rc;
}

static p11e_rc write_head(const p11e_config *cfg, const char *log, const p11e_audit_chain *c,
			  const p11e_audit_print *lp, p11e_err *err)
{
	char *path = p11e_state_audit_head_path(cfg->state_dir);
	json_object *o = json_object_new_object(), *f = json_object_new_array();
	const char *text;
	p11e_rc rc;

	if (path == NULL || o == NULL || f == NULL) {
		json_object_put(f);
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	json_object_object_add(o, "log", json_object_new_string(log));
	json_object_object_add(o, "seq", json_object_new_int64(c->seq));
	json_object_object_add(o, "sha256", json_object_new_string(c->hash));
	if (lp != NULL) {
		long long v[5] = {lp->dev, lp->ino, lp->size, lp->ctime_s, lp->ctime_ns};
		for (size_t i = 0; i < 5; i++)
			json_object_array_add(f, json_object_new_int64(v[i]));
	}
	json_object_object_add(o, "file", f);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = p11e_write_file_atomic(path, text, strlen(text), 0600, err);
out:
	json_object_put(o);
	free(path);
	return rc;
}

/* The end of the log against the head: entries cut from the end, or the
 * last one replaced, or no head at all beside chained entries (deleting the
 * head must not switch the check off: it is recreated only by `audit
 * reset-head`, which says what it trusts). A head behind the log is a crash
 * between the append and the head's update: the chain itself is whole, so
 * that is fine. */
static p11e_rc match_head(const p11e_config *cfg, const char *log, const p11e_audit_chain *c,
			  const p11e_audit_head *h, p11e_err *err)
{
	if (!h->this_log && c->seq > 0) {
		char *head = p11e_state_audit_head_path(cfg->state_dir);
		p11e_rc rc = p11e_errf(
		    err, P11E_FAIL,
		    "audit log %s holds %lld chained entries but its head %s %s, so entries cut "
		    "from its end would go unnoticed; investigate (compare with syslog), then "
		    "`p11enroll audit reset-head` trusts the log as it is now (see p11enroll(1) "
		    "AUDIT LOG)",
		    log, c->seq, head ? head : "STATE_DIR/audit.head",
		    h->found ? "is about another log" : "is missing");
		free(head);
		return rc;
	}
	if (c->seq < h->seq)
		return p11e_errf(
		    err, P11E_FAIL,
		    "audit log %s ends at entry %lld (line %zu) but held %lld: entries "
		    "at its end were removed; investigate, then see p11enroll(1) AUDIT "
		    "LOG",
		    log, c->seq, c->lines, h->seq);
	if (c->seq == h->seq && h->seq > 0 && strcmp(c->hash, h->hash) != 0)
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s: line %zu (entry %lld) is not the entry written "
				 "last; investigate, then see p11enroll(1) AUDIT LOG",
				 log, c->lines, c->seq);
	return P11E_OK;
}

/* What open_chain opens the log for. */
enum chain_mode {
	CHAIN_CHECK,  /* audit verify: read, walked whole, against the head */
	CHAIN_APPEND, /* an append: made if the head says there never was one */
	CHAIN_RESET,  /* audit reset-head: walked whole; the head is not asked */
};

/* Opens, locks and verifies the log. P11E_NOT_FOUND when there is no log and
 * none is expected (for CHAIN_RESET: no log). h: the head as read under the
 * lock. */
static p11e_rc open_chain(const p11e_config *cfg, const char *path, enum chain_mode mode, int *fd,
			  p11e_audit_chain *c, p11e_audit_head *h, p11e_err *err)
{
	int writing = mode != CHAIN_CHECK;
	char *text = NULL;
	p11e_audit_print now_print;
	struct stat st;
	size_t len = 0;
	p11e_rc rc;

	*fd = -1;
	memset(c, 0, sizeof(*c));
	strcpy(c->hash, P11E_AUDIT_ZERO_HASH);
	if ((rc = read_head(cfg, path, h, err)) != P11E_OK)
		return rc;
	rc = p11e_open_private(path, writing ? O_RDWR | O_APPEND : O_RDONLY, 0, fd, err);
	if (rc == P11E_NOT_FOUND && h->seq > 0)
		/* Never recreated silently: that is what hid a deleted log. */
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s is missing but held %lld entries; restore it from "
				 "a backup or syslog, see p11enroll(1) AUDIT LOG",
				 path, h->seq);
	if (rc == P11E_NOT_FOUND && mode == CHAIN_APPEND)
		rc = p11e_open_private(path, O_RDWR | O_APPEND | O_CREAT, 0600, fd, err);
	if (rc != P11E_OK)
		return rc;
	/* Appends take turns; a check waits for a half-done append. */
	while (flock(*fd, writing ? LOCK_EX : LOCK_SH) != 0)
		if (errno != EINTR) {
			rc = p11e_errf(err, P11E_FAIL, "audit log %s: cannot lock: %s", path,
				       strerror(errno));
			goto out;
		}
	/* The head again, now that no append runs: the one read before the
	 * lock may be one that a concurrent append has since replaced. */
	if ((rc = read_head(cfg, path, h, err)) != P11E_OK)
		goto out;
	/* An append to a log exactly as the last append left it (same file,
	 * length and change time) takes the chain from the head: the walk
	 * below reads the whole log, which grew slower with every entry (a
	 * third of a second at 100,000). Anything else, a crash between an
	 * append and its head included, is walked; `audit verify` always is. */
	if (mode == CHAIN_APPEND && h->seq > 0 && fstat(*fd, &st) == 0) {
		print_of(&st, &now_print);
		if (memcmp(&now_print, &h->print, sizeof(now_print)) == 0) {
			c->seq = h->seq;
			strcpy(c->hash, h->hash);
			goto out;
		}
	}
	if (lseek(*fd, 0, SEEK_SET) != 0 ||
	    (rc = p11e_read_fd(*fd, path, AUDIT_MAX, &text, &len, err)) != P11E_OK) {
		if (rc == P11E_OK)
			rc = p11e_errf(err, P11E_FAIL, "audit log %s: %s", path, strerror(errno));
		goto out;
	}
	rc = p11e_audit_walk(path, text, len, c, err);
	if (rc == P11E_OK && mode != CHAIN_RESET)
		rc = match_head(cfg, path, c, h, err);
out:
	free(text);
	if (rc != P11E_OK && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/* Appends one record to the log open (and locked) at fd, whose chain stands
 * at c (advanced), then the head. */
static p11e_rc append_locked(const p11e_config *cfg, const char *path, int fd, p11e_audit_chain *c,
			     const char *action, const char *identity, const char *const *extra,
			     p11e_rc outcome, const p11e_err *outcome_err, p11e_err *err)
{
	char when[32], *line = NULL;
	struct tm tm;
	time_t now = time(NULL);
	json_object *o = json_object_new_object();
	const char *text;
	p11e_audit_print lp;
	struct stat st;
	int saved;
	size_t n;
	p11e_rc rc;

	if (o == NULL)
		return p11e_errf(err, P11E_FAIL, "audit log %s: out of memory", path);
	/* The chain first: each entry names the one before it by hash. */
	json_object_object_add(o, "seq", json_object_new_int64(c->seq + 1));
	json_object_object_add(o, "prev", json_object_new_string(c->hash));
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	add_str(o, "time", when);
	add_who(o);
	add_str(o, "action", action);
	add_str(o, "identity", identity);
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i += 2)
		add_str(o, extra[i], extra[i + 1]);
	add_str(o, "outcome", outcome == P11E_OK ? "ok" : p11e_rc_name(outcome));
	if (outcome != P11E_OK && outcome_err != NULL && outcome_err->msg[0] != '\0')
		add_str(o, "error", outcome_err->msg);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	/* json-c escapes control characters, so the record is one line. */
	if (text == NULL || (line = malloc((n = strlen(text)) + 2)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: out of memory", path);
		goto out;
	}
	memcpy(line, text, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	/* One write per record, under the lock: concurrent runs never
	 * interleave. */
	if (p11e_write_all(fd, line, n + 1) != 0 || fsync(fd) != 0) {
		saved = errno ? errno : EIO;
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: cannot append: %s", path,
			       strerror(saved));
		goto out;
	}
	c->seq++;
	p11e_audit_line_hash(line, n, c->hash);
	/* A copy the local user cannot edit: syslog/journald (auth log). */
	syslog(LOG_AUTHPRIV | LOG_NOTICE, "p11enroll audit: %s", text);
	/* Still under the lock, so heads are written in the log's order. */
	if (fstat(fd, &st) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: %s", path, strerror(errno));
		goto out;
	}
	print_of(&st, &lp);
	rc = write_head(cfg, path, c, &lp, err);
out:
	json_object_put(o);
	free(line);
	return rc;
}

/* The log's directory and STATE_DIR (for the head), made if missing. */
static p11e_rc make_dirs(const p11e_config *cfg, const char *path, p11e_err *err)
{
	char *dir = strdup(path), *slash;
	p11e_rc rc = P11E_OK;

	if (dir == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		rc = p11e_mkdirs(dir, 0700, err);
	}
	free(dir);
	return rc == P11E_OK ? p11e_mkdirs(cfg->state_dir, 0700, err) : rc;
}

static p11e_rc close_log(int fd, const char *path, p11e_rc rc, p11e_err *err)
{
	if (fd >= 0 && close(fd) != 0 && rc == P11E_OK)
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: cannot append: %s", path,
			       strerror(errno));
	return rc;
}

p11e_rc p11e_audit_write(const p11e_config *cfg, const char *action, const char *identity,
			 const char *const *extra, p11e_rc outcome, const p11e_err *outcome_err,
			 p11e_err *err)
{
	char *path = NULL;
	p11e_audit_chain c;
	p11e_audit_head h;
	int fd = -1;
	p11e_rc rc;

	rc = p11e_audit_path(cfg, &path, err);
	if (rc != P11E_OK)
		return rc;
	if ((rc = make_dirs(cfg, path, err)) == P11E_OK &&
	    (rc = open_chain(cfg, path, CHAIN_APPEND, &fd, &c, &h, err)) == P11E_OK)
		rc = append_locked(cfg, path, fd, &c, action, identity, extra, outcome, outcome_err,
				   err);
	rc = close_log(fd, path, rc, err);
	free(path);
	return rc;
}

p11e_rc p11e_audit_reset_head(const p11e_config *cfg, p11e_audit_reset *out, p11e_err *err)
{
	char entries[24], lines[24];
	const char *extra[] = {"trusted_entries", entries,	"trusted_lines",   lines,
			       "trusted_sha256",  out->sha256, "previous_head", out->previous,
			       NULL};
	p11e_audit_chain c;
	p11e_audit_head h;
	p11e_err ignored;
	int fd = -1;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = p11e_audit_path(cfg, &out->path, err)) != P11E_OK)
		return rc;
	rc = open_chain(cfg, out->path, CHAIN_RESET, &fd, &c, &h, err);
	if (rc == P11E_NOT_FOUND) {
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "audit log %s does not exist: there is nothing to trust (the next "
			       "audited action starts it)",
			       out->path);
		goto out;
	}
	if (rc != P11E_OK)
		goto out; /* a broken chain: no head can vouch for it */
	out->entries = c.seq;
	out->lines = c.lines;
	snprintf(out->sha256, sizeof(out->sha256), "%s", c.hash);
	if (!h.found)
		snprintf(out->previous, sizeof(out->previous), "missing");
	else if (!h.this_log)
		snprintf(out->previous, sizeof(out->previous), "about another log");
	else
		snprintf(out->previous, sizeof(out->previous), "entry %lld", h.seq);
	/* Nothing to reset when the head already vouches for this very end. */
	if (match_head(cfg, out->path, &c, &h, &ignored) == P11E_OK &&
	    (c.seq == 0 || (h.this_log && h.seq == c.seq))) {
		out->unchanged = 1;
		goto out;
	}
	if ((rc = make_dirs(cfg, out->path, err)) != P11E_OK)
		goto out;
	snprintf(entries, sizeof(entries), "%lld", c.seq);
	snprintf(lines, sizeof(lines), "%zu", c.lines);
	/* The line that says so is itself chained, and the head written
	 * after it covers it: from here on the log is checked as before. */
	rc = append_locked(cfg, out->path, fd, &c, "audit-reset-head", NULL, extra, P11E_OK, NULL,
			   err);
out:
	return close_log(fd, out->path, rc, err);
}

void p11e_audit_reset_free(p11e_audit_reset *r)
{
	if (r != NULL) {
		free(r->path);
		r->path = NULL;
	}
}

p11e_rc p11e_audit_verify(const p11e_config *cfg, p11e_audit_report *rep, p11e_err *err)
{
	char *path = NULL;
	p11e_audit_chain c;
	p11e_audit_head h;
	int fd = -1;
	p11e_rc rc;

	memset(rep, 0, sizeof(*rep));
	if ((rc = p11e_audit_path(cfg, &path, err)) != P11E_OK)
		return rc;
	rc = open_chain(cfg, path, CHAIN_CHECK, &fd, &c, &h, err);
	rep->exists = rc != P11E_NOT_FOUND;
	if (rc == P11E_NOT_FOUND)
		rc = P11E_OK;
	rep->entries = c.seq;
	rep->lines = c.lines;
	rep->bad_line = c.bad;
	snprintf(rep->sha256, sizeof(rep->sha256), "%s", c.hash);
	rep->path = path;
	if (fd >= 0)
		close(fd);
	return rc;
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
