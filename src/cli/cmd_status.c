/* p11enroll status: every enrollment record in the state dir, or those
 * whose certificate expires soon (--expiring DAYS: what renewal is for). */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/clock.h"
#include "p11enroll/record.h"
#include "p11enroll/util.h"

#define EXPIRING_MAX_DAYS 36500

/* Whether r holds a certificate that ends before limit (expired ones too). */
static int expiring(const p11e_record *r, time_t limit)
{
	time_t end = p11e_iso_parse(r->not_after);

	return r->cert_pem != NULL && end >= 0 && end < limit;
}

/* Whether r is one of the identities named (all when none are). */
static int named(const cli_args *a, const p11e_record *r)
{
	if (a->npos == 0)
		return 1;
	for (int i = 0; i < a->npos; i++)
		if (strcasecmp(a->pos[i], r->identity) == 0)
			return 1;
	return 0;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *days_text = cli_value(a, "expiring");
	p11e_record *recs = NULL;
	size_t n = 0;
	time_t limit = 0;
	p11e_rc rc;

	if (days_text != NULL) {
		char *end = NULL;
		long days = strtol(days_text, &end, 10);

		if (*days_text == '\0' || *end != '\0' || days < 0 || days > EXPIRING_MAX_DAYS)
			return p11e_errf(&ctx->err, P11E_USAGE,
					 "expiring: '%.20s' is not 0 to %d days", days_text,
					 EXPIRING_MAX_DAYS);
		limit = p11e_now() + (time_t)days * 86400;
	}
	rc = p11e_record_list(ctx->config.store, &recs, &n, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	for (int i = 0; i < a->npos; i++) {
		size_t j = 0;
		while (j < n && strcasecmp(a->pos[i], recs[j].identity) != 0)
			j++;
		if (j == n) {
			p11e_records_free(recs, n);
			return p11e_errf(&ctx->err, P11E_NOT_FOUND, "no record for %.100s",
					 a->pos[i]);
		}
	}
	if (ctx->json) {
		json_object *list = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			if (named(a, &recs[i]) && (days_text == NULL || expiring(&recs[i], limit)))
				json_object_array_add(list, cli_record_json(&recs[i]));
		cli_print_json(list);
	} else {
		printf("%-32s %-14s %-9s %-16s %-14s %-20s %s\n", "IDENTITY", "STEP", "KEY",
		       "TOKEN", "PROFILE", "NOT AFTER", "LAST ERROR");
		for (size_t i = 0; i < n; i++)
			if (named(a, &recs[i]) && (days_text == NULL || expiring(&recs[i], limit)))
				cli_record_print(&recs[i]);
	}
	p11e_records_free(recs, n);
	return P11E_OK;
}

const cli_command cmd_status = {
    .name = "status",
    .usage = "[IDENTITY...] [--expiring DAYS] [--json]",
    .summary = "list enrollment records: step reached, key, token, profile, expiry, last error",
    .help =
	"Reads the state dir (config state_dir, else $P11ENROLL_STATE_DIR, else\n"
	"$XDG_STATE_HOME/p11enroll). An identity not at step 'done' resumes on the next enroll.\n"
	"TOKEN: the serial of the token its key is on (\"software\": a PFX; \"archived\" keys\n"
	"are on the token too); PROFILE: its profile.\n"
	"--expiring DAYS: only identities whose certificate ends within DAYS (or has ended).\n"
	"Each identity shows its current generation; --json adds \"generations\": every\n"
	"one, earlier ones first (superseded, revoked, retired), with where its key is.\n"
	"IDENTITY...: only these (exit 10 for one without a record).",
    .opts = (const cli_opt[]){{"expiring", "DAYS", "only certificates ending within DAYS"},
			      {NULL, NULL, NULL}},
    .min_pos = 0,
    .max_pos = CLI_MAX_POS,
    .run = run,
};
