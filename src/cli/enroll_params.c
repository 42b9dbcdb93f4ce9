/* The options enroll and csr share, turned into pipeline parameters once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "p11enroll/pipeline.h"

p11e_rc cli_enroll_params(const cli_ctx *ctx, const cli_args *a, p11e_enroll_params *p,
			  p11e_err *err)
{
	memset(p, 0, sizeof(*p));
	p->token_uri = a->npos > 0 ? a->pos[0] : NULL;
	p->email = cli_value(a, "email");
	p->dns = cli_value(a, "dns");
	p->name = cli_value(a, "name");
	p->upn = cli_value(a, "upn");
	p->principal = cli_value(a, "principal");
	p->sid = cli_value(a, "sid");
	p->profile = cli_value(a, "profile");
	p->key_type = cli_value(a, "key");
	p->ca = cli_value(a, "ca");
	p->label = cli_value(a, "label");
	p->id_hex = cli_value(a, "id");
	p->slot_id_hex = cli_value(a, "slot-id");
	p->replace = cli_flag(a, "replace");
	p->digest = cli_value(a, "digest");
	p->rsa_pss = cli_flag(a, "rsa-pss");
	p->module = ctx->module;
	p->pin_source = ctx->pin_source;
	p->software = cli_flag(a, "software");
	p->pfx_legacy = cli_flag(a, "pfx-legacy");
	p->archive = cli_flag(a, "archive");
	p->pfx_out = cli_value(a, "out");
	p->officer_key = cli_value(a, "officer-key");
	p->officer_pin_source = cli_value(a, "officer-pin-source");
	if (cli_wait_ms(a, &p->wait_ms, err) != P11E_OK)
		return P11E_USAGE;
	if (p->email == NULL && p->dns == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "email: --email (a person) or --dns (a server) is required");
	if (cli_value(a, "piv-slot") != NULL) {
		if (p->slot_id_hex != NULL)
			return p11e_errf(err, P11E_USAGE,
					 "piv-slot: --slot-id and --piv-slot both name the slot; "
					 "give one");
		p->slot_id_hex = p11e_piv_slot_id(cli_value(a, "piv-slot"));
		if (p->slot_id_hex == NULL)
			return p11e_errf(
			    err, P11E_USAGE,
			    "piv-slot: '%.10s' is not a PIV slot (9a, 9c, 9d, 9e, 82 to "
			    "95)",
			    cli_value(a, "piv-slot"));
	}
	if (p->slot_id_hex != NULL && p->id_hex != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "slot-id: --id and a slot (--slot-id, --piv-slot) both name the "
				 "key's CKA_ID; give one");
	if (p->replace && p->slot_id_hex == NULL)
		return p11e_errf(
		    err, P11E_USAGE,
		    "replace: --replace is for a key slot: give --slot-id or --piv-slot "
		    "(or a profile with slot_id)");
	if (p->software && p->archive)
		return p11e_errf(err, P11E_USAGE,
				 "archive: --archive puts the software key onto the token as well: "
				 "give the token's URI instead of --software");
	if (p->software && p->token_uri != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "software: a software key uses no token: give no token URI");
	/* Without a URI the key store must be software (--software, or the
	 * profile's key_store): the pipeline settles that, once the profile is
	 * known. A server's certificate is a TLS server's unless another profile is named. */
	if (p->dns != NULL && p->profile == NULL)
		p->profile = "tls-server";
	return P11E_OK;
}

p11e_rc cli_wait_ms(const cli_args *a, long *ms, p11e_err *err)
{
	const char *text = cli_value(a, "wait");
	char *end = NULL;
	long seconds;

	*ms = 0; /* the library's default */
	if (text == NULL)
		return P11E_OK;
	errno = 0;
	seconds = strtol(text, &end, 10);
	/* A day is longer than any enrollment waits for another. */
	if (errno != 0 || end == text || *end != '\0' || seconds < 0 || seconds > 86400)
		return p11e_errf(err, P11E_USAGE,
				 "wait: '%.20s' is not a number of seconds from 0 to 86400", text);
	*ms = seconds == 0 ? P11E_WAIT_NONE : seconds * 1000;
	return P11E_OK;
}
