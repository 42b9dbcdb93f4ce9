/* p11enroll audit verify: checks the audit log's hash chain end to end. */
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

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	if (strcmp(a->pos[0], "verify") == 0)
		return verify(ctx);
	return p11e_errf(&ctx->err, P11E_USAGE, "audit: unknown action '%.40s' (verify)",
			 a->pos[0]);
}

const cli_command cmd_audit = {
    .name = "audit",
    .usage = "verify [--json]",
    .summary = "check the audit log's hash chain",
    .help = "verify: reads the whole audit log (config audit_log, else STATE_DIR/audit.jsonl)\n"
	    "and checks every entry's seq and the SHA-256 of the entry before it, and the\n"
	    "last entry against STATE_DIR/audit.head. Exit 0 when intact; 1 naming the\n"
	    "first bad line (edited, inserted, removed or cut), or a log that is missing\n"
	    "though entries were written. See AUDIT LOG in p11enroll(1).",
    .opts = (const cli_opt[]){{NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
    .actions = (const char *const[]){"verify", NULL},
};
