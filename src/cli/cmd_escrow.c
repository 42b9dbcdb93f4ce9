/* p11enroll escrow: the escrowed PFX passwords. `show` prints one ("show me
 * my password"), `list` names the escrowed identities. Every `show` leaves an
 * audit record, and the password is printed only once that record is on
 * disk. `officer-init` makes an escrow officer for the file vault
 * (include/p11enroll/officer.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/audit.h"
#include "p11enroll/officer.h"
#include "p11enroll/record.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"

/* The config's vault type, for the audit record even when opening fails. */
static const char *config_vault_type(const p11e_config *cfg)
{
	json_object *v, *t;

	if (cfg->root != NULL && json_object_object_get_ex(cfg->root, "vault", &v) &&
	    json_object_object_get_ex(v, "type", &t) && json_object_is_type(t, json_type_string))
		return json_object_get_string(t);
	return NULL;
}

/* The vault entry of the generation asked for (0: the current one): a
 * renewal escrows each generation's password under its own name. A record
 * that says the key was made on the token has nothing escrowed. No record
 * at all is fine for the first generation: an officer's station may hold
 * only the vault. */
static p11e_rc entry_name(cli_ctx *ctx, const char *identity, int generation, char **name)
{
	p11e_record r = {0};
	p11e_err inner = {0};
	p11e_rc rc = P11E_OK;

	*name = NULL;
	if (p11e_record_load(ctx->config.store, identity, &r, &inner) != P11E_OK) {
		if (generation > 1)
			return p11e_errf(&ctx->err, P11E_NOT_FOUND,
					 "generation: no record of %.200s here to say what its "
					 "generation %d is",
					 identity, generation);
		if ((*name = strdup(identity)) == NULL)
			return p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
		return P11E_OK;
	}
	if (generation == 0)
		generation = p11e_record_generation(&r);
	rc = p11e_record_select_generation(&r, generation, &ctx->err);
	if (rc == P11E_OK && (r.key_store == NULL || strcmp(r.key_store, "token") == 0))
		rc = p11e_errf(&ctx->err, P11E_NOT_FOUND,
			       "'%.200s' has its key on the token: no password was escrowed",
			       identity);
	if (rc == P11E_OK && (*name = p11e_record_secret_name(identity, generation)) == NULL)
		rc = p11e_errf(&ctx->err, P11E_FAIL, "out of memory");
	p11e_record_clear(&r);
	return rc;
}

static p11e_rc show(cli_ctx *ctx, const cli_args *a)
{
	const char *officer_key = cli_value(a, "officer-key");
	p11e_vault_open_params p = {
	    .officer_key = officer_key,
	    .officer_pin_source = cli_value(a, "officer-pin-source"),
	    .module = ctx->module,
	};
	char *logged_key = officer_key ? strdup(officer_key) : NULL;
	const char *extra[] = {"vault",	      config_vault_type(&ctx->config),
			       "officer",     NULL,
			       "officer_key", logged_key,
			       NULL,	      NULL,
			       NULL};
	p11e_vault *v = NULL;
	unsigned char *secret = NULL;
	size_t len = 0;
	char *identity = NULL, *name = NULL;
	int generation = 0;
	p11e_err audit_err = {0};
	p11e_rc rc;

	/* A URI's query may carry a PIN (pin-value, refused later): the log
	 * gets the path part only. */
	if (logged_key != NULL && strncmp(logged_key, "pkcs11:", 7) == 0 &&
	    strchr(logged_key, '?') != NULL)
		*strchr(logged_key, '?') = '\0';
	if (a->npos != 2 || a->pos[1][0] == '\0' ||
	    (identity = p11e_record_identity(a->pos[1])) == NULL) {
		free(logged_key);
		return p11e_errf(&ctx->err, P11E_USAGE, "escrow show: give one IDENTITY");
	}
	rc = cli_generation(a, &generation, &ctx->err);
	if (rc == P11E_OK)
		rc = entry_name(ctx, identity, generation, &name);
	if (rc == P11E_OK) {
		extra[6] = "entry";
		extra[7] = name;
		rc = p11e_vault_open(&ctx->config, &p, &v, &ctx->err);
	}
	if (rc == P11E_OK) {
		extra[3] = p11e_vault_reader(v);
		if (officer_key != NULL && strcmp(p11e_vault_type(v), "file") != 0)
			fprintf(stderr,
				"p11enroll escrow: --officer-key is not used by a %s vault (its "
				"policies decide who reads)\n",
				p11e_vault_type(v));
		rc = p11e_vault_get(v, name, &secret, &len, &ctx->err);
	}
	/* The record first; without it, nothing is shown. */
	if (p11e_audit_write(&ctx->config, "escrow-show", identity, extra, rc, &ctx->err,
			     &audit_err) != P11E_OK) {
		if (rc == P11E_OK)
			rc = p11e_errf(&ctx->err, P11E_FAIL, "%s; the password was not shown",
				       audit_err.msg);
		else
			fprintf(stderr, "p11enroll escrow: %s\n", audit_err.msg);
	}
	if (rc == P11E_OK && ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "identity", json_object_new_string(identity));
		json_object_object_add(o, "password",
				       json_object_new_string_len((const char *)secret, (int)len));
		cli_print_json(o);
	} else if (rc == P11E_OK) {
		fwrite(secret, 1, len, stdout);
		fputc('\n', stdout);
	}
	if (rc == P11E_OK && (fflush(stdout) != 0 || ferror(stdout)))
		rc = p11e_errf(&ctx->err, P11E_FAIL, "cannot write to stdout");
	p11e_secret_free((char *)secret, len);
	p11e_vault_close(v);
	free(identity);
	free(name);
	free(logged_key);
	return rc;
}

