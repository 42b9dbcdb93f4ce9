/* p11enroll init-token: the first step of personalising a blank card. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "p11enroll/card.h"
#include "p11enroll/secret.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"

/* The new user PIN comes from where every other command reads the PIN (the
 * same order as session.c): --pin-source, the URI's pin-source, the config's
 * "pin_source", else a prompt. */
static const char *new_pin_source(const cli_ctx *ctx, const p11e_uri *uri)
{
	if (ctx->pin_source != NULL)
		return ctx->pin_source;
	if (uri->pin_source != NULL)
		return uri->pin_source;
	if (ctx->config.pin_source != NULL)
		return ctx->config.pin_source;
	return "prompt";
}

/* The card just initialised into the registry, in stock, its SO PIN as
 * given (not escrowed: `card register` with --so-pin-source does that).
 * The module was unloaded first: the registry opens its own. */
static p11e_rc register_card(cli_ctx *ctx, const p11e_uri *uri, const char *label,
			     const char *module)
{
	char *token_uri =
	    p11e_uri_format(label, uri->manufacturer, uri->serial, uri->model, NULL, 0, NULL);
	p11e_card_register_params p = {.uri = token_uri,
				       .module = module,
				       .personalise = 0,
				       .reason = "initialised by init-token"};
	p11e_card_register_result res;
	p11e_rc rc;

	if (token_uri == NULL)
		return p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
	rc = p11e_card_register(&ctx->config, &p, &res, &ctx->err);
	/* The token is initialised whatever happens here: a registry that
	 * could not take it is a warning with what to run, not a failure. */
	if (rc != P11E_OK)
		fprintf(stderr,
			"p11enroll init-token: the token is not registered as a card (%s); run "
			"p11enroll card register %s --no-personalise\n",
			ctx->err.msg, token_uri);
	free(token_uri);
	return P11E_OK;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	const char *label = cli_value(a, "label");
	p11e_uri uri = {0};
	p11e_module *m = NULL;
	char *so_pin = NULL, *pin = NULL;
	p11e_rc rc;

	if (label == NULL || label[0] == '\0' || strlen(label) > 32)
		return p11e_errf(&ctx->err, P11E_USAGE,
				 "label: give --label with 1 to 32 characters");
	rc = p11e_uri_parse(a->pos[0], &uri, &ctx->err);
	if (rc != P11E_OK)
		goto out;
	rc = p11e_secret_read(cli_value(a, "so-pin-source") ? cli_value(a, "so-pin-source")
							    : "prompt",
			      "SO PIN", &so_pin, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_secret_read(new_pin_source(ctx, &uri), "new user PIN", &pin, &ctx->err);
	if (rc == P11E_OK) {
		const char *path = p11e_session_module_path(&ctx->config, &uri, ctx->module);
		rc = p11e_module_load_args(path, p11e_session_module_args(&ctx->config, path), &m,
					   &ctx->err);
	}
	if (rc == P11E_OK)
		rc = p11e_token_init(m, &uri, label, so_pin, pin, &ctx->err);
	if (rc != P11E_OK)
		goto out;
	p11e_module_free(m);
	m = NULL;
	if (!cli_flag(a, "no-register"))
		register_card(ctx, &uri, label,
			      p11e_session_module_path(&ctx->config, &uri, ctx->module));
	if (ctx->json) {
		printf("{ \"initialized\": true }\n");
	} else {
		char *token_uri = p11e_uri_format(label, NULL, NULL, NULL, NULL, 0, NULL);
		printf("token initialised: %s\n", token_uri ? token_uri : label);
		free(token_uri);
	}
out:
	p11e_secret_free(so_pin, (size_t)-1);
	p11e_secret_free(pin, (size_t)-1);
	if (m != NULL)
		p11e_module_free(m);
	p11e_uri_clear(&uri);
	return rc;
}

const cli_command cmd_init_token = {
    .name = "init-token",
    .usage = "URI --label LABEL [--so-pin-source SRC] [--pin-source SRC]",
    .summary = "initialise a blank token: label, SO PIN, then the user PIN",
    .help = "Selects the one uninitialised token matching URI (serial, manufacturer, model;\n"
	    "a blank token has no label yet). An initialised token is never wiped.\n"
	    "Both PINs come from sources (env:VAR, file:PATH, prompt), never from arguments:\n"
	    "the user PIN from --pin-source, else the URI's pin-source, else the config's\n"
	    "pin_source, else a prompt. The token is then registered as a card in stock\n"
	    "(p11enroll card list), its SO PIN not escrowed (card register does that).",
    .opts =
	(const cli_opt[]){{"label", "LABEL", "the new token label (1 to 32 characters)"},
			  {"so-pin-source", "SRC", "where the SO PIN comes from (default: prompt)"},
			  {"no-register", NULL, "do not record it in the card registry"},
			  {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 1,
    .run = run,
};
