/* p11enroll enroll: the whole pipeline for one identity (see pipeline.h). */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "cli.h"
#include "p11enroll/software.h"
#include "p11enroll/pipeline.h"

static p11e_rc run(cli_ctx *ctx, const cli_args *a)
{
	p11e_enroll_params p;
	p11e_record rec;
	p11e_rc rc;

	rc = cli_enroll_params(ctx, a, &p, &ctx->err);
	if (rc != P11E_OK)
		return rc;
	rc = p11e_enroll(&ctx->config, &p, &rec, &ctx->err);
	if (rc == P11E_OK || rc == P11E_PENDING) {
		if (ctx->json) {
			cli_print_json(cli_record_json(&rec));
		} else if (rc == P11E_OK && rec.key_store != NULL &&
			   strcmp(rec.key_store, "archived") == 0) {
			printf("enrolled %s: key %s (%s) archived in %s (PKCS#12, its password "
			       "escrowed in the vault) and imported onto token serial %s with "
			       "certificate %s, valid until %s\n",
			       rec.identity, rec.key_id, rec.key_type, rec.pfx_path,
			       rec.token_serial ? rec.token_serial : "?", rec.cert_sha256,
			       rec.not_after);
		} else if (rc == P11E_OK && p11e_soft_pfx_stored(rec.pfx_path)) {
			/* In the store, for any station: export writes it out. */
			printf("enrolled %s: software key %s (%s) and certificate %s in a "
			       "PKCS#12 file (%s) kept in the store: `p11enroll export %s --out "
			       "FILE.p12` writes it out (its password is escrowed in the vault), "
			       "valid until %s\n",
			       rec.identity, rec.key_id, rec.key_type, rec.cert_sha256,
			       rec.pfx_format ? rec.pfx_format : "aes-256", rec.identity,
			       rec.not_after);
		} else if (rc == P11E_OK && rec.pfx_path != NULL) {
			/* Never the password: `p11enroll escrow show` hands it out. */
			printf("enrolled %s: software key %s (%s) and certificate %s in %s "
			       "(PKCS#12, %s; its password is escrowed in the vault), valid "
			       "until %s\n",
			       rec.identity, rec.key_id, rec.key_type, rec.cert_sha256,
			       rec.pfx_path, rec.pfx_format ? rec.pfx_format : "aes-256",
			       rec.not_after);
		} else if (rc == P11E_OK) {
			printf("enrolled %s: key %s (%s) and certificate %s on token serial %s, "
			       "valid until %s\n",
			       rec.identity, rec.key_id, rec.key_type, rec.cert_sha256,
			       rec.token_serial ? rec.token_serial : "?", rec.not_after);
		}
	}
	p11e_record_clear(&rec);
	return rc;
}

