/* Time as p11enroll reads it: the one clock that expiry windows use, and
 * the one parser of the ISO 8601 UTC times that records and indexes hold. */
#ifndef P11ENROLL_CLOCK_H
#define P11ENROLL_CLOCK_H

#include <time.h>

/* Now. In a test-hooks build (-DP11ENROLL_TEST_HOOKS=ON) only, the
 * environment's P11ENROLL_TEST_NOW (seconds since the epoch, or
 * "YYYY-MM-DDTHH:MM:SSZ") moves it, so tests can travel to an expiry
 * window; a normal build never reads it. */
time_t p11e_now(void);

/* "YYYY-MM-DDTHH:MM:SSZ" (exactly that) -> seconds since the epoch; -1 if
 * the text is not such a time. */
time_t p11e_iso_parse(const char *text);

/* t as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into out. */
void p11e_iso_format(time_t t, char out[21]);

#endif
