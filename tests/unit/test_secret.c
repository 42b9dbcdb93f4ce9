/* PIN sources: env, file, prompt; a PIN never appears in a message. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "check.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"

static const char *tmp;

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fwrite(text, 1, len, f);
	fclose(f);
	chmod(path, 0600); /* whatever the umask: PIN files must be private */
}

/* Reads src; returns rc and, on success, checks the secret is want. On
 * failure, checks the message names `needle` and never shows `hidden`. */
static void expect(const char *src, p11e_rc want_rc, const char *want, const char *needle,
		   const char *hidden)
{
	char *pin = (char *)"untouched";
	p11e_err err = {0};

	CHECK_RC(p11e_secret_read(src, "user PIN", &pin, &err), want_rc, &err);
	if (want_rc == P11E_OK) {
		if (pin == NULL || strcmp(pin, want) != 0)
			fprintf(stderr, "%s: got '%s', want '%s'\n", src, pin ? pin : "(null)",
				want);
		CHECK(pin != NULL && strcmp(pin, want) == 0);
		p11e_secret_free(pin, (size_t)-1);
		return;
	}
	CHECK(pin == NULL);
	if (needle != NULL && strstr(err.msg, needle) == NULL)
		fprintf(stderr, "%s: message '%s' lacks '%s'\n", src, err.msg, needle);
	CHECK(needle == NULL || strstr(err.msg, needle) != NULL);
	if (hidden != NULL && strstr(err.msg, hidden) != NULL)
		fprintf(stderr, "%s: message '%s' shows the secret\n", src, err.msg);
	CHECK(hidden == NULL || strstr(err.msg, hidden) == NULL);
}

static void env(void)
{
	setenv("P11E_TEST_PIN", "4711", 1);
	expect("env:P11E_TEST_PIN", P11E_OK, "4711", NULL, NULL);
	setenv("P11E_TEST_PIN", "4711\n", 1);
	expect("env:P11E_TEST_PIN", P11E_OK, "4711", NULL, NULL);
	setenv("P11E_TEST_PIN", "with space", 1);
	expect("env:P11E_TEST_PIN", P11E_OK, "with space", NULL, NULL);
	setenv("P11E_TEST_PIN", "\r\n", 1);
	expect("env:P11E_TEST_PIN", P11E_USAGE, NULL, "user PIN: P11E_TEST_PIN is empty", NULL);
	char long_pin[300];
	memset(long_pin, '7', 257);
	long_pin[257] = '\0';
	setenv("P11E_TEST_PIN", long_pin, 1);
	expect("env:P11E_TEST_PIN", P11E_USAGE, NULL, "longer than 256", "7777");
	setenv("P11E_TEST_PIN", "", 1);
	expect("env:P11E_TEST_PIN", P11E_USAGE, NULL,
	       "user PIN: environment variable P11E_TEST_PIN is not set", NULL);
	unsetenv("P11E_TEST_PIN");
	expect("env:P11E_TEST_PIN", P11E_USAGE, NULL,
	       "user PIN: environment variable P11E_TEST_PIN is not set", NULL);
	expect("env:", P11E_USAGE, NULL, "env:VAR", NULL);
}

static void files(void)
{
	char path[512], src[600], line[400];

	snprintf(path, sizeof(path), "%s/pin.txt", tmp);
	snprintf(src, sizeof(src), "file:%s", path);
	write_file(path, "2468\nsecond line\n", 17);
	expect(src, P11E_OK, "2468", NULL, NULL);
	expect(path, P11E_OK, "2468", NULL, NULL); /* RFC 7512 bare absolute path */
	write_file(path, "2468", 4);		   /* no newline at all */
	expect(src, P11E_OK, "2468", NULL, NULL);
	write_file(path, "24 68\r\n", 7); /* written on Windows */
	expect(src, P11E_OK, "24 68", NULL, NULL);

	/* Empty: the message names the file, never what is in it. */
	write_file(path, "\n", 1);
	expect(src, P11E_USAGE, NULL, path, NULL);
	CHECK(1);
	write_file(path, "", 0);
	expect(src, P11E_USAGE, NULL, "is empty", NULL);
	write_file(path, "\nsecret-on-line-2\n", 18);
	expect(src, P11E_USAGE, NULL, "is empty", "secret-on-line-2");

	/* 256 characters are fine, 257 are not (and are not shown). */
	memset(line, 'p', 256);
	line[256] = '\n';
	write_file(path, line, 257);
	line[256] = '\0';
	expect(src, P11E_OK, line, NULL, NULL);
	memset(line, 'q', 300);
	write_file(path, line, 300);
	expect(src, P11E_USAGE, NULL, "longer than 256", "qqqq");
	memset(line, 'r', 257);
	line[257] = '\n';
	write_file(path, line, 258);
	expect(src, P11E_USAGE, NULL, "longer than 256", "rrrr");

	expect("file:/nonexistent/pin", P11E_USAGE, NULL,
	       "user PIN: cannot read /nonexistent/pin: No such file or directory", NULL);
	expect("/nonexistent/pin", P11E_USAGE, NULL, "/nonexistent/pin", NULL);
	expect(tmp, P11E_USAGE, NULL, "Is a directory", NULL);
	expect("file:", P11E_USAGE, NULL, "file:PATH", NULL);
}

