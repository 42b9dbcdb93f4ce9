/* Module, token and login in the order every command wants them. */
#include <stdlib.h>
#include <string.h>
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

static p11e_rc login(const p11e_config *cfg, const p11e_session_params *p, p11e_session *s,
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
	if (info->protected_auth_path && source == NULL)
		return p11e_token_login(s->token, NULL, err);
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
	p11e_rc rc;

	memset(s, 0, sizeof(*s));
	if (p->uri == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "token: a PKCS#11 URI is required, e.g. pkcs11:token=NAME");
	rc = p11e_uri_parse(p->uri, &s->uri, err);
	if (rc != P11E_OK)
		goto out;
	rc = p11e_module_load(p11e_session_module_path(cfg, &s->uri, p->module), &s->module, err);
	if (rc != P11E_OK)
		goto out;
	rc = p11e_token_open(s->module, &s->uri, &s->token, err);
	if (rc != P11E_OK)
		goto out;
	if (p->login)
		rc = login(cfg, p, s, err);
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
