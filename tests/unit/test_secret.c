/* PIN sources: env, file, prompt; a PIN never appears in a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "p11enroll/secret.h"
#include "p11enroll/util.h"

int main(void)
{
	const char *tmp = getenv("TEST_TMP");
	char path[512], src[600];
	char *pin = NULL;
	p11e_err err = {0};
	FILE *f;

	setenv("P11E_TEST_PIN", "4711", 1);
	CHECK_RC(p11e_secret_read("env:P11E_TEST_PIN", "user PIN", &pin, &err), P11E_OK, &err);
	CHECK(pin && strcmp(pin, "4711") == 0);
	p11e_secret_free(pin, (size_t)-1);
	unsetenv("P11E_TEST_PIN");
	CHECK_RC(p11e_secret_read("env:P11E_TEST_PIN", "user PIN", &pin, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "P11E_TEST_PIN is not set") != NULL && pin == NULL);

	snprintf(path, sizeof(path), "%s/pin.txt", tmp ? tmp : "/tmp");
	f = fopen(path, "w");
	fputs("2468\nsecond line\n", f);
	fclose(f);
	snprintf(src, sizeof(src), "file:%s", path);
	CHECK_RC(p11e_secret_read(src, "user PIN", &pin, &err), P11E_OK, &err);
	CHECK(pin && strcmp(pin, "2468") == 0);
	p11e_secret_free(pin, (size_t)-1);
	CHECK_RC(p11e_secret_read(path, "user PIN", &pin, &err), P11E_OK, &err); /* bare path */
	CHECK(pin && strcmp(pin, "2468") == 0);
	p11e_secret_free(pin, (size_t)-1);

	f = fopen(path, "w");
	fputs("\n", f);
	fclose(f);
	CHECK_RC(p11e_secret_read(src, "user PIN", &pin, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "empty") != NULL);
	CHECK_RC(p11e_secret_read("file:/nonexistent/pin", "user PIN", &pin, &err), P11E_USAGE,
		 &err);
	CHECK(strstr(err.msg, "/nonexistent/pin") != NULL);

	/* Something typed where a source belongs is never repeated. */
	CHECK_RC(p11e_secret_read("123456", "user PIN", &pin, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "123456") == NULL && strstr(err.msg, "not shown") != NULL);
	CHECK_RC(p11e_secret_read("pass:hunter2", "user PIN", &pin, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "hunter2") == NULL);

	/* Without a controlling terminal (a new session has none), prompt fails
	 * cleanly instead of reading stdin. */
	pid_t child = fork();
	if (child == 0) {
		p11e_err e = {0};
		char *p = NULL;
		setsid();
		_exit(p11e_secret_read("prompt", "user PIN", &p, &e) == P11E_USAGE &&
			      strstr(e.msg, "no terminal") != NULL
			  ? 0
			  : 1);
	}
	int status = -1;
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return check_done();
}
