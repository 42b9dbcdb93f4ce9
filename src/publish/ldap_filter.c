/* What the LDAP publisher computes without a directory: the search filter
 * (RFC 4515 escaping of the address), the attributes a directory kind
 * takes, and the values put there. Kept apart from libldap so the unit
 * tests and the fuzz harness reach them without a server. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/pkcs7.h>
#include "p11enroll/publish.h"

int p11e_ldap_filter_escape(const char *in, size_t len, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		/* RFC 4515 requires \XX for * ( ) \ and NUL; controls and
		 * non-ASCII bytes too, so the filter is plain printable ASCII
		 * whatever the address holds. */
		int esc = c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f;
		if (o + (esc ? 3 : 1) >= cap)
			return -1;
		if (esc) {
			out[o++] = '\\';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		} else {
			out[o++] = (char)c;
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return 0;
}

int p11e_ldap_filter_build(const char *tmpl, const char *address, char *out, size_t cap)
{
	char esc[3 * 320 + 1];
	size_t o = 0, elen;

	if (p11e_ldap_filter_escape(address, strlen(address), esc, sizeof(esc)) != 0)
		return -1;
	elen = strlen(esc);
	for (const char *t = tmpl; *t != '\0'; t++) {
		const char *piece = t;
		size_t plen = 1;
		if (*t == '%') {
			if (t[1] == 's') {
				piece = esc;
				plen = elen;
			} else if (t[1] != '%') {
				return -1;
			}
			t++;
		}
		if (o + plen >= cap)
			return -1;
		memcpy(out + o, piece, plen);
		o += plen;
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return 0;
}

int p11e_ldap_attribute_form(const char *name)
{
	if (strcasecmp(name, "userCertificate") == 0 ||
	    strcasecmp(name, "userCertificate;binary") == 0)
		return P11E_LDAP_DER;
	if (strcasecmp(name, "userSMIMECertificate") == 0)
		return P11E_LDAP_PKCS7;
	return 0;
}

const char *const *p11e_ldap_directory_attributes(const char *directory)
{
	/* slapd refuses plain userCertificate ("requires ;binary transfer"),
	 * Samba's AD refuses the ;binary option; both take
	 * userSMIMECertificate (measured: ../shared/notes/platform-facts.md). */
	static const char *const openldap[] = {"userCertificate;binary", "userSMIMECertificate",
					       NULL};
	static const char *const ad[] = {"userCertificate", "userSMIMECertificate", NULL};

	if (directory == NULL || strcmp(directory, "openldap") == 0)
		return openldap;
	if (strcmp(directory, "ad") == 0)
		return ad;
	return NULL;
}

p11e_rc p11e_ldap_pkcs7_of(X509 *cert, unsigned char **der, int *len, p11e_err *err)
{
	PKCS7 *p7 = PKCS7_new();
	p11e_rc rc = P11E_OK;

	*der = NULL;
	*len = 0;
	/* The certificate alone, no chain: the value is then a function of the
	 * certificate, so publishing again finds it and a removal matches
	 * exactly it; the CA certificates are not the user's to publish. */
	if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !ASN1_INTEGER_set(p7->d.sign->version, 1) || !PKCS7_content_new(p7, NID_pkcs7_data) ||
	    !PKCS7_add_certificate(p7, cert) || (*len = i2d_PKCS7(p7, der)) <= 0) {
		*len = 0;
		rc = p11e_errf_ssl(err, P11E_FAIL,
				   "publish: cannot make the PKCS#7 of the certificate");
	}
	PKCS7_free(p7);
	return rc;
}
