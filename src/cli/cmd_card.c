/* p11enroll card register|list|show|suspend|resume|lost|found|damaged|
 * terminate: the card registry (include/p11enroll/card.h, docs/cards.md).
 * The verbs are a table: each says how many arguments it takes and which
 * move of the state table it makes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/card.h"
#include "p11enroll/wipe.h"

typedef struct card_verb {
	const char *name;
	int args;	  /* positional arguments after the verb */
	const char *move; /* a move of the state table, or NULL */
	p11e_rc (*run)(cli_ctx *ctx, const cli_args *a, const struct card_verb *v);
} card_verb;

static p11e_rc card_register(cli_ctx *ctx, const cli_args *a, const card_verb *v)
{
	p11e_card_register_params p = {
	    .uri = a->pos[1],
	    .module = ctx->module,
	    .so_pin_source = cli_value(a, "so-pin-source"),
	    .officer_key = cli_value(a, "officer-key"),
	    .officer_pin_source = cli_value(a, "officer-pin-source"),
	    .personalise = !cli_flag(a, "no-personalise"),
	    .operator_name = cli_value(a, "operator"),
	};
	p11e_card_register_result res;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err);

	(void)v;
	if (rc == P11E_OK)
		rc = p11e_card_register(&ctx->config, &p, &res, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "serial", json_object_new_string(res.serial));
		json_object_object_add(o, "already", json_object_new_boolean(res.already));
		json_object_object_add(o, "so_pin_escrowed",
				       json_object_new_boolean(res.so_escrowed));
		cli_print_json(o);
	} else {
		char *label = cli_safe_text(res.label, strlen(res.label));
		printf("card %s ('%s') %s%s\n", res.serial, label ? label : "",
		       res.already ? "was registered already" : "registered, in stock",
		       res.so_escrowed ? "; its SO PIN is a generated one, escrowed" : "");
		free(label);
	}
	return P11E_OK;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : "";
}

static int escrowed(json_object *doc)
{
	json_object *so, *n;
	return json_object_object_get_ex(doc, "so_pin", &so) &&
	       json_object_object_get_ex(so, "escrowed", &n) && json_object_get_int(n) > 0;
}

/* Text from a token or an operator, printed made safe, after prefix. */
static void print_safe(const char *prefix, const char *text, const char *suffix)
{
	char *safe = cli_safe_text(text, strlen(text));
	printf("%s%s%s", prefix, safe ? safe : "", suffix);
	free(safe);
}

static p11e_rc card_list(cli_ctx *ctx, const cli_args *a, const card_verb *v)
{
	const char *want = cli_value(a, "state");
	json_object *all = NULL, *shown;
	p11e_rc rc;

	(void)v;
	if (want != NULL && p11e_card_state_parse(want) < 0)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "--state: '%.40s' is none of in-stock, issued, suspended, lost, "
				 "damaged, terminated",
				 want);
	if ((rc = p11e_card_list(&ctx->config, &all, &ctx->err)) != P11E_OK)
		return rc;
	shown = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		json_object *doc = json_object_array_get_idx(all, i);
		if (want == NULL || strcmp(str_of(doc, "state"), want) == 0)
			json_object_array_add(shown, json_object_get(doc));
	}
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "cards", json_object_get(shown));
		cli_print_json(o);
	} else {
		for (size_t i = 0; i < json_object_array_length(shown); i++) {
			json_object *doc = json_object_array_get_idx(shown, i);
			printf("%-18s %-11s ", str_of(doc, "serial"), str_of(doc, "state"));
			print_safe("", str_of(doc, "label"), "");
			printf("  %s\n", escrowed(doc) ? "SO PIN escrowed" : "SO PIN not escrowed");
		}
	}
	json_object_put(shown);
	json_object_put(all);
	return P11E_OK;
}