static p11e_rc list(cli_ctx *ctx, const cli_args *a)
{
	p11e_vault *v = NULL;
	p11e_vault_entry *entries = NULL;
	size_t n = 0;
	p11e_rc rc;

	if (a->npos != 1)
		return p11e_errf(&ctx->err, P11E_USAGE, "escrow list takes no argument");
	rc = p11e_vault_open(&ctx->config, NULL, &v, &ctx->err);
	if (rc == P11E_OK)
		rc = p11e_vault_list_entries(v, &entries, &n, &ctx->err);
	if (rc == P11E_OK && ctx->json) {
		/* Each with what is known of it: an escrow older than the
		 * metadata, or not yet issued, has fields absent. */
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++) {
			const p11e_vault_meta *m = &entries[i].meta;
			json_object *o = json_object_new_object();
			json_object_object_add(o, "identity",
					       json_object_new_string(entries[i].name));
			if (m->created[0])
				json_object_object_add(o, "created",
						       json_object_new_string(m->created));
			if (m->not_after[0])
				json_object_object_add(o, "not_after",
						       json_object_new_string(m->not_after));
			if (m->cert_sha256[0])
				json_object_object_add(o, "cert_sha256",
						       json_object_new_string(m->cert_sha256));
			json_object_array_add(arr, o);
		}
		cli_print_json(arr);
	} else if (rc == P11E_OK) {
		for (size_t i = 0; i < n; i++)
			puts(entries[i].name);
	}
	p11e_vault_entries_free(entries, n);
	p11e_vault_close(v);
	return rc;
}

static p11e_rc officer_init(cli_ctx *ctx, const cli_args *a)
{
	const char *days = cli_value(a, "days");
	const char *pin = cli_value(a, "officer-pin-source");
	p11e_officer_init_params p = {
	    .key_uri = cli_value(a, "key-uri"),
	    .key_file = cli_value(a, "key-file"),
	    .key_type = cli_value(a, "key"),
	    .subject = cli_value(a, "subject"),
	    .ca = cli_value(a, "ca"),
	    .email = cli_value(a, "email"),
	    .name = cli_value(a, "name"),
	    .out = cli_value(a, "out"),
	    .module = ctx->module,
	    .pin_source = pin ? pin : ctx->pin_source,
	};
	p11e_officer_init_result res;
	char *end = NULL;
	p11e_rc rc;

	if (a->npos != 1)
		return p11e_errf(&ctx->err, P11E_USAGE, "escrow officer-init takes no argument");
	if (days != NULL) {
		long d = strtol(days, &end, 10);
		if (*days == '\0' || *end != '\0' || d < 1 || d > 36500)
			return p11e_errf(&ctx->err, P11E_USAGE, "days: '%.20s' is not 1 to 36500",
					 days);
		p.days = (int)d;
	}
	rc = p11e_officer_init(&ctx->config, &p, &res, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	if (ctx->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "subject", json_object_new_string(res.subject));
		json_object_object_add(o, "cert_sha256", json_object_new_string(res.sha256));
		json_object_object_add(o, "not_after", json_object_new_string(res.not_after));
		json_object_object_add(o, "officer_certs_file",
				       json_object_new_string(res.certs_file));
		json_object_object_add(o, "officer_key", json_object_new_string(res.key));
		json_object_object_add(o, "already", json_object_new_boolean(res.already));
		cli_print_json(o);
	} else {
		printf("escrow officer %s %s %s (valid until %s); read with --officer-key %s\n",
		       res.subject, res.already ? "was already in" : "added to", res.certs_file,
		       res.not_after, res.key);
	}
	return P11E_OK;
}

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	if (strcmp(a->pos[0], "show") == 0)
		return show(ctx, a);
	if (strcmp(a->pos[0], "list") == 0)
		return list(ctx, a);
	if (strcmp(a->pos[0], "officer-init") == 0)
		return officer_init(ctx, a);
	return p11e_errf(&ctx->err, P11E_USAGE,
			 "escrow: unknown action '%.40s' (show, list or officer-init)", a->pos[0]);
}

