/* The audit log's hash chain (finding 21): every entry has a seq and the
 * SHA-256 of the line before; verification names the first bad line; an
 * append refuses a broken chain; a log deleted whole or cut at its end is
 * noticed through STATE_DIR/audit.head and never recreated silently; lines
 * from before the chain are kept; a planted FIFO or symlink is refused
 * (finding 20). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "check.h"
#include "p11enroll/audit.h"
#include "p11enroll/util.h"

static char state[512], log_path[600], head_path[600];
static p11e_config cfg;

static p11e_rc append(const char *identity, p11e_err *err)
{
	return p11e_audit(&cfg, "escrow-show", identity, P11E_OK, NULL, err);
}

static char *slurp(const char *path)
{
	char *text = NULL;
	p11e_err err;

	if (p11e_read_file(path, 1 << 20, &text, NULL, &err) != P11E_OK)
		return NULL;
	return text;
}

static void put(const char *path, const char *text)
{
	p11e_err err;

	unlink(path);
	CHECK_RC(p11e_write_file_atomic(path, text, strlen(text), 0600, &err), P11E_OK, &err);
}

/* verify's outcome: rc, with rep.bad_line as *bad. */
static p11e_rc verify(size_t *bad, long long *entries, p11e_err *err)
{
	p11e_audit_report rep;
	p11e_rc rc = p11e_audit_verify(&cfg, &rep, err);

	*bad = rep.bad_line;
	*entries = rep.entries;
	p11e_audit_report_free(&rep);
	return rc;
}

/* Line n (1-based) of text, malloc'd, without its newline. */
static char *line_of(const char *text, int n)
{
	const char *p = text;

	while (--n > 0 && p != NULL && (p = strchr(p, '\n')) != NULL)
		p++;
	return p == NULL ? NULL : strndup(p, strcspn(p, "\n"));
}

static void chain_shape(void)
{
	char *text, *l1, *l2, hex[65];
	unsigned char md[32];
	unsigned int mdlen;
	json_object *o1, *o2, *v;
	p11e_err err;
	size_t bad;
	long long entries;

	CHECK_RC(verify(&bad, &entries, &err), P11E_OK, &err); /* nothing yet: fine */
	CHECK_RC(append("a@example.com", &err), P11E_OK, &err);
	CHECK_RC(append("b@example.com", &err), P11E_OK, &err);
	CHECK_RC(append("c@example.com", &err), P11E_OK, &err);
	CHECK_RC(verify(&bad, &entries, &err), P11E_OK, &err);
	CHECK(entries == 3 && bad == 0);
	text = slurp(log_path);
	CHECK(text != NULL);
	l1 = line_of(text, 1);
	l2 = line_of(text, 2);
	o1 = json_tokener_parse(l1);
	o2 = json_tokener_parse(l2);
	CHECK(json_object_object_get_ex(o1, "seq", &v) && json_object_get_int64(v) == 1);
	CHECK(json_object_object_get_ex(o1, "prev", &v) &&
	      strspn(json_object_get_string(v), "0") == 64);
	CHECK(json_object_object_get_ex(o2, "seq", &v) && json_object_get_int64(v) == 2);
	EVP_Digest(l1, strlen(l1), md, &mdlen, EVP_sha256(), NULL);
	p11e_hex_encode(md, 32, hex);
	CHECK(json_object_object_get_ex(o2, "prev", &v) &&
	      strcmp(json_object_get_string(v), hex) == 0);
	json_object_put(o1);
	json_object_put(o2);
	free(l1);
	free(l2);
	free(text);
	CHECK(access(head_path, F_OK) == 0);
}

/* Each kind of tampering is found at the right line, and an append after it
 * is refused without touching the file. */
