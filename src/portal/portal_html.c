/* The portal's forms and the dispatch of its page routes (the pages
 * themselves: portal_page_*.c). The pages need no script and no external
 * asset, so they work in any browser under CSP default-src 'self'. Every
 * form carries the CSRF token; the password page is the answer to a POST,
 * shown once. The forms act through the same operations as the API
 * (portal_ops*.c). Errors on these routes are HTML pages (r->html). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include "p11enroll/record.h"
#include "p11enroll/renew.h"
#include "p11enroll/util.h"
#include "portal_page.h"

int page_form_ok(portal_req *r, char **bodyp, size_t *lenp)
{
	char csrf[PORTAL_TOKEN_LEN + 4], *body;
	size_t len = 0;
	int ok;

	body = portal_body(r, 4096, &len);
	ok = r->user[0] != '\0' &&
	     p11e_portal_form_value(body, len, "csrf", csrf, sizeof(csrf)) == 1 &&
	     portal_csrf_ok(r, csrf);
	if (ok && bodyp != NULL) {
		*bodyp = body;
		*lenp = len;
		return 1;
	}
	free(body);
	if (ok)
		return 1;
	if (r->user[0] == '\0')
		page_signin(r, 401, "Please sign in first.");
	else
		portal_page_error(r, 403,
				  "this form has expired: go back, reload the page and try again");
	return 0;
}

/* The password in groups of four (spans, no space between them: what is
 * selected or copied is the password itself). */
static void password_groups(p11e_sbuf *b, const char *pw, size_t len)
{
	for (size_t i = 0; i < len; i += 4) {
		char group[5] = {0};

		memcpy(group, pw + i, len - i < 4 ? len - i : 4);
		p11e_sbuf_str(b, "<span>");
		page_text(b, group);
		p11e_sbuf_str(b, "</span>");
		OPENSSL_cleanse(group, sizeof(group));
	}
}

static void page_password(portal_req *r, const char *id)
{
	char *pw = NULL;
	size_t pwlen = 0;
	p11e_record rec;
	p11e_err err, aerr;
	p11e_rc rc, arc;
	p11e_sbuf b = {0};

	if (!page_form_ok(r, NULL, NULL))
		return;
	if (portal_own_record(r, id, &rec) != 0)
		return;
	rc = portal_reveal(r, &rec, &pw, &pwlen, &err);
	portal_audit(r, "portal-reveal", rec.identity, rc, &err, &arc, &aerr);
	if (rc != P11E_OK || arc != P11E_OK || !p11e_printable_ascii(pw, pwlen)) {
		page_start(r, &b, "Your password");
		p11e_sbuf_str(&b, "<p role=\"alert\">Your password cannot be shown now. Ask ");
		page_help_contact(r, &b);
		p11e_sbuf_str(&b, ".</p>\n");
		page_back(&b);
		page_send(r, &b, 500);
		goto out;
	}
	page_start(r, &b, "Your password");
	p11e_sbuf_str(&b, "<p>The password of your key and certificate file: type it, or copy "
			  "it, when your computer asks for it. It is shown only now.</p>\n"
			  "<div class=\"secret\"><output id=\"password\" class=\"password\">"
			  "<code>");
	password_groups(&b, pw, pwlen);
	p11e_sbuf_str(&b, "</code></output> <button type=\"button\" class=\"copy\" "
			  "data-copy=\"password\" data-done=\"copy-status\" hidden>Copy the "
			  "password</button> <span id=\"copy-status\" class=\"hint\" "
			  "role=\"status\"></span></div>\n"
			  "<p class=\"hint\">Letters and digits in groups of four, to read it "
			  "easily: type it without spaces.</p>\n");
	if (rec.pfx_path != NULL) {
		p11e_sbuf_str(&b, "<p><a id=\"download-pfx\" href=\"/api/v1/identities/");
		page_url_segment(&b, rec.identity);
		p11e_sbuf_str(&b, "/pfx\">Download the key and certificate file</a></p>\n");
	}
	page_back(&b);
	page_send(r, &b, 200);
out:
	/* (the page's buffer, which held the password, is wiped when freed) */
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
			    status == 429 || status == 400
				? err.msg
				: "This code is not valid for this address. Check both, "
				  "or ask for a new code.");
		return;
	}
	portal_session_cookie(r, 0, cookie, sizeof(cookie));
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", "/");
	portal_send(r, 303, "text/plain", "", 0, "Set-Cookie", cookie);
}

static void page_request(portal_req *r)
{
	char profile[128], *body = NULL;
	const char *msg = NULL;
	size_t len = 0;
	p11e_record rec;
	int status;

	if (!page_form_ok(r, &body, &len))
		return;
	if (p11e_portal_form_value(body, len, "profile", profile, sizeof(profile)) != 1) {
		free(body);
		portal_page_error(r, 400, "choose the kind of certificate");
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
	portal_page_error(r, status, msg);
}

/* The Renew form: renewed, a page that says so and offers the new file and
 * its new password (a POST's answer, like the password page); else a page
 * with the reason (409 not due or a card's key). */
static void page_renew(portal_req *r, const char *id)
{
	p11e_renew_result res;
	p11e_record rec;
	p11e_sbuf b = {0};
	char msg[200];
	int status;

	if (!page_form_ok(r, NULL, NULL))
		return;
	if (portal_own_record(r, id, &rec) != 0)
		return;
	status = portal_renew_identity(r, &rec, &res, msg, sizeof(msg));
	if (status >= 300) {
		portal_page_error(r, status, msg);
		goto out;
	}
	if (status == 202) {
		page_start(r, &b, "Renewal requested");
		p11e_sbuf_str(&b, "<p role=\"status\">Your renewal is requested: we are waiting "
				  "for the certificate authority. Come back to this page "
				  "later.</p>\n");
		page_back(&b);
		page_send(r, &b, 202);
		goto out;
	}
	page_start(r, &b, "Your certificate is renewed");
	p11e_sbuf_str(&b, "<p role=\"status\" id=\"renewed\">Renewed: your new certificate is "
			  "valid until ");
	page_date(&b, res.not_after[0] ? res.not_after : NULL);
	p11e_sbuf_str(&b, ".</p>\n<p>It comes in a new key and certificate file with a new "
			  "password. Install it like the first one.</p>\n<p><a "
			  "id=\"download-pfx\" href=\"/api/v1/identities/");
	page_url_segment(&b, rec.identity);
	p11e_sbuf_str(&b, "/pfx\">Download the new key and certificate file</a></p>\n");
	page_password_form(r, &b, rec.identity);
	page_back(&b);
	page_send(r, &b, 200);
out:
	p11e_record_clear(&rec);
}

void portal_html_dispatch(portal_req *r, p11e_portal_route route, const char *id, int post)
{
	r->html = 1;
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
	else if (route == P11E_ROUTE_PAGE_REVOKE)
		post ? page_revoke(r, id) : page_revoke_confirm(r, id);
	else if (route == P11E_ROUTE_PAGE_CARDS && !post)
		page_cards(r);
	else if (route == P11E_ROUTE_PAGE_LOST)
		post ? page_card_lost(r, id) : page_card_lost_confirm(r, id);
	else if (route == P11E_ROUTE_PAGE_CA_CHAIN && !post)
		page_ca_chain(r);
	else if (route >= P11E_ROUTE_STATIC_CSS && route <= P11E_ROUTE_STATIC_LOGO && !post)
		portal_static(r, route);
	else if (route == P11E_ROUTE_PAGE_SIGNOUT && post)
		portal_page_signout(r); /* portal_signout.c */
	else
		portal_page_error(r, 405, "this page cannot be reached this way");
}
