/* The parsers of what an ACME server sends (RFC 8555): the directory, an
 * account, an order, an authorization with its challenges, a problem
 * document. Each takes the bytes of one answer, checks the type of every
 * member it reads, and fills a plain struct: the protocol code never walks a
 * peer's JSON itself, and tests and the fuzzer reach every parser without a
 * server. URLs a server hands out are used as URLs only when they look like
 * one; every text that may reach a message is cleaned (p11e_peer_clean). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ca/ca_acme.h"
#include "p11enroll/peer.h"

#define URL_MAX 2048

int acme_url_ok(const char *s)
{
	size_t n;

	if (s == NULL || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0))
		return 0;
	for (n = 0; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return 0;
	return n < URL_MAX;
}

/* key's string value, copied and cleaned into buf; "" when absent or not a string. */
static void copy_str(const json_object *o, const char *key, char *buf, size_t len)
{
	p11e_peer_copy(buf, len, acme_str(o, key));
}

json_object *acme_parse_directory(const char *body, size_t len)
{
	json_object *o = p11e_peer_json_object(body, len), *meta, *v;
	static const char *const needed[] = {"newNonce", "newAccount", "newOrder", NULL};

	for (size_t i = 0; o != NULL && needed[i] != NULL; i++)
		if (!acme_url_ok(acme_str(o, needed[i]))) {
			json_object_put(o);
			return NULL;
		}
	/* "meta" is optional, but when there it must be what RFC 8555 7.1.1 says. */
	if (o != NULL && json_object_object_get_ex(o, "meta", &meta) &&
	    (!json_object_is_type(meta, json_type_object) ||
	     (json_object_object_get_ex(meta, "externalAccountRequired", &v) &&
	      !json_object_is_type(v, json_type_boolean)) ||
	     (json_object_object_get_ex(meta, "termsOfService", &v) &&
	      !json_object_is_type(v, json_type_string)))) {
		json_object_put(o);
		return NULL;
	}
	/* RFC 9773's renewalInfo is optional: one that is not a URL is dropped,
	 * so the CA reads as offering none, and enrollment goes on. */
	if (o != NULL && json_object_object_get_ex(o, "renewalInfo", &v) &&
	    !acme_url_ok(acme_str(o, "renewalInfo")))
		json_object_object_del(o, "renewalInfo");
	return o;
}

int acme_parse_account(const char *body, size_t len, char *status, size_t status_len)
{
	json_object *o = p11e_peer_json_object(body, len);

	status[0] = '\0';
	if (o == NULL)
		return -1;
	copy_str(o, "status", status, status_len);
	json_object_put(o);
	return 0;
}

int acme_parse_problem(const char *body, size_t len, char *buf, size_t buf_len)
{
	json_object *o = p11e_peer_json_object(body, len);
	int is = o != NULL && acme_str(o, "type") != NULL;

	if (is)
		acme_problem_obj(o, buf, buf_len);
	else if (buf_len > 0)
		buf[0] = '\0';
	json_object_put(o);
	return is;
}

void acme_order_doc_clear(acme_order_doc *d)
{
	for (size_t i = 0; i < d->n_authz; i++)
		free(d->authz[i]);
	free(d->authz);
	free(d->finalize);
	free(d->certificate);
	memset(d, 0, sizeof(*d));
}

/* An optional URL member: absent is fine (NULL), anything else must be a URL. */
static int take_url(const json_object *o, const char *key, char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!acme_url_ok(acme_str(o, key)))
		return -1;
	return (*out = strdup(json_object_get_string(v))) == NULL ? -1 : 0;
}

