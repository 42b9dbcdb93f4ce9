/* Escrow metadata and the cyberark vault without a server: hostile PVWA
 * answers fed to its parsers (src/vault/vault_cyberark_parse.c), its account
 * names, and the file vault's metadata beside each entry (put, set_meta,
 * list, an entry older than metadata, a planted link). The conversation
 * with a PVWA is tests/integration/vault_cyberark.sh, against the stub. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "check.h"
#include "p11enroll/config.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"
#include "vault/vault_cyberark.h"

#define LEN(s) s, strlen(s)

static void errors(void)
{
	char buf[200];

	cyberark_parse_error(LEN("{\"ErrorCode\":\"PASWS006E\",\"ErrorMessage\":\"expired\"}"), buf,
			     sizeof(buf));
	CHECK(strcmp(buf, "PASWS006E: expired") == 0);
	cyberark_parse_error(LEN("{\"ErrorCode\":5,\"ErrorMessage\":[1]}"), buf, sizeof(buf));
	CHECK(buf[0] == '\0');
	/* escapes and line breaks from a peer: one clean line */
	cyberark_parse_error(LEN("{\"ErrorCode\":\"X\",\"ErrorMessage\":\"a\\u001b[31m\\nb\"}"),
			     buf, sizeof(buf));
	CHECK(strchr(buf, 0x1b) == NULL && strchr(buf, '\n') == NULL);
	cyberark_parse_error(LEN("not json"), buf, sizeof(buf));
	CHECK(buf[0] == '\0');
	/* A 400's reason is in its Details (psPAS issue 478: an Add to a safe
	 * the user is not a member of). */
	cyberark_parse_error(LEN("{\"Details\":[{\"ErrorCode\":\"PASWS031E\",\"ErrorMessage\":"
				 "\"Safe [S] was not found\"}],\"ErrorCode\":\"PASWS167E\","
				 "\"ErrorMessage\":\"There are some invalid parameters\"}"),
			     buf, sizeof(buf));
	CHECK(strcmp(buf, "PASWS167E: There are some invalid parameters (PASWS031E: Safe [S] "
			  "was not found)") == 0);
	/* Details of the wrong types are skipped; two are joined. */
	cyberark_parse_error(LEN("{\"ErrorCode\":\"A\",\"Details\":[7,{\"ErrorCode\":1},"
				 "{\"ErrorMessage\":\"m1\"},{\"ErrorCode\":\"B\"}]}"),
			     buf, sizeof(buf));
	CHECK(strcmp(buf, "A (m1)") == 0);
	cyberark_parse_error(LEN("{\"ErrorCode\":\"A\",\"Details\":[{\"ErrorMessage\":\"m1\"},"
				 "{\"ErrorCode\":\"B\",\"ErrorMessage\":\"m2\"}]}"),
			     buf, sizeof(buf));
	CHECK(strcmp(buf, "A (m1, B: m2)") == 0);
	cyberark_parse_error(LEN("{\"ErrorCode\":\"A\",\"Details\":{\"ErrorCode\":\"B\"}}"), buf,
			     sizeof(buf));
	CHECK(strcmp(buf, "A") == 0);
}

/* The Central Credential Provider's answers: "Content" of the account asked
 * for; its errors say "ErrorMsg". */
static void ccp(void)
{
	unsigned char *pw = NULL;
	size_t n = 0;
	char buf[200];

	CHECK(cyberark_parse_ccp(LEN("{\"Content\":\"Pfx-1\",\"Name\":\"A@x.org\",\"Safe\":\"S\"}"),
				 "a@x.org", &pw, &n) == 0 &&
	      n == 5 && memcmp(pw, "Pfx-1", 6) == 0);
	p11e_secret_free((char *)pw, n);
	CHECK(cyberark_parse_ccp(LEN("{\"Content\":\"Pfx-1\"}"), "a@x.org", &pw, &n) == 0);
	p11e_secret_free((char *)pw, n);
	/* another account's password is not this one's */
	CHECK(cyberark_parse_ccp(LEN("{\"Content\":\"x\",\"Name\":\"b@x.org\"}"), "a@x.org", &pw,
				 &n) == -1 &&
	      pw == NULL);
	CHECK(cyberark_parse_ccp(LEN("{\"Content\":\"\"}"), "a", &pw, &n) == -1);
	CHECK(cyberark_parse_ccp(LEN("{\"Content\":7}"), "a", &pw, &n) == -1);
	CHECK(cyberark_parse_ccp(LEN("\"x\""), "a", &pw, &n) == -1);
	cyberark_parse_error(LEN("{\"ErrorCode\":\"APPAP004E\",\"ErrorMsg\":\"not found\"}"), buf,
			     sizeof(buf));
	CHECK(strcmp(buf, "APPAP004E: not found") == 0);
}

