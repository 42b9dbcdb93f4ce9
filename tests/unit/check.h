/* A tiny assertion kit for the unit tests: CHECK keeps going and counts,
 * check_done() prints "N passed, M failed" and returns the exit code. */
#ifndef P11E_TEST_CHECK_H
#define P11E_TEST_CHECK_H

#include <stdio.h>

extern int check_passed, check_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond) {                                                                        \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

/* CHECK_RC(call, expected) also prints the library's error message. */
#define CHECK_RC(call, expected, errp)                                                             \
	do {                                                                                       \
		int rc_ = (call);                                                                  \
		if (rc_ == (int)(expected)) {                                                      \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: %s returned %d, expected %d: %s\n", __FILE__,      \
				__LINE__, #call, rc_, (int)(expected), (errp)->msg);               \
		}                                                                                  \
	} while (0)

int check_done(void);

/* Runs a shell command (a tool no one here wrote: openssl, ...); its exit
 * status, or -1. */
int check_sh(const char *cmd);
/* The first 64 KiB of a shell command's output, malloc'd, or NULL. */
char *check_capture(const char *cmd);

#endif
