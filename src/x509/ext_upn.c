/* The subjectAltName otherNames of logon certificates (ext_logon.h): the UPN
 * Windows maps to an account, and id-pkinit-san, the Kerberos principal a
 * PKINIT KDC maps (RFC 4556 3.2.2 and its appendix A module). */
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1t.h>
#include <openssl/objects.h>
#include "x509/ext_logon.h"

#define OID_PKINIT_SAN "1.3.6.1.5.2.2"
#define NT_PRINCIPAL 1

/* RFC 4120's PrincipalName and RFC 4556's KRB5PrincipalName; the Kerberos
 * module's tags are EXPLICIT. (OpenSSL's template macros confuse
 * clang-format.) */
/* clang-format off */
typedef struct krb5_principal_name {
	ASN1_INTEGER *name_type;
	STACK_OF(ASN1_GENERALSTRING) *name_string;
} KRB5_PRINCNAME;

typedef struct krb5_pkinit_san {
	ASN1_GENERALSTRING *realm;
	KRB5_PRINCNAME *principal_name;
} KRB5_PKINIT_SAN;

ASN1_SEQUENCE(KRB5_PRINCNAME) = {
    ASN1_EXP(KRB5_PRINCNAME, name_type, ASN1_INTEGER, 0),
    ASN1_EXP_SEQUENCE_OF(KRB5_PRINCNAME, name_string, ASN1_GENERALSTRING, 1),
} ASN1_SEQUENCE_END(KRB5_PRINCNAME)

ASN1_SEQUENCE(KRB5_PKINIT_SAN) = {
    ASN1_EXP(KRB5_PKINIT_SAN, realm, ASN1_GENERALSTRING, 0),
    ASN1_EXP(KRB5_PKINIT_SAN, principal_name, KRB5_PRINCNAME, 1),
} ASN1_SEQUENCE_END(KRB5_PKINIT_SAN)

DECLARE_ASN1_FUNCTIONS(KRB5_PKINIT_SAN)
IMPLEMENT_ASN1_FUNCTIONS(KRB5_PKINIT_SAN)
/* clang-format on */

/* An otherName GENERAL_NAME of type oid holding value (taken over). */
static GENERAL_NAME *other_name(ASN1_OBJECT *oid, ASN1_TYPE *value)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();

	if (gn == NULL || oid == NULL || value == NULL ||
	    GENERAL_NAME_set0_othername(gn, oid, value) != 1) {
		GENERAL_NAME_free(gn);
		ASN1_OBJECT_free(oid);
		ASN1_TYPE_free(value);
		return NULL;
	}
	return gn;
}

GENERAL_NAME *p11e_x509_upn_name(const char *upn)
{
	ASN1_UTF8STRING *s = ASN1_UTF8STRING_new();
	ASN1_TYPE *value = ASN1_TYPE_new();

	if (s == NULL || value == NULL || ASN1_STRING_set(s, upn, (int)strlen(upn)) != 1) {
		ASN1_UTF8STRING_free(s);
		ASN1_TYPE_free(value);
		return NULL;
	}
	ASN1_TYPE_set(value, V_ASN1_UTF8STRING, s);
	return other_name(OBJ_nid2obj(NID_ms_upn), value);
}

/* A string's bytes as a C string, or NULL if it holds a NUL (a name
 * that would read as another in C) or memory runs out. */
static char *c_string(const ASN1_STRING *s)
{
	int len = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);
	char *out;

	if (len < 0 || memchr(d, '\0', (size_t)len) != NULL ||
	    (out = malloc((size_t)len + 1)) == NULL)
		return NULL;
	memcpy(out, d, (size_t)len);
	out[len] = '\0';
	return out;
}

char *p11e_x509_upn_of(const GENERAL_NAME *gn)
{
	const OTHERNAME *on;

	if (gn == NULL || gn->type != GEN_OTHERNAME)
		return NULL;
	on = gn->d.otherName;
	if (OBJ_obj2nid(on->type_id) != NID_ms_upn || on->value == NULL ||
	    on->value->type != V_ASN1_UTF8STRING)
		return NULL;
	return c_string(on->value->value.utf8string);
}

