/* One-line error messages carried in a caller-owned p11e_err. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include "p11enroll/error.h"

__attribute__((format(printf, 3, 0))) static void vset(p11e_err *err, p11e_rc rc, const char *fmt,
						       va_list ap)
{
	err->rc = rc;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	/* One line: a message with a newline would break logs and JSON. */
	for (char *p = err->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

p11e_rc p11e_errf(p11e_err *err, p11e_rc rc, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return rc;
	va_start(ap, fmt);
	vset(err, rc, fmt, ap);
	va_end(ap);
	return rc;
}

p11e_rc p11e_errf_ssl(p11e_err *err, p11e_rc rc, const char *fmt, ...)
{
	va_list ap;
	unsigned long e = ERR_peek_last_error();
	char ssl[256] = "";

	if (e != 0)
		ERR_error_string_n(e, ssl, sizeof(ssl));
	ERR_clear_error();
	if (err == NULL)
		return rc;
	va_start(ap, fmt);
	vset(err, rc, fmt, ap);
	va_end(ap);
	if (ssl[0] != '\0') {
		size_t used = strlen(err->msg);
		snprintf(err->msg + used, sizeof(err->msg) - used, " (OpenSSL: %s)", ssl);
	}
	return rc;
}

const char *p11e_rc_name(p11e_rc rc)
{
	switch (rc) {
	case P11E_OK:
		return "ok";
	case P11E_FAIL:
		return "failure";
	case P11E_USAGE:
		return "usage";
	case P11E_PIN_INCORRECT:
		return "pin-incorrect";
	case P11E_PIN_LOCKED:
		return "pin-locked";
	case P11E_TOKEN_NOT_FOUND:
		return "token-not-found";
	case P11E_CA_REJECTED:
		return "ca-rejected";
	case P11E_PENDING:
		return "pending";
	case P11E_CONFIG:
		return "config";
	case P11E_EXISTS:
		return "exists";
	case P11E_NOT_FOUND:
		return "not-found";
	case P11E_UNSUPPORTED:
		return "unsupported";
	case P11E_BUSY:
		return "busy";
	}
	return "unknown";
}