static p11e_rc card_show(cli_ctx *ctx, const cli_args *a, const card_verb *v)
{
	json_object *doc = NULL, *gens = NULL, *hist, *temp;
	p11e_rc rc;

	(void)v;
	rc = p11e_card_load(&ctx->config, a->pos[1], &doc, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_card_generations(&ctx->config, a->pos[1], &gens, &ctx->err);
	if (rc != P11E_OK)
		goto out;
	if (ctx->json) {
		json_object_object_add(doc, "generations", json_object_get(gens));
		cli_print_json(json_object_get(doc));
		goto out;
	}
	printf("card %s: %s\n", str_of(doc, "serial"), str_of(doc, "state"));
	print_safe("  label         ", str_of(doc, "label"), "\n");
	print_safe("  manufacturer  ", str_of(doc, "manufacturer"), "\n");
	print_safe("  model         ", str_of(doc, "model"), "\n");
	printf("  registered    %s\n", str_of(doc, "registered"));
	printf("  SO PIN        %s\n", escrowed(doc) ? "escrowed" : "not escrowed");
	/* A lost card's stand-in, or the card a temporary one stands in for. */
	if (str_of(doc, "temporary_card")[0] != '\0')
		printf("  temporary     card %s stands in for it\n", str_of(doc, "temporary_card"));
	if (json_object_object_get_ex(doc, "temporary", &temp) &&
	    json_object_is_type(temp, json_type_object))
		printf("  temporary     for card %s%s%s\n", str_of(temp, "for"),
		       str_of(temp, "until")[0] ? ", until " : "", str_of(temp, "until"));
	for (size_t i = 0; i < json_object_array_length(gens); i++) {
		json_object *g = json_object_array_get_idx(gens, i), *n;
		json_object_object_get_ex(g, "generation", &n);
		print_safe("  holds         ", str_of(g, "identity"), "");
		printf(" generation %d (%s)\n", json_object_get_int(n), str_of(g, "state"));
	}
	if (json_object_object_get_ex(doc, "history", &hist))
		for (size_t i = 0; i < json_object_array_length(hist); i++) {
			json_object *e = json_object_array_get_idx(hist, i);
			printf("  %s %-9s %s -> %s by ", str_of(e, "time"), str_of(e, "move"),
			       str_of(e, "from")[0] ? str_of(e, "from") : "(none)",
			       str_of(e, "to"));
			print_safe("", str_of(e, "operator"), "");
			if (str_of(e, "reason")[0] != '\0')
				print_safe(": ", str_of(e, "reason"), "");
			printf("\n");
		}
out:
	json_object_put(gens);
	json_object_put(doc);
	return rc;
}

static p11e_rc one_move(cli_ctx *ctx, const cli_args *a, const char *move, int *to)
{
	p11e_card_move_params p = {
	    .serial = a->pos[1],
	    .move = move,
	    .reason = cli_value(a, "reason"),
	    .operator_name = cli_value(a, "operator"),
	    .revoke = strcmp(move, "lost") == 0 && cli_flag(a, "revoke"),
	};
	p11e_card_move_result res;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err);

	if (rc == P11E_OK)
		rc = p11e_card_move(&ctx->config, &p, &res, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	*to = res.to;
	if (ctx->json)
		return P11E_OK;
	if (res.already)
		printf("card %s: %s already (nothing changed)\n", a->pos[1],
		       p11e_card_state_name(res.to));
	else
		printf("card %s: %s -> %s\n", a->pos[1], p11e_card_state_name(res.from),
		       p11e_card_state_name(res.to));
	return P11E_OK;
}

/* terminate --wipe URI: what p11enroll put on the card removed (wipe.h),
 * after checking that the token there is this card. Its certificates were
 * revoked by the terminate move already. */
static p11e_rc wipe(cli_ctx *ctx, const cli_args *a)
{
	char label[33];
	p11e_wipe_params p = {
	    .uri = cli_value(a, "wipe"),
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	    .confirm = label,
	};
	p11e_wipe_result res;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err);

	if (rc == P11E_OK)
		rc = p11e_card_token_is(&ctx->config, p.uri, ctx->module, a->pos[1], label,
					&ctx->err);
	if (rc == P11E_OK)
		rc = p11e_wipe(&ctx->config, &p, &res, &ctx->err);
	if (rc == P11E_OK && !ctx->json)
		printf("card %s: wiped (%zu identities retired, %zu key objects and %zu "
		       "certificates removed)\n",
		       a->pos[1], res.identities, res.key_objects, res.certificates);
	return rc;
}