/* Whether a Get accounts page has a next one: nextLink, then count, then a
 * full page; a PVWA may cap pages below the limit (MaxDisplayedRecords). */
static void paging(void)
{
	CHECK(cyberark_parse_more(LEN("{\"value\":[{}],\"count\":3,\"nextLink\":\"x\"}"), 0, 1,
				  1000) == 1);
	CHECK(cyberark_parse_more(LEN("{\"value\":[{}],\"count\":3}"), 0, 1, 1000) == 1);
	CHECK(cyberark_parse_more(LEN("{\"value\":[{}],\"count\":3}"), 2, 1, 1000) == 0);
	CHECK(cyberark_parse_more(LEN("{\"value\":[{}]}"), 0, 1, 1000) == 0);
	CHECK(cyberark_parse_more(LEN("{\"value\":[{}]}"), 0, 1, 1) == 1);
	/* an empty page ends it, whatever it claims */
	CHECK(cyberark_parse_more(LEN("{\"value\":[],\"count\":9,\"nextLink\":\"x\"}"), 0, 0,
				  1000) == 0);
	/* wrong types: the fallback */
	CHECK(cyberark_parse_more(LEN("{\"count\":\"9\",\"nextLink\":7}"), 0, 1, 1000) == 0);
	CHECK(cyberark_parse_more(LEN("{\"count\":-1}"), 0, 1, 1000) == 0);
	CHECK(cyberark_parse_more(LEN("not json"), 0, 5, 5) == 1);
}

static void token_and_password(void)
{
	char *t = NULL, *id = NULL;
	unsigned char *pw = NULL;
	size_t n = 0;

	CHECK(cyberark_parse_token(LEN("\"abc_DEF-1\""), &t) == 0 && strcmp(t, "abc_DEF-1") == 0);
	p11e_secret_free(t, (size_t)-1);
	CHECK(cyberark_parse_token(LEN("{\"CyberArkLogonResult\":\"old\"}"), &t) == 0 &&
	      strcmp(t, "old") == 0);
	p11e_secret_free(t, (size_t)-1);
	/* a token that would end the header line and add one of its own */
	CHECK(cyberark_parse_token(LEN("\"a\\r\\nX-Evil: 1\""), &t) == -1 && t == NULL);
	CHECK(cyberark_parse_token(LEN("\"a\\u0000b\""), &t) == -1);
	CHECK(cyberark_parse_token(LEN("7"), &t) == -1);
	CHECK(cyberark_parse_token(LEN("\"\""), &t) == -1);
	CHECK(cyberark_parse_token(LEN("\"a\" trailing"), &t) == -1);
	CHECK(cyberark_parse_password(LEN("\"Pfx-1\""), &pw, &n) == 0 && n == 5);
	p11e_secret_free((char *)pw, n);
	CHECK(cyberark_parse_password(LEN("{\"password\":\"x\"}"), &pw, &n) == -1 && pw == NULL);
	CHECK(cyberark_parse_password(LEN("\"\""), &pw, &n) == -1);
	CHECK(cyberark_parse_account_id(LEN("{\"id\":\"12_34\"}"), &id) == 0 &&
	      strcmp(id, "12_34") == 0);
	free(id);
	/* an ID goes into a URL path: nothing that walks it */
	CHECK(cyberark_parse_account_id(LEN("{\"id\":\"12/../34\"}"), &id) == -1 && id == NULL);
	CHECK(cyberark_parse_account_id(LEN("{\"id\":12}"), &id) == -1);
}

