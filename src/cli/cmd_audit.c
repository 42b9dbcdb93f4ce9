/* p11enroll audit verify: checks the audit chain's hash chain end to end.
 * p11enroll audit show [--identity X] [--since T]: its entries, verified as
 * they are read, as a table or (--json) the stored lines.
 * p11enroll audit head: the chain's last entry (seq, sha256) as its head
 * vouches for it, to pin elsewhere.
 * p11enroll audit reset-head: makes the head vouch for the chain as it is
 * now, in an audit entry of its own. Both stores (file, PostgreSQL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/audit.h"

static p11e_rc verify(cli_ctx *ctx)
{
	p11e_audit_report rep;
	p11e_rc rc = p11e_audit_verify(&ctx->config, &rep, &ctx->err);

	if (ctx->json && rep.path != NULL) {
		/* Also when broken: a monitoring script reads which line. */
		json_object *o = json_object_new_object();
		json_object_object_add(o, "log", json_object_new_string(rep.path));
		json_object_object_add(o, "exists", json_object_new_boolean(rep.exists));
		json_object_object_add(o, "intact", json_object_new_boolean(rc == P11E_OK));
		json_object_object_add(o, "entries", json_object_new_int64(rep.entries));
		json_object_object_add(o, "lines", json_object_new_int64((int64_t)rep.lines));
		/* A file names its bad line, a table its bad entry (by seq). */
		if (rep.bad_line > 0)
			json_object_object_add(o,
					       strcmp(rep.unit, "entry") == 0 ? "bad_entry"
									     : "bad_line",
					       json_object_new_int64((int64_t)rep.bad_line));
		if (rc == P11E_OK && rep.lines > 0)
			json_object_object_add(o, "last_sha256",
					       json_object_new_string(rep.sha256));
		cli_print_json(o);
	} else if (rc == P11E_OK && !rep.exists) {
		printf("%s: no audit log yet\n", rep.path);
	} else if (rc == P11E_OK) {
		printf("%s: intact, %lld chained entries in %zu %ss, last sha256 %s\n", rep.path,
		       rep.entries, rep.lines, rep.unit, rep.sha256);
	}
	p11e_audit_report_free(&rep);
	return rc;
}

static p11e_rc reset_head(cli_ctx *ctx)
{
	p11e_audit_reset res;
	p11e_rc rc = p11e_audit_reset_head(&ctx->config, &res, &ctx->err);

	if (rc == P11E_OK && ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "log", json_object_new_string(res.path));
		json_object_object_add(o, "reset", json_object_new_boolean(!res.unchanged));
		json_object_object_add(o, "previous_head", json_object_new_string(res.previous));
		json_object_object_add(o, "trusted_entries", json_object_new_int64(res.entries));
		json_object_object_add(o, "trusted_lines",
				       json_object_new_int64((int64_t)res.lines));
		json_object_object_add(o, "trusted_sha256", json_object_new_string(res.sha256));
		cli_print_json(o);
	} else if (rc == P11E_OK && res.unchanged) {
		printf("%s: the head already vouches for its end (%lld chained entries in %zu "
		       "lines, last sha256 %s): nothing reset\n",
		       res.path, res.entries, res.lines, res.sha256);
	} else if (rc == P11E_OK) {
		printf("%s: head reset (it was %s): it now trusts the log as it is, %lld chained "
		       "entries in %zu lines, the last with sha256 %s; recorded as entry %lld "
		       "(audit-reset-head)\n",
		       res.path, res.previous, res.entries, res.lines, res.sha256,
		       res.entries + 1);
	}
	p11e_audit_reset_free(&res);
	return rc;
}

/* --since T as the log's own time format (UTC, "2026-11-22T09:00:00Z"),
 * which sorts as text: a date (from its midnight, UTC), or a date and time
 * (to the minute or second) with Z, an offset (+02:00), or neither (UTC). */
static p11e_rc since_of(const char *text, char out[21], p11e_err *err)
{
	int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, oh = 0, om = 0, used = 0, n;
	const char *p = text;
	struct tm tm;
	time_t t;

	if (sscanf(p, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
		goto bad;
	p += used;
	if (*p == 'T' || *p == ' ') {
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &used) != 2 || used != 5)
			goto bad;
		p += 1 + used;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &sec, &used) != 1 || used != 2)
				goto bad;
			p += 3;
		}
		if (*p == 'Z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 ||
			    om > 59)
				goto bad;
			if (*p == '+')
				oh = -oh, om = -om;
			p += 6;
		}
	}
	if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 59)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm) + (time_t)oh * 3600 + (time_t)om * 60;
	gmtime_r(&t, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return P11E_OK;
bad:
	return p11e_errf(err, P11E_USAGE,
			 "audit show: --since must be a date or a date and time (2026-11-22, "
			 "2026-11-22T09:00, 2026-11-22T09:00:00Z, 2026-11-22T11:00+02:00)");
}

typedef struct show_ctx {
	const char *identity;
	const char *since; /* normalised, or NULL */
	int json;
	long long shown;
} show_ctx;

