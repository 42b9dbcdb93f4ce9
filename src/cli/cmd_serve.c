/* p11enroll serve: the self-service portal (include/p11enroll/portal.h,
 * docs/portal.md), in the foreground for systemd, logging to stderr.
 * SIGTERM, SIGINT and SIGHUP are taken by sigtimedwait in this thread (no
 * handler, no global state): SIGTERM and SIGINT stop it (the workers finish
 * the requests they run, then exit 0); SIGHUP, and every few seconds a look
 * at the files, reload the TLS certificate and key and client_cas. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include "cli.h"
#include "p11enroll/portal.h"

/* How often the TLS files and client_cas are looked at (stat only). */
#define SERVE_RELOAD_CHECK_SECONDS 2

/* A reload on SIGHUP (force) or when the files changed: one line either
 * way when something happened; a failure keeps the old state. */
static void reload(p11e_portal *portal, int force)
{
	p11e_err err = {0};
	int reloaded = 0;

	if (p11e_portal_reload(portal, force, &reloaded, &err) != P11E_OK)
		fprintf(
		    stderr,
		    "p11enroll serve: reload failed, still serving the previous TLS certificate, "
		    "key and client CAs: %s\n",
		    err.msg);
	else if (reloaded)
		fprintf(stderr,
			"p11enroll serve: reloaded the TLS certificate, key and client CAs (%s)\n",
			force ? "SIGHUP" : "the files changed");
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_portal_conf conf;
	p11e_portal *portal = NULL;
	sigset_t wait_set, block_set;
	p11e_rc rc;
	int sig = 0;

	rc = p11e_portal_conf_load(&ctx->config, cli_value(a, "listen"), &conf, &ctx->err);
	if (rc != P11E_OK)
		goto out;
	if (conf.officer_key != NULL && strncmp(conf.officer_key, "pkcs11:", 7) != 0)
		fprintf(stderr, "p11enroll serve: warning: portal.officer_key is a key file; "
				"keep the officer key on a token outside tests and small sites\n");
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGTERM);
	sigaddset(&wait_set, SIGINT);
	sigaddset(&wait_set, SIGHUP);
	block_set = wait_set;
	/* A client that hangs up mid-answer gives EPIPE, not death. */
	sigaddset(&block_set, SIGPIPE);
	/* Before any thread exists, so every worker inherits the mask. */
	pthread_sigmask(SIG_BLOCK, &block_set, NULL);
	if ((rc = p11e_portal_start(&ctx->config, &conf, &portal, &ctx->err)) != P11E_OK)
		goto out;
	fprintf(stderr, "p11enroll serve: listening on https://%s/ (%d workers)\n",
		p11e_portal_address(portal), conf.workers);
	for (;;) {
		struct timespec period = {SERVE_RELOAD_CHECK_SECONDS, 0};

		sig = sigtimedwait(&wait_set, NULL, &period);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP || (sig < 0 && errno == EAGAIN))
			reload(portal, sig == SIGHUP);
	}
	fprintf(stderr, "p11enroll serve: %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	p11e_portal_stop(portal);
	fprintf(stderr, "p11enroll serve: stopped\n");
out:
	p11e_portal_conf_clear(&conf);
	return rc;
}

const cli_command cmd_serve = {
    .name = "serve",
    .usage = "[--listen ADDR:PORT]",
    .summary = "run the self-service portal (HTTPS) in the foreground",
    .help = "Serves the portal of the config's \"portal\" section (docs/portal.md): users\n"
	    "signed in by their client certificate or an invitation code (`invite`) see\n"
	    "their identity, download its certificate and PFX and reveal the PFX password;\n"
	    "every download and reveal is audited first. Logs to stderr; SIGTERM or SIGINT\n"
	    "stops it (exit 0). SIGHUP reloads the TLS certificate and key and client_cas,\n"
	    "as does a change of those files (looked at every 2 s, taken once they stand\n"
	    "still for one look); a failed reload keeps the previous ones and logs one line.",
    .opts = (const cli_opt[]){{"listen", "ADDR:PORT", "instead of portal.listen (port 0: any)"},
			      {NULL, NULL, NULL}},
    .min_pos = 0,
    .max_pos = 0,
    .run = run,
};
