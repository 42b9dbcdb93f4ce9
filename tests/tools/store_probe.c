/* store_probe: the store's document, lock and counter API driven from a
 * test script (tests/integration/store_pg_docs.sh), since no p11enroll
 * command reads or writes raw documents. Test-only, never installed.
 *
 *   store_probe CONFIG put KIND NAME        stdin, durably
 *   store_probe CONFIG put-soon KIND NAME   stdin, without P11E_STORE_DURABLE
 *   store_probe CONFIG get KIND NAME        to stdout
 *   store_probe CONFIG remove KIND NAME
 *   store_probe CONFIG list KIND            "NAME LEN" a line
 *   store_probe CONFIG lock KIND NAME WAIT_MS [TIMES]   taken and released
 *   store_probe CONFIG counter NAME FIRST COUNT   the values, a line each
 *   store_probe CONFIG kinds                the kinds of document, a line each
 *   store_probe CONFIG counters             "NAME VALUE" a line (the last values)
 *   store_probe CONFIG create KIND NAME     stdin, create-only (P11E_STORE_CREATE)
 *   store_probe CONFIG raise NAME VALUE     p11e_store_counter_raise: the value after
 *   store_probe CONFIG fence NAME           takes the identity lock NAME,
 *       says "locked" and waits for a line on stdin, then puts the
 *       identity document NAME ("fenced write") under it
 *   store_probe CONFIG hold KIND NAME      takes the lock, says "locked" and
 *       holds it until a line or the end of stdin (tests/lib/common.sh lock_hold)
 * CONFIG "" loads the config as p11enroll does (P11ENROLL_CONFIG, then the
 * system file, then the defaults with P11ENROLL_STORE): tests/lib/common.sh
 * reads records so whichever store the test runs on (P11E_TEST_STORE).
 * Exits with the library's code, its message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "p11enroll/config.h"
#include "p11enroll/lock.h"
#include "p11enroll/store.h"

static int fail(p11e_rc rc, const p11e_err *err)
{
	fprintf(stderr, "%s\n", err->msg);
	return (int)rc;
}

static int run(p11e_store *s, int argc, char **argv)
{
	const char *cmd = argv[2];
	p11e_err err = {0};
	p11e_rc rc;

	if ((strcmp(cmd, "put") == 0 || strcmp(cmd, "put-soon") == 0) && argc == 5) {
		size_t cap = 1 << 21, n = 0;
		unsigned char *buf = malloc(cap);
		size_t got;

		while (buf != NULL && (got = fread(buf + n, 1, cap - n, stdin)) > 0)
			n += got;
		rc = p11e_store_put(s, argv[3], argv[4], buf, n,
				    strcmp(cmd, "put") == 0 ? P11E_STORE_DURABLE : 0, &err);
		free(buf);
		return rc == P11E_OK ? 0 : fail(rc, &err);
	}
	if (strcmp(cmd, "get") == 0 && argc == 5) {
		unsigned char *data = NULL;
		size_t len = 0;

		if ((rc = p11e_store_get(s, argv[3], argv[4], &data, &len, &err)) != P11E_OK)
			return fail(rc, &err);
		fwrite(data, 1, len, stdout);
		free(data);
		return 0;
	}
	if (strcmp(cmd, "remove") == 0 && argc == 5)
		return (rc = p11e_store_remove(s, argv[3], argv[4], &err)) == P11E_OK
			   ? 0
			   : fail(rc, &err);
	if (strcmp(cmd, "list") == 0 && argc == 4) {
		p11e_store_doc *docs = NULL;
		size_t n = 0;

		if ((rc = p11e_store_list(s, argv[3], &docs, &n, &err)) != P11E_OK)
			return fail(rc, &err);
		for (size_t i = 0; i < n; i++)
			printf("%s %zu\n", docs[i].name, docs[i].len);
		p11e_store_docs_free(docs, n);
		return 0;
	}
	if (strcmp(cmd, "lock") == 0 && (argc == 6 || argc == 7)) {
		long times = argc == 7 ? atol(argv[6]) : 1;

		for (long i = 0; i < times; i++) {
			p11e_lock l = P11E_LOCK_INIT;

			if ((rc = p11e_lock_acquire(s, argv[3], argv[4], atol(argv[5]), &l,
						    &err)) != P11E_OK)
				return fail(rc, &err);
			p11e_lock_release(&l);
		}
		return 0;
	}
	if (strcmp(cmd, "counter") == 0 && argc == 6) {
		unsigned long long v;

		for (long i = 0; i < atol(argv[5]); i++) {
			if ((rc = p11e_store_counter_next(s, argv[3], strtoull(argv[4], NULL, 10),
							  &v, &err)) != P11E_OK)
				return fail(rc, &err);
			printf("%llu\n", v);
		}
		return 0;
	}
	if (strcmp(cmd, "kinds") == 0 && argc == 3) {
		for (size_t i = 0; p11e_store_kind_name(i) != NULL; i++)
			printf("%s\n", p11e_store_kind_name(i));
		return 0;
	}
	if (strcmp(cmd, "counters") == 0 && argc == 3) {
		p11e_store_counter *c = NULL;
		size_t n = 0;

		if ((rc = p11e_store_counter_list(s, &c, &n, &err)) != P11E_OK)
			return fail(rc, &err);
		for (size_t i = 0; i < n; i++)
			printf("%s %llu\n", c[i].name, c[i].value);
		p11e_store_counters_free(c, n);
		return 0;
	}
	if (strcmp(cmd, "create") == 0 && argc == 5) {
		char buf[65536];
		size_t n = fread(buf, 1, sizeof(buf), stdin);

		rc = p11e_store_put(s, argv[3], argv[4], buf, n,
				    P11E_STORE_CREATE | P11E_STORE_DURABLE, &err);
		return rc == P11E_OK ? 0 : fail(rc, &err);
	}
	if (strcmp(cmd, "raise") == 0 && argc == 5) {
		unsigned long long v = 0;

		if ((rc = p11e_store_counter_raise(s, argv[3], strtoull(argv[4], NULL, 10), &v,
						   &err)) != P11E_OK)
			return fail(rc, &err);
		printf("%llu\n", v);
		return 0;
	}
	if (strcmp(cmd, "fence") == 0 && argc == 4) {
		p11e_lock l = P11E_LOCK_INIT;
		char line[16];

		if ((rc = p11e_lock_acquire(s, "identity", argv[3], 0, &l, &err)) != P11E_OK)
			return fail(rc, &err);
		printf("locked\n");
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL)
			line[0] = '\0';
		rc = p11e_store_put(s, "identity", argv[3], "fenced write", 12, P11E_STORE_DURABLE,
				    &err);
		p11e_lock_release(&l);
		return rc == P11E_OK ? 0 : fail(rc, &err);
	}
	if (strcmp(cmd, "hold") == 0 && argc == 5) {
		p11e_lock l = P11E_LOCK_INIT;
		char line[16];

		if ((rc = p11e_lock_acquire(s, argv[3], argv[4], 0, &l, &err)) != P11E_OK)
			return fail(rc, &err);
		printf("locked\n");
		fflush(stdout);
		(void)fgets(line, sizeof(line), stdin);
		p11e_lock_release(&l);
		return 0;
	}
	fprintf(stderr, "store_probe: bad arguments (see tests/tools/store_probe.c)\n");
	return 2;
}

int main(int argc, char **argv)
{
	p11e_config cfg;
	p11e_err err = {0};
	p11e_rc rc;
	int code;

	if (argc < 3)
		return 2;
	if ((rc = p11e_config_load(argv[1][0] != '\0' ? argv[1] : NULL, &cfg, &err)) != P11E_OK)
		return fail(rc, &err);
	code = run(cfg.store, argc, argv);
	p11e_config_clear(&cfg);
	return code;
}
