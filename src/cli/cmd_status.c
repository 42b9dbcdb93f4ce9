/* p11enroll status: every enrollment record in the state dir. */
#include <stdio.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/record.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_record *recs = NULL;
	size_t n = 0;
	p11e_rc rc;

	(void)a;
	rc = p11e_record_list(ctx->config.state_dir, &recs, &n, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		json_object *list = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(list, cli_record_json(&recs[i]));
		cli_print_json(list);
	} else {
		printf("%-32s %-14s %-9s %-20s %s\n", "IDENTITY", "STEP", "KEY", "NOT AFTER",
		       "LAST ERROR");
		for (size_t i = 0; i < n; i++)
			cli_record_print(&recs[i]);
	}
	p11e_records_free(recs, n);
	return P11E_OK;
}

const cli_command cmd_status = {
    .name = "status",
    .usage = "[--json]",
    .summary = "list enrollment records: step reached, key, expiry, last error",
    .help =
	"Reads the state dir (config state_dir, else $P11ENROLL_STATE_DIR, else\n"
	"$XDG_STATE_HOME/p11enroll). An identity not at step 'done' resumes on the next enroll.",
    .opts = (const cli_opt[]){{NULL, NULL, NULL}},
    .min_pos = 0,
    .max_pos = 0,
    .run = run,
};