const cli_command cmd_escrow = {
    .name = "escrow",
    .usage = "show IDENTITY [--generation N] [--officer-key FILE|URI] [--officer-pin-source SRC] "
	     "| list\n"
	     "       | officer-init (--key-uri URI|--key-file PATH) [--key TYPE] [--subject DN]\n"
	     "         [--days N] [--ca CA --email ADDR [--name CN]] [--out FILE]",
    .summary = "print an escrowed PFX password, list the escrowed identities, make an officer",
    .help = "show: fetches the password of IDENTITY's PFX from the vault (the config's \"vault\")\n"
	    "and prints it alone on stdout. With the file vault it needs an escrow officer's\n"
	    "private key: a PEM or DER file (its passphrase from --officer-pin-source, else the\n"
	    "terminal) or a key on a token by PKCS#11 URI with id= or object= (its PIN from\n"
	    "--officer-pin-source, the URI's pin-source, else the terminal; never the config's\n"
	    "pin_source). Each show is recorded in the audit log (the config's audit_log, else\n"
	    "STATE_DIR/audit.jsonl) before the password is printed; if the record cannot be\n"
	    "written, nothing is shown. list: the names in the vault, one a line; with --json\n"
	    "objects {identity, created, not_after, cert_sha256}, fields unknown absent.\n"
	    "A renewed software identity has one password a generation: show gives the\n"
	    "current one's, --generation N an earlier one's (vault entry IDENTITY#N).\n"
	    "officer-init: an escrow officer for the file vault. A key pair made on the token\n"
	    "of --key-uri (object= labels it, default \"p11enroll escrow officer\"; its PIN from\n"
	    "--officer-pin-source or --pin-source, never the config's), or written to\n"
	    "--key-file PATH (PEM, 0600, unencrypted: for tests), key type --key (rsa:3072;\n"
	    "rsa or ec); its certificate with keyUsage keyEncipherment (RSA) or keyAgreement\n"
	    "(EC), CA:FALSE, self-signed (--subject, default /CN=Escrow Officer; --days,\n"
	    "730) or issued by --ca CA (profile smime-encrypt, --email required), appended\n"
	    "to the config's officer_certs_file or written to --out FILE. Audited. Run again,\n"
	    "it reuses the key it made and adds no second certificate for it.",
    .opts =
	(const cli_opt[]){
	    {"officer-key", "KEY", "show, file vault: officer key, FILE or pkcs11: URI"},
	    {"officer-pin-source", "SRC", "where the officer key's PIN or passphrase comes from"},
	    {"generation", "N", "show: an earlier generation's password"},
	    {"key-uri", "URI", "officer-init: make (or reuse) the officer key on this token"},
	    {"key-file", "PATH", "officer-init: or in this PEM file, 0600 (tests)"},
	    {"key", "TYPE", "officer-init: key type, rsa:2048..4096 or ec:P-256.. (rsa:3072)"},
	    {"subject", "DN", "officer-init: self-signed subject (/CN=Escrow Officer)"},
	    {"days", "N", "officer-init: self-signed validity in days (730)"},
	    {"ca", "CA", "officer-init: have this CA issue it (config name or local:DIR)"},
	    {"email", "ADDR", "officer-init: the officer's address (rfc822Name)"},
	    {"name", "CN", "officer-init --ca: the CN (default the address)"},
	    {"out", "FILE", "officer-init: append here, not to officer_certs_file"},
	    {NULL, NULL, NULL}},
    .min_pos = 1,
    .max_pos = 2,
    .run = run,
    .actions = (const char *const[]){"show", "list", "officer-init", NULL},
};
