/* Generated passwords: CSPRNG bytes, rejection-sampled onto the alphabet. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "p11enroll/password.h"
#include "p11enroll/util.h"

/* log2(x) for x >= 1 without libm: the integer part by halving, then the
 * fraction bit by bit (squaring the mantissa in [1, 2)). */
static double log2_of(double x)
{
	double r = 0.0, bit = 1.0;

	while (x >= 2.0) {
		x /= 2.0;
		r += 1.0;
	}
	for (int i = 0; i < 40; i++) {
		x *= x;
		bit /= 2.0;
		if (x >= 2.0) {
			x /= 2.0;
			r += bit;
		}
	}
	return r;
}

double p11e_password_bits(size_t length, size_t alphabet_len)
{
	if (alphabet_len < 2)
		return 0.0;
	return (double)length * log2_of((double)alphabet_len);
}

p11e_rc p11e_password_check(size_t length, const char *alphabet, const char *what, p11e_err *err)
{
	size_t n, needed = 1;
	double bits;

	if (alphabet == NULL)
		alphabet = P11E_PASSWORD_ALPHABET;
	n = strlen(alphabet);
	if (n < 2 || n > 94)
		return p11e_errf(err, P11E_USAGE,
				 "%s: the password alphabet needs 2 to 94 characters, not %zu",
				 what, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)alphabet[i];
		if (c <= 0x20 || c >= 0x7f)
			return p11e_errf(err, P11E_USAGE,
					 "%s: the password alphabet may hold only printable ASCII "
					 "without space (character %zu is not)",
					 what, i + 1);
		if (strchr(P11E_PASSWORD_AMBIGUOUS, c) != NULL)
			return p11e_errf(err, P11E_USAGE,
					 "%s: the password alphabet must not hold '%c': 0 O 1 l I "
					 "are read alike",
					 what, c);
		if (memchr(alphabet, c, i) != NULL)
			return p11e_errf(err, P11E_USAGE,
					 "%s: the password alphabet has '%c' twice", what, c);
	}
	if (length < 1 || length > P11E_PASSWORD_LENGTH_MAX)
		return p11e_errf(err, P11E_USAGE,
				 "%s: the password length must be 1 to %d, not %zu", what,
				 P11E_PASSWORD_LENGTH_MAX, length);
	bits = p11e_password_bits(length, n);
	while (p11e_password_bits(needed, n) < P11E_PASSWORD_MIN_BITS)
		needed++;
	if (bits < P11E_PASSWORD_MIN_BITS)
		return p11e_errf(
		    err, P11E_USAGE,
		    "%s: %zu characters from %zu give %.1f bits; at least %d are needed "
		    "(%zu characters from this alphabet)",
		    what, length, n, bits, P11E_PASSWORD_MIN_BITS, needed);
	return P11E_OK;
}

/* length characters from alphabet (checked by the caller). */
static p11e_rc draw(size_t length, const char *alphabet, char **out, p11e_err *err)
{
	unsigned char buf[64];
	size_t n, have = 0, used = sizeof(buf);
	unsigned limit;
	char *pw;

	*out = NULL;
	n = strlen(alphabet);
	/* The largest multiple of n that fits a byte: bytes at or above it are
	 * drawn again, so b % n is uniform. */
	limit = 256u - 256u % (unsigned)n;
	if ((pw = malloc(length + 1)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	while (have < length) {
		unsigned b;
		if (used == sizeof(buf)) {
			if (RAND_priv_bytes(buf, (int)sizeof(buf)) != 1) {
				OPENSSL_cleanse(buf, sizeof(buf));
				p11e_secret_free(pw, have);
				return p11e_errf_ssl(err, P11E_FAIL,
						     "password: the random generator failed");
			}
			used = 0;
		}
		b = buf[used++];
		if (b < limit)
			pw[have++] = alphabet[b % n];
	}
	pw[length] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
	*out = pw;
	return P11E_OK;
}

p11e_rc p11e_password_generate(size_t length, const char *alphabet, char **out, p11e_err *err)
{
	p11e_rc rc;

	*out = NULL;
	if (alphabet == NULL)
		alphabet = P11E_PASSWORD_ALPHABET;
	if ((rc = p11e_password_check(length, alphabet, "password", err)) != P11E_OK)
		return rc;
	return draw(length, alphabet, out, err);
}

p11e_rc p11e_password_generate_capped(size_t length, char **out, p11e_err *err)
{
	*out = NULL;
	if (length < 1 || length > P11E_PASSWORD_LENGTH_MAX)
		return p11e_errf(err, P11E_USAGE,
				 "password: the password length must be 1 to %d, not %zu",
				 P11E_PASSWORD_LENGTH_MAX, length);
	return draw(length, P11E_PASSWORD_ALPHABET, out, err);
}
