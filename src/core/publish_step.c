/* Publishing an identity's certificate (include/p11enroll/publish.h): the
 * library side of `p11enroll publish` and of the pipeline's publish step.
 * The record says which publishers are still to do, and is saved after each
 * one, so a run cut short (a directory down, a crash) is finished by a rerun
 * that does only what is left; the publishers themselves treat a value that
 * is already there as success, so doing one twice is harmless. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/audit.h"
#include "p11enroll/lock.h"
#include "p11enroll/pem.h"
#include "p11enroll/pipeline.h"
#include "p11enroll/publish.h"

/* list with name added (if absent) or removed: a new malloc'd string. */
static char *list_with(const char *list, const char *name, int add)
{
	size_t cap = (list ? strlen(list) : 0) + strlen(name) + 2, o = 0;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	out[0] = '\0';
	for (const char *s = list; s != NULL && *s != '\0';) {
		size_t w = strcspn(s, " ");
		if (!(w == strlen(name) && strncmp(s, name, w) == 0)) {
			o += (size_t)snprintf(out + o, cap - o, "%s%.*s", o ? " " : "", (int)w, s);
		}
		s += w;
		s += *s == ' ';
	}
	if (add)
		snprintf(out + o, cap - o, "%s%s", o ? " " : "", name);
	return out;
}

/* One publisher, one certificate, one audit line. The audit line is written
 * after the change; if it cannot be, the failure is returned so the caller
 * leaves the name pending and a rerun (idempotent) audits it. */
static p11e_rc publish_one(const p11e_config *cfg, const char *name, const char *identity,
			   X509 *cert, const char *sha256, int remove, int *already, p11e_err *err)
{
	p11e_publisher *pub = NULL;
	p11e_err audit_err = {0};
	p11e_rc rc;

	*already = 0;
	rc = p11e_publisher_open(cfg, name, &pub, err);
	if (rc == P11E_OK)
		rc = remove ? p11e_publisher_unpublish(pub, identity, cert, already, err)
			    : p11e_publisher_publish(pub, identity, cert, already, err);
	p11e_publisher_close(pub);
	const char *const extra[] = {"publisher",
				     name,
				     "sha256",
				     sha256,
				     "result",
				     rc != P11E_OK ? NULL
				     : *already	   ? (remove ? "already-absent" : "already-present")
						   : (remove ? "removed" : "added"),
				     NULL};
	if (p11e_audit_write(cfg, remove ? "unpublish" : "publish", identity, extra, rc, err,
			     &audit_err) != P11E_OK &&
	    rc == P11E_OK) {
		*err = audit_err;
		rc = audit_err.rc;
	}
	return rc;
}

/* The next name of a space-separated list at *s into name (cap bytes). */
static int next_name(const char **s, char *name, size_t cap)
{
	size_t w;

	while (**s == ' ')
		(*s)++;
	if (**s == '\0')
		return 0;
	w = strcspn(*s, " ");
	snprintf(name, cap, "%.*s", (int)w, *s);
	*s += w;
	return 1;
}

p11e_rc p11e_publish_cert(const p11e_config *cfg, const char *names, const char *identity,
			  X509 *cert, int remove, p11e_publish_result *out, p11e_err *err)
{
	char sha[65] = "", name[128];
	const char *s = names;
	p11e_rc rc = P11E_OK;

	memset(out, 0, sizeof(*out));
	if (p11e_x509_sha256_hex(cert, sha) != 0)
		return p11e_errf(err, P11E_FAIL, "publish: cannot hash the certificate");
	while (rc == P11E_OK && next_name(&s, name, sizeof(name))) {
		int already = 0;
		rc = publish_one(cfg, name, identity, cert, sha, remove, &already, err);
		if (rc == P11E_OK) {
			out->done++;
			out->already += already != 0;
		}
	}
	for (; rc != P11E_OK && next_name(&s, name, sizeof(name));)
		out->pending++;
	return rc;
}

/* Sets publish_pending, published and publish_sha256 for a certificate
 * whose publishing has not started: every target pending. */
static p11e_rc start_over(const p11e_config *cfg, p11e_record *rec, const char *sha, p11e_err *err)
{
	char *targets = NULL;
	p11e_rc rc = p11e_publish_targets(cfg, rec->profile, &targets, err);

	if (rc == P11E_OK &&
	    (rc = p11e_record_set(&rec->publish_pending, targets, err)) == P11E_OK &&
	    (rc = p11e_record_set(&rec->published, NULL, err)) == P11E_OK &&
	    (rc = p11e_record_set(&rec->publish_sha256, sha, err)) == P11E_OK)
		rc = p11e_record_save(cfg->store, rec, err);
	free(targets);
	return rc;
}

/* Moves name from one list to the other (from may be NULL) and saves. */
static p11e_rc move_name(const p11e_config *cfg, p11e_record *rec, const char *name, char **from,
			 char **to, p11e_err *err)
{
	char *f = from ? list_with(*from, name, 0) : NULL;
	char *t = to ? list_with(*to, name, 1) : NULL;
	p11e_rc rc = P11E_OK;

	if ((from && f == NULL) || (to && t == NULL))
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
	if (rc == P11E_OK && from)
		rc = p11e_record_set(from, f, err);
	if (rc == P11E_OK && to)
		rc = p11e_record_set(to, t, err);
	if (rc == P11E_OK)
		rc = p11e_record_save(cfg->store, rec, err);
	free(f);
	free(t);
	return rc;
}

