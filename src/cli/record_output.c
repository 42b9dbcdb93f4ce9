/* How an enrollment record is shown: one table row or one JSON object. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/record.h"

static void add(json_object *o, const char *key, const char *value)
{
	if (value != NULL)
		json_object_object_add(o, key, json_object_new_string(value));
}

/* One generation, current or earlier, without its PEMs (status shows
 * them; `export --generation` writes them). */
static json_object *generation_json(int number, const char *state, const p11e_generation *g,
				    const p11e_record *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "generation", json_object_new_int(number));
	add(o, "state", state);
	add(o, "key_store", g ? g->key_store : r->key_store);
	add(o, "key_id", g ? g->key_id : r->key_id);
	add(o, "token_serial", g ? g->token_serial : r->token_serial);
	add(o, "label", g ? g->label : r->label);
	add(o, "ca", g ? g->ca : r->ca);
	add(o, "request_id", g ? g->request_id : r->request_id);
	add(o, "cert_sha256", g ? g->cert_sha256 : r->cert_sha256);
	add(o, "not_after", g ? g->not_after : r->not_after);
	add(o, "pfx_path", g ? g->pfx_path : r->pfx_path);
	add(o, "revoked_reason", g ? g->revoked_reason : r->revoked_reason);
	add(o, "revoked_at", g ? g->revoked_at : r->revoked_at);
	if (g != NULL) {
		add(o, "on_token", g->on_token);
		add(o, "secret_name", g->secret_name);
		add(o, "unpublish_pending", g->unpublish_pending);
	} else {
		add(o, "step", p11e_step_name(r->step));
	}
	return o;
}

json_object *cli_record_json(const p11e_record *r)
{
	json_object *o = json_object_new_object();
	json_object *gens = json_object_new_array();

	add(o, "identity", r->identity);
	add(o, "step", p11e_step_name(r->step));
	add(o, "name", r->name);
	add(o, "upn", r->upn);
	add(o, "principal", r->principal);
	add(o, "sid", r->sid);
	add(o, "profile", r->profile);
	add(o, "key_type", r->key_type);
	add(o, "ca", r->ca);
	add(o, "token_serial", r->token_serial);
	add(o, "label", r->label);
	add(o, "key_store", r->key_store);
	add(o, "pfx_path", r->pfx_path);
	add(o, "pfx_format", r->pfx_format);
	add(o, "key_id", r->key_id);
	add(o, "key_id_note", r->key_id_note);
	add(o, "slot_id", r->slot_id);
	add(o, "chain_note", r->chain_note);
	add(o, "request_id", r->request_id);
	add(o, "cert_sha256", r->cert_sha256);
	add(o, "not_after", r->not_after);
	add(o, "last_error", r->last_error);
	add(o, "retired", r->retired);
	add(o, "publish_pending", r->publish_pending);
	add(o, "published", r->published);
	add(o, "updated", r->updated);
	json_object_object_add(o, "generation", json_object_new_int(p11e_record_generation(r)));
	add(o, "state", p11e_record_current_state(r));
	add(o, "renewing", r->renew_mode);
	add(o, "revoked_reason", r->revoked_reason);
	for (size_t i = 0; i < r->n_history; i++)
		json_object_array_add(
		    gens,
		    generation_json(r->history[i].number, r->history[i].state, &r->history[i], r));
	json_object_array_add(
	    gens,
	    generation_json(p11e_record_generation(r),
			    r->renew_mode ? "renewing" : p11e_record_current_state(r), NULL, r));
	json_object_object_add(o, "generations", gens);
	return o;
}

void cli_record_print(const p11e_record *r)
{
	char gen[48] = "";

	/* Which generation this is, and what is not plain "in use". */
	if (p11e_record_generation(r) > 1 || r->renew_mode || r->revoked_reason ||
	    r->publish_pending)
		snprintf(gen, sizeof(gen), "[gen %d%s%s%s] ", p11e_record_generation(r),
			 r->renew_mode ? ", renewing" : "", r->revoked_reason ? ", revoked" : "",
			 r->publish_pending && r->publish_pending[0] ? ", publish pending" : "");
	/* Where the key is: the token's serial (what wipe and renew's "insert
	 * card serial X" name), or "software" for a PFX. */
	const char *token = r->key_store != NULL && strcmp(r->key_store, "software") == 0
				? "software"
			    : r->token_serial != NULL ? r->token_serial
						      : "-";

	printf("%-32s %-14s %-9s %-16s %-14s %-20s %s%s\n", r->identity ? r->identity : "?",
	       r->retired != NULL ? r->retired : p11e_step_name(r->step),
	       r->key_type ? r->key_type : "-", token, r->profile ? r->profile : "-",
	       r->not_after ? r->not_after : "-", gen,
	       r->last_error   ? r->last_error
	       : r->chain_note ? r->chain_note
			       : "");
}

p11e_rc cli_generation(const cli_args *a, int *n, p11e_err *err)
{
	const char *v = cli_value(a, "generation");
	char *end = NULL;
	long g;

	*n = 0;
	if (v == NULL)
		return P11E_OK;
	errno = 0;
	g = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || g < 1 || g > 1000000)
		return p11e_errf(err, P11E_USAGE,
				 "generation: '%.20s' is not a generation number (1, 2, ...)", v);
	*n = (int)g;
	return P11E_OK;
}
