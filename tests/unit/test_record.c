/* Enrollment records: step names, round trip of every field, file modes,
 * listing, corruption. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "check.h"
#include "core/state_paths.h"
#include "p11enroll/record.h"
#include "p11enroll/util.h"

static char state[512];
static p11e_store *store; /* a file store on state */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static int is_timestamp(const char *s)
{
	/* 2026-11-22T09:00:00Z */
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	if (s == NULL || strlen(s) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			return 0;
	return 1;
}

static void steps(void)
{
	static const char *const names[] = {"new",	 "key-pending", "key-generated",
					    "csr-built", "submitted",	"issued",
					    "stored",	 "done"};
	p11e_step s;

	for (int i = P11E_STEP_NEW; i <= P11E_STEP_DONE; i++) {
		CHECK(strcmp(p11e_step_name((p11e_step)i), names[i]) == 0);
		CHECK(p11e_step_parse(names[i], &s) == 0 && s == (p11e_step)i);
	}
	CHECK(strcmp(p11e_step_name((p11e_step)99), "unknown") == 0);
	CHECK(p11e_step_parse("bogus", &s) == -1);
	CHECK(p11e_step_parse("Done", &s) == -1);
	CHECK(p11e_step_parse("", &s) == -1);
	CHECK(p11e_step_parse(NULL, &s) == -1);
}

/* Every string field, by name, to fill and compare them all. */
#define FIELD(f)                                                                                   \
	{                                                                                          \
#f, offsetof(p11e_record, f)                                                       \
	}
static const struct {
	const char *name;
	size_t off;
} fields[] = {FIELD(identity),	 FIELD(name),	   FIELD(profile),	FIELD(key_type),
	      FIELD(ca),	 FIELD(token_uri), FIELD(token_serial), FIELD(label),
	      FIELD(temp_id),	 FIELD(key_id),	   FIELD(csr_pem),	FIELD(request_key),
	      FIELD(request_id), FIELD(cert_pem),  FIELD(chain_pem),	FIELD(cert_sha256),
	      FIELD(not_after),	 FIELD(last_error)};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static char **field(p11e_record *r, size_t i)
{
	return (char **)((char *)r + fields[i].off);
}

static void round_trip(void)
{
	p11e_record r = {0}, back;
	p11e_err err = {0};
	struct stat st;
	char *path, *text = NULL, *dir, created[32];
	size_t text_len = 0;
	json_object *o, *v;

	CHECK_RC(p11e_record_load(store, "nobody@example.com", &back, &err), P11E_NOT_FOUND, &err);
	CHECK(back.identity == NULL);

	/* A minimal record: NULL fields are left out of the file. */
	CHECK_RC(p11e_record_set(&r.identity, "zed@example.com", &err), P11E_OK, &err);
	r.step = P11E_STEP_KEY_PENDING;
	CHECK_RC(p11e_record_save(store, &r, &err), P11E_OK, &err);
	CHECK(is_timestamp(r.created) && is_timestamp(r.updated));
	path = p11e_state_record_path(state, "zed@example.com");
	CHECK(path != NULL && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	dir = p11e_path_join(state, "identities");
	CHECK(dir != NULL && stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	/* Through the store: the file holds it in one of two slots. */
	CHECK_RC(p11e_store_get(store, "identity", "zed@example.com", (unsigned char **)&text, &text_len, &err),
		 P11E_OK, &err);
	o = text ? json_tokener_parse(text) : NULL;
	CHECK(o != NULL && json_object_object_get_ex(o, "version", &v) &&
	      json_object_get_int(v) == 2);
	CHECK(json_object_object_get_ex(o, "step", &v) &&
	      strcmp(json_object_get_string(v), "key-pending") == 0);
	CHECK(json_object_object_get_ex(o, "identity", &v) &&
	      strcmp(json_object_get_string(v), "zed@example.com") == 0);
	CHECK(!json_object_object_get_ex(o, "cert_pem", NULL) &&
	      !json_object_object_get_ex(o, "last_error", NULL));
	json_object_put(o);
	free(text);

	/* Every field survives a save and a load, newlines and all. */
	snprintf(created, sizeof(created), "%s", r.created);
	for (size_t i = 1; i < NFIELDS; i++) {
		char value[128];
		snprintf(value, sizeof(value), "%s value \"%zu\"\n/\\ \xc3\xa9", fields[i].name, i);
		CHECK_RC(p11e_record_set(field(&r, i), value, &err), P11E_OK, &err);
	}
	r.step = P11E_STEP_CSR_BUILT;
	CHECK_RC(p11e_record_save(store, &r, &err), P11E_OK, &err);
	CHECK(strcmp(r.created, created) == 0); /* set once */
	CHECK_RC(p11e_record_load(store, "zed@example.com", &back, &err), P11E_OK, &err);
	CHECK(back.step == P11E_STEP_CSR_BUILT);
	for (size_t i = 0; i < NFIELDS; i++) {
		int same = *field(&back, i) != NULL && strcmp(*field(&back, i), *field(&r, i)) == 0;
		if (!same)
			fprintf(stderr, "field %s did not survive\n", fields[i].name);
		CHECK(same);
	}
	CHECK(strcmp(back.created, r.created) == 0 && strcmp(back.updated, r.updated) == 0);
	p11e_record_clear(&back);
	CHECK(back.identity == NULL && back.cert_pem == NULL && back.step == P11E_STEP_NEW);

	/* Clearing a field removes it from the file. */
	CHECK_RC(p11e_record_set(&r.last_error, NULL, &err), P11E_OK, &err);
	CHECK(r.last_error == NULL);
	CHECK_RC(p11e_record_save(store, &r, &err), P11E_OK, &err);
	CHECK_RC(p11e_record_load(store, "zed@example.com", &back, &err), P11E_OK, &err);
	CHECK(back.last_error == NULL && back.cert_pem != NULL);
	p11e_record_clear(&back);

	/* No identity, nothing to save under. */
	p11e_record none = {0};
	CHECK_RC(p11e_record_save(store, &none, &err), P11E_USAGE, &err);
	p11e_record_clear(&none);
	free(dir);
	free(path);
	p11e_record_clear(&r);
}

static void listing(void)
{
	const char *ids[] = {"zed@example.com", "bob@example.com", "amy@example.com"};
	p11e_record r = {0}, *list = NULL;
	p11e_err err = {0};
	size_t n = 99;
	char empty[600], junk[700];

	snprintf(empty, sizeof(empty), "%s/empty-state", state);
	{
		p11e_store *none = NULL;
		CHECK_RC(p11e_store_open_dir(empty, &none, &err), P11E_OK, &err);
		CHECK_RC(p11e_record_list(none, &list, &n, &err), P11E_OK, &err); /* none yet */
		p11e_store_close(none);
	}
	CHECK(list == NULL && n == 0);

	for (size_t i = 1; i < 3; i++) {
		CHECK_RC(p11e_record_set(&r.identity, ids[i], &err), P11E_OK, &err);
		r.step = (p11e_step)i;
		CHECK_RC(p11e_record_save(store, &r, &err), P11E_OK, &err);
	}
	p11e_record_clear(&r);
	/* A temp file of an interrupted save, and other files, are not records. */
	snprintf(junk, sizeof(junk), "%s/identities/amy@example.com.json.tmp.AbC123", state);
	write_text(junk, "{ half");
	snprintf(junk, sizeof(junk), "%s/identities/README", state);
	write_text(junk, "not a record");
	CHECK_RC(p11e_record_list(store, &list, &n, &err), P11E_OK, &err);
	CHECK(n == 3);
	for (size_t i = 0; i < n && i < 3; i++)
		CHECK(strcmp(list[i].identity, ids[2 - i]) == 0); /* sorted */
	CHECK(n == 3 && list[0].step == P11E_STEP_KEY_GENERATED &&
	      list[1].step == P11E_STEP_KEY_PENDING && list[2].step == P11E_STEP_CSR_BUILT);
	p11e_records_free(list, n);
	p11e_records_free(NULL, 0);
}

static void paths(void)
{
	char *p = p11e_state_record_path("/s", "../x/y z");

	/* Odd identities cannot escape the directory or hide. */
	CHECK(p && strcmp(p, "/s/identities/%2E.%2Fx%2Fy%20z.json") == 0);
	free(p);
	p = p11e_state_record_path("/s/", "a.b+c_d-e@example.com");
	CHECK(p && strcmp(p, "/s/identities/a.b+c_d-e@example.com.json") == 0);
	free(p);
	p = p11e_state_record_path("/s", "Bob%@x");
	CHECK(p && strcmp(p, "/s/identities/%42ob%25@x.json") == 0);
	free(p);
}

/* finding 8: the longest valid identities get a record file; names that
 * fitted before keep theirs. */
static void long_paths(void)
{
	p11e_err err = {0};
	p11e_record r, back;
	char id[300], *p, *base;

	/* 239 characters escaped: the longest kept as is. */
	memset(id, 'a', 239);
	id[239] = '\0';
	p = p11e_state_record_path("/s", id);
	base = p ? strrchr(p, '/') + 1 : NULL;
	CHECK(base != NULL && strlen(base) == 239 + 5 && strncmp(base, id, 239) == 0);
	free(p);
	/* 240: hashed, as is a 254-character address. */
	memset(id, 'a', 240);
	id[240] = '\0';
	p = p11e_state_record_path("/s", id);
	base = p ? strrchr(p, '/') + 1 : NULL;
	CHECK(base != NULL && strncmp(base, "SHA256-", 7) == 0 && strlen(base) == 7 + 64 + 5);
	free(p);
	memset(id, 'l', 64);
	id[64] = '@';
	memset(id + 65, 'd', 185);
	memcpy(id + 65 + 185, ".org", 5); /* 254 characters */
	memset(&r, 0, sizeof(r));
	CHECK(p11e_record_set(&r.identity, id, &err) == P11E_OK);
	CHECK_RC(p11e_record_save(store, &r, &err), P11E_OK, &err);
	CHECK_RC(p11e_record_load(store, id, &back, &err), P11E_OK, &err);
	CHECK(back.identity != NULL && strcmp(back.identity, id) == 0);
	p11e_record_clear(&back);
	/* Another identity's record under this name is refused. */
	{
		char *path = p11e_state_record_path(state, id),
		     *other = p11e_state_record_path(state, "x@y.org");
		CHECK(path != NULL && other != NULL && rename(path, other) == 0);
		CHECK_RC(p11e_record_load(store, "x@y.org", &back, &err), P11E_FAIL, &err);
		CHECK(rename(other, path) == 0);
		free(path);
		free(other);
	}
	CHECK_RC(p11e_record_remove(store, id, &err), P11E_OK, &err);
	CHECK_RC(p11e_record_load(store, id, &back, &err), P11E_NOT_FOUND, &err);
	CHECK_RC(p11e_record_remove(store, id, &err), P11E_NOT_FOUND, &err);
	p11e_record_clear(&r);
}

static void corrupt(void)
{
	static const struct {
		const char *text, *needle;
	} bad[] = {
	    {"{ \"version\": 1, \"identity\": \"zed@example.com\", \"step\": \"flying\" }",
	     "unknown step 'flying'"},
	    {"{ \"version\": 1, \"identity\": \"zed@example.com\" }", "unknown step"},
	    {"{ \"version\": 1, \"step\": \"done\" }", "no identity"},
	    {"{ \"version\": 1, \"identity\": \"\", \"step\": \"done\" }", "no identity"},
	    {"{ \"version\": 1, \"identity\": \"zed@example.com\", \"step\": 3 }", "unknown step"},
	    {"{ \"version\": 1, \"identity\": 5, \"step\": \"done\" }",
	     "'identity' is not a string"},
	    {"{ \"version\": 1, \"identity\": \"zed@example.com\", \"step\": \"done\", "
	     "\"cert_pem\": [] }",
	     "'cert_pem' is not a string"},
	    {"{ \"identity\": \"zed@example.com\", \"step\": \"done\" }", "no \"version\""},
	    {"{ \"version\": 1, \"identity\": \"amy@example.com\", \"step\": \"done\" }",
	     "it is the record of amy@example.com"},
	    {"not json", "not a JSON object"},
	    {"[]", "not a JSON object"},
	};
	p11e_record back, *list = NULL;
	p11e_err err = {0};
	size_t n = 0;
	char *path = p11e_state_record_path(state, "zed@example.com");

	for (size_t i = 0; path != NULL && i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(path, bad[i].text);
		CHECK_RC(p11e_record_load(store, "zed@example.com", &back, &err), P11E_FAIL, &err);
		int ok = strstr(err.msg, "is corrupt: ") != NULL && strstr(err.msg, path) != NULL &&
			 strstr(err.msg, bad[i].needle) != NULL &&
			 strstr(err.msg, "; move it aside to start over") != NULL;
		if (!ok)
			fprintf(stderr, "'%s': message '%s'\n", bad[i].text, err.msg);
		CHECK(ok);
		CHECK(back.identity == NULL);
		CHECK_RC(p11e_record_list(store, &list, &n, &err), P11E_FAIL, &err);
		CHECK(list == NULL && n == 0 && strstr(err.msg, path) != NULL);
	}
	/* An empty file never held a durable record, in either format (a
	 * durable save is whole on disk before its name is): what a power
	 * loss leaves of a file made by a save that was not durable, read as
	 * no record (docs/store.md#durability). */
	write_text(path, "");
	CHECK_RC(p11e_record_load(store, "zed@example.com", &back, &err), P11E_NOT_FOUND, &err);
	/* A newer p11enroll's file is not read (and so never overwritten). */
	write_text(path,
		   "{ \"version\": 3, \"identity\": \"zed@example.com\", \"step\": \"done\" }");
	CHECK_RC(p11e_record_load(store, "zed@example.com", &back, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "version 3") != NULL);
	free(path);
}

/* p11e_record_parse: a record from a buffer (the fuzz harness's way in),
 * only len bytes read; the same checks as a file, but not its place. */
static void from_buffer(void)
{
	static const char text[] = "{ \"version\": 1, \"identity\": \"amy@example.com\", "
				   "\"step\": \"csr-built\", \"csr_pem\": \"x\", \"name\": null }";
	p11e_record r;
	p11e_err err = {0};

	CHECK_RC(p11e_record_parse("mem", text, sizeof(text) - 1, &r, &err), P11E_OK, &err);
	CHECK(r.identity != NULL && strcmp(r.identity, "amy@example.com") == 0 &&
	      r.step == P11E_STEP_CSR_BUILT && r.name == NULL && r.csr_pem != NULL);
	p11e_record_clear(&r);
	/* Cut short: the bytes after len are not read. */
	CHECK_RC(p11e_record_parse("mem", text, sizeof(text) - 3, &r, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "record mem is corrupt: not a JSON object") != NULL);
	CHECK(r.identity == NULL);
	CHECK_RC(p11e_record_parse("mem", "{\"version\":1,\"step\":\"done\"}", 29, &r, &err),
		 P11E_FAIL, &err);
	CHECK(strstr(err.msg, "no identity") != NULL);
}

/* One spelling per address, whoever asks (enroll, batch). */
static void identity_spelling(void)
{
	char *id = p11e_record_identity("Alice.Example+Tag@Example.COM");

	CHECK(id != NULL && strcmp(id, "alice.example+tag@example.com") == 0);
	free(id);
}

/* issue 20: the address as certified is kept beside the identity; a record
 * without it (made before) certifies its identity; one whose email is
 * another address than its identity is refused. */
static void email_case(void)
{
	static const char kept[] = "{ \"version\": 2, \"identity\": \"amy.b@example.com\", "
				   "\"email\": \"Amy.B@example.com\", \"step\": \"done\" }";
	static const char old[] = "{ \"version\": 2, \"identity\": \"amy.b@example.com\", "
				  "\"step\": \"done\" }";
	static const char other[] = "{ \"version\": 2, \"identity\": \"amy.b@example.com\", "
				    "\"email\": \"Amy.C@example.com\", \"step\": \"done\" }";
	p11e_record r, back;
	p11e_err err = {0};

	CHECK_RC(p11e_record_parse("mem", kept, sizeof(kept) - 1, &r, &err), P11E_OK, &err);
	CHECK(strcmp(p11e_record_email(&r), "Amy.B@example.com") == 0);
	CHECK_RC(p11e_record_save(store, &r, &err), P11E_OK, &err);
	CHECK_RC(p11e_record_load(store, "amy.b@example.com", &back, &err), P11E_OK, &err);
	CHECK(back.email != NULL && strcmp(back.email, "Amy.B@example.com") == 0);
	p11e_record_clear(&back);
	p11e_record_clear(&r);
	CHECK_RC(p11e_record_parse("mem", old, sizeof(old) - 1, &r, &err), P11E_OK, &err);
	CHECK(r.email == NULL && strcmp(p11e_record_email(&r), "amy.b@example.com") == 0);
	p11e_record_clear(&r);
	CHECK_RC(p11e_record_parse("mem", other, sizeof(other) - 1, &r, &err), P11E_FAIL, &err);
	CHECK(strstr(err.msg, "is not its identity") != NULL);
}

int main(void)
{
	const char *tmp = getenv("TEST_TMP");

	identity_spelling();

	if (tmp == NULL) {
		fprintf(stderr, "TEST_TMP is not set: run under tests/with-softhsm.sh\n");
		return 1;
	}
	snprintf(state, sizeof(state), "%s/rec-state", tmp);
	if (p11e_store_open_dir(state, &store, NULL) != P11E_OK)
		return 1;
	steps();
	paths();
	long_paths();
	round_trip();
	listing();
	corrupt();
	from_buffer();
	email_case();
	p11e_store_close(store);
	return check_done();
}
