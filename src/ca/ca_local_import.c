/* `store migrate --from file:DIR`: the station's default embedded CA
 * ("local:STATE_DIR/ca") into the configured store (p11e_ca_local_import,
 * ca.h), so that stations on a shared store (PostgreSQL) share its index,
 * request answers and CRL number, and revoke what the old station issued.
 *
 * With the file store the CA's state lives in its own directory
 * (p11e_store_open_home): that directory is a file store of its own, copied
 * like any other (store_import.c: create-only, conflicts refused by name,
 * counters raised). Certificates issued before the index went into the
 * store are only lines of DIR/ca/index.jsonl: each becomes the ca-cert
 * document the CA writes today (the line, with "revoked_at" and "reason"
 * from its revocation line), created only where none exists, so that
 * revocations and CRLs on the shared store list them. Certificates issued
 * for a request before the store, DIR/ca/issued/K.pem, become the ca-request
 * document CAID/K the CA writes today ({"serial", "issued_at", "pem"}), so a
 * resubmission of that request from any station gets that certificate
 * again, not a second one; one there already for K with another serial is a
 * conflict, refused by name. The CA's key and certificate are not moved: the
 * caller says so. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include <openssl/x509.h>
#include "p11enroll/clock.h"
#include "p11enroll/pem.h"
#include "p11enroll/ca.h"
#include "p11enroll/util.h"
#include "p11enroll/store_import.h"
#include "ca/ca_local.h"

#define CA_PEM_MAX (1024 * 1024)
#define INDEX_MAX (256 * 1024 * 1024)

/* A certificate file of the CA's directory (ca.pem, issued/K.pem): public,
 * read as the CA reads it. */
static p11e_rc read_cert(const char *path, X509 **cert, p11e_err *err)
{
	char *pem = NULL;
	size_t len = 0;
	p11e_rc rc = p11e_read_file(path, CA_PEM_MAX, &pem, &len, err);

	*cert = NULL;
	if (rc == P11E_OK && (*cert = p11e_x509_from_pem(pem)) == NULL)
		rc = p11e_errf_ssl(err, P11E_FAIL,
				   "%s is not a PEM certificate; restore it from backup", path);
	free(pem);
	return rc;
}

static p11e_rc ca_id_of(const char *dir, char id[65], p11e_err *err)
{
	char *path = p11e_path_join(dir, "ca.pem");
	X509 *cert = NULL;
	p11e_rc rc;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((rc = read_cert(path, &cert, err)) == P11E_OK)
		rc = p11e_ca_local_id(cert, id, err);
	X509_free(cert);
	free(path);
	return rc;
}