/* Whether the card's last move, a terminate, came from damaged. */
static int terminated_damaged(cli_ctx *ctx, const char *serial)
{
	json_object *doc = NULL, *hist;
	int damaged = 0;

	if (p11e_card_load(&ctx->config, serial, &doc, NULL) == P11E_OK &&
	    json_object_object_get_ex(doc, "history", &hist)) {
		size_t n = json_object_array_length(hist);
		json_object *e = n > 0 ? json_object_array_get_idx(hist, n - 1) : NULL;
		damaged = strcmp(str_of(e, "from"), "damaged") == 0;
	}
	json_object_put(doc);
	return damaged;
}

/* --days N: a whole number of days, 1 to P11E_CARD_TEMP_DAYS_MAX. */
static p11e_rc days_of(cli_ctx *ctx, const cli_args *a, int *days)
{
	const char *text = cli_value(a, "days");
	char *end = NULL;
	long n = text != NULL ? strtol(text, &end, 10) : 0;

	if (text == NULL)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "--days: card lost --temporary needs --days N, how long the "
				 "temporary card's certificates are valid");
	if (end == text || *end != '\0' || n < 1 || n > P11E_CARD_TEMP_DAYS_MAX)
		return p11e_errf(&ctx->err, P11E_USAGE, "--days: a whole number from 1 to %d",
				 P11E_CARD_TEMP_DAYS_MAX);
	*days = (int)n;
	return P11E_OK;
}

/* lost --temporary URI --days N, and found on a card that has a temporary
 * card (src/core/card_temporary.c). */
static p11e_rc temporary(cli_ctx *ctx, const cli_args *a, const char *move)
{
	p11e_card_temp_params p = {
	    .serial = a->pos[1],
	    .temp_uri = cli_value(a, "temporary"),
	    .revoke = cli_flag(a, "revoke"),
	    .reason = cli_value(a, "reason"),
	    .operator_name = cli_value(a, "operator"),
	    .module = ctx->module,
	    .pin_source = ctx->pin_source,
	    .officer_key = cli_value(a, "officer-key"),
	    .officer_pin_source = cli_value(a, "officer-pin-source"),
	};
	p11e_card_temp_result res;
	int lost = strcmp(move, "lost") == 0;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err);

	if (rc == P11E_OK && lost)
		rc = days_of(ctx, a, &p.days);
	if (rc == P11E_OK)
		rc = lost ? p11e_card_lost_temporary(&ctx->config, &p, &res, &ctx->err)
			  : p11e_card_found_temporary(&ctx->config, &p, &res, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "serial", json_object_new_string(a->pos[1]));
		json_object_object_add(o, "state",
				       json_object_new_string(lost ? "lost" : "issued"));
		json_object_object_add(o, "temporary", json_object_new_string(res.temp_serial));
		json_object_object_add(o, "identities", json_object_new_int(res.identities));
		json_object_object_add(o, "certificates", json_object_new_int(res.certificates));
		json_object_object_add(o, "restored", json_object_new_int(res.restored));
		if (lost)
			json_object_object_add(o, "until", json_object_new_string(res.until));
		json_object_object_add(o, "already", json_object_new_boolean(res.already));
		cli_print_json(o);
	} else if (lost) {
		printf("card %s: lost; card %s is its temporary card%s: %d identities, %d "
		       "certificates valid until %s, %d archived keys restored\n",
		       a->pos[1], res.temp_serial, res.already ? " already" : "", res.identities,
		       res.certificates, res.until, res.restored);
	} else {
		printf("card %s: issued again%s; its temporary card %s: %d certificates revoked, "
		       "wiped, in stock\n",
		       a->pos[1], res.already ? " (already)" : "", res.temp_serial,
		       res.certificates);
	}
	return P11E_OK;
}

