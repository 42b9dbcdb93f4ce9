/* The identity lookup of the "ldap" publisher (include/p11enroll/directory.h):
 * the same directory, bind, base_dn and filter as `publish`, one search for
 * the person's userPrincipalName, objectSid and displayName, the values
 * handed to the parser (src/publish/ldap_identity.c). Read only: nothing in
 * the directory changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "p11enroll/directory.h"
#include "p11enroll/peer.h"
#include "p11enroll/publish.h"
#include "publish/publish_ldap_int.h"

/* Values kept of one attribute: more than one is refused anyway. */
#define VALUES_PER_ATTR 2

static p11e_rc search_one(ldap_pub *p, const char *address, LDAPMessage **res, LDAPMessage **entry,
			  p11e_err *err)
{
	static const char *const attrs[] = {P11E_DIR_ATTR_UPN, P11E_DIR_ATTR_SID,
					    P11E_DIR_ATTR_DISPLAY, NULL};
	char filter[1024], why[300];
	struct timeval tv = {.tv_sec = p->timeout_s};
	int code, n;

	*res = NULL;
	if (p11e_ldap_filter_build(p->filter, address, filter, sizeof(filter)) != 0)
		return p11e_errf(err, P11E_USAGE,
				 "identity_from %s: the address is too long for the filter",
				 p->name);
	/* Two are enough to tell "several". */
	code = p->api.search_ext_s(p->ld, p->base_dn, LDAP_SCOPE_SUBTREE, filter, (char **)attrs, 0,
				   NULL, NULL, &tv, 2, res);
	if (code != LDAP_SUCCESS && code != LDAP_SIZELIMIT_EXCEEDED) {
		p11e_ldap_describe(p, code, why, sizeof(why));
		return p11e_errf(err, code == LDAP_NO_SUCH_OBJECT ? P11E_CONFIG : P11E_FAIL,
				 "identity_from %s: search %s under %s failed: %s; nothing was "
				 "made, enroll again when the directory answers",
				 p->name, filter, p->base_dn, why);
	}
	n = p->api.count_entries(p->ld, *res);
	if (n == 0)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "identity_from %s: no entry matches %s under %s; create the "
				 "person's directory entry, then enroll again",
				 p->name, filter, p->base_dn);
	*entry = p->api.first_entry(p->ld, *res);
	if (n > 1 || code == LDAP_SIZELIMIT_EXCEEDED) {
		char ca[200], cb[200];
		p11e_ldap_two_dns(p, *entry, ca, cb, sizeof(ca));
		return p11e_errf(err, P11E_USAGE,
				 "identity_from %s: several entries match %s (%s, %s, ...); "
				 "nothing was made: make the filter or base_dn select one person",
				 p->name, filter, ca, cb);
	}
	return P11E_OK;
}

p11e_rc p11e_ldap_lookup_identity(void *state, const char *address, p11e_dir_identity *out,
				  p11e_err *err)
{
	static const char *const names[] = {P11E_DIR_ATTR_UPN, P11E_DIR_ATTR_SID,
					    P11E_DIR_ATTR_DISPLAY};
	enum { N_NAMES = sizeof(names) / sizeof(names[0]) };
	ldap_pub *p = state;
	LDAPMessage *res = NULL, *entry = NULL;
	struct berval **vals[N_NAMES] = {NULL};
	p11e_dir_value flat[N_NAMES * VALUES_PER_ATTR];
	size_t n = 0;
	char *dn = NULL, where[300], clean[200];
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	p->looking_up = 1;
	if ((rc = p11e_ldap_connect_bind(p, err)) != P11E_OK ||
	    (rc = search_one(p, address, &res, &entry, err)) != P11E_OK)
		goto out;
	dn = p->api.get_dn(p->ld, entry);
	p11e_peer_copy(clean, sizeof(clean), dn != NULL ? dn : "?");
	snprintf(where, sizeof(where), "identity_from %s, entry %s", p->name, clean);
	for (size_t a = 0; a < N_NAMES; a++) {
		vals[a] = p->api.get_values_len(p->ld, entry, names[a]);
		for (size_t k = 0; vals[a] != NULL && vals[a][k] != NULL && k < VALUES_PER_ATTR;
		     k++)
			flat[n++] =
			    (p11e_dir_value){.attr = names[a],
					     .data = (const unsigned char *)vals[a][k]->bv_val,
					     .len = vals[a][k]->bv_len};
	}
	rc = p11e_dir_identity_parse(flat, n, where, out, err);
out:
	for (size_t a = 0; a < N_NAMES; a++)
		if (vals[a] != NULL)
			p->api.value_free_len(vals[a]);
	if (dn != NULL)
		p->api.memfree(dn);
	if (res != NULL)
		p->api.msgfree(res);
	return rc;
}

p11e_rc p11e_dir_identity_lookup(const p11e_config *cfg, const char *name, const char *address,
				 p11e_dir_identity *out, p11e_err *err)
{
	p11e_publisher *pub = NULL;
	p11e_rc rc = p11e_publisher_open(cfg, name, &pub, err);

	memset(out, 0, sizeof(*out));
	if (rc == P11E_OK)
		rc = p11e_publisher_lookup(pub, address, out, err);
	p11e_publisher_close(pub);
	return rc;
}
