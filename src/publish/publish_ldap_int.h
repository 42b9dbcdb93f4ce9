/* Inside the "ldap" publisher (src/publish/publish_ldap.c): its state and
 * connection, shared with the identity lookup (src/publish/ldap_lookup.c),
 * which searches the same directory with the same bind. */
#ifndef P11ENROLL_PUBLISH_LDAP_INT_H
#define P11ENROLL_PUBLISH_LDAP_INT_H

#include <ldap.h>
#include "p11enroll/directory.h"
#include "p11enroll/error.h"

#define MAX_ATTRS 4

/* The libldap calls used, typed by its own declarations. */
typedef struct ldap_api {
	__typeof__(&ldap_initialize) initialize;
	__typeof__(&ldap_set_option) set_option;
	__typeof__(&ldap_get_option) get_option;
	__typeof__(&ldap_start_tls_s) start_tls_s;
	__typeof__(&ldap_sasl_bind_s) sasl_bind_s;
	__typeof__(&ldap_search_ext_s) search_ext_s;
	__typeof__(&ldap_count_entries) count_entries;
	__typeof__(&ldap_first_entry) first_entry;
	__typeof__(&ldap_next_entry) next_entry;
	__typeof__(&ldap_get_dn) get_dn;
	__typeof__(&ldap_memfree) memfree;
	__typeof__(&ldap_msgfree) msgfree;
	__typeof__(&ldap_get_values_len) get_values_len;
	__typeof__(&ldap_value_free_len) value_free_len;
	__typeof__(&ldap_modify_ext_s) modify_ext_s;
	__typeof__(&ldap_unbind_ext_s) unbind_ext_s;
	__typeof__(&ldap_err2string) err2string;
} ldap_api;

/* Opens libldap (dlopen) and fills api: 0, or -1 when it is not there. */
int p11e_ldap_load(ldap_api *api);

typedef struct ldap_pub {
	ldap_api api;
	char name[64]; /* its key in "publishers", for messages */
	char *url, *ca_bundle, *bind_dn, *password_source, *base_dn, *filter;
	const char *attrs[MAX_ATTRS + 1];
	char *attr_copies[MAX_ATTRS];
	int starttls;
	int timeout_s;
	LDAP *ld;	/* bound, once the first call connected */
	int looking_up; /* for an enrollment's identity lookup, not a publish */
} ldap_pub;

/* Connects and binds once (p->ld set means bound); a failed bind is never
 * tried again. */
p11e_rc p11e_ldap_connect_bind(ldap_pub *p, p11e_err *err);
/* What to do once the directory answers again, for a message. */
const char *p11e_ldap_then(const ldap_pub *p);
/* The library's words for code and the server's diagnostic, cleaned. */
void p11e_ldap_describe(ldap_pub *p, int code, char *out, size_t cap);
/* The DNs of entry and the one after it, cleaned, for a "several entries
 * match" message (each cut to cap). */
void p11e_ldap_two_dns(ldap_pub *p, LDAPMessage *entry, char *a, char *b, size_t cap);
/* The publisher's lookup op (include/p11enroll/publish.h). */
p11e_rc p11e_ldap_lookup_identity(void *state, const char *address, p11e_dir_identity *out,
				  p11e_err *err);

#endif
