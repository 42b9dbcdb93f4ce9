/* Return codes and the error message carrier.
 *
 * Every library call returns a p11e_rc and, on failure, fills a caller-owned
 * p11e_err with one line that says what went wrong and what to do. There is
 * no global error state. The numeric values are the CLI's exit codes and are
 * documented in docs/p11enroll.1.md: never renumber them. */
#ifndef P11ENROLL_ERROR_H
#define P11ENROLL_ERROR_H

#include <stddef.h>

typedef enum p11e_rc {
	P11E_OK = 0,
	P11E_FAIL = 1,		  /* anything else: I/O, module, OpenSSL */
	P11E_USAGE = 2,		  /* bad command line or bad input value */
	P11E_PIN_INCORRECT = 3,	  /* token said CKR_PIN_INCORRECT */
	P11E_PIN_LOCKED = 4,	  /* token said CKR_PIN_LOCKED */
	P11E_TOKEN_NOT_FOUND = 5, /* no token (or more than one) matches */
	P11E_CA_REJECTED = 6,	  /* the CA refused the request */
	P11E_PENDING = 7,	  /* the CA has not issued yet: rerun later */
	P11E_CONFIG = 8,	  /* config file unreadable or invalid */
	P11E_EXISTS = 9,	  /* would overwrite an object or record */
	P11E_NOT_FOUND = 10,	  /* key, certificate, record or CA missing */
	P11E_UNSUPPORTED = 11,	  /* the token lacks a mechanism we need */
	P11E_BUSY = 12,		  /* another process holds the identity's lock */
} p11e_rc;

#define P11E_ERR_MAX 512

typedef struct p11e_err {
	p11e_rc rc;
	char msg[P11E_ERR_MAX];
} p11e_err;

/* Sets err (if not NULL) to rc and the formatted one-line message; returns rc
 * so callers can write `return p11e_errf(err, P11E_USAGE, "...")`. The
 * message must never contain a PIN or password. */
p11e_rc p11e_errf(p11e_err *err, p11e_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like p11e_errf but appends the first OpenSSL error queue entry (and clears
 * the queue). */
p11e_rc p11e_errf_ssl(p11e_err *err, p11e_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Short name of a return code ("pin-incorrect", ...), for JSON output. */
const char *p11e_rc_name(p11e_rc rc);

#endif
