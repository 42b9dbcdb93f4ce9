/* The helpdesk notification (docs/cards.md, Notification): once a move that
 * takes a card out of service (suspend, lost, damaged, terminate) is saved
 * and audited, the config's
 *
 *   "cards": {"notify_command": ["/usr/local/bin/ticket", "--queue", "cards"],
 *             "notify_timeout_seconds": 30}
 *
 * is run (src/core/hook.c: no shell, its argv as the config gives it, a
 * clean environment, stdin /dev/null, killed at the timeout). What happened
 * goes into the environment only, never onto the command line, so a reason a
 * user typed is never parsed as an argument; no secret is in it (the card's
 * SO PIN is never read here). The move stands whatever the command does: a
 * failure is a warning on stderr and an audit line "card-notify". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "core/card_int.h"
#include "core/hook.h"
#include "p11enroll/audit.h"
#include "p11enroll/sbuf.h"

#define NOTIFY_TIMEOUT_DEFAULT 30
#define NOTIFY_TIMEOUT_MAX 3600
#define NOTIFY_ARGS_MAX 64

p11e_rc card_notify_config_check(const char *file, const char *key, json_object *val, p11e_err *err)
{
	size_t n;

	if (strcmp(key, "notify_timeout_seconds") == 0) {
		if (!json_object_is_type(val, json_type_int) || json_object_get_int64(val) < 1 ||
		    json_object_get_int64(val) > NOTIFY_TIMEOUT_MAX)
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: cards.notify_timeout_seconds: a whole number "
					 "of seconds from 1 to %d",
					 file, NOTIFY_TIMEOUT_MAX);
		return P11E_OK;
	}
	if (!json_object_is_type(val, json_type_array) ||
	    (n = json_object_array_length(val)) == 0 || n > NOTIFY_ARGS_MAX)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: cards.notify_command: a list of 1 to %d strings, the "
				 "program's absolute path first (no shell string)",
				 file, NOTIFY_ARGS_MAX);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(val, i);
		if (!json_object_is_type(e, json_type_string))
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: cards.notify_command[%zu]: must be a string",
					 file, i);
	}
	if (json_object_get_string(json_object_array_get_idx(val, 0))[0] != '/')
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: cards.notify_command[0]: the program's absolute path "
				 "(it is run without a shell and without PATH lookup)",
				 file);
	return P11E_OK;
}

/* The moves the helpdesk hears of: the card leaves service. */
static int out_of_service(int to)
{
	return to == P11E_CARD_SUSPENDED || to == P11E_CARD_LOST || to == P11E_CARD_DAMAGED ||
	       to == P11E_CARD_TERMINATED;
}

/* "NAME=value" with every control character of value made a space: a
 * reason typed by a user stays one line for any script that reads it. */
static char *env_line(const char *name, const char *value)
{
	char *e = p11e_hook_env(name, value);

	for (char *c = e != NULL ? strchr(e, '=') : NULL; c != NULL && *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	return e;
}

/* The identities whose keys went onto the card, space-separated, each once
 * (the records' token_serial, as `card show` lists them). */
static char *identities_on(const p11e_config *cfg, const char *serial)
{
	json_object *gens = NULL;
	p11e_sbuf b = {0};
	p11e_err err = {0};

	p11e_sbuf_str(&b, "");
	if (p11e_card_generations(cfg, serial, &gens, &err) == P11E_OK) {
		size_t n = json_object_array_length(gens);
		for (size_t i = 0; i < n; i++) {
			const char *id = card_str(json_object_array_get_idx(gens, i), "identity");
			int seen = 0;
			for (size_t k = 0; k < i && !seen; k++)
				seen = strcmp(id, card_str(json_object_array_get_idx(gens, k),
							   "identity")) == 0;
			if (seen || id[0] == '\0')
				continue;
			if (b.len > 0)
				p11e_sbuf_str(&b, " ");
			p11e_sbuf_str(&b, id);
		}
	}
	json_object_put(gens);
	if (b.failed) {
		p11e_sbuf_free(&b);
		return NULL;
	}
	return b.p;
}

static void notify_failed(const p11e_config *cfg, const char *serial, const char *move,
			  const char *program, const p11e_err *why)
{
	const char *extra[] = {"serial", serial, "move", move, "command", program, NULL};
	p11e_err aerr = {0};

	fprintf(stderr,
		"p11enroll: warning: card %s: the move %s stands, but cards.notify_command "
		"failed: %s (tell the helpdesk yourself)\n",
		serial, move, why->msg);
	if (p11e_audit_write(cfg, "card-notify", NULL, extra, why->rc, why, &aerr) != P11E_OK)
		fprintf(stderr, "p11enroll: warning: audit log: %s\n", aerr.msg);
}

void card_notify(const p11e_config *cfg, const char *serial, const char *move, int from, int to,
		 const char *op, const char *reason)
{
	json_object *cards, *cmd, *t;
	char *argv[NOTIFY_ARGS_MAX + 1] = {0}, *env[10] = {0}, *holders = NULL;
	int timeout = NOTIFY_TIMEOUT_DEFAULT, status = -1, timed_out = 0;
	size_t n, ne = 0;
	p11e_err err = {0};

	if (!out_of_service(to) || cfg == NULL || cfg->root == NULL ||
	    !json_object_object_get_ex(cfg->root, "cards", &cards) ||
	    !json_object_object_get_ex(cards, "notify_command", &cmd) ||
	    !json_object_is_type(cmd, json_type_array) ||
	    (n = json_object_array_length(cmd)) == 0 || n > NOTIFY_ARGS_MAX)
		return;
	if (json_object_object_get_ex(cards, "notify_timeout_seconds", &t))
		timeout = json_object_get_int(t);
	for (size_t i = 0; i < n; i++)
		argv[i] = (char *)json_object_get_string(json_object_array_get_idx(cmd, i));
	holders = identities_on(cfg, serial);
	env[ne++] = strdup(P11E_HOOK_PATH);
	env[ne++] = env_line("P11E_CARD_SERIAL", serial);
	env[ne++] = env_line("P11E_CARD_MOVE", move);
	env[ne++] = env_line("P11E_CARD_FROM", p11e_card_state_name(from));
	env[ne++] = env_line("P11E_CARD_TO", p11e_card_state_name(to));
	env[ne++] = env_line("P11E_CARD_OPERATOR", op);
	env[ne++] = env_line("P11E_CARD_REASON", reason);
	env[ne++] = env_line("P11E_CARD_IDENTITIES", holders);
	for (size_t i = 0; i < ne; i++)
		if (env[i] == NULL) {
			p11e_errf(&err, P11E_FAIL, "out of memory");
			notify_failed(cfg, serial, move, argv[0], &err);
			goto out;
		}
	if (p11e_hook_spawn("cards.notify_command", argv, env, timeout, &status, &timed_out,
			    &err) != P11E_OK) {
		notify_failed(cfg, serial, move, argv[0], &err);
	} else if (timed_out) {
		p11e_errf(&err, P11E_FAIL, "%s did not end within %d s: killed", argv[0], timeout);
		notify_failed(cfg, serial, move, argv[0], &err);
	} else if (status != 0) {
		p11e_errf(&err, P11E_FAIL, "%s exited with status %d", argv[0], status);
		notify_failed(cfg, serial, move, argv[0], &err);
	}
out:
	for (size_t i = 0; i < ne; i++)
		free(env[i]);
	free(holders);
}
