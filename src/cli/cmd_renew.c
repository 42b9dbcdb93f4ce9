/* p11enroll renew: a new generation for identities whose certificate is
 * due (include/p11enroll/renew.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/renew.h"

static p11e_rc parse_within(const cli_args *a, int *days, p11e_err *err)
{
	const char *v = cli_value(a, "within");
	char *end = NULL;
	long n;

	*days = -1;
	if (v == NULL)
		return P11E_OK;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0 || n > 3650)
		return p11e_errf(err, P11E_USAGE,
				 "within: '%.40s' is not a number of days from 0 "
				 "to 3650",
				 v);
	*days = (int)n;
	return P11E_OK;
}

static void report(cli_ctx *ctx, json_object *list, const char *identity,
		   const p11e_renew_result *res, p11e_rc rc)
{
	if (list != NULL) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "identity", json_object_new_string(identity));
		json_object_object_add(
		    o, "outcome", json_object_new_string(p11e_renew_outcome_name(res->outcome)));
		json_object_object_add(o, "generation", json_object_new_int(res->generation));
		if (res->not_after[0] != '\0')
			json_object_object_add(o, "not_after",
					       json_object_new_string(res->not_after));
		if (res->due_from[0] != '\0')
			json_object_object_add(o, "due_from",
					       json_object_new_string(res->due_from));
		if (res->window[0] != '\0')
			json_object_object_add(o, "window", json_object_new_string(res->window));
		if (res->reason[0] != '\0')
			json_object_object_add(o, "reason", json_object_new_string(res->reason));
		if (rc != P11E_OK)
			json_object_object_add(o, "code", json_object_new_int((int)rc));
		json_object_array_add(list, o);
		return;
	}
	(void)ctx;
	switch (res->outcome) {
	case P11E_RENEW_NOT_DUE:
		printf("%s: not due (generation %d valid until %s; due from %s)\n", identity,
		       res->generation, res->not_after, res->due_from);
		break;
	case P11E_RENEW_DUE:
		printf("%s: due since %s (%s window): would renew generation %d\n", identity,
		       res->due_from, res->window, res->generation);
		break;
	case P11E_RENEW_RENEWED:
		printf("%s: renewed: generation %d, valid until %s\n", identity, res->generation,
		       res->not_after);
		if (rc != P11E_OK)
			fprintf(stderr, "p11enroll renew: %s\n", res->reason);
		break;
	case P11E_RENEW_ABSENT:
	case P11E_RENEW_SKIPPED:
		printf("%s: skipped: %s\n", identity, res->reason);
		break;
	case P11E_RENEW_PENDING:
	case P11E_RENEW_FAILED:
		break; /* the error line says it */
	}
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_renew_params p = {
	    .force = cli_flag(a, "force"),
	    .reuse_key = cli_flag(a, "reuse-key"),
	    .dry_run = cli_flag(a, "dry-run"),
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	    .officer_key = cli_value(a, "officer-key"),
	    .officer_pin_source = cli_value(a, "officer-pin-source"),
	};
	int all = cli_flag(a, "all");
	p11e_record *recs = NULL;
	size_t n = 0;
	json_object *list = NULL;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err), first = P11E_OK;

	if (rc == P11E_OK)
		rc = parse_within(a, &p.within_days, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (all == (a->npos > 0))
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "renew: give identities or --all (one of the two)");
	if (all && p.force)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "force: renews named identities only, not --all");
	if (all && (rc = p11e_record_list(ctx->config.store, &recs, &n, &ctx->err)) != P11E_OK)
		return rc;
	list = ctx->json ? json_object_new_array() : NULL;
	for (size_t i = 0; i < (all ? n : (size_t)a->npos); i++) {
		const char *identity = all ? recs[i].identity : a->pos[i];
		p11e_renew_result res;
		p11e_err err = {0};
		p.identity = identity;
		rc = p11e_renew(&ctx->config, &p, &res, &err);
		report(ctx, list, identity, &res, rc);
		/* Each identity is tried; the first failure is the exit code. */
		if (rc != P11E_OK && first == P11E_OK) {
			first = rc;
			ctx->err = err;
		} else if (rc != P11E_OK && list == NULL && res.outcome != P11E_RENEW_RENEWED) {
			cli_report_error("renew", 0, rc, err.msg);
		}
	}
	if (list != NULL)
		cli_print_json(list);
	p11e_records_free(recs, n);
	return first;
}

const cli_command cmd_renew = {
    .name = "renew",
    .usage = "[IDENTITY...] [--all] [--within DAYS] [--force] [--reuse-key] [--dry-run]",
    .summary = "renew identities whose certificate expires soon: a new generation",
    .help = "Renews each identity whose certificate is due: within renew_within_days of its\n"
	    "notAfter (config or profile; default 30; --within overrides; an ACME CA's\n"
	    "renewalInfo window where it offers one), or revoked. --force renews named\n"
	    "identities now. The new generation gets a new key on the same token (or a\n"
	    "new software key, PFX and escrowed password); --reuse-key (or the profile's\n"
	    "renew_reuse_key) sends a new CSR for the same token key. Every step resumes\n"
	    "after a crash; a renewal cut short is finished by the next renew or enroll.\n"
	    "Once stored, an old signing key and its certificate are removed from the\n"
	    "token; an old encryption key and its certificate stay, relabelled\n"
	    "\"LABEL (YYYY-MM)\", so old mail still decrypts. A token that is not inserted\n"
	    "is skipped (\"insert card serial X\"), not failed. post_renew_command runs\n"
	    "after each renewal. Exit 0 when nothing was due; else the first failure's\n"
	    "code (7: the CA has not issued yet, or publishing is pending).",
    .opts =
	(const cli_opt[]){
	    {"all", NULL, "every identity in the state dir"},
	    {"within", "DAYS", "due when notAfter is at most DAYS away (overrides the config)"},
	    {"force", NULL, "renew the named identities now, due or not"},
	    {"reuse-key", NULL, "a new certificate for the same token key"},
	    {"dry-run", NULL, "say what is due; change nothing"},
	    {"officer-key", "KEY", "file vault: an escrow officer's key to resume a software key"},
	    {"officer-pin-source", "SRC", "its PIN or passphrase source"},
	    {"wait", "SECONDS", "wait this long for a run of the identity (default 5; 0: not)"},
	    {NULL, NULL, NULL}},
    .min_pos = 0,
    .max_pos = CLI_MAX_POS,
    .run = run,
};
