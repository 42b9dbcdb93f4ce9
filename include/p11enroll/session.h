/* A logged-in token session as the commands need it: module chosen, token
 * selected by URI, PIN read from its source, login done once. */
#ifndef P11ENROLL_SESSION_H
#define P11ENROLL_SESSION_H

#include "p11enroll/config.h"
#include "p11enroll/token.h"
#include "p11enroll/uri.h"

typedef struct p11e_session_params {
	const char *uri;	/* the token's PKCS#11 URI (required) */
	const char *module;	/* --module; NULL: URI module-path, config, default */
	const char *pin_source; /* --pin-source; NULL: URI pin-source, config, prompt */
	int login;		/* 0: open without logging in */
} p11e_session_params;

typedef struct p11e_session {
	p11e_uri uri;
	p11e_module *module;
	p11e_token *token;
} p11e_session;

/* The module is, in order: the URI's module-path, params->module, the
 * config's "module", p11-kit-proxy. The PIN source is, in order:
 * params->pin_source, the URI's pin-source, the config's "pin_source",
 * "prompt". A token with a protected authentication path and no explicit PIN
 * source logs in on its pinpad. */
p11e_rc p11e_session_open(const p11e_config *cfg, const p11e_session_params *p, p11e_session *s,
			  p11e_err *err);
/* The login of p11e_session_open, for a session opened without one (the
 * PIN verbs open first, then log in): PIN source chosen as above, exactly
 * one C_Login. */
p11e_rc p11e_session_login(const p11e_config *cfg, const p11e_session_params *p, p11e_session *s,
			   p11e_err *err);
/* Tells the user on stderr to enter `what` ("the PIN", "the SO PIN") on the
 * reader's pinpad: once, just before the call that makes the reader ask. */
void p11e_session_pinpad_note(const p11e_session *s, const char *what);
/* Picks the module the same way, for commands that need no token. */
const char *p11e_session_module_path(const p11e_config *cfg, const p11e_uri *uri,
				     const char *module);
/* The init arguments for the module at path: the config's module_args,
 * which belong to the config's module (cfg->module) and to no other; NULL
 * for none. */
const char *p11e_session_module_args(const p11e_config *cfg, const char *path);
/* The command line over the config, once after loading it: --module-args
 * (module_args, may be NULL) replaces the config's module_args and, with
 * --module (module, may be NULL), names that module as the one they belong
 * to. Checks the arguments (P11E_USAGE for --module-args, P11E_CONFIG for
 * the config's; with no module for them to go to, too). */
p11e_rc p11e_session_module_options(p11e_config *cfg, const char *module, const char *module_args,
				    p11e_err *err);
void p11e_session_close(p11e_session *s);

#endif
