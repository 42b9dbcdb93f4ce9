/* Atomic files, reading, mkdir -p, hex, path joining, emails. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "p11enroll/util.h"

static const char *tmp;

/* Entries in dir other than "." and "..": a temp file left behind shows. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d != NULL)
		closedir(d);
	return n;
}

static int file_is(const char *path, const char *want)
{
	char *text = NULL;
	size_t len = 0;
	p11e_err err = {0};
	int same;

	if (p11e_read_file(path, 1 << 20, &text, &len, &err) != P11E_OK)
		return 0;
	same = len == strlen(want) && strcmp(text, want) == 0;
	free(text);
	return same;
}

static void atomic_write(void)
{
	char dir[512], path[600], bad[700], sub[700];
	struct stat st;
	p11e_err err = {0};
	mode_t old_umask;

	snprintf(dir, sizeof(dir), "%s/atomic", tmp);
	CHECK_RC(p11e_mkdirs(dir, 0700, &err), P11E_OK, &err);
	snprintf(path, sizeof(path), "%s/secret", dir);

	CHECK_RC(p11e_write_file_atomic(path, "one", 3, 0600, &err), P11E_OK, &err);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(file_is(path, "one"));
	CHECK_RC(p11e_write_file_atomic(path, "two!", 4, 0600, &err), P11E_OK, &err);
	CHECK(file_is(path, "two!"));
	CHECK(count_entries(dir) == 1); /* no temp file left behind */

	/* The mode is what was asked, whatever the umask. */
	old_umask = umask(0);
	snprintf(sub, sizeof(sub), "%s/public", dir);
	CHECK_RC(p11e_write_file_atomic(sub, "pub", 3, 0644, &err), P11E_OK, &err);
	CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0644);
	umask(077);
	CHECK_RC(p11e_write_file_atomic(sub, "pub2", 4, 0644, &err), P11E_OK, &err);
	CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0644);
	umask(old_umask);
	CHECK(unlink(sub) == 0);

	/* Empty content is a valid file. */
	snprintf(sub, sizeof(sub), "%s/empty", dir);
	CHECK_RC(p11e_write_file_atomic(sub, "", 0, 0600, &err), P11E_OK, &err);
	CHECK(stat(sub, &st) == 0 && st.st_size == 0);
	CHECK(unlink(sub) == 0);

	/* Tests run as root, so an unwritable directory is not a failure:
	 * a parent that is a regular file is. mkstemp fails; nothing is made
	 * and the old content survives. */
	snprintf(bad, sizeof(bad), "%s/nested", path);
	CHECK_RC(p11e_write_file_atomic(bad, "x", 1, 0600, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "cannot write ") != NULL && strstr(err.msg, bad) != NULL &&
	      strstr(err.msg, "Not a directory") != NULL);
	CHECK(file_is(path, "two!"));
	CHECK(count_entries(dir) == 1);

	/* rename() over a non-empty directory fails after the temp file was
	 * written: the temp file must be removed, the directory untouched. */
	snprintf(sub, sizeof(sub), "%s/isdir", dir);
	CHECK(mkdir(sub, 0700) == 0);
	snprintf(bad, sizeof(bad), "%s/isdir/keep", dir);
	CHECK_RC(p11e_write_file_atomic(bad, "k", 1, 0600, &err), P11E_OK, &err);
	CHECK_RC(p11e_write_file_atomic(sub, "new", 3, 0600, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "cannot write ") != NULL && strstr(err.msg, sub) != NULL);
	CHECK(count_entries(dir) == 2); /* secret and isdir: no temp file */
	CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && file_is(bad, "k"));
}