const cli_command cmd_enroll = {
    .name = "enroll",
    .usage = "(URI [--archive] | --software [--out FILE] [--pfx-legacy]) (--email EMAIL | --dns "
	     "HOST) "
	     "[--name NAME] [--profile P] [--key TYPE] [--ca CA] [OPTIONS]",
    .summary = "generate a key on the token (or in a PKCS#12 file), get it certified, write the "
	       "certificate back",
    .help = "Runs, or resumes, the enrollment of one identity: key pair generated on the token\n"
	    "(sensitive, never extractable), CSR signed on the token, issued by the CA,\n"
	    "certificate and chain written to the token under the key's CKA_ID. Every step is\n"
	    "recorded in the state dir: rerun the same command after any failure to resume.\n"
	    "One run of an identity at a time: another waits (--wait), then exits 12. While\n"
	    "nothing exists yet (step new, or a key generation that made nothing), a rerun\n"
	    "with other options starts over; else `p11enroll forget` discards the record.\n"
	    "Without --name the CN is the identity, or if longer than 64 characters the\n"
	    "address's local part (a host name's first label).\n"
	    "Key types: rsa:2048 rsa:3072 rsa:4096 ec:P-256 ec:P-384 ec:P-521 ed25519.\n"
	    "CA: a name from the config, or local:DIR for an embedded CA.\n"
	    "\n"
	    "With --software (or a profile whose key_store is \"software\") there is no token:\n"
	    "the key is made in memory and delivered with its certificate and chain in a\n"
	    "PKCS#12 file (--out, default STATE_DIR/pfx/IDENTITY.p12, 0600): AES-256 with\n"
	    "PBKDF2-HMAC-SHA256 and a SHA-256 MAC, or with --pfx-legacy 3DES and SHA-1 for\n"
	    "older Windows and macOS. Its password is generated and escrowed in the\n"
	    "configured vault, never printed (`p11enroll escrow show` hands it out). Until\n"
	    "the PFX exists the key waits in the state dir encrypted under that password, so\n"
	    "a rerun after a failure reads the password back from the vault: with the file\n"
	    "vault, give --officer-key.\n"
	    "\n"
	    "With URI --archive (encryption profiles: smime-encrypt, smime) the key is made in\n"
	    "software as with --software, its PFX kept in the state dir as the escrow copy,\n"
	    "then imported onto the token (sensitive, not extractable) with its certificate\n"
	    "under the same CKA_ID. `p11enroll recover` puts it onto another token.",
    .opts =
	(const cli_opt[]){
	    {"email", "EMAIL", "the address: rfc822Name SAN and the record's key"},
	    {"dns", "HOST",
	     "a server instead: dNSName SAN and the record's key (profile tls-server)"},
	    {"name", "NAME", "subject common name, UTF-8, at most 64 characters"},
	    {"upn", "UPN",
	     "logon: the user principal name (UPN otherName), e.g. alice@example.com"},
	    {"principal", "NAME@REALM",
	     "logon: the Kerberos principal (id-pkinit-san; default NAME@kerberos_realm)"},
	    {"sid", "SID", "logon: the account's SID S-1-5-... (the SID extension)"},
	    {"profile", "P",
	     "smime, smime-sign, smime-encrypt, client-auth, tls-server, smartcard-logon, kdc "
	     "or a config profile"},
	    {"key", "TYPE", "key type (default: the profile's)"},
	    {"ca", "CA", "a CA from the config, or local:DIR"},
	    {"label", "LABEL",
	     "CKA_LABEL (default: the email); software: the PFX's friendly name (default: the "
	     "name)"},
	    {"id", "HEX", "CKA_ID (default: SHA-1 of the public key)"},
	    {"slot-id", "HEX", "a card's key slot: the key goes under this CKA_ID"},
	    {"piv-slot", "SLOT", "a PIV slot: 9a, 9c, 9d, 9e, 82..95 (CKA_ID 01 to 18 hex)"},
	    {"replace", NULL, "replace the key and certificate in an occupied slot"},
	    {"digest", "MD", "CSR digest: sha256 (default), sha384, sha512"},
	    {"rsa-pss", NULL, "sign the CSR with RSASSA-PSS"},
	    {"software", NULL, "make the key in software and deliver a PKCS#12 file; no URI"},
	    {"archive", NULL,
	     "encryption key: made in software, escrowed as a PKCS#12 file, imported onto the "
	     "token"},
	    {"out", "FILE", "software: where the PKCS#12 goes (default STATE_DIR/pfx/)"},
	    {"pfx-legacy", NULL, "software: 3DES and a SHA-1 MAC instead of AES-256/SHA-256"},
	    {"officer-key", "KEY",
	     "software, resuming with the file vault: an escrow officer's key, FILE or pkcs11: "
	     "URI"},
	    {"officer-pin-source", "SRC", "where the officer key's PIN or passphrase comes from"},
	    {"wait", "SECONDS",
	     "wait this long while another run enrolls the identity (default 5; 0: not), then "
	     "exit 12"},
	    {NULL, NULL, NULL}},
    .min_pos = 0,
    .max_pos = 1,
    .run = run,
};
