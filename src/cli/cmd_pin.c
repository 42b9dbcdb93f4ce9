/* p11enroll pin status|change|unblock: the user PIN's care. Every PIN comes
 * from a source (env:VAR, file:PATH, prompt) or the reader's pinpad, is sent
 * once, and is wiped after use; the audit trail records each change and
 * unblock by token, never a PIN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include "cli.h"
#include "p11enroll/audit.h"
#include "p11enroll/card.h"
#include "p11enroll/secret.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"

/* The new user PIN: from --new-pin-source; else the pinpad (NULL) when the
 * token has one; else the terminal, asked twice, since a typo there would
 * leave a PIN nobody knows. */
static p11e_rc read_new_pin(const cli_args *a, const p11e_session *s, char **out, p11e_err *err)
{
	const p11e_token_info *info = p11e_token_get_info(s->token);
	const char *source = cli_value(a, "new-pin-source");
	char *again = NULL;
	char what[96];
	p11e_rc rc;

	*out = NULL;
	if (source == NULL && info->protected_auth_path)
		return P11E_OK;
	snprintf(what, sizeof(what), "new user PIN for token '%s'", info->label);
	rc = p11e_secret_read(source != NULL ? source : "prompt", what, out, err);
	if (rc != P11E_OK || (source != NULL && strcmp(source, "prompt") != 0))
		return rc;
	snprintf(what, sizeof(what), "the new user PIN again");
	rc = p11e_secret_read("prompt", what, &again, err);
	if (rc == P11E_OK &&
	    (strlen(*out) != strlen(again) || CRYPTO_memcmp(*out, again, strlen(again)) != 0))
		rc =
		    p11e_errf(err, P11E_USAGE,
			      "new PIN: the two entries differ; nothing was changed, run it again");
	p11e_secret_free(again, (size_t)-1);
	if (rc != P11E_OK) {
		p11e_secret_free(*out, (size_t)-1);
		*out = NULL;
	}
	return rc;
}

static void print_flag(const char *what, int on)
{
	printf("  %-32s %s\n", what, on ? "yes" : "no");
}

static p11e_rc status(cli_ctx *ctx, const p11e_session *s)
{
	const p11e_token_info *i = p11e_token_get_info(s->token);
	static const char *const names[] = {
	    "user_pin_initialized", "user_pin_count_low",     "user_pin_final_try",
	    "user_pin_locked",	    "user_pin_to_be_changed", "protected_authentication_path",
	    "so_pin_count_low",	    "so_pin_final_try",	      "so_pin_locked"};
	const int values[] = {
	    i->user_pin_initialized, i->user_pin_count_low,	i->user_pin_final_try,
	    i->user_pin_locked,	     i->user_pin_to_be_changed, i->protected_auth_path,
	    i->so_pin_count_low,     i->so_pin_final_try,	i->so_pin_locked};
	char *label = cli_safe_text(i->label, strlen(i->label));
	char *serial = cli_safe_text(i->serial, strlen(i->serial));

	if (label == NULL || serial == NULL) {
		free(label);
		free(serial);
		return p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
	}
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "token", json_object_new_string(label));
		json_object_object_add(o, "serial", json_object_new_string(serial));
		for (size_t k = 0; k < sizeof(values) / sizeof(values[0]); k++)
			json_object_object_add(o, names[k], json_object_new_boolean(values[k]));
		json_object_object_add(o, "min_pin_len",
				       json_object_new_int64((int64_t)i->min_pin_len));
		json_object_object_add(o, "max_pin_len",
				       json_object_new_int64((int64_t)i->max_pin_len));
		cli_print_json(o);
	} else {
		printf("token '%s' (serial %s)\n", label, serial);
		print_flag("user PIN initialised", i->user_pin_initialized);
		print_flag("user PIN count low", i->user_pin_count_low);
		print_flag("user PIN final try", i->user_pin_final_try);
		print_flag("user PIN locked", i->user_pin_locked);
		print_flag("user PIN to be changed", i->user_pin_to_be_changed);
		print_flag("protected authentication path", i->protected_auth_path);
		print_flag("SO PIN count low", i->so_pin_count_low);
		print_flag("SO PIN final try", i->so_pin_final_try);
		print_flag("SO PIN locked", i->so_pin_locked);
		printf("  %-32s %lu..%lu\n", "PIN length", i->min_pin_len, i->max_pin_len);
		if (i->user_pin_locked)
			printf("the user PIN is locked: p11enroll pin unblock URI (with the SO "
			       "PIN)\n");
	}
	free(label);
	free(serial);
	return P11E_OK;
}