static void read_file(void)
{
	char path[600], big[600];
	char *text = (char *)"not touched";
	size_t len = 99;
	p11e_err err = {0};
	char *data = malloc(100000);

	snprintf(path, sizeof(path), "%s/atomic/secret", tmp);
	CHECK_RC(p11e_read_file(path, 4, &text, &len, &err), P11E_OK, &err); /* max == size */
	CHECK(text != NULL && len == 4 && strcmp(text, "two!") == 0);
	free(text);
	CHECK_RC(p11e_read_file(path, 3, &text, &len, &err), P11E_FAIL, &err);
	CHECK(text == NULL && strstr(err.msg, "larger than 3 bytes") != NULL);
	CHECK_RC(p11e_read_file(path, 100, &text, NULL, &err), P11E_OK, &err); /* len optional */
	free(text);

	snprintf(big, sizeof(big), "%s/missing", tmp);
	CHECK_RC(p11e_read_file(big, 100, &text, &len, &err), P11E_NOT_FOUND, &err);
	CHECK(text == NULL && strstr(err.msg, big) != NULL);
	CHECK_RC(p11e_read_file(tmp, 100, &text, &len, &err), P11E_FAIL, &err); /* a directory */
	CHECK(text == NULL && strstr(err.msg, "Is a directory") != NULL);

	/* Bigger than one read, with NUL bytes in it: len is what counts. */
	for (size_t i = 0; data != NULL && i < 100000; i++)
		data[i] = (char)(i * 7);
	snprintf(big, sizeof(big), "%s/atomic/big", tmp);
	CHECK_RC(p11e_write_file_atomic(big, data, 100000, 0600, &err), P11E_OK, &err);
	CHECK_RC(p11e_read_file(big, 100000, &text, &len, &err), P11E_OK, &err);
	CHECK(text != NULL && len == 100000 && memcmp(text, data, len) == 0 && text[len] == '\0');
	free(text);
	CHECK_RC(p11e_read_file(big, 99999, &text, &len, &err), P11E_FAIL, &err);
	CHECK(unlink(big) == 0);
	free(data);

	CHECK_RC(p11e_write_file_atomic(big, "", 0, 0600, &err), P11E_OK, &err);
	CHECK_RC(p11e_read_file(big, 10, &text, &len, &err), P11E_OK, &err);
	CHECK(text != NULL && len == 0 && text[0] == '\0');
	free(text);
	CHECK(unlink(big) == 0);
}

static void mkdirs(void)
{
	char dir[600], bad[700];
	struct stat st;
	p11e_err err = {0};

	snprintf(dir, sizeof(dir), "%s/m/a/b/c", tmp);
	CHECK_RC(p11e_mkdirs(dir, 0700, &err), P11E_OK, &err);
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	CHECK_RC(p11e_mkdirs(dir, 0700, &err), P11E_OK, &err); /* exists: fine */
	snprintf(dir, sizeof(dir), "%s/m/a/b/d/", tmp);	       /* trailing slash */
	CHECK_RC(p11e_mkdirs(dir, 0700, &err), P11E_OK, &err);
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK_RC(p11e_mkdirs("/", 0700, &err), P11E_OK, &err);
	CHECK_RC(p11e_mkdirs("", 0700, &err), P11E_FAIL, &err);

	/* A regular file in the way, as the last component or a middle one. */
	snprintf(bad, sizeof(bad), "%s/atomic/secret", tmp);
	CHECK_RC(p11e_mkdirs(bad, 0700, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "not a directory") != NULL);
	snprintf(bad, sizeof(bad), "%s/atomic/secret/x/y", tmp);
	CHECK_RC(p11e_mkdirs(bad, 0700, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "cannot create directory") != NULL);
}

static void hex(void)
{
	unsigned char buf[8], all[256], back[256];
	char out[513];
	size_t len = 0;
	const unsigned char in[] = {0x00, 0xab, 0x10, 0xff};

	p11e_hex_encode(in, sizeof(in), out);
	CHECK(strcmp(out, "00ab10ff") == 0);
	p11e_hex_encode(in, 0, out);
	CHECK(out[0] == '\0');
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	p11e_hex_encode(all, sizeof(all), out);
	CHECK(strlen(out) == 512 && strspn(out, "0123456789abcdef") == 512);
	CHECK(p11e_hex_decode(out, back, sizeof(back), &len) == 0 && len == 256 &&
	      memcmp(all, back, 256) == 0);

	CHECK(p11e_hex_decode("00AB10ff", buf, sizeof(buf), &len) == 0 && len == 4 &&
	      memcmp(buf, in, 4) == 0);
	CHECK(p11e_hex_decode("00:AB:10:ff", buf, sizeof(buf), &len) == 0 && len == 4 &&
	      memcmp(buf, in, 4) == 0);
	CHECK(p11e_hex_decode("", buf, sizeof(buf), &len) == 0 && len == 0);
	CHECK(p11e_hex_decode("0001020304050607", buf, sizeof(buf), &len) == 0 && len == 8);

	const char *bad[] = {"abc",   "zz",   "0g",
			     "00 11", "0:0",  "-1",
			     "0x00",  "ab\n", "000102030405060708" /* 9 bytes, cap 8 */};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = 42;
		if (p11e_hex_decode(bad[i], buf, sizeof(buf), &len) != -1)
			fprintf(stderr, "accepted bad hex '%s'\n", bad[i]);
		CHECK(p11e_hex_decode(bad[i], buf, sizeof(buf), &len) == -1);
	}
}

