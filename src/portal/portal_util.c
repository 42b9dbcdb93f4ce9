/* Small helpers of the portal: random tokens and their encodings. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include "p11enroll/util.h"
#include "portal_int.h"

void portal_base64url(const unsigned char *in, size_t len, char *out, size_t cap)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	unsigned long acc = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6 && o + 1 < cap) {
			bits -= 6;
			out[o++] = tab[(acc >> bits) & 63];
		}
	}
	if (bits > 0 && o + 1 < cap)
		out[o++] = tab[(acc << (6 - bits)) & 63];
	if (cap > 0)
		out[o] = '\0';
}

p11e_rc portal_random_token(char *out, size_t cap, p11e_err *err)
{
	unsigned char raw[32];

	if (cap < 44)
		return p11e_errf(err, P11E_FAIL, "portal: token buffer too small");
	if (RAND_priv_bytes(raw, sizeof(raw)) != 1)
		return p11e_errf_ssl(err, P11E_FAIL, "portal: no random bytes");
	portal_base64url(raw, sizeof(raw), out, cap);
	OPENSSL_cleanse(raw, sizeof(raw));
	return P11E_OK;
}

void portal_sha256_hex(const char *text, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		memset(md, 0, sizeof(md)); /* never matches a stored hash of a real code */
	p11e_hex_encode(md, sizeof(md), out);
}
