/* p11enroll: dispatch to the subcommand named by argv[1]. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/util.h"
#include "p11enroll/session.h"

static const cli_command *const commands[] = {
    &cmd_tokens, &cmd_init_token, &cmd_enroll, &cmd_batch,  &cmd_csr,	 &cmd_ca,
    &cmd_status, &cmd_poll,	  &cmd_list,   &cmd_escrow, &cmd_export, &cmd_recover,
    &cmd_forget, &cmd_audit,	  &cmd_config, &cmd_pin,    &cmd_wipe,	 &cmd_publish, &cmd_renew, &cmd_revoke, &cmd_replace, &cmd_serve, &cmd_invite, &cmd_store, &cmd_card, NULL,
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

/* The actions as "init, cert, revoke or crl", for a message. */
static void action_list(const cli_command *cmd, char *out, size_t cap)
{
	size_t n = 0, len = 0;

	out[0] = '\0';
	while (cmd->actions != NULL && cmd->actions[n] != NULL)
		n++;
	for (size_t i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s",
					i == 0	     ? ""
					: i == n - 1 ? " or "
						     : ", ",
					cmd->actions[i]);
}

static int known_action(const cli_command *cmd, const char *word)
{
	for (size_t i = 0; cmd->actions[i] != NULL; i++)
		if (strcmp(cmd->actions[i], word) == 0)
			return 1;
	return 0;
}

static void command_help(FILE *f, const cli_command *cmd)
{
	fprintf(f, "usage: p11enroll %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
	if (cmd->actions != NULL) {
		fprintf(f, "\nActions:");
		for (size_t i = 0; cmd->actions[i] != NULL; i++)
			fprintf(f, " %s", cmd->actions[i]);
		fprintf(f, "\n");
	}
	if (cmd->help != NULL)
		fprintf(f, "\n%s\n", cmd->help);
	fprintf(f, "\nOptions:\n");
	print_opts(f, cmd->opts);
	print_opts(f, common_opts);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: p11enroll [GLOBAL OPTIONS] COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; commands[i] != NULL; i++)
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nGlobal options (before or after the command):\n");
	print_opts(f, common_opts);
	fprintf(f, "\nRun `p11enroll COMMAND --help` for a command's options. "
		   "Exit codes: see p11enroll(1).\n");
}

/* The code's name; 128 + a signal (130, 143: a run a signal stopped, the
 * shell's convention) by the signal's name, which p11e_rc_name cannot know. */
static const char *exit_name(p11e_rc rc)
{
	switch ((int)rc) {
	case 128 + SIGINT:
		return "sigint";
	case 128 + SIGTERM:
		return "sigterm";
	case 128 + SIGHUP:
		return "sighup";
	case 128 + SIGQUIT:
		return "sigquit";
	default:
		return p11e_rc_name(rc);
	}
}

void cli_report_error(const char *cmd, int json, p11e_rc rc, const char *msg)
{
	/* A message may quote a peer's or a file's words: no terminal escapes. */
	char *safe = cli_safe_text(msg, strlen(msg));
	const char *text = safe != NULL ? safe : "(out of memory)";

	if (json) {
		/* On stderr, one line, in place of the plain one: stdout holds only
		 * the command's own document, which a batch or poll report still is
		 * when the run fails, so a script never gets two documents there. */
		json_object *e = json_object_new_object(), *doc = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_int((int)rc));
		json_object_object_add(e, "name", json_object_new_string(exit_name(rc)));
		if (cmd != NULL)
			json_object_object_add(e, "command", json_object_new_string(cmd));
		json_object_object_add(e, "message", json_object_new_string(text));
		json_object_object_add(doc, "error", e);
		fprintf(stderr, "%s\n",
			json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(doc);
	} else {
		fprintf(stderr, "p11enroll%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", text);
	}
	free(safe);
}

__attribute__((format(printf, 3, 4))) static p11e_rc
usage_error(const cli_command *cmd, p11e_err *err, const char *fmt, ...)
{
	char what[P11E_ERR_MAX - 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return p11e_errf(err, P11E_USAGE, "%s (see p11enroll %s --help)", what, cmd->name);
}

static p11e_rc parse_args(const cli_command *cmd, int argc, char **argv, cli_args *a, p11e_err *err)
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
				return usage_error(cmd, err, "unknown option '%.100s'", arg);
			if (o->arg == NULL && eq != NULL)
				return usage_error(cmd, err, "option '%.100s' takes no value", arg);
			if (o->arg != NULL) {
				if (eq != NULL)
					a->values[idx] = eq + 1;
				else if (i + 1 < argc)
					a->values[idx] = argv[++i];
				else
					return usage_error(cmd, err,
							   "option '%.100s' needs a value", arg);
			}
			a->seen[idx] = 1;
		} else if (!only_pos && arg[0] == '-' && arg[1] != '\0') {
			if (strcmp(arg, "-h") == 0) {
				const cli_opt *help = NULL;
				a->seen[find_opt(cmd, "help", 4, &help)] = 1;
				continue;
			}
			return usage_error(cmd, err, "unknown option '%.100s'", arg);
		} else {
			if (a->npos >= cmd->max_pos || a->npos >= CLI_MAX_POS)
				return usage_error(cmd, err, "unexpected argument '%.100s'", arg);
			a->pos[a->npos++] = arg;
		}
	}
	return P11E_OK;
}