static void accounts(void)
{
	cyberark_account *a = NULL;
	size_t n = 0, seen = 0;

	CHECK(cyberark_parse_accounts(
		  LEN("{\"value\":[{\"id\":\"12_3\",\"name\":\"SHA256-ab\",\"safeName\":\"pki\","
		      "\"platformAccountProperties\":{\"P11eIdentity\":\"a@example.com\","
		      "\"CertCreated\":\"2026-11-29T16:00:00Z\",\"CertExpires\":\"soon\","
		      "\"CertSHA256\":\"00112233445566778899aabbccddeeff00112233445566778899aabb"
		      "ccddeeff\"}},"
		      "{\"id\":7,\"name\":[\"x\"],\"safeName\":null},\"junk\",3,"
		      "{\"id\":\"12_4\",\"name\":\"b\",\"safeName\":\"Other\"},"
		      "{\"id\":\"12_5\",\"name\":\"c\\u001b[2J\",\"safeName\":\"PKI\"},"
		      "{\"id\":\"12_6\",\"name\":\"d@example.com\",\"safeName\":\"PKI\","
		      "\"platformAccountProperties\":5}],\"count\":\"x\"}"),
		  "PKI", &a, &n, &seen) == 0);
	CHECK(seen == 7 && n == 2);
	if (n == 2) {
		CHECK(strcmp(a[0].identity, "a@example.com") == 0 && strcmp(a[0].id, "12_3") == 0);
		CHECK(strcmp(a[0].meta.created, "2026-11-29T16:00:00Z") == 0);
		CHECK(a[0].meta.not_after[0] == '\0'); /* not a time: dropped */
		CHECK(strlen(a[0].meta.cert_sha256) == 64);
		CHECK(strcmp(a[1].identity, "d@example.com") == 0 && a[1].meta.created[0] == '\0');
	}
	cyberark_accounts_free(a, n);
	CHECK(cyberark_parse_accounts(LEN("{\"value\":{}}"), "PKI", &a, &n, &seen) == -1);
	CHECK(cyberark_parse_accounts(LEN("[]"), "PKI", &a, &n, &seen) == -1);
}

static void account_names(void)
{
	char out[ACCOUNT_NAME_MAX + 1], longname[300];

	cyberark_account_name("alice@example.com", out);
	CHECK(strcmp(out, "alice@example.com") == 0);
	/* characters CyberArk's names or the query refuse: hashed */
	cyberark_account_name("a b+c@example.com", out);
	CHECK(strncmp(out, "SHA256-", 7) == 0 && strlen(out) == 71);
	memset(longname, 'l', 250);
	strcpy(longname + 250, "@x");
	cyberark_account_name(longname, out);
	CHECK(strncmp(out, "SHA256-", 7) == 0 && strlen(out) == 71);
	memset(longname, 'l', 128);
	longname[128] = '\0';
	cyberark_account_name(longname, out);
	CHECK(strcmp(out, longname) == 0);
}

