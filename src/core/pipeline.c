/* The enrollment state machine. Each step moves the record one state on;
 * the record is saved (atomically) after every step, so a crash anywhere
 * resumes at the last saved state. See include/p11enroll/pipeline.h. The
 * steps live by key store in steps_*.c (core/pipeline_steps.h); this file
 * has the machine: its tables, the run loop, and prepare (the record loaded
 * or created and checked before anything is made). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <json-c/json.h>
#include "p11enroll/ca.h"
#include "p11enroll/csr.h"
#include "p11enroll/pem.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/pkcs12.h"
#include "p11enroll/recover.h"
#include "p11enroll/session.h"
#include "p11enroll/software.h"
#include "p11enroll/util.h"
#include "core/pipeline_steps.h"

/* Test builds only: simulate a crash (no cleanup at all) at a named point:
 * after each step's record is saved (the step's name), and in the windows
 * between a token or CA action and the save that records it ("key-made",
 * "key-renamed", "ca-answered", "cert-written"). The resume tests prove a
 * rerun from each finishes with one key and one certificate. */
void pipe_crash_point(const char *name)
{
#ifdef P11ENROLL_TEST_HOOKS
	const char *at = getenv("P11ENROLL_TEST_CRASH_AFTER");
	if (at != NULL && strcmp(at, name) == 0)
		_exit(86);
#else
	(void)name;
#endif
}

p11e_rc pipe_save(enroll_run *r, p11e_err *err)
{
	p11e_rc rc = p11e_record_save(r->cfg->state_dir, r->rec, err);

	if (rc == P11E_OK)
		r->persisted = 1;
	return rc;
}

p11e_rc pipe_parse_id(const char *hex, p11e_id *id, const char *field, p11e_err *err)
{
	if (hex == NULL || p11e_hex_decode(hex, id->v, sizeof(id->v), &id->len) != 0 ||
	    id->len == 0)
		return p11e_errf(err, P11E_USAGE, "%s: '%.80s' is not 1 to %d bytes of hex", field,
				 hex != NULL ? hex : "", P11E_ID_MAX);
	return P11E_OK;
}

p11e_rc pipe_set_hex(char **field, const p11e_id *id, p11e_err *err)
{
	char hex[2 * P11E_ID_MAX + 1];

	p11e_hex_encode(id->v, id->len, hex);
	return p11e_record_set(field, hex, err);
}

/* The key's ID as the certificate's subject key identifier will be (RFC 5280
 * method 1: SHA-1 of the subjectPublicKey bits), so the key, its
 * certificate's SKI and CKA_ID all agree, as NSS and GnuTLS pair them. */
p11e_rc pipe_public_key_id(EVP_PKEY *pub, p11e_id *id, p11e_err *err)
{
	X509_PUBKEY *xpub = NULL;
	const unsigned char *bits = NULL;
	int bits_len = 0;
	p11e_rc rc = P11E_OK;

	if (X509_PUBKEY_set(&xpub, pub) != 1 ||
	    X509_PUBKEY_get0_param(NULL, &bits, &bits_len, NULL, xpub) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the token's public key");
		goto out;
	}
	SHA1(bits, (size_t)bits_len, id->v);
	id->len = SHA_DIGEST_LENGTH;
out:
	X509_PUBKEY_free(xpub);
	return rc;
}

p11e_rc pipe_count_key(enroll_run *r, const p11e_id *id, size_t *priv, size_t *pub, p11e_err *err)
{
	p11e_rc rc = p11e_token_count(r->token, 3 /* CKO_PRIVATE_KEY */, id, priv, err);
	if (rc == P11E_OK)
		rc = p11e_token_count(r->token, 2 /* CKO_PUBLIC_KEY */, id, pub, err);
	return rc;
}

static p11e_rc pipe_step_finish(enroll_run *r, p11e_err *err)
{
	(void)err;
	r->rec->step = P11E_STEP_DONE;
	return P11E_OK;
}

/* The machine: the step that runs in each state. */
static p11e_rc (*const step_for[])(enroll_run *, p11e_err *) = {
    [P11E_STEP_NEW] = pipe_step_new,	       [P11E_STEP_KEY_PENDING] = pipe_step_key,
    [P11E_STEP_KEY_GENERATED] = pipe_step_csr, [P11E_STEP_CSR_BUILT] = pipe_step_submit,
    [P11E_STEP_SUBMITTED] = pipe_step_poll,    [P11E_STEP_ISSUED] = pipe_step_store,
    [P11E_STEP_STORED] = pipe_step_finish,
};

