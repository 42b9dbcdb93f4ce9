/* The vault-kv2 vault against tests/stubs/vault_kv2_stub.py (a stub of Vault's
 * documented KV v2 and AppRole API, not Vault): put/get/list/delete, token and
 * AppRole login, the namespace header, check-and-set, and the error answers
 * (403, 404, 5xx, a lost answer, nobody listening, bad config). TLS against a
 * CA bundle is proven in tests/integration/vault_kv2.sh. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "p11enroll/config.h"
#include "p11enroll/util.h"
#include "p11enroll/vault.h"

static char dir[512];
static int port;
static pid_t stub_pid;

static char *at(const char *name)
{
	static char buf[8][700];
	static int i;
	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static int start_stub(void)
{
	const char *tests = getenv("TESTS_DIR");
	char script[600], *pf = at("stub.port");
	char buf[32] = "";

	snprintf(script, sizeof(script), "%s/stubs/vault_kv2_stub.py", tests ? tests : "tests");
	unlink(pf);
	stub_pid = fork();
	if (stub_pid == 0) {
		execlp("python3", "python3", script, "--port-file", pf, "--token", "root-token",
		       "--role-id", "role-1", "--secret-id", "sid-1", "--namespace", "team/pki",
		       (char *)NULL);
		_exit(127);
	}
	/* Python starts slowly on a loaded machine (ctest -j): up to a minute,
	 * unless the stub dies first. */
	for (int i = 0; i < 1200; i++) {
		FILE *f = fopen(pf, "r");
		if (waitpid(stub_pid, NULL, WNOHANG) == stub_pid) {
			stub_pid = 0;
			return -1;
		}
		if (f != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL)
				port = atoi(buf);
			fclose(f);
			if (port > 0)
				return 0;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void stop_stub(void)
{
	if (stub_pid > 0) {
		kill(stub_pid, SIGTERM);
		waitpid(stub_pid, NULL, 0);
	}
}

static void mode(const char *m)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd),
		 "curl -sf -X POST -d '{\"mode\":\"%s\"}' http://127.0.0.1:%d/_stub/mode", m, port);
	CHECK(check_sh(cmd) == 0);
}

/* A config whose vault is the stub, with extra vault keys. */
static int config(p11e_config *cfg, const char *extra)
{
	char text[1500];
	p11e_err err = {0};

	memset(cfg, 0, sizeof(*cfg));
	snprintf(text, sizeof(text),
		 "{ \"state_dir\": \"state\", \"vault\": { \"type\": \"vault-kv2\", "
		 "\"url\": \"http://127.0.0.1:%d/\", %s\"timeout\": 10%s%s } }",
		 port,
		 strstr(extra, "\"retries\"") ? "" : "\"retries\": 0, ", /* once: no duplicate */
		 extra[0] ? ", " : "", extra);
	write_text(at("config.json"), text);
	if (p11e_config_load(at("config.json"), cfg, &err) != P11E_OK) {
		fprintf(stderr, "config: %s\n", err.msg);
		return -1;
	}
	return 0;
}

#define TOKEN_NS "\"token_source\": \"file:token\", \"namespace\": \"team/pki\""

static p11e_rc put(const char *extra, const char *name, const void *s, size_t len, p11e_err *err)
{
	p11e_config cfg;
	p11e_vault *v = NULL;
	p11e_rc rc;

	if (config(&cfg, extra) != 0)
		return P11E_CONFIG;
	rc = p11e_vault_open(&cfg, NULL, &v, err);
	if (rc == P11E_OK)
		rc = p11e_vault_put(v, name, s, len, err);
	p11e_vault_close(v);
	p11e_config_clear(&cfg);
	return rc;
}

