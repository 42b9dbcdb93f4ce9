/* The options enroll and csr share, turned into pipeline parameters once. */
#include <string.h>
#include "cli.h"
#include "p11enroll/pipeline.h"

p11e_rc cli_enroll_params(const cli_ctx *ctx, const cli_args *a, p11e_enroll_params *p,
			  p11e_err *err)
{
	memset(p, 0, sizeof(*p));
	p->token_uri = a->pos[0];
	p->email = cli_value(a, "email");
	p->dns = cli_value(a, "dns");
	p->name = cli_value(a, "name");
	p->profile = cli_value(a, "profile");
	p->key_type = cli_value(a, "key");
	p->ca = cli_value(a, "ca");
	p->label = cli_value(a, "label");
	p->id_hex = cli_value(a, "id");
	p->digest = cli_value(a, "digest");
	p->rsa_pss = cli_flag(a, "rsa-pss");
	p->module = ctx->module;
	p->pin_source = ctx->pin_source;
	if (p->email == NULL && p->dns == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "email: --email (a person) or --dns (a server) is required");
	/* A server's certificate is a TLS server's unless another profile is named. */
	if (p->dns != NULL && p->profile == NULL)
		p->profile = "tls-server";
	return P11E_OK;
}