static p11e_rc card_move(cli_ctx *ctx, const cli_args *a, const card_verb *v)
{
	int to = -1;
	char temp[33];
	p11e_rc rc;

	if (strcmp(v->move, "lost") == 0 && cli_value(a, "temporary") != NULL)
		return temporary(ctx, a, v->move);
	if (strcmp(v->move, "found") == 0 &&
	    (cli_value(a, "temporary") != NULL ||
	     p11e_card_temporary_of(&ctx->config, a->pos[1], temp, sizeof(temp))))
		return temporary(ctx, a, v->move);
	rc = one_move(ctx, a, v->move, &to);

	/* terminate --wipe: a card that is not damaged is wiped and goes back
	 * to stock, its history kept (a rerun after a crash between the steps
	 * finishes it); without --wipe it stays terminated. */
	if (rc == P11E_OK && strcmp(v->move, "terminate") == 0 && to == P11E_CARD_TERMINATED &&
	    cli_value(a, "wipe") == NULL) {
		/* A damaged card is not reused: no --wipe hint for it. */
		if (!ctx->json && terminated_damaged(ctx, a->pos[1]))
			printf("card %s: terminated; a damaged card is not reused: it stays "
			       "terminated\n",
			       a->pos[1]);
		else if (!ctx->json)
			printf("card %s: terminated; `card terminate %s --wipe URI` wipes it and "
			       "returns it to stock\n",
			       a->pos[1], a->pos[1]);
	} else if (rc == P11E_OK && strcmp(v->move, "terminate") == 0 &&
		   to == P11E_CARD_TERMINATED) {
		json_object *doc = NULL, *hist;
		int damaged = 0;
		if (p11e_card_load(&ctx->config, a->pos[1], &doc, &ctx->err) == P11E_OK &&
		    json_object_object_get_ex(doc, "history", &hist)) {
			size_t n = json_object_array_length(hist);
			json_object *e = n > 0 ? json_object_array_get_idx(hist, n - 1) : NULL;
			damaged = strcmp(str_of(e, "from"), "damaged") == 0;
		}
		json_object_put(doc);
		if (!damaged)
			rc = wipe(ctx, a);
		if (!damaged && rc == P11E_OK)
			rc = one_move(ctx, a, "restock", &to);
	}
	if (rc == P11E_OK && ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "serial", json_object_new_string(a->pos[1]));
		json_object_object_add(o, "state",
				       json_object_new_string(p11e_card_state_name(to)));
		cli_print_json(o);
	}
	return rc;
}

static const card_verb verbs[] = {
    {"register", 1, NULL, card_register}, {"list", 0, NULL, card_list},
    {"show", 1, NULL, card_show},	  {"issue", 1, "issue", card_move},
    {"suspend", 1, "suspend", card_move}, {"resume", 1, "resume", card_move},
    {"lost", 1, "lost", card_move},	  {"found", 1, "found", card_move},
    {"damaged", 1, "damaged", card_move}, {"terminate", 1, "terminate", card_move},
};

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const card_verb *v = &verbs[i];
		if (strcmp(v->name, a->pos[0]) != 0)
			continue;
		if (a->npos - 1 != v->args)
			return p11e_errf(&ctx->err, P11E_USAGE, "card %s: give %s", v->name,
					 v->args == 0 ? "no argument"
					 : v->move == NULL && strcmp(v->name, "register") == 0
					     ? "the token's URI"
					     : "one SERIAL");
		if (cli_value(a, "wipe") != NULL && strcmp(v->name, "terminate") != 0)
			return p11e_errf(&ctx->err, P11E_USAGE,
					 "--wipe: only card terminate takes it");
		if (cli_value(a, "temporary") != NULL && strcmp(v->name, "lost") != 0 &&
		    strcmp(v->name, "found") != 0)
			return p11e_errf(&ctx->err, P11E_USAGE,
					 "--temporary: only card lost and card found take it");
		if (cli_value(a, "days") != NULL &&
		    (strcmp(v->name, "lost") != 0 || cli_value(a, "temporary") == NULL))
			return p11e_errf(&ctx->err, P11E_USAGE,
					 "--days: only card lost --temporary URI takes it");
		if (cli_flag(a, "revoke") && strcmp(v->name, "lost") != 0)
			return p11e_errf(&ctx->err, P11E_USAGE,
					 "--revoke: only card lost takes it");
		if (v->move == NULL && cli_value(a, "reason") != NULL)
			return p11e_errf(
			    &ctx->err, P11E_USAGE,
			    "--reason: only the moves (suspend, resume, ...) take one");
		return v->run(ctx, a, v);
	}
	return p11e_errf(&ctx->err, P11E_USAGE, "card: unknown action '%.40s'", a->pos[0]);
}