/* Gets name; want NULL: expect rc_want and a message holding msg_has. */
static void get(const char *extra, const char *name, const void *want, size_t want_len,
		p11e_rc rc_want, const char *msg_has)
{
	p11e_config cfg;
	p11e_vault *v = NULL;
	unsigned char *out = NULL;
	size_t len = 0;
	p11e_err err = {0};
	p11e_rc rc;

	if (config(&cfg, extra) != 0) {
		CHECK(0);
		return;
	}
	rc = p11e_vault_open(&cfg, NULL, &v, &err);
	if (rc == P11E_OK)
		rc = p11e_vault_get(v, name, &out, &len, &err);
	if (want != NULL) {
		CHECK_RC(rc, P11E_OK, &err);
		CHECK(out != NULL && len == want_len && memcmp(out, want, len) == 0);
	} else {
		CHECK_RC(rc, rc_want, &err);
		if (msg_has != NULL && strstr(err.msg, msg_has) == NULL) {
			fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, msg_has);
			CHECK(0);
		}
		CHECK(strchr(err.msg, '\n') == NULL);
	}
	p11e_secret_free((char *)out, len);
	p11e_vault_close(v);
	p11e_config_clear(&cfg);
}

static void names_are(p11e_vault *v, const char *const *want, size_t nwant)
{
	char **names = NULL;
	size_t n = 0;
	p11e_err err = {0};

	CHECK_RC(p11e_vault_list(v, &names, &n, &err), P11E_OK, &err);
	CHECK(n == nwant);
	for (size_t i = 0; i < n && i < nwant; i++)
		CHECK(strcmp(names[i], want[i]) == 0);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int main(void)
{
	const char *t = getenv("TEST_TMP");
	const char secret[] = "Pfx-Pass\"word\\9";
	const unsigned char binary[] = {0x00, 0xff, 0x10, '\n', 'a', 0x80, 0x7f};
	p11e_config cfg;
	p11e_vault *v = NULL;
	p11e_err err = {0};
	char *log, cmd[300];

	if (t == NULL) {
		fprintf(stderr, "run me inside tests/with-softhsm.sh\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/kv2", t);
	mkdir(dir, 0700);
	write_text(at("token"), "root-token\n");
	write_text(at("bad-token"), "not-a-token\n");
	if (start_stub() != 0) {
		fprintf(stderr, "the stub did not start\n");
		stop_stub();
		return 1;
	}

	/* token auth, namespace: round trip, put-if-absent */
	CHECK_RC(put(TOKEN_NS, "alice@example.com", secret, strlen(secret), &err), P11E_OK, &err);
	get(TOKEN_NS, "alice@example.com", secret, strlen(secret), 0, NULL);
	CHECK_RC(put(TOKEN_NS, "alice@example.com", "other", 5, &err), P11E_EXISTS, &err);
	CHECK(strstr(err.msg, "never overwritten") != NULL);
	get(TOKEN_NS, "alice@example.com", secret, strlen(secret), 0, NULL);
	/* the same secret again (a retried put): done, not a conflict */
	CHECK_RC(put(TOKEN_NS, "alice@example.com", secret, strlen(secret), &err), P11E_OK, &err);
	get(TOKEN_NS, "bob@example.com", NULL, 0, P11E_NOT_FOUND, "no secret escrowed");
	CHECK_RC(put(TOKEN_NS, "bin@example.com", binary, sizeof(binary), &err), P11E_OK, &err);
	get(TOKEN_NS, "bin@example.com", binary, sizeof(binary), 0, NULL);
	CHECK_RC(put(TOKEN_NS, "Odd Name+%?#", "odd", 3, &err), P11E_OK, &err);
	get(TOKEN_NS, "Odd Name+%?#", "odd", 3, 0, NULL);
	CHECK_RC(put(TOKEN_NS, "a/b", "x", 1, &err), P11E_USAGE, &err);
	CHECK_RC(put(TOKEN_NS, "..", "x", 1, &err), P11E_USAGE, &err);

	/* AppRole login, secret_id from the environment */
	setenv("STUB_SECRET_ID", "sid-1", 1);
	get("\"approle\": { \"role_id\": \"role-1\", \"secret_id_source\": \"env:STUB_SECRET_ID\" "
	    "}, \"namespace\": \"team/pki\"",
	    "alice@example.com", secret, strlen(secret), 0, NULL);
	setenv("STUB_SECRET_ID", "wrong", 1);
	get("\"approle\": { \"role_id\": \"role-1\", \"secret_id_source\": \"env:STUB_SECRET_ID\" "
	    "}, \"namespace\": \"team/pki\"",
	    "alice@example.com", NULL, 0, P11E_FAIL, "invalid role or secret ID");

	/* list (folders below the path are not secrets) and delete */
	snprintf(cmd, sizeof(cmd),
		 "curl -sf -H 'X-Vault-Token: root-token' -H 'X-Vault-Namespace: team/pki' "
		 "-d '{\"data\":{\"x\":\"y\"}}' "
		 "http://127.0.0.1:%d/v1/secret/data/p11enroll/folder/inner >/dev/null",
		 port);
	CHECK(check_sh(cmd) == 0);
	CHECK(config(&cfg, TOKEN_NS) == 0);
	CHECK_RC(p11e_vault_open(&cfg, NULL, &v, &err), P11E_OK, &err);
	{
		const char *want[] = {"Odd Name+%?#", "alice@example.com", "bin@example.com"};
		names_are(v, want, 3);
	}
	CHECK_RC(p11e_vault_delete(v, "bin@example.com", &err), P11E_OK, &err);
	CHECK_RC(p11e_vault_delete(v, "bin@example.com", &err), P11E_NOT_FOUND, &err);
	{
		const char *want[] = {"Odd Name+%?#", "alice@example.com"};
		names_are(v, want, 2);
	}
	/* metadata as custom_metadata: at put, merged by set_meta, listed;
	 * an entry written without it lists with the fields empty */
	{
		p11e_vault_meta m = {.created = "2026-11-29T16:00:00Z"};
		p11e_vault_meta later = {.not_after = "2027-11-29T16:00:00Z"};
		p11e_vault_entry *e = NULL;
		size_t n = 0;
		CHECK_RC(p11e_vault_put_meta(v, "carol@example.com", (const unsigned char *)"c", 1,
					     &m, &err),
			 P11E_OK, &err);
		CHECK_RC(p11e_vault_set_meta(v, "carol@example.com", &later, &err), P11E_OK, &err);
		CHECK_RC(p11e_vault_set_meta(v, "nobody@example.com", &later, &err), P11E_NOT_FOUND,
			 &err);
		CHECK_RC(p11e_vault_list_entries(v, &e, &n, &err), P11E_OK, &err);
		CHECK(n == 3);
		if (n == 3) {
			CHECK(strcmp(e[1].name, "alice@example.com") == 0 &&
			      e[1].meta.created[0] == '\0');
			CHECK(strcmp(e[2].name, "carol@example.com") == 0);
			CHECK(strcmp(e[2].meta.created, "2026-11-29T16:00:00Z") == 0);
			CHECK(strcmp(e[2].meta.not_after, "2027-11-29T16:00:00Z") == 0);
		}
		p11e_vault_entries_free(e, n);
		CHECK_RC(p11e_vault_delete(v, "carol@example.com", &err), P11E_OK, &err);
	}
	p11e_vault_close(v);
	p11e_config_clear(&cfg);
	/* an empty path lists as empty, not as an error */
	CHECK(config(&cfg, TOKEN_NS ", \"path\": \"nothing/here\"") == 0);
	CHECK_RC(p11e_vault_open(&cfg, NULL, &v, &err), P11E_OK, &err);
	names_are(v, NULL, 0);
	p11e_vault_close(v);
	p11e_config_clear(&cfg);

	/* The errors: wrong token, missing namespace, unknown mount */
	get("\"token_source\": \"file:bad-token\", \"namespace\": \"team/pki\"",
	    "alice@example.com", NULL, 0, P11E_FAIL, "permission denied");
	get("\"token_source\": \"file:token\"", "alice@example.com", NULL, 0, P11E_FAIL,
	    "permission denied");
	get(TOKEN_NS ", \"mount\": \"kv\"", "alice@example.com", NULL, 0, P11E_CONFIG,
	    "no such mount");
	get("\"token_source\": \"file:no-such-file\"", "alice@example.com", NULL, 0, P11E_USAGE,
	    NULL);

	/* 403 (a policy that does not allow it), 500, 503 */
	mode("403");
	get(TOKEN_NS, "alice@example.com", NULL, 0, P11E_FAIL, "permission denied");
	CHECK_RC(put(TOKEN_NS, "dave@example.com", "d", 1, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "check the token's policy") != NULL);
	mode("500");
	get(TOKEN_NS, "alice@example.com", NULL, 0, P11E_FAIL, "HTTP 500");
	mode("503");
	get(TOKEN_NS, "alice@example.com", NULL, 0, P11E_FAIL, "sealed");
	CHECK_RC(put(TOKEN_NS, "dave@example.com", "d", 1, &err), P11E_FAIL, &err);
	mode("normal");
	get(TOKEN_NS, "dave@example.com", NULL, 0, P11E_NOT_FOUND, NULL); /* nothing half-done */

	/* An answer lost after the write: the retry finds its own secret. */
	mode("lose-next-write");
	CHECK_RC(put(TOKEN_NS ", \"retries\": 1", "erin@example.com", "e-secret", 8, &err), P11E_OK,
		 &err);
	get(TOKEN_NS, "erin@example.com", "e-secret", 8, 0, NULL);
	mode("lose-next-write");
	CHECK_RC(put(TOKEN_NS, "frank@example.com", "f-secret", 8, &err), P11E_FAIL, &err);
	CHECK_RC(put(TOKEN_NS, "frank@example.com", "f-secret", 8, &err), P11E_OK, &err);
	CHECK_RC(put(TOKEN_NS, "frank@example.com", "another", 7, &err), P11E_EXISTS, &err);

	/* Every request carried the namespace and none carried a secret in
	 * its URL. */
	snprintf(cmd, sizeof(cmd), "curl -sf http://127.0.0.1:%d/_stub/log", port);
	log = check_capture(cmd);
	CHECK(log != NULL && strstr(log, "\"namespace\": \"team/pki\"") != NULL);
	CHECK(log != NULL && strstr(log, "\"vault_request\": \"true\"") != NULL);
	CHECK(log != NULL && strstr(log, "Pfx-Pass") == NULL && strstr(log, "root-token") == NULL &&
	      strstr(log, "sid-1") == NULL && strstr(log, "e-secret") == NULL);
	CHECK(log != NULL &&
	      strstr(log, "\"path\": \"/v1/secret/data/p11enroll/Odd Name+%?#\"") != NULL);
	CHECK(log != NULL && strstr(log, "\"path\": \"/v1/auth/approle/login\"") != NULL);
	free(log);

	/* Bad config */
	CHECK(config(&cfg, "\"token_source\": \"file:token\", \"approle\": {}") == 0);
	CHECK_RC(p11e_vault_open(&cfg, NULL, &v, &err), P11E_CONFIG, &err);
	p11e_config_clear(&cfg);
	/* Refused when the config is loaded (tests/unit/test_config.c). */
	CHECK(config(&cfg, "\"namespaces\": \"x\", \"token_source\": \"file:token\"") == -1);
	CHECK(config(&cfg, "\"approle\": { \"role_id\": \"r\" }") == 0);
	CHECK_RC(p11e_vault_open(&cfg, NULL, &v, &err), P11E_CONFIG, &err);
	p11e_config_clear(&cfg);

	/* Nobody listening */
	stop_stub();
	get(TOKEN_NS, "alice@example.com", NULL, 0, P11E_FAIL, "vault unreachable");
	{
		p11e_config c2;
		memset(&c2, 0, sizeof(c2));
		write_text(at("config.json"),
			   "{ \"vault\": { \"type\": \"vault-kv2\", \"url\": "
			   "\"http://vault.example:8200\", \"token_source\": \"file:token\" } }");
		CHECK(p11e_config_load(at("config.json"), &c2, &err) == P11E_OK);
		CHECK_RC(p11e_vault_open(&c2, NULL, &v, &err), P11E_OK, &err);
		/* plain http to another machine: refused before anything is sent */
		CHECK_RC(p11e_vault_put(v, "x", (const unsigned char *)"y", 1, &err), P11E_CONFIG,
			 &err);
		p11e_vault_close(v);
		p11e_config_clear(&c2);
	}
	return check_done();
}