/* A PIN file others can read or write is refused (exit 2), naming the file
 * and the fix, never showing the PIN (finding 24); a pipe still works. */
static void file_modes(void)
{
	static const mode_t open_modes[] = {0640, 0604, 0620, 0602, 0644, 0666};
	char path[512], src[600];
	int fds[2];

	snprintf(path, sizeof(path), "%s/mode.pin", tmp);
	snprintf(src, sizeof(src), "file:%s", path);
	write_file(path, "135790\n", 7);
	expect(src, P11E_OK, "135790", NULL, NULL);
	chmod(path, 0400);
	expect(src, P11E_OK, "135790", NULL, NULL);
	for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
		chmod(path, open_modes[i]);
		expect(src, P11E_USAGE, NULL, "chmod 600", "135790");
		expect(src, P11E_USAGE, NULL, path, NULL);
	}
	/* A pipe (a shell's file:/dev/fd/N) has no group or other bits. */
	CHECK(pipe(fds) == 0);
	CHECK(write(fds[1], "97531\n", 6) == 6);
	close(fds[1]);
	snprintf(src, sizeof(src), "file:/dev/fd/%d", fds[0]);
	expect(src, P11E_OK, "97531", NULL, NULL);
	close(fds[0]);
}

/* After p11e_process_harden (finding 17): no core dumps, not dumpable, and
 * the secrets p11e_secret_read returns live in OpenSSL's secure heap (kept
 * out of core dumps and swap); p11e_secret_free frees both kinds. */
static void hardened(void)
{
	char path[512], src[600], *pin = NULL, *plain = strdup("not secret");
	struct rlimit rl;
	p11e_err err;

	CHECK_RC(p11e_process_harden(&err), P11E_OK, &err);
	CHECK_RC(p11e_process_harden(&err), P11E_OK, &err); /* twice is fine */
	CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 && rl.rlim_max == 0);
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
	CHECK(CRYPTO_secure_malloc_initialized() == 1);
	snprintf(path, sizeof(path), "%s/heap.pin", tmp);
	snprintf(src, sizeof(src), "file:%s", path);
	write_file(path, "8642\n", 5);
	CHECK_RC(p11e_secret_read(src, "PIN", &pin, &err), P11E_OK, &err);
	CHECK(pin != NULL && strcmp(pin, "8642") == 0 && CRYPTO_secure_allocated(pin));
	p11e_secret_free(pin, (size_t)-1);
	CHECK(plain != NULL && !CRYPTO_secure_allocated(plain));
	p11e_secret_free(plain, (size_t)-1);
}

static void unknown(void)
{
	/* Something typed where a source belongs is never repeated. */
	expect("123456", P11E_USAGE, NULL, "user PIN: unknown pin source (not shown)", "123456");
	expect("", P11E_USAGE, NULL, "not shown", NULL);
	expect("prompt ", P11E_USAGE, NULL, "not shown", NULL);
	expect("relative/pin.txt", P11E_USAGE, NULL, "not shown", "pin.txt");
	/* A source-like one shows its scheme only: OpenSSL's pass:SECRET. */
	expect("pass:hunter2", P11E_USAGE, NULL,
	       "user PIN: unknown pin source 'pass:...' (use env:VAR, file:PATH or prompt)",
	       "hunter2");
	expect("12:34:56", P11E_USAGE, NULL, "'12:...'", "34");
	expect("averyveryverylongword:x", P11E_USAGE, NULL, "not shown", "averyvery");
}

/* Without a controlling terminal (a new session has none), prompt fails
 * cleanly instead of reading stdin. */