/* Whether --json is among args (up to a "--"): a usage error is then reported
 * as JSON too, though the command line did not parse. */
static int wants_json(int argc, char **argv)
{
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			return 1;
	return 0;
}

/* The global options, which may also come before the command as git and curl
 * users type them (`p11enroll --config FILE enroll ...`). Returns the index of
 * the command word in argv (argc when there is none), or -1 with err set.
 * Nothing is copied: parse_args reads argv[1..index-1] with the command's own
 * arguments, so a global option means the same wherever it stands. */
static int skip_global_opts(int argc, char **argv, p11e_err *err)
{
	static const char *const with_value[] = {"config", "module", "module-args", "pin-source"};
	int i = 1;

	while (i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '\0') {
		const char *name = argv[i] + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);
		int known = 0;

		if (len == 4 && strncmp(name, "json", 4) == 0 && eq == NULL) {
			i++;
			continue;
		}
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			known |=
			    strlen(with_value[k]) == len && strncmp(with_value[k], name, len) == 0;
		if (!known) {
			p11e_errf(err, P11E_USAGE,
				  "unknown option '%.100s' before the command (there: --config, "
				  "--module, --module-args, --pin-source, --json; see p11enroll "
				  "--help)",
				  argv[i]);
			return -1;
		}
		if (eq == NULL && i + 1 >= argc) {
			p11e_errf(err, P11E_USAGE, "option '%.100s' needs a value", argv[i]);
			return -1;
		}
		i += eq != NULL ? 1 : 2;
	}
	return i;
}

int main(int argc, char **argv)
{
	const cli_command *cmd = NULL;
	char **cmd_argv = NULL;
	int verb, cmd_argc, json;
	cli_args args;
	cli_ctx ctx;
	p11e_rc rc;

	memset(&ctx, 0, sizeof(ctx));
	/* Before anything touches a secret: no core dumps, secure heap. */
	if ((rc = p11e_process_harden(&ctx.err)) != P11E_OK) {
		fprintf(stderr, "p11enroll: %s\n", ctx.err.msg);
		return (int)rc;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "help") == 0)) {
		usage(stdout);
		return P11E_OK;
	}
	json = wants_json(argc - 1, argv + 1);
	if ((argc >= 2 && strcmp(argv[1], "--version") == 0) ||
	    (argc >= 3 && json && strcmp(argv[2], "--version") == 0))
		return cli_version(json);
	verb = skip_global_opts(argc, argv, &ctx.err);
	if (verb < 0) {
		cli_report_error(NULL, json, ctx.err.rc, ctx.err.msg);
		return ctx.err.rc;
	}
	if (verb >= argc) {
		usage(stderr);
		return P11E_USAGE;
	}
	for (size_t i = 0; commands[i] != NULL; i++)
		if (strcmp(argv[verb], commands[i]->name) == 0)
			cmd = commands[i];
	if (cmd == NULL) {
		p11e_errf(&ctx.err, P11E_USAGE, "unknown command '%.100s' (see p11enroll --help)",
			  argv[verb]);
		cli_report_error(NULL, json, ctx.err.rc, ctx.err.msg);
		return P11E_USAGE;
	}
	/* The global options before the command, then the command's arguments. */
	cmd_argc = argc - 2;
	cmd_argv = malloc(((size_t)argc + 1) * sizeof(*cmd_argv));
	if (cmd_argv == NULL) {
		cli_report_error(cmd->name, json, P11E_FAIL, "out of memory");
		return P11E_FAIL;
	}
	memcpy(cmd_argv, argv + 1, (size_t)(verb - 1) * sizeof(*cmd_argv));
	memcpy(cmd_argv + verb - 1, argv + verb + 1, (size_t)(argc - verb - 1) * sizeof(*cmd_argv));
	rc = parse_args(cmd, cmd_argc, cmd_argv, &args, &ctx.err);
	if (rc != P11E_OK) {
		cli_report_error(cmd->name, json, rc, ctx.err.msg);
		goto out;
	}
	if (cli_flag(&args, "help")) {
		command_help(stdout, cmd);
		goto out;
	}
	if (args.npos < cmd->min_pos) {
		rc = usage_error(cmd, &ctx.err, "%s", "missing arguments");
		cli_report_error(cmd->name, json, rc, ctx.err.msg);
		goto out;
	}
	if (cmd->actions != NULL && args.npos > 0 && !known_action(cmd, args.pos[0])) {
		char list[200];
		action_list(cmd, list, sizeof(list));
		rc = usage_error(cmd, &ctx.err, "unknown action '%.40s' (%s)", args.pos[0], list);
		cli_report_error(cmd->name, json, rc, ctx.err.msg);
		goto out;
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
	/* An empty message: the command said it all itself (a pending request's
	 * record, a batch's rows), on stdout as JSON with --json. */
	if (rc != P11E_OK && ctx.err.msg[0] != '\0')
		cli_report_error(cmd->name, ctx.json, rc, ctx.err.msg);
	p11e_config_clear(&ctx.config);
out:
	free(cmd_argv);
	return rc;
}
