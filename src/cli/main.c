/* p11enroll: dispatch to the subcommand named by argv[1]. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/util.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"

static const cli_command *const commands[] = {
    &cmd_tokens, &cmd_init_token, &cmd_enroll, &cmd_batch, &cmd_csr, &cmd_ca, &cmd_status, &cmd_poll, &cmd_list, &cmd_escrow, &cmd_export, &cmd_recover, &cmd_audit, NULL,
};

/* Options every command takes. */
static const cli_opt common_opts[] = {
    {"config", "FILE", "configuration file (else $P11ENROLL_CONFIG, /etc/p11enroll/config.json)"},
    {"module", "PATH", "PKCS#11 module (default: p11-kit-proxy, every registered module)"},
    {"module-args", "ARGS", "init arguments of the --module (NSS softokn: configdir=...)"},
    {"pin-source", "SRC", "where the PIN comes from: env:VAR, file:PATH or prompt"},
    {"json", NULL, "machine-readable output"},
    {"help", NULL, "this help"},
    {NULL, NULL, NULL},
};

static size_t count_opts(const cli_opt *o)
{
	size_t n = 0;

	while (o != NULL && o[n].name != NULL)
		n++;
	return n;
}

/* Index of option name in the command's options followed by the common ones. */
static int find_opt(const cli_command *cmd, const char *name, size_t len, const cli_opt **out)
{
	size_t own = count_opts(cmd->opts);

	for (size_t i = 0; i < own; i++)
		if (strlen(cmd->opts[i].name) == len &&
		    strncmp(cmd->opts[i].name, name, len) == 0) {
			*out = &cmd->opts[i];
			return (int)i;
		}
	for (size_t i = 0; common_opts[i].name != NULL; i++)
		if (strlen(common_opts[i].name) == len &&
		    strncmp(common_opts[i].name, name, len) == 0) {
			*out = &common_opts[i];
			return (int)(own + i);
		}
	return -1;
}

const char *cli_value(const cli_args *a, const char *name)
{
	const cli_opt *o;
	int i = find_opt(a->cmd, name, strlen(name), &o);

	return i >= 0 && a->seen[i] ? a->values[i] : NULL;
}

int cli_flag(const cli_args *a, const char *name)
{
	const cli_opt *o;
	int i = find_opt(a->cmd, name, strlen(name), &o);

	return i >= 0 && a->seen[i];
}

void cli_print_json(struct json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
}

static void print_opts(FILE *f, const cli_opt *o)
{
	for (; o != NULL && o->name != NULL; o++) {
		char left[48];
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-24s %s\n", left, o->help);
	}
}

static void command_help(FILE *f, const cli_command *cmd)
{
	fprintf(f, "usage: p11enroll %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
	if (cmd->help != NULL)
		fprintf(f, "\n%s\n", cmd->help);
	fprintf(f, "\nOptions:\n");
	print_opts(f, cmd->opts);
	print_opts(f, common_opts);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: p11enroll COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; commands[i] != NULL; i++)
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nRun `p11enroll COMMAND --help` for a command's options. "
		   "Exit codes: see p11enroll(1).\n");
}

__attribute__((format(printf, 2, 3))) static int usage_error(const cli_command *cmd,
							     const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "p11enroll %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see p11enroll %s --help)\n", cmd->name);
	return P11E_USAGE;
}

static int parse_args(const cli_command *cmd, int argc, char **argv, cli_args *a)
{
	int only_pos = 0;

	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (!only_pos && strcmp(arg, "--") == 0) {
			only_pos = 1;
		} else if (!only_pos && strncmp(arg, "--", 2) == 0) {
			const char *name = arg + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const cli_opt *o = NULL;
			int idx = find_opt(cmd, name, len, &o);
			if (idx < 0 || idx >= 32)
				return usage_error(cmd, "unknown option '%s'", arg);
			if (o->arg == NULL && eq != NULL)
				return usage_error(cmd, "option '%s' takes no value", arg);
			if (o->arg != NULL) {
				if (eq != NULL)
					a->values[idx] = eq + 1;
				else if (i + 1 < argc)
					a->values[idx] = argv[++i];
				else
					return usage_error(cmd, "option '%s' needs a value", arg);
			}
			a->seen[idx] = 1;
		} else if (!only_pos && arg[0] == '-' && arg[1] != '\0') {
			if (strcmp(arg, "-h") == 0) {
				a->seen[count_opts(cmd->opts) + 4] = 1; /* --help */
				continue;
			}
			return usage_error(cmd, "unknown option '%s'", arg);
		} else {
			if (a->npos >= cmd->max_pos || a->npos >= CLI_MAX_POS)
				return usage_error(cmd, "unexpected argument '%s'", arg);
			a->pos[a->npos++] = arg;
		}
	}
	return P11E_OK;
}

int main(int argc, char **argv)
{
	const cli_command *cmd = NULL;
	cli_args args;
	cli_ctx ctx;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return P11E_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return P11E_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("p11enroll %s\n", P11ENROLL_VERSION);
		return P11E_OK;
	}
	for (size_t i = 0; commands[i] != NULL; i++)
		if (strcmp(argv[1], commands[i]->name) == 0)
			cmd = commands[i];
	if (cmd == NULL) {
		fprintf(stderr, "p11enroll: unknown command '%s' (see p11enroll --help)\n",
			argv[1]);
		return P11E_USAGE;
	}
	rc = parse_args(cmd, argc - 2, argv + 2, &args);
	if (rc != P11E_OK)
		return rc;
	if (cli_flag(&args, "help")) {
		command_help(stdout, cmd);
		return P11E_OK;
	}
	if (args.npos < cmd->min_pos)
		return usage_error(cmd, "%s", "missing arguments");

	memset(&ctx, 0, sizeof(ctx));
	/* Before anything touches a secret: no core dumps, secure heap. */
	if ((rc = p11e_process_harden(&ctx.err)) != P11E_OK) {
		fprintf(stderr, "p11enroll: %s\n", ctx.err.msg);
		return (int)rc;
	}
	ctx.json = cli_flag(&args, "json");
	ctx.module = cli_value(&args, "module");
	ctx.pin_source = cli_value(&args, "pin-source");
	rc = p11e_config_load(cli_value(&args, "config"), &ctx.config, &ctx.err);
	if (rc == P11E_OK)
		rc = p11e_session_module_options(&ctx.config, ctx.module,
						 cli_value(&args, "module-args"), &ctx.err);
	if (rc == P11E_OK)
		rc = cmd->run(&ctx, &args);
	if (rc != P11E_OK && ctx.err.msg[0] != '\0')
		fprintf(stderr, "p11enroll %s: %s\n", cmd->name, ctx.err.msg);
	p11e_config_clear(&ctx.config);
	return rc;
}
