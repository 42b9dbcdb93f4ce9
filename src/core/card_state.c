/* The card's states and the moves between them, as data (include/p11enroll/
 * card.h, docs/cards.md). A move is a verb of `p11enroll card`; the table
 * says from which states it may start and where it ends. The config may
 * narrow it, as Dogtag's TPS does with its list of allowed transitions:
 * "cards": {"allowed_transitions": ["FROM:TO", ...]} names every pair that
 * is allowed; a pair the table has but the list lacks is refused. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "core/card_int.h"
#include "p11enroll/card.h"

static const char *const state_names[P11E_CARD_STATES] = {"in-stock", "issued",	 "suspended",
							  "lost",     "damaged", "terminated"};

#define S(x) (1u << (x))

static const struct card_move {
	const char *name;
	unsigned from; /* a mask of states */
	int to;
} moves[] = {
    /* An enrollment onto a card in stock issues it (the pipeline). */
    {"issue", S(P11E_CARD_IN_STOCK), P11E_CARD_ISSUED},
    {"suspend", S(P11E_CARD_ISSUED), P11E_CARD_SUSPENDED},
    {"resume", S(P11E_CARD_SUSPENDED), P11E_CARD_ISSUED},
    {"lost", S(P11E_CARD_ISSUED) | S(P11E_CARD_SUSPENDED), P11E_CARD_LOST},
    {"found", S(P11E_CARD_LOST), P11E_CARD_ISSUED},
    {"damaged",
     S(P11E_CARD_IN_STOCK) | S(P11E_CARD_ISSUED) | S(P11E_CARD_SUSPENDED) | S(P11E_CARD_LOST),
     P11E_CARD_DAMAGED},
    {"terminate",
     S(P11E_CARD_ISSUED) | S(P11E_CARD_SUSPENDED) | S(P11E_CARD_LOST) | S(P11E_CARD_DAMAGED),
     P11E_CARD_TERMINATED},
    /* A terminated card, wiped, back in stock (terminate's second half). */
    {"restock", S(P11E_CARD_TERMINATED), P11E_CARD_IN_STOCK},
};

const char *p11e_card_state_name(int state)
{
	return state >= 0 && state < P11E_CARD_STATES ? state_names[state] : NULL;
}

int p11e_card_state_parse(const char *text)
{
	for (int i = 0; text != NULL && i < P11E_CARD_STATES; i++)
		if (strcmp(state_names[i], text) == 0)
			return i;
	return -1;
}

p11e_rc p11e_card_serial_check(const char *field, const char *serial, p11e_err *err)
{
	size_t n = serial != NULL ? strlen(serial) : 0;

	if (n == 0 || n > 32)
		return p11e_errf(err, P11E_USAGE, "%s: a card serial is 1 to 32 characters", field);
	for (size_t i = 0; i < n; i++) {
		char c = serial[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(".:_-", c) != NULL))
			return p11e_errf(err, P11E_USAGE,
					 "%s: a card serial holds letters, digits and \".:_-\" "
					 "only",
					 field);
	}
	return P11E_OK;
}

/* "FROM:TO" into two states; 0 when either is not one. */
static int parse_pair(const char *text, int *from, int *to)
{
	const char *colon = text != NULL ? strchr(text, ':') : NULL;
	char first[32];

	if (colon == NULL || (size_t)(colon - text) >= sizeof(first))
		return 0;
	memcpy(first, text, (size_t)(colon - text));
	first[colon - text] = '\0';
	*from = p11e_card_state_parse(first);
	*to = p11e_card_state_parse(colon + 1);
	return *from >= 0 && *to >= 0;
}

p11e_rc p11e_card_config_check(const char *file, json_object *cards, p11e_err *err)
{
	json_object *list;

	if (!json_object_is_type(cards, json_type_object))
		return p11e_errf(err, P11E_CONFIG, "config %s: cards: must be an object", file);
	json_object_object_foreach(cards, key, val)
	{
		(void)val;
		if (strcmp(key, "notify_command") == 0 ||
		    strcmp(key, "notify_timeout_seconds") == 0) {
			p11e_rc rc = card_notify_config_check(file, key, val, err);
			if (rc != P11E_OK)
				return rc;
			continue;
		}
		if (strcmp(key, "allowed_transitions") != 0)
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: unknown key 'cards.%.60s' (known: "
					 "allowed_transitions, notify_command, "
					 "notify_timeout_seconds)",
					 file, key);
	}
	if (!json_object_object_get_ex(cards, "allowed_transitions", &list))
		return P11E_OK;
	if (!json_object_is_type(list, json_type_array))
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: cards.allowed_transitions: must be a list of "
				 "\"FROM:TO\" strings",
				 file);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		int from, to;

		if (!json_object_is_type(e, json_type_string) ||
		    !parse_pair(json_object_get_string(e), &from, &to))
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: cards.allowed_transitions[%zu]: not "
					 "\"FROM:TO\" with two of in-stock, issued, suspended, "
					 "lost, damaged, terminated",
					 file, i);
	}
	return P11E_OK;
}

/* Whether the config allows from -> to (no list: everything the table has). */
static int config_allows(const p11e_config *cfg, int from, int to)
{
	json_object *cards, *list;

	if (cfg == NULL || cfg->root == NULL ||
	    !json_object_object_get_ex(cfg->root, "cards", &cards) ||
	    !json_object_object_get_ex(cards, "allowed_transitions", &list) ||
	    !json_object_is_type(list, json_type_array))
		return 1;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		int f, t;
		if (parse_pair(json_object_get_string(json_object_array_get_idx(list, i)), &f,
			       &t) &&
		    f == from && t == to)
			return 1;
	}
	return 0;
}

p11e_rc p11e_card_move_check(const p11e_config *cfg, const char *serial, const char *move, int from,
			     int *to, p11e_err *err)
{
	const char *from_name = p11e_card_state_name(from);

	if (from_name == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "card %s: its document names no known state; repair it with "
				 "`p11enroll store` tools",
				 serial);
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		if (strcmp(moves[i].name, move) != 0)
			continue;
		*to = moves[i].to;
		if (!(moves[i].from & S(from)))
			return p11e_errf(err, P11E_USAGE,
					 "card %s: cannot %s a card that is %s (%s -> %s is not a "
					 "transition); nothing changed",
					 serial, move, from_name, from_name,
					 p11e_card_state_name(moves[i].to));
		if (!config_allows(cfg, from, moves[i].to))
			return p11e_errf(err, P11E_USAGE,
					 "card %s: %s -> %s is not in the config's "
					 "cards.allowed_transitions; nothing changed",
					 serial, from_name, p11e_card_state_name(moves[i].to));
		return P11E_OK;
	}
	return p11e_errf(err, P11E_USAGE, "card: no move '%.40s'", move);
}