static p11e_rc run_locked(const p11e_config *cfg, const p11e_publish_params *p, p11e_record *rec,
			  X509 *cert, const char *sha, p11e_publish_result *out, p11e_err *err)
{
	char *work = NULL, name[128];
	const char *s;
	p11e_rc rc = P11E_OK;

	if (rec->publish_sha256 == NULL || strcmp(rec->publish_sha256, sha) != 0) {
		if ((rc = start_over(cfg, rec, sha, err)) != P11E_OK)
			return rc;
	}
	/* What this run does: removal from everything it may be on; else the
	 * pending ones, and with retry those done too. */
	if (p->remove || p->retry) {
		size_t n = (rec->publish_pending ? strlen(rec->publish_pending) : 0) +
			   (rec->published ? strlen(rec->published) : 0) + 2;
		if ((work = malloc(n)) != NULL)
			snprintf(work, n, "%s %s", rec->published ? rec->published : "",
				 rec->publish_pending ? rec->publish_pending : "");
	} else {
		work = strdup(rec->publish_pending ? rec->publish_pending : "");
	}
	if (work == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	/* A removal again (both lists emptied by the first): the profile's
	 * targets, so it is checked, and stays idempotent. */
	if (p->remove && strspn(work, " ") == strlen(work)) {
		free(work);
		if ((rc = p11e_publish_targets(cfg, rec->profile, &work, err)) != P11E_OK)
			return rc;
	}
	s = work;
	while (rc == P11E_OK && next_name(&s, name, sizeof(name))) {
		int already = 0;
		rc = publish_one(cfg, name, rec->identity, cert, sha, p->remove, &already, err);
		if (rc != P11E_OK)
			break;
		out->done++;
		out->already += already != 0;
		/* Removed: neither done nor pending any more, so a later
		 * `publish` does not put a revoked certificate back. */
		if (p->remove)
			rc = move_name(cfg, rec, name, &rec->published, NULL, err);
		if (rc == P11E_OK && p->remove)
			rc = move_name(cfg, rec, name, &rec->publish_pending, NULL, err);
		else if (rc == P11E_OK)
			rc = move_name(cfg, rec, name, &rec->publish_pending, &rec->published, err);
	}
	if (rc != P11E_OK)
		for (out->pending = 1; next_name(&s, name, sizeof(name));)
			out->pending++;
	free(work);
	return rc;
}

p11e_rc p11e_publish_withdraw_history(const p11e_config *cfg, p11e_record *rec, size_t *done,
				      p11e_err *err)
{
	p11e_rc rc = P11E_OK;

	*done = 0;
	for (size_t i = 0; rc == P11E_OK && i < rec->n_history; i++) {
		p11e_generation *g = &rec->history[i];
		p11e_publish_result res;
		X509 *cert;
		if (g->unpublish_pending == NULL)
			continue;
		if ((cert = p11e_x509_from_pem(g->cert_pem)) == NULL)
			return p11e_errf(err, P11E_FAIL,
					 "identity %s: generation %d's certificate is unreadable",
					 rec->identity, g->number);
		/* All of them again after a failure: a value already gone is
		 * success, so a repeat is harmless. */
		rc =
		    p11e_publish_cert(cfg, g->unpublish_pending, rec->identity, cert, 1, &res, err);
		X509_free(cert);
		if (rc == P11E_OK)
			*done += res.done;
		if (rc == P11E_OK &&
		    (rc = p11e_record_set(&g->unpublish_pending, NULL, err)) == P11E_OK)
			rc = p11e_record_set(&g->published, NULL, err);
		if (rc == P11E_OK)
			rc = p11e_record_save(cfg->store, rec, err);
	}
	return rc;
}

p11e_rc p11e_publish_record(const p11e_config *cfg, p11e_record *rec, int retry, int remove,
			    p11e_publish_result *out, p11e_err *err)
{
	p11e_publish_params p = {.identity = rec->identity, .retry = retry, .remove = remove};
	X509 *cert = NULL;
	char sha[65];
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	/* Earlier generations leave first, so a directory never offers a
	 * retired signing certificate beside its successor for long. */
	size_t withdrawn = 0;
	rc = p11e_publish_withdraw_history(cfg, rec, &withdrawn, err);
	if (rc != P11E_OK)
		return rc;
	if (rec->step < P11E_STEP_ISSUED || rec->cert_pem == NULL)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "identity %s has no certificate yet (step %s): enroll it first",
				 rec->identity, p11e_step_name(rec->step));
	if ((cert = p11e_x509_from_pem(rec->cert_pem)) == NULL ||
	    p11e_x509_sha256_hex(cert, sha) != 0)
		rc =
		    p11e_errf(err, P11E_FAIL, "identity %s: its record's certificate is unreadable",
			      rec->identity);
	else
		rc = run_locked(cfg, &p, rec, cert, sha, out, err);
	X509_free(cert);
	return rc;
}

p11e_rc p11e_publish_identity(const p11e_config *cfg, const p11e_publish_params *p,
			      p11e_publish_result *out, p11e_err *err)
{
	p11e_held h;
	p11e_rc rc = p11e_held_acquire(cfg, p->identity, p->wait_ms, &h, err);

	memset(out, 0, sizeof(*out));
	if (rc == P11E_OK)
		rc = p11e_publish_record(cfg, &h.rec, p->retry, p->remove, out, err);
	p11e_held_release(&h);
	return rc;
}
