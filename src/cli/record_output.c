/* How an enrollment record is shown: one table row or one JSON object. */
#include <stdio.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/record.h"

static void add(json_object *o, const char *key, const char *value)
{
	if (value != NULL)
		json_object_object_add(o, key, json_object_new_string(value));
}

json_object *cli_record_json(const p11e_record *r)
{
	json_object *o = json_object_new_object();

	add(o, "identity", r->identity);
	add(o, "step", p11e_step_name(r->step));
	add(o, "name", r->name);
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
	add(o, "updated", r->updated);
	return o;
}

void cli_record_print(const p11e_record *r)
{
	printf("%-32s %-14s %-9s %-20s %s\n", r->identity ? r->identity : "?",
	       r->retired != NULL ? r->retired : p11e_step_name(r->step),
	       r->key_type ? r->key_type : "-", r->not_after ? r->not_after : "-",
	       r->last_error   ? r->last_error
	       : r->chain_note ? r->chain_note
			       : "");
}