static void prompt_without_tty(void)
{
	int status = -1;
	pid_t child = fork();

	if (child == 0) {
		p11e_err e = {0};
		char *p = NULL;
		int fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		setsid();
		p11e_rc rc = p11e_secret_read("prompt", "user PIN", &p, &e);
		_exit(rc == P11E_USAGE && p == NULL &&
			      strcmp(e.msg, "user PIN: no terminal to prompt on; use --pin-source "
					    "env:VAR or file:PATH") == 0
			  ? 0
			  : 1);
	}
	CHECK(child > 0);
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Reads what the terminal shows until `until` appears, or nothing more
 * comes for timeout_ms. */
static size_t read_until(int master, char *buf, size_t cap, size_t have, const char *until,
			 int timeout_ms)
{
	while (have + 1 < cap) {
		struct pollfd p = {.fd = master, .events = POLLIN};
		ssize_t n;
		buf[have] = '\0';
		if (until != NULL && strstr(buf, until) != NULL)
			break;
		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		n = read(master, buf + have, cap - have - 1);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	return have;
}

/* A child in its own session with the pty as its controlling terminal. */
static pid_t spawn_on_pty(int master, int slave, const char *want)
{
	pid_t child = fork();

	if (child != 0)
		return child;
	close(master);
	setsid();
	if (ioctl(slave, TIOCSCTTY, 0) != 0)
		_exit(10);
	p11e_err e = {0};
	char *p = NULL;
	struct termios t;
	p11e_rc rc = p11e_secret_read("prompt", "user PIN", &p, &e);
	int ok = rc == P11E_OK && p != NULL && strcmp(p, want) == 0;
	p11e_secret_free(p, (size_t)-1);
	/* Echo is back on once the PIN is read. */
	if (tcgetattr(slave, &t) != 0 || !(t.c_lflag & ECHO))
		_exit(3);
	_exit(ok ? 0 : 2);
}

static void prompt_on_pty(void)
{
	int master, slave, status = -1;
	char out[512];
	size_t n;
	pid_t child;
	struct termios t;

	if (openpty(&master, &slave, NULL, NULL, NULL) != 0) {
		fprintf(stderr, "openpty: %s: the prompt cannot be tested here\n", strerror(errno));
		CHECK(!"openpty failed");
		return;
	}
	child = spawn_on_pty(master, slave, "s3cret");
	n = read_until(master, out, sizeof(out), 0, "Enter user PIN: ", 10000);
	CHECK(strstr(out, "Enter user PIN: ") != NULL);
	/* Only once echo is off: TCSAFLUSH would drop what came before. */
	for (int i = 0; i < 1000 && tcgetattr(slave, &t) == 0 && (t.c_lflag & ECHO); i++)
		usleep(10000);
	CHECK(write(master, "s3cret\n", 7) == 7);
	waitpid(child, &status, 0);
	n = read_until(master, out, sizeof(out), n, NULL, 200);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "prompt child: status %d\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(strstr(out, "s3cret") == NULL); /* not echoed */
	CHECK(n > 0 && out[n - 1] == '\n');
	close(master);
	close(slave);

	/* Ctrl-C at the prompt: the process dies of SIGINT as usual, and the
	 * terminal has its echo back. */
	CHECK(openpty(&master, &slave, NULL, NULL, NULL) == 0);
	child = spawn_on_pty(master, slave, "never");
	read_until(master, out, sizeof(out), 0, "Enter user PIN: ", 10000);
	for (int i = 0; i < 1000 && tcgetattr(slave, &t) == 0 && (t.c_lflag & ECHO); i++)
		usleep(10000);
	CHECK(tcgetattr(slave, &t) == 0 && !(t.c_lflag & ECHO)); /* off while asking */
	CHECK(write(master, "12\x03", 3) == 3);
	waitpid(child, &status, 0);
	if (!WIFSIGNALED(status))
		fprintf(stderr, "Ctrl-C child: status %d\n", status);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT);
	CHECK(tcgetattr(slave, &t) == 0 && (t.c_lflag & ECHO));
	close(master);
	close(slave);
}

int main(void)
{
	tmp = getenv("TEST_TMP");
	if (tmp == NULL) {
		fprintf(stderr, "TEST_TMP is not set: run under tests/with-softhsm.sh\n");
		return 1;
	}
	env();
	files();
	file_modes();
	unknown();
	prompt_without_tty();
	prompt_on_pty();
	hardened(); /* last: it changes the process for good */
	return check_done();
}
