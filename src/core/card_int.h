/* Shared by the card registry's files (src/core/card*.c). */
#ifndef P11ENROLL_CARD_INT_H
#define P11ENROLL_CARD_INT_H

#include <stddef.h>
#include "p11enroll/card.h"
#include "p11enroll/session.h"

struct json_object;

/* The string at key, or "" (never NULL). */
const char *card_str(struct json_object *o, const char *key);
/* given, else the local user's name into buf. */
const char *card_operator(const char *given, char *buf, size_t cap);
/* A params' wait_ms as the lock's. */
long card_wait(long wait_ms);
/* Appends a history entry (not yet audited) and sets the state to `to`. */
void card_history_add(struct json_object *doc, const char *move, int from, int to, const char *op,
		      const char *reason);
/* Writes the audit lines of the history entries not yet audited, and saves
 * the card once they are. */
p11e_rc card_audit_due(const p11e_config *cfg, const char *serial, struct json_object *doc,
		       p11e_err *err);

/* The certificates' part of a move (card_hold.c): suspend and lost hold
 * them, resume and found lift the holds, lost with revoke and terminate
 * revoke them (terminate: for reason revoke when above 0, else
 * cessationOfOperation; lost: keyCompromise). */
p11e_rc card_certificates_work(const p11e_config *cfg, const char *move, int revoke,
			       struct json_object *doc, p11e_err *err);

/* The helpdesk notification (card_notify.c): cards.notify_command run
 * once a move that takes a card out of service (to suspended, lost,
 * damaged or terminated) is saved and audited; a failure is a warning and
 * an audit line, never an error of the move. */
void card_notify(const p11e_config *cfg, const char *serial, const char *move, int from, int to,
		 const char *op, const char *reason);
/* config load: cards.notify_command (a list of strings, the first an
 * absolute path) or cards.notify_timeout_seconds (1 to 3600). */
p11e_rc card_notify_config_check(const char *file, const char *key, struct json_object *val,
				 p11e_err *err);

/* The pipeline's crash points (test builds): pipe_crash_point. */
void pipe_crash_point(const char *name);
#define card_crash_point(name) pipe_crash_point(name)

/* The SO PIN of an open card (its lock held, doc loaded): replaces it by a
 * generated one, escrowed first (card_pin.c). old_pin: the card's SO PIN
 * now (NULL: the escrowed one, read from the vault). */
typedef struct card_pin_ctx {
	const p11e_config *cfg;
	const char *serial;
	struct json_object *doc;
	p11e_session *s;
	const char *officer_key;
	const char *officer_pin_source;
	const char *module;
	const char *op;
	int confirmed; /* card_so_resolve found the card has the pending PIN: its number */
} card_pin_ctx;
p11e_rc card_so_rotate(card_pin_ctx *c, const char *old_pin, int *generation, p11e_err *err);
/* A change cut short (the document's so_pin.pending) resolved: the card's
 * SO PIN found, the document saved. */
p11e_rc card_so_resolve(card_pin_ctx *c, p11e_err *err);
/* The SO PIN the card has, from the vault (a change cut short resolved
 * first); P11E_NOT_FOUND when none is escrowed. */
p11e_rc card_so_current(card_pin_ctx *c, char **pin, p11e_err *err);

#endif