/* A software key's own steps; the others (CSR, submit, poll, finish) are
 * shared and take the key from pipe_soft_key. */
static p11e_rc (*const software_step_for[P11E_STEP_DONE])(enroll_run *, p11e_err *) = {
    [P11E_STEP_NEW] = pipe_step_new_software,
    [P11E_STEP_KEY_PENDING] = pipe_step_key_software,
    [P11E_STEP_ISSUED] = pipe_step_store_software,
};

/* An archived key: the software steps, and the store step that ends on the
 * token. */
static p11e_rc (*const archived_step_for[P11E_STEP_DONE])(enroll_run *, p11e_err *) = {
    [P11E_STEP_NEW] = pipe_step_new_software,
    [P11E_STEP_KEY_PENDING] = pipe_step_key_software,
    [P11E_STEP_ISSUED] = pipe_step_store_archived,
};

/* Whether the step in this state does token work: in a batch, token work of
 * the workers takes turns (p11e_token_lock); CA work and saves overlap. */
static int uses_token(const enroll_run *r, p11e_step s)
{
	if (r->software)
		return 0;
	if (s == P11E_STEP_CSR_BUILT || s == P11E_STEP_SUBMITTED)
		return r->ca != NULL && p11e_ca_needs_requester(r->ca); /* signs with the key */
	return s != P11E_STEP_STORED;
}

static p11e_rc run_machine(enroll_run *r, p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	while (r->rec->step != P11E_STEP_DONE &&
	       (r->p->stop_after == 0 || r->rec->step < r->p->stop_after)) {
		p11e_step before = r->rec->step;
		int lock = r->p->shared != NULL && uses_token(r, before);
		p11e_rc saved;

		if (lock)
			p11e_token_lock(r->token);
		if (r->archived && archived_step_for[before] != NULL)
			rc = archived_step_for[before](r, err);
		else if (r->software && software_step_for[before] != NULL)
			rc = software_step_for[before](r, err);
		else
			rc = step_for[before](r, err);
		if (lock)
			p11e_token_unlock(r->token);
		if (rc != P11E_OK && rc != P11E_PENDING)
			break;
		if (r->rec->step != before) {
			p11e_record_set(&r->rec->last_error, NULL, NULL);
			saved = pipe_save(r, err);
			if (saved != P11E_OK)
				return saved;
			pipe_crash_point(p11e_step_name(r->rec->step));
		}
		if (rc != P11E_OK)
			break;
	}
	return rc;
}

/* A rerun may omit the options, but must not contradict what the record was
 * started with. */
