/* Generated passwords (a PFX's): drawn from the CSPRNG (RAND_priv_bytes) by
 * rejection sampling, so every character of the alphabet is equally likely
 * and the entropy is exactly length * log2(alphabet size) bits. */
#ifndef P11ENROLL_PASSWORD_H
#define P11ENROLL_PASSWORD_H

#include <stddef.h>
#include "p11enroll/error.h"

/* The default alphabet: letters and digits without the ones read alike
 * (0 O 1 l I), 57 characters, so a password can be read out or typed. */
#define P11E_PASSWORD_ALPHABET "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
#define P11E_PASSWORD_AMBIGUOUS "0O1lI"
/* 24 from 57 characters: 139.9 bits. */
#define P11E_PASSWORD_LENGTH 24
#define P11E_PASSWORD_LENGTH_MAX 128
/* What the defaults give at least, and what a profile may never go under:
 * the password is all that protects a PFX's key once the file is copied. */
#define P11E_PASSWORD_DEFAULT_BITS 128
#define P11E_PASSWORD_MIN_BITS 64

/* length * log2(alphabet_len). */
double p11e_password_bits(size_t length, size_t alphabet_len);

/* Whether length and alphabet make an acceptable generator: alphabet of 2
 * to 94 distinct printable ASCII characters (no space, nothing ambiguous
 * from P11E_PASSWORD_AMBIGUOUS), length 1 to P11E_PASSWORD_LENGTH_MAX, at
 * least P11E_PASSWORD_MIN_BITS. P11E_USAGE saying what is wrong, prefixed
 * with `what` (e.g. "profiles.x"). */
p11e_rc p11e_password_check(size_t length, const char *alphabet, const char *what, p11e_err *err);

/* A new password of length characters from alphabet (NULL: the default),
 * NUL-terminated, malloc'd: free it with p11e_secret_free(pw, (size_t)-1). */
p11e_rc p11e_password_generate(size_t length, const char *alphabet, char **out, p11e_err *err);

/* The same from the default alphabet without the P11E_PASSWORD_MIN_BITS floor
 * (length 1 to P11E_PASSWORD_LENGTH_MAX), for a secret whose length a device
 * caps and whose guessing its retry counter stops, not its length: a card's
 * SO PIN (opencryptoki's soft token takes 8 characters at most: 46.7 bits). */
p11e_rc p11e_password_generate_capped(size_t length, char **out, p11e_err *err);

#endif
