/* Enrollment records: round trip, modes, listing, corruption. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "check.h"
#include "p11enroll/record.h"

int main(void)
{
	const char *tmp = getenv("TEST_TMP");
	char state[512];
	p11e_record r = {0}, back;
	p11e_record *list = NULL;
	p11e_step s;
	size_t n = 0;
	struct stat st;
	p11e_err err = {0};
	char *path;
	FILE *f;

	snprintf(state, sizeof(state), "%s/state", tmp ? tmp : "/tmp");
	CHECK(strcmp(p11e_step_name(P11E_STEP_KEY_PENDING), "key-pending") == 0);
	CHECK(p11e_step_parse("csr-built", &s) == 0 && s == P11E_STEP_CSR_BUILT);
	CHECK(p11e_step_parse("bogus", &s) == -1);

	CHECK_RC(p11e_record_load(state, "nobody@example.com", &back, &err), P11E_NOT_FOUND, &err);
	p11e_record_set(&r.identity, "zed@example.com", &err);
	p11e_record_set(&r.key_id, "00ff", &err);
	p11e_record_set(&r.csr_pem, "-----BEGIN CERTIFICATE REQUEST-----\nAA==\n", &err);
	r.step = P11E_STEP_CSR_BUILT;
	CHECK_RC(p11e_record_save(state, &r, &err), P11E_OK, &err);
	CHECK(r.created != NULL && r.updated != NULL);
	path = p11e_record_path(state, "zed@example.com");
	CHECK(path && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_RC(p11e_record_load(state, "zed@example.com", &back, &err), P11E_OK, &err);
	CHECK(back.step == P11E_STEP_CSR_BUILT && strcmp(back.key_id, "00ff") == 0);
	CHECK(strcmp(back.csr_pem, r.csr_pem) == 0 && back.request_id == NULL);
	p11e_record_clear(&back);

	p11e_record_set(&r.identity, "amy@example.com", &err);
	r.step = P11E_STEP_DONE;
	CHECK_RC(p11e_record_save(state, &r, &err), P11E_OK, &err);
	CHECK_RC(p11e_record_list(state, &list, &n, &err), P11E_OK, &err);
	CHECK(n == 2 && strcmp(list[0].identity, "amy@example.com") == 0 &&
	      list[1].step == P11E_STEP_CSR_BUILT);
	p11e_records_free(list, n);

	/* Odd identities cannot escape the directory. */
	char *odd = p11e_record_path(state, "../x/y z");
	CHECK(odd && strstr(odd, "/identities/%2E.%2Fx%2Fy%20z.json") != NULL);
	free(odd);

	f = fopen(path, "w");
	fputs("{ \"identity\": \"zed@example.com\", \"step\": \"flying\" }", f);
	fclose(f);
	CHECK_RC(p11e_record_load(state, "zed@example.com", &back, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "corrupt") != NULL && strstr(err.msg, "move it aside") != NULL);
	CHECK_RC(p11e_record_list(state, &list, &n, &err), P11E_FAIL, &err);
	free(path);
	p11e_record_clear(&r);
	return check_done();
}