static void tampering(void)
{
	char *orig = slurp(log_path), *edited, *now, *p;
	p11e_err err;
	size_t bad;
	long long entries;

	CHECK(orig != NULL);
	if (orig == NULL)
		return;
	/* An entry edited: the next line no longer chains to it. */
	edited = strdup(orig);
	p = strstr(edited, "b@example.com");
	CHECK(p != NULL);
	if (p != NULL)
		p[0] = 'x';
	put(log_path, edited);
	CHECK_RC(verify(&bad, &entries, &err), P11E_FAIL, &err);
	CHECK(bad == 3 && strstr(err.msg, "line 3") != NULL);
	CHECK_RC(append("d@example.com", &err), P11E_FAIL, &err);
	now = slurp(log_path);
	CHECK(now != NULL && strcmp(now, edited) == 0);
	free(now);
	free(edited);
	/* An entry removed from the middle: the next one's seq is wrong. */
	edited = strdup(orig);
	p = strchr(edited, '\n') + 1;
	memmove(p, strchr(p, '\n') + 1, strlen(strchr(p, '\n') + 1) + 1);
	put(log_path, edited);
	CHECK_RC(verify(&bad, &entries, &err), P11E_FAIL, &err);
	CHECK(bad == 2 && strstr(err.msg, "line 2") != NULL && strstr(err.msg, "seq") != NULL);
	free(edited);
	/* The last entry removed: only the head knows. */
	edited = strdup(orig);
	p = edited + strlen(edited) - 1;
	while (p > edited && p[-1] != '\n')
		p--;
	*p = '\0';
	put(log_path, edited);
	CHECK_RC(verify(&bad, &entries, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "held 3") != NULL);
	CHECK_RC(append("d@example.com", &err), P11E_FAIL, &err);
	free(edited);
	/* The last entry edited. */
	edited = strdup(orig);
	p = strstr(edited, "c@example.com");
	if (p != NULL)
		p[0] = 'x';
	put(log_path, edited);
	CHECK_RC(verify(&bad, &entries, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "line 3") != NULL);
	free(edited);
	/* A torn last line (no newline). */
	edited = strdup(orig);
	edited[strlen(edited) - 1] = '\0';
	put(log_path, edited);
	CHECK_RC(verify(&bad, &entries, &err), P11E_FAIL, &err);
	CHECK(bad == 3);
	free(edited);
	/* Deleted whole: refused, and not recreated. */
	unlink(log_path);
	CHECK_RC(verify(&bad, &entries, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "missing") != NULL);
	CHECK_RC(append("d@example.com", &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "missing") != NULL);
	CHECK(access(log_path, F_OK) != 0);
	/* Put back as it was: appends go on. */
	put(log_path, orig);
	CHECK_RC(append("d@example.com", &err), P11E_OK, &err);
	CHECK_RC(verify(&bad, &entries, &err), P11E_OK, &err);
	CHECK(entries == 4);
	free(orig);
}

/* A log from before the chain: its lines stay, the chain starts after them. */
static void legacy_lines(void)
{
	p11e_err err;
	size_t bad;
	long long entries;

	unlink(head_path);
	put(log_path, "{\"time\":\"2026-01-01T00:00:00Z\",\"action\":\"export\"}\n"
		      "{\"time\":\"2026-01-02T00:00:00Z\",\"action\":\"export\"}\n");
	CHECK_RC(verify(&bad, &entries, &err), P11E_OK, &err);
	CHECK_RC(append("e@example.com", &err), P11E_OK, &err);
	CHECK_RC(append("f@example.com", &err), P11E_OK, &err);
	CHECK_RC(verify(&bad, &entries, &err), P11E_OK, &err);
	CHECK(entries == 2);
	/* ... but an unchained line after the chain began is an insertion. */
	{
		char *text = slurp(log_path), *more;
		CHECK(text != NULL && (more = malloc(strlen(text) + 64)) != NULL);
		if (text != NULL && more != NULL) {
			sprintf(more, "%s{\"action\":\"export\"}\n", text);
			put(log_path, more);
			CHECK_RC(verify(&bad, &entries, &err), P11E_FAIL, &err);
			CHECK(bad == 5);
			put(log_path, text);
			free(more);
		}
		free(text);
	}
}

/* The head deleted beside chained entries (issue 20, B): verify and appends
 * refuse, nothing recreates it but p11e_audit_reset_head, which trusts the
 * log as it is in an entry of its own; a head about another log is no head;
 * a broken chain cannot be reset. */
