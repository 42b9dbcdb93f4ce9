/* Generations in a record: the current one is the record's own fields; the
 * earlier ones are the "history" array, each entry an object of strings and
 * its "number". A record written before renewal existed has neither and
 * reads as generation 1 with no history. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/record_history.h"
#include "p11enroll/util.h"

#define HISTORY_MAX 1000 /* generations kept in one record */

typedef struct gen_field {
	const char *key;
	size_t offset;
} gen_field;
#define G(name)                                                                                    \
	{                                                                                          \
#name, offsetof(p11e_generation, name)                                             \
	}
static const gen_field gen_fields[] = {
    G(state),	     G(key_store), G(key_id),
    G(token_serial), G(label),	   G(ca),
    G(request_id),   G(cert_pem),  G(chain_pem),
    G(cert_sha256),  G(not_after), G(pfx_path),
    G(secret_name),  G(on_token),  G(revoked_reason),
    G(revoked_at),   G(published), G(unpublish_pending),
};
#undef G
#define NGEN (sizeof(gen_fields) / sizeof(gen_fields[0]))

static char **gen_slot(p11e_generation *g, size_t i)
{
	return (char **)((char *)g + gen_fields[i].offset);
}

static const char *const states[] = {"current", "superseded", "revoked", "retired"};

static int state_known(const char *s)
{
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(s, states[i]) == 0)
			return 1;
	return 0;
}

static void gen_clear(p11e_generation *g)
{
	for (size_t i = 0; i < NGEN; i++) {
		free(*gen_slot(g, i));
		*gen_slot(g, i) = NULL;
	}
}

void record_history_clear(p11e_record *r)
{
	for (size_t i = 0; i < r->n_history; i++)
		gen_clear(&r->history[i]);
	free(r->history);
	r->history = NULL;
	r->n_history = 0;
	r->generation = 0;
}

int p11e_record_generation(const p11e_record *r)
{
	return r->generation > 0 ? r->generation : 1;
}

p11e_generation *p11e_record_history_find(p11e_record *r, int n)
{
	for (size_t i = 0; i < r->n_history; i++)
		if (r->history[i].number == n)
			return &r->history[i];
	return NULL;
}

p11e_generation *p11e_record_renewing(p11e_record *r)
{
	/* The last entry, "current" (or "revoked": replace revokes first). */
	if (r->n_history == 0 || r->renew_mode == NULL)
		return NULL;
	p11e_generation *g = &r->history[r->n_history - 1];
	return g->state != NULL &&
		       (strcmp(g->state, "current") == 0 || strcmp(g->state, "revoked") == 0)
		   ? g
		   : NULL;
}

const char *p11e_record_current_state(const p11e_record *r)
{
	if (r->retired != NULL)
		return "retired";
	return r->revoked_reason != NULL ? "revoked" : "current";
}

char *p11e_record_secret_name(const char *identity, int n)
{
	size_t len = strlen(identity) + 16;
	char *out = malloc(len);

	if (out == NULL)
		return NULL;
	if (n <= 1)
		snprintf(out, len, "%s", identity);
	else
		snprintf(out, len, "%s#%d", identity, n);
	return out;
}

p11e_rc p11e_record_push_generation(p11e_record *r, p11e_generation **out, p11e_err *err)
{
	p11e_generation *grown, *g;
	char *secret = NULL;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (r->n_history >= HISTORY_MAX)
		return p11e_errf(err, P11E_FAIL,
				 "identity %s has %d generations, the most one record keeps; "
				 "forget it and enroll afresh",
				 r->identity, HISTORY_MAX);
	grown = realloc(r->history, (r->n_history + 1) * sizeof(*grown));
	if (grown == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	r->history = grown;
	g = &grown[r->n_history];
	memset(g, 0, sizeof(*g));
	g->number = p11e_record_generation(r);
	if (r->key_store != NULL && strcmp(r->key_store, "token") != 0)
		secret = p11e_record_secret_name(r->identity, g->number);
	const struct {
		char **to;
		const char *from;
	} copy[] = {
	    {&g->state, r->revoked_reason != NULL ? "revoked" : "current"},
	    {&g->key_store, r->key_store},
	    {&g->key_id, r->key_id},
	    {&g->token_serial, r->token_serial},
	    {&g->label, r->label},
	    {&g->ca, r->ca},
	    {&g->request_id, r->request_id},
	    {&g->cert_pem, r->cert_pem},
	    {&g->chain_pem, r->chain_pem},
	    {&g->cert_sha256, r->cert_sha256},
	    {&g->not_after, r->not_after},
	    {&g->pfx_path, r->pfx_path},
	    {&g->secret_name, secret},
	    {&g->revoked_reason, r->revoked_reason},
	    {&g->revoked_at, r->revoked_at},
	    {&g->published, r->published},
	    {&g->on_token, r->token_removed != NULL ? "removed" : NULL},
	};
	for (size_t i = 0; rc == P11E_OK && i < sizeof(copy) / sizeof(copy[0]); i++)
		rc = p11e_record_set(copy[i].to, copy[i].from, err);
	free(secret);
	if (rc != P11E_OK) {
		gen_clear(g);
		return rc;
	}
	r->n_history++;
	*out = g;
	return P11E_OK;
}

p11e_rc p11e_record_select_generation(p11e_record *r, int n, p11e_err *err)
{
	p11e_generation *g;

	if (n == p11e_record_generation(r))
		return P11E_OK;
	if ((g = p11e_record_history_find(r, n)) == NULL)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "generation: %s has no generation %d (it is at generation %d; "
				 "see p11enroll status %s --json)",
				 r->identity, n, p11e_record_generation(r), r->identity);
	const struct {
		char **to;
		char *from;
	} view[] = {
	    {&r->cert_pem, g->cert_pem},
	    {&r->chain_pem, g->chain_pem},
	    {&r->cert_sha256, g->cert_sha256},
	    {&r->not_after, g->not_after},
	    {&r->key_id, g->key_id},
	    {&r->key_store, g->key_store},
	    {&r->token_serial, g->token_serial},
	    {&r->label, g->label},
	    {&r->pfx_path, g->pfx_path},
	};
	for (size_t i = 0; i < sizeof(view) / sizeof(view[0]); i++)
		if (p11e_record_set(view[i].to, view[i].from, err) != P11E_OK)
			return P11E_FAIL;
	r->generation = n;
	return P11E_OK;
}

