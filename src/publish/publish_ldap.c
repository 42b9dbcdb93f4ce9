/* The "ldap" publisher: the certificate added as a value of the address's
 * directory entry (OpenLDAP, or Active Directory's forms), never replacing
 * the other values, and exactly that value removed again.
 *
 *   "gal": { "type": "ldap", "url": "ldaps://ldap.example.com/",
 *            "ca_bundle": "ldap-ca.pem", "bind_dn": "cn=p11enroll,dc=example,dc=com",
 *            "bind_password_source": "file:/etc/p11enroll/ldap-password",
 *            "base_dn": "ou=people,dc=example,dc=com", "filter": "(mail=%s)",
 *            "directory": "openldap", "timeout": 30 }
 *
 * libldap is opened on first use (dlopen), as libcurl is: linking it (with
 * its GnuTLS and SASL) costs every process start about 10 ms of wall time
 * (measured: docs/architecture.md), and only `publish` speaks LDAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <ldap.h>
#include <json-c/json.h>
#include "p11enroll/conf.h"
#include "p11enroll/peer.h"
#include "p11enroll/publish.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"
#include "publish/publish_ldap_int.h"

int p11e_ldap_load(ldap_api *api)
{
	static const char *const names[] = {
	    "ldap_initialize",	   "ldap_set_option",	  "ldap_get_option",	"ldap_start_tls_s",
	    "ldap_sasl_bind_s",	   "ldap_search_ext_s",	  "ldap_count_entries", "ldap_first_entry",
	    "ldap_next_entry",	   "ldap_get_dn",	  "ldap_memfree",	"ldap_msgfree",
	    "ldap_get_values_len", "ldap_value_free_len", "ldap_modify_ext_s",	"ldap_unbind_ext_s",
	    "ldap_err2string"};
	void **slots[] = {(void **)&api->initialize,	 (void **)&api->set_option,
			  (void **)&api->get_option,	 (void **)&api->start_tls_s,
			  (void **)&api->sasl_bind_s,	 (void **)&api->search_ext_s,
			  (void **)&api->count_entries,	 (void **)&api->first_entry,
			  (void **)&api->next_entry,	 (void **)&api->get_dn,
			  (void **)&api->memfree,	 (void **)&api->msgfree,
			  (void **)&api->get_values_len, (void **)&api->value_free_len,
			  (void **)&api->modify_ext_s,	 (void **)&api->unbind_ext_s,
			  (void **)&api->err2string};
	/* Debian 12's soname, then the one OpenLDAP 2.6 packages use. */
	static const char *const sonames[] = {"libldap-2.5.so.0", "libldap.so.2", NULL};

	return p11e_dl_symbols(sonames, names, slots, sizeof(names) / sizeof(names[0]));
}

static const char *const config_keys[] = {
    "type",    "url",	 "starttls",  "ca_bundle",  "bind_dn", "bind_password_source",
    "base_dn", "filter", "directory", "attributes", "timeout", "keep_encryption_history",
    NULL};

