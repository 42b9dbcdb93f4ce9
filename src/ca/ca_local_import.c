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
 * revocations and CRLs on the shared store list them. The CA's key and
 * certificate are not moved: the caller says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include <openssl/x509.h>
#include "p11enroll/pem.h"
#include "p11enroll/ca.h"
#include "p11enroll/util.h"
#include "p11enroll/store_import.h"
#include "ca/ca_local.h"

#define CA_PEM_MAX (1024 * 1024)
#define INDEX_MAX (256 * 1024 * 1024)

static p11e_rc ca_id_of(const char *dir, char id[65], p11e_err *err)
{
	char *path = p11e_path_join(dir, "ca.pem"), *pem = NULL;
	size_t len = 0;
	X509 *cert = NULL;
	p11e_rc rc;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* A certificate: public, read as the CA reads it. */
	if ((rc = p11e_read_file(path, CA_PEM_MAX, &pem, &len, err)) != P11E_OK)
		goto out;
	if ((cert = p11e_x509_from_pem(pem)) == NULL) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "local CA in %s: ca.pem is not a certificate",
				   dir);
		goto out;
	}
	rc = p11e_ca_local_id(cert, id, err);
out:
	X509_free(cert);
	free(pem);
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
	    (rc = raise_crlnumber(to, out->dir, out->id, err)) == P11E_OK)
		rc = ca_rc;
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
