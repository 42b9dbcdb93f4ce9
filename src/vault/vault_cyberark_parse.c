/* The parsers of what a CyberArk PVWA server answers (vault_cyberark.h).
 * Every member is checked for its JSON type before use; anything else is
 * skipped or refused, never trusted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include "p11enroll/clock.h"
#include "p11enroll/peer.h"
#include "p11enroll/util.h"
#include "vault/vault_cyberark.h"

/* Exactly one JSON value of any type in body (the Logon and Retrieve answers
 * are bare strings, which p11e_peer_json_object refuses), or NULL. */
static json_object *parse_any(const char *body, size_t len)
{
	json_tokener *tok;
	json_object *o;
	size_t used;

	if (body == NULL || len == 0 || len > INT32_MAX || (tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	used = json_tokener_get_parse_end(tok);
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success)
		while (used < len && strchr(" \t\r\n", body[used]) != NULL && body[used] != '\0')
			used++;
	if (o == NULL || used != len || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static void wipe_json_string(json_object *s)
{
	if (s != NULL && json_object_is_type(s, json_type_string))
		OPENSSL_cleanse((char *)json_object_get_string(s),
				(size_t)json_object_get_string_len(s));
}

/* The member key of o if it is a string, else NULL. */
static const char *member_string(json_object *o, const char *key)
{
	json_object *v;

	if (o != NULL && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/* A value fit for a header line: printable ASCII, no NUL inside. */
static int header_value(json_object *s)
{
	const char *p = json_object_get_string(s);
	size_t n = (size_t)json_object_get_string_len(s);

	if (n == 0 || strlen(p) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
			return 0;
	return 1;
}

void cyberark_parse_error(const char *body, size_t len, char *out, size_t cap)
{
	json_object *o = p11e_peer_json_object(body, len);
	const char *code = member_string(o, "ErrorCode");
	const char *msg = member_string(o, "ErrorMessage");
	char buf[400];

	if (cap == 0)
		return;
	out[0] = '\0';
	/* Older PVWA versions and errors from IIS spell them in camel case. */
	if (code == NULL)
		code = member_string(o, "errorCode");
	if (msg == NULL)
		msg = member_string(o, "errorMessage");
	/* The Central Credential Provider's errors say "ErrorMsg". */
	if (msg == NULL)
		msg = member_string(o, "ErrorMsg");
	if (code != NULL || msg != NULL) {
		size_t n = (size_t)snprintf(buf, sizeof(buf), "%.40s%s%.200s", code ? code : "",
					    code && msg ? ": " : "", msg ? msg : "");
		json_object *details;
		int opened = 0;
		/* A 400 says only "There are some invalid parameters" at the top;
		 * which one (e.g. PASWS031E "Safe [X] was not found") is in its
		 * "Details" list of the same two members (psPAS'
		 * Invoke-PASRestMethod joins them the same way). */
		if (json_object_object_get_ex(o, "Details", &details) &&
		    json_object_is_type(details, json_type_array))
			for (size_t i = 0;
			     i < json_object_array_length(details) && i < 3 && n < sizeof(buf) - 1;
			     i++) {
				json_object *d = json_object_array_get_idx(details, i);
				const char *dc = member_string(d, "ErrorCode"),
					   *dm = member_string(d, "ErrorMessage");
				if (dc == NULL && dm == NULL)
					continue;
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%.40s%s%.120s",
						      opened ? ", " : " (", dc ? dc : "",
						      dc && dm ? ": " : "", dm ? dm : "");
				opened = 1;
			}
		if (opened && n < sizeof(buf) - 1)
			snprintf(buf + n, sizeof(buf) - n, ")");
		p11e_peer_copy(out, cap, buf);
	}
	json_object_put(o);
}

int cyberark_parse_token(const char *body, size_t len, char **token)
{
	json_object *o = parse_any(body, len), *s = o, *inner;
	int rc = -1;

	*token = NULL;
	if (o != NULL && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "CyberArkLogonResult", &inner))
		s = inner;
	if (s != NULL && json_object_is_type(s, json_type_string) && header_value(s) &&
	    json_object_get_string_len(s) <= 8192 &&
	    (*token = strdup(json_object_get_string(s))) != NULL)
		rc = 0;
	wipe_json_string(s);
	json_object_put(o);
	return rc;
}

int cyberark_parse_password(const char *body, size_t len, unsigned char **out, size_t *out_len)
{
	json_object *o = parse_any(body, len);
	int rc = -1;

	*out = NULL;
	*out_len = 0;
	if (o != NULL && json_object_is_type(o, json_type_string) &&
	    json_object_get_string_len(o) > 0) {
		size_t n = (size_t)json_object_get_string_len(o);
		if ((*out = malloc(n + 1)) == NULL) {
			rc = -3;
		} else {
			memcpy(*out, json_object_get_string(o), n);
			(*out)[n] = '\0';
			*out_len = n;
			rc = 0;
		}
	}
	wipe_json_string(o);
	json_object_put(o);
	return rc;
}

int cyberark_parse_ccp(const char *body, size_t len, const char *acct, unsigned char **out,
		       size_t *out_len)
{
	json_object *o = p11e_peer_json_object(body, len), *content = NULL;
	const char *name = member_string(o, "Name");
	int rc = -1;

	*out = NULL;
	*out_len = 0;
	if (o != NULL)
		json_object_object_get_ex(o, "Content", &content);
	if (content != NULL && json_object_is_type(content, json_type_string) &&
	    json_object_get_string_len(content) > 0 &&
	    (name == NULL || strcasecmp(name, acct) == 0)) {
		size_t n = (size_t)json_object_get_string_len(content);
		if ((*out = malloc(n + 1)) == NULL) {
			rc = -3;
		} else {
			memcpy(*out, json_object_get_string(content), n);
			(*out)[n] = '\0';
			*out_len = n;
			rc = 0;
		}
	}
	wipe_json_string(content);
	json_object_put(o);
	return rc;
}

/* An account ID goes into a URL path: CyberArk's are like "12_34". */
static int id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return 0;
	for (; *id; id++)
		if (!((*id >= '0' && *id <= '9') || (*id >= 'a' && *id <= 'z') ||
		      (*id >= 'A' && *id <= 'Z') || *id == '_' || *id == '-'))
			return 0;
	return 1;
}

/* A time property only if it is the ISO form we write; a hash only if hex. */
static void copy_time(char *out, size_t cap, const char *s)
{
	if (s != NULL && strlen(s) < cap && p11e_iso_parse(s) != (time_t)-1)
		strcpy(out, s);
}

static void copy_sha256(char *out, size_t cap, const char *s)
{
	if (s == NULL || strlen(s) != 64 || cap < 65)
		return;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return;
	strcpy(out, s);
}

static int printable_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

void cyberark_accounts_free(cyberark_account *a, size_t n)
{
	for (size_t i = 0; a != NULL && i < n; i++) {
		free(a[i].id);
		free(a[i].name);
		free(a[i].identity);
	}
	free(a);
}

int cyberark_parse_accounts(const char *body, size_t len, const char *safe, cyberark_account **out,
			    size_t *n, size_t *seen)
{
	json_object *o = p11e_peer_json_object(body, len), *value, *props;
	size_t cnt;
	int rc = 0;

	*out = NULL;
	*n = 0;
	*seen = 0;
	if (o == NULL || !json_object_object_get_ex(o, "value", &value) ||
	    !json_object_is_type(value, json_type_array)) {
		json_object_put(o);
		return -1;
	}
	cnt = json_object_array_length(value);
	*seen = cnt;
	if (cnt > 0 && (*out = calloc(cnt, sizeof(**out))) == NULL)
		rc = -3;
	for (size_t i = 0; rc == 0 && i < cnt; i++) {
		json_object *e = json_object_array_get_idx(value, i);
		const char *id = member_string(e, "id"), *name = member_string(e, "name");
		const char *esafe = member_string(e, "safeName"), *ident = NULL;
		cyberark_account *a = &(*out)[*n];
		if (id == NULL || name == NULL || name[0] == '\0' || esafe == NULL ||
		    strcasecmp(esafe, safe) != 0 || !id_ok(id))
			continue;
		props = NULL;
		if (json_object_object_get_ex(e, "platformAccountProperties", &props) &&
		    json_object_is_type(props, json_type_object)) {
			ident = member_string(props, CYBERARK_PROP_IDENTITY);
			copy_time(a->meta.created, sizeof(a->meta.created),
				  member_string(props, CYBERARK_PROP_CREATED));
			copy_time(a->meta.not_after, sizeof(a->meta.not_after),
				  member_string(props, CYBERARK_PROP_NOT_AFTER));
			copy_sha256(a->meta.cert_sha256, sizeof(a->meta.cert_sha256),
				    member_string(props, CYBERARK_PROP_SHA256));
		}
		if (ident == NULL || ident[0] == '\0')
			ident = name;
		if (!printable_line(ident) || !printable_line(name))
			continue; /* never a name that would print an escape */
		a->id = strdup(id);
		a->name = strdup(name);
		a->identity = strdup(ident);
		(*n)++;
		if (a->id == NULL || a->name == NULL || a->identity == NULL)
			rc = -3;
	}
	if (rc != 0) {
		cyberark_accounts_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	json_object_put(o);
	return rc;
}

int cyberark_parse_account_id(const char *body, size_t len, char **id)
{
	json_object *o = p11e_peer_json_object(body, len);
	const char *s = member_string(o, "id");
	int rc = -1;

	*id = NULL;
	if (s != NULL && id_ok(s) && (*id = strdup(s)) != NULL)
		rc = 0;
	json_object_put(o);
	return rc;
}

int cyberark_parse_more(const char *body, size_t len, size_t offset, size_t seen, size_t limit)
{
	json_object *o = p11e_peer_json_object(body, len), *v;
	int more;

	if (seen == 0) {
		json_object_put(o);
		return 0;
	}
	if (json_object_object_get_ex(o, "nextLink", &v) &&
	    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0)
		more = 1;
	else if (json_object_object_get_ex(o, "count", &v) &&
		 json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0)
		more = (uint64_t)json_object_get_int64(v) > (uint64_t)(offset + seen);
	else
		more = seen >= limit;
	json_object_put(o);
	return more;
}
