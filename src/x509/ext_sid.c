/* The SID extension (ext_logon.h): the account's security identifier, which
 * domain controllers use for strong certificate mapping (Microsoft
 * KB5014754). Its value is GeneralNames holding one otherName. */
#include <stdlib.h>
#include <string.h>
#include <openssl/objects.h>
#include "x509/ext_logon.h"

#define OID_SID_EXT "1.3.6.1.4.1.311.25.2"
#define OID_SID_NAME "1.3.6.1.4.1.311.25.2.1"

/* OpenSSL's table has no NID for these OIDs; registering one (OBJ_create)
 * would change process-wide state, so each use makes its own object. */
ASN1_OBJECT *p11e_x509_sid_ext_obj(void)
{
	return OBJ_txt2obj(OID_SID_EXT, 1);
}

X509_EXTENSION *p11e_x509_sid_ext(const char *sid)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_OCTET_STRING *text = ASN1_OCTET_STRING_new(), *der = NULL;
	ASN1_TYPE *value = ASN1_TYPE_new();
	ASN1_OBJECT *type_id = OBJ_txt2obj(OID_SID_NAME, 1);
	ASN1_OBJECT *ext_obj = p11e_x509_sid_ext_obj();
	X509_EXTENSION *ext = NULL;

	if (names == NULL || gn == NULL || text == NULL || value == NULL || type_id == NULL ||
	    ext_obj == NULL ||
	    ASN1_OCTET_STRING_set(text, (const unsigned char *)sid, (int)strlen(sid)) != 1)
		goto out;
	ASN1_TYPE_set(value, V_ASN1_OCTET_STRING, text);
	text = NULL;
	if (GENERAL_NAME_set0_othername(gn, type_id, value) != 1)
		goto out;
	type_id = NULL;
	value = NULL;
	if (!sk_GENERAL_NAME_push(names, gn))
		goto out;
	gn = NULL;
	if ((der = ASN1_item_pack(names, ASN1_ITEM_rptr(GENERAL_NAMES), NULL)) == NULL)
		goto out;
	ext = X509_EXTENSION_create_by_OBJ(NULL, ext_obj, 0, der);
out:
	ASN1_OBJECT_free(ext_obj);
	ASN1_OCTET_STRING_free(der);
	ASN1_OBJECT_free(type_id);
	ASN1_TYPE_free(value);
	ASN1_OCTET_STRING_free(text);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return ext;
}

char *p11e_x509_sid_of(const X509_EXTENSION *ext)
{
	ASN1_OBJECT *type_id = OBJ_txt2obj(OID_SID_NAME, 1);
	ASN1_OBJECT *ext_obj = p11e_x509_sid_ext_obj();
	GENERAL_NAMES *names = NULL;
	const GENERAL_NAME *gn;
	const ASN1_OCTET_STRING *s;
	char *out = NULL;
	int len;

	if (ext == NULL || type_id == NULL || ext_obj == NULL ||
	    OBJ_cmp(X509_EXTENSION_get_object((X509_EXTENSION *)ext), ext_obj) != 0)
		goto out;
	names = ASN1_item_unpack(X509_EXTENSION_get_data((X509_EXTENSION *)ext),
				 ASN1_ITEM_rptr(GENERAL_NAMES));
	if (names == NULL || sk_GENERAL_NAME_num(names) != 1)
		goto out;
	gn = sk_GENERAL_NAME_value(names, 0);
	if (gn->type != GEN_OTHERNAME || OBJ_cmp(gn->d.otherName->type_id, type_id) != 0 ||
	    gn->d.otherName->value == NULL || gn->d.otherName->value->type != V_ASN1_OCTET_STRING)
		goto out;
	s = gn->d.otherName->value->value.octet_string;
	len = ASN1_STRING_length(s);
	if (len < 0 || memchr(ASN1_STRING_get0_data(s), '\0', (size_t)len) != NULL ||
	    (out = malloc((size_t)len + 1)) == NULL)
		goto out;
	memcpy(out, ASN1_STRING_get0_data(s), (size_t)len);
	out[len] = '\0';
out:
	GENERAL_NAMES_free(names);
	ASN1_OBJECT_free(ext_obj);
	ASN1_OBJECT_free(type_id);
	return out;
}
