/* The sign-in page and the home page: where the user's certificate stands
 * in plain words, what to download and what each file is for, renewal,
 * "I lost my laptop" (revocation, portal_page_revoke.c), every generation
 * of the certificate, and how to install it in common mail programs. */
#include <stdio.h>
#include <string.h>
#include "p11enroll/clock.h"
#include "p11enroll/record.h"
#include "portal_page.h"

void page_signin(portal_req *r, int code, const char *problem)
{
	p11e_sbuf b = {0};

	page_start(r, &b, "Sign in");
	if (problem != NULL) {
		p11e_sbuf_str(&b, "<p role=\"alert\" class=\"problem\">");
		page_text(&b, problem);
		p11e_sbuf_str(&b, "</p>\n");
	}
	p11e_sbuf_str(&b, "<p>Here you get the certificate that signs and encrypts your "
			  "mail.</p>\n<section aria-labelledby=\"h-card\"><h2 id=\"h-card\">"
			  "With your card or certificate</h2>\n<p>If your browser has your "
			  "certificate, it offers it when you open this page: choose it, then "
			  "reload the page.</p></section>\n<section aria-labelledby=\"h-code\">"
			  "<h2 id=\"h-code\">With an invitation code</h2>\n"
			  "<form method=\"post\" action=\"/signin\">");
	page_csrf_field(&b, r);
	p11e_sbuf_str(&b, "<p><label for=\"email\">Email address</label><br>"
			  "<input id=\"email\" name=\"email\" type=\"email\" required "
			  "autocomplete=\"email\"></p>\n"
			  "<p><label for=\"code\">Invitation code</label><br>"
			  "<input id=\"code\" name=\"code\" type=\"password\" required "
			  "autocomplete=\"off\" aria-describedby=\"code-hint\"></p>\n"
			  "<p id=\"code-hint\" class=\"hint\">A code works once, for a limited "
			  "time. No code, or has it expired? Ask ");
	page_help_contact(r, &b);
	p11e_sbuf_str(&b, " for a new one.</p>\n"
			  "<p><button type=\"submit\">Sign in</button></p></form></section>\n");
	page_send(r, &b, code);
}

/* A code's session: when it ends and how to get back in. */
static void session_note(portal_req *r, p11e_sbuf *b)
{
	time_t ends = r->session_expires, now = p11e_now();
	char line[160];
	struct tm tm;

	if (ends <= 0 || gmtime_r(&ends, &tm) == NULL)
		return;
	snprintf(line, sizeof(line),
		 "<p class=\"hint\" id=\"session-ends\">Your session ends at %02d:%02d UTC "
		 "(in %ld minute%s). To sign in after that, ask ",
		 tm.tm_hour, tm.tm_min, (long)(ends - now + 59) / 60, ends - now <= 60 ? "" : "s");
	p11e_sbuf_str(b, line);
	page_help_contact(r, b);
	p11e_sbuf_str(b, " for a new invitation code.</p>\n");
}

static void status_section(portal_req *r, p11e_sbuf *b, const p11e_record *rec)
{
	const char *css, *words = page_state_words(rec, &css);

	(void)r;
	p11e_sbuf_str(b, "<section aria-labelledby=\"h-status\"><h2 id=\"h-status\">Status</h2>\n"
			 "<p><span id=\"state\" class=\"badge ");
	p11e_sbuf_str(b, css);
	p11e_sbuf_str(b, "\">");
	page_text(b, words);
	p11e_sbuf_str(b, "</span></p>\n<dl class=\"facts\"><dt>For</dt><dd>");
	page_text(b, rec->identity);
	p11e_sbuf_str(b, "</dd>");
	if (rec->not_after != NULL && rec->revoked_at == NULL) {
		p11e_sbuf_str(b, "<dt>Valid until</dt><dd id=\"valid-until\">");
		page_date(b, rec->not_after);
		p11e_sbuf_str(b, "</dd>");
	}
	if (rec->revoked_at != NULL) {
		p11e_sbuf_str(b, "<dt>Revoked on</dt><dd>");
		page_date(b, rec->revoked_at);
		p11e_sbuf_str(b, "</dd>");
	}
	if (rec->step != P11E_STEP_DONE && rec->created != NULL) {
		p11e_sbuf_str(b, "<dt>Requested on</dt><dd>");
		page_date(b, rec->renew_mode != NULL && rec->updated ? rec->updated : rec->created);
		p11e_sbuf_str(b, "</dd>");
	}
	p11e_sbuf_str(b, "</dl>\n");
	if (rec->step != P11E_STEP_DONE)
		p11e_sbuf_str(b, "<p id=\"pending\">Your request has reached the certificate "
				 "authority, which has not issued your certificate yet. Nothing "
				 "to do: come back to this page later.</p>\n");
	p11e_sbuf_str(b, "</section>\n");
}

