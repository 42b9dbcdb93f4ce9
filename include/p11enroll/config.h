/* The configuration: one JSON file. Lookup order: --config PATH, then
 * $P11ENROLL_CONFIG, then /etc/p11enroll/config.json; when none of those
 * exists the built-in defaults apply. An explicit file that cannot be read or
 * parsed is P11E_CONFIG naming the file and the problem; so is a key that
 * appears twice in one object, or one that is not known where it is (at the
 * top, in a profile, a CA or the vault: each backend lists its own keys),
 * named by its full path ("cas.corp.auth_key_fil").
 *
 *   {
 *     "module": "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
 *     "state_dir": "/var/lib/p11enroll",
 *     "pin_source": "prompt",
 *     "default_ca": "corp",
 *     "default_profile": "smime",
 *     "cas": { "corp": { "type": "local", "dir": "/var/lib/p11enroll/ca" } },
 *     "profiles": { "staff": { "base": "smime", "subject": "/O=Example",
 *                              "validity_days": 730, "key": "ec:P-384" } }
 *   }
 * See docs/config.md. */
#ifndef P11ENROLL_CONFIG_H
#define P11ENROLL_CONFIG_H

#include <stddef.h>
#include "p11enroll/error.h"
#include "p11enroll/profile.h"

struct json_object;
struct p11e_store;

typedef struct p11e_config {
	char *path;		  /* the file read, or NULL for built-in defaults */
	char *module;		  /* NULL: P11E_DEFAULT_MODULE */
	char *module_args;	  /* init arguments of module (p11e_session_module_args) */
	char *state_dir;	  /* never NULL after load */
	char *pin_source;	  /* NULL: "prompt" on a terminal */
	char *default_ca;	  /* never NULL after load: a CA name or "local:DIR" */
	char *default_profile;	  /* never NULL after load */
	char *kerberos_realm;	  /* "kerberos_realm": principals' default realm, or NULL */
	struct json_object *root; /* the parsed file (NULL without one) */
	struct p11e_store *store; /* where the state lives (store.h): opened by
				     load and parse, closed by clear */
} p11e_config;

/* explicit_path may be NULL. Defaults: state_dir $P11ENROLL_STATE_DIR, else
 * $XDG_STATE_HOME/p11enroll, else $HOME/.local/state/p11enroll;
 * default_ca "local:<state_dir>/ca"; default_profile "smime". */
p11e_rc p11e_config_load(const char *explicit_path, p11e_config *out, p11e_err *err);
/* The same from a buffer: text (len bytes, no NUL needed) is the file's
 * content, name stands for its path (in messages, and the directory that
 * relative paths are resolved against). */
p11e_rc p11e_config_parse(const char *name, const char *text, size_t len, p11e_config *out,
			  p11e_err *err);
void p11e_config_clear(p11e_config *c);

/* A profile by name: the config's "profiles" entry (which may name a
 * built-in "base" and override its fields), else a built-in one. */
p11e_rc p11e_config_profile(const p11e_config *c, const char *name, p11e_profile *out,
			    p11e_err *err);

/* The CA definition for spec: "local:DIR" becomes {"type":"local","dir":DIR};
 * another spec is looked up in "cas". *out is a new reference
 * (json_object_put it). P11E_CONFIG naming the CA if unknown. */
p11e_rc p11e_config_ca(const p11e_config *c, const char *spec, struct json_object **out,
		       p11e_err *err);
/* The CA for spec opened on the config's store (p11e_ca_open_in: one
 * connection for both over PostgreSQL); *out NULL on failure. */
struct p11e_ca;
p11e_rc p11e_config_open_ca(const p11e_config *c, const char *spec, struct p11e_ca **out,
			    p11e_err *err);

#endif
