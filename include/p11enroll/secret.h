/* PIN and password sources. A secret is never taken from the command line:
 *   env:VAR    the environment variable VAR
 *   file:PATH  the first line of PATH (trailing newline stripped)
 *   prompt     the controlling terminal, without echo
 * RFC 7512's pin-source in a URI takes the same forms ("file:" or a bare
 * absolute path). */
#ifndef P11ENROLL_SECRET_H
#define P11ENROLL_SECRET_H

#include <stddef.h>
#include "p11enroll/error.h"

/* Reads the secret named by source. `what` names it in messages and on the
 * prompt ("user PIN"). The result is malloc'd; free it with
 * p11e_secret_free(s, (size_t)-1). An empty secret is P11E_USAGE. */
p11e_rc p11e_secret_read(const char *source, const char *what, char **out, p11e_err *err);

#endif
