/* p11enroll list: key/certificate pairs on a token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/pem.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"

/* What is shown of one pair: the label, subject and email come from the token
 * and the certificate, whoever wrote them, so each is made safe to print
 * (UTF-8 kept, control characters escaped: cli_safe_text). */
typedef struct pair_view {
	char id[2 * P11E_ID_MAX + 1];
	char not_after[32];
	char *label;
	char *subject;
	char *email;
} pair_view;

static void safe_string(char **s)
{
	char *safe = *s != NULL ? cli_safe_text(*s, strlen(*s)) : NULL;

	free(*s);
	*s = safe;
}

static void describe(const p11e_token_object *o, pair_view *v)
{
	memset(v, 0, sizeof(*v));
	p11e_hex_encode(o->id.v, o->id.len, v->id);
	v->label = cli_safe_text(o->label, strlen(o->label));
	if (o->cert == NULL)
		return;
	v->subject = cli_x509_name(X509_get_subject_name(o->cert));
	p11e_asn1_time_iso(X509_get0_notAfter(o->cert), v->not_after, sizeof(v->not_after));
	v->email = p11e_x509_first_email(o->cert);
	safe_string(&v->email);
}

static void pair_view_clear(pair_view *v)
{
	free(v->label);
	free(v->subject);
	free(v->email);
}

static json_object *pair_json(const p11e_token_object *o, const pair_view *v)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "id", json_object_new_string(v->id));
	json_object_object_add(j, "label", json_object_new_string(v->label ? v->label : ""));
	json_object_object_add(j, "private_key", json_object_new_boolean(o->has_private));
	json_object_object_add(j, "public_key", json_object_new_boolean(o->has_public));
	json_object_object_add(j, "certificate", json_object_new_boolean(o->cert != NULL));
	if (o->cert != NULL) {
		json_object_object_add(j, "subject",
				       json_object_new_string(v->subject ? v->subject : ""));
		json_object_object_add(j, "not_after", json_object_new_string(v->not_after));
		if (v->email != NULL)
			json_object_object_add(j, "email", json_object_new_string(v->email));
	}
	return j;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_session_params sp = {.uri = a->pos[0],
				  .module = ctx->module,
				  .pin_source = ctx->pin_source,
				  .login = !cli_flag(a, "public")};
	p11e_session s;
	p11e_token_object *objs = NULL;
	json_object *list = NULL;
	size_t n = 0;
	p11e_rc rc;

	rc = p11e_session_open(&ctx->config, &sp, &s, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	rc = p11e_token_list(s.token, &objs, &n, &ctx->err);
	if (rc != P11E_OK)
		goto out;
	if (ctx->json)
		list = json_object_new_array();
	else
		printf("%-42s %-4s %-24s %-20s %s\n", "ID", "KEYS", "EMAIL", "NOT AFTER",
		       "LABEL / SUBJECT");
	for (size_t i = 0; i < n; i++) {
		pair_view v;
		describe(&objs[i], &v);
		if (list != NULL)
			json_object_array_add(list, pair_json(&objs[i], &v));
		else
			printf("%-42s %s%s   %-24s %-20s %s %s\n", v.id,
			       objs[i].has_private ? "k" : "-", objs[i].has_public ? "p" : "-",
			       v.email ? v.email : "-", v.not_after[0] ? v.not_after : "-",
			       v.label ? v.label : "", v.subject ? v.subject : "");
		pair_view_clear(&v);
	}
	if (list != NULL)
		cli_print_json(list);
out:
	p11e_token_objects_free(objs, n);
	p11e_session_close(&s);
	return rc;
}

const cli_command cmd_list = {
    .name = "list",
    .usage = "URI [--public] [--json]",
    .summary = "list key/certificate pairs on a token, with subject, email and expiry",
    .help = "Groups private keys, public keys and certificates by CKA_ID. KEYS shows k for a\n"
	    "private key and p for a public key under that ID. --public lists without logging\n"
	    "in (private keys are then not visible).",
    .opts = (const cli_opt[]){{"public", NULL, "do not log in"}, {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