static void download_section(portal_req *r, p11e_sbuf *b, const p11e_record *rec)
{
	p11e_sbuf_str(b, "<section aria-labelledby=\"h-download\"><h2 id=\"h-download\">"
			 "Download</h2>\n<ul class=\"downloads\">");
	if (page_software(rec) && rec->step >= P11E_STEP_STORED) {
		p11e_sbuf_str(b, "<li><a id=\"download-pfx\" href=\"/api/v1/identities/");
		page_url_segment(b, rec->identity);
		p11e_sbuf_str(b, "/pfx\">Key and certificate file</a> <span class=\"hint\">(for "
				 "Outlook, Thunderbird, macOS Keychain; it is protected by a "
				 "password)</span>");
		page_password_form(r, b, rec->identity);
		p11e_sbuf_str(b, "</li>\n");
	}
	p11e_sbuf_str(b, "<li><a id=\"download-certificate\" href=\"/api/v1/identities/");
	page_url_segment(b, rec->identity);
	p11e_sbuf_str(b, "/certificate?format=pem\">Certificate for your mail program</a> "
			 "<span class=\"hint\">(without the key: what others need to write to "
			 "you; <a href=\"/api/v1/identities/");
	page_url_segment(b, rec->identity);
	p11e_sbuf_str(b, "/certificate?format=p7b\">the same for Windows</a>)</span></li>\n"
			 "<li><a id=\"download-ca-chain\" href=\"/ca-chain.pem\">Certificate "
			 "authority chain</a> <span class=\"hint\">(the certificates that vouch "
			 "for yours, if your mail program asks for them)</span></li>\n"
			 "</ul></section>\n");
}

static void renew_section(portal_req *r, p11e_sbuf *b, const p11e_record *rec)
{
	p11e_sbuf_str(b, "<section aria-labelledby=\"h-renew\"><h2 id=\"h-renew\">Time to "
			 "renew</h2>\n<p>Your certificate ends soon. Renewing gives you a new "
			 "key and certificate file with a new password; install it like the "
			 "first one.</p>\n<form method=\"post\" action=\"/identities/");
	page_url_segment(b, rec->identity);
	p11e_sbuf_str(b, "/renew\">");
	page_csrf_field(b, r);
	p11e_sbuf_str(b, "<button id=\"renew\" type=\"submit\">Renew my certificate</button>"
			 "</form></section>\n");
}

static void lost_section(p11e_sbuf *b, const p11e_record *rec)
{
	p11e_sbuf_str(b, "<section aria-labelledby=\"h-lost\"><h2 id=\"h-lost\">Lost your "
			 "laptop or phone?</h2>\n<p>If someone else may have your key and "
			 "certificate file or its password, revoke your certificate: nobody can "
			 "use it any more. You can then request a new one here.</p>\n<p><a "
			 "id=\"revoke\" class=\"button danger\" href=\"/identities/");
	page_url_segment(b, rec->identity);
	p11e_sbuf_str(b, "/revoke\">Revoke my certificate</a></p></section>\n");
}

/* A key on a card: where the card's state is, and its "I lost it". */
static void card_section(p11e_sbuf *b)
{
	p11e_sbuf_str(b, "<section aria-labelledby=\"h-card\"><h2 id=\"h-card\">Your "
			 "card</h2>\n<p>Your key is on your card. See whether it works, or report "
			 "it lost: <a id=\"cards-link\" href=\"/cards\">Your cards</a>.</p>"
			 "</section>\n");
}

static const char *generation_words(const char *state)
{
	if (state == NULL || strcmp(state, "current") == 0)
		return "In use";
	if (strcmp(state, "superseded") == 0)
		return "Replaced by a newer one";
	if (strcmp(state, "revoked") == 0)
		return "Revoked";
	if (strcmp(state, "retired") == 0)
		return "Removed";
	return state;
}

static void history_row(p11e_sbuf *b, int number, const char *words, const char *not_after,
			const char *revoked_at, int in_use)
{
	char n[16];

	snprintf(n, sizeof(n), "%d", number);
	p11e_sbuf_str(b, "<tr><td>");
	p11e_sbuf_str(b, n);
	p11e_sbuf_str(b, "</td><td>");
	page_text(b, words);
	p11e_sbuf_str(b, "</td><td>");
	if (in_use)
		page_date(b, not_after);
	else
		page_date_only(b, not_after);
	p11e_sbuf_str(b, "</td><td>");
	page_date_only(b, revoked_at);
	p11e_sbuf_str(b, "</td></tr>");
}

/* Every generation, newest first. */
static void history_section(p11e_sbuf *b, const p11e_record *rec)
{
	const char *css;

	p11e_sbuf_str(b, "<section aria-labelledby=\"h-history\"><h2 id=\"h-history\">All "
			 "your certificates</h2>\n<table id=\"history\"><thead><tr><th "
			 "scope=\"col\">No.</th><th scope=\"col\">State</th><th "
			 "scope=\"col\">Valid until</th><th scope=\"col\">Revoked on</th></tr>"
			 "</thead><tbody>");
	history_row(b, p11e_record_generation(rec), page_state_words(rec, &css), rec->not_after,
		    rec->revoked_at, rec->revoked_at == NULL);
	for (size_t i = rec->n_history; i-- > 0;) {
		const p11e_generation *g = &rec->history[i];
		/* The one a renewal in progress replaces is still in use. */
		history_row(b, g->number, generation_words(g->state), g->not_after, g->revoked_at,
			    g->state != NULL && strcmp(g->state, "current") == 0);
	}
	p11e_sbuf_str(b, "</tbody></table></section>\n");
}

