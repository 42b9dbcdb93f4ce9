/* Atomic files, hex, emails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include "check.h"
#include "p11enroll/util.h"

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n;
}

static void atomic_files(const char *tmp)
{
	char dir[512], path[600], bad[700];
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	p11e_err err = {0};

	snprintf(dir, sizeof(dir), "%s/util/a/b", tmp);
	CHECK_RC(p11e_mkdirs(dir, 0700, &err), P11E_OK, &err);
	CHECK_RC(p11e_mkdirs(dir, 0700, &err), P11E_OK, &err); /* exists: fine */
	snprintf(path, sizeof(path), "%s/secret", dir);
	CHECK_RC(p11e_write_file_atomic(path, "one", 3, 0600, &err), P11E_OK, &err);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_RC(p11e_write_file_atomic(path, "two!", 4, 0600, &err), P11E_OK, &err);
	CHECK_RC(p11e_read_file(path, 100, &text, &len, &err), P11E_OK, &err);
	CHECK(text != NULL && len == 4 && strcmp(text, "two!") == 0);
	free(text);
	CHECK(count_entries(dir) == 1); /* no temp file left behind */
	CHECK_RC(p11e_read_file(path, 2, &text, &len, &err), P11E_FAIL, &err);

	/* A failed write (the parent is a regular file) keeps nothing half-made. */
	snprintf(bad, sizeof(bad), "%s/nested", path);
	CHECK_RC(p11e_write_file_atomic(bad, "x", 1, 0600, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "cannot write") != NULL);
	CHECK_RC(p11e_read_file(path, 100, &text, &len, &err), P11E_OK, &err);
	CHECK(text != NULL && strcmp(text, "two!") == 0);
	free(text);
	snprintf(bad, sizeof(bad), "%s/missing", dir);
	CHECK_RC(p11e_read_file(bad, 100, &text, &len, &err), P11E_NOT_FOUND, &err);
	CHECK_RC(p11e_mkdirs(bad, 0700, &err), P11E_OK, &err);
	snprintf(bad, sizeof(bad), "%s/x", path);
	CHECK_RC(p11e_mkdirs(bad, 0700, &err), P11E_FAIL, &err);
}

static void hex(void)
{
	unsigned char buf[8];
	size_t len = 0;
	char out[17];
	const unsigned char in[] = {0x00, 0xab, 0x10, 0xff};

	p11e_hex_encode(in, sizeof(in), out);
	CHECK(strcmp(out, "00ab10ff") == 0);
	CHECK(p11e_hex_decode("00AB10ff", buf, sizeof(buf), &len) == 0 && len == 4 &&
	      memcmp(buf, in, 4) == 0);
	CHECK(p11e_hex_decode("00:ab:10:ff", buf, sizeof(buf), &len) == 0 && len == 4);
	CHECK(p11e_hex_decode("abc", buf, sizeof(buf), &len) == -1);
	CHECK(p11e_hex_decode("zz", buf, sizeof(buf), &len) == -1);
	CHECK(p11e_hex_decode("000102030405060708", buf, sizeof(buf), &len) == -1);
}

static void emails(void)
{
	const char *good[] = {"alice@example.com", "a.b+tag@mail.example.org", "x@a-b.co",
			      "o'brien@example.ie"};
	const char *bad[] = {
	    "",		 "alice",	   "alice@",	     "@example.com",	 "a@@example.com",
	    "a@example", ".a@example.com", "a.@example.com", "a..b@example.com", "a b@example.com",
	    "a@-x.com",	 "a@x-.com",	   "a@x..com",	     "a@example.com\n",	 "a@exa_mple.com"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(p11e_email_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (p11e_email_valid(bad[i]))
			fprintf(stderr, "accepted bad email '%s'\n", bad[i]);
		CHECK(!p11e_email_valid(bad[i]));
	}
}

int main(void)
{
	const char *tmp = getenv("TEST_TMP");
	char *joined = p11e_path_join("/a/", "b");

	CHECK(joined != NULL && strcmp(joined, "/a/b") == 0);
	free(joined);
	atomic_files(tmp ? tmp : "/tmp");
	hex();
	emails();
	return check_done();
}
