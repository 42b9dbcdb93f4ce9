/* What the digicert backend sends CertCentral (ca_digicert.c): the order's
 * body, the mailbox from the CSR, query escaping. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/x509v3.h>
#include "ca/ca_digicert.h"

/* Percent-encodes s for a query string. */
void digicert_query_escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t used = 0;

	for (; *s && used + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			out[used++] = (char)c;
		} else {
			out[used++] = '%';
			out[used++] = hex[c >> 4];
			out[used++] = hex[c & 15];
		}
	}
	out[used] = '\0';
}

/* The first rfc822Name the CSR asks for: the mailbox DigiCert validates. */
char *digicert_csr_email(X509_REQ *csr)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
	GENERAL_NAMES *names = NULL;
	char *email = NULL;

	for (int i = 0; exts != NULL && i < sk_X509_EXTENSION_num(exts) && names == NULL; i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
		if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name)
			names = X509V3_EXT_d2i(e);
	}
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && email == NULL; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type == GEN_EMAIL)
			email = strndup((const char *)ASN1_STRING_get0_data(g->d.rfc822Name),
					(size_t)ASN1_STRING_length(g->d.rfc822Name));
	}
	GENERAL_NAMES_free(names);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return email;
}

/* The order's body: the CSR, the mailbox, what the key is for, validity. */
char *digicert_order_body(const digicert_order_opts *d, const p11e_profile *p, const char *csr_pem,
			  const char *email, const char *request_key)
{
	int sign = (p->purposes & P11E_PURPOSE_SIGN) != 0;
	int encrypt = (p->purposes & P11E_PURPOSE_ENCRYPT) != 0;
	json_object *o = json_object_new_object(), *cert = json_object_new_object();
	json_object *emails = json_object_new_array(), *usage = json_object_new_object();
	json_object *validity = json_object_new_object();
	char comments[160];
	char *body = NULL;

	if (o == NULL || cert == NULL || emails == NULL || usage == NULL || validity == NULL) {
		json_object_put(o);
		json_object_put(cert);
		json_object_put(emails);
		json_object_put(usage);
		json_object_put(validity);
		return NULL;
	}
	json_object_array_add(emails, json_object_new_string(email));
	json_object_object_add(cert, "csr", json_object_new_string(csr_pem));
	json_object_object_add(cert, "emails", emails);
	json_object_object_add(cert, "signature_hash",
			       json_object_new_string(p->digest[0] ? p->digest : "sha256"));
	json_object_object_add(usage, "primary_usage",
			       json_object_new_string(sign && encrypt ? "dual_use"
						      : sign	      ? "signing"
								      : "key_management"));
	json_object_object_add(cert, "usage_designation", usage);
	if (d->profile_type != NULL)
		json_object_object_add(cert, "profile_type",
				       json_object_new_string(d->profile_type));
	if (d->cn_indicator != NULL)
		json_object_object_add(cert, "common_name_indicator",
				       json_object_new_string(d->cn_indicator));
	json_object_object_add(o, "certificate", cert);
	if (p->validity_days > 0 && p->validity_days % 365 == 0)
		json_object_object_add(validity, "years",
				       json_object_new_int(p->validity_days / 365));
	else
		json_object_object_add(
		    validity, "days",
		    json_object_new_int(p->validity_days > 0 ? p->validity_days : 365));
	json_object_object_add(o, "order_validity", validity);
	if (d->organization_id > 0) {
		json_object *org = json_object_new_object();
		json_object_object_add(org, "id", json_object_new_int64(d->organization_id));
		json_object_object_add(o, "organization", org);
	}
	if (d->container_id > 0) {
		json_object *c = json_object_new_object();
		json_object_object_add(c, "id", json_object_new_int64(d->container_id));
		json_object_object_add(o, "container", c);
	}
	if (d->payment_method != NULL)
		json_object_object_add(o, "payment_method",
				       json_object_new_string(d->payment_method));
	if (d->skip_approval >= 0)
		json_object_object_add(o, "skip_approval",
				       json_object_new_boolean(d->skip_approval));
	/* Ours to find the order again (find_order). */
	snprintf(comments, sizeof(comments), "p11enroll request %s", request_key);
	json_object_object_add(o, "comments", json_object_new_string(comments));
	body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return body;
}
