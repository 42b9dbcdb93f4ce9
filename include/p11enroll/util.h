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
/* The same, durable or not: durable 0 skips both fsyncs (the temp file's
 * bytes are written out before the rename all the same, so a power loss
 * leaves the old file or the whole new one, never an empty one; but it may
 * leave the old one). For saves a crash can redo (docs/store.md#durability). */
p11e_rc p11e_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
				int durable, p11e_err *err);

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

/* What p11e_check_private_stat checks besides the mode (no permission at
 * all for group or others, always). */
#define P11E_PRIVATE_REGULAR 1u /* a regular file: no FIFO, device or directory */
#define P11E_PRIVATE_OWNER 2u	/* owned by the effective uid */

struct stat;
/* Checks a secret or state file's stat: rc_bad naming the file (after
 * "what: " when what is not NULL) and the fix ("chmod 600 FILE"). The one
 * check of PIN files, key files and p11enroll's own state files. */
p11e_rc p11e_check_private_stat(const struct stat *st, const char *path, const char *what,
				unsigned checks, p11e_rc rc_bad, p11e_err *err);

/* Opens one of p11enroll's own files (records, locks, indexes, the audit
 * log): flags as for open(2) (O_CREAT creates it with mode), never through a
 * symbolic link as its name, never blocking on a FIFO, and only a regular
 * file owned by the effective uid with no permission for group or others.
 * P11E_NOT_FOUND if absent (without O_CREAT), else P11E_FAIL naming the file
 * and the fix. *fd is -1 on failure. */
p11e_rc p11e_open_private(const char *path, int flags, mode_t mode, int *fd, p11e_err *err);

/* Reads fd from its offset to the end as p11e_read_file reads a file (path
 * names it in messages). */
p11e_rc p11e_read_fd(int fd, const char *path, size_t max, char **out, size_t *out_len,
		     p11e_err *err);

/* p11e_read_file through p11e_open_private: for records and state files. */
p11e_rc p11e_read_private(const char *path, size_t max, char **out, size_t *out_len, p11e_err *err);

/* mkdir -p with mode for the directories it creates, refusing a directory
 * someone else could swap or fill: each one on the way owned by root or the
 * effective uid and not writable by group or others unless sticky (/tmp),
 * the last one owned by the effective uid and writable by it alone, and no
 * symbolic link that neither root nor the effective uid made. */
p11e_rc p11e_mkdirs(const char *path, mode_t mode, p11e_err *err);

/* The value of one hex digit (either case), or -1. */
int p11e_hex_digit(int c);
/* Lower-case hex of len bytes into out (needs 2*len+1). */
void p11e_hex_encode(const unsigned char *in, size_t len, char *out);
/* Parses hex (optionally with ':' separators) into out (cap bytes).
 * Returns 0 and sets *out_len, or -1 on bad input or overflow. */
int p11e_hex_decode(const char *hex, unsigned char *out, size_t cap, size_t *out_len);

/* Frees a secret (malloc'd, or from OPENSSL_secure_malloc as
 * p11e_secret_read's are) after OPENSSL_cleanse over len bytes (strlen if len
 * is (size_t)-1). NULL is fine. */
void p11e_secret_free(char *s, size_t len);

/* Joins dir and name with one '/', malloc'd. */
char *p11e_path_join(const char *dir, const char *name);

/* A name as a file name: [a-z0-9@._+-] kept, every other byte %XX (upper-case
 * hex), no leading dot (no hidden file, no ".."). malloc'd with extra spare
 * bytes after the terminating NUL's place, for a suffix; NULL on no memory. */
char *p11e_name_escape(const char *name, size_t extra);

/* p11e_email_valid, p11e_dns_name_valid: moved to validate.h. */
#include "p11enroll/validate.h"

/* Hardens the process, first thing in main (src/util/harden.c): no core
 * dumps (RLIMIT_CORE 0, hard limit too), not dumpable (PR_SET_DUMPABLE 0: no
 * ptrace by the same user either), and OpenSSL's secure heap for private
 * keys and the secrets p11e_secret_read returns. P11E_FAIL if any of it
 * cannot be done: the caller must not go on to handle secrets. */
p11e_rc p11e_process_harden(p11e_err *err);

/* For the libraries opened on first use instead of linked (libcurl,
 * libldap, libpq: their start-up cost is paid only by the runs that use
 * them): the first of sonames (NULL-terminated) that dlopen loads, never
 * unmapped (they keep state of their own), and its n symbols names[i] into
 * *slots[i]. 0, or -1 when none loads or a symbol is missing. */
int p11e_dl_symbols(const char *const *sonames, const char *const *names, void **const *slots,
		    size_t n);

#endif