static p11e_rc dup_string(const json_object *conf, const char *key, const char *name, int required,
			  char **out, p11e_err *err)
{
	const char *v = p11e_conf_string(conf, key);

	*out = NULL;
	if (v == NULL || v[0] == '\0') {
		if (!required && !json_object_object_get_ex(conf, key, NULL))
			return P11E_OK;
		return p11e_errf(err, P11E_CONFIG, "publishers.%s.%s: %s", name, key,
				 required ? "required: a non-empty string"
					  : "must be a non-empty string");
	}
	if ((*out = strdup(v)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	return P11E_OK;
}

/* Whether host (from an ldap:// URL) is this machine: the only place a
 * plain connection may go, since the bind password travels in it. */
static int host_is_local(const char *url)
{
	const char *h = url + strlen("ldap://");
	size_t n = strcspn(h, ":/");

	if (h[0] == '[')
		return strncmp(h, "[::1]", 5) == 0 && (h[5] == '\0' || h[5] == ':' || h[5] == '/');
	return (n == 9 && strncmp(h, "127.0.0.1", 9) == 0) ||
	       (n == 9 && strncasecmp(h, "localhost", 9) == 0);
}

static p11e_rc check_url(ldap_pub *p, p11e_err *err)
{
	const char *u = p->url;
	int ldaps = strncasecmp(u, "ldaps://", 8) == 0;

	if (!ldaps && strncasecmp(u, "ldap://", 7) != 0)
		return p11e_errf(err, P11E_CONFIG,
				 "publishers.%s.url: must be ldaps://HOST[:PORT]/ or ldap://... "
				 "with \"starttls\": true",
				 p->name);
	/* One server, no user info, no URL extensions: only the host is ours to read. */
	if (strpbrk(u, " \t@?,") != NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "publishers.%s.url: one ldap(s)://HOST[:PORT]/ URL, without "
				 "spaces, '@', '?' or ','",
				 p->name);
	if (ldaps && p->starttls)
		return p11e_errf(err, P11E_CONFIG,
				 "publishers.%s: \"starttls\" is for ldap:// URLs; ldaps:// is "
				 "TLS already",
				 p->name);
	if (!ldaps && !p->starttls && !host_is_local(u))
		return p11e_errf(err, P11E_CONFIG,
				 "publishers.%s.url: a plain ldap:// connection is allowed only to "
				 "this machine; use ldaps:// or \"starttls\": true",
				 p->name);
	return P11E_OK;
}

static p11e_rc read_attributes(ldap_pub *p, const json_object *conf, p11e_err *err)
{
	json_object *list = NULL;
	const char *dir = p11e_conf_string(conf, "directory");
	const char *const *forms;

	if (json_object_object_get_ex(conf, "attributes", &list)) {
		size_t n;
		if (dir != NULL)
			return p11e_errf(err, P11E_CONFIG,
					 "publishers.%s: give \"directory\" or \"attributes\", not "
					 "both",
					 p->name);
		if (!json_object_is_type(list, json_type_array) ||
		    (n = json_object_array_length(list)) == 0 || n > MAX_ATTRS)
			return p11e_errf(err, P11E_CONFIG,
					 "publishers.%s.attributes: a list of 1 to %d attribute "
					 "names",
					 p->name, MAX_ATTRS);
		for (size_t i = 0; i < n; i++) {
			json_object *a = json_object_array_get_idx(list, i);
			if (!json_object_is_type(a, json_type_string) ||
			    p11e_ldap_attribute_form(json_object_get_string(a)) == 0)
				return p11e_errf(err, P11E_CONFIG,
						 "publishers.%s.attributes[%zu]: one of "
						 "userCertificate;binary (OpenLDAP), "
						 "userCertificate (AD), userSMIMECertificate",
						 p->name, i);
			if ((p->attr_copies[i] = strdup(json_object_get_string(a))) == NULL)
				return p11e_errf(err, P11E_FAIL, "out of memory");
			p->attrs[i] = p->attr_copies[i];
		}
		return P11E_OK;
	}
	if (dir != NULL && p11e_ldap_directory_attributes(dir) == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "publishers.%s.directory: \"openldap\" or \"ad\", not '%.40s'",
				 p->name, dir);
	if (dir == NULL && json_object_object_get_ex(conf, "directory", NULL))
		return p11e_errf(err, P11E_CONFIG,
				 "publishers.%s.directory: \"openldap\" or \"ad\"", p->name);
	forms = p11e_ldap_directory_attributes(dir);
	for (size_t i = 0; forms[i] != NULL && i < MAX_ATTRS; i++)
		p->attrs[i] = forms[i];
	return P11E_OK;
}

static void ldap_close(void *state)
{
	ldap_pub *p = state;

	if (p == NULL)
		return;
	if (p->ld != NULL)
		p->api.unbind_ext_s(p->ld, NULL, NULL);
	free(p->url);
	free(p->ca_bundle);
	free(p->bind_dn);
	free(p->password_source);
	free(p->base_dn);
	free(p->filter);
	for (size_t i = 0; i < MAX_ATTRS; i++)
		free(p->attr_copies[i]);
	free(p);
}

static p11e_rc ldap_open(const json_object *conf, const char *name, void **state, p11e_err *err)
{
	ldap_pub *p = calloc(1, sizeof(*p));
	json_object *v;
	p11e_rc rc;

	*state = NULL;
	if (p == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->timeout_s = 30;
	if ((rc = dup_string(conf, "url", p->name, 1, &p->url, err)) != P11E_OK ||
	    (rc = dup_string(conf, "base_dn", p->name, 1, &p->base_dn, err)) != P11E_OK ||
	    (rc = dup_string(conf, "ca_bundle", p->name, 0, &p->ca_bundle, err)) != P11E_OK ||
	    (rc = dup_string(conf, "bind_dn", p->name, 0, &p->bind_dn, err)) != P11E_OK ||
	    (rc = dup_string(conf, "bind_password_source", p->name, 0, &p->password_source, err)) !=
		P11E_OK ||
	    (rc = dup_string(conf, "filter", p->name, 0, &p->filter, err)) != P11E_OK)
		goto out;
	if (json_object_object_get_ex(conf, "starttls", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			rc = p11e_errf(err, P11E_CONFIG, "publishers.%s.starttls: true or false",
				       p->name);
			goto out;
		}
		p->starttls = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(conf, "timeout", &v)) {
		int64_t t = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || t < 1 || t > 600) {
			rc = p11e_errf(err, P11E_CONFIG,
				       "publishers.%s.timeout: whole seconds, 1 to 600", p->name);
			goto out;
		}
		p->timeout_s = (int)t;
	}
	if (json_object_object_get_ex(conf, "keep_encryption_history", &v) &&
	    !json_object_is_type(v, json_type_boolean)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "publishers.%s.keep_encryption_history: true or false", p->name);
		goto out;
	}
	if ((p->bind_dn == NULL) != (p->password_source == NULL)) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "publishers.%s: give both \"bind_dn\" and \"bind_password_source\" "
			       "(or neither, for an anonymous bind)",
			       p->name);
		goto out;
	}
	if (p->filter == NULL && (p->filter = strdup("(mail=%s)")) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	{
		char probe[1024];
		if (p11e_ldap_filter_build(p->filter, "a@b", probe, sizeof(probe)) != 0 ||
		    strstr(p->filter, "%s") == NULL) {
			rc = p11e_errf(err, P11E_CONFIG,
				       "publishers.%s.filter: an LDAP filter with %%s where the "
				       "address goes (%%%% for a '%%'), e.g. (mail=%%s)",
				       p->name);
			goto out;
		}
	}
	if ((rc = check_url(p, err)) != P11E_OK || (rc = read_attributes(p, conf, err)) != P11E_OK)
		goto out;
	*state = p;
	p = NULL;
out:
	ldap_close(p);
	return rc;
}

