/* The card registry's state table and config rules (src/core/card_state.c),
 * and the embedded CA's index with holds (certificateHold lines, their
 * "unhold" lines, a hold giving way to a final revocation). */
#include <string.h>
#include <json-c/json.h>
#include "check.h"
#include "ca/ca_local.h"
#include "p11enroll/ca.h"
#include "p11enroll/card.h"

static p11e_config config_with(const char *cards_json)
{
	p11e_config c;
	memset(&c, 0, sizeof(c));
	if (cards_json != NULL)
		c.root = json_tokener_parse(cards_json);
	return c;
}

static void table(void)
{
	p11e_config none = config_with(NULL);
	p11e_err err = {0};
	int to = -1;

	CHECK_RC(p11e_card_move_check(&none, "S1", "suspend", P11E_CARD_ISSUED, &to, &err), P11E_OK,
		 &err);
	CHECK(to == P11E_CARD_SUSPENDED);
	CHECK_RC(p11e_card_move_check(&none, "S1", "resume", P11E_CARD_SUSPENDED, &to, &err),
		 P11E_OK, &err);
	CHECK(to == P11E_CARD_ISSUED);
	CHECK_RC(p11e_card_move_check(&none, "S1", "lost", P11E_CARD_SUSPENDED, &to, &err), P11E_OK,
		 &err);
	CHECK_RC(p11e_card_move_check(&none, "S1", "restock", P11E_CARD_TERMINATED, &to, &err),
		 P11E_OK, &err);
	CHECK(to == P11E_CARD_IN_STOCK);
	/* Refused: one line naming both states. */
	CHECK_RC(p11e_card_move_check(&none, "S1", "suspend", P11E_CARD_IN_STOCK, &to, &err),
		 P11E_USAGE, &err);
	CHECK(strstr(err.msg, "in-stock -> suspended") != NULL);
	CHECK(strchr(err.msg, '\n') == NULL);
	CHECK_RC(p11e_card_move_check(&none, "S1", "found", P11E_CARD_ISSUED, &to, &err),
		 P11E_USAGE, &err);
	CHECK_RC(p11e_card_move_check(&none, "S1", "terminate", P11E_CARD_IN_STOCK, &to, &err),
		 P11E_USAGE, &err);
	CHECK_RC(p11e_card_move_check(&none, "S1", "fly", P11E_CARD_ISSUED, &to, &err), P11E_USAGE,
		 &err);
	CHECK_RC(p11e_card_move_check(&none, "S1", "suspend", 17, &to, &err), P11E_FAIL, &err);
	for (int s = 0; s < P11E_CARD_STATES; s++)
		CHECK(p11e_card_state_parse(p11e_card_state_name(s)) == s);
	CHECK(p11e_card_state_parse("Issued") == -1);
	CHECK(p11e_card_state_name(P11E_CARD_STATES) == NULL);
}

static void config_rules(void)
{
	p11e_config narrow =
	    config_with("{\"cards\":{\"allowed_transitions\":[\"issued:suspended\"]}}");
	json_object *cards;
	p11e_err err = {0};
	int to;

	CHECK_RC(p11e_card_move_check(&narrow, "S1", "suspend", P11E_CARD_ISSUED, &to, &err),
		 P11E_OK, &err);
	CHECK_RC(p11e_card_move_check(&narrow, "S1", "resume", P11E_CARD_SUSPENDED, &to, &err),
		 P11E_USAGE, &err);
	CHECK(strstr(err.msg, "allowed_transitions") != NULL);
	json_object_object_get_ex(narrow.root, "cards", &cards);
	CHECK_RC(p11e_card_config_check("c.json", cards, &err), P11E_OK, &err);
	json_object_put(narrow.root);

	static const char *const bad[] = {
	    "{\"allowed_transitions\":[\"issued\"]}",
	    "{\"allowed_transitions\":[\"issued:nowhere\"]}",
	    "{\"allowed_transitions\":[\":issued\"]}",
	    "{\"allowed_transitions\":[\"averyveryveryveryveryverylongstatename:issued\"]}",
	    "{\"allowed_transitions\":[7]}",
	    "{\"allowed_transitions\":\"issued:lost\"}",
	    "{\"other\":1}",
	    "[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object *o = json_tokener_parse(bad[i]);
		CHECK_RC(p11e_card_config_check("c.json", o, &err), P11E_CONFIG, &err);
		json_object_put(o);
	}
}