static void install_section(p11e_sbuf *b)
{
	p11e_sbuf_str(
	    b, "<section aria-labelledby=\"h-install\"><h2 id=\"h-install\">How to install "
	       "this</h2>\n<p>First download the key and certificate file and show its "
	       "password; then follow the steps for your mail program.</p>\n"
	       "<details><summary>Outlook on Windows</summary><ol><li>Open the downloaded file: "
	       "the Certificate Import Wizard starts. Choose <em>Current User</em>.</li><li>Enter "
	       "the password and let Windows choose where to keep the certificate.</li><li>In "
	       "Outlook: File, Options, Trust Center, Trust Center Settings, Email Security: "
	       "under Encrypted email, choose Settings and pick your certificate.</li></ol>"
	       "</details>\n"
	       "<details><summary>Thunderbird</summary><ol><li>Settings, Privacy &amp; Security, "
	       "Manage Certificates, Your Certificates: Import the downloaded file and enter the "
	       "password.</li><li>Under Authorities, import the certificate authority chain and "
	       "trust it to identify email users.</li><li>Account Settings, End-To-End "
	       "Encryption: under S/MIME, select your certificate for signing and "
	       "encryption.</li></ol></details>\n"
	       "<details><summary>Apple Mail and macOS Keychain</summary><ol><li>Open the "
	       "downloaded file: Keychain Access adds it to your login keychain after you enter "
	       "the password.</li><li>Quit and reopen Mail: a new message shows buttons to sign "
	       "and encrypt.</li></ol></details>\n"
	       "<details><summary>iPhone and iPad</summary><ol><li>Open the file from Mail or "
	       "Files, then in Settings choose Profile Downloaded, Install, and enter the "
	       "password.</li><li>Settings, Mail, Accounts, your account, Account, Advanced: "
	       "turn on S/MIME, Sign and Encrypt by Default.</li></ol></details>\n"
	       "<details><summary>Android</summary><ol><li>Settings, Security, Encryption &amp; "
	       "credentials, Install a certificate, VPN &amp; app user certificate: choose the "
	       "file and enter the password.</li><li>In your mail app's account settings, "
	       "choose the certificate for signing and encryption.</li></ol></details>\n"
	       "</section>\n");
}

void page_home(portal_req *r)
{
	p11e_record rec;
	p11e_err err;
	p11e_sbuf b = {0};
	int done, revoked;

	if (r->user[0] == '\0') {
		page_signin(r, r->cert_problem[0] ? 401 : 200,
			    r->cert_problem[0] ? r->cert_problem : NULL);
		return;
	}
	page_start(r, &b, "Your certificate");
	p11e_sbuf_str(&b, "<p>Signed in as <strong>");
	page_text(&b, r->user);
	p11e_sbuf_str(&b, "</strong>");
	p11e_sbuf_str(&b, r->auth != NULL && strcmp(r->auth, "code") == 0
			      ? " with an invitation code.</p>\n"
			      : " with your certificate.</p>\n");
	if (r->auth != NULL && strcmp(r->auth, "code") == 0)
		session_note(r, &b);
	if (p11e_record_load(r->p->cfg->store, r->user, &rec, &err) != P11E_OK ||
	    rec.retired != NULL) {
		p11e_record_clear(&rec); /* zeroed by a failed load */
		p11e_sbuf_str(&b, "<p id=\"none\">You have no certificate yet.</p>\n");
		page_request_form(r, &b, NULL);
		page_send(r, &b, 200);
		return;
	}
	done = rec.step == P11E_STEP_DONE;
	revoked = rec.revoked_reason != NULL;
	status_section(r, &b, &rec);
	if (revoked && done) {
		p11e_sbuf_str(&b, "<section aria-labelledby=\"h-new\"><h2 id=\"h-new\">A new "
				  "certificate</h2>\n<p>Your revoked certificate no longer works. "
				  "Request a new one: it comes with a new key and password.</p>\n");
		page_request_form(r, &b, rec.profile);
		p11e_sbuf_str(&b, "</section>\n");
	} else if (rec.cert_pem != NULL) {
		download_section(r, &b, &rec);
	}
	/* Only where a renewal would be done: a card's key is renewed at the
	 * station, never here. */
	if (!revoked && portal_renewable(&rec) && done && portal_renewal_due(r, &rec))
		renew_section(r, &b, &rec);
	if (!revoked && page_software(&rec) && done)
		install_section(&b);
	if (!revoked && page_software(&rec) && done)
		lost_section(&b, &rec);
	if (!page_software(&rec) && rec.token_serial != NULL)
		card_section(&b);
	history_section(&b, &rec);
	p11e_record_clear(&rec);
	page_send(r, &b, 200);
}
