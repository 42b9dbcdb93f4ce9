/* The portal's pages: plain HTML, no script, no external asset, so they
 * work in any browser and under CSP default-src 'self'. Every form carries
 * the CSRF token; the password page is the answer to a POST, shown once.
 * The Renew form renews through the same operation as the API. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include "p11enroll/record.h"
#include "p11enroll/renew.h"
#include "p11enroll/sbuf.h"
#include "p11enroll/util.h"
#include "portal_int.h"

static void html_text(p11e_sbuf *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '<':
			p11e_sbuf_str(b, "&lt;");
			break;
		case '>':
			p11e_sbuf_str(b, "&gt;");
			break;
		case '&':
			p11e_sbuf_str(b, "&amp;");
			break;
		case '"':
			p11e_sbuf_str(b, "&quot;");
			break;
		case '\'':
			p11e_sbuf_str(b, "&#39;");
			break;
		default:
			p11e_sbuf_add(b, s, 1);
		}
	}
}

/* An identity as a URL path segment: unreserved characters and '@' as is. */
static void url_segment(p11e_sbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char hex[4];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~@", c) != NULL) {
			p11e_sbuf_add(b, s, 1);
		} else {
			snprintf(hex, sizeof(hex), "%%%02X", c);
			p11e_sbuf_str(b, hex);
		}
	}
}

static void page_start(p11e_sbuf *b, const char *title)
{
	p11e_sbuf_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			 "<meta name=\"viewport\" content=\"width=device-width\"><title>");
	html_text(b, title);
	p11e_sbuf_str(b, " - p11enroll</title></head>\n<body><main><h1>");
	html_text(b, title);
	p11e_sbuf_str(b, "</h1>\n");
}

static void page_send(portal_req *r, p11e_sbuf *b, int code, const char *hname, const char *hvalue)
{
	p11e_sbuf_str(b, "</main></body></html>\n");
	if (b->failed)
		portal_send_error(r, 500, "out of memory");
	else
		portal_send(r, code, "text/html; charset=utf-8", b->p, b->len, hname, hvalue);
	p11e_sbuf_free(b);
}