static const char *str_field(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Index lines by canonical serial: the issued ones, then their revocations
 * folded in. */
typedef struct legacy {
	json_object *issued; /* serial -> the line */
} legacy;

static void legacy_line(legacy *lg, const char *line, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL, *there;
	const char *serial;
	char canon[65];
	p11e_err ignored;

	if (tok == NULL)
		return;
	o = json_tokener_parse_ex(tok, line, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		goto out;
	if ((serial = str_field(o, "revoked")) != NULL) {
		/* Onto the issued line before it (the index's order). */
		if (p11e_serial_canonical("revoked", serial, canon, sizeof(canon), &ignored) ==
			P11E_OK &&
		    json_object_object_get_ex(lg->issued, canon, &there) &&
		    !json_object_object_get_ex(there, "revoked_at", NULL) &&
		    str_field(o, "revoked_at") != NULL && str_field(o, "reason") != NULL) {
			json_object_object_add(there, "revoked_at",
					       json_object_new_string(str_field(o, "revoked_at")));
			json_object_object_add(there, "reason",
					       json_object_new_string(str_field(o, "reason")));
		}
	} else if ((serial = str_field(o, "serial")) != NULL &&
		   p11e_serial_canonical("serial", serial, canon, sizeof(canon), &ignored) ==
		       P11E_OK &&
		   !json_object_object_get_ex(lg->issued, canon, NULL)) {
		json_object_object_add(o, "serial", json_object_new_string(canon));
		json_object_object_add(lg->issued, canon, json_object_get(o));
	}
out:
	json_object_put(o);
}

/* DIR/index.jsonl's certificates that the CA's store does not know, as
 * ca-cert documents created in to. A line that cannot be read is skipped:
 * the CA itself refuses such an index (ca crl there says which line). */
static p11e_rc import_legacy(p11e_store *to, p11e_store *from, const char *dir, const char *id,
			     p11e_ca_import *out, p11e_err *err)
{
	char *path = p11e_path_join(dir, "index.jsonl"), *text = NULL, name[200];
	legacy lg = {.issued = json_object_new_object()};
	size_t len = 0;
	p11e_rc rc;

	if (path == NULL || lg.issued == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	rc = p11e_read_private(path, INDEX_MAX, &text, &len, err);
	if (rc == P11E_NOT_FOUND) {
		rc = P11E_OK;
		goto out;
	}
	if (rc != P11E_OK)
		goto out;
	for (size_t start = 0; start < len;) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;

		if (end > start)
			legacy_line(&lg, text + start, end - start);
		start = end + 1;
	}
	json_object_object_foreach(lg.issued, serial, line)
	{
		unsigned char *data = NULL;
		size_t n = 0;
		const char *doc;

		snprintf(name, sizeof(name), "%s/%s", id, serial);
		rc = p11e_store_get(from, "ca-cert", name, &data, &n, err);
		free(data);
		if (rc == P11E_OK)
			continue; /* in the CA's store: copied with it */
		if (rc != P11E_NOT_FOUND)
			goto out;
		doc = json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE);
		rc = p11e_store_put(to, "ca-cert", name, doc, strlen(doc),
				    P11E_STORE_CREATE | P11E_STORE_DURABLE, err);
		if (rc == P11E_OK)
			out->legacy++;
		else if (rc == P11E_EXISTS) /* a rerun, or revoked there since */
			out->legacy_present++;
		else
			goto out;
		rc = P11E_OK;
	}
out:
	json_object_put(lg.issued);
	free(text);
	free(path);
	return rc;
}

/* A request key as the CA names its files (ca_local.c): letters, digits,
 * "-", "_" and ".", not starting with a dot. */
static int request_key_ok(const char *s, size_t len)
{
	if (len == 0 || len >= 100 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return 0;
	return 1;
}

static p11e_import_count *count_of(p11e_ca_import *out, const char *kind)
{
	for (size_t i = 0; i < out->rep.n; i++)
		if (strcmp(out->rep.counts[i].kind, kind) == 0)
			return &out->rep.counts[i];
	return NULL;
}

/* The ca-request document the CA writes for cert (ca_local_store.c), as
 * JSON text (malloc'd), and its serial. */
static char *request_doc(X509 *cert, time_t issued_at, char serial[65], p11e_err *err)
{
	json_object *o = json_object_new_object();
	char *pem = p11e_x509_to_pem(cert), at[32], *doc = NULL;

	if (o == NULL || pem == NULL) {
		p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if (p11e_cert_serial("serial", cert, serial, 65, err) != P11E_OK)
		goto out;
	p11e_iso_format(issued_at, at);
	json_object_object_add(o, "serial", json_object_new_string(serial));
	json_object_object_add(o, "issued_at", json_object_new_string(at));
	json_object_object_add(o, "pem", json_object_new_string(pem));
	doc = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE));
	if (doc == NULL)
		p11e_errf(err, P11E_FAIL, "out of memory");
out:
	free(pem);
	json_object_put(o);
	return doc;
}

/* The serial a ca-request document in to names, "" when it names none. */
static p11e_rc request_serial_there(p11e_store *to, const char *name, char serial[65],
				    p11e_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	json_object *o;
	p11e_rc rc = p11e_store_get(to, "ca-request", name, &data, &len, err);

	serial[0] = '\0';
	if (rc != P11E_OK)
		return rc;
	if ((o = json_tokener_parse((const char *)data)) != NULL && str_field(o, "serial") != NULL)
		snprintf(serial, 65, "%s", str_field(o, "serial"));
	json_object_put(o);
	free(data);
	return P11E_OK;
}

/* One DIR/issued/K.pem into to as ca-request CAID/K. */
static p11e_rc import_issued_one(p11e_store *to, p11e_store *from, const char *path,
				 const char *name, p11e_import_conflict_fn conflict, void *arg,
				 p11e_ca_import *out, p11e_err *err)
{
	p11e_import_count *c = count_of(out, "ca-request");
	char *doc = NULL, serial[65], there[65];
	unsigned char *data = NULL;
	struct stat st;
	X509 *cert = NULL;
	size_t n = 0;
	p11e_rc rc;

	/* Answered again since the store (the CA's own store has it): copied with it. */
	rc = p11e_store_get(from, "ca-request", name, &data, &n, err);
	free(data);
	if (rc != P11E_NOT_FOUND)
		return rc;
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return P11E_OK;
	if ((rc = read_cert(path, &cert, err)) != P11E_OK)
		goto out;
	if ((doc = request_doc(cert, st.st_mtime, serial, err)) == NULL) {
		rc = P11E_FAIL;
		goto out;
	}
	rc = p11e_store_put(to, "ca-request", name, doc, strlen(doc),
			    P11E_STORE_CREATE | P11E_STORE_DURABLE, err);
	if (rc == P11E_OK) {
		c->imported++;
		goto out;
	}
	/* There already: the same certificate (a rerun) or another one. */
	if (rc != P11E_EXISTS || (rc = request_serial_there(to, name, there, err)) != P11E_OK)
		goto out;
	if (strcmp(there, serial) == 0) {
		c->present++;
	} else {
		c->conflicts++;
		out->rep.conflicts++;
		if (conflict != NULL)
			conflict(arg, "ca-request", name,
				 "another certificate answers that request in the target; left as it is");
	}
out:
	X509_free(cert);
	free(doc);
	return rc;
}

/* DIR/issued/K.pem, the answers to requests from before the store. */
static p11e_rc import_issued(p11e_store *to, p11e_store *from, const char *dir, const char *id,
			     p11e_import_conflict_fn conflict, void *arg, p11e_ca_import *out,
			     p11e_err *err)
{
	char *issued = p11e_path_join(dir, "issued"), *path, name[200];
	struct dirent *e;
	p11e_rc rc = P11E_OK;
	DIR *d;

	if (issued == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	if ((d = opendir(issued)) == NULL) {
		free(issued);
		return P11E_OK; /* none: a CA made since the store */
	}
	while (rc == P11E_OK && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len <= 4 || strcmp(e->d_name + len - 4, ".pem") != 0 ||
		    !request_key_ok(e->d_name, len - 4))
			continue;
		snprintf(name, sizeof(name), "%s/%.*s", id, (int)(len - 4), e->d_name);
		if ((path = p11e_path_join(issued, e->d_name)) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			break;
		}
		rc = import_issued_one(to, from, path, name, conflict, arg, out, err);
		free(path);
	}
	closedir(d);
	free(issued);
	return rc;
}

/* The CRL number the CA kept in DIR/crlnumber before the store: the shared
 * counter raised past it, as the CA itself starts above it. */
static p11e_rc raise_crlnumber(p11e_store *to, const char *dir, const char *id, p11e_err *err)
{
	char *path = p11e_path_join(dir, "crlnumber"), *text = NULL, *end = NULL, name[80];
	unsigned long long n;
	p11e_rc rc;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_read_private(path, 64, &text, NULL, err);
	free(path);
	if (rc == P11E_NOT_FOUND)
		return P11E_OK;
	if (rc != P11E_OK)
		return rc;
	n = strtoull(text, &end, 10);
	if (end != text && n > 0) {
		snprintf(name, sizeof(name), "ca-crl/%s", id);
		rc = p11e_store_counter_raise(to, name, n, NULL, err);
	}
	free(text);
	return rc;
}

p11e_rc p11e_ca_local_import(p11e_store *to, const char *state_dir, long wait_ms,
			     p11e_import_conflict_fn conflict, void *arg, p11e_ca_import *out,
			     p11e_err *err)
{
	p11e_store *from = NULL;
	struct stat st;
	char *pem = NULL;
	p11e_rc rc, ca_rc;

	memset(out, 0, sizeof(*out));
	if ((out->dir = p11e_path_join(state_dir, "ca")) == NULL ||
	    (pem = p11e_path_join(out->dir, "ca.pem")) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	/* No CA there (the station used another): nothing to do. */
	if (lstat(pem, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = P11E_OK;
		goto out;
	}
	out->found = 1;
	if ((rc = ca_id_of(out->dir, out->id, err)) != P11E_OK ||
	    (rc = p11e_store_open_dir(out->dir, &from, err)) != P11E_OK)
		goto out;
	ca_rc = p11e_store_import(to, from, wait_ms, conflict, arg, &out->rep, err);
	if (ca_rc != P11E_OK && ca_rc != P11E_EXISTS) {
		rc = ca_rc;
		goto out;
	}
	if ((rc = import_legacy(to, from, out->dir, out->id, out, err)) == P11E_OK &&
	    (rc = import_issued(to, from, out->dir, out->id, conflict, arg, out, err)) ==
		P11E_OK &&
	    (rc = raise_crlnumber(to, out->dir, out->id, err)) == P11E_OK)
		rc = ca_rc != P11E_OK || out->rep.conflicts == 0 ? ca_rc : P11E_EXISTS;
out:
	p11e_store_close(from);
	free(pem);
	return rc;
}

void p11e_ca_import_free(p11e_ca_import *c)
{
	p11e_import_report_free(&c->rep);
	free(c->dir);
	c->dir = NULL;
}