static void file_meta(void)
{
	const char *t = getenv("TEST_TMP");
	char dir[400], path[700], text[2048];
	p11e_config cfg = {0};
	p11e_vault *v = NULL;
	p11e_vault_entry *e = NULL;
	p11e_vault_meta m, m2 = {.not_after = "2027-01-02T03:04:05Z"};
	p11e_err err = {0};
	struct stat st;
	size_t n = 0;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/meta", t);
	snprintf(text, sizeof(text),
		 "mkdir -p '%s' && cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:P-256 -nodes -keyout o.key -out o.pem -subj /CN=Officer "
		 "-addext keyUsage=keyAgreement -days 2 2>/dev/null",
		 dir, dir);
	CHECK(check_sh(text) == 0);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	f = fopen(path, "w");
	fprintf(f, "{ \"state_dir\": \"state\", \"vault\": { \"type\": \"file\", \"dir\": "
		   "\"escrow\", \"officer_certs_file\": \"o.pem\" } }");
	fclose(f);
	CHECK_RC(p11e_config_load(path, &cfg, &err), P11E_OK, &err);
	CHECK_RC(p11e_vault_open(&cfg, NULL, &v, &err), P11E_OK, &err);
	p11e_vault_meta_now(&m);
	CHECK(strlen(m.created) == 20 && m.not_after[0] == '\0');
	CHECK_RC(
	    p11e_vault_put_meta(v, "a@example.com", (const unsigned char *)"pw-a", 4, &m, &err),
	    P11E_OK, &err);
	CHECK_RC(p11e_vault_put(v, "old@example.com", (const unsigned char *)"pw-o", 4, &err),
		 P11E_OK, &err);
	snprintf(path, sizeof(path), "%s/escrow/a@example.com.meta", dir);
	CHECK(lstat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_RC(p11e_vault_set_meta(v, "a@example.com", &m2, &err), P11E_OK, &err);
	CHECK_RC(p11e_vault_set_meta(v, "nobody@example.com", &m2, &err), P11E_NOT_FOUND, &err);
	/* a link planted where the old entry's metadata goes: replaced, never
	 * followed */
	snprintf(path, sizeof(path), "%s/escrow/old@example.com.meta", dir);
	snprintf(text, sizeof(text), "%s/target", dir);
	CHECK(symlink(text, path) == 0);
	CHECK_RC(p11e_vault_list_entries(v, &e, &n, &err), P11E_OK, &err);
	CHECK(n == 2);
	if (n == 2) {
		CHECK(strcmp(e[0].name, "a@example.com") == 0);
		CHECK(strcmp(e[0].meta.created, m.created) == 0); /* kept by set_meta */
		CHECK(strcmp(e[0].meta.not_after, "2027-01-02T03:04:05Z") == 0);
		CHECK(strcmp(e[1].name, "old@example.com") == 0); /* older: no fields */
		CHECK(e[1].meta.created[0] == '\0' && e[1].meta.not_after[0] == '\0');
	}
	p11e_vault_entries_free(e, n);
	CHECK_RC(p11e_vault_set_meta(v, "old@example.com", &m2, &err), P11E_OK, &err);
	CHECK(access(text, F_OK) != 0); /* the link's target was never written */
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
	CHECK_RC(p11e_vault_delete(v, "old@example.com", &err), P11E_OK, &err);
	CHECK(lstat(path, &st) != 0); /* its metadata goes with it */
	/* a name too long for a file name (issue 9: 201 to 254 characters
	 * failed): a hashed file name, the name kept in its metadata */
	{
		char longname[260];
		memset(longname, 'x', 240);
		strcpy(longname + 240, "@example.com");
		CHECK_RC(p11e_vault_put(v, longname, (const unsigned char *)"pw-l", 4, &err),
			 P11E_OK, &err);
		CHECK_RC(p11e_vault_put(v, longname, (const unsigned char *)"pw-2", 4, &err),
			 P11E_EXISTS, &err);
		CHECK_RC(p11e_vault_set_meta(v, longname, &m2, &err), P11E_OK, &err);
		CHECK_RC(p11e_vault_list_entries(v, &e, &n, &err), P11E_OK, &err);
		CHECK(n == 2 && strcmp(e[1].name, longname) == 0 &&
		      strcmp(e[1].meta.not_after, "2027-01-02T03:04:05Z") == 0);
		p11e_vault_entries_free(e, n);
		CHECK_RC(p11e_vault_delete(v, longname, &err), P11E_OK, &err);
	}
	p11e_vault_close(v);
	p11e_config_clear(&cfg);
}

int main(void)
{
	if (getenv("TEST_TMP") == NULL) {
		fprintf(stderr, "run me inside tests/with-softhsm.sh\n");
		return 2;
	}
	errors();
	paging();
	ccp();
	token_and_password();
	accounts();
	account_names();
	file_meta();
	return check_done();
}