const cli_command cmd_card = {
    .name = "card",
    .usage = "register URI [--so-pin-source SRC] | list [--state S] | show SERIAL\n"
	     "       | lost SERIAL [--revoke] [--reason R] | terminate SERIAL [--wipe URI]\n"
	     "       | lost SERIAL --temporary URI --days N | found SERIAL [--temporary URI]\n"
	     "       | issue|suspend|resume|lost|found|damaged|terminate SERIAL [--reason R]",
    .summary = "the card registry: cards in stock, issued, suspended, lost, terminated",
    .help = "register  records the token at URI as a card in stock (serial, manufacturer,\n"
	    "          model, label, time) and replaces its SO PIN (from --so-pin-source)\n"
	    "          by a generated one, escrowed in the vault first and never shown;\n"
	    "          --no-personalise leaves the SO PIN alone. A rerun finishes a\n"
	    "          change cut short (with --officer-key: one SO login, docs/cards.md).\n"
	    "list      the registered cards (--state S: in that state only).\n"
	    "show      one card: its state, what it holds, its history.\n"
	    "issue     a card in stock handed out (in-stock -> issued).\n"
	    "suspend, resume, lost, found, damaged, terminate: a move of the state table\n"
	    "          (docs/cards.md); anything else is refused with nothing changed.\n"
	    "          Every move is kept in the card's history and audited with the\n"
	    "          operator (--operator, else the local user) and --reason.\n"
	    "          suspend and lost put every valid certificate on the card on hold\n"
	    "          (certificateHold: the embedded CA's next CRL lists it), resume\n"
	    "          and found lift the holds (the next CRL leaves them out); lost\n"
	    "          --revoke revokes them (keyCompromise). A card with a certificate\n"
	    "          from a CA that cannot lift a hold is not suspended (exit 11).\n"
	    "          terminate revokes them (cessationOfOperation); with --wipe URI (the\n"
	    "          card, its PIN from --pin-source) it wipes a card that is not\n"
	    "          damaged (p11enroll wipe) and returns it to stock.\n"
	    "lost --temporary URI --days N: the card at URI (registered, in stock, its\n"
	    "          PIN from --pin-source) gets new keys and certificates valid N days\n"
	    "          (at most the identity's own) for the lost card's identities, and\n"
	    "          their archived encryption keys (--officer-key for the file vault);\n"
	    "          it is then issued. found --temporary URI: its certificates\n"
	    "          revoked (cessationOfOperation), the card wiped and back in stock;\n"
	    "          found refuses without it while the card has a temporary card.",
    .opts =
	(const cli_opt[]){
	    {"so-pin-source", "SRC", "register: the card's SO PIN as it came"},
	    {"officer-key", "KEY", "an escrow officer's key (register, lost --temporary)"},
	    {"officer-pin-source", "SRC", "the officer key's PIN or passphrase"},
	    {"no-personalise", NULL, "register: keep the SO PIN (not escrowed)"},
	    {"state", "S", "list: only cards in state S"},
	    {"reason", "R", "a move: why (kept in the history and the audit)"},
	    {"revoke", NULL, "lost: revoke its certificates (keyCompromise), not hold them"},
	    {"wipe", "URI", "terminate: wipe the card there (this card) and restock it"},
	    {"temporary", "URI", "lost, found: the temporary card there (docs/cards.md)"},
	    {"days", "N", "lost --temporary: its certificates' validity (1 to 365)"},
	    {"operator", "NAME", "who does it (default: the local user)"},
	    {"wait", "SECONDS", "wait this long for the card's lock (default 5; 0: not)"},
	    {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 2,
    .run = run,
    .actions = (const char *const[]){"register", "list", "show", "issue", "suspend", "resume",
				     "lost", "found", "damaged", "terminate", NULL},
};