/* The library's words for code and, if the server sent one, its diagnostic
 * message, cleaned (a peer's text). */
void p11e_ldap_two_dns(ldap_pub *p, LDAPMessage *entry, char *a, char *b, size_t cap)
{
	char *da = p->api.get_dn(p->ld, entry);
	char *db = p->api.get_dn(p->ld, p->api.next_entry(p->ld, entry));

	p11e_peer_copy(a, cap, da ? da : "?");
	p11e_peer_copy(b, cap, db ? db : "?");
	p->api.memfree(da);
	p->api.memfree(db);
}

void p11e_ldap_describe(ldap_pub *p, int code, char *out, size_t cap)
{
	char *diag = NULL;
	char clean[200] = "";

	if (p->ld != NULL &&
	    p->api.get_option(p->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS &&
	    diag != NULL) {
		p11e_peer_copy(clean, sizeof(clean), diag);
		p->api.memfree(diag);
	}
	snprintf(out, cap, "%s (%d)%s%s", p->api.err2string(code), code, clean[0] ? ": " : "",
		 clean);
}

static int set_opt(ldap_pub *p, int option, const void *value)
{
	return p->api.set_option(p->ld, option, value) == LDAP_OPT_SUCCESS ? 0 : -1;
}

const char *p11e_ldap_then(const ldap_pub *p)
{
	return p->looking_up ? "enroll again" : "run p11enroll publish --retry";
}

/* Connects, TLS as configured (certificate and host name always verified),
 * binds. A failed bind is never tried again: the password is wrong. */
static p11e_rc connect_bind_once(ldap_pub *p, p11e_err *err)
{
	int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, code;
	struct timeval tv = {.tv_sec = p->timeout_s};
	char why[300], *password = NULL;
	struct berval cred = {0, NULL};
	p11e_rc rc;

	if (p11e_ldap_load(&p->api) != 0)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "publisher %s: cannot load libldap (libldap-2.5.so.0); install "
				 "Debian's libldap-2.5-0",
				 p->name);
	if ((code = p->api.initialize(&p->ld, p->url)) != LDAP_SUCCESS || p->ld == NULL) {
		p->ld = NULL;
		return p11e_errf(err, P11E_CONFIG, "publishers.%s.url: libldap refuses it: %s",
				 p->name, p->api.err2string(code));
	}
	if (set_opt(p, LDAP_OPT_PROTOCOL_VERSION, &version) ||
	    set_opt(p, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
	    set_opt(p, LDAP_OPT_NETWORK_TIMEOUT, &tv) || set_opt(p, LDAP_OPT_TIMEOUT, &tv) ||
	    set_opt(p, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) ||
	    (p->ca_bundle != NULL && set_opt(p, LDAP_OPT_X_TLS_CACERTFILE, p->ca_bundle)) ||
	    set_opt(p, LDAP_OPT_X_TLS_NEWCTX, &zero))
		return p11e_errf(err, P11E_FAIL,
				 "publisher %s: libldap refused its TLS or timeout options; check "
				 "ca_bundle",
				 p->name);
	if (p->starttls && (code = p->api.start_tls_s(p->ld, NULL, NULL)) != LDAP_SUCCESS) {
		p11e_ldap_describe(p, code, why, sizeof(why));
		return p11e_errf(err, P11E_FAIL,
				 "publisher %s: StartTLS with %s failed: %s; check the server and "
				 "ca_bundle, then %s",
				 p->name, p->url, why, p11e_ldap_then(p));
	}
	if (p->password_source != NULL) {
		rc = p11e_secret_read(p->password_source, "LDAP bind password", &password, err);
		if (rc != P11E_OK)
			return rc;
		cred.bv_val = password;
		cred.bv_len = strlen(password);
	}
	code = p->api.sasl_bind_s(p->ld, p->bind_dn ? p->bind_dn : "", LDAP_SASL_SIMPLE, &cred,
				  NULL, NULL, NULL);
	p11e_secret_free(password, (size_t)-1);
	if (code == LDAP_SUCCESS)
		return P11E_OK;
	p11e_ldap_describe(p, code, why, sizeof(why));
	if (code == LDAP_INVALID_CREDENTIALS)
		return p11e_errf(err, P11E_CONFIG,
				 "publisher %s: the directory refused bind_dn and the password "
				 "from bind_password_source: %s; fix them in the config",
				 p->name, why);
	return p11e_errf(err, P11E_FAIL,
			 "publisher %s: cannot reach or bind to %s: %s; nothing was %s, %s later",
			 p->name, p->url, why, p->looking_up ? "made" : "changed",
			 p11e_ldap_then(p));
}

/* p->ld set means bound: a connection that failed half-way is dropped, so
 * a later call starts over instead of using an unbound handle. */
p11e_rc p11e_ldap_connect_bind(ldap_pub *p, p11e_err *err)
{
	p11e_rc rc;

	if (p->ld != NULL)
		return P11E_OK;
	rc = connect_bind_once(p, err);
	if (rc != P11E_OK && p->ld != NULL) {
		p->api.unbind_ext_s(p->ld, NULL, NULL);
		p->ld = NULL;
	}
	return rc;
}

/* The one entry for address, its DN into *dn (ldap_memfree) and the search
 * result in *res holding its attributes (ldap_msgfree). */
static p11e_rc find_entry(ldap_pub *p, const char *address, char **dn, LDAPMessage **res,
			  LDAPMessage **entry, p11e_err *err)
{
	char filter[1024], why[300];
	struct timeval tv = {.tv_sec = p->timeout_s};
	int code, n;

	*dn = NULL;
	*res = NULL;
	if (p11e_ldap_filter_build(p->filter, address, filter, sizeof(filter)) != 0)
		return p11e_errf(err, P11E_USAGE,
				 "publisher %s: the address is too long for the filter", p->name);
	/* Two are enough to tell "several". */
	code = p->api.search_ext_s(p->ld, p->base_dn, LDAP_SCOPE_SUBTREE, filter, (char **)p->attrs,
				   0, NULL, NULL, &tv, 2, res);
	if (code != LDAP_SUCCESS && code != LDAP_SIZELIMIT_EXCEEDED) {
		p11e_ldap_describe(p, code, why, sizeof(why));
		return p11e_errf(err, code == LDAP_NO_SUCH_OBJECT ? P11E_CONFIG : P11E_FAIL,
				 "publisher %s: search %s under %s failed: %s", p->name, filter,
				 p->base_dn, why);
	}
	n = p->api.count_entries(p->ld, *res);
	if (n == 0)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "publisher %s: no entry matches %s under %s; create the directory "
				 "entry for %s, then p11enroll publish --retry",
				 p->name, filter, p->base_dn, address);
	*entry = p->api.first_entry(p->ld, *res);
	if (n > 1 || code == LDAP_SIZELIMIT_EXCEEDED) {
		char ca[200], cb[200];
		p11e_ldap_two_dns(p, *entry, ca, cb, sizeof(ca));
		return p11e_errf(err, P11E_USAGE,
				 "publisher %s: several entries match %s (%s, %s, ...); make the "
				 "filter or base_dn select one",
				 p->name, filter, ca, cb);
	}
	*dn = p->api.get_dn(p->ld, *entry);
	if (*dn == NULL)
		return p11e_errf(err, P11E_FAIL, "publisher %s: the entry has no DN", p->name);
	return P11E_OK;
}

