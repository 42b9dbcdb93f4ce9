/* Key type names as users write them: "rsa:3072", "ec:P-256", "ed25519". */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/obj_mac.h>
#include "p11enroll/token.h"

static const struct {
	const char *alias;
	const char *name;
	int nid;
} curves[] = {
    {"P-256", "ec:P-256", NID_X9_62_prime256v1},
    {"prime256v1", "ec:P-256", NID_X9_62_prime256v1},
    {"secp256r1", "ec:P-256", NID_X9_62_prime256v1},
    {"P-384", "ec:P-384", NID_secp384r1},
    {"secp384r1", "ec:P-384", NID_secp384r1},
    {"P-521", "ec:P-521", NID_secp521r1},
    {"secp521r1", "ec:P-521", NID_secp521r1},
};

p11e_rc p11e_keytype_parse(const char *text, p11e_keytype *out, p11e_err *err)
{
	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return p11e_errf(err, P11E_USAGE, "key type: missing (try ec:P-256 or rsa:3072)");
	if (strcasecmp(text, "ed25519") == 0) {
		out->kind = P11E_KEY_ED25519;
		snprintf(out->name, sizeof(out->name), "ed25519");
		return P11E_OK;
	}
	if (strncasecmp(text, "rsa:", 4) == 0) {
		const char *bits = text + 4;
		if (strcmp(bits, "2048") == 0 || strcmp(bits, "3072") == 0 ||
		    strcmp(bits, "4096") == 0) {
			out->kind = P11E_KEY_RSA;
			out->bits = (bits[0] - '0') * 1000 + (bits[1] - '0') * 100 +
				    (bits[2] - '0') * 10 + (bits[3] - '0');
			snprintf(out->name, sizeof(out->name), "rsa:%d", out->bits);
			return P11E_OK;
		}
	} else if (strncasecmp(text, "ec:", 3) == 0) {
		for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
			if (strcasecmp(text + 3, curves[i].alias) == 0) {
				out->kind = P11E_KEY_EC;
				out->curve_nid = curves[i].nid;
				snprintf(out->name, sizeof(out->name), "%s", curves[i].name);
				return P11E_OK;
			}
		}
	}
	return p11e_errf(err, P11E_USAGE,
			 "key type: '%.40s' is not one of rsa:2048, rsa:3072, rsa:4096, ec:P-256, "
			 "ec:P-384, ec:P-521, ed25519",
			 text);
}
