/* p11enroll audit verify: checks the audit log's hash chain end to end.
 * p11enroll audit reset-head: makes STATE_DIR/audit.head vouch for the log as
 * it is now, in an audit entry of its own. */
#include <stdio.h>
#include <string.h>
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
		if (rep.bad_line > 0)
			json_object_object_add(o, "bad_line",
					       json_object_new_int64((int64_t)rep.bad_line));
		if (rc == P11E_OK && rep.lines > 0)
			json_object_object_add(o, "last_sha256",
					       json_object_new_string(rep.sha256));
		cli_print_json(o);
	} else if (rc == P11E_OK && !rep.exists) {
		printf("%s: no audit log yet\n", rep.path);
	} else if (rc == P11E_OK) {
		printf("%s: intact, %lld chained entries in %zu lines, last sha256 %s\n", rep.path,
		       rep.entries, rep.lines, rep.sha256);
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

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	if (strcmp(a->pos[0], "verify") == 0)
		return verify(ctx);
	if (strcmp(a->pos[0], "reset-head") == 0)
		return reset_head(ctx);
	return p11e_errf(&ctx->err, P11E_USAGE,
			 "audit: unknown action '%.40s' (verify, reset-head)", a->pos[0]);
}

const cli_command cmd_audit = {
    .name = "audit",
    .usage = "verify|reset-head [--json]",
    .summary = "check the audit log's hash chain, or reset its head",
    .help = "verify: reads the whole audit log (config audit_log, else STATE_DIR/audit.jsonl)\n"
	    "and checks every entry's seq and the SHA-256 of the entry before it, and the\n"
	    "last entry against STATE_DIR/audit.head. Exit 0 when intact; 1 naming the\n"
	    "first bad line (edited, inserted, removed or cut), a log that is missing\n"
	    "though entries were written, or chained entries without a head.\n"
	    "reset-head: after investigating, makes the head trust the log as it is now\n"
	    "(its chain must be intact): prints the entries and the last hash it trusts and\n"
	    "appends an audit-reset-head entry saying so and who ran it. Exit 10 without a\n"
	    "log, 1 for a broken chain. See AUDIT LOG in p11enroll(1).",
    .opts = (const cli_opt[]){{NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
    .actions = (const char *const[]){"verify", "reset-head", NULL},
};
