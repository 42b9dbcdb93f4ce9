/* The JSON API (docs/portal.md): /api/v1/me, a certificate as PEM or P7B,
 * a software identity's PFX, the password reveal, a new software identity
 * and the sign-in with a code and sign-out. Errors are {"error": MESSAGE}.
 * Every POST and DELETE of a signed-in user needs the X-CSRF-Token that GET
 * /api/v1/me gives, also with a client certificate (a browser sends that on
 * its own); a JSON body is read only as application/json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include "p11enroll/pipeline.h"
#include "p11enroll/record.h"
#include "p11enroll/software.h"
#include "p11enroll/renew.h"
#include "p11enroll/sbuf.h"
#include "p11enroll/util.h"
#include "portal_int.h"

static json_object *identity_json(const portal_req *r, const p11e_record *rec)
{
	json_object *o = json_object_new_object();
	int software = rec->key_store != NULL && strcmp(rec->key_store, "software") == 0;

	json_object_object_add(o, "identity", json_object_new_string(rec->identity));
	json_object_object_add(o, "kind", json_object_new_string(software ? "software" : "token"));
	json_object_object_add(o, "step", json_object_new_string(p11e_step_name(rec->step)));
	json_object_object_add(o, "not_after",
			       rec->not_after ? json_object_new_string(rec->not_after) : NULL);
	json_object_object_add(o, "renewal_due",
			       json_object_new_boolean(portal_renewal_due(r, rec)));
	json_object_object_add(o, "revoked_at",
			       rec->revoked_at ? json_object_new_string(rec->revoked_at) : NULL);
	return o;
}

static void api_me(portal_req *r)
{
	json_object *doc, *list;
	p11e_record rec;
	p11e_err err;

	if (r->user[0] == '\0') {
		portal_own_record(r, "", &rec); /* answers 401 */
		return;
	}
	doc = json_object_new_object();
	list = json_object_new_array();
	json_object_object_add(doc, "user", json_object_new_string(r->user));
	json_object_object_add(doc, "csrf", json_object_new_string(r->csrf));
	if (p11e_record_load(r->p->cfg->store, r->user, &rec, &err) == P11E_OK) {
		if (rec.retired == NULL)
			json_object_array_add(list, identity_json(r, &rec));
		p11e_record_clear(&rec);
	}
	json_object_object_add(doc, "identities", list);
	portal_send_json(r, 200, doc);
	json_object_put(doc);
}

/* The certificate and its chain as a certs-only PKCS#7 (DER). */
static unsigned char *p7b_of(const p11e_record *rec, int *len)
{
	PKCS7 *p7 = PKCS7_new();
	BIO *bio = BIO_new(BIO_s_mem());
	unsigned char *der = NULL;
	X509 *cert;

	*len = 0;
	if (p7 == NULL || bio == NULL || PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
	    PKCS7_content_new(p7, NID_pkcs7_data) != 1)
		goto out;
	BIO_puts(bio, rec->cert_pem);
	if (rec->chain_pem != NULL)
		BIO_puts(bio, rec->chain_pem);
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		int ok = PKCS7_add_certificate(p7, cert);

		X509_free(cert);
		if (ok != 1)
			goto out;
	}
	*len = i2d_PKCS7(p7, &der);
out:
	ERR_clear_error();
	BIO_free(bio);
	PKCS7_free(p7);
	return *len > 0 ? der : NULL;
}

static void api_certificate(portal_req *r, const char *id, const char *query)
{
	char format[8] = "pem", disp[P11E_PORTAL_ID_MAX + 64];
	int found =
	    query ? p11e_portal_form_value(query, strlen(query), "format", format, sizeof(format))
		  : 0;
	unsigned char *der = NULL;
	p11e_record rec;
	p11e_err err, aerr;
	p11e_rc arc;
	int len = 0;

	if (found < 0 || (strcmp(format, "pem") != 0 && strcmp(format, "p7b") != 0)) {
		portal_send_error(r, 400, "format: pem or p7b");
		return;
	}
	if (portal_own_record(r, id, &rec) != 0)
		return;
	if (rec.cert_pem == NULL) {
		portal_send_error(r, 404, "no certificate yet: your request is still in progress");
		goto out;
	}
	if (strcmp(format, "p7b") == 0 && (der = p7b_of(&rec, &len)) == NULL) {
		portal_send_error(r, 500, "the certificate cannot be packed as PKCS#7");
		goto out;
	}
	portal_audit(r, strcmp(format, "p7b") == 0 ? "portal-download-p7b" : "portal-download-pem",
		     rec.identity, P11E_OK, NULL, &arc, &aerr);
	if (arc != P11E_OK) {
		portal_send_error(r, 500, "the audit log cannot be written; nothing is sent");
		goto out;
	}
	snprintf(disp, sizeof(disp), "attachment; filename=\"certificate.%s\"", format);
	if (der != NULL) {
		portal_send(r, 200, "application/pkcs7-mime", der, (size_t)len,
			    "Content-Disposition", disp);
	} else {
		p11e_sbuf b = {0};

		p11e_sbuf_str(&b, rec.cert_pem);
		if (rec.chain_pem != NULL)
			p11e_sbuf_str(&b, rec.chain_pem);
		if (b.failed)
			portal_send_error(r, 500, "out of memory");
		else
			portal_send(r, 200, "application/pem-certificate-chain", b.p, b.len,
				    "Content-Disposition", disp);
		p11e_sbuf_free(&b);
	}
out:
	(void)err;
	OPENSSL_free(der);
	p11e_record_clear(&rec);
}

