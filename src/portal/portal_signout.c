/* Sign-out: POST /signout (the pages' form, with its csrf field) and DELETE
 * /api/v1/session (with X-CSRF-Token) end a code session on the server (its
 * slot wiped: the cookie is refused from then on, wherever it was copied)
 * and clear the cookie, audited "portal-sign-out". A user signed in by a
 * client certificate has no session: the browser shows the certificate
 * again on the next connection, so the answer says to close the browser or
 * remove the card. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include <json-c/json.h>
#include "portal_int.h"

#define CERT_SIGN_OUT                                                                              \
	"you are signed in by your client certificate, which your browser shows on every "         \
	"connection: there is no session to end. To sign out, close the browser (all its "         \
	"windows) or remove your card"

void portal_session_cookie(const portal_req *r, int clear, char *out, size_t cap)
{
	/* The clearing one has the same attributes, or a browser keeps both. */
	snprintf(out, cap,
		 "p11e_session=%s; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=%ld",
		 clear ? "" : r->session, clear ? 0L : r->p->conf->session_minutes * 60);
}

/* Ends r's session and audits it. */
static void end_session(portal_req *r)
{
	p11e_err aerr;
	p11e_rc arc;

	portal_session_end(r->p, r->session);
	portal_audit(r, "portal-sign-out", r->user, P11E_OK, NULL, &arc, &aerr);
}

static void see_home(portal_req *r)
{
	char cookie[160];

	portal_session_cookie(r, 1, cookie, sizeof(cookie));
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location", "/");
	portal_send(r, 303, "text/plain", "", 0, "Set-Cookie", cookie);
}

void portal_page_signout(portal_req *r)
{
	static const char cert_page[] =
	    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta "
	    "name=\"viewport\" content=\"width=device-width\"><title>Sign out - p11enroll</title>"
	    "</head>\n<body><main><h1>Sign out</h1>\n<p role=\"status\" "
	    "id=\"certificate-sign-out\">"
	    "You are signed in by your card or certificate, which your browser shows each time "
	    "it connects, so there is nothing to end here. To sign out, close your browser (all "
	    "its windows) or remove your card.</p>\n<p><a href=\"/\">Back</a></p>\n"
	    "</main></body></html>\n";
	char csrf[PORTAL_TOKEN_LEN + 4], *body;
	size_t len = 0;
	int ok;

	if (r->user[0] == '\0') {
		see_home(r); /* nothing to end; the cookie cleared all the same */
		return;
	}
	if (r->session[0] == '\0') {
		portal_send(r, 409, "text/html; charset=utf-8", cert_page, sizeof(cert_page) - 1,
			    NULL, NULL);
		return;
	}
	body = portal_body(r, 4096, &len);
	ok = p11e_portal_form_value(body, len, "csrf", csrf, sizeof(csrf)) == 1 &&
	     portal_csrf_ok(r, csrf);
	free(body);
	if (!ok) {
		portal_send_error(r, 403, "bad or missing CSRF token: reload the page");
		return;
	}
	end_session(r);
	see_home(r);
}

void portal_api_signout(portal_req *r)
{
	json_object *doc;
	const char *text;
	char cookie[160];

	if (r->user[0] == '\0') {
		portal_send_error(r, 401, "not signed in: there is no session to end");
		return;
	}
	if (r->session[0] == '\0') {
		portal_send_error(r, 409, CERT_SIGN_OUT);
		return;
	}
	if (!portal_csrf_ok(r, portal_header(r, "X-CSRF-Token"))) {
		portal_send_error(r, 403,
				  "bad or missing X-CSRF-Token: take \"csrf\" from GET /api/v1/me");
		return;
	}
	end_session(r);
	doc = json_object_new_object();
	json_object_object_add(doc, "signed_out", json_object_new_string(r->user));
	text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
	portal_session_cookie(r, 1, cookie, sizeof(cookie));
	portal_send(r, 200, "application/json", text, strlen(text), "Set-Cookie", cookie);
	json_object_put(doc);
}
