/* The clock: ISO 8601 UTC times as records hold them, and time travel for
 * tests (P11ENROLL_TEST_NOW), which only a test-hooks build reads. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "check.h"
#include "p11enroll/clock.h"

int main(void)
{
	time_t before;

	CHECK(p11e_iso_parse("1970-01-01T00:00:00Z") == 0);
	CHECK(p11e_iso_parse("2026-11-29T10:00:00Z") == 1795946400);
	CHECK(p11e_iso_parse("2026-11-29T10:00:00") == -1);
	CHECK(p11e_iso_parse("2026-11-29T10:00:00Zx") == -1);
	CHECK(p11e_iso_parse("2026-11-29 10:00:00Z") == -1);
	CHECK(p11e_iso_parse("2026-13-29T10:00:00Z") == -1);
	CHECK(p11e_iso_parse("2026-1-29T10:00:00ZZ") == -1);
	CHECK(p11e_iso_parse("+026-11-29T10:00:00Z") == -1);
	CHECK(p11e_iso_parse("") == -1);
	CHECK(p11e_iso_parse(NULL) == -1);

	before = time(NULL);
	unsetenv("P11ENROLL_TEST_NOW");
	CHECK(p11e_now() >= before);
	setenv("P11ENROLL_TEST_NOW", "2026-11-29T10:00:00Z", 1);
#ifdef P11ENROLL_TEST_HOOKS
	CHECK(p11e_now() == 1795946400);
	setenv("P11ENROLL_TEST_NOW", "1000", 1);
	CHECK(p11e_now() == 1000);
	setenv("P11ENROLL_TEST_NOW", "soon", 1); /* not a time: the real clock */
	CHECK(p11e_now() >= before);
#else
	CHECK(p11e_now() >= before); /* a normal build never travels */
#endif
	return check_done();
}
