/* Generations in a record (src/core/record_history.c): a version 1 record
 * reads as generation 1 and is written as version 2; the history survives a
 * save and a load; pushing a generation copies the current one; secret
 * names; malformed histories are refused naming what is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "check.h"
#include "core/state_paths.h"
#include "p11enroll/record.h"
#include "p11enroll/util.h"

static char state[512];
static p11e_store *store; /* a file store on state */

static void parse_ok(const char *text, p11e_record *r)
{
	p11e_err err = {0};
	CHECK_RC(p11e_record_parse("mem", text, strlen(text), r, &err), P11E_OK, &err);
}

static void parse_bad(const char *text, const char *needle)
{
	p11e_record r;
	p11e_err err = {0};
	p11e_rc rc = p11e_record_parse("mem", text, strlen(text), &r, &err);

	CHECK(rc == P11E_FAIL);
	if (rc != P11E_FAIL || strstr(err.msg, needle) == NULL)
		fprintf(stderr, "'%s': got '%s', wanted '%s'\n", text, err.msg, needle);
	CHECK(strstr(err.msg, needle) != NULL);
	CHECK(r.identity == NULL && r.history == NULL && r.n_history == 0);
}

static void version1(void)
{
	p11e_record r;
	parse_ok("{\"version\":1,\"identity\":\"a@example.com\",\"step\":\"done\","
		 "\"key_id\":\"aa\",\"not_after\":\"2027-01-01T00:00:00Z\"}",
		 &r);
	CHECK(p11e_record_generation(&r) == 1 && r.n_history == 0);
	CHECK(strcmp(p11e_record_current_state(&r), "current") == 0);
	CHECK(p11e_record_renewing(&r) == NULL);
	p11e_record_clear(&r);
}

static void push_and_round_trip(void)
{
	p11e_record r = {0}, back;
	p11e_generation *g = NULL;
	p11e_err err = {0};
	char *path, *text = NULL;
	size_t text_len = 0;
	json_object *o, *v;

	CHECK_RC(p11e_record_set(&r.identity, "b@example.com", &err), P11E_OK, &err);
	CHECK_RC(p11e_record_set(&r.key_id, "0102", &err), P11E_OK, &err);
	CHECK_RC(p11e_record_set(&r.key_store, "software", &err), P11E_OK, &err);
	CHECK_RC(p11e_record_set(&r.cert_pem, "PEM1", &err), P11E_OK, &err);
	CHECK_RC(p11e_record_set(&r.not_after, "2027-01-01T00:00:00Z", &err), P11E_OK, &err);
	r.step = P11E_STEP_DONE;
	CHECK_RC(p11e_record_push_generation(&r, &g, &err), P11E_OK, &err);
	CHECK(g != NULL && g->number == 1 && strcmp(g->state, "current") == 0);
	CHECK(g != NULL && strcmp(g->key_id, "0102") == 0 && strcmp(g->cert_pem, "PEM1") == 0);
	/* A software generation names its escrowed password. */
	CHECK(g != NULL && g->secret_name && strcmp(g->secret_name, "b@example.com") == 0);
	r.generation = 2;
	CHECK_RC(p11e_record_set(&r.renew_mode, "rekey", &err), P11E_OK, &err);
	CHECK(p11e_record_renewing(&r) == g);
	CHECK_RC(p11e_record_set(&g->on_token, "kept", &err), P11E_OK, &err);
	CHECK_RC(p11e_record_save(store, &r, &err), P11E_OK, &err);

	path = p11e_state_record_path(state, "b@example.com");
	/* Through the store: the file holds it in one of two slots. */
	CHECK_RC(p11e_store_get(store, "identity", "b@example.com", (unsigned char **)&text, &text_len, &err),
		 P11E_OK, &err);
	o = text ? json_tokener_parse(text) : NULL;
	CHECK(o && json_object_object_get_ex(o, "version", &v) && json_object_get_int(v) == 2);
	CHECK(o && json_object_object_get_ex(o, "generation", &v) && json_object_get_int(v) == 2);
	CHECK(o && json_object_object_get_ex(o, "history", &v) && json_object_array_length(v) == 1);
	json_object_put(o);
	free(text);
	free(path);

	CHECK_RC(p11e_record_load(store, "b@example.com", &back, &err), P11E_OK, &err);
	CHECK(back.generation == 2 && back.n_history == 1);
	CHECK(back.n_history == 1 && back.history[0].number == 1 &&
	      strcmp(back.history[0].on_token, "kept") == 0 &&
	      strcmp(back.history[0].cert_pem, "PEM1") == 0);
	CHECK(p11e_record_history_find(&back, 1) == &back.history[0]);
	CHECK(p11e_record_history_find(&back, 2) == NULL);
	CHECK(p11e_record_renewing(&back) != NULL);
	p11e_record_clear(&back);
	CHECK(back.history == NULL && back.n_history == 0 && back.generation == 0);
	p11e_record_clear(&r);
}

static void secret_names(void)
{
	char *a = p11e_record_secret_name("c@example.com", 1);
	char *b = p11e_record_secret_name("c@example.com", 12);

	CHECK(a && strcmp(a, "c@example.com") == 0);
	CHECK(b && strcmp(b, "c@example.com#12") == 0);
	free(a);
	free(b);
}

static void malformed(void)
{
#define HEAD "{\"version\":2,\"identity\":\"d@example.com\",\"step\":\"done\","
	parse_bad(HEAD "\"generation\":0}", "'generation' is not a positive integer");
	parse_bad(HEAD "\"generation\":\"2\"}", "'generation' is not a positive integer");
	parse_bad(HEAD "\"generation\":2,\"history\":{}}", "'history' is not an array");
	parse_bad(HEAD "\"generation\":2,\"history\":[5]}", "history[0] is not an object");
	parse_bad(HEAD "\"generation\":2,\"history\":[{\"state\":\"superseded\"}]}",
		  "history[0].number");
	parse_bad(HEAD "\"generation\":2,\"history\":[{\"number\":1,\"state\":\"gone\"}]}",
		  "history[0].state");
	parse_bad(HEAD "\"generation\":2,\"history\":[{\"number\":1}]}", "history[0].state");
	parse_bad(HEAD "\"generation\":2,\"history\":[{\"number\":1,\"state\":\"superseded\","
		       "\"key_id\":7}]}",
		  "history[0].key_id is not a string");
	/* Numbers in order and below the current generation. */
	parse_bad(HEAD "\"generation\":2,\"history\":[{\"number\":2,\"state\":\"superseded\"}]}",
		  "out of order");
	parse_bad(HEAD "\"generation\":3,\"history\":[{\"number\":2,\"state\":\"superseded\"},"
		       "{\"number\":1,\"state\":\"superseded\"}]}",
		  "out of order");
	parse_bad(HEAD "\"history\":[{\"number\":1,\"state\":\"superseded\"}]}", "out of order");
	parse_bad("{\"version\":3,\"identity\":\"d@example.com\",\"step\":\"done\"}", "version 3");
#undef HEAD
}

int main(void)
{
	const char *tmp = getenv("TEST_TMP");

	if (tmp == NULL) {
		fprintf(stderr, "TEST_TMP is not set: run under tests/with-softhsm.sh\n");
		return 1;
	}
	snprintf(state, sizeof(state), "%s/history-state", tmp);
	if (p11e_store_open_dir(state, &store, NULL) != P11E_OK)
		return 1;
	version1();
	push_and_round_trip();
	secret_names();
	malformed();
	return check_done();
}
