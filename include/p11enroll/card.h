/* The card registry (issue 23, docs/cards.md): which physical card (token,
 * by its serial) is in which state, what happened to it, and its SO PIN
 * escrowed in the vault.
 *
 * A card is one document of the store's kind "card", named by the token's
 * serial, JSON:
 *
 *   {"serial":"2a4f...","manufacturer":"SoftHSM project","model":"SoftHSM v2",
 *    "label":"alice","registered":"2026-12-07T23:00:00Z","state":"in-stock",
 *    "so_pin":{"escrowed":2,"pending":3,"phase":"sending"},
 *    "history":[{"time":..,"from":"","to":"in-stock","move":"register",
 *                "operator":"helpdesk1","reason":"..."}]}
 *
 * Every change happens under the lock "card"/SERIAL and is saved durably,
 * then audited ("card-MOVE", with the serial, both states, the operator and
 * the reason). The moves and the states they join are a table in data
 * (src/core/card_state.c); the config may narrow them (docs/cards.md):
 *
 *   "cards": { "allowed_transitions": ["in-stock:issued", "issued:suspended", ...] }
 *
 * The SO PIN escrow (src/core/card_pin.c): the vault entry
 * "card-so-pin/SERIAL/N", N counting up; a secret is never overwritten, and
 * the card's document says which N the card has ("escrowed") and which one
 * is on its way ("pending", "phase" "escrowed": not sent to the card yet,
 * "sending": C_SetPIN may have happened). */
#ifndef P11ENROLL_CARD_H
#define P11ENROLL_CARD_H

#include "p11enroll/config.h"
#include "p11enroll/error.h"

struct json_object;

enum p11e_card_state {
	P11E_CARD_IN_STOCK = 0,
	P11E_CARD_ISSUED,
	P11E_CARD_SUSPENDED,
	P11E_CARD_LOST,
	P11E_CARD_DAMAGED,
	P11E_CARD_TERMINATED,
	P11E_CARD_STATES
};

/* "in-stock", "issued", ...; NULL past the last. */
const char *p11e_card_state_name(int state);
/* The state named text, or -1. */
int p11e_card_state_parse(const char *text);

/* A card serial is what CK_TOKEN_INFO says, 1 to 32 characters of letters,
 * digits and ".:_-": P11E_USAGE naming the field otherwise. */
p11e_rc p11e_card_serial_check(const char *field, const char *serial, p11e_err *err);

/* Whether move (a verb: "suspend", "resume", ...) may take a card from
 * state `from`: *to is where it goes. P11E_USAGE (a one-line error naming
 * both states) for a move the table or the config's allowed_transitions
 * refuse; P11E_CONFIG for a config whose list names an unknown state. */
p11e_rc p11e_card_move_check(const p11e_config *cfg, const char *serial, const char *move, int from,
			     int *to, p11e_err *err);
/* The config's "cards" object (config load; file names the config):
 * P11E_CONFIG naming the key or the entry that is wrong. */
p11e_rc p11e_card_config_check(const char *file, struct json_object *cards, p11e_err *err);

/* The document of card serial (a new reference in *out); P11E_NOT_FOUND
 * saying how to register it. */
p11e_rc p11e_card_load(const p11e_config *cfg, const char *serial, struct json_object **out,
		       p11e_err *err);
/* Stores it, durably (the caller holds the card's lock). */
p11e_rc p11e_card_save(const p11e_config *cfg, const char *serial, struct json_object *doc,
		       p11e_err *err);
/* Every card's document, sorted by serial, as a JSON array (new reference). */
p11e_rc p11e_card_list(const p11e_config *cfg, struct json_object **out, p11e_err *err);
/* The generations of identities whose keys went onto card serial (their
 * records' token_serial), as a JSON array of {identity, generation, state,
 * not_after} (new reference): `card show`. */
p11e_rc p11e_card_generations(const p11e_config *cfg, const char *serial, struct json_object **out,
			      p11e_err *err);
/* The card's state, or -1 for a document without a known one. */
int p11e_card_doc_state(struct json_object *doc);

/* One move of a card. */
typedef struct p11e_card_move_params {
	const char *serial;
	const char *move;	   /* "suspend", "resume", "lost", "found", "terminate", ... */
	const char *reason;	   /* free text for the history (may be NULL) */
	const char *operator_name; /* NULL: the local user */
	long wait_ms;		   /* the card's lock: 0 the default, negative not at all */
	/* lost: revoke (keyCompromise) instead of a hold; terminate: the
	 * reason (enum p11e_revoke_reason, 0: cessationOfOperation). */
	int revoke;
	/* What the move does beyond the registry and the certificates (those
	 * the move itself holds, lifts or revokes: card_hold.c), called under
	 * the lock with the document, before the new state is saved: a failure
	 * leaves the card where it was. NULL: none. */
	p11e_rc (*work)(void *arg, const p11e_config *cfg, struct json_object *doc, int from,
			int to, p11e_err *err);
	void *arg;
} p11e_card_move_params;

typedef struct p11e_card_move_result {
	int from, to;
	int already; /* a rerun: the card was already there (nothing moved) */
} p11e_card_move_result;

p11e_rc p11e_card_move(const p11e_config *cfg, const p11e_card_move_params *p,
		       p11e_card_move_result *out, p11e_err *err);