/* The value of attribute i for cert. */
static p11e_rc value_of(ldap_pub *p, size_t i, X509 *cert, unsigned char **der, int *len,
			p11e_err *err)
{
	if (p11e_ldap_attribute_form(p->attrs[i]) == P11E_LDAP_PKCS7)
		return p11e_ldap_pkcs7_of(cert, der, len, err);
	*der = NULL;
	if ((*len = i2d_X509(cert, der)) <= 0)
		return p11e_errf_ssl(err, P11E_FAIL, "publish: cannot encode the certificate");
	return P11E_OK;
}

/* Whether the entry's values of attribute hold value, and how many it has. */
static int holds(ldap_pub *p, LDAPMessage *entry, const char *attr, const struct berval *value,
		 size_t *count)
{
	struct berval **vals = p->api.get_values_len(p->ld, entry, attr);
	int found = 0;

	*count = 0;
	for (size_t k = 0; vals != NULL && vals[k] != NULL; k++, (*count)++)
		if (vals[k]->bv_len == value->bv_len &&
		    memcmp(vals[k]->bv_val, value->bv_val, value->bv_len) == 0)
			found = 1;
	if (vals != NULL)
		p->api.value_free_len(vals);
	return found;
}

/* The entry's values of an attribute without value, and with it when add
 * is set: for an attribute the server has no equality rule for
 * (userSMIMECertificate in OpenLDAP's schema), which it can neither pick
 * one value out of nor add a second value to by itself (slapd 2.5:
 * "modify/add: no equality matching rule", measured). NULL-terminated, a
 * malloc'd array of pointers into vals' storage and value. */
