/* A profile from the configuration file, checked and filled in: its base
 * (a built-in profile), subject, key, digest, purposes, key store, slot,
 * publishers and renewal settings (config.c loads and validates the file;
 * here one profile becomes a p11e_profile). Unknown keys are errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/conf.h"
#include "p11enroll/config.h"
#include "p11enroll/password.h"
#include "p11enroll/util.h"
#include "config_check.h"

static const char *const profile_keys[] = {"base",
					   "subject",
					   "validity_days",
					   "key",
					   "digest",
					   "purposes",
					   "email_san",
					   "dns_san",
					   "key_store",
					   "pfx_password_length",
					   "pfx_password_alphabet",
					   "slot_id",
					   "piv_slot",
					   "publish",
					   "renew_within_days",
					   "renew_reuse_key",
					   "keep_old_encryption_keys",
					   "identity_from",
					   NULL};

static p11e_rc profile_string(const char *path, const char *name, json_object *def,
			      const char *field, char *out, size_t cap, p11e_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(def, field, &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= cap)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.%s must be a string of at most %zu "
				 "characters",
				 path, name, field, cap - 1);
	snprintf(out, cap, "%s", json_object_get_string(v));
	return P11E_OK;
}

/* "slot_id": "03" (hex, 1 to P11E_ID_MAX bytes) or "piv_slot": "9d" (mapped
 * as OpenSC maps PIV slots), not both: the CKA_ID of the card slot keys go to. */
static p11e_rc profile_slot(const char *path, const char *name, json_object *def, p11e_profile *out,
			    p11e_err *err)
{
	char slot[2 * P11E_ID_MAX + 1] = "", piv[8] = "";
	unsigned char bytes[P11E_ID_MAX];
	size_t len = 0;
	p11e_rc rc = profile_string(path, name, def, "slot_id", slot, sizeof(slot), err);

	if (rc == P11E_OK)
		rc = profile_string(path, name, def, "piv_slot", piv, sizeof(piv), err);
	if (rc != P11E_OK)
		return rc;
	if (slot[0] != '\0' && piv[0] != '\0')
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s: give slot_id or piv_slot, not both", path,
				 name);
	if (piv[0] != '\0' && p11e_piv_slot_id(piv) == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.piv_slot '%s' is not a PIV slot (9a, 9c, "
				 "9d, 9e, 82 to 95)",
				 path, name, piv);
	if (slot[0] != '\0' && (p11e_hex_decode(slot, bytes, sizeof(bytes), &len) != 0 || len == 0))
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.slot_id must be 1 to %d bytes of hex",
				 path, name, P11E_ID_MAX);
	snprintf(out->slot_id, sizeof(out->slot_id), "%s", piv[0] ? p11e_piv_slot_id(piv) : slot);
	return P11E_OK;
}

static p11e_rc profile_bool(const char *path, const char *name, json_object *def, const char *field,
			    int *out, p11e_err *err)
{
	json_object *v;

	if (!json_object_object_get_ex(def, field, &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_boolean))
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.%s must be true or false", path, name,
				 field);
	*out = json_object_get_boolean(v);
	return P11E_OK;
}

static p11e_rc profile_purposes(const char *path, const char *name, json_object *def, unsigned *out,
				p11e_err *err)
{
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = {{"sign", P11E_PURPOSE_SIGN},
		     {"encrypt", P11E_PURPOSE_ENCRYPT},
		     {"client-auth", P11E_PURPOSE_CLIENT_AUTH},
		     {"server-auth", P11E_PURPOSE_SERVER_AUTH},
		     {"smartcard-logon", P11E_PURPOSE_LOGON},
		     {"kdc", P11E_PURPOSE_KDC}};
	json_object *v;
	unsigned purposes = 0;

	if (!json_object_object_get_ex(def, "purposes", &v))
		return P11E_OK;
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
		goto bad;
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i);
		size_t k;
		if (!json_object_is_type(e, json_type_string))
			goto bad;
		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strcmp(json_object_get_string(e), known[k].name) == 0)
				break;
		if (k == sizeof(known) / sizeof(known[0]))
			goto bad;
		purposes |= known[k].bit;
	}
	*out = purposes;
	return P11E_OK;