int acme_parse_order(const char *body, size_t len, acme_order_doc *out)
{
	json_object *o = p11e_peer_json_object(body, len), *auths, *e;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return -1;
	copy_str(o, "status", out->status, sizeof(out->status));
	if (out->status[0] == '\0') {
		snprintf(out->malformed, sizeof(out->malformed), "the order has no \"status\"");
		goto out;
	}
	if (json_object_object_get_ex(o, "error", &e) && json_object_is_type(e, json_type_object))
		acme_problem_obj(e, out->error, sizeof(out->error));
	if (take_url(o, "finalize", &out->finalize) != 0 ||
	    take_url(o, "certificate", &out->certificate) != 0) {
		snprintf(out->malformed, sizeof(out->malformed),
			 "the order's \"finalize\" or \"certificate\" is not a URL");
		goto out;
	}
	/* RFC 8555 7.1.3: required, an array of URL strings. */
	if (!json_object_object_get_ex(o, "authorizations", &auths) ||
	    !json_object_is_type(auths, json_type_array) ||
	    json_object_array_length(auths) > ACME_AUTHZ_MAX) {
		snprintf(out->malformed, sizeof(out->malformed),
			 "the order's \"authorizations\" is not a list of up to %d URLs",
			 ACME_AUTHZ_MAX);
		goto out;
	}
	out->authz = calloc(json_object_array_length(auths) + 1, sizeof(char *));
	if (out->authz == NULL)
		goto out;
	for (size_t i = 0; i < json_object_array_length(auths); i++) {
		json_object *u = json_object_array_get_idx(auths, i);
		if (!json_object_is_type(u, json_type_string) ||
		    !acme_url_ok(json_object_get_string(u))) {
			snprintf(out->malformed, sizeof(out->malformed),
				 "the order's authorization %zu is not a URL", i + 1);
			goto out;
		}
		if ((out->authz[out->n_authz] = strdup(json_object_get_string(u))) == NULL)
			goto out;
		out->n_authz++;
	}
	rc = 0;
out:
	if (rc != 0 && out->malformed[0] != '\0')
		rc = 0; /* parsed: the caller reports what is malformed */
	else if (rc != 0)
		acme_order_doc_clear(out);
	json_object_put(o);
	return rc;
}

void acme_authz_doc_clear(acme_authz_doc *d)
{
	free(d->http01_token);
	free(d->http01_url);
	memset(d, 0, sizeof(*d));
}

int acme_parse_authz(const char *body, size_t len, acme_authz_doc *out)
{
	json_object *o = p11e_peer_json_object(body, len), *ident = NULL, *chals;

	memset(out, 0, sizeof(*out));
	if (o == NULL)
		return -1;
	copy_str(o, "status", out->status, sizeof(out->status));
	json_object_object_get_ex(o, "identifier", &ident);
	copy_str(ident, "type", out->itype, sizeof(out->itype));
	copy_str(ident, "value", out->ivalue, sizeof(out->ivalue));
	if (out->itype[0] == '\0')
		strcpy(out->itype, "?");
	if (out->ivalue[0] == '\0')
		strcpy(out->ivalue, "?");
	if (out->status[0] == '\0') {
		snprintf(out->malformed, sizeof(out->malformed),
			 "the authorization for %s %.100s has no \"status\"", out->itype,
			 out->ivalue);
		goto out;
	}
	if (!json_object_object_get_ex(o, "challenges", &chals))
		goto out; /* a valid authorization may list none */
	if (!json_object_is_type(chals, json_type_array)) {
		snprintf(out->malformed, sizeof(out->malformed),
			 "the authorization for %s %.100s has \"challenges\" that are not a list",
			 out->itype, out->ivalue);
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(chals); i++) {
		json_object *c = json_object_array_get_idx(chals, i), *e;
		char t[32];
		size_t used = strlen(out->offered);

		copy_str(c, "type", t, sizeof(t));
		snprintf(out->offered + used, sizeof(out->offered) - used, "%s%s", used ? ", " : "",
			 t[0] ? t : "?");
		/* The first challenge error explains an invalid authorization. */
		if (out->error[0] == '\0' && json_object_object_get_ex(c, "error", &e) &&
		    json_object_is_type(e, json_type_object)) {
			char why[200];
			acme_problem_obj(e, why, sizeof(why));
			snprintf(out->error, sizeof(out->error), "%s: %s", t[0] ? t : "?", why);
		}
		if (strcmp(t, "http-01") != 0 || out->has_http01)
			continue;
		out->has_http01 = 1;
		copy_str(c, "status", out->http01_status, sizeof(out->http01_status));
		/* Token and URL stay NULL unless they are what they must be. */
		if (acme_str(c, "token") != NULL && strlen(acme_str(c, "token")) < 256)
			out->http01_token = strdup(acme_str(c, "token"));
		if (acme_url_ok(acme_str(c, "url")))
			out->http01_url = strdup(acme_str(c, "url"));
	}
out:
	json_object_put(o);
	return 0;
}
