/* Atomic files, reading, mkdir -p and which directories it trusts, private
 * state files, hex, path joining, an empty PEM chain, emails. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "p11enroll/pem.h"
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

	/* Not durable (no fsync): the same whole file, mode and cleanup. */
	CHECK_RC(p11e_write_file_replace(path, "three", 5, 0600, 0, &err), P11E_OK, &err);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(file_is(path, "three"));
	CHECK(count_entries(dir) == 1);
	CHECK_RC(p11e_write_file_replace(path, "two!", 4, 0600, 1, &err), P11E_OK, &err);
	CHECK(file_is(path, "two!"));

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
	CHECK_RC(p11e_write_file_replace(sub, "new", 3, 0600, 0, &err), P11E_FAIL, &err);
	CHECK(count_entries(dir) == 2);
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

/* A state directory someone else planted or can write is refused
 * (finding 20): a symlink another user made, a directory another user owns,
 * one writable by group or others, an ancestor writable by others without
 * the sticky bit. "Someone else" is uid 65534 (nobody): root only. */
static void untrusted_dirs(void)
{
	char base[400], path[600], target[600];
	p11e_err err;
	const uid_t nobody = 65534;

	snprintf(base, sizeof(base), "%s/trust/state", tmp);
	CHECK_RC(p11e_mkdirs(base, 0700, &err), P11E_OK, &err);
	/* Ours, made by the caller, group-writable: refused, named. */
	snprintf(path, sizeof(path), "%s/wide", base);
	CHECK(mkdir(path, 0700) == 0 && chmod(path, 0770) == 0);
	CHECK_RC(p11e_mkdirs(path, 0700, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, "writable by group or others"));
	/* ... and as an ancestor too (no sticky bit), but not with it (/tmp). */
	snprintf(path, sizeof(path), "%s/wide/sub", base);
	CHECK_RC(p11e_mkdirs(path, 0700, &err), P11E_FAIL, &err);
	snprintf(path, sizeof(path), "%s/wide", base);
	CHECK(chmod(path, 01777) == 0);
	snprintf(path, sizeof(path), "%s/wide/sub", base);
	CHECK_RC(p11e_mkdirs(path, 0700, &err), P11E_OK, &err);
	/* Our own symlink to our own directory is fine. */
	snprintf(path, sizeof(path), "%s/mine", base);
	snprintf(target, sizeof(target), "%s/wide/sub", base);
	CHECK(symlink(target, path) == 0);
	CHECK_RC(p11e_mkdirs(path, 0700, &err), P11E_OK, &err);
	if (geteuid() != 0) {
		fprintf(stderr, "untrusted_dirs: other owners skipped (not root)\n");
		return;
	}
	/* Another user's directory, planted as STATE/identities by a symlink
	 * of theirs, or by one of ours, or in place. */
	snprintf(target, sizeof(target), "%s/trust/theirs", tmp);
	CHECK(mkdir(target, 0700) == 0 && chown(target, nobody, nobody) == 0);
	snprintf(path, sizeof(path), "%s/identities", base);
	CHECK(symlink(target, path) == 0 && lchown(path, nobody, nobody) == 0);
	CHECK_RC(p11e_mkdirs(path, 0700, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "symbolic link owned by uid 65534") != NULL);
	CHECK(lchown(path, 0, 0) == 0);
	CHECK_RC(p11e_mkdirs(path, 0700, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "owned by uid 65534") != NULL);
	snprintf(path, sizeof(path), "%s/identities/sub", base);
	CHECK_RC(p11e_mkdirs(path, 0700, &err), P11E_FAIL, &err);
	snprintf(path, sizeof(path), "%s/keys", base);
	CHECK(mkdir(path, 0700) == 0 && chown(path, nobody, nobody) == 0);
	CHECK_RC(p11e_mkdirs(path, 0700, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "chown") != NULL);
}

/* Records, locks, indexes and the audit log (finding 20): a regular file of
 * ours, 0600, never through a symlink, never a FIFO (and never a hang on
 * one), never another user's. */
static void private_files(void)
{
	char dir[400], path[600], link[600], *text = NULL;
	p11e_err err;
	size_t len = 0;
	int fd = -1;

	snprintf(dir, sizeof(dir), "%s/private", tmp);
	CHECK_RC(p11e_mkdirs(dir, 0700, &err), P11E_OK, &err);
	snprintf(path, sizeof(path), "%s/rec.json", dir);
	CHECK_RC(p11e_read_private(path, 100, &text, &len, &err), P11E_NOT_FOUND, &err);
	CHECK_RC(p11e_open_private(path, O_WRONLY | O_CREAT | O_APPEND, 0600, &fd, &err), P11E_OK,
		 &err);
	CHECK(fd >= 0 && write(fd, "{}", 2) == 2);
	close(fd);
	CHECK_RC(p11e_read_private(path, 100, &text, &len, &err), P11E_OK, &err);
	CHECK(text != NULL && strcmp(text, "{}") == 0 && len == 2);
	free(text);
	text = NULL;
	/* 0666 / 0644: refused, naming the file and the fix. */
	CHECK(chmod(path, 0666) == 0);
	CHECK_RC(p11e_read_private(path, 100, &text, &len, &err), P11E_FAIL, &err);
	CHECK(text == NULL && strstr(err.msg, "chmod 600") != NULL && strstr(err.msg, path));
	CHECK(chmod(path, 0644) == 0);
	CHECK_RC(p11e_open_private(path, O_RDWR | O_CREAT, 0600, &fd, &err), P11E_FAIL, &err);
	CHECK(fd == -1);
	CHECK(chmod(path, 0600) == 0);
	/* A symlink as the name, even to a good file of ours. */
	snprintf(link, sizeof(link), "%s/link.json", dir);
	CHECK(symlink(path, link) == 0);
	CHECK_RC(p11e_read_private(link, 100, &text, &len, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "symbolic link") != NULL);
	CHECK_RC(p11e_open_private(link, O_WRONLY | O_CREAT | O_APPEND, 0600, &fd, &err), P11E_FAIL,
		 &err);
	/* A FIFO: refused at once, for reading and for appending. */
	snprintf(link, sizeof(link), "%s/fifo", dir);
	CHECK(mkfifo(link, 0600) == 0);
	CHECK_RC(p11e_read_private(link, 100, &text, &len, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
	CHECK_RC(p11e_open_private(link, O_WRONLY | O_APPEND | O_CREAT, 0600, &fd, &err), P11E_FAIL,
		 &err);
	CHECK(strstr(err.msg, "not a regular file") != NULL);
	if (geteuid() == 0) {
		CHECK(chown(path, 65534, 65534) == 0);
		CHECK_RC(p11e_read_private(path, 100, &text, &len, &err), P11E_FAIL, &err);
		CHECK(strstr(err.msg, "owned by uid 65534") != NULL);
	}
}

/* An empty chain is "" (memcpy from a NULL buffer aborted a UBSan build). */
static void empty_chain(void)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	char *pem = p11e_chain_to_pem(chain);

	CHECK(pem != NULL && pem[0] == '\0');
	free(pem);
	pem = p11e_chain_to_pem(NULL);
	CHECK(pem != NULL && pem[0] == '\0');
	free(pem);
	sk_X509_free(chain);
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
	untrusted_dirs();
	private_files();
	empty_chain();
	hex();
	secret_free_and_join();
	emails();
	dns_names();
	return check_done();
}