static p11e_rc change(cli_ctx *ctx, const cli_args *a, const p11e_session_params *sp,
		      p11e_session *s)
{
	char *new_pin = NULL;
	p11e_rc rc;

	if (!p11e_token_get_info(s->token)->login_required)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "token '%s' needs no login: it has no user PIN to change",
				 p11e_token_get_info(s->token)->label);
	/* The current PIN is checked by the login, once, with the usual
	 * messages (locked: the unblock hint); C_SetPIN then runs logged in. */
	rc = p11e_session_login(&ctx->config, sp, s, &ctx->err);
	if (rc == P11E_OK)
		rc = read_new_pin(a, s, &new_pin, &ctx->err);
	if (rc == P11E_OK && new_pin == NULL)
		p11e_session_pinpad_note(s, "the current PIN and then the new one");
	if (rc == P11E_OK)
		rc = p11e_token_set_pin(s->token, new_pin, &ctx->err);
	p11e_secret_free(new_pin, (size_t)-1);
	return rc;
}

static p11e_rc unblock(cli_ctx *ctx, const cli_args *a, p11e_session *s)
{
	const p11e_token_info *info = p11e_token_get_info(s->token);
	const char *so_source = cli_value(a, "so-pin-source");
	char *so_pin = NULL, *new_pin = NULL;
	char what[80];
	p11e_rc rc = P11E_OK;

	/* Both from the pinpad, or both from sources: a reader that asks for
	 * one asks for the other too. */
	if (so_source != NULL || !info->protected_auth_path) {
		snprintf(what, sizeof(what), "SO PIN for token '%s'", info->label);
		rc = p11e_secret_read(so_source != NULL ? so_source : "prompt", what, &so_pin,
				      &ctx->err);
	}
	if (rc == P11E_OK)
		rc = read_new_pin(a, s, &new_pin, &ctx->err);
	if (rc == P11E_OK && so_pin == NULL)
		p11e_session_pinpad_note(s, "the SO PIN and then the new user PIN");
	if (rc == P11E_OK)
		rc = p11e_token_unblock_pin(s->token, so_pin, new_pin, &ctx->err);
	p11e_secret_free(so_pin, (size_t)-1);
	p11e_secret_free(new_pin, (size_t)-1);
	return rc;
}

/* One audit line per change or unblock tried on a token found, whatever its
 * outcome: a run of wrong PINs is what an auditor looks for. */
static p11e_rc audit(cli_ctx *ctx, const char *action, const p11e_session *s, p11e_rc rc)
{
	const p11e_token_info *info = p11e_token_get_info(s->token);
	p11e_err audit_err = {0};
	const char *const extra[] = {"token", info->label, "serial", info->serial, NULL};

	if (p11e_audit_write(&ctx->config, action, NULL, extra, rc, &ctx->err, &audit_err) !=
		P11E_OK &&
	    rc == P11E_OK)
		return p11e_errf(&ctx->err, audit_err.rc,
				 "the PIN was changed, but the audit trail could not record it: "
				 "%s",
				 audit_err.msg);
	return rc;
}

/* The card registry's verbs: unblock with the escrowed SO PIN
 * (--officer-key), rotate-so (include/p11enroll/card.h). */