static void secret_free_and_join(void)
{
	struct {
		const char *dir, *name, *want;
	} joins[] = {{"/a/", "b", "/a/b"},  {"/a", "b", "/a/b"},   {"/a", "/b", "/a/b"},
		     {"a", "b/c", "a/b/c"}, {"", "b", "b"},	   {"", "/b", "/b"},
		     {"/", "b", "/b"},	    {"/a//", "b", "/a//b"}};

	for (size_t i = 0; i < sizeof(joins) / sizeof(joins[0]); i++) {
		char *j = p11e_path_join(joins[i].dir, joins[i].name);
		if (j == NULL || strcmp(j, joins[i].want) != 0)
			fprintf(stderr, "join('%s', '%s') = '%s', want '%s'\n", joins[i].dir,
				joins[i].name, j ? j : "(null)", joins[i].want);
		CHECK(j != NULL && strcmp(j, joins[i].want) == 0);
		free(j);
	}
	p11e_secret_free(NULL, (size_t)-1);
	p11e_secret_free(strdup("123456"), (size_t)-1);
	p11e_secret_free(strdup("123456"), 6);
	CHECK(1); /* ASan would have stopped us above */
}

static void emails(void)
{
	char local64[80], local65[80], label63[100], label64[100], long_domain[300];
	const char *good[] = {
	    "alice@example.com",
	    "a.b+tag@mail.example.org",
	    "x@a-b.co",
	    "o'brien@example.ie",
	    "A@EXAMPLE.COM",
	    "!#$%&'*+/=?^_`{|}~-@example.com",
	    "1@2.3",
	    "a@xn--bcher-kva.example",
	    local64,
	    label63,
	};
	const char *bad[] = {
	    "",
	    "alice",
	    "alice@",
	    "@example.com",
	    "a@@example.com",
	    "a@b@example.com",
	    "a@example",
	    ".a@example.com",
	    "a.@example.com",
	    "a..b@example.com",
	    "a b@example.com",
	    " a@example.com",
	    "a@example.com ",
	    "a\t@example.com",
	    "a@-x.com",
	    "a@x-.com",
	    "a@x..com",
	    "a@.example.com",
	    "a@example.com.",
	    "a@example.com\n",
	    "a@exa_mple.com",
	    "a@exa mple.com",
	    "\"a\"@example.com",
	    "a(b)@example.com",
	    "a,b@example.com",
	    "j\xc3\xb6rg@example.com",
	    "a@b\xc3\xbc.example",
	    "a\x01@example.com",
	    "a@[127.0.0.1]",
	    local65,
	    label64,
	    long_domain,
	};

	memset(local64, 'l', 64);
	strcpy(local64 + 64, "@example.com");
	memset(local65, 'l', 65);
	strcpy(local65 + 65, "@example.com");
	strcpy(label63, "a@");
	memset(label63 + 2, 'd', 63);
	strcpy(label63 + 65, ".com");
	strcpy(label64, "a@");
	memset(label64 + 2, 'd', 64);
	strcpy(label64 + 66, ".com");
	/* 254 characters of domain in 50-character labels. */
	strcpy(long_domain, "a@");
	for (int i = 0; i < 5; i++) {
		memset(long_domain + 2 + i * 51, 'd', 50);
		long_domain[2 + i * 51 + 50] = '.';
	}
	strcpy(long_domain + 2 + 5 * 51, "com");
	CHECK(strlen(long_domain + 2) > 253);

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!p11e_email_valid(good[i]))
			fprintf(stderr, "rejected good email '%s'\n", good[i]);
		CHECK(p11e_email_valid(good[i]));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (p11e_email_valid(bad[i]))
			fprintf(stderr, "accepted bad email '%s'\n", bad[i]);
		CHECK(!p11e_email_valid(bad[i]));
	}
	CHECK(!p11e_email_valid(NULL));
}

static void dns_names(void)
{
	const char *good[] = {"www.example.org", "a.b", "x-1.example.co.uk",
			      "XN--BCHER-KVA.example"};
	const char *bad[] = {"localhost", "",	     ".example.org",	 "example.org.",
			     "a..b",	  "-a.org",  "a-.org",		 "*.example.org",
			     "a_b.org",	  "a b.org", "host@example.org", NULL};
	char long_label[80], long_name[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(p11e_dns_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!p11e_dns_name_valid(bad[i]));
	memset(long_label, 'a', 64);
	memcpy(long_label + 64, ".org", 5); /* a 64-character label */
	CHECK(!p11e_dns_name_valid(long_label));
	CHECK(p11e_dns_name_valid(long_label + 1)); /* 63 characters are allowed */
	for (size_t i = 0; i < 254; i++)
		long_name[i] = i % 2 ? '.' : 'a';
	long_name[253] = 'a';
	long_name[254] = '\0'; /* 254 characters: one too many */
	CHECK(!p11e_dns_name_valid(long_name));
}

int main(void)
{
	tmp = getenv("TEST_TMP");
	if (tmp == NULL) {
		fprintf(stderr, "TEST_TMP is not set: run under tests/with-softhsm.sh\n");
		return 1;
	}
	atomic_write();
	read_file();
	mkdirs();
	hex();
	secret_free_and_join();
	emails();
	dns_names();
	return check_done();
}
