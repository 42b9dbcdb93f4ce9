/* Before anything is made for an identity (include/p11enroll/pipeline.h):
 * every parameter checked, the record loaded or created, and the parameters
 * of a record for which nothing exists yet replaced by the ones given, so a
 * failed first attempt can be started over by rerunning with others.
 * Starting over ends where the first thing exists: the key on the token
 * (key-pending with a key under temp_id or key_id, and every later step) or
 * a software key's escrowed password (software key-pending); from there a
 * rerun must agree with the record, or `p11enroll forget` discards it. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/pipeline_logon.h"
#include "core/pipeline_prepare.h"
#include "p11enroll/software.h"
#include "p11enroll/util.h"
#include "p11enroll/validate.h"

/* A rerun may omit the options, but must not contradict what the record was
 * started with. */
static p11e_rc check_same(const char *field, const char *given, const char *recorded,
			  const char *identity, p11e_err *err)
{
	if (given == NULL || recorded == NULL || strcmp(given, recorded) == 0)
		return P11E_OK;
	return p11e_errf(err, P11E_EXISTS,
			 "%s: identity %s was started with '%s', not '%s'; rerun without --%s to "
			 "resume, or discard it with 'p11enroll forget %s' to start over",
			 field, identity, recorded, given, field, identity);
}

/* A profile names a person by address or a server by host: refuse the other
 * kind of identity before any key exists. */
static p11e_rc check_identity_kind(const p11e_profile *prof, const p11e_record *rec, p11e_err *err)
{
	int smime = (prof->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT)) != 0;

	if (smime && rec->dns_name != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "email: profile '%s' certifies an address; enroll with --email, "
				 "not --dns",
				 prof->name);
	if ((prof->purposes & P11E_PURPOSE_SERVER_AUTH) && rec->dns_name == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "dns: profile '%s' certifies a server; enroll with --dns HOST",
				 prof->name);
	return P11E_OK;
}

/* The key store: a new record takes --software or the profile's key_store;
 * a resumed one keeps what it was started with. A software key has no token
 * and gets its PFX path (absolute) and format recorded; until its first step
 * is done (nothing made yet) a rerun may still change them. */
