#include <stdlib.h>
#include <sys/wait.h>
#include "check.h"

int check_passed, check_failed;

int check_done(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

int check_sh(const char *cmd)
{
	int st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

char *check_capture(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	char *buf = calloc(1, 65536);
	size_t n = 0, r;

	if (f == NULL || buf == NULL) {
		if (f != NULL)
			pclose(f);
		free(buf);
		return NULL;
	}
	while (n < 65535 && (r = fread(buf + n, 1, 65535 - n, f)) > 0)
		n += r;
	pclose(f);
	return buf;
}
