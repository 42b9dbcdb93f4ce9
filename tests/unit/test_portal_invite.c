/* Invitation codes (src/portal/portal_invite.c): >= 128 bits, only a hash
 * on disk (0600), single use, expiring, bound to one address. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include "check.h"
#include "p11enroll/config.h"
#include "p11enroll/portal.h"

/* The one file in dir, its name into name; the count of files. */
static int files_in(const char *dir, char *name, size_t cap)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			snprintf(name, cap, "%s", de->d_name);
			n++;
		}
	if (d != NULL)
		closedir(d);
	return n;
}

int main(void)
{
	char tmpl[] = "/tmp/p11e-invite-XXXXXX", text[600], code[64], code2[64], name[300],
	     path[700], dir[400];
	char *state = mkdtemp(tmpl);
	p11e_config cfg;
	p11e_err err;
	struct stat st;
	FILE *f;

	if (state == NULL)
		return 1;
	snprintf(text, sizeof(text), "{\"state_dir\": \"%s\"}", state);
	CHECK_RC(p11e_config_parse("test.json", text, strlen(text), &cfg, &err), P11E_OK, &err);
	snprintf(dir, sizeof(dir), "%s/portal/invites", state);

	CHECK_RC(p11e_portal_invite(&cfg, "not-an-address", 1, code, sizeof(code), &err),
		 P11E_USAGE, &err);
	CHECK_RC(p11e_portal_invite(&cfg, "a@example.com", 0, code, sizeof(code), &err), P11E_USAGE,
		 &err);
	CHECK_RC(p11e_portal_invite(&cfg, "Alice@Example.com", 2, code, sizeof(code), &err),
		 P11E_OK, &err);
	CHECK(strlen(code) == 43); /* 256 bits */
	CHECK(files_in(dir, name, sizeof(name)) == 1);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* Only the hash: the code is neither the name nor in the file. */
	CHECK(strstr(name, code) == NULL);
	f = fopen(path, "r");
	if (f != NULL) {
		char buf[512] = {0};
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		fclose(f);
		CHECK(n > 0 && strstr(buf, code) == NULL &&
		      strstr(buf, "Alice@example.com") /* as given */);
	}

	/* Another address, a wrong code, a truncated one: refused, kept. */
	CHECK_RC(p11e_portal_invite_redeem(&cfg, "bob@example.com", code, NULL, &err),
		 P11E_NOT_FOUND, &err);
	CHECK_RC(p11e_portal_invite_redeem(&cfg, "alice@example.com",
					   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL,
					   &err),
		 P11E_NOT_FOUND, &err);
	CHECK_RC(p11e_portal_invite_redeem(&cfg, "alice@example.com", "short", NULL, &err),
		 P11E_NOT_FOUND, &err);
	CHECK_RC(
	    p11e_portal_invite_redeem(&cfg, "alice@example.com", "../../etc/passwd", NULL, &err),
	    P11E_NOT_FOUND, &err);
	CHECK(files_in(dir, name, sizeof(name)) == 1);
	/* Once, case-insensitively for the address; then never again. */
	CHECK_RC(p11e_portal_invite_redeem(&cfg, "ALICE@example.com", code, NULL, &err), P11E_OK,
		 &err);
	CHECK_RC(p11e_portal_invite_redeem(&cfg, "alice@example.com", code, NULL, &err),
		 P11E_NOT_FOUND, &err);
	CHECK(files_in(dir, name, sizeof(name)) == 0);
	/* The address keeps the case of its local part as `invite` was given it
	 * (the domain lower-cased), whatever case the user signs in with. */
	{
		char *spelling = NULL;

		CHECK_RC(p11e_portal_invite(&cfg, "Dave.Case@Example.COM", 2, code2, sizeof(code2),
					    &err),
			 P11E_OK, &err);
		CHECK_RC(p11e_portal_invite_redeem(&cfg, "dave.case@example.com", code2, &spelling,
						   &err),
			 P11E_OK, &err);
		CHECK(spelling != NULL && strcmp(spelling, "Dave.Case@example.com") == 0);
		free(spelling);
	}

#ifdef P11ENROLL_TEST_HOOKS
	/* Expired: refused (and removed) once its hours are past. */
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:00:00Z", 1);
	CHECK_RC(p11e_portal_invite(&cfg, "carol@example.com", 1, code2, sizeof(code2), &err),
		 P11E_OK, &err);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T01:00:01Z", 1);
	CHECK_RC(p11e_portal_invite_redeem(&cfg, "carol@example.com", code2, NULL, &err),
		 P11E_NOT_FOUND, &err);
	CHECK(files_in(dir, name, sizeof(name)) == 0);
	/* Just inside its hours it works. */
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:00:00Z", 1);
	CHECK_RC(p11e_portal_invite(&cfg, "carol@example.com", 1, code2, sizeof(code2), &err),
		 P11E_OK, &err);
	setenv("P11ENROLL_TEST_NOW", "2026-01-01T00:59:59Z", 1);
	CHECK_RC(p11e_portal_invite_redeem(&cfg, "carol@example.com", code2, NULL, &err), P11E_OK,
		 &err);
	unsetenv("P11ENROLL_TEST_NOW");
#endif
	p11e_config_clear(&cfg);
	snprintf(path, sizeof(path), "rm -rf '%s'", state);
	check_sh(path);
	return check_done();
}
