/* What `card show` adds to a card's document: the identities and the
 * generations whose keys went onto it (records name the token's serial). */
#include <string.h>
#include <json-c/json.h>
#include "core/card_int.h"
#include "p11enroll/record.h"

static void add_gen(json_object *arr, const char *identity, int number, const char *state,
		    const char *not_after)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "identity", json_object_new_string(identity));
	json_object_object_add(o, "generation", json_object_new_int(number));
	json_object_object_add(o, "state", json_object_new_string(state ? state : ""));
	json_object_object_add(o, "not_after", json_object_new_string(not_after ? not_after : ""));
	json_object_array_add(arr, o);
}

p11e_rc p11e_card_generations(const p11e_config *cfg, const char *serial, json_object **out,
			      p11e_err *err)
{
	p11e_record *rs = NULL;
	size_t n = 0;
	p11e_rc rc = p11e_record_list(cfg->store, &rs, &n, err);

	*out = NULL;
	if (rc != P11E_OK)
		return rc;
	*out = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		p11e_record *r = &rs[i];
		for (size_t k = 0; k < r->n_history; k++)
			if (r->history[k].token_serial != NULL &&
			    strcmp(r->history[k].token_serial, serial) == 0)
				add_gen(*out, r->identity, r->history[k].number,
					r->history[k].state, r->history[k].not_after);
		if (r->token_serial != NULL && strcmp(r->token_serial, serial) == 0)
			add_gen(*out, r->identity, p11e_record_generation(r),
				p11e_record_current_state(r), r->not_after);
	}
	p11e_records_free(rs, n);
	return P11E_OK;
}