static p11e_rc settle_key_store(enroll_run *r, int is_new, p11e_err *err)
{
	const p11e_enroll_params *p = r->p;
	p11e_record *rec = r->rec;
	int settled = !is_new && rec->step > P11E_STEP_NEW;
	char *out = NULL;
	p11e_rc rc = P11E_OK;

	if (is_new) {
		int soft_profile = strcmp(r->profile.key_store, "software") == 0;
		r->archived = p->archive && !soft_profile;
		r->software = p->software || soft_profile || r->archived;
	} else {
		r->archived = rec->key_store != NULL && strcmp(rec->key_store, "archived") == 0;
		r->software = r->archived ||
			      (rec->key_store != NULL && strcmp(rec->key_store, "software") == 0);
	}
	if (p->archive && !r->archived)
		return p11e_errf(
		    err, is_new ? P11E_USAGE : P11E_EXISTS,
		    is_new ? "archive: profile '%s' makes software keys; --archive is "
			     "for a key that goes onto a token"
			   : "archive: identity %s was started without --archive; rerun "
			     "without it to resume, or 'p11enroll forget' it to start over",
		    is_new ? r->profile.name : rec->identity);
	if (r->archived) {
		if (p->software)
			return p11e_errf(err, is_new ? P11E_USAGE : P11E_EXISTS,
					 "software: identity %s is archived onto a token "
					 "(--archive); give no --software",
					 rec->identity);
		/* Escrowing a signing key would let others sign as its holder:
		 * only an encryption key is archived. */
		if (!(r->profile.purposes & P11E_PURPOSE_ENCRYPT))
			return p11e_errf(err, P11E_USAGE,
					 "archive: profile '%s' certifies no encryption; only "
					 "encryption keys are archived (smime-encrypt or smime)",
					 r->profile.name);
		if (is_new && rec->token_uri == NULL)
			return p11e_errf(err, P11E_USAGE,
					 "archive: give the token's URI (pkcs11:token=...) the key "
					 "goes onto");
	}
	if (!r->software) {
		if (!is_new && p->software)
			return p11e_errf(err, P11E_EXISTS,
					 "software: identity %s was started with its key on the "
					 "token; rerun without --software to resume, or 'p11enroll "
					 "forget' it to start over",
					 rec->identity);
		if (p->pfx_out != NULL || p->pfx_legacy)
			return p11e_errf(err, P11E_USAGE,
					 "%s: only for a software key (--software, or a profile "
					 "with key_store \"software\")",
					 p->pfx_out != NULL ? "out" : "pfx-legacy");
		if (is_new && rec->token_uri == NULL)
			return p11e_errf(err, P11E_USAGE,
					 "token: give the token's URI (pkcs11:token=...), or "
					 "--software for a key delivered as a PKCS#12 file");
		return P11E_OK;
	}
	if (is_new && !r->archived && p->token_uri == NULL &&
	    (p11e_record_set(&rec->token_uri, NULL, err) != P11E_OK ||
	     p11e_record_set(&rec->token_serial, NULL, err) != P11E_OK))
		return P11E_FAIL; /* started over from a token key: no token now */
	if (p->token_uri != NULL && !r->archived)
		return p11e_errf(err, P11E_USAGE,
				 "software: identity %s gets a software key (profile '%s'): give "
				 "no token URI",
				 rec->identity, r->profile.name);
	if (p->id_hex != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "id: a software or archived key's CKA_ID is the SHA-1 of its "
				 "public key; give no --id");
	if (settled && p->pfx_legacy &&
	    (rec->pfx_format == NULL || strcmp(rec->pfx_format, "legacy") != 0))
		return check_same("pfx-legacy", "legacy",
				  rec->pfx_format ? rec->pfx_format : "aes-256", rec->identity,
				  err);
	if (!is_new && p->pfx_out == NULL && (settled || !p->pfx_legacy))
		return P11E_OK;
	/* The PFX: a document of the store, or the file --out names (an
	 * absolute path, so a rerun from elsewhere finds it). */
	if (p->pfx_out == NULL && rec->pfx_path != NULL) {
		out = strdup(rec->pfx_path);
	} else if (p->pfx_out == NULL) {
		/* Each generation its own document in the store (a renewal keeps
		 * the old PFX), for every station of the store to hand out. */
		char *name = p11e_record_secret_name(rec->identity, p11e_record_generation(rec));
		out = name != NULL ? p11e_soft_pfx_default(name) : NULL;
		free(name);
	} else if (p->pfx_out[0] == '\0') {
		return p11e_errf(err, P11E_USAGE, "out: an empty file name");
	} else if (p->pfx_out[0] == '/') {
		out = strdup(p->pfx_out);
	} else {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return p11e_errf(err, P11E_FAIL, "out: cannot resolve %s: %s", p->pfx_out,
					 strerror(errno));
		out = p11e_path_join(cwd, p->pfx_out);
	}
	if (out == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if (settled) {
		rc = check_same("out", out, rec->pfx_path, rec->identity, err);
	} else if ((rc = p11e_record_set(&rec->key_store, r->archived ? "archived" : "software",
					 err)) == P11E_OK &&
		   (rc = p11e_record_set(&rec->pfx_path, out, err)) == P11E_OK &&
		   (p->pfx_legacy || rec->pfx_format == NULL)) {
		rc = p11e_record_set(&rec->pfx_format, p->pfx_legacy ? "legacy" : "aes-256", err);
	}
	/* The PFX's friendly name: --label, else the name, else the email (an
	 * archived key keeps the token path's label, the email). */
	if (rc == P11E_OK && is_new && p->label == NULL && !r->archived)
		rc = p11e_record_set(&rec->label, rec->name, err);
	free(out);
	return rc;
}

p11e_rc pipe_check_params(const p11e_config *cfg, const p11e_enroll_params *p, char **identity,
			  p11e_err *err)
{
	p11e_profile prof;
	p11e_keytype kt;
	p11e_rc rc;

	*identity = NULL;
	if (p->id_hex != NULL) {
		p11e_id ignored;
		rc = pipe_parse_id(p->id_hex, &ignored, "id", err);
		if (rc != P11E_OK)
			return rc;
	}
	if (p->slot_id_hex != NULL) {
		p11e_id ignored;
		rc = pipe_parse_id(p->slot_id_hex, &ignored, "slot-id", err);
		if (rc != P11E_OK)
			return rc;
		if (p->software)
			return p11e_errf(err, P11E_USAGE,
					 "slot-id: a software key goes into no token slot");
	}
	/* One identity: a person by address, or a server by host name. */
	if (p->dns != NULL && p->email != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "dns: give --email for a person or --dns for a server, not both");
	if (p->dns != NULL && !p11e_dns_name_valid(p->dns))
		return p11e_errf(err, P11E_USAGE,
				 "dns: '%.100s' is not a host name like www.example.org (labels of "
				 "at most 63 characters, at most 253 in all)",
				 p->dns);
	if (p->dns == NULL && (p->email == NULL || !p11e_email_valid(p->email)))
		return p11e_errf(
		    err, P11E_USAGE,
		    "email: '%.100s' is not a valid address (ASCII, a local part of at "
		    "most 64 characters, at most 254 in all)",
		    p->email != NULL ? p->email : "");
	if (p->name != NULL && (rc = p11e_name_check(p->name, "name", err)) != P11E_OK)
		return rc;
	if ((p->upn != NULL && (rc = p11e_upn_check(p->upn, "upn", err)) != P11E_OK) ||
	    (p->sid != NULL && (rc = p11e_sid_check(p->sid, "sid", err)) != P11E_OK))
		return rc;
	if (p->principal != NULL) {
		char *canonical = NULL;
		if ((rc = p11e_principal_canonical(p->principal, "principal", &canonical, err)) !=
		    P11E_OK)
			return rc;
		free(canonical);
	}
	if (p->key_type != NULL && (rc = p11e_keytype_parse(p->key_type, &kt, err)) != P11E_OK)
		return rc;
	if (p->profile != NULL &&
	    (rc = p11e_config_profile(cfg, p->profile, &prof, err)) != P11E_OK)
		return rc;
	*identity = p11e_record_identity(p->dns != NULL ? p->dns : p->email);
	return *identity != NULL ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
}

static int is_software(const p11e_record *rec)
{
	return rec->key_store != NULL &&
	       (strcmp(rec->key_store, "software") == 0 || strcmp(rec->key_store, "archived") == 0);
}

/* Whether a given parameter differs from the recorded one. */
static int differs(const char *given, const char *recorded)
{
	return given != NULL && (recorded == NULL || strcmp(given, recorded) != 0);
}

/* Whether the parameters given ask for something else than the record has
 * for what starting over would change (the key and where it lives). */
static int asks_other_key(const p11e_enroll_params *p, const p11e_record *rec)
{
	p11e_keytype kt;

	if (p->key_type != NULL && (p11e_keytype_parse(p->key_type, &kt, NULL) != P11E_OK ||
				    differs(kt.name, rec->key_type)))
		return 1;
	return differs(p->profile, rec->profile) || differs(p->label, rec->label) ||
	       differs(p->token_uri, rec->token_uri) || p->software || p->archive ||
	       (p->id_hex != NULL && differs(p->id_hex, rec->key_id));
}

/* Nothing exists yet for rec (step new): the parameters given replace the
 * recorded ones. *new_store: the key store is to be settled anew. */
static p11e_rc start_over(enroll_run *r, int *new_store, p11e_err *err)
{
	const p11e_enroll_params *p = r->p;
	p11e_record *rec = r->rec;
	p11e_rc rc = P11E_OK;

	*new_store = 0;
	if (differs(p->profile, rec->profile)) {
		rc = p11e_record_set(&rec->profile, p->profile, err);
		/* The key type came from the old profile, or with it. */
		if (rc == P11E_OK)
			rc = p11e_record_set(&rec->key_type, NULL, err);
		*new_store = 1;
	}
	if (rc == P11E_OK && p->key_type != NULL)
		rc = p11e_record_set(&rec->key_type, NULL, err); /* settled from p */
	if (rc == P11E_OK && p->label != NULL)
		rc = p11e_record_set(&rec->label, p->label, err);
	if (rc == P11E_OK && differs(p->token_uri, rec->token_uri)) {
		rc = p11e_record_set(&rec->token_uri, p->token_uri, err);
		if (rc == P11E_OK)
			rc = p11e_record_set(&rec->token_serial, NULL, err);
		*new_store = 1;
	}
	if (p->software || p->archive)
		*new_store = 1;
	if (rc == P11E_OK && *new_store) {
		if (p11e_record_set(&rec->key_store, NULL, err) != P11E_OK ||
		    p11e_record_set(&rec->pfx_format, NULL, err) != P11E_OK ||
		    p11e_record_set(&rec->pfx_path, NULL, err) != P11E_OK)
			rc = P11E_FAIL;
	}
	/* Nothing chose an ID yet at new; a leftover one would be reused. */
	if (rc == P11E_OK && p->id_hex != NULL)
		rc = p11e_record_set(&rec->key_id, NULL, err);
	if (rc == P11E_OK)
		rc = p11e_record_set(&rec->temp_id, NULL, err);
	return rc;
}

/* The logon identities given (checked by pipe_check_params) into the
 * record: until the CSR is built they may change (a renewal starts a new
 * CSR, so a renamed user gets the new UPN); after, a rerun must agree. */
static p11e_rc settle_logon_ids(const p11e_enroll_params *p, p11e_record *rec, p11e_err *err)
{
	char *principal = NULL;
	p11e_rc rc = P11E_OK;

	if (p->principal != NULL &&
	    (rc = p11e_principal_canonical(p->principal, "principal", &principal, err)) != P11E_OK)
		return rc;
	if (rec->step < P11E_STEP_CSR_BUILT) {
		if (p->upn != NULL)
			rc = p11e_record_set(&rec->upn, p->upn, err);
		if (rc == P11E_OK && principal != NULL)
			rc = p11e_record_set(&rec->principal, principal, err);
		if (rc == P11E_OK && p->sid != NULL)
			rc = p11e_record_set(&rec->sid, p->sid, err);
	} else if ((rc = check_same("upn", p->upn, rec->upn, rec->identity, err)) == P11E_OK &&
		   (rc = check_same("principal", principal, rec->principal, rec->identity, err)) ==
		       P11E_OK) {
		rc = check_same("sid", p->sid, rec->sid, rec->identity, err);
	}
	free(principal);
	return rc;
}

/* A wiped identity's record before its next generation starts (the caller
 * then keeps only the history and the number): the wiped generation joins
 * the history if it had a certificate, removed from the token and "retired"
 * unless it was revoked, so status and revoke still reach it; a generation
 * a renewal was replacing when the wipe came is retired too. Anything made
 * for the wiped generation uses up its number (an archived key's escrowed
 * password is named by it), certificate or not. */
static p11e_rc keep_wiped_history(p11e_record *rec, p11e_err *err)
{
	p11e_generation *g = NULL;
	int next = p11e_record_generation(rec) + (rec->step > P11E_STEP_NEW);
	p11e_rc rc = P11E_OK;

	if (rec->cert_pem != NULL) {
		rc = p11e_record_push_generation(rec, &g, err);
		if (rc == P11E_OK)
			rc = p11e_record_set(&g->on_token, "removed", err);
	}
	for (size_t i = 0; rc == P11E_OK && i < rec->n_history; i++)
		if (strcmp(rec->history[i].state, "current") == 0)
			rc = p11e_record_set(&rec->history[i].state, "retired", err);
	rec->generation = next;
	return rc;
}

p11e_rc pipe_load_record(enroll_run *r, const char *identity, int *new_store, int *check_token,
			 p11e_err *err)
{
	const p11e_enroll_params *p = r->p;
	p11e_record *rec = r->rec;
	p11e_generation *hist = NULL;
	size_t nhist = 0;
	int gen = 0;
	char *cn = NULL, *email = NULL;
	p11e_rc rc;

	*check_token = 0;
	*new_store = 0;
	rc = p11e_record_load(r->cfg->store, identity, rec, err);
	r->created = rc == P11E_NOT_FOUND;
	/* A wiped identity (`p11enroll wipe`) starts afresh, on any token, as
	 * its next generation: the record keeps its history (the wiped
	 * generation in it, removed from the token), and the rest is replaced
	 * at the first save. One being wiped is not resumed: the wipe finishes
	 * first. */
	if (rc == P11E_OK && rec->retired != NULL) {
		if (strcmp(rec->retired, "retired") != 0)
			return p11e_errf(err, P11E_EXISTS,
					 "identity %s is being wiped from its token (record "
					 "'%s'): rerun p11enroll wipe to finish, then enroll",
					 identity, rec->retired);
		rc = keep_wiped_history(rec, err);
		hist = rec->history;
		nhist = rec->n_history;
		gen = rec->generation;
		rec->history = NULL;
		rec->n_history = 0;
		p11e_record_clear(rec);
		if (rc != P11E_OK) {
			memset(rec, 0, sizeof(*rec));
			rec->history = hist;
			rec->n_history = nhist;
			return rc;
		}
		rc = P11E_NOT_FOUND;
	}
	if (rc == P11E_NOT_FOUND) {
		rc = P11E_OK;
		memset(rec, 0, sizeof(*rec));
		rec->step = P11E_STEP_NEW;
		/* The address keeps the case of its local part as given
		 * (RFC 5321); the identity, the record's key, is lower-cased. */
		email = p->dns == NULL ? p11e_email_canonical(p->email) : NULL;
		cn = p->name != NULL ? NULL : p11e_default_cn(email ? email : identity);
		if ((p->name == NULL && cn == NULL) || (p->dns == NULL && email == NULL) ||
		    p11e_record_set(&rec->identity, identity, err) != P11E_OK ||
		    p11e_record_set(&rec->email, email, err) != P11E_OK ||
		    p11e_record_set(&rec->name, p->name ? p->name : cn, err) != P11E_OK ||
		    p11e_record_set(&rec->profile,
				    p->profile ? p->profile : r->cfg->default_profile,
				    err) != P11E_OK ||
		    p11e_record_set(&rec->ca, p->ca ? p->ca : r->cfg->default_ca, err) != P11E_OK ||
		    p11e_record_set(&rec->label, p->label ? p->label : identity, err) != P11E_OK ||
		    p11e_record_set(&rec->token_uri, p->token_uri, err) != P11E_OK ||
		    (p->dns != NULL && p11e_record_set(&rec->dns_name, identity, err) != P11E_OK))
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
		*new_store = 1;
		free(cn);
		free(email);
		/* The wiped identity's generations, and its number after them. */
		rec->history = hist;
		rec->n_history = nhist;
		rec->generation = gen;
		return rc == P11E_OK ? settle_logon_ids(p, rec, err) : rc;
	}
	if (rc != P11E_OK)
		return rc;
	r->persisted = 1;
	/* The CN is only used in the CSR: until it is built, --name may change. */
	if (rec->step < P11E_STEP_CSR_BUILT) {
		if (p->name != NULL)
			rc = p11e_record_set(&rec->name, p->name, err);
		else
			rc = p11e_name_check(rec->name, "name (recorded; give --name)", err);
		if (rc != P11E_OK)
			return rc;
	}
	if ((rc = settle_logon_ids(p, rec, err)) != P11E_OK)
		return rc;
	if (rec->step == P11E_STEP_NEW)
		return start_over(r, new_store, err);
	/* A token key may not have been made yet at key-pending: only the
	 * token can tell (pipe_nothing_made), so the caller asks it first. */
	if (rec->step == P11E_STEP_KEY_PENDING && !is_software(rec) && asks_other_key(p, rec))
		*check_token = 1;
	return P11E_OK;
}

p11e_rc pipe_nothing_made(enroll_run *r, int *nothing, p11e_err *err)
{
	p11e_id id;
	size_t priv = 0, pub = 0;
	p11e_rc rc;
	const char *ids[2] = {r->rec->temp_id, r->rec->key_id};

	*nothing = 1;
	for (int i = 0; i < 2 && *nothing; i++) {
		if (ids[i] == NULL)
			continue;
		rc = pipe_parse_id(ids[i], &id, "record temp_id", err);
		if (rc == P11E_OK)
			rc = pipe_count_key(r, &id, &priv, &pub, err);
		if (rc != P11E_OK)
			return rc;
		*nothing = priv + pub == 0;
	}
	return P11E_OK;
}

p11e_rc pipe_restart(enroll_run *r, int *new_store, p11e_err *err)
{
	r->rec->step = P11E_STEP_NEW;
	if (p11e_record_set(&r->rec->temp_id, NULL, err) != P11E_OK ||
	    p11e_record_set(&r->rec->key_id, NULL, err) != P11E_OK)
		return P11E_FAIL;
	return start_over(r, new_store, err);
}

/* Settles profile, key store and key type for the loaded or created record,
 * refusing what contradicts it. */
p11e_rc pipe_settle(enroll_run *r, int new_store, p11e_err *err)
{
	const p11e_enroll_params *p = r->p;
	p11e_record *rec = r->rec;
	p11e_keytype given_kt;
	const char *identity = rec->identity;
	int new_key_type;
	p11e_rc rc;

	rc = check_same("profile", p->profile, rec->profile, identity, err);
	/* Until the CA has seen the request, the CA may still change (the
	 * CSR may have been made with `p11enroll csr` for a web form). */
	if (rc == P11E_OK && p->ca != NULL && rec->step < P11E_STEP_SUBMITTED)
		rc = p11e_record_set(&rec->ca, p->ca, err);
	else if (rc == P11E_OK)
		rc = check_same("ca", p->ca, rec->ca, identity, err);
	if (rc == P11E_OK)
		rc = check_same("label", p->label, rec->label, identity, err);
	if (rc == P11E_OK && rec->step >= P11E_STEP_CSR_BUILT)
		rc = check_same("name", p->name, rec->name, identity, err);
	if (rc == P11E_OK && p->id_hex != NULL && rec->key_id != NULL) {
		p11e_id a, b;
		if (pipe_parse_id(p->id_hex, &a, "id", err) != P11E_OK ||
		    pipe_parse_id(rec->key_id, &b, "record key_id", err) != P11E_OK ||
		    a.len != b.len || memcmp(a.v, b.v, a.len) != 0)
			rc = check_same("id", p->id_hex, rec->key_id, identity, err);
	}
	if (rc != P11E_OK)
		return rc;
	rc = p11e_config_profile(r->cfg, rec->profile, &r->profile, err);
	if (rc == P11E_OK)
		rc = settle_key_store(r, new_store, err);
	if (rc != P11E_OK)
		return rc;
	new_key_type = rec->key_type == NULL;
	if (new_key_type) {
		rc = p11e_keytype_parse(p->key_type ? p->key_type : r->profile.default_key, &r->kt,
					err);
		if (rc == P11E_OK)
			rc = p11e_record_set(&rec->key_type, r->kt.name, err);
	} else {
		rc = p11e_keytype_parse(rec->key_type, &r->kt, err);
		if (rc == P11E_OK && p->key_type != NULL &&
		    p11e_keytype_parse(p->key_type, &given_kt, err) == P11E_OK)
			rc = check_same("key", given_kt.name, r->kt.name, identity, err);
	}
	if (rc == P11E_OK) {
		unsigned ignored;
		/* Refuse a profile the key cannot serve before any key exists. */
		rc = p11e_profile_key_usage(&r->profile, r->kt.kind, &ignored, err);
	}
	if (rc == P11E_OK)
		rc = check_identity_kind(&r->profile, rec, err);
	/* The directory's names first: the logon checks need the UPN. */
	if (rc == P11E_OK)
		rc = pipe_identity_from(r, err);
	if (rc == P11E_OK)
		rc = pipe_settle_logon(r, new_key_type, err);
	return rc;
}