static void csrf_field(p11e_sbuf *b, const portal_req *r)
{
	p11e_sbuf_str(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
	html_text(b, r->csrf);
	p11e_sbuf_str(b, "\">");
}

static void page_signin(portal_req *r, int code, const char *problem)
{
	p11e_sbuf b = {0};

	page_start(&b, "Sign in");
	if (problem != NULL) {
		p11e_sbuf_str(&b, "<p role=\"alert\"><strong>");
		html_text(&b, problem);
		p11e_sbuf_str(&b, "</strong></p>\n");
	}
	p11e_sbuf_str(&b, "<p>Sign in with your card (your browser offers its certificate), "
			  "or with the invitation code you were given.</p>\n"
			  "<form method=\"post\" action=\"/signin\">");
	csrf_field(&b, r);
	p11e_sbuf_str(&b, "<p><label for=\"email\">Email address</label><br>"
			  "<input id=\"email\" name=\"email\" type=\"email\" required "
			  "autocomplete=\"email\"></p>\n"
			  "<p><label for=\"code\">Invitation code</label><br>"
			  "<input id=\"code\" name=\"code\" type=\"password\" required "
			  "autocomplete=\"off\"></p>\n"
			  "<p><button type=\"submit\">Sign in</button></p></form>\n");
	page_send(r, &b, code, NULL, NULL);
}

/* The profiles offered for self-service, as a form (none offered: nothing). */
static void request_form(portal_req *r, p11e_sbuf *b)
{
	char *const *profiles = r->p->conf->profiles;

	if (profiles[0] == NULL)
		return;
	p11e_sbuf_str(b, "<form method=\"post\" action=\"/identities\">");
	csrf_field(b, r);
	p11e_sbuf_str(b, "<p><label for=\"profile\">Kind of certificate</label><br>"
			 "<select id=\"profile\" name=\"profile\">");
	for (size_t i = 0; profiles[i] != NULL; i++) {
		p11e_sbuf_str(b, "<option>");
		html_text(b, profiles[i]);
		p11e_sbuf_str(b, "</option>");
	}
	p11e_sbuf_str(b, "</select></p>\n<p><button id=\"request\" type=\"submit\">Request my "
			 "certificate</button></p></form>\n");
}

/* "Show me my password": a POST, so the password is never in a URL. */
static void password_form(portal_req *r, p11e_sbuf *b, const char *identity)
{
	p11e_sbuf_str(b, "<form method=\"post\" action=\"/identities/");
	url_segment(b, identity);
	p11e_sbuf_str(b, "/password\">");
	csrf_field(b, r);
	p11e_sbuf_str(b, "<button id=\"show-password\" type=\"submit\">Show me my "
			 "password</button></form>\n");
}

static void page_home(portal_req *r)
{
	p11e_record rec;
	p11e_err err;
	p11e_sbuf b = {0};

	if (r->user[0] == '\0') {
		page_signin(r, r->cert_problem[0] ? 401 : 200,
			    r->cert_problem[0] ? r->cert_problem : NULL);
		return;
	}
	page_start(&b, "My identities");
	p11e_sbuf_str(&b, "<p>Signed in as <strong>");
	html_text(&b, r->user);
	p11e_sbuf_str(&b, "</strong>.</p>\n");
	if (p11e_record_load(r->p->cfg->state_dir, r->user, &rec, &err) != P11E_OK ||
	    rec.retired != NULL) {
		p11e_record_clear(&rec); /* zeroed by a failed load */
		p11e_sbuf_str(&b, "<p>You have no identity yet.</p>\n");
		request_form(r, &b);
		page_send(r, &b, 200, NULL, NULL);
		return;
	}
	p11e_sbuf_str(&b,
		      "<table><thead><tr><th scope=\"col\">Identity</th><th scope=\"col\">"
		      "Status</th><th scope=\"col\">Valid until</th></tr></thead><tbody><tr><td>");
	html_text(&b, rec.identity);
	p11e_sbuf_str(&b, "</td><td>");
	html_text(&b, p11e_step_name(rec.step));
	p11e_sbuf_str(&b, "</td><td>");
	html_text(&b, rec.not_after ? rec.not_after : "-");
	p11e_sbuf_str(&b, "</td></tr></tbody></table>\n");
	if (rec.cert_pem != NULL) {
		p11e_sbuf_str(&b, "<p><a id=\"download-certificate\" href=\"/api/v1/identities/");
		url_segment(&b, rec.identity);
		p11e_sbuf_str(&b, "/certificate?format=pem\">Download certificate</a> (PEM; "
				  "<a href=\"/api/v1/identities/");
		url_segment(&b, rec.identity);
		p11e_sbuf_str(&b, "/certificate?format=p7b\">P7B</a>)</p>\n");
	}
	if (rec.key_store != NULL && strcmp(rec.key_store, "software") == 0 &&
	    rec.step >= P11E_STEP_STORED) {
		p11e_sbuf_str(&b, "<p><a id=\"download-pfx\" href=\"/api/v1/identities/");
		url_segment(&b, rec.identity);
		p11e_sbuf_str(&b, "/pfx\">Download my key and certificate (PFX)</a></p>\n");
		password_form(r, &b, rec.identity);
	}
	/* Only where a renewal would be done: a card's key is renewed at the
	 * station, never here. */
	if (portal_renewable(&rec) && rec.step == P11E_STEP_DONE && portal_renewal_due(r, &rec)) {
		p11e_sbuf_str(&b, "<p>Your certificate is due for renewal: renewing makes a new "
				  "key, certificate and password.</p>\n"
				  "<form method=\"post\" action=\"/identities/");
		url_segment(&b, rec.identity);
		p11e_sbuf_str(&b, "/renew\">");
		csrf_field(&b, r);
		p11e_sbuf_str(&b, "<button id=\"renew\" type=\"submit\">Renew my "
				  "certificate</button></form>\n");
	}
	p11e_record_clear(&rec);
	page_send(r, &b, 200, NULL, NULL);
}

/* The form's CSRF token checked: 1, else the answer is sent (a sign-in
 * page when nobody is signed in, 403 for a missing or wrong token). */
static int form_csrf_ok(portal_req *r)
{
	char csrf[PORTAL_TOKEN_LEN + 4], *body;
	size_t len = 0;
	int ok;

	body = portal_body(r, 4096, &len);
	ok = r->user[0] != '\0' &&
	     p11e_portal_form_value(body, len, "csrf", csrf, sizeof(csrf)) == 1 &&
	     portal_csrf_ok(r, csrf);
	free(body);
	if (ok)
		return 1;
	if (r->user[0] == '\0')
		page_signin(r, 401, "Please sign in first.");
	else
		portal_send_error(r, 403, "bad or missing CSRF token: reload the page");
	return 0;
}

static void page_password(portal_req *r, const char *id)
{
	char *pw = NULL;
	size_t pwlen = 0;
	p11e_record rec;
	p11e_err err, aerr;
	p11e_rc rc, arc;
	p11e_sbuf b = {0};

	if (!form_csrf_ok(r))
		return;
	if (portal_own_record(r, id, &rec) != 0)
		return;
	rc = portal_reveal(r, &rec, &pw, &pwlen, &err);
	portal_audit(r, "portal-reveal", rec.identity, rc, &err, &arc, &aerr);
	if (rc != P11E_OK || arc != P11E_OK || !p11e_printable_ascii(pw, pwlen)) {
		page_start(&b, "Your password");
		p11e_sbuf_str(&b, "<p role=\"alert\">Your password cannot be shown now. Ask your "
				  "administrator.</p>\n");
		page_send(r, &b, 500, NULL, NULL);
		goto out;
	}
	page_start(&b, "Your password");
	p11e_sbuf_str(&b, "<p>The password of your PFX file (shown once; this page is not "
			  "stored):</p>\n<p><output id=\"password\"><code>");
	html_text(&b, pw);
	p11e_sbuf_str(&b, "</code></output></p>\n<p><a href=\"/\">Back</a></p>\n");
	page_send(r, &b, 200, NULL, NULL);
out:
	if (pw != NULL)
		p11e_secret_free(pw, pwlen);
	p11e_record_clear(&rec);
}

static void page_signin_post(portal_req *r)
{
	char csrf[PORTAL_TOKEN_LEN + 4], email[P11E_PORTAL_ID_MAX], code[64], cookie[160];
	char *body;
	size_t len = 0;
	p11e_err err = {0};
	int status;

	body = portal_body(r, 4096, &len);
	if (p11e_portal_form_value(body, len, "csrf", csrf, sizeof(csrf)) != 1 ||
	    !portal_csrf_ok(r, csrf) ||
	    p11e_portal_form_value(body, len, "email", email, sizeof(email)) != 1 ||
	    p11e_portal_form_value(body, len, "code", code, sizeof(code)) != 1) {
		if (body != NULL)
			p11e_secret_free(body, len);
		page_signin(r, 400, "The form was incomplete or expired: please try again.");
		return;
	}
	p11e_secret_free(body, len);
	status = portal_sign_in(r, email, code, &err);
	OPENSSL_cleanse(code, sizeof(code));
	if (status != 0) {
		page_signin(r, status,
			    status == 429 || status == 400 ? err.msg
							   : "This code is not valid for this address.");
		return;
	}
	portal_session_cookie(r, 0, cookie, sizeof(cookie));
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", "/");
	portal_send(r, 303, "text/plain", "", 0, "Set-Cookie", cookie);
}

static void page_request(portal_req *r)
{
	char csrf[PORTAL_TOKEN_LEN + 4], profile[128], *body;
	const char *msg = NULL;
	size_t len = 0;
	p11e_record rec;
	p11e_sbuf b = {0};
	int status;

	body = portal_body(r, 4096, &len);
	if (r->user[0] == '\0') {
		free(body);
		page_signin(r, 401, "Please sign in first.");
		return;
	}
	if (p11e_portal_form_value(body, len, "csrf", csrf, sizeof(csrf)) != 1 ||
	    !portal_csrf_ok(r, csrf) ||
	    p11e_portal_form_value(body, len, "profile", profile, sizeof(profile)) != 1) {
		free(body);
		portal_send_error(r, 403, "bad or missing CSRF token: reload the page");
		return;
	}
	free(body);
	status = portal_request_identity(r, profile, &rec, &msg);
	p11e_record_clear(&rec);
	if (status < 300) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", "/");
		portal_send(r, 303, "text/plain", "", 0, NULL, NULL);
		return;
	}
	page_start(&b, "Your request");
	p11e_sbuf_str(&b, "<p role=\"alert\">");
	html_text(&b, msg);
	p11e_sbuf_str(&b, "</p>\n<p><a href=\"/\">Back</a></p>\n");
	page_send(r, &b, status, NULL, NULL);
}

