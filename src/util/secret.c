/* PIN and password sources: env:VAR, file:PATH (or an absolute path, as
 * RFC 7512's pin-source allows), prompt. Never the command line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "p11enroll/secret.h"
#include "p11enroll/util.h"

#define SECRET_MAX 256

static p11e_rc take(char *buf, size_t len, const char *what, const char *where, char **out,
		    p11e_err *err)
{
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (len == 0)
		return p11e_errf(err, P11E_USAGE, "%s: %s is empty", what, where);
	*out = strndup(buf, len);
	if (*out == NULL)
		return p11e_errf(err, P11E_FAIL, "%s: out of memory", what);
	return P11E_OK;
}

static p11e_rc from_env(const char *var, const char *what, char **out, p11e_err *err)
{
	const char *v = getenv(var);
	char buf[SECRET_MAX + 1];
	size_t len;
	p11e_rc rc;

	if (v == NULL || v[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "%s: environment variable %s is not set", what,
				 var);
	len = strlen(v);
	if (len > SECRET_MAX)
		return p11e_errf(err, P11E_USAGE, "%s: environment variable %s is too long", what,
				 var);
	memcpy(buf, v, len + 1);
	rc = take(buf, len, what, "the environment variable", out, err);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static p11e_rc from_file(const char *path, const char *what, char **out, p11e_err *err)
{
	char buf[SECRET_MAX + 2];
	FILE *f = fopen(path, "r");
	p11e_rc rc;

	if (f == NULL)
		return p11e_errf(err, P11E_USAGE, "%s: cannot read %s: %s", what, path,
				 strerror(errno));
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	rc = take(buf, strlen(buf), what, path, out, err);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static p11e_rc from_prompt(const char *what, char **out, p11e_err *err)
{
	char buf[SECRET_MAX + 2];
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
	FILE *tty;
	int restored = 1;
	p11e_rc rc;

	if (fd < 0)
		return p11e_errf(err, P11E_USAGE,
				 "%s: no terminal to prompt on; use --pin-source env:VAR or "
				 "file:PATH",
				 what);
	tty = fdopen(fd, "r+");
	if (tty == NULL) {
		close(fd);
		return p11e_errf(err, P11E_FAIL, "%s: cannot use the terminal", what);
	}
	fprintf(tty, "Enter %s: ", what);
	fflush(tty);
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restored = tcsetattr(fd, TCSAFLUSH, &quiet) != 0;
	}
	if (fgets(buf, sizeof(buf), tty) == NULL)
		buf[0] = '\0';
	if (!restored)
		tcsetattr(fd, TCSAFLUSH, &old);
	fprintf(tty, "\n");
	fclose(tty);
	rc = take(buf, strlen(buf), what, "the answer", out, err);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

p11e_rc p11e_secret_read(const char *source, const char *what, char **out, p11e_err *err)
{
	*out = NULL;
	if (source == NULL || strcmp(source, "prompt") == 0)
		return from_prompt(what, out, err);
	if (strncmp(source, "env:", 4) == 0)
		return from_env(source + 4, what, out, err);
	if (strncmp(source, "file:", 5) == 0)
		return from_file(source + 5, what, out, err);
	if (source[0] == '/')
		return from_file(source, what, out, err);
	/* Something that is not a source may be a PIN typed in its place: never
	 * repeat it. */
	if (strchr(source, ':') == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "%s: unknown pin source (not shown); use env:VAR, file:PATH or "
				 "prompt",
				 what);
	return p11e_errf(err, P11E_USAGE,
			 "%s: unknown pin source '%.*s:...' (use env:VAR, file:PATH or prompt)",
			 what, (int)(strchr(source, ':') - source), source);
}