#define CORRUPT "record %s is corrupt: "
#define MOVE_ASIDE "; move it aside to start over"

static p11e_rc parse_entry(const char *name, json_object *e, size_t i, p11e_generation *g,
			   p11e_err *err)
{
	json_object *v;
	p11e_rc rc = P11E_OK;

	if (!json_object_is_type(e, json_type_object))
		return p11e_errf(err, P11E_FAIL, CORRUPT "history[%zu] is not an object" MOVE_ASIDE,
				 name, i);
	if (!json_object_object_get_ex(e, "number", &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1 || json_object_get_int64(v) > INT_MAX)
		return p11e_errf(err, P11E_FAIL,
				 CORRUPT "history[%zu].number is not a positive integer" MOVE_ASIDE,
				 name, i);
	g->number = (int)json_object_get_int64(v);
	for (size_t f = 0; rc == P11E_OK && f < NGEN; f++) {
		if (!json_object_object_get_ex(e, gen_fields[f].key, &v) ||
		    json_object_is_type(v, json_type_null))
			continue;
		if (!json_object_is_type(v, json_type_string))
			return p11e_errf(err, P11E_FAIL,
					 CORRUPT "history[%zu].%s is not a string" MOVE_ASIDE, name,
					 i, gen_fields[f].key);
		rc = p11e_record_set(gen_slot(g, f), json_object_get_string(v), err);
	}
	if (rc == P11E_OK && (g->state == NULL || !state_known(g->state)))
		rc = p11e_errf(err, P11E_FAIL,
			       CORRUPT "history[%zu].state is not current, superseded, revoked or "
				       "retired" MOVE_ASIDE,
			       name, i);
	return rc;
}

p11e_rc record_history_parse(const char *name, json_object *o, p11e_record *r, p11e_err *err)
{
	json_object *v;
	size_t n;
	p11e_rc rc = P11E_OK;

	if (json_object_object_get_ex(o, "generation", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
		    json_object_get_int64(v) > INT_MAX)
			return p11e_errf(
			    err, P11E_FAIL,
			    CORRUPT "'generation' is not a positive integer" MOVE_ASIDE, name);
		r->generation = (int)json_object_get_int64(v);
	}
	if (!json_object_object_get_ex(o, "history", &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) > HISTORY_MAX)
		return p11e_errf(err, P11E_FAIL,
				 CORRUPT
				 "'history' is not an array of at most %d generations" MOVE_ASIDE,
				 name, HISTORY_MAX);
	if (n == 0)
		return P11E_OK;
	if ((r->history = calloc(n, sizeof(*r->history))) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	for (size_t i = 0; rc == P11E_OK && i < n; i++) {
		rc = parse_entry(name, json_object_array_get_idx(v, i), i, &r->history[i], err);
		r->n_history = i + 1;
		/* Numbered in order, each below the current one. */
		if (rc == P11E_OK && ((i > 0 && r->history[i].number <= r->history[i - 1].number) ||
				      r->history[i].number >= p11e_record_generation(r)))
			rc = p11e_errf(err, P11E_FAIL,
				       CORRUPT "history[%zu].number %d is out of order" MOVE_ASIDE,
				       name, i, r->history[i].number);
	}
	return rc;
}

p11e_rc record_history_save(json_object *o, const p11e_record *r, p11e_err *err)
{
	json_object *arr;

	if (r->generation > 1)
		json_object_object_add(o, "generation", json_object_new_int(r->generation));
	if (r->n_history == 0)
		return P11E_OK;
	if ((arr = json_object_new_array()) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	json_object_object_add(o, "history", arr);
	for (size_t i = 0; i < r->n_history; i++) {
		json_object *e = json_object_new_object();
		p11e_generation *g = &r->history[i];
		if (e == NULL || json_object_array_add(arr, e) != 0) {
			json_object_put(e);
			return p11e_errf(err, P11E_FAIL, "out of memory");
		}
		json_object_object_add(e, "number", json_object_new_int(g->number));
		for (size_t f = 0; f < NGEN; f++)
			if (*gen_slot(g, f) != NULL)
				json_object_object_add(e, gen_fields[f].key,
						       json_object_new_string(*gen_slot(g, f)));
	}
	return P11E_OK;
}