bad:
	return p11e_errf(err, P11E_CONFIG,
			 "config %s: profiles.%s.purposes must be a list of \"sign\", "
			 "\"encrypt\", \"client-auth\", \"server-auth\", \"smartcard-logon\" "
			 "and \"kdc\"",
			 path, name);
}

/* "publish": a list of names from "publishers" (include/p11enroll/publish.h). */
static p11e_rc profile_publish(const p11e_config *c, const char *name, json_object *def,
			       p11e_err *err)
{
	json_object *list, *pubs = NULL;

	if (def == NULL || !json_object_object_get_ex(def, "publish", &list))
		return P11E_OK;
	if (!json_object_is_type(list, json_type_array))
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.publish must be a list of publisher names "
				 "([] for none)",
				 c->path, name);
	json_object_object_get_ex(c->root, "publishers", &pubs);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *n = json_object_array_get_idx(list, i);
		if (!json_object_is_type(n, json_type_string) || pubs == NULL ||
		    !json_object_object_get_ex(pubs, json_object_get_string(n), NULL))
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: profiles.%s.publish[%zu] is not the name of "
					 "an entry in \"publishers\"",
					 c->path, name, i);
	}
	return P11E_OK;
}

/* "identity_from": the name of an entry of "publishers" of type "ldap". */
static p11e_rc profile_identity_from(const p11e_config *c, const char *name, json_object *def,
				     p11e_profile *out, p11e_err *err)
{
	json_object *pubs = NULL, *pub = NULL, *type = NULL;
	p11e_rc rc = profile_string(c->path, name, def, "identity_from", out->identity_from,
				    sizeof(out->identity_from), err);

	if (rc != P11E_OK || !json_object_object_get_ex(def, "identity_from", NULL))
		return rc;
	if (!json_object_object_get_ex(c->root, "publishers", &pubs) ||
	    !json_object_object_get_ex(pubs, out->identity_from, &pub) ||
	    !json_object_object_get_ex(pub, "type", &type) ||
	    strcmp(json_object_get_string(type), "ldap") != 0)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.identity_from must name an entry of "
				 "\"publishers\" of type \"ldap\" (the directory people are "
				 "looked up in)",
				 c->path, name);
	return P11E_OK;
}

