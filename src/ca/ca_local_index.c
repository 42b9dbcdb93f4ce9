/* The embedded CA's index.jsonl: one JSON line per certificate issued, for
 * audits and revocation lists; the CA itself never needs to read it back
 * except to repair a line lost to a crash. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include "p11enroll/ca.h"
#include "p11enroll/clock.h"
#include "p11enroll/pem.h"
#include "p11enroll/util.h"
#include "ca/ca_local.h"

#define INDEX_MAX (256 * 1024 * 1024)

p11e_rc p11e_ca_local_index_has(const p11e_ca_local *ca, const char *request_key, int *found,
				p11e_err *err)
{
	char *path = p11e_path_join(ca->dir, "index.jsonl");
	char *data = NULL, *line, *save = NULL;
	size_t len = 0;
	p11e_rc rc;

	*found = 0;
	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_read_private(path, INDEX_MAX, &data, &len, err);
	if (rc == P11E_NOT_FOUND) {
		rc = P11E_OK;
		goto out;
	}
	for (line = rc == P11E_OK ? strtok_r(data, "\n", &save) : NULL; line != NULL && !*found;
	     line = strtok_r(NULL, "\n", &save)) {
		struct json_object *o = json_tokener_parse(line), *k = NULL;

		if (o != NULL && json_object_object_get_ex(o, "request_key", &k) &&
		    json_object_is_type(k, json_type_string) &&
		    strcmp(json_object_get_string(k), request_key) == 0)
			*found = 1;
		json_object_put(o);
	}
out:
	free(data);
	free(path);
	return rc;
}

/* One JSON line, appended and synced: the log of every certificate issued. */
p11e_rc p11e_ca_local_index_append(const p11e_ca_local *ca, X509 *cert, const p11e_profile *profile,
				   const char *request_key, time_t issued_at, int in_store,
				   p11e_err *err)
{
	struct json_object *o = json_object_new_object();
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	BIO *bio = BIO_new(BIO_s_mem());
	char *serial = NULL, *subject = NULL;
	char not_after[32], fp[65], at[32];
	p11e_rc rc = P11E_FAIL;

	if (o == NULL || bn == NULL || bio == NULL || (serial = BN_bn2hex(bn)) == NULL ||
	    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
			       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0 ||
	    BIO_write(bio, "", 1) != 1 || BIO_get_mem_data(bio, &subject) <= 0 ||
	    p11e_asn1_time_iso(X509_get0_notAfter(cert), not_after, sizeof(not_after)) != 0 ||
	    p11e_x509_sha256_hex(cert, fp) != 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL,
				   "local CA in %s: cannot describe the certificate", ca->dir);
		goto out;
	}
	for (char *c = serial; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	p11e_iso_format(issued_at, at);
	json_object_object_add(o, "serial", json_object_new_string(serial));
	json_object_object_add(o, "subject", json_object_new_string(subject));
	json_object_object_add(o, "not_after", json_object_new_string(not_after));
	json_object_object_add(o, "request_key", json_object_new_string(request_key));
	json_object_object_add(o, "sha256", json_object_new_string(fp));
	json_object_object_add(o, "profile", json_object_new_string(profile->name));
	json_object_object_add(o, "issued_at", json_object_new_string(at));
	/* The store's document first: it is the index every station reads;
	 * index.jsonl is this directory's log of it. */
	if (!in_store || (rc = p11e_ca_local_cert_put(ca, o, err)) == P11E_OK)
		rc = in_store == P11E_CA_INDEX_STORE_ONLY ? P11E_OK
							  : p11e_ca_local_index_write(ca, o, err);
out:
	OPENSSL_free(serial);
	BIO_free(bio);
	BN_free(bn);
	json_object_put(o);
	return rc;
}