/* Enrollment and the registry (src/core/card_enroll.c): whether a key may
 * go onto the token with this serial: P11E_OK for an unregistered card
 * (*registered 0), one in stock or issued; P11E_USAGE, one line naming the
 * state and the card command that fixes it, for a suspended, lost, damaged
 * or terminated one. */
p11e_rc p11e_card_enroll_check(const p11e_config *cfg, const char *serial, int *registered,
			       p11e_err *err);
/* An enrollment of identity finished onto card serial: a registered card in
 * stock moves to issued ("issue", operator the local user, reason "enrolled
 * IDENTITY"); *moved says whether it did. Call with the identity's lock held
 * (lock order: identity, then card). */
p11e_rc p11e_card_enrolled(const p11e_config *cfg, const char *serial, const char *identity,
			   long wait_ms, int *moved, p11e_err *err);

/* `card register URI` and what init-token does. */
typedef struct p11e_card_register_params {
	const char *uri;
	const char *module;
	const char *so_pin_source; /* the card's SO PIN as it comes (the transport PIN) */
	const char *officer_key;   /* to read a pending escrowed PIN back on a rerun */
	const char *officer_pin_source;
	int personalise; /* 0: registered only (init-token), SO PIN not escrowed */
	/* The history's reason; NULL: "registered" (without personalise:
	 * "registered, SO PIN not personalised"). */
	const char *reason;
	const char *operator_name;
	long wait_ms;
} p11e_card_register_params;

typedef struct p11e_card_register_result {
	char serial[33];
	char label[33];
	int already;	 /* registered before (a rerun) */
	int so_escrowed; /* the SO PIN now on the card is the escrowed one (generation) */
} p11e_card_register_result;

p11e_rc p11e_card_register(const p11e_config *cfg, const p11e_card_register_params *p,
			   p11e_card_register_result *out, p11e_err *err);

/* Whether the token at uri is card serial (terminate --wipe: never wipe
 * another card). P11E_USAGE naming both serials when it is not; *label:
 * the token's label (what wipe's --confirm wants). */
p11e_rc p11e_card_token_is(const p11e_config *cfg, const char *uri, const char *module,
			   const char *serial, char label[33], p11e_err *err);

/* The SO PIN (src/core/card_pin.c). */
typedef struct p11e_card_pin_params {
	const char *uri;
	const char *module;
	const char *officer_key; /* reads the escrowed SO PIN (file vault: the officer's key) */
	const char *officer_pin_source;
	const char *new_pin_source; /* unblock: the new user PIN (NULL: prompt) */
	const char *operator_name;
	long wait_ms;
} p11e_card_pin_params;

/* `pin rotate-so URI`: a new generated SO PIN, escrowed before it is set. */
p11e_rc p11e_card_rotate_so(const p11e_config *cfg, const p11e_card_pin_params *p, int *generation,
			    p11e_err *err);
/* `pin unblock URI --officer-key K`: C_InitPIN as the SO with the escrowed
 * SO PIN, the new user PIN from new_pin_source. */
p11e_rc p11e_card_unblock(const p11e_config *cfg, const p11e_card_pin_params *p, p11e_err *err);

/* Temporary cards (src/core/card_temporary.c, docs/cards.md "Temporary
 * cards"): `card lost SERIAL --temporary URI --days N` and `card found
 * SERIAL --temporary URI`. The temporary certificates are no generation of
 * the identities' records (those keep pointing at the permanent card): the
 * temporary card's document lists them ("temporary"), the permanent card's
 * names it ("temporary_card"). */
#define P11E_CARD_TEMP_DAYS_MAX 365
typedef struct p11e_card_temp_params {
	const char *serial;   /* the permanent card */
	const char *temp_uri; /* the temporary card, registered and in stock */
	int days;	      /* lost: 1 to P11E_CARD_TEMP_DAYS_MAX */
	int revoke;	      /* lost: revoke (keyCompromise) instead of a hold */
	const char *reason;
	const char *operator_name;
	const char *module;
	const char *pin_source;	 /* the temporary card's PIN */
	const char *officer_key; /* archived keys restored: the file vault */
	const char *officer_pin_source;
	long wait_ms;
} p11e_card_temp_params;

typedef struct p11e_card_temp_result {
	char temp_serial[33];
	int identities;	  /* identities the temporary card stands in for */
	int certificates; /* lost: short-lived certificates on it; found: revoked */
	int restored;	  /* lost: archived keys restored onto it */
	char until[32];	  /* lost: the latest notAfter of its certificates */
	int already;	  /* a rerun of a finished command: nothing changed */
} p11e_card_temp_result;

p11e_rc p11e_card_lost_temporary(const p11e_config *cfg, const p11e_card_temp_params *p,
				 p11e_card_temp_result *out, p11e_err *err);
p11e_rc p11e_card_found_temporary(const p11e_config *cfg, const p11e_card_temp_params *p,
				  p11e_card_temp_result *out, p11e_err *err);
/* The serial of card serial's temporary card into out (cap bytes): 1 when
 * it has one, 0 when not (or it is not registered). */
int p11e_card_temporary_of(const p11e_config *cfg, const char *serial, char *out, size_t cap);

#endif