static struct berval **rewritten(struct berval **vals, struct berval *value, int add)
{
	size_t n = 0, o = 0;
	struct berval **out;

	while (vals != NULL && vals[n] != NULL)
		n++;
	if ((out = calloc(n + 2, sizeof(*out))) == NULL)
		return NULL;
	for (size_t k = 0; k < n; k++)
		if (!(vals[k]->bv_len == value->bv_len &&
		      memcmp(vals[k]->bv_val, value->bv_val, value->bv_len) == 0))
			out[o++] = vals[k];
	if (add)
		out[o] = value;
	return out;
}

static p11e_rc modify_one(ldap_pub *p, const char *dn, LDAPMessage *entry, size_t i,
			  struct berval *value, int remove, int *already, p11e_err *err)
{
	struct berval *vals[2] = {value, NULL};
	LDAPMod mod = {.mod_op = (remove ? LDAP_MOD_DELETE : LDAP_MOD_ADD) | LDAP_MOD_BVALUES,
		       .mod_type = (char *)p->attrs[i],
		       .mod_vals.modv_bvals = vals};
	LDAPMod *mods[2] = {&mod, NULL};
	size_t count;
	char why[300];
	int code;

	*already = holds(p, entry, p->attrs[i], value, &count) != remove;
	if (*already)
		return P11E_OK;
	code = p->api.modify_ext_s(p->ld, dn, mods, NULL, NULL);
	if (code == LDAP_INAPPROPRIATE_MATCHING) {
		/* No equality rule: the values read are written back, with or
		 * without this one, in one replace. */
		struct berval **old = p->api.get_values_len(p->ld, entry, p->attrs[i]);
		struct berval **next = rewritten(old, value, !remove);
		LDAPMod rep = {.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES,
			       .mod_type = (char *)p->attrs[i],
			       .mod_vals.modv_bvals = next};
		LDAPMod *reps[2] = {&rep, NULL};
		code = next == NULL ? LDAP_NO_MEMORY
				    : p->api.modify_ext_s(p->ld, dn, reps, NULL, NULL);
		free(next);
		if (old != NULL)
			p->api.value_free_len(old);
	}
	if (code == LDAP_SUCCESS)
		return P11E_OK;
	/* Someone else got there between the read and the write. */
	if ((!remove && code == LDAP_TYPE_OR_VALUE_EXISTS) ||
	    (remove && code == LDAP_NO_SUCH_ATTRIBUTE)) {
		*already = 1;
		return P11E_OK;
	}
	p11e_ldap_describe(p, code, why, sizeof(why));
	return p11e_errf(err, P11E_FAIL, "publisher %s: cannot %s %s of %.200s: %s%s", p->name,
			 remove ? "remove the certificate from" : "add the certificate to",
			 p->attrs[i], dn, why,
			 code == LDAP_UNDEFINED_TYPE || code == LDAP_OBJECT_CLASS_VIOLATION ||
				 code == LDAP_INVALID_SYNTAX
			     ? "; the entry's schema takes other attributes (\"directory\": "
			       "openldap or ad, or \"attributes\")"
			     : "");
}