static p11e_rc card_pin(cli_ctx *ctx, const cli_args *a, int rotate)
{
	p11e_card_pin_params p = {
	    .uri = a->pos[1],
	    .module = ctx->module,
	    .officer_key = cli_value(a, "officer-key"),
	    .officer_pin_source = cli_value(a, "officer-pin-source"),
	    .new_pin_source = cli_value(a, "new-pin-source"),
	    .operator_name = cli_value(a, "operator"),
	};
	int generation = 0;
	p11e_rc rc = cli_wait_ms(a, &p.wait_ms, &ctx->err);

	if (rc == P11E_OK && cli_value(a, "so-pin-source") != NULL)
		rc = p11e_errf(&ctx->err, P11E_USAGE,
			       "--so-pin-source: the escrowed SO PIN is used here; give one "
			       "or the other");
	/* A rotated SO PIN is always generated and escrowed, never chosen or
	 * shown: a new PIN source would be silently unused. */
	if (rc == P11E_OK && rotate && p.new_pin_source != NULL)
		rc = p11e_errf(&ctx->err, P11E_USAGE,
			       "--new-pin-source: pin rotate-so sets a generated SO PIN (escrowed, "
			       "never shown) and takes no PIN source; a new user PIN is set by "
			       "pin change or pin unblock");
	if (rc == P11E_OK)
		rc = rotate ? p11e_card_rotate_so(&ctx->config, &p, &generation, &ctx->err)
			    : p11e_card_unblock(&ctx->config, &p, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, rotate ? "so_pin_rotated" : "unblocked",
				       json_object_new_boolean(1));
		if (rotate)
			json_object_object_add(o, "generation", json_object_new_int(generation));
		cli_print_json(o);
	} else if (rotate) {
		printf("SO PIN replaced by a generated one, escrowed (number %d); not shown\n",
		       generation);
	} else {
		printf("user PIN unblocked with the escrowed SO PIN and set anew\n");
	}
	return P11E_OK;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *verb = a->pos[0];
	p11e_session_params sp = {
	    .uri = a->pos[1], .module = ctx->module, .pin_source = ctx->pin_source, .login = 0};
	p11e_session s;
	int is_status = strcmp(verb, "status") == 0, is_change = strcmp(verb, "change") == 0,
	    is_unblock = strcmp(verb, "unblock") == 0;
	p11e_rc rc;

	memset(&s, 0, sizeof(s));
	if (strcmp(verb, "rotate-so") == 0 || (is_unblock && cli_value(a, "officer-key") != NULL))
		return card_pin(ctx, a, !is_unblock);
	if (cli_value(a, "officer-key") != NULL)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "--officer-key: only pin unblock and pin rotate-so read the "
				 "escrowed SO PIN");
	if (!is_status && !is_change && !is_unblock)
		return p11e_errf(
		    &ctx->err, P11E_USAGE,
		    "pin: unknown action '%.40s'; use status, change, unblock or rotate-so "
		    "(see p11enroll pin --help)",
		    verb);
	if (!is_unblock && cli_value(a, "so-pin-source") != NULL)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "--so-pin-source: only pin unblock uses the SO PIN");
	if (is_status && cli_value(a, "new-pin-source") != NULL)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "--new-pin-source: pin status changes nothing");
	/* Opened without a login: status needs none, and change and unblock
	 * log in themselves (as the user, or as the SO). */
	rc = p11e_session_open(&ctx->config, &sp, &s, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (is_status) {
		rc = status(ctx, &s);
		goto out;
	}
	rc = is_change ? change(ctx, a, &sp, &s) : unblock(ctx, a, &s);
	rc = audit(ctx, is_change ? "pin-change" : "pin-unblock", &s, rc);
	if (rc != P11E_OK)
		goto out;
	if (ctx->json) {
		json_object *o = json_object_new_object();
		char *label = cli_safe_text(p11e_token_get_info(s.token)->label,
					    strlen(p11e_token_get_info(s.token)->label));
		json_object_object_add(o, "token", json_object_new_string(label ? label : ""));
		json_object_object_add(o, is_change ? "changed" : "unblocked",
				       json_object_new_boolean(1));
		free(label);
		cli_print_json(o);
	} else {
		printf("token '%s': user PIN %s\n", p11e_token_get_info(s.token)->label,
		       is_change ? "changed" : "unblocked and set anew");
	}
out:
	p11e_session_close(&s);
	return rc;
}

const cli_command cmd_pin = {
    .name = "pin",
    .usage = "status|change|unblock|rotate-so URI [--new-pin-source SRC] [--so-pin-source SRC]\n"
	     "       [--officer-key KEY]",
    .summary = "the user PIN: its flags, a change, an unblock with the SO PIN",
    .help = "status   the token's PIN flags (count low, final try, locked, to be changed,\n"
	    "         protected authentication path, SO PIN flags): no PIN, no login.\n"
	    "change   logs in with the current PIN (--pin-source, the URI's pin-source,\n"
	    "         the config's pin_source, else a prompt), then sets the new one from\n"
	    "         --new-pin-source (a prompt asks twice).\n"
	    "unblock  logs in as the SO (--so-pin-source, default a prompt) and sets a new\n"
	    "         user PIN (--new-pin-source): the way out of a locked PIN (exit 4).\n"
	    "         With --officer-key, the card's escrowed SO PIN (card register) is\n"
	    "         read from the vault instead, never shown.\n"
	    "rotate-so  a registered card's SO PIN replaced by a generated one, escrowed\n"
	    "         before the card is changed (--officer-key reads the current one);\n"
	    "         it takes no --new-pin-source (exit 2): the new SO PIN is never chosen.\n"
	    "Each PIN is sent once and never retried. On a reader with a pinpad (protected\n"
	    "authentication path) and no source given, the reader asks for every PIN.\n"
	    "Changes and unblocks are recorded in the audit trail (never a PIN).",
    .opts =
	(const cli_opt[]){
	    {"new-pin-source", "SRC", "the new user PIN: env:VAR, file:PATH or prompt"},
	    {"so-pin-source", "SRC", "unblock: the SO PIN (default: prompt, or the pinpad)"},
	    {"officer-key", "KEY", "unblock, rotate-so: read the escrowed SO PIN with this key"},
	    {"officer-pin-source", "SRC", "the officer key's PIN or passphrase"},
	    {"operator", "NAME", "who does it, for the audit (default: the local user)"},
	    {"wait", "SECONDS", "wait this long for the card's lock (default 5; 0: not)"},
	    {NULL, NULL, NULL}},
    .min_pos = 2,
    .max_pos = 2,
    .run = run,
    .actions = (const char *const[]){"status", "change", "unblock", "rotate-so", NULL},
};
