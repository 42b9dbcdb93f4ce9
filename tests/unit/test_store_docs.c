/* The file store's documents beyond records (src/store/store_file_doc.c):
 * create-only puts (P11E_STORE_CREATE) that never replace a document, also
 * when two processes race; a flat store (a vault's configured "dir"); and
 * the kinds that moved into the store keeping their files' names, so that
 * an existing STATE_DIR reads as before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"
#include "p11enroll/store.h"
#include "p11enroll/util.h"

static char state[512];

static int exists(const char *sub)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", state, sub);
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600;
}

static void create_only(p11e_store *s)
{
	p11e_err err = {0};
	unsigned char *data = NULL;
	size_t len = 0;

	CHECK_RC(p11e_store_put(s, "key", "a@example.org", "one", 3, P11E_STORE_CREATE, &err),
		 P11E_OK, &err);
	CHECK_RC(p11e_store_put(s, "key", "a@example.org", "two", 3, P11E_STORE_CREATE, &err),
		 P11E_EXISTS, &err);
	CHECK_RC(p11e_store_get(s, "key", "a@example.org", &data, &len, &err), P11E_OK, &err);
	CHECK(len == 3 && data != NULL && memcmp(data, "one", 3) == 0);
	free(data);
	/* Without the flag a put replaces. */
	CHECK_RC(p11e_store_put(s, "key", "a@example.org", "three", 5, 0, &err), P11E_OK, &err);
	CHECK_RC(p11e_store_remove(s, "key", "a@example.org", &err), P11E_OK, &err);
	CHECK_RC(p11e_store_remove(s, "key", "a@example.org", &err), P11E_NOT_FOUND, &err);
}

/* Eight processes create one document at once: exactly one succeeds. */
static void create_race(void)
{
	pid_t pids[8];
	int won = 0, lost = 0;

	for (int i = 0; i < 8; i++) {
		if ((pids[i] = fork()) == 0) {
			p11e_store *s = NULL;
			p11e_err err = {0};
			char mine[8];
			p11e_rc rc;

			snprintf(mine, sizeof(mine), "%d", i);
			if (p11e_store_open_dir(state, &s, &err) != P11E_OK)
				_exit(3);
			rc = p11e_store_put(s, "escrow", "race@example.org", mine, strlen(mine),
					    P11E_STORE_CREATE, &err);
			p11e_store_close(s);
			_exit(rc == P11E_OK ? 0 : rc == P11E_EXISTS ? 1 : 2);
		}
	}
	for (int i = 0; i < 8; i++) {
		int status = 0;
		if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status)) {
			won += WEXITSTATUS(status) == 0;
			lost += WEXITSTATUS(status) == 1;
		}
	}
	CHECK(won == 1 && lost == 7);
}

/* The kinds' files: where they always were. */
static void layout(p11e_store *s)
{
	p11e_err err = {0};
	p11e_store_doc *docs = NULL;
	size_t n = 0;
	char longname[300], hashed[100];

	CHECK_RC(p11e_store_put(s, "pfx", "b@example.org.g2", "x", 1, P11E_STORE_CREATE, &err),
		 P11E_OK, &err);
	CHECK(exists("pfx/b@example.org.g2.p12"));
	CHECK_RC(p11e_store_put(s, "escrow", "b@example.org#2", "x", 1, 0, &err), P11E_OK, &err);
	CHECK(exists("escrow/b@example.org%232.cms"));
	CHECK_RC(p11e_store_put(s, "escrow-meta", "b@example.org#2", "{}", 2, 0, &err), P11E_OK,
		 &err);
	CHECK(exists("escrow/b@example.org%232.meta"));
	CHECK_RC(p11e_store_put(s, "invite", "0123abcd", "{}", 2, 0, &err), P11E_OK, &err);
	CHECK(exists("portal/invites/0123abcd.json"));
	/* The vault hashed an escaped name past 236 characters (the file
	 * store's records only past 239): 237 kept its hash. */
	memset(longname, 'a', 237);
	longname[237] = '\0';
	CHECK_RC(p11e_store_put(s, "escrow", longname, "x", 1, 0, &err), P11E_OK, &err);
	CHECK_RC(p11e_store_list(s, "escrow", &docs, &n, &err), P11E_OK, &err);
	CHECK(n == 3); /* and create_race's */
	snprintf(hashed, sizeof(hashed), "%s", n == 3 ? docs[0].name : "");
	CHECK(strncmp(hashed, "SHA256-", 7) == 0);
	CHECK(p11e_store_same_name(s, "escrow", hashed, longname));
	CHECK(n == 3 && strcmp(docs[1].name, "b@example.org#2") == 0);
	p11e_store_docs_free(docs, n);
	/* The metadata lists apart from the entries. */
	CHECK_RC(p11e_store_list(s, "escrow-meta", &docs, &n, &err), P11E_OK, &err);
	CHECK(n == 1);
	p11e_store_docs_free(docs, n);
}

static void flat(void)
{
	char dir[600], path[700];
	p11e_store *s = NULL;
	p11e_err err = {0};
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/elsewhere", state);
	CHECK_RC(p11e_store_open_flat(dir, &s, &err), P11E_OK, &err);
	if (s == NULL)
		return;
	CHECK_RC(p11e_store_put(s, "escrow", "c@example.org", "x", 1, P11E_STORE_CREATE, &err),
		 P11E_OK, &err);
	snprintf(path, sizeof(path), "%s/c@example.org.cms", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	snprintf(path, sizeof(path), "%s/escrow", dir);
	CHECK(stat(path, &st) != 0);
	p11e_store_close(s);
}

int main(void)
{
	char tmpl[] = "/tmp/p11e-docs-XXXXXX";
	p11e_store *s = NULL;
	p11e_err err = {0};

	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(state, sizeof(state), "%s", tmpl);
	CHECK_RC(p11e_store_open_dir(state, &s, &err), P11E_OK, &err);
	if (s == NULL)
		return check_done();
	create_only(s);
	create_race();
	layout(s);
	flat();
	p11e_store_close(s);
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
		check_sh(cmd);
	}
	return check_done();
}
