/* "I lost my laptop": the confirmation page (GET /identities/ID/revoke, a
 * form that POSTs), the revocation (its POST: the CSRF token and a ticked
 * confirm box), and the issuing CA chain (GET /ca-chain.pem). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/record.h"
#include "portal_page.h"

void page_revoke_confirm(portal_req *r, const char *id)
{
	p11e_record rec;
	p11e_sbuf b = {0};
	char msg[200];
	int status;

	if (r->user[0] == '\0') {
		page_signin(r, 401, "Please sign in first.");
		return;
	}
	if (portal_own_record(r, id, &rec) != 0)
		return;
	if ((status = portal_revocable(r, &rec, msg, sizeof(msg))) != 0) {
		portal_page_error(r, status, msg);
		goto out;
	}
	page_start(r, &b, "Revoke my certificate");
	p11e_sbuf_str(&b, "<p>Do this if your laptop or phone was lost or stolen, or if someone "
			  "else may have your key and certificate file or its password.</p>\n"
			  "<ul><li>Your certificate stops working for good: mail programs no "
			  "longer trust it.</li><li>You can "
			  "request a new one here straight away, and install it like the "
			  "first.</li></ul>\n<form method=\"post\" action=\"/identities/");
	page_url_segment(&b, rec.identity);
	p11e_sbuf_str(&b, "/revoke\">");
	page_csrf_field(&b, r);
	p11e_sbuf_str(&b, "<p class=\"check\"><input type=\"checkbox\" id=\"confirm\" "
			  "name=\"confirm\" value=\"revoke\" required> <label "
			  "for=\"confirm\">Yes, revoke my certificate for good</label></p>\n"
			  "<p class=\"actions\"><button id=\"revoke-confirm\" class=\"danger\" "
			  "type=\"submit\">"
			  "Revoke my certificate</button> <a href=\"/\">Cancel</a></p>"
			  "</form>\n");
	page_send(r, &b, 200);
out:
	p11e_record_clear(&rec);
}

void page_revoke(portal_req *r, const char *id)
{
	char confirm[16], *body = NULL, msg[200];
	size_t len = 0;
	p11e_record rec;
	p11e_sbuf b = {0};
	int ticked, status;

	if (!page_form_ok(r, &body, &len))
		return;
	ticked = p11e_portal_form_value(body, len, "confirm", confirm, sizeof(confirm)) == 1 &&
		 strcmp(confirm, "revoke") == 0;
	free(body);
	if (portal_own_record(r, id, &rec) != 0)
		return;
	if (!ticked) {
		portal_page_error(r, 400,
				  "nothing was revoked: tick the box that confirms it, then press "
				  "the button");
		goto out;
	}
	if ((status = portal_revoke_identity(r, &rec, msg, sizeof(msg))) != 200) {
		portal_page_error(r, status, msg);
		goto out;
	}
	page_start(r, &b, "Your certificate is revoked");
	p11e_sbuf_str(
	    &b,
	    "<p role=\"status\" id=\"revoked\">Revoked: nobody can use your old "
	    "certificate any more.</p>\n<p>Remove the old certificate from your "
	    "mail program's settings. Keep the old key and certificate file only "
	    "if you need to read mail encrypted to it.</p>\n<section aria-labelledby=\"h-new\"><h2 "
	    "id=\"h-new\">A new certificate</h2>\n");
	page_request_form(r, &b, rec.profile);
	p11e_sbuf_str(&b, "</section>\n");
	page_back(&b);
	page_send(r, &b, 200);
out:
	p11e_record_clear(&rec);
}

/* The chain of the CA that issued the user's certificate: public, but
 * which CA that is depends on whose certificate it is. */
void page_ca_chain(portal_req *r)
{
	p11e_record rec;
	p11e_err err;
	const char *chain = NULL;

	if (r->user[0] == '\0') {
		page_signin(r, 401, "Please sign in first.");
		return;
	}
	if (p11e_record_load(r->p->cfg->store, r->user, &rec, &err) != P11E_OK) {
		p11e_record_clear(&rec);
		portal_page_error(r, 404, "you have no certificate yet, so no chain either");
		return;
	}
	chain = rec.chain_pem;
	if (chain == NULL && rec.n_history > 0)
		chain = rec.history[rec.n_history - 1].chain_pem;
	if (chain == NULL)
		portal_page_error(r, 404,
				  "the certificate authority has not issued your certificate yet");
	else
		portal_send(r, 200, "application/pem-certificate-chain", chain, strlen(chain),
			    "Content-Disposition", "attachment; filename=\"ca-chain.pem\"");
	p11e_record_clear(&rec);
}