/* The Renew form: renewed, a page that says so and offers the new PFX and
 * its new password (a POST's answer, like the password page); else a page
 * with the reason (409 not due or a card's key). */
static void page_renew(portal_req *r, const char *id)
{
	p11e_renew_result res;
	p11e_record rec;
	p11e_sbuf b = {0};
	char msg[200], line[160];
	int status;

	if (!form_csrf_ok(r))
		return;
	if (portal_own_record(r, id, &rec) != 0)
		return;
	status = portal_renew_identity(r, &rec, &res, msg, sizeof(msg));
	if (status >= 300) {
		msg[0] = (char)toupper((unsigned char)msg[0]); /* a sentence on the page */
		page_start(&b, "Renew my certificate");
		p11e_sbuf_str(&b, "<p role=\"alert\">");
		html_text(&b, msg);
		p11e_sbuf_str(&b, ".</p>\n<p><a href=\"/\">Back</a></p>\n");
		page_send(r, &b, status, NULL, NULL);
		goto out;
	}
	if (status == 202) {
		page_start(&b, "Renewal requested");
		p11e_sbuf_str(&b, "<p role=\"status\">Your renewal is requested; the certificate "
				  "authority has not issued the new certificate yet. Come back "
				  "later.</p>\n<p><a href=\"/\">Back</a></p>\n");
		page_send(r, &b, 202, NULL, NULL);
		goto out;
	}
	page_start(&b, "Your certificate is renewed");
	snprintf(line, sizeof(line), "<p role=\"status\" id=\"renewed\">Renewed: generation %d",
		 res.generation);
	p11e_sbuf_str(&b, line);
	if (res.not_after[0] != '\0') {
		p11e_sbuf_str(&b, ", valid until ");
		html_text(&b, res.not_after);
	}
	p11e_sbuf_str(&b, ".</p>\n<p>Your new key and certificate come in a new PFX file with a "
			  "new password.</p>\n<p><a id=\"download-pfx\" "
			  "href=\"/api/v1/identities/");
	url_segment(&b, rec.identity);
	p11e_sbuf_str(&b, "/pfx\">Download my new key and certificate (PFX)</a></p>\n");
	password_form(r, &b, rec.identity);
	p11e_sbuf_str(&b, "<p><a href=\"/\">Back</a></p>\n");
	page_send(r, &b, 200, NULL, NULL);
out:
	p11e_record_clear(&rec);
}

void portal_html_dispatch(portal_req *r, p11e_portal_route route, const char *id, int post)
{
	if (route == P11E_ROUTE_PAGE_HOME && !post)
		page_home(r);
	else if (route == P11E_ROUTE_PAGE_SIGNIN && post)
		page_signin_post(r);
	else if (route == P11E_ROUTE_PAGE_PASSWORD && post)
		page_password(r, id);
	else if (route == P11E_ROUTE_PAGE_REQUEST && post)
		page_request(r);
	else if (route == P11E_ROUTE_PAGE_RENEW && post)
		page_renew(r, id);
	else if (route == P11E_ROUTE_PAGE_SIGNOUT && post)
		portal_page_signout(r); /* portal_signout.c */
	else
		portal_send_error(r, 405, "not with this method");
}