static p11e_rc change(void *state, const char *address, X509 *cert, int remove, int *already,
		      p11e_err *err)
{
	ldap_pub *p = state;
	LDAPMessage *res = NULL, *entry = NULL;
	char *dn = NULL;
	p11e_rc rc;
	int all_already = 1;

	if ((rc = p11e_ldap_connect_bind(p, err)) != P11E_OK ||
	    (rc = find_entry(p, address, &dn, &res, &entry, err)) != P11E_OK)
		goto out;
	for (size_t i = 0; p->attrs[i] != NULL && rc == P11E_OK; i++) {
		unsigned char *der = NULL;
		int len = 0, was = 0;
		if ((rc = value_of(p, i, cert, &der, &len, err)) != P11E_OK)
			break;
		struct berval value = {.bv_len = (ber_len_t)len, .bv_val = (char *)der};
		rc = modify_one(p, dn, entry, i, &value, remove, &was, err);
		all_already &= was;
		OPENSSL_free(der);
	}
	*already = rc == P11E_OK && all_already;
out:
	if (dn != NULL)
		p->api.memfree(dn);
	if (res != NULL)
		p->api.msgfree(res);
	return rc;
}

static p11e_rc ldap_publish(void *state, const char *address, X509 *cert, int *already,
			    p11e_err *err)
{
	return change(state, address, cert, 0, already, err);
}

static p11e_rc ldap_unpublish(void *state, const char *address, X509 *cert, int *already,
			      p11e_err *err)
{
	return change(state, address, cert, 1, already, err);
}

const p11e_publish_ops p11e_publish_ldap_ops = {
    .type = "ldap",
    .open = ldap_open,
    .publish = ldap_publish,
    .unpublish = ldap_unpublish,
    .close = ldap_close,
    .lookup = p11e_ldap_lookup_identity,
    .config_keys = config_keys,
};
