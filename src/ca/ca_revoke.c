/* What every CA backend's revocation shares: RFC 5280 reason names and the
 * one spelling of a serial number that CAs and their indexes compare. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bn.h>
#include "p11enroll/ca.h"

static const struct {
	int code;
	const char *name;
} reasons[] = {
    {P11E_REASON_UNSPECIFIED, "unspecified"},
    {P11E_REASON_KEY_COMPROMISE, "keyCompromise"},
    {P11E_REASON_CA_COMPROMISE, "cACompromise"},
    {P11E_REASON_AFFILIATION_CHANGED, "affiliationChanged"},
    {P11E_REASON_SUPERSEDED, "superseded"},
    {P11E_REASON_CESSATION_OF_OPERATION, "cessationOfOperation"},
    {P11E_REASON_CERTIFICATE_HOLD, "certificateHold"},
    {P11E_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"},
    {P11E_REASON_AA_COMPROMISE, "aACompromise"},
};

int p11e_revoke_reason_parse(const char *name)
{
	/* Case-insensitive: people type "keycompromise" as often as RFC 5280's
	 * spelling, and no two names differ only in case. */
	for (size_t i = 0; name != NULL && i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcasecmp(name, reasons[i].name) == 0)
			return reasons[i].code;
	return -1;
}

const char *p11e_revoke_reason_name(int code)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return NULL;
}

#define SERIAL_MAX_DIGITS 64 /* RFC 5280: at most 20 octets; leave room for zeros */

p11e_rc p11e_serial_canonical(const char *field, const char *text, char *out, size_t cap,
			      p11e_err *err)
{
	char digits[SERIAL_MAX_DIGITS + 1];
	size_t n = 0;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	p11e_rc rc = P11E_OK;

	if (text == NULL)
		text = "";
	if (strncasecmp(text, "serial=", 7) == 0)
		text += 7;
	if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
		text += 2;
	for (const char *c = text; *c; c++) {
		if (*c == ':')
			continue;
		if (!isxdigit((unsigned char)*c) || n == SERIAL_MAX_DIGITS)
			return p11e_errf(err, P11E_USAGE,
					 "%s: not a serial number in hex (at most %d digits, "
					 "colons allowed)",
					 field, SERIAL_MAX_DIGITS);
		digits[n++] = *c;
	}
	digits[n] = '\0';
	if (n == 0 || BN_hex2bn(&bn, digits) == 0 || BN_is_zero(bn)) {
		rc = p11e_errf(err, P11E_USAGE, "%s: a serial number is a positive hex number",
			       field);
		goto out;
	}
	if ((hex = BN_bn2hex(bn)) == NULL || strlen(hex) >= cap) {
		rc = p11e_errf(err, P11E_USAGE, "%s: serial number too long", field);
		goto out;
	}
	for (size_t i = 0; hex[i]; i++)
		out[i] = (char)tolower((unsigned char)hex[i]);
	out[strlen(hex)] = '\0';
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

p11e_rc p11e_cert_serial(const char *field, X509 *cert, char *out, size_t cap, p11e_err *err)
{
	BIGNUM *bn = NULL;
	char *hex = NULL;
	p11e_rc rc;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL)
		rc = p11e_errf(err, P11E_USAGE, "%s: the certificate has no usable serial number",
			       field);
	else
		rc = p11e_serial_canonical(field, hex, out, cap, err);
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}