static int is_software(const p11e_record *rec)
{
	return rec->key_store != NULL &&
	       (strcmp(rec->key_store, "software") == 0 || strcmp(rec->key_store, "archived") == 0);
}

static void api_pfx(portal_req *r, const char *id)
{
	p11e_record rec;
	p11e_err err, aerr;
	p11e_rc rc, arc;
	char *data = NULL;
	size_t len = 0;

	if (portal_own_record(r, id, &rec) != 0)
		return;
	if (!is_software(&rec) || rec.pfx_path == NULL || rec.step < P11E_STEP_STORED) {
		portal_send_error(r, 404,
				  is_software(&rec) ? "no PFX yet: your request is still "
						      "in progress"
						    : "your key is on your card: there is "
						      "no PFX to download");
		goto out;
	}
	rc = p11e_soft_pfx_read(r->p->cfg->store, rec.pfx_path, &data, &len, &err);
	portal_audit(r, "portal-download-pfx", rec.identity, rc, &err, &arc, &aerr);
	if (rc != P11E_OK || arc != P11E_OK) {
		if (rc != P11E_OK)
			fprintf(stderr, "p11enroll serve: %s\n", err.msg);
		portal_send_error(r, 500, "the PFX cannot be sent now; ask your administrator");
		goto out;
	}
	portal_send(r, 200, "application/x-pkcs12", data, len, "Content-Disposition",
		    "attachment; filename=\"identity.p12\"");
out:
	free(data);
	p11e_record_clear(&rec);
}

static int csrf_checked(portal_req *r)
{
	if (r->user[0] != '\0' && !portal_csrf_ok(r, portal_header(r, "X-CSRF-Token"))) {
		portal_send_error(r, 403,
				  "bad or missing X-CSRF-Token: take \"csrf\" from GET "
				  "/api/v1/me");
		return 0;
	}
	return 1;
}

static void api_password(portal_req *r, const char *id)
{
	p11e_record rec;
	p11e_err err, aerr;
	p11e_rc rc, arc;
	char *pw = NULL;
	size_t len = 0;
	p11e_sbuf b = {0};

	if (portal_own_record(r, id, &rec) != 0)
		return;
	if (!csrf_checked(r))
		goto out;
	if (!is_software(&rec)) {
		portal_send_error(r, 409, "your key is on your card: it has no password");
		goto out;
	}
	rc = portal_reveal(r, &rec, &pw, &len, &err);
	/* Written, and synced, before the password leaves. */
	portal_audit(r, "portal-reveal", rec.identity, rc, &err, &arc, &aerr);
	if (rc != P11E_OK || arc != P11E_OK) {
		if (rc != P11E_OK)
			fprintf(stderr, "p11enroll serve: reveal for %s: %s\n", rec.identity,
				err.msg);
		portal_send_error(r, rc == P11E_NOT_FOUND ? 404 : 500,
				  rc == P11E_NOT_FOUND ? "no escrowed password for your identity"
						       : "the password cannot be revealed now; ask "
							 "your administrator");
		goto out;
	}
	if (!p11e_printable_ascii(pw, len)) {
		portal_send_error(r, 500, "the escrowed password is not printable text");
		goto out;
	}
	p11e_sbuf_str(&b, "{\"password\":");
	p11e_sbuf_json_n(&b, pw, len);
	p11e_sbuf_str(&b, "}");
	if (b.failed)
		portal_send_error(r, 500, "out of memory");
	else
		portal_send(r, 200, "application/json", b.p, b.len, NULL, NULL);
out:
	p11e_sbuf_free(&b);
	if (pw != NULL)
		p11e_secret_free(pw, len);
	p11e_record_clear(&rec);
}

/* A JSON route's body: only as application/json (a form or text/plain body
 * is what a cross-site <form> can send), else 415 is answered and NULL. */
static char *json_body(portal_req *r, size_t *len)
{
	char *body;

	*len = 0;
	if (!p11e_portal_json_media_type(portal_header(r, "Content-Type"))) {
		portal_send_error(r, 415, "Content-Type: send the body as application/json");
		return NULL;
	}
	if ((body = portal_body(r, 8192, len)) == NULL)
		portal_send_error(r, 413, "request body: send one JSON object of at most 8 KiB");
	return body;
}

