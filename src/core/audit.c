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
#include <openssl/evp.h>
#include "p11enroll/audit.h"
#include "p11enroll/util.h"
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

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define AUDIT_MAX (256 * 1024 * 1024)
#define HEAD_MAX 4096

/* The log file as the last append left it: which file, how long, and its
 * change time, which only the kernel sets (to change it by hand takes
 * setting the system clock). */
typedef struct log_print {
	long long dev, ino, size, ctime_s, ctime_ns;
} log_print;

static void print_of(const struct stat *st, log_print *lp)
{
	lp->dev = (long long)st->st_dev;
	lp->ino = (long long)st->st_ino;
	lp->size = (long long)st->st_size;
	lp->ctime_s = (long long)st->st_ctim.tv_sec;
	lp->ctime_ns = (long long)st->st_ctim.tv_nsec;
}

/* Where the chain stands after a log's last line. */
typedef struct chain {
	long long seq; /* of the last chained entry; 0: none yet */
	char hash[65]; /* SHA-256 (hex) of the last line; ZERO_HASH: no line */
	size_t lines;  /* lines read */
	size_t bad;    /* the first bad line (1-based), 0 if none */
} chain;

static void line_hash(const char *line, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(line, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		memset(md, 0, sizeof(md)); /* a chain that cannot be hashed never matches */
	p11e_hex_encode(md, 32, hex);
}

/* Checks one line against the chain so far: "seq" one more than the last,
 * "prev" the hash of the line before. Lines without "seq" before the first
 * chained one are entries written before the chain existed (accepted as
 * they are, and the first chained entry's "prev" covers the last of them). */
static const char *check_line(const char *line, const chain *c, long long *seq)
{
	json_object *o = json_tokener_parse(line), *v;
	const char *why = NULL;

	*seq = 0;
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		why = "is not a JSON object (edited or torn)";
	} else if (!json_object_object_get_ex(o, "seq", &v)) {
		if (c->seq > 0)
			why = "has no \"seq\" (inserted or edited)";
	} else if (!json_object_is_type(v, json_type_int) ||
		   (*seq = json_object_get_int64(v)) != c->seq + 1) {
		why = "has the wrong \"seq\" (an entry before it was removed, or it was "
		      "inserted or edited)";
	} else if (!json_object_object_get_ex(o, "prev", &v) ||
		   !json_object_is_type(v, json_type_string) ||
		   strcmp(json_object_get_string(v), c->hash) != 0) {
		why = "does not chain to the line before it (that line was edited or removed)";
	}
	json_object_put(o);
	return why;
}

/* Walks the whole log (text, len bytes, NUL-terminated, modified in place).
 * P11E_FAIL naming the first bad line. */
static p11e_rc walk(const char *path, char *text, size_t len, chain *c, p11e_err *err)
{
	char *p = text, *end = text + len;

	memset(c, 0, sizeof(*c));
	strcpy(c->hash, ZERO_HASH);
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *why;
		long long seq;

		c->lines++;
		if (nl == NULL) {
			c->bad = c->lines;
			return p11e_errf(err, P11E_FAIL,
					 "audit log %s: line %zu is cut short (no end of line); "
					 "investigate, then see p11enroll(1) AUDIT LOG",
					 path, c->lines);
		}
		*nl = '\0';
		if ((why = check_line(p, c, &seq)) != NULL) {
			c->bad = c->lines;
			return p11e_errf(err, P11E_FAIL,
					 "audit log %s: line %zu %s; investigate, then see "
					 "p11enroll(1) AUDIT LOG",
					 path, c->lines, why);
		}
		line_hash(p, (size_t)(nl - p), c->hash);
		if (seq > 0)
			c->seq = seq;
		*nl = '\n';
		p = nl + 1;
	}
	return P11E_OK;
}

/* The chain state the last append left: STATE_DIR/audit.head, so that a log
 * deleted whole (or cut at its end) is noticed. *seq 0 when there is none
 * or it is about another log (the config's "audit_log" was changed). */
