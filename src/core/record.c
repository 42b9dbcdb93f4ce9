/* Enrollment records: one JSON document per identity, kept by the store. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "core/record_history.h"
#include "core/state_paths.h"
#include "p11enroll/record.h"
#include "p11enroll/util.h"

#define RECORD_MAX (1024 * 1024)
/* The file format; a newer p11enroll may write a higher one, which this one
 * must not half-understand and then overwrite. Version 2 added generations
 * (renewal): a version 1 record reads as generation 1 and is written as 2,
 * so a p11enroll that knows no generations never drops a history. */
#define RECORD_VERSION 2
#define RECORD_VERSION_OLDEST 1

static const char *const step_names[] = {
    [P11E_STEP_NEW] = "new",
    [P11E_STEP_KEY_PENDING] = "key-pending",
    [P11E_STEP_KEY_GENERATED] = "key-generated",
    [P11E_STEP_CSR_BUILT] = "csr-built",
    [P11E_STEP_SUBMITTED] = "submitted",
    [P11E_STEP_ISSUED] = "issued",
    [P11E_STEP_STORED] = "stored",
    [P11E_STEP_DONE] = "done",
};
#define NSTEPS (sizeof(step_names) / sizeof(step_names[0]))

const char *p11e_step_name(p11e_step s)
{
	return (size_t)s < NSTEPS ? step_names[s] : "unknown";
}

int p11e_step_parse(const char *name, p11e_step *out)
{
	for (size_t i = 0; name != NULL && i < NSTEPS; i++)
		if (strcmp(name, step_names[i]) == 0) {
			*out = (p11e_step)i;
			return 0;
		}
	return -1;
}

/* The string fields, by JSON name: one table serves load, save and clear. */
typedef struct field {
	const char *key;
	size_t offset;
} field;
#define F(name)                                                                                    \
	{                                                                                          \
#name, offsetof(p11e_record, name)                                                 \
	}
static const field fields[] = {
    F(identity),
    F(email),
    F(name),
    F(profile),
    F(key_type),
    F(ca),
    F(token_uri),
    F(token_serial),
    F(label),
    F(temp_id),
    F(key_id),
    F(csr_pem),
    F(request_key),
    F(request_id),
    F(cert_pem),
    F(chain_pem),
    F(cert_sha256),
    F(not_after),
    F(last_error),
    F(created),
    F(updated),
    F(key_store),
    F(pfx_path),
    F(dns_name),
    F(pfx_format),
    F(key_id_note),
    F(chain_note),
    F(slot_id),
    F(slot_kind),
    F(slot_old_key_sha256),
    F(slot_old_cert_sha256),
    F(slot_phase),
    F(publish_pending),
    F(published),
    F(publish_sha256),
    F(retired),
    F(renew_mode),
    F(revoked_reason),
    F(revoked_at),
    F(token_removed),
    F(upn),
    F(principal),
    F(sid),
};
#undef F
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static char **slot(p11e_record *r, size_t i)
{
	return (char **)((char *)r + fields[i].offset);
}