static void serials(void)
{
	p11e_err err = {0};
	CHECK_RC(p11e_card_serial_check("s", "435c0a44e104c888", &err), P11E_OK, &err);
	CHECK_RC(p11e_card_serial_check("s", "A-1.2:3_4", &err), P11E_OK, &err);
	CHECK_RC(p11e_card_serial_check("s", "", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_card_serial_check("s", "../x", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_card_serial_check("s", "a b", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_card_serial_check("s", "0123456789abcdef0123456789abcdef0", &err), P11E_USAGE,
		 &err);
	CHECK_RC(p11e_card_serial_check("s", NULL, &err), P11E_USAGE, &err);
}

static int reason_of(const p11e_ca_local_index *ix, const char *serial)
{
	for (size_t i = 0; i < ix->n_revoked; i++)
		if (strcmp(ix->revoked[i].serial, serial) == 0)
			return ix->revoked[i].reason;
	return -1;
}

static void index_holds(void)
{
	p11e_ca_local_index ix;
	p11e_err err = {0};
	const char *held = "{\"serial\":\"0a\"}\n"
			   "{\"revoked\":\"0a\",\"reason\":\"certificateHold\",\"revoked_at\":"
			   "\"2026-12-07T10:00:00Z\"}\n";
	char text[1024];

	CHECK_RC(p11e_ca_local_index_parse(held, strlen(held), &ix, &err), P11E_OK, &err);
	CHECK(reason_of(&ix, "0a") == P11E_REASON_CERTIFICATE_HOLD);
	p11e_ca_local_index_clear(&ix);
	/* Lifted: gone from the list. */
	snprintf(text, sizeof(text), "%s{\"unhold\":\"0a\",\"at\":\"2026-12-07T11:00:00Z\"}\n",
		 held);
	CHECK_RC(p11e_ca_local_index_parse(text, strlen(text), &ix, &err), P11E_OK, &err);
	CHECK(ix.n_revoked == 0);
	p11e_ca_local_index_clear(&ix);
	/* Held, then revoked for good: one entry, the final reason; an unhold
	 * after it changes nothing. */
	snprintf(text, sizeof(text),
		 "%s{\"revoked\":\"0a\",\"reason\":\"keyCompromise\",\"revoked_at\":"
		 "\"2026-12-07T12:00:00Z\"}\n{\"unhold\":\"0a\",\"at\":\"2026-12-07T13:00:00Z\"}\n",
		 held);
	CHECK_RC(p11e_ca_local_index_parse(text, strlen(text), &ix, &err), P11E_OK, &err);
	CHECK(ix.n_revoked == 1);
	CHECK(reason_of(&ix, "0a") == P11E_REASON_KEY_COMPROMISE);
	p11e_ca_local_index_clear(&ix);
	/* A final revocation is never replaced by a later hold. */
	snprintf(
	    text, sizeof(text),
	    "{\"serial\":\"0b\"}\n{\"revoked\":\"0b\",\"reason\":\"superseded\",\"revoked_at\":"
	    "\"2026-12-07T10:00:00Z\"}\n{\"revoked\":\"0b\",\"reason\":\"certificateHold\","
	    "\"revoked_at\":\"2026-12-07T11:00:00Z\"}\n");
	CHECK_RC(p11e_ca_local_index_parse(text, strlen(text), &ix, &err), P11E_OK, &err);
	CHECK(ix.n_revoked == 1 && reason_of(&ix, "0b") == P11E_REASON_SUPERSEDED);
	p11e_ca_local_index_clear(&ix);
	/* An unhold line with a bad serial is not a line of the index. */
	snprintf(text, sizeof(text), "%s{\"unhold\":\"zz\"}\n{\"serial\":\"0c\"}\n", held);
	CHECK_RC(p11e_ca_local_index_parse(text, strlen(text), &ix, &err), P11E_FAIL, &err);
}

int main(void)
{
	table();
	config_rules();
	serials();
	index_holds();
	return check_done();
}
