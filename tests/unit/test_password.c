/* The PFX password generator: length, alphabet, entropy bound, uniformity,
 * and the checks a profile's settings go through. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "p11enroll/password.h"
#include "p11enroll/profile.h"
#include "p11enroll/util.h"

static int only_from(const char *s, const char *alphabet)
{
	return strspn(s, alphabet) == strlen(s);
}

static int near(double a, double b)
{
	return a - b < 0.01 && b - a < 0.01;
}

static void test_default_alphabet(void)
{
	const char *a = P11E_PASSWORD_ALPHABET;
	size_t n = strlen(a);

	CHECK(n == 57);
	/* No ambiguous characters, no repeats, nothing but letters and digits. */
	CHECK(strpbrk(a, P11E_PASSWORD_AMBIGUOUS) == NULL);
	for (size_t i = 0; i < n; i++) {
		CHECK(memchr(a, a[i], i) == NULL);
		CHECK((a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= 'a' && a[i] <= 'z') ||
		      (a[i] >= '2' && a[i] <= '9'));
	}
}

static void test_bits(void)
{
	p11e_profile prof;
	p11e_err err = {0};

	CHECK(near(p11e_password_bits(1, 2), 1.0));
	CHECK(near(p11e_password_bits(10, 64), 60.0));
	CHECK(near(p11e_password_bits(3, 94), 19.6637));
	CHECK(near(p11e_password_bits(24, 57), 139.985));
	CHECK(p11e_password_bits(1, 1) == 0.0);
	CHECK(p11e_password_bits(0, 57) == 0.0);
	/* The defaults give at least 128 bits, and 22 would be the least that does. */
	CHECK(p11e_password_bits(P11E_PASSWORD_LENGTH, strlen(P11E_PASSWORD_ALPHABET)) >=
	      P11E_PASSWORD_DEFAULT_BITS);
	CHECK(p11e_password_bits(22, 57) >= 128.0);
	CHECK(p11e_password_bits(21, 57) < 128.0);
	/* Every built-in profile starts from those defaults. */
	for (const char *const *name = p11e_profile_builtin_names(); *name != NULL; name++) {
		CHECK_RC(p11e_profile_builtin(*name, &prof, &err), P11E_OK, &err);
		CHECK(strcmp(prof.key_store, "token") == 0);
		CHECK(prof.pfx_password_length == P11E_PASSWORD_LENGTH);
		CHECK(strcmp(prof.pfx_password_alphabet, P11E_PASSWORD_ALPHABET) == 0);
		CHECK(p11e_password_bits((size_t)prof.pfx_password_length,
					 strlen(prof.pfx_password_alphabet)) >= 128.0);
	}
}