static void head_deleted(void)
{
	p11e_audit_reset res;
	p11e_audit_report rep;
	char *before, *after, *last;
	p11e_err err;
	size_t bad;
	long long entries;

	unlink(log_path);
	unlink(head_path);
	CHECK_RC(p11e_audit_reset_head(&cfg, &res, &err), P11E_NOT_FOUND, &err);
	p11e_audit_reset_free(&res);
	for (int i = 0; i < 3; i++)
		CHECK_RC(append("h@example.com", &err), P11E_OK, &err);
	CHECK_RC(p11e_audit_verify(&cfg, &rep, &err), P11E_OK, &err);
	p11e_audit_report_free(&rep);
	unlink(head_path);
	CHECK_RC(verify(&bad, &entries, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "is missing") != NULL && strstr(err.msg, "reset-head") != NULL);
	before = slurp(log_path);
	CHECK_RC(append("h@example.com", &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "reset-head") != NULL);
	after = slurp(log_path);
	CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
	CHECK(access(head_path, F_OK) != 0);
	free(after);
	/* Reset: it trusts the three entries and says so in the fourth. */
	CHECK_RC(p11e_audit_reset_head(&cfg, &res, &err), P11E_OK, &err);
	CHECK(!res.unchanged && res.entries == 3 && res.lines == 3 &&
	      strcmp(res.previous, "missing") == 0);
	last = line_of(before, 3);
	if (last != NULL) {
		unsigned char md[32];
		char hex[65];
		EVP_Digest(last, strlen(last), md, NULL, EVP_sha256(), NULL);
		p11e_hex_encode(md, 32, hex);
		CHECK(strcmp(res.sha256, hex) == 0);
	}
	free(last);
	free(before);
	p11e_audit_reset_free(&res);
	after = slurp(log_path);
	last = after ? line_of(after, 4) : NULL;
	CHECK(last != NULL && strstr(last, "\"action\":\"audit-reset-head\"") != NULL &&
	      strstr(last, "\"trusted_entries\":\"3\"") != NULL &&
	      strstr(last, "\"previous_head\":\"missing\"") != NULL &&
	      strstr(last, "\"seq\":4") != NULL);
	free(last);
	CHECK_RC(verify(&bad, &entries, &err), P11E_OK, &err);
	CHECK(entries == 4);
	/* Again: the head vouches for the end already. */
	CHECK_RC(p11e_audit_reset_head(&cfg, &res, &err), P11E_OK, &err);
	CHECK(res.unchanged && res.entries == 4);
	p11e_audit_reset_free(&res);
	/* A head about another log does not vouch for this one. */
	put(head_path, "{\"log\":\"/elsewhere/audit.jsonl\",\"seq\":9}");
	CHECK_RC(verify(&bad, &entries, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "about another log") != NULL);
	CHECK_RC(p11e_audit_reset_head(&cfg, &res, &err), P11E_OK, &err);
	CHECK(strcmp(res.previous, "about another log") == 0 && res.entries == 4);
	p11e_audit_reset_free(&res);
	CHECK_RC(append("h@example.com", &err), P11E_OK, &err);
	/* An edited entry and no head: no reset over a broken chain. */
	{
		char *p = strstr(after, "h@example.com");
		if (p != NULL)
			p[0] = 'x';
		put(log_path, after);
		unlink(head_path);
		CHECK_RC(p11e_audit_reset_head(&cfg, &res, &err), P11E_FAIL, &err);
		CHECK(strstr(err.msg, "line 2") != NULL && access(head_path, F_OK) != 0);
		p11e_audit_reset_free(&res);
	}
	free(after);
	unlink(log_path);
}

/* Planted in place of the log: a FIFO (no hang) or a symlink (not followed). */
static void planted(void)
{
	char elsewhere[700];
	p11e_err err;

	unlink(log_path);
	unlink(head_path);
	CHECK(mkfifo(log_path, 0600) == 0);
	CHECK_RC(append("g@example.com", &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
	unlink(log_path);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", state);
	CHECK(symlink(elsewhere, log_path) == 0);
	CHECK_RC(append("g@example.com", &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "symbolic link") != NULL);
	CHECK(access(elsewhere, F_OK) != 0);
	unlink(log_path);
}

int main(void)
{
	const char *tmp = getenv("TEST_TMP");
	p11e_err err;

	if (tmp == NULL) {
		fprintf(stderr, "TEST_TMP is not set: run under tests/with-softhsm.sh\n");
		return 1;
	}
	snprintf(state, sizeof(state), "%s/audit-state", tmp);
	snprintf(log_path, sizeof(log_path), "%s/audit.jsonl", state);
	snprintf(head_path, sizeof(head_path), "%s/audit.head", state);
	CHECK_RC(p11e_mkdirs(state, 0700, &err), P11E_OK, &err);
	memset(&cfg, 0, sizeof(cfg));
	cfg.state_dir = state;
	chain_shape();
	tampering();
	legacy_lines();
	head_deleted();
	planted();
	return check_done();
}
