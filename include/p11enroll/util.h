/* Small helpers shared by the library: atomic files, hex, secrets in memory. */
#ifndef P11ENROLL_UTIL_H
#define P11ENROLL_UTIL_H

#include <stddef.h>
#include <sys/types.h>
#include "p11enroll/error.h"

/* Writes data to path atomically: a temp file in the same directory, created
 * with `mode` (0600 for anything secret), fsync, rename over path, fsync of
 * the directory. A crash leaves either the old file or the new one. */
p11e_rc p11e_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			       p11e_err *err);

/* write(2) until all of data is written (EINTR retried); 0, or -1 with
 * errno set. */
int p11e_write_all(int fd, const void *data, size_t len);

/* Creates path with data, never replacing anything: the same temp file, then
 * link(2) to path, which fails if path exists (P11E_EXISTS), then the
 * directory fsync'd. A crash leaves no file or the whole one at path. For
 * the file vault, PFX files and `export --out`. */
p11e_rc p11e_write_file_new(const char *path, const void *data, size_t len, mode_t mode,
			    p11e_err *err);

/* Reads a whole file (at most max bytes) into a NUL-terminated malloc'd
 * buffer. P11E_NOT_FOUND if it does not exist. */
p11e_rc p11e_read_file(const char *path, size_t max, char **out, size_t *out_len, p11e_err *err);

/* mkdir -p with mode for the directories it creates. */
p11e_rc p11e_mkdirs(const char *path, mode_t mode, p11e_err *err);

/* Lower-case hex of len bytes into out (needs 2*len+1). */
void p11e_hex_encode(const unsigned char *in, size_t len, char *out);
/* Parses hex (optionally with ':' separators) into out (cap bytes).
 * Returns 0 and sets *out_len, or -1 on bad input or overflow. */
int p11e_hex_decode(const char *hex, unsigned char *out, size_t cap, size_t *out_len);

/* Frees a malloc'd secret after OPENSSL_cleanse over len bytes (strlen if
 * len is (size_t)-1). NULL is fine. */
void p11e_secret_free(char *s, size_t len);

/* Joins dir and name with one '/', malloc'd. */
char *p11e_path_join(const char *dir, const char *name);

/* p11e_email_valid, p11e_dns_name_valid: moved to validate.h. */
#include "p11enroll/validate.h"

#endif
