/* Shared by the temporary card's two files: card_temporary.c (the moves of
 * both cards, under their locks) and card_temporary_token.c (what goes onto
 * the temporary card and comes off it again). */
#ifndef P11ENROLL_CARD_TEMP_INT_H
#define P11ENROLL_CARD_TEMP_INT_H

#include "core/card_int.h"
#include "p11enroll/session.h"

struct json_object;

/* The temporary card at work: its document (under its lock), its open and
 * logged-in session, and the command's parameters. */
typedef struct temp_ctx {
	const p11e_config *cfg;
	const p11e_card_temp_params *p;
	const char *tserial;	     /* the temporary card's serial */
	struct json_object *tdoc;    /* its document */
	struct json_object *entries; /* tdoc's temporary.entries */
	p11e_session s;
} temp_ctx;

/* One entry of the plan brought to "stored" (a new key and certificate, or
 * an archived key restored), saving the document after each phase, under
 * the identity's lock. */
p11e_rc temp_entry_run(temp_ctx *c, struct json_object *e, p11e_err *err);
/* Every issued temporary certificate revoked (cessationOfOperation), each
 * entry marked "revoked" once its CA said so. *n: how many now. */
p11e_rc temp_revoke_all(temp_ctx *c, int *n, p11e_err *err);
/* Every object the entries put on the card removed (keys and certificates
 * under their CKA_ID, the CA certificates of their chains by value), each
 * entry marked "wiped". */
p11e_rc temp_wipe_all(temp_ctx *c, p11e_err *err);
/* Saves the temporary card's document. */
p11e_rc temp_save(temp_ctx *c, p11e_err *err);
/* The integer at key, or 0; the boolean at key, or 0. */
int temp_int(struct json_object *o, const char *key);

#endif