static p11e_rc check_same(const char *field, const char *given, const char *recorded,
			  const char *identity, p11e_err *err)
{
	if (given == NULL || recorded == NULL || strcmp(given, recorded) == 0)
		return P11E_OK;
	return p11e_errf(err, P11E_EXISTS,
			 "%s: identity %s was started with '%s', not '%s'; rerun without --%s to "
			 "resume, or remove its record to start over",
			 field, identity, recorded, given, field);
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
		return p11e_errf(err, is_new ? P11E_USAGE : P11E_EXISTS,
				 is_new
				     ? "archive: profile '%s' makes software keys; --archive is "
				       "for a key that goes onto a token"
				     : "archive: identity %s was started without --archive; rerun "
				       "without it to resume, or remove its record to start over",
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
		if (is_new && p->token_uri == NULL)
			return p11e_errf(err, P11E_USAGE,
					 "archive: give the token's URI (pkcs11:token=...) the key "
					 "goes onto");
	}
	if (!r->software) {
		if (!is_new && p->software)
			return p11e_errf(err, P11E_EXISTS,
					 "software: identity %s was started with its key on the "
					 "token; rerun without --software to resume, or remove its "
					 "record to start over",
					 rec->identity);
		if (p->pfx_out != NULL || p->pfx_legacy)
			return p11e_errf(err, P11E_USAGE,
					 "%s: only for a software key (--software, or a profile "
					 "with key_store \"software\")",
					 p->pfx_out != NULL ? "out" : "pfx-legacy");
		if (is_new && p->token_uri == NULL)
			return p11e_errf(err, P11E_USAGE,
					 "token: give the token's URI (pkcs11:token=...), or "
					 "--software for a key delivered as a PKCS#12 file");
		return P11E_OK;
	}
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
	/* The PFX's path, absolute, so a rerun from elsewhere finds it. */
	if (p->pfx_out == NULL) {
		out = rec->pfx_path != NULL ? strdup(rec->pfx_path)
					    : p11e_soft_pfx_path(r->cfg->state_dir, rec->identity);
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

/* Loads or creates the record and settles profile, key type and CA. */
static p11e_rc prepare(enroll_run *r, p11e_err *err)
{
	const p11e_enroll_params *p = r->p;
	p11e_record *rec = r->rec;
	p11e_keytype given_kt;
	char *identity = NULL;
	p11e_rc rc;

	if (p->id_hex != NULL) {
		p11e_id ignored;
		rc = pipe_parse_id(p->id_hex, &ignored, "id", err);
		if (rc != P11E_OK)
			return rc;
	}
	/* One identity: a person by address, or a server by host name. */
	if (p->dns != NULL && p->email != NULL)
		return p11e_errf(err, P11E_USAGE,
				 "dns: give --email for a person or --dns for a server, not both");
	if (p->dns != NULL && !p11e_dns_name_valid(p->dns))
		return p11e_errf(err, P11E_USAGE,
				 "dns: '%.100s' is not a host name like www.example.org", p->dns);
	if (p->dns == NULL && (p->email == NULL || !p11e_email_valid(p->email)))
		return p11e_errf(err, P11E_USAGE, "email: '%.100s' is not a valid address",
				 p->email != NULL ? p->email : "");
	identity = p11e_record_identity(p->dns != NULL ? p->dns : p->email);
	if (identity == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_record_load(r->cfg->state_dir, identity, rec, err);
	if (rc == P11E_NOT_FOUND) {
		rc = P11E_OK;
		memset(rec, 0, sizeof(*rec));
		rec->step = P11E_STEP_NEW;
		if (p11e_record_set(&rec->identity, identity, err) != P11E_OK ||
		    p11e_record_set(&rec->name, p->name ? p->name : identity, err) != P11E_OK ||
		    p11e_record_set(&rec->profile,
				    p->profile ? p->profile : r->cfg->default_profile,
				    err) != P11E_OK ||
		    p11e_record_set(&rec->ca, p->ca ? p->ca : r->cfg->default_ca, err) != P11E_OK ||
		    p11e_record_set(&rec->label, p->label ? p->label : identity, err) != P11E_OK ||
		    p11e_record_set(&rec->token_uri, p->token_uri, err) != P11E_OK ||
		    (p->dns != NULL && p11e_record_set(&rec->dns_name, identity, err) != P11E_OK))
			rc = P11E_FAIL;
	} else if (rc == P11E_OK) {
		r->persisted = 1;
		rc = check_same("profile", p->profile, rec->profile, identity, err);
		/* Until the CA has seen the request, the CA may still change (the
		 * CSR may have been made with `p11enroll csr` for a web form). */
		if (rc == P11E_OK && p->ca != NULL && rec->step < P11E_STEP_SUBMITTED)
			rc = p11e_record_set(&rec->ca, p->ca, err);
		else if (rc == P11E_OK)
			rc = check_same("ca", p->ca, rec->ca, identity, err);
		if (rc == P11E_OK && p->id_hex != NULL && rec->key_id != NULL) {
			p11e_id a, b;
			if (pipe_parse_id(p->id_hex, &a, "id", err) != P11E_OK ||
			    pipe_parse_id(rec->key_id, &b, "record key_id", err) != P11E_OK ||
			    a.len != b.len || memcmp(a.v, b.v, a.len) != 0)
				rc = check_same("id", p->id_hex, rec->key_id, identity, err);
		}
	}
	if (rc != P11E_OK)
		goto out;
	rc = p11e_config_profile(r->cfg, rec->profile, &r->profile, err);
	if (rc == P11E_OK)
		rc = settle_key_store(r, !r->persisted, err);
	if (rc != P11E_OK)
		goto out;
	if (rec->key_type == NULL) {
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
out:
	free(identity);
	return rc;
}

/* The record's CA: the shared one when it was opened for the same spec;
 * else opened here, and left to the sharer when it has none yet. */
static p11e_rc open_ca(enroll_run *r, p11e_err *err)
{
	p11e_enroll_shared *shared = r->p->shared;
	struct json_object *ca_conf = NULL;
	p11e_rc rc;

	if (shared != NULL && shared->ca != NULL && shared->ca_spec != NULL &&
	    strcmp(shared->ca_spec, r->rec->ca) == 0) {
		r->ca = shared->ca;
		r->ca_shared = 1;
		return P11E_OK;
	}
	rc = p11e_config_ca(r->cfg, r->rec->ca, &ca_conf, err);
	if (rc == P11E_OK)
		rc = p11e_ca_open(ca_conf, &r->ca, err);
	json_object_put(ca_conf);
	if (rc != P11E_OK || shared == NULL || shared->ca != NULL)
		return rc;
	if ((shared->ca_spec = strdup(r->rec->ca)) != NULL) {
		shared->ca = r->ca;
		r->ca_shared = 1;
	}
	return P11E_OK;
}

static p11e_rc open_token_and_ca(enroll_run *r, p11e_err *err)
{
	p11e_enroll_shared *shared = r->p->shared;
	const p11e_token_info *info;
	p11e_session_params sp = {
	    .uri = r->p->token_uri ? r->p->token_uri : r->rec->token_uri,
	    .module = r->p->module,
	    .pin_source = r->p->pin_source,
	    .login = 1,
	};
	p11e_rc rc;

	/* The CA first: a missing CA key must stop us before a key is made.
	 * A run that stops before submitting needs no CA. */
	if (r->p->stop_after == 0 || r->p->stop_after >= P11E_STEP_SUBMITTED) {
		rc = open_ca(r, err);
		if (rc != P11E_OK)
			return rc;
	}
	if (r->software && r->rec->step == P11E_STEP_NEW) {
		/* Without a vault to escrow the password there is no software
		 * key: refused before the record is written. */
		p11e_vault *v = NULL;
		rc = p11e_vault_open(r->cfg, NULL, &v, err);
		p11e_vault_close(v);
		if (rc != P11E_OK)
			return rc;
	}
	/* A software key has no token; an archived one goes onto one. */
	if (r->software && !r->archived)
		return P11E_OK;
	if (shared != NULL && shared->token != NULL) {
		r->token = shared->token;
	} else {
		rc = p11e_session_open(r->cfg, &sp, &r->sess, err);
		if (rc != P11E_OK)
			return rc;
		r->token = r->sess.token;
	}
	info = p11e_token_get_info(r->token);
	if (r->rec->token_serial == NULL)
		return p11e_record_set(&r->rec->token_serial, info->serial, err);
	if (strcmp(r->rec->token_serial, info->serial) != 0)
		return p11e_errf(
		    err, P11E_TOKEN_NOT_FOUND,
		    "token: identity %s is being enrolled on the token with serial %s, "
		    "not %s ('%s'); insert that token",
		    r->rec->identity, r->rec->token_serial, info->serial, info->label);
	return P11E_OK;
}

p11e_rc p11e_enroll(const p11e_config *cfg, const p11e_enroll_params *p, p11e_record *rec,
		    p11e_err *err)
{
	enroll_run r;
	p11e_rc rc;

	memset(&r, 0, sizeof(r));
	memset(rec, 0, sizeof(*rec));
	r.cfg = cfg;
	r.p = p;
	r.rec = rec;
	rc = prepare(&r, err);
	if (rc != P11E_OK || rec->step == P11E_STEP_DONE ||
	    (p->stop_after != 0 && rec->step >= p->stop_after))
		goto out;
	rc = open_token_and_ca(&r, err);
	if (rc == P11E_OK && rec->step == P11E_STEP_NEW) {
		rc = pipe_save(&r, err);
		if (rc == P11E_OK)
			pipe_crash_point("new");
	}
	if (rc == P11E_OK)
		rc = run_machine(&r, err);
	if (rc != P11E_OK && rc != P11E_PENDING && r.persisted && err != NULL) {
		/* Keep the reason with the record for `p11enroll status`. */
		p11e_record_set(&rec->last_error, err->msg, NULL);
		pipe_save(&r, NULL);
	}
out:
	if (r.ca != NULL && !r.ca_shared)
		p11e_ca_close(r.ca);
	p11e_session_close(&r.sess);
	EVP_PKEY_free(r.skey);
	p11e_secret_free(r.pfx_pass, (size_t)-1);
	return rc;
}
