/* Revocation by the embedded CA and its certificate revocation lists.
 *
 * A revocation marks the certificate's document in the store's index
 * (ca_local_store.c), then is one more line in DIR/index.jsonl, under the
 * store's lock "ca", so every station's CRL lists it. A CRL is built from
 * the store's index and DIR/index.jsonl (which holds what was issued before
 * the index went into the store) on demand, numbered by the store's counter
 * ca-crl/CAID (RFC 5280 5.2.3: monotonically increasing, across stations),
 * which starts above an older DIR/crlnumber. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include "p11enroll/ca.h"
#include "p11enroll/clock.h"
#include "p11enroll/util.h"
#include "ca/ca_local.h"

#define INDEX_MAX (256 * 1024 * 1024)
#define CRLNUMBER_MAX 64

void p11e_ca_local_index_clear(p11e_ca_local_index *ix)
{
	free(ix->issued);
	free(ix->revoked);
	memset(ix, 0, sizeof(*ix));
}

static const char *string_field(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int p11e_ca_local_index_push_issued(p11e_ca_local_index *ix, const char *serial)
{
	char(*grown)[65] = realloc(ix->issued, (ix->n_issued + 1) * sizeof(*grown));

	if (grown == NULL)
		return -1;
	ix->issued = grown;
	snprintf(ix->issued[ix->n_issued++], 65, "%s", serial);
	return 0;
}

int p11e_ca_local_index_push_revoked(p11e_ca_local_index *ix, const p11e_ca_local_revocation *r)
{
	p11e_ca_local_revocation *grown;

	/* One entry a serial: the first revocation's, except that a hold gives
	 * way to a final revocation (RFC 5280 5.3.1, certificateHold). */
	for (size_t i = 0; i < ix->n_revoked; i++) {
		if (strcmp(ix->revoked[i].serial, r->serial) != 0)
			continue;
		if (ix->revoked[i].reason == P11E_REASON_CERTIFICATE_HOLD &&
		    r->reason != P11E_REASON_CERTIFICATE_HOLD)
			ix->revoked[i] = *r;
		return 0;
	}
	grown = realloc(ix->revoked, (ix->n_revoked + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	ix->revoked = grown;
	ix->revoked[ix->n_revoked++] = *r;
	return 0;
}

/* One line of the index; *bad set when it is neither kind of line. */
static p11e_rc parse_line(const char *line, size_t len, p11e_ca_local_index *ix, int *bad,
			  p11e_err *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	const char *serial, *reason;
	char canon[65];
	p11e_err ignored;
	p11e_rc rc = P11E_OK;

	*bad = 1;
	if (tok == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len || !json_object_is_type(o, json_type_object))
		goto out;
	if ((serial = string_field(o, "revoked")) != NULL) {
		p11e_ca_local_revocation r;

		memset(&r, 0, sizeof(r));
		reason = string_field(o, "reason");
		r.reason = p11e_revoke_reason_parse(reason);
		r.at = p11e_iso_parse(string_field(o, "revoked_at"));
		if (r.reason < 0 || r.at < 0 ||
		    p11e_serial_canonical("revoked", serial, r.serial, sizeof(r.serial),
					  &ignored) != P11E_OK)
			goto out;
		if (p11e_ca_local_index_push_revoked(ix, &r) != 0)
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
	} else if ((serial = string_field(o, "unhold")) != NULL) {
		/* A hold lifted (p11e_ca_local_unhold): the serial is valid again. */
		if (p11e_serial_canonical("unhold", serial, canon, sizeof(canon), &ignored) !=
		    P11E_OK)
			goto out;
		for (size_t i = 0; i < ix->n_revoked; i++)
			if (strcmp(ix->revoked[i].serial, canon) == 0 &&
			    ix->revoked[i].reason == P11E_REASON_CERTIFICATE_HOLD) {
				ix->revoked[i] = ix->revoked[--ix->n_revoked];
				break;
			}
	} else if ((serial = string_field(o, "serial")) != NULL) {
		if (p11e_serial_canonical("serial", serial, canon, sizeof(canon), &ignored) !=
		    P11E_OK)
			goto out;
		if (p11e_ca_local_index_push_issued(ix, canon) != 0)
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
	} else
		goto out;
	*bad = 0;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

p11e_rc p11e_ca_local_index_parse(const char *text, size_t len, p11e_ca_local_index *out,
				  p11e_err *err)
{
	size_t start = 0, number = 0;
	p11e_rc rc = P11E_OK;

	memset(out, 0, sizeof(*out));
	while (start < len && rc == P11E_OK) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		int bad = 0;

		number++;
		if (end > start)
			rc = parse_line(text + start, end - start, out, &bad, err);
		if (rc == P11E_OK && bad && nl == NULL)
			out->torn_tail = 1; /* a crash cut the last append: it never happened */
		else if (rc == P11E_OK && bad)
			rc = p11e_errf(err, P11E_FAIL,
				       "index.jsonl line %zu is not an issued or revocation line; "
				       "restore the CA directory from backup",
				       number);
		start = end + 1;
	}
	if (rc == P11E_OK && len > 0 && text[len - 1] != '\n')
		out->torn_tail = 1;
	if (rc != P11E_OK)
		p11e_ca_local_index_clear(out);
	return rc;
}

static p11e_rc read_index(const p11e_ca_local *ca, p11e_ca_local_index *ix, p11e_err *err)
{
	char *path = p11e_path_join(ca->dir, "index.jsonl");
	char *data = NULL;
	size_t len = 0;
	p11e_rc rc;

	memset(ix, 0, sizeof(*ix));
	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_read_private(path, INDEX_MAX, &data, &len, err);
	if (rc == P11E_NOT_FOUND)
		rc = P11E_OK; /* nothing issued yet */
	else if (rc == P11E_OK && (rc = p11e_ca_local_index_parse(data, len, ix, err)) != P11E_OK) {
		char why[P11E_ERR_MAX];

		snprintf(why, sizeof(why), "%s", err->msg);
		rc = p11e_errf(err, rc, "local CA in %s: %s", ca->dir, why);
	}
	if (rc == P11E_OK)
		rc = p11e_ca_local_store_index(ca, ix, err);
	if (rc != P11E_OK)
		p11e_ca_local_index_clear(ix);
	free(data);
	free(path);
	return rc;
}

/* The length of fd's content up to and including its last newline: what
 * is left once a torn last line (a crash inside an append) is cut off. */
static int whole_lines_end(int fd, off_t size, off_t *end)
{
	char buf[4096];
	off_t pos = size;

	while (pos > 0) {
		size_t n = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
		ssize_t got = pread(fd, buf, n, pos - (off_t)n);

		if (got != (ssize_t)n)
			return -1;
		for (size_t i = n; i > 0; i--)
			if (buf[i - 1] == '\n') {
				*end = pos - (off_t)n + (off_t)i;
				return 0;
			}
		pos -= (off_t)n;
	}
	*end = 0;
	return 0;
}

p11e_rc p11e_ca_local_index_write(const p11e_ca_local *ca, struct json_object *o, p11e_err *err)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = text != NULL ? strlen(text) : 0;
	char *path = p11e_path_join(ca->dir, "index.jsonl"), *line = NULL;
	off_t size, end = 0;
	int fd = -1;
	p11e_rc rc;

	if (path == NULL || len == 0 || (line = malloc(len + 1)) == NULL) {
		free(path);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	memcpy(line, text, len);
	line[len++] = '\n'; /* one write a line: the newline goes with it */
	/* O_APPEND with one write per line: lines never interleave, and the
	 * caller holds the CA's lock anyway. Never through a planted symlink. */
	if ((rc = p11e_open_private(path, O_RDWR | O_APPEND | O_CREAT, 0600, &fd, err)) != P11E_OK)
		goto out;
	/* A torn last line never happened (its writer did not report success):
	 * cut it off, or the new line would be glued to it. No fsync: every
	 * line is a copy of a store document written durably just before it
	 * (ca_local_store.c), which is what the CA reads back: a power cut may
	 * cost this log a line, never the CA an entry. */
	if ((size = lseek(fd, 0, SEEK_END)) < 0 || whole_lines_end(fd, size, &end) != 0 ||
	    (end < size && ftruncate(fd, end) != 0) || p11e_write_all(fd, line, len) != 0)
		rc = p11e_errf(err, P11E_FAIL, "local CA in %s: cannot append to index.jsonl: %s",
			       ca->dir, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(path);
	return rc;
}

static p11e_rc append_revocation(const p11e_ca_local *ca, const char *serial, int reason,
				 time_t when, p11e_err *err)
{
	struct json_object *o = json_object_new_object();
	char at[21];
	p11e_rc rc;

	if (o == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	p11e_iso_format(when, at);
	json_object_object_add(o, "revoked", json_object_new_string(serial));
	json_object_object_add(o, "reason",
			       json_object_new_string(p11e_revoke_reason_name(reason)));
	json_object_object_add(o, "revoked_at", json_object_new_string(at));
	rc = p11e_ca_local_index_write(ca, o, err);
	json_object_put(o);
	return rc;
}

p11e_rc p11e_ca_local_revoke(void *state, const char *serial, X509 *cert, int reason, int *already,
			     p11e_err *err)
{
	const p11e_ca_local *ca = state;
	p11e_ca_local_index ix;
	p11e_lock lock = P11E_LOCK_INIT;
	time_t now = time(NULL);
	int issued = 0;
	p11e_rc rc;

	(void)cert; /* the serial is all the index needs */
	*already = 0;
	memset(&ix, 0, sizeof(ix));
	if (p11e_revoke_reason_name(reason) == NULL)
		return p11e_errf(err, P11E_USAGE, "reason: %d is not an RFC 5280 reason", reason);
	if ((rc = p11e_ca_local_lock(ca, &lock, err)) != P11E_OK ||
	    (rc = read_index(ca, &ix, err)) != P11E_OK)
		goto out;
	/* Revoked already, unless a hold gives way to a final revocation. */
	for (size_t i = 0; i < ix.n_revoked && !*already; i++)
		*already = strcmp(ix.revoked[i].serial, serial) == 0 &&
			   (ix.revoked[i].reason != P11E_REASON_CERTIFICATE_HOLD ||
			    reason == P11E_REASON_CERTIFICATE_HOLD);
	for (size_t i = 0; i < ix.n_issued && !issued; i++)
		issued = strcmp(ix.issued[i], serial) == 0;
	if (!issued)
		rc = p11e_errf(err, P11E_NOT_FOUND,
			       "serial: %s was not issued by the local CA in %s (see its "
			       "index.jsonl)",
			       serial, ca->dir);
	else if (!*already &&
		 (rc = p11e_ca_local_cert_revoke(ca, serial, reason, now, already, err)) ==
		     P11E_OK)
		rc = append_revocation(ca, serial, reason, now, err);
out:
	p11e_lock_release(&lock);
	p11e_ca_local_index_clear(&ix);
	return rc;
}

p11e_rc p11e_ca_local_unhold(void *state, const char *serial, int *lifted, p11e_err *err)
{
	const p11e_ca_local *ca = state;
	p11e_ca_local_index ix;
	p11e_lock lock = P11E_LOCK_INIT;
	struct json_object *o = NULL;
	int reason = -1;
	char at[21];
	p11e_rc rc;

	*lifted = 0;
	memset(&ix, 0, sizeof(ix));
	if ((rc = p11e_ca_local_lock(ca, &lock, err)) != P11E_OK ||
	    (rc = read_index(ca, &ix, err)) != P11E_OK)
		goto out;
	for (size_t i = 0; i < ix.n_revoked && reason < 0; i++)
		if (strcmp(ix.revoked[i].serial, serial) == 0)
			reason = ix.revoked[i].reason;
	if (reason < 0)
		goto out; /* not on hold (lifted before: a rerun) */
	if (reason != P11E_REASON_CERTIFICATE_HOLD) {
		rc = p11e_errf(err, P11E_USAGE,
			       "serial: %s is revoked (%s), not on hold: that cannot be undone",
			       serial, p11e_revoke_reason_name(reason));
		goto out;
	}
	/* The store's entry first, then the line: a crash between leaves the
	 * line's hold in force, and the rerun lifts it again. */
	if ((rc = p11e_ca_local_cert_unhold(ca, serial, err)) != P11E_OK)
		goto out;
	if ((o = json_object_new_object()) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	p11e_iso_format(time(NULL), at);
	json_object_object_add(o, "unhold", json_object_new_string(serial));
	json_object_object_add(o, "at", json_object_new_string(at));
	if ((rc = p11e_ca_local_index_write(ca, o, err)) == P11E_OK)
		*lifted = 1;
out:
	json_object_put(o);
	p11e_lock_release(&lock);
	p11e_ca_local_index_clear(&ix);
	return rc;
}

/* The store's next CRL number, above DIR/crlnumber (decimal; absent: 0),
 * where p11enroll kept it before the store: taken (durably) before the CRL
 * leaves, so a crash skips a number, never reuses one. */
static p11e_rc next_crl_number(const p11e_ca_local *ca, unsigned long long *out, p11e_err *err)
{
	char *path = p11e_path_join(ca->dir, "crlnumber");
	char *data = NULL, *end = NULL;
	size_t len = 0;
	unsigned long long n = 0;
	p11e_rc rc;

	if (path == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_read_private(path, CRLNUMBER_MAX, &data, &len, err);
	if (rc == P11E_OK) {
		errno = 0;
		n = strtoull(data, &end, 10);
		if (len == 0 || data[0] < '0' || data[0] > '9' || errno != 0 ||
		    (*end != '\0' && *end != '\n') || n >= (1ULL << 62))
			rc = p11e_errf(err, P11E_FAIL,
				       "local CA in %s: crlnumber is not a number; set it above "
				       "the last CRL's number",
				       ca->dir);
	} else if (rc == P11E_NOT_FOUND)
		rc = P11E_OK;
	if (rc == P11E_OK)
		rc = p11e_ca_local_crl_number(ca, n + 1, out, err);
	free(data);
	free(path);
	return rc;
}

static X509_REVOKED *revoked_entry(const p11e_ca_local_revocation *r)
{
	X509_REVOKED *e = X509_REVOKED_new();
	ASN1_INTEGER *serial = NULL;
	ASN1_ENUMERATED *reason = NULL;
	ASN1_TIME *at = ASN1_TIME_set(NULL, r->at);
	BIGNUM *bn = NULL;
	int ok = e != NULL && at != NULL && BN_hex2bn(&bn, r->serial) != 0 &&
		 (serial = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
		 X509_REVOKED_set_serialNumber(e, serial) == 1 &&
		 X509_REVOKED_set_revocationDate(e, at) == 1;

	/* RFC 5280 5.3.1: leave the reason out rather than say unspecified. */
	if (ok && r->reason != P11E_REASON_UNSPECIFIED)
		ok = (reason = ASN1_ENUMERATED_new()) != NULL &&
		     ASN1_ENUMERATED_set(reason, r->reason) == 1 &&
		     X509_REVOKED_add1_ext_i2d(e, NID_crl_reason, reason, 0, 0) == 1;
	ASN1_ENUMERATED_free(reason);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(at);
	BN_free(bn);
	if (!ok) {
		X509_REVOKED_free(e);
		return NULL;
	}
	return e;
}

static int add_crl_extensions(X509_CRL *crl, X509 *issuer, unsigned long long number)
{
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	int ok;

	X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
	ok = num != NULL && ASN1_INTEGER_set_uint64(num, number) == 1 &&
	     X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) == 1 &&
	     (aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
					"keyid:always")) != NULL &&
	     X509_CRL_add_ext(crl, aki, -1) == 1;
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	return ok;
}

p11e_rc p11e_ca_local_crl(void *state, int days, X509_CRL **out, p11e_err *err)
{
	const p11e_ca_local *ca = state;
	p11e_ca_local_index ix;
	X509_CRL *crl = NULL;
	ASN1_TIME *last = NULL, *next = NULL;
	unsigned long long number = 0;
	time_t now = time(NULL);
	p11e_lock lock = P11E_LOCK_INIT;
	p11e_rc rc;

	*out = NULL;
	memset(&ix, 0, sizeof(ix));
	if (days < 1 || days > 3650)
		return p11e_errf(err, P11E_USAGE, "days: a CRL is valid for 1 to 3650 days");
	if ((rc = p11e_ca_local_lock(ca, &lock, err)) != P11E_OK ||
	    (rc = read_index(ca, &ix, err)) != P11E_OK ||
	    (rc = next_crl_number(ca, &number, err)) != P11E_OK)
		goto out;
	rc = P11E_FAIL;
	if ((crl = X509_CRL_new()) == NULL || X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) != 1 ||
	    (last = ASN1_TIME_set(NULL, now)) == NULL ||
	    (next = ASN1_TIME_adj(NULL, now, days, 0)) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, last) != 1 || X509_CRL_set1_nextUpdate(crl, next) != 1)
		goto ssl_fail;
	for (size_t i = 0; i < ix.n_revoked; i++) {
		X509_REVOKED *e;
		int seen = 0;

		/* One entry a serial, the first revocation's, whatever the log says. */
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(ix.revoked[j].serial, ix.revoked[i].serial) == 0;
		if (seen)
			continue;
		e = revoked_entry(&ix.revoked[i]);

		if (e == NULL || X509_CRL_add0_revoked(crl, e) != 1) {
			X509_REVOKED_free(e);
			goto ssl_fail;
		}
	}
	/* Ed25519 hashes internally: no digest for it. */
	if (X509_CRL_sort(crl) != 1 || !add_crl_extensions(crl, ca->cert, number) ||
	    X509_CRL_sign(crl, ca->key,
			  EVP_PKEY_get_base_id(ca->key) == EVP_PKEY_ED25519 ? NULL
									    : EVP_sha256()) <= 0)
		goto ssl_fail;
	*out = crl;
	crl = NULL;
	rc = P11E_OK;
	goto out;
ssl_fail:
	rc = p11e_errf_ssl(err, P11E_FAIL, "local CA in %s: cannot build the CRL", ca->dir);
out:
	p11e_lock_release(&lock);
	X509_CRL_free(crl);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	p11e_ca_local_index_clear(&ix);
	return rc;
}