static const char *field(json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* One column of the table, made safe for a terminal (width 0: the last). */
static void column(const char *text, int width)
{
	char *safe = cli_safe_text(text ? text : "-", strlen(text ? text : "-"));

	printf(width > 0 ? "%-*s " : "%.*s", width > 0 ? width : 300, safe ? safe : "?");
	free(safe);
}

static p11e_rc show_entry(void *arg, const char *line, size_t len, long long seq,
			  const char *sha256, p11e_err *err)
{
	show_ctx *sc = arg;
	json_object *o = json_tokener_parse(line);
	const char *identity = field(o, "identity"), *when = field(o, "time");
	char num[24] = "-", who[300];

	(void)sha256;
	(void)err;
	if ((sc->identity != NULL && (identity == NULL || strcasecmp(identity, sc->identity) != 0)) ||
	    (sc->since != NULL && (when == NULL || strcmp(when, sc->since) < 0)))
		goto out;
	sc->shown++;
	if (sc->json) {
		/* The line as stored: what its hash covers. */
		fwrite(line, 1, len, stdout);
		putchar('\n');
		goto out;
	}
	if (sc->shown == 1)
		printf("%-6s %-20s %-22s %-30s %-10s %s\n", "SEQ", "TIME", "ACTION", "IDENTITY",
		       "OUTCOME", "BY");
	if (seq > 0)
		snprintf(num, sizeof(num), "%lld", seq);
	snprintf(who, sizeof(who), "%s@%s", field(o, "user") ? field(o, "user") : "?",
		 field(o, "host") ? field(o, "host") : "?");
	column(num, 6);
	column(when, 20);
	column(field(o, "action"), 22);
	column(identity, 30);
	column(field(o, "outcome"), 10);
	column(field(o, "portal_user") ? field(o, "portal_user") : who, 0);
	putchar('\n');
out:
	json_object_put(o);
	return P11E_OK;
}

static p11e_rc show(cli_ctx *ctx, const cli_args *a)
{
	show_ctx sc = {.identity = cli_value(a, "identity"), .json = ctx->json};
	const char *since = cli_value(a, "since");
	char since_norm[21];
	p11e_audit_report rep;
	p11e_rc rc;

	if (sc.identity != NULL && sc.identity[0] == '\0')
		return p11e_errf(&ctx->err, P11E_USAGE, "audit show: --identity must not be empty");
	if (since != NULL) {
		if ((rc = since_of(since, since_norm, &ctx->err)) != P11E_OK)
			return rc;
		sc.since = since_norm;
	}
	rc = p11e_audit_each(&ctx->config, show_entry, &sc, &rep, &ctx->err);
	if (rc == P11E_OK && !ctx->json && sc.shown == 0)
		printf("%s: %s\n", rep.path ? rep.path : "audit log",
		       rep.exists ? "no entries match" : "no audit log yet");
	fflush(stdout);
	p11e_audit_report_free(&rep);
	return rc;
}

static p11e_rc head(cli_ctx *ctx)
{
	p11e_audit_report rep;
	p11e_rc rc = p11e_audit_head_check(&ctx->config, &rep, &ctx->err);

	if (rc == P11E_OK && ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "log", json_object_new_string(rep.path ? rep.path : ""));
		json_object_object_add(o, "exists", json_object_new_boolean(rep.exists));
		json_object_object_add(o, "seq", json_object_new_int64(rep.entries));
		json_object_object_add(o, "sha256", json_object_new_string(rep.sha256));
		cli_print_json(o);
	} else if (rc == P11E_OK && !rep.exists) {
		printf("%s: no audit log yet\n", rep.path ? rep.path : "audit log");
	} else if (rc == P11E_OK) {
		printf("%s: head at entry %lld, sha256 %s\n", rep.path, rep.entries, rep.sha256);
	}
	p11e_audit_report_free(&rep);
	return rc;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *action = a->pos[0];

	if (strcmp(action, "show") != 0 &&
	    (cli_value(a, "identity") != NULL || cli_value(a, "since") != NULL))
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "audit %s: --identity and --since are for audit show", action);
	if (strcmp(action, "show") == 0)
		return show(ctx, a);
	if (strcmp(action, "head") == 0)
		return head(ctx);
	if (strcmp(a->pos[0], "verify") == 0)
		return verify(ctx);
	if (strcmp(a->pos[0], "reset-head") == 0)
		return reset_head(ctx);
	return p11e_errf(&ctx->err, P11E_USAGE,
			 "audit: unknown action '%.40s' (verify, show, head, reset-head)",
			 a->pos[0]);
}

const cli_command cmd_audit = {
    .name = "audit",
    .usage = "verify|show|head|reset-head [--identity EMAIL] [--since TIME] [--json]",
    .summary = "check, show or pin the audit chain, or reset its head",
    .help = "The audit chain is in the store: a file (config audit_log, else\n"
	    "STATE_DIR/audit.jsonl, its head STATE_DIR/audit.head) or, with a postgresql store,\n"
	    "the tables audit and audit_head.\n"
	    "verify: reads the whole chain and checks every entry's seq and the SHA-256 of the\n"
	    "entry before it, and the last entry against the head. Exit 0 when intact; 1\n"
	    "naming the first bad line (or entry: edited, inserted, removed, moved or cut), a\n"
	    "log that is missing though entries were written, or chained entries without a\n"
	    "head.\n"
	    "show: the entries, verified as they are read (exit 1 at the first bad one), as a\n"
	    "table, or with --json the stored lines; --identity EMAIL only that identity's\n"
	    "(any case), --since TIME only from then (2026-11-22, 2026-11-22T09:00:00Z, UTC\n"
	    "unless an offset is given).\n"
	    "head: the chain's last entry, its seq and sha256, checked against the head: pin\n"
	    "it elsewhere, and a later verify shows whether the chain still holds it.\n"
	    "reset-head: after investigating, makes the head trust the chain as it is now\n"
	    "(it must be intact): prints the entries and the last hash it trusts and\n"
	    "appends an audit-reset-head entry saying so and who ran it. Exit 10 without a\n"
	    "log, 1 for a broken chain. See AUDIT LOG in p11enroll(1).",
    .opts = (const cli_opt[]){{"identity", "EMAIL", "show: only this identity's entries"},
			      {"since", "TIME", "show: only entries from TIME on (ISO 8601)"},
			      {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
    .actions = (const char *const[]){"verify", "show", "head", "reset-head", NULL},
};
