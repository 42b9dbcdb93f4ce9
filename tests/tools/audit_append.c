/* audit_append: audit entries appended from a test script through the
 * library's own p11e_audit_write, into whichever store the config names
 * (tests/integration/audit_pg.sh), since every p11enroll command that
 * audits also reads or writes documents, which the PostgreSQL store may not
 * keep yet. Test-only, never installed.
 *
 *   audit_append CONFIG COUNT NAME   COUNT entries, action "test-append",
 *                                    identity NAME-1@example.com, ...
 * Exits with the library's code, its message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include "p11enroll/audit.h"
#include "p11enroll/config.h"

int main(int argc, char **argv)
{
	p11e_config cfg;
	p11e_err err;
	p11e_rc rc;
	long count;

	if (argc != 4 || (count = strtol(argv[2], NULL, 10)) < 1) {
		fprintf(stderr, "usage: audit_append CONFIG COUNT NAME\n");
		return 2;
	}
	if ((rc = p11e_config_load(argv[1], &cfg, &err)) != P11E_OK) {
		fprintf(stderr, "%s\n", err.msg);
		return (int)rc;
	}
	for (long i = 1; i <= count && rc == P11E_OK; i++) {
		char identity[200];

		snprintf(identity, sizeof(identity), "%s-%ld@example.com", argv[3], i);
		rc = p11e_audit(&cfg, "test-append", identity, P11E_OK, NULL, &err);
	}
	if (rc != P11E_OK)
		fprintf(stderr, "%s\n", err.msg);
	p11e_config_clear(&cfg);
	return (int)rc;
}
