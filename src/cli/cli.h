/* The command-line tool: a table of subcommands, each in its own file, with
 * options and help as data (modelled on p11-kit's tool). */
#ifndef P11ENROLL_CLI_H
#define P11ENROLL_CLI_H

#include <stddef.h>
#include <openssl/types.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"

#define CLI_MAX_POS 8

typedef struct cli_opt {
	const char *name; /* long name without "--" */
	const char *arg;  /* placeholder for its value ("URI"); NULL for a flag */
	const char *help;
} cli_opt;

typedef struct cli_command cli_command;

/* The parsed command line of one subcommand. */
typedef struct cli_args {
	const cli_command *cmd;
	const char *values[32]; /* by index: the command's options, then the common ones */
	int seen[32];
	const char *pos[CLI_MAX_POS];
	int npos;
} cli_args;

/* What every command gets: the config, loaded once, and the common options. */
typedef struct cli_ctx {
	p11e_config config;
	int json;
	const char *module;
	const char *pin_source;
	p11e_err err;
} cli_ctx;

struct cli_command {
	const char *name;
	const char *usage;   /* after "p11enroll NAME " */
	const char *summary; /* one line for the command list */
	const char *help;    /* paragraphs for NAME --help */
	const cli_opt *opts; /* terminated by {NULL} */
	int min_pos, max_pos;
	p11e_rc (*run)(cli_ctx *ctx, const cli_args *args);
	/* A command with second-level verbs (ca init, pin status...): their
	 * names, NULL-terminated; the first argument must be one of them (main.c
	 * refuses anything else before the command runs), --help lists them on
	 * an "Actions:" line, and the bash completion offers them from there. */
	const char *const *actions;
};

/* The value of option name, or NULL if not given; cli_flag for flags. */
const char *cli_value(const cli_args *a, const char *name);
int cli_flag(const cli_args *a, const char *name);

/* Prints text as a JSON document on stdout (json_object_put's it). */
struct json_object;
void cli_print_json(struct json_object *obj);
/* --version (src/cli/version.c): text, or one JSON object; returns 0. */
int cli_version(int json);

/* Text from a token or a certificate, safe to print on a terminal and to put in
 * JSON: valid UTF-8 is kept; C0/C1 controls (ESC), DEL, bidi overrides and
 * invalid bytes become \xHH or \uHHHH. malloc'd; NULL when out of memory. */
char *cli_safe_text(const char *text, size_t len);
/* A certificate name as "/O=Example/CN=Renée", values in UTF-8, made safe
 * by cli_safe_text. malloc'd; NULL on error. */
char *cli_x509_name(const X509_NAME *name);

/* Prints a failure on stderr: the line "p11enroll CMD: message" or, with --json,
 * {"error":{"code":N,"name":"...","command":"CMD","message":"..."}} on one line. */
void cli_report_error(const char *cmd, int json, p11e_rc rc, const char *msg);

/* The enrollment parameters from a command line: enroll and csr share the
 * options (an option a command does not declare reads as absent).
 * P11E_USAGE without --email. */
struct p11e_enroll_params;
p11e_rc cli_enroll_params(const cli_ctx *ctx, const cli_args *a, struct p11e_enroll_params *p,
			  p11e_err *err);

/* --wait SECONDS as the library's wait_ms (0 if not given: the default;
 * --wait 0: P11E_WAIT_NONE). P11E_USAGE for anything but 0 to 86400. */
p11e_rc cli_wait_ms(const cli_args *a, long *ms, p11e_err *err);

/* An enrollment record for status and enroll output. */
struct p11e_record;
struct json_object *cli_record_json(const struct p11e_record *r);
void cli_record_print(const struct p11e_record *r);

/* --generation N (*n 0 when not given): P11E_USAGE naming the option for
 * anything but a whole number from 1 (record_output.c). */
p11e_rc cli_generation(const cli_args *a, int *n, p11e_err *err);

extern const cli_command cmd_audit; /* cmd_audit.c */
extern const cli_command cmd_tokens, cmd_init_token, cmd_csr, cmd_ca, cmd_enroll, cmd_batch,
    cmd_status, cmd_list, cmd_escrow, cmd_export, cmd_poll, cmd_recover;
extern const cli_command cmd_forget;
extern const cli_command cmd_publish; /* cmd_publish.c */
extern const cli_command cmd_renew, cmd_revoke, cmd_replace; /* cmd_renew.c, ... */
extern const cli_command cmd_config; /* cmd_config.c */
extern const cli_command cmd_pin, cmd_wipe; /* cmd_pin.c, cmd_wipe.c */
extern const cli_command cmd_serve, cmd_invite; /* cmd_serve.c, cmd_invite.c: the portal */
extern const cli_command cmd_store; /* cmd_store.c: the state store (files or PostgreSQL) */
extern const cli_command cmd_card; /* cmd_card.c: the card registry */

#endif