p11e_rc p11e_config_profile(const p11e_config *c, const char *name, p11e_profile *out,
			    p11e_err *err)
{
	json_object *profiles, *def = NULL, *v;
	const char *base = "smime";
	p11e_keytype kt;
	p11e_rc rc;

	if (name == NULL || name[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "profile: no name given");
	if (c->root != NULL && json_object_object_get_ex(c->root, "profiles", &profiles))
		json_object_object_get_ex(profiles, name, &def);
	if (def == NULL) {
		rc = p11e_profile_builtin(name, out, err);
		if (rc == P11E_NOT_FOUND)
			return p11e_errf(
			    err, P11E_NOT_FOUND,
			    "profile '%s' is not defined (built-in: smime, smime-sign, "
			    "smime-encrypt, client-auth, tls-server, smartcard-logon, kdc)",
			    name);
		return rc;
	}
	if (!json_object_is_type(def, json_type_object))
		return p11e_errf(err, P11E_CONFIG, "config %s: profiles.%s must be an object",
				 c->path, name);
	if (strlen(name) >= sizeof(out->name))
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profile name '%.40s...' is longer than %zu characters",
				 c->path, name, sizeof(out->name) - 1);
	{
		char path[100], list[300];
		if (p11e_conf_unknown_key(def, profile_keys, 0, path, sizeof(path))) {
			p11e_conf_known_list(profile_keys, "", list, sizeof(list));
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: unknown key 'profiles.%.60s.%s' (a profile "
					 "takes: %s)",
					 c->path, name, path, list);
		}
	}
	if (json_object_object_get_ex(def, "base", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: profiles.%s.base must be a string", c->path,
					 name);
		base = json_object_get_string(v);
	}
	rc = p11e_profile_builtin(base, out, err);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.base '%s' is not a built-in profile "
				 "(smime, smime-sign, smime-encrypt, client-auth, tls-server, "
				 "smartcard-logon, kdc)",
				 c->path, name, base);
	snprintf(out->name, sizeof(out->name), "%s", name);
	if ((rc = profile_string(c->path, name, def, "subject", out->subject, sizeof(out->subject),
				 err)) != P11E_OK ||
	    (rc = profile_string(c->path, name, def, "key", out->default_key,
				 sizeof(out->default_key), err)) != P11E_OK ||
	    (rc = profile_string(c->path, name, def, "digest", out->digest, sizeof(out->digest),
				 err)) != P11E_OK ||
	    (rc = profile_bool(c->path, name, def, "email_san", &out->allow_email_san, err)) !=
		P11E_OK ||
	    (rc = profile_bool(c->path, name, def, "dns_san", &out->allow_dns_san, err)) !=
		P11E_OK ||
	    (rc = profile_purposes(c->path, name, def, &out->purposes, err)) != P11E_OK ||
	    (rc = profile_string(c->path, name, def, "key_store", out->key_store,
				 sizeof(out->key_store), err)) != P11E_OK ||
	    (rc = profile_string(c->path, name, def, "pfx_password_alphabet",
				 out->pfx_password_alphabet, sizeof(out->pfx_password_alphabet),
				 err)) != P11E_OK ||
	    (rc = profile_slot(c->path, name, def, out, err)) != P11E_OK ||
	    (rc = profile_publish(c, name, def, err)) != P11E_OK ||
	    (rc = profile_identity_from(c, name, def, out, err)) != P11E_OK)
		return rc;
	if (strcmp(out->key_store, "token") != 0 && strcmp(out->key_store, "software") != 0)
		return p11e_errf(
		    err, P11E_CONFIG,
		    "config %s: profiles.%s.key_store must be \"token\" or \"software\"", c->path,
		    name);
	if (json_object_object_get_ex(def, "pfx_password_length", &v)) {
		int64_t n = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || n < 1 || n > P11E_PASSWORD_LENGTH_MAX)
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: profiles.%s.pfx_password_length must be a "
					 "whole number from 1 to %d",
					 c->path, name, P11E_PASSWORD_LENGTH_MAX);
		out->pfx_password_length = (int)n;
	}
	{
		char where[128];
		p11e_err inner = {0};
		snprintf(where, sizeof(where), "profiles.%s", name);
		if (p11e_password_check((size_t)out->pfx_password_length,
					out->pfx_password_alphabet, where, &inner) != P11E_OK)
			return p11e_errf(err, P11E_CONFIG, "config %s: %s", c->path, inner.msg);
	}
	if (json_object_object_get_ex(def, "validity_days", &v)) {
		int64_t days = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || days < 1 || days > 3650)
			return p11e_errf(err, P11E_CONFIG,
					 "config %s: profiles.%s.validity_days must be a whole "
					 "number from 1 to 3650",
					 c->path, name);
		out->validity_days = (int)days;
	}
	if (p11e_keytype_parse(out->default_key, &kt, NULL) != P11E_OK)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.key '%s' is not a key type (rsa:2048, "
				 "rsa:3072, rsa:4096, ec:P-256, ec:P-384, ec:P-521, ed25519)",
				 c->path, name, out->default_key);
	if (EVP_get_digestbyname(out->digest) == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "config %s: profiles.%s.digest '%s' is unknown (sha256, sha384, "
				 "sha512)",
				 c->path, name, out->digest);
	return P11E_OK;
}