static void test_check(void)
{
	p11e_err err = {0};
	char buf[8];

	CHECK_RC(p11e_password_check(24, NULL, "t", &err), P11E_OK, &err);
	CHECK_RC(p11e_password_check(24, P11E_PASSWORD_ALPHABET, "t", &err), P11E_OK, &err);
	/* Each ambiguous character is refused. */
	for (const char *c = P11E_PASSWORD_AMBIGUOUS; *c; c++) {
		snprintf(buf, sizeof(buf), "ABC%c", *c);
		CHECK_RC(p11e_password_check(64, buf, "t", &err), P11E_USAGE, &err);
		CHECK(strstr(err.msg, "read alike") != NULL);
	}
	CHECK_RC(p11e_password_check(64, "ABCA", "t", &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "twice") != NULL);
	CHECK_RC(p11e_password_check(64, "AB C", "t", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_password_check(64, "AB\tC", "t", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_password_check(64, "AB\xc3\xa9", "t", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_password_check(64, "A", "t", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_password_check(64, "", "t", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_password_check(0, NULL, "t", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_password_check(P11E_PASSWORD_LENGTH_MAX + 1, NULL, "t", &err), P11E_USAGE,
		 &err);
	CHECK_RC(p11e_password_check(P11E_PASSWORD_LENGTH_MAX, NULL, "t", &err), P11E_OK, &err);
	/* The floor: 11 characters from 57 are 64.2 bits, 10 are 58.3. */
	CHECK_RC(p11e_password_check(11, NULL, "t", &err), P11E_OK, &err);
	CHECK_RC(p11e_password_check(10, NULL, "profiles.x", &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "profiles.x") != NULL && strstr(err.msg, "58.3 bits") != NULL &&
	      strstr(err.msg, "11 characters") != NULL);
	CHECK_RC(p11e_password_check(64, "AB", "t", &err), P11E_OK, &err);
	CHECK_RC(p11e_password_check(63, "AB", "t", &err), P11E_USAGE, &err);
	/* The widest alphabet: all of printable ASCII but space and 0 O 1 l I. */
	{
		char wide[96];
		size_t n = 0;
		for (int c = 0x21; c < 0x7f; c++)
			if (strchr(P11E_PASSWORD_AMBIGUOUS, c) == NULL)
				wide[n++] = (char)c;
		wide[n] = '\0';
		CHECK(n == 89);
		CHECK_RC(p11e_password_check(20, wide, "t", &err), P11E_OK, &err);
	}
}

/* Counts of each alphabet character over many passwords: every one appears,
 * and the counts fit a uniform distribution (chi-square far below what a
 * bias of a few percent would give). */
static void uniformity(const char *alphabet, size_t length, size_t rounds, double max_chi2)
{
	size_t n = strlen(alphabet), counts[128] = {0}, total = 0;
	double expected, chi2 = 0.0;
	char *first = NULL;
	int repeated = 0;
	p11e_err err = {0};

	for (size_t r = 0; r < rounds; r++) {
		char *pw = NULL;
		CHECK_RC(p11e_password_generate(length, alphabet, &pw, &err), P11E_OK, &err);
		if (pw == NULL)
			return;
		if (r == 0)
			first = strdup(pw);
		else if (first != NULL && strcmp(first, pw) == 0)
			repeated = 1;
		for (const char *c = pw; *c; c++, total++)
			counts[(unsigned char)*c & 0x7f]++;
		p11e_secret_free(pw, (size_t)-1);
	}
	free(first);
	CHECK(!repeated);
	CHECK(total == length * rounds);
	expected = (double)total / (double)n;
	for (size_t i = 0; i < n; i++) {
		double d = (double)counts[(unsigned char)alphabet[i]] - expected;
		CHECK(counts[(unsigned char)alphabet[i]] > 0);
		chi2 += d * d / expected;
	}
	if (chi2 >= max_chi2)
		fprintf(stderr, "chi-square %.1f over %zu characters (limit %.1f)\n", chi2, n,
			max_chi2);
	CHECK(chi2 < max_chi2);
}

static void test_generate(void)
{
	p11e_err err = {0};
	char *pw = NULL, *pw2 = NULL;

	CHECK_RC(p11e_password_generate(P11E_PASSWORD_LENGTH, NULL, &pw, &err), P11E_OK, &err);
	CHECK(pw != NULL && strlen(pw) == P11E_PASSWORD_LENGTH);
	CHECK(pw != NULL && only_from(pw, P11E_PASSWORD_ALPHABET));
	CHECK(pw != NULL && strpbrk(pw, P11E_PASSWORD_AMBIGUOUS) == NULL);
	CHECK_RC(p11e_password_generate(P11E_PASSWORD_LENGTH, NULL, &pw2, &err), P11E_OK, &err);
	CHECK(pw != NULL && pw2 != NULL && strcmp(pw, pw2) != 0);
	p11e_secret_free(pw, (size_t)-1);
	p11e_secret_free(pw2, (size_t)-1);

	CHECK_RC(p11e_password_generate(40, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789", &pw, &err), P11E_OK,
		 &err);
	CHECK(pw != NULL && strlen(pw) == 40 && only_from(pw, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"));
	p11e_secret_free(pw, (size_t)-1);
	CHECK_RC(p11e_password_generate(P11E_PASSWORD_LENGTH_MAX, NULL, &pw, &err), P11E_OK, &err);
	CHECK(pw != NULL && strlen(pw) == P11E_PASSWORD_LENGTH_MAX);
	p11e_secret_free(pw, (size_t)-1);

	/* What the check refuses is never generated. */
	pw = (char *)"untouched";
	CHECK_RC(p11e_password_generate(10, NULL, &pw, &err), P11E_USAGE, &err);
	CHECK(pw == NULL);
	CHECK_RC(p11e_password_generate(64, "AB0", &pw, &err), P11E_USAGE, &err);

	/* Capped by a device (a card's SO PIN, 8 characters on opencryptoki):
	 * under the 64-bit floor, still from the default alphabet. */
	CHECK_RC(p11e_password_generate_capped(8, &pw, &err), P11E_OK, &err);
	CHECK(pw != NULL && strlen(pw) == 8 && only_from(pw, P11E_PASSWORD_ALPHABET));
	p11e_secret_free(pw, (size_t)-1);
	pw = (char *)"untouched";
	CHECK_RC(p11e_password_generate_capped(0, &pw, &err), P11E_USAGE, &err);
	CHECK(pw == NULL);
	CHECK_RC(p11e_password_generate_capped(P11E_PASSWORD_LENGTH_MAX + 1, &pw, &err), P11E_USAGE,
		 &err);

	/* 57 characters (256 % 57 = 28 rejected byte values) and 3 (255 % 3 = 0,
	 * 1 rejected): 56 and 2 degrees of freedom; the limits are at p < 1e-6. */
	uniformity(P11E_PASSWORD_ALPHABET, 24, 4000, 130.0);
	uniformity("ABC", 41, 2000, 27.6);
	uniformity("AB", 64, 1000, 23.9);
}

int main(void)
{
	test_default_alphabet();
	test_bits();
	test_check();
	test_generate();
	return check_done();
}