static p11e_rc read_head(const p11e_config *cfg, const char *log, long long *seq, char hash[65],
			 log_print *lp, p11e_err *err)
{
	char *path = p11e_state_audit_head_path(cfg->state_dir), *text = NULL;
	json_object *o = NULL, *v, *h;
	p11e_rc rc;

	*seq = 0;
	strcpy(hash, ZERO_HASH);
	memset(lp, 0, sizeof(*lp));
	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_read_private(path, HEAD_MAX, &text, NULL, err);
	if (rc == P11E_NOT_FOUND) {
		rc = P11E_OK;
		goto out;
	}
	if (rc != P11E_OK)
		goto out;
	o = json_tokener_parse(text);
	if (o == NULL || !json_object_object_get_ex(o, "log", &v) ||
	    !json_object_is_type(v, json_type_string) || !json_object_object_get_ex(o, "seq", &h) ||
	    !json_object_is_type(h, json_type_int) || json_object_get_int64(h) < 0) {
		rc = p11e_errf(err, P11E_FAIL,
			       "%s is corrupt; investigate, then see p11enroll(1) AUDIT LOG", path);
		goto out;
	}
	if (strcmp(json_object_get_string(v), log) == 0) {
		*seq = json_object_get_int64(h);
		if (json_object_object_get_ex(o, "sha256", &h) &&
		    json_object_is_type(h, json_type_string) && json_object_get_string_len(h) == 64)
			strcpy(hash, json_object_get_string(h));
		/* Heads written before the print existed have none: a walk. */
		if (json_object_object_get_ex(o, "file", &h) &&
		    json_object_is_type(h, json_type_array) && json_object_array_length(h) == 5) {
			long long *f[5] = {&lp->dev, &lp->ino, &lp->size, &lp->ctime_s,
					   &lp->ctime_ns};
			for (size_t i = 0; i < 5; i++)
				*f[i] = json_object_get_int64(json_object_array_get_idx(h, i));
		}
	}
out:
	json_object_put(o);
	free(text);
	free(path);
	return rc;
}

static p11e_rc write_head(const p11e_config *cfg, const char *log, const chain *c,
			  const log_print *lp, p11e_err *err)
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
 * last one replaced. A head behind the log is a crash between the append
 * and the head's update: the chain itself is whole, so that is fine. */
static p11e_rc match_head(const char *log, const chain *c, long long head_seq,
			  const char *head_hash, p11e_err *err)
{
	if (c->seq < head_seq)
		return p11e_errf(
		    err, P11E_FAIL,
		    "audit log %s ends at entry %lld (line %zu) but held %lld: entries "
		    "at its end were removed; investigate, then see p11enroll(1) AUDIT "
		    "LOG",
		    log, c->seq, c->lines, head_seq);
	if (c->seq == head_seq && head_seq > 0 && strcmp(c->hash, head_hash) != 0)
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s: line %zu (entry %lld) is not the entry written "
				 "last; investigate, then see p11enroll(1) AUDIT LOG",
				 log, c->lines, c->seq);
	return P11E_OK;
}

/* Opens, locks and verifies the log for an append (create: make it if the
 * head says there never was one) or a check. P11E_NOT_FOUND when there is
 * no log and none is expected. */