static void api_new_identity(portal_req *r)
{
	static const char *const keys[] = {"profile", NULL};
	char *vals[1] = {NULL}, *body = NULL;
	const char *msg = NULL;
	size_t len = 0;
	p11e_record rec;
	p11e_err err = {0};
	json_object *doc;
	int status;

	memset(&rec, 0, sizeof(rec));
	if (r->user[0] == '\0') {
		portal_own_record(r, "", &rec);
		return;
	}
	if (!csrf_checked(r) || (body = json_body(r, &len)) == NULL)
		return;
	if (p11e_portal_json_strings(body, len, keys, vals, &err) != P11E_OK || vals[0] == NULL) {
		portal_send_error(r, 400,
				  vals[0] == NULL && err.rc == P11E_OK ? "send {\"profile\": NAME}"
								       : err.msg);
		goto out;
	}
	status = portal_request_identity(r, vals[0], &rec, &msg);
	if (status >= 300) {
		portal_send_error(r, status, msg);
		goto out;
	}
	doc = identity_json(r, &rec);
	portal_send_json(r, status, doc);
	json_object_put(doc);
out:
	free(vals[0]);
	free(body);
	p11e_record_clear(&rec);
}

/* A due software identity renewed (portal_renew_identity, shared with the
 * page's Renew form). */
static void api_renew(portal_req *r, const char *id)
{
	p11e_renew_result res;
	p11e_record rec, now;
	p11e_err err;
	json_object *doc;
	char msg[200];
	int status;

	if (portal_own_record(r, id, &rec) != 0)
		return;
	if (!csrf_checked(r))
		goto out;
	status = portal_renew_identity(r, &rec, &res, msg, sizeof(msg));
	if (status >= 300) {
		portal_send_error(r, status, msg);
		goto out;
	}
	if (p11e_record_load(r->p->cfg->store, rec.identity, &now, &err) != P11E_OK) {
		portal_send_error(r, 500, "your record cannot be read now; try again later");
		goto out;
	}
	doc = identity_json(r, &now);
	json_object_object_add(doc, "generation", json_object_new_int(res.generation));
	portal_send_json(r, status, doc);
	json_object_put(doc);
	p11e_record_clear(&now);
out:
	p11e_record_clear(&rec);
}

static void api_session(portal_req *r)
{
	static const char *const keys[] = {"email", "code", NULL};
	char *vals[2] = {NULL, NULL}, *body, cookie[160];
	size_t len = 0;
	p11e_err err = {0};
	int code;

	if ((body = json_body(r, &len)) == NULL)
		return;
	if (p11e_portal_json_strings(body, len, keys, vals, &err) != P11E_OK) {
		portal_send_error(r, 400, err.msg);
	} else if ((code = portal_sign_in(r, vals[0], vals[1], &err)) != 0) {
		portal_send_error(r, code, err.msg);
	} else {
		json_object *doc = json_object_new_object();
		const char *text;

		json_object_object_add(doc, "user", json_object_new_string(r->user));
		{
			char who[PORTAL_TOKEN_LEN + 16];

			snprintf(who, sizeof(who), "session:%s", r->session);
			portal_csrf_for(r->p, who, r->csrf);
		}
		json_object_object_add(doc, "csrf", json_object_new_string(r->csrf));
		portal_session_cookie(r, 0, cookie, sizeof(cookie));
		text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
		portal_send(r, 200, "application/json", text, strlen(text), "Set-Cookie", cookie);
		json_object_put(doc);
	}
	if (vals[1] != NULL)
		p11e_secret_free(vals[1], strlen(vals[1]));
	free(vals[0]);
	if (body != NULL)
		p11e_secret_free(body, len);
}

void portal_api_dispatch(portal_req *r, p11e_portal_route route, const char *id, int post,
			 const char *query)
{
	int want_post = route == P11E_ROUTE_SESSION || route == P11E_ROUTE_PASSWORD ||
			route == P11E_ROUTE_IDENTITIES || route == P11E_ROUTE_RENEW ||
			route == P11E_ROUTE_REVOKE || route == P11E_ROUTE_CARD_LOST;

	if (route == P11E_ROUTE_SESSION &&
	    evhttp_request_get_command(r->req) == EVHTTP_REQ_DELETE) {
		portal_api_signout(r); /* sign-out */
		return;
	}
	if (post != want_post) {
		portal_send_error(r, 405, want_post ? "use POST" : "use GET");
		return;
	}
	switch (route) {
	case P11E_ROUTE_ME:
		api_me(r);
		break;
	case P11E_ROUTE_CERTIFICATE:
		api_certificate(r, id, query);
		break;
	case P11E_ROUTE_PFX:
		api_pfx(r, id);
		break;
	case P11E_ROUTE_PASSWORD:
		api_password(r, id);
		break;
	case P11E_ROUTE_IDENTITIES:
		api_new_identity(r);
		break;
	case P11E_ROUTE_SESSION:
		api_session(r);
		break;
	case P11E_ROUTE_RENEW:
		api_renew(r, id);
		break;
	case P11E_ROUTE_REVOKE:
		portal_api_revoke(r, id);
		break;
	case P11E_ROUTE_CARDS:
		portal_api_cards(r);
		break;
	case P11E_ROUTE_CARD_LOST:
		portal_api_card_lost(r, id);
		break;
	default:
		portal_send_error(r, 404, "no such page");
	}
}