p11e_rc p11e_record_set(char **f, const char *value, p11e_err *err)
{
	char *copy = NULL;

	if (value != NULL && (copy = strdup(value)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	free(*f);
	*f = copy;
	return P11E_OK;
}

char *p11e_record_identity(const char *email)
{
	char *out = strdup(email);

	for (char *c = out; c != NULL && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return out;
}

const char *p11e_record_email(const p11e_record *rec)
{
	return rec->email != NULL ? rec->email : rec->identity;
}

static void now_iso(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

p11e_rc p11e_record_save(p11e_store *store, p11e_record *r, p11e_err *err)
{
	return p11e_record_save_flags(store, r, P11E_STORE_DURABLE, err);
}

p11e_rc p11e_record_save_flags(p11e_store *store, p11e_record *r, int flags, p11e_err *err)
{
	char stamp[32];
	json_object *o;
	const char *text;
	p11e_rc rc;

	if (r->identity == NULL || r->identity[0] == '\0')
		return p11e_errf(err, P11E_USAGE, "record: no identity to save it under");
	o = json_object_new_object();
	if (o == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	now_iso(stamp);
	if ((r->created == NULL && p11e_record_set(&r->created, stamp, err) != P11E_OK) ||
	    p11e_record_set(&r->updated, stamp, err) != P11E_OK) {
		rc = P11E_FAIL;
		goto out;
	}
	json_object_object_add(o, "version", json_object_new_int(RECORD_VERSION));
	json_object_object_add(o, "step", json_object_new_string(p11e_step_name(r->step)));
	for (size_t i = 0; i < NFIELDS; i++)
		if (*slot(r, i) != NULL)
			json_object_object_add(o, fields[i].key,
					       json_object_new_string(*slot(r, i)));
	if ((rc = record_history_save(o, r, err)) != P11E_OK)
		goto out;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = p11e_store_put(store, "identity", r->identity, text, strlen(text), flags, err);
out:
	json_object_put(o);
	return rc;
}

#define CORRUPT "record %s is corrupt: "
#define MOVE_ASIDE "; move it aside to start over"

/* The record in text (len bytes; no NUL needed), name standing for its file
 * in messages. Checks the shape (version, string fields, identity, step), not
 * where the file lies: load_path does that. */
p11e_rc p11e_record_parse(const char *name, const char *text, size_t len, p11e_record *r,
			  p11e_err *err)
{
	json_tokener *tok = NULL;
	json_object *o = NULL, *v = NULL;
	p11e_rc rc = P11E_OK;

	memset(r, 0, sizeof(*r));
	if (len > INT_MAX || (tok = json_tokener_new()) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, CORRUPT "too large" MOVE_ASIDE, name);
		goto out;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		rc = p11e_errf(err, P11E_FAIL, CORRUPT "not a JSON object" MOVE_ASIDE, name);
		goto out;
	}
	if (!json_object_object_get_ex(o, "version", &v) ||
	    !json_object_is_type(v, json_type_int)) {
		rc = p11e_errf(err, P11E_FAIL, CORRUPT "no \"version\"" MOVE_ASIDE, name);
		goto out;
	}
	if (json_object_get_int64(v) < RECORD_VERSION_OLDEST ||
	    json_object_get_int64(v) > RECORD_VERSION) {
		rc = p11e_errf(
		    err, P11E_FAIL,
		    "record %s has version %lld; this p11enroll reads versions 1 to %d: use "
		    "the p11enroll that wrote it",
		    name, (long long)json_object_get_int64(v), RECORD_VERSION);
		goto out;
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		if (!json_object_object_get_ex(o, fields[i].key, &v) ||
		    json_object_is_type(v, json_type_null))
			continue;
		if (!json_object_is_type(v, json_type_string)) {
			rc = p11e_errf(err, P11E_FAIL, CORRUPT "'%s' is not a string" MOVE_ASIDE,
				       name, fields[i].key);
			goto out;
		}
		rc = p11e_record_set(slot(r, i), json_object_get_string(v), err);
		if (rc != P11E_OK)
			goto out;
	}
	if (r->identity == NULL || r->identity[0] == '\0') {
		rc = p11e_errf(err, P11E_FAIL, CORRUPT "no identity" MOVE_ASIDE, name);
		goto out;
	}
	/* The address differs from its identity only by case. */
	if (r->email != NULL && strcasecmp(r->email, r->identity) != 0) {
		rc = p11e_errf(err, P11E_FAIL,
			       CORRUPT "its email '%.100s' is not its identity" MOVE_ASIDE, name,
			       r->email);
		goto out;
	}
	if ((rc = record_history_parse(name, o, r, err)) != P11E_OK)
		goto out;
	if (!json_object_object_get_ex(o, "step", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    p11e_step_parse(json_object_get_string(v), &r->step) != 0) {
		rc = p11e_errf(err, P11E_FAIL, CORRUPT "unknown step '%.40s'" MOVE_ASIDE, name,
			       v != NULL && json_object_is_type(v, json_type_string)
				   ? json_object_get_string(v)
				   : "(none)");
		goto out;
	}
out:
	if (rc != P11E_OK)
		p11e_record_clear(r);
	json_object_put(o);
	if (tok != NULL)
		json_tokener_free(tok);
	return rc;
}

/* The record in a document the store keeps under name: it must be name's
 * own (a record copied by hand under another name would otherwise stand in
 * for that identity). */
static p11e_rc parse_doc(p11e_store *store, const char *name, const unsigned char *text, size_t len,
			 p11e_record *r, p11e_err *err)
{
	char label[400];
	p11e_rc rc;

	p11e_store_describe(store, "identity", name, label, sizeof(label));
	if ((rc = p11e_record_parse(label, (const char *)text, len, r, err)) != P11E_OK)
		return rc;
	if (!p11e_store_same_name(store, "identity", name, r->identity)) {
		rc = p11e_errf(err, P11E_FAIL,
			       CORRUPT "it is the record of %.100s, which belongs elsewhere" MOVE_ASIDE,
			       label, r->identity);
		p11e_record_clear(r);
	}
	return rc;
}

p11e_rc p11e_record_load(p11e_store *store, const char *identity, p11e_record *r, p11e_err *err)
{
	unsigned char *text = NULL;
	size_t len = 0;
	p11e_rc rc;

	memset(r, 0, sizeof(*r));
	rc = p11e_store_get(store, "identity", identity, &text, &len, err);
	if (rc == P11E_NOT_FOUND)
		p11e_errf(err, P11E_NOT_FOUND, "no record for %s", identity);
	if (rc == P11E_OK)
		rc = parse_doc(store, identity, text, len, r, err);
	free(text);
	return rc;
}

p11e_rc p11e_record_remove(p11e_store *store, const char *identity, p11e_err *err)
{
	return p11e_store_remove(store, "identity", identity, err);
}

static int by_identity(const void *a, const void *b)
{
	return strcmp(((const p11e_record *)a)->identity, ((const p11e_record *)b)->identity);
}

p11e_rc p11e_record_list(p11e_store *store, p11e_record **out, size_t *n, p11e_err *err)
{
	p11e_store_doc *docs = NULL;
	p11e_record *list = NULL;
	size_t ndocs = 0, count = 0;
	p11e_rc rc;

	*out = NULL;
	*n = 0;
	if ((rc = p11e_store_list(store, "identity", &docs, &ndocs, err)) != P11E_OK)
		return rc;
	if (ndocs > 0 && (list = calloc(ndocs, sizeof(*list))) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	for (; count < ndocs; count++)
		if ((rc = parse_doc(store, docs[count].name, docs[count].data, docs[count].len,
				    &list[count], err)) != P11E_OK)
			goto out;
	if (count > 1)
		qsort(list, count, sizeof(*list), by_identity);
out:
	p11e_store_docs_free(docs, ndocs);
	if (rc != P11E_OK) {
		p11e_records_free(list, count);
		return rc;
	}
	*out = list;
	*n = count;
	return P11E_OK;
}

void p11e_record_clear(p11e_record *r)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		free(*slot(r, i));
		*slot(r, i) = NULL;
	}
	record_history_clear(r);
	r->step = P11E_STEP_NEW;
}

void p11e_records_free(p11e_record *rs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p11e_record_clear(&rs[i]);
	free(rs);
}