static p11e_rc open_chain(const p11e_config *cfg, const char *path, int create, int *fd, chain *c,
			  p11e_err *err)
{
	char head_hash[65], *text = NULL;
	long long head_seq = 0;
	log_print head_print, now_print;
	struct stat st;
	size_t len = 0;
	p11e_rc rc;

	*fd = -1;
	memset(c, 0, sizeof(*c));
	strcpy(c->hash, ZERO_HASH);
	if ((rc = read_head(cfg, path, &head_seq, head_hash, &head_print, err)) != P11E_OK)
		return rc;
	rc = p11e_open_private(path, create ? O_RDWR | O_APPEND : O_RDONLY, 0, fd, err);
	if (rc == P11E_NOT_FOUND && head_seq > 0)
		/* Never recreated silently: that is what hid a deleted log. */
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s is missing but held %lld entries; restore it from "
				 "a backup or syslog, see p11enroll(1) AUDIT LOG",
				 path, head_seq);
	if (rc == P11E_NOT_FOUND && create)
		rc = p11e_open_private(path, O_RDWR | O_APPEND | O_CREAT, 0600, fd, err);
	if (rc != P11E_OK)
		return rc;
	/* Appends take turns; a check waits for a half-done append. */
	while (flock(*fd, create ? LOCK_EX : LOCK_SH) != 0)
		if (errno != EINTR) {
			rc = p11e_errf(err, P11E_FAIL, "audit log %s: cannot lock: %s", path,
				       strerror(errno));
			goto out;
		}
	/* The head again, now that no append runs: the one read before the
	 * lock may be one that a concurrent append has since replaced. */
	if ((rc = read_head(cfg, path, &head_seq, head_hash, &head_print, err)) != P11E_OK)
		goto out;
	/* An append to a log exactly as the last append left it (same file,
	 * length and change time) takes the chain from the head: the walk
	 * below reads the whole log, which grew slower with every entry (a
	 * third of a second at 100,000). Anything else, a crash between an
	 * append and its head included, is walked; `audit verify` always is. */
	if (create && head_seq > 0 && fstat(*fd, &st) == 0) {
		print_of(&st, &now_print);
		if (memcmp(&now_print, &head_print, sizeof(now_print)) == 0) {
			c->seq = head_seq;
			strcpy(c->hash, head_hash);
			goto out;
		}
	}
	if (lseek(*fd, 0, SEEK_SET) != 0 ||
	    (rc = p11e_read_fd(*fd, path, AUDIT_MAX, &text, &len, err)) != P11E_OK) {
		if (rc == P11E_OK)
			rc = p11e_errf(err, P11E_FAIL, "audit log %s: %s", path, strerror(errno));
		goto out;
	}
	rc = walk(path, text, len, c, err);
	if (rc == P11E_OK)
		rc = match_head(path, c, head_seq, head_hash, err);
out:
	free(text);
	if (rc != P11E_OK && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

p11e_rc p11e_audit_write(const p11e_config *cfg, const char *action, const char *identity,
			 const char *const *extra, p11e_rc outcome, const p11e_err *outcome_err,
			 p11e_err *err)
{
	char *path = NULL, *dir = NULL, *line = NULL, *slash;
	char when[32];
	struct tm tm;
	time_t now = time(NULL);
	json_object *o = NULL;
	const char *text;
	chain c;
	log_print lp;
	struct stat st;
	int fd = -1, saved = 0;
	size_t n;
	p11e_rc rc;

	rc = p11e_audit_path(cfg, &path, err);
	if (rc != P11E_OK)
		return rc;
	if ((dir = strdup(path)) != NULL && (slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if ((rc = p11e_mkdirs(dir, 0700, err)) != P11E_OK)
			goto out;
	}
	if ((rc = p11e_mkdirs(cfg->state_dir, 0700, err)) != P11E_OK ||
	    (rc = open_chain(cfg, path, 1, &fd, &c, err)) != P11E_OK)
		goto out;
	o = json_object_new_object();
	if (o == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: out of memory", path);
		goto out;
	}
	/* The chain first: each entry names the one before it by hash. */
	json_object_object_add(o, "seq", json_object_new_int64(c.seq + 1));
	json_object_object_add(o, "prev", json_object_new_string(c.hash));
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
	c.seq++;
	line_hash(line, n, c.hash);
	/* A copy the local user cannot edit: syslog/journald (auth log). */
	syslog(LOG_AUTHPRIV | LOG_NOTICE, "p11enroll audit: %s", text);
	/* Still under the lock, so heads are written in the log's order. */
	if (fstat(fd, &st) != 0) {
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: %s", path, strerror(errno));
		goto out;
	}
	print_of(&st, &lp);
	rc = write_head(cfg, path, &c, &lp, err);
out:
	if (fd >= 0 && close(fd) != 0 && rc == P11E_OK)
		rc = p11e_errf(err, P11E_FAIL, "audit log %s: cannot append: %s", path,
			       strerror(errno));
	json_object_put(o);
	free(line);
	free(dir);
	free(path);
	return rc;
}

p11e_rc p11e_audit_verify(const p11e_config *cfg, p11e_audit_report *rep, p11e_err *err)
{
	char *path = NULL;
	chain c;
	int fd = -1;
	p11e_rc rc;

	memset(rep, 0, sizeof(*rep));
	if ((rc = p11e_audit_path(cfg, &path, err)) != P11E_OK)
		return rc;
	rc = open_chain(cfg, path, 0, &fd, &c, err);
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
