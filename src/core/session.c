/* Module, token and login in the order every command wants them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/secret.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"

const char *p11e_session_module_path(const p11e_config *cfg, const p11e_uri *uri,
				     const char *module)
{
	if (uri != NULL && uri->module_path != NULL)
		return uri->module_path;
	if (module != NULL)
		return module;
	if (cfg != NULL && cfg->module != NULL)
		return cfg->module;
	return P11E_DEFAULT_MODULE;
}

const char *p11e_session_module_args(const p11e_config *cfg, const char *path)
{
	if (cfg == NULL || cfg->module_args == NULL || cfg->module == NULL || path == NULL)
		return NULL;
	return strcmp(path, cfg->module) == 0 ? cfg->module_args : NULL;
}

static p11e_rc replace(char **field, const char *value, p11e_err *err)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	free(*field);
	*field = copy;
	return P11E_OK;
}

p11e_rc p11e_session_module_options(p11e_config *cfg, const char *module, const char *module_args,
				    p11e_err *err)
{
	p11e_err inner = {0};
	json_object *v;
	p11e_rc rc;

	if (module_args != NULL) {
		if ((rc = p11e_module_args_check("--module-args", module_args, err)) != P11E_OK)
			return rc;
		if (module == NULL && cfg->module == NULL)
			return p11e_errf(err, P11E_USAGE,
					 "--module-args: give --module PATH (or the config's "
					 "module) for them to go to");
		if ((rc = replace(&cfg->module_args, module_args, err)) != P11E_OK ||
		    (module != NULL && (rc = replace(&cfg->module, module, err)) != P11E_OK))
			return rc;
		return P11E_OK;
	}
	if (cfg->module_args == NULL)
		return P11E_OK;
	if (cfg->module == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: module_args needs \"module\" (the module they are "
				 "for)",
				 cfg->path);
	/* The file's string may hold a \u0000 that C's copy cut short. */
	if (cfg->root != NULL && json_object_object_get_ex(cfg->root, "module_args", &v) &&
	    (size_t)json_object_get_string_len(v) != strlen(cfg->module_args))
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: module_args holds a NUL character; give the module's "
				 "arguments as one line of printable text",
				 cfg->path);
	if (p11e_module_args_check("module_args", cfg->module_args, &inner) != P11E_OK)
		return p11e_errf(err, P11E_CONFIG, "config %s: %s", cfg->path, inner.msg);
	return P11E_OK;
}

static const char *pin_source(const p11e_config *cfg, const p11e_uri *uri, const char *given)
{
	if (given != NULL)
		return given;
	if (uri->pin_source != NULL)
		return uri->pin_source;
	if (cfg != NULL && cfg->pin_source != NULL)
		return cfg->pin_source;
	return NULL;
}

void p11e_session_pinpad_note(const p11e_session *s, const char *what)
{
	char label[33];
	size_t i;

	/* A token's label is the token's word: nothing but printable ASCII
	 * reaches the terminal. */
	snprintf(label, sizeof(label), "%s", p11e_token_get_info(s->token)->label);
	for (i = 0; label[i] != '\0'; i++)
		if (label[i] < 0x20 || label[i] > 0x7e)
			label[i] = '?';
	fprintf(stderr, "p11enroll: enter %s of token '%s' on the reader's pinpad\n", what, label);
}

p11e_rc p11e_session_login(const p11e_config *cfg, const p11e_session_params *p, p11e_session *s,
			   p11e_err *err)
{
	const p11e_token_info *info = p11e_token_get_info(s->token);
	const char *source = pin_source(cfg, &s->uri, p->pin_source);
	char *pin = NULL;
	char what[80];
	p11e_rc rc;

	if (!info->login_required)
		return P11E_OK;
	/* A pinpad reader asks the holder itself: no PIN passes through us. */
	if (info->protected_auth_path && source == NULL) {
		p11e_session_pinpad_note(s, "the PIN");
		return p11e_token_login(s->token, NULL, err);
	}
	snprintf(what, sizeof(what), "user PIN for token '%s'", info->label);
	rc = p11e_secret_read(source != NULL ? source : "prompt", what, &pin, err);
	if (rc != P11E_OK)
		return rc;
	rc = p11e_token_login(s->token, pin, err);
	p11e_secret_free(pin, (size_t)-1);
	return rc;
}

p11e_rc p11e_session_open(const p11e_config *cfg, const p11e_session_params *p, p11e_session *s,
			  p11e_err *err)
{
	const char *path;
	p11e_rc rc;

	memset(s, 0, sizeof(*s));
	if (p->uri == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "token: a PKCS#11 URI is required, e.g. pkcs11:token=NAME");
	rc = p11e_uri_parse(p->uri, &s->uri, err);
	if (rc != P11E_OK)
		goto out;
	path = p11e_session_module_path(cfg, &s->uri, p->module);
	rc = p11e_module_load_for(path, p11e_session_module_args(cfg, path), s->uri.module_name,
				  &s->module, err);
	if (rc != P11E_OK)
		goto out;
	rc = p11e_token_open(s->module, &s->uri, &s->token, err);
	if (rc != P11E_OK)
		goto out;
	if (p->login)
		rc = p11e_session_login(cfg, p, s, err);
out:
	if (rc != P11E_OK)
		p11e_session_close(s);
	return rc;
}

void p11e_session_close(p11e_session *s)
{
	if (s->token != NULL)
		p11e_token_close(s->token);
	if (s->module != NULL)
		p11e_module_free(s->module);
	p11e_uri_clear(&s->uri);
	memset(s, 0, sizeof(*s));
}
