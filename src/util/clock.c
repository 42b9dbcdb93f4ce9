/* The clock and ISO 8601 UTC times (include/p11enroll/clock.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "p11enroll/clock.h"

time_t p11e_iso_parse(const char *s)
{
	struct tm tm;
	char z = 0, end = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z, &end) != 7 ||
	    z != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || tm.tm_year < 1970 || tm.tm_year > 9999 || tm.tm_mon < 1 ||
	    tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

void p11e_iso_format(time_t t, char out[21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t p11e_now(void)
{
#ifdef P11ENROLL_TEST_HOOKS
	const char *travel = getenv("P11ENROLL_TEST_NOW");

	if (travel != NULL && travel[0] != '\0') {
		char *end = NULL;
		long long secs = strtoll(travel, &end, 10);
		time_t t = p11e_iso_parse(travel);

		if (t >= 0)
			return t;
		if (*end == '\0' && secs > 0)
			return (time_t)secs;
	}
#endif
	return time(NULL);
}