static int push_string(STACK_OF(ASN1_GENERALSTRING) * sk, const char *s, size_t len)
{
	ASN1_GENERALSTRING *g = ASN1_GENERALSTRING_new();

	if (g == NULL || ASN1_STRING_set(g, s, (int)len) != 1 ||
	    !sk_ASN1_GENERALSTRING_push(sk, g)) {
		ASN1_GENERALSTRING_free(g);
		return 0;
	}
	return 1;
}

GENERAL_NAME *p11e_x509_pkinit_san_name(const char *principal)
{
	const char *at = strrchr(principal, '@'), *c = principal;
	KRB5_PKINIT_SAN *san = KRB5_PKINIT_SAN_new();
	ASN1_STRING *der = NULL;
	ASN1_TYPE *value = NULL;
	GENERAL_NAME *gn = NULL;

	if (at == NULL || san == NULL ||
	    ASN1_STRING_set(san->realm, at + 1, (int)strlen(at + 1)) != 1 ||
	    ASN1_INTEGER_set(san->principal_name->name_type, NT_PRINCIPAL) != 1)
		goto out;
	/* The components, separated by '/'. */
	while (c < at) {
		const char *slash = memchr(c, '/', (size_t)(at - c));
		const char *end = slash != NULL ? slash : at;
		if (!push_string(san->principal_name->name_string, c, (size_t)(end - c)))
			goto out;
		c = end + 1;
	}
	/* The value is the SEQUENCE itself: its whole encoding. */
	if ((der = ASN1_item_pack(san, ASN1_ITEM_rptr(KRB5_PKINIT_SAN), NULL)) == NULL ||
	    (value = ASN1_TYPE_new()) == NULL)
		goto out;
	ASN1_TYPE_set(value, V_ASN1_SEQUENCE, der);
	der = NULL;
	gn = other_name(OBJ_txt2obj(OID_PKINIT_SAN, 1), value);
	value = NULL;
out:
	ASN1_STRING_free(der);
	ASN1_TYPE_free(value);
	KRB5_PKINIT_SAN_free(san);
	return gn;
}

/* A component or realm fit for "c1/c2@REALM": not empty, no separator or
 * escape in it. */
static int part_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strpbrk(s, "/@\\") == NULL;
}

char *p11e_x509_pkinit_san_of(const GENERAL_NAME *gn)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(OID_PKINIT_SAN, 1);
	KRB5_PKINIT_SAN *san = NULL;
	char *out = NULL, *part = NULL, *realm = NULL;
	size_t len = 0;
	int n;

	if (oid == NULL || gn == NULL || gn->type != GEN_OTHERNAME ||
	    OBJ_cmp(gn->d.otherName->type_id, oid) != 0 || gn->d.otherName->value == NULL ||
	    gn->d.otherName->value->type != V_ASN1_SEQUENCE)
		goto out;
	san = ASN1_item_unpack(gn->d.otherName->value->value.sequence,
			       ASN1_ITEM_rptr(KRB5_PKINIT_SAN));
	if (san == NULL || (n = sk_ASN1_GENERALSTRING_num(san->principal_name->name_string)) < 1)
		goto out;
	realm = c_string(san->realm);
	if (!part_ok(realm))
		goto out;
	for (int i = 0; i < n; i++)
		len += (size_t)ASN1_STRING_length(
			   sk_ASN1_GENERALSTRING_value(san->principal_name->name_string, i)) +
		       1;
	if ((out = malloc(len + strlen(realm) + 1)) == NULL)
		goto out;
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		part = c_string(sk_ASN1_GENERALSTRING_value(san->principal_name->name_string, i));
		if (!part_ok(part)) {
			free(out);
			out = NULL;
			goto out;
		}
		strcat(out, part);
		strcat(out, i + 1 < n ? "/" : "@");
		free(part);
		part = NULL;
	}
	strcat(out, realm);
out:
	free(part);
	free(realm);
	KRB5_PKINIT_SAN_free(san);
	ASN1_OBJECT_free(oid);
	return out;
}
