/* The frame of every portal page and the helpers the page files share
 * (portal_page.h): escaping, the header with the organisation's name and
 * logo, the footer with the help contact, dates and states in plain words,
 * and the HTML error pages. No inline script or style: the stylesheet and
 * the small script are the portal's own (/static/, portal_static.c), so CSP
 * default-src 'self' holds. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/clock.h"
#include "portal_page.h"

void page_text(p11e_sbuf *b, const char *s)
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

void page_url_segment(p11e_sbuf *b, const char *s)
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

void page_csrf_field(p11e_sbuf *b, const portal_req *r)
{
	p11e_sbuf_str(b, "<input type=\"hidden\" name=\"csrf\" value=\"");
	page_text(b, r->csrf);
	p11e_sbuf_str(b, "\">");
}

void page_start(portal_req *r, p11e_sbuf *b, const char *title)
{
	const p11e_portal_conf *c = r->p->conf;

	p11e_sbuf_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			 "<meta name=\"viewport\" content=\"width=device-width, "
			 "initial-scale=1\"><title>");
	page_text(b, title);
	p11e_sbuf_str(b, " - ");
	page_text(b, c->organisation ? c->organisation : "Certificates");
	p11e_sbuf_str(b, "</title><link rel=\"stylesheet\" href=\"/static/portal.css\">"
			 "<script src=\"/static/portal.js\" defer></script></head>\n"
			 "<body><header class=\"top\"><div class=\"brand\">");
	/* The name beside it says the same: the logo is decoration (alt ""). */
	if (c->logo_data != NULL)
		p11e_sbuf_str(b, "<img class=\"logo\" src=\"/static/logo\" alt=\"\">");
	if (c->organisation != NULL) {
		p11e_sbuf_str(b, "<span class=\"org\">");
		page_text(b, c->organisation);
		p11e_sbuf_str(b, "</span> ");
	}
	p11e_sbuf_str(b, "<span class=\"app\">Certificates</span></div>");
	if (r->user[0] != '\0') {
		p11e_sbuf_str(b, "<div class=\"who\"><span class=\"user\">");
		page_text(b, r->user);
		p11e_sbuf_str(b, "</span>");
		/* A certificate signs its holder in again on the next request:
		 * only a code's session can end here. */
		if (r->auth != NULL && strcmp(r->auth, "code") == 0) {
			p11e_sbuf_str(b, "<form method=\"post\" action=\"/signout\">");
			page_csrf_field(b, r);
			p11e_sbuf_str(b, "<button id=\"sign-out\" class=\"quiet\" "
					 "type=\"submit\">Sign out</button></form>");
		}
		p11e_sbuf_str(b, "</div>");
	}
	p11e_sbuf_str(b, "</header>\n<main id=\"main\"><h1>");
	page_text(b, title);
	p11e_sbuf_str(b, "</h1>\n");
}

void page_help_contact(portal_req *r, p11e_sbuf *b)
{
	const char *h = r->p->conf->help_contact;

	if (h == NULL) {
		p11e_sbuf_str(b, "your IT help desk");
	} else if (strncmp(h, "https://", 8) == 0 || strncmp(h, "http://", 7) == 0) {
		p11e_sbuf_str(b, "<a href=\"");
		page_text(b, h);
		p11e_sbuf_str(b, "\">");
		page_text(b, h);
		p11e_sbuf_str(b, "</a>");
	} else if (strchr(h, '@') != NULL && strpbrk(h, " :<>\"'") == NULL) {
		p11e_sbuf_str(b, "<a href=\"mailto:");
		page_text(b, h);
		p11e_sbuf_str(b, "\">");
		page_text(b, h);
		p11e_sbuf_str(b, "</a>");
	} else {
		page_text(b, h);
	}
}

void page_send(portal_req *r, p11e_sbuf *b, int code)
{
	p11e_sbuf_str(b, "</main>\n<footer class=\"foot\"><p>Questions or problems? Contact ");
	page_help_contact(r, b);
	p11e_sbuf_str(b, ".</p></footer></body></html>\n");
	if (b->failed)
		portal_send(r, 500, "text/plain; charset=utf-8", "out of memory\n", 14, NULL, NULL);
	else
		portal_send(r, code, "text/html; charset=utf-8", b->p, b->len, NULL, NULL);
	p11e_sbuf_free(b);
}

static void date_words(p11e_sbuf *b, const char *iso, int relative)
{
	static const char *const months[] = {"January",	  "February", "March",	  "April",
					     "May",	  "June",     "July",	  "August",
					     "September", "October",  "November", "December"};
	time_t t = iso != NULL ? p11e_iso_parse(iso) : -1;
	char line[96];
	struct tm tm;
	long diff, days;

	if (t < 0 || gmtime_r(&t, &tm) == NULL) {
		p11e_sbuf_str(b, "-");
		return;
	}
	diff = (long)(t - p11e_now());
	/* To the nearest day: a certificate issued a moment ago for 365 days
	 * is "in 365 days", not 364. */
	days = (labs(diff) + 43200) / 86400;
	if (!relative)
		snprintf(line, sizeof(line), "%d %s %d", tm.tm_mday, months[tm.tm_mon],
			 tm.tm_year + 1900);
	else if (days == 0)
		snprintf(line, sizeof(line), "%d %s %d (today)", tm.tm_mday, months[tm.tm_mon],
			 tm.tm_year + 1900);
	else
		snprintf(line, sizeof(line), "%d %s %d (%s%ld day%s%s)", tm.tm_mday,
			 months[tm.tm_mon], tm.tm_year + 1900, diff > 0 ? "in " : "", days,
			 days == 1 ? "" : "s", diff > 0 ? "" : " ago");
	p11e_sbuf_str(b, line);
}

void page_date(p11e_sbuf *b, const char *iso)
{
	date_words(b, iso, 1);
}

void page_date_only(p11e_sbuf *b, const char *iso)
{
	date_words(b, iso, 0);
}

int page_software(const p11e_record *rec)
{
	return rec->key_store != NULL && strcmp(rec->key_store, "software") == 0;
}

const char *page_state_words(const p11e_record *rec, const char **css_class)
{
	time_t exp = rec->not_after ? p11e_iso_parse(rec->not_after) : -1;

	*css_class = "wait";
	if (rec->revoked_reason != NULL) {
		*css_class = "bad";
		return "Revoked";
	}
	if (rec->step == P11E_STEP_DONE) {
		if (exp >= 0 && exp <= p11e_now()) {
			*css_class = "bad";
			return "Expired";
		}
		*css_class = "ok";
		return "Ready";
	}
	/* The request goes to the CA once its CSR is built. */
	if (rec->step == P11E_STEP_CSR_BUILT || rec->step == P11E_STEP_SUBMITTED)
		return "Waiting for the certificate authority";
	if (rec->step > P11E_STEP_SUBMITTED)
		return "Almost ready";
	return "Being prepared";
}

void page_request_form(portal_req *r, p11e_sbuf *b, const char *only)
{
	char *const *profiles = r->p->conf->profiles;

	if (profiles[0] == NULL) {
		p11e_sbuf_str(b, "<p>Certificates are not requested here: ask ");
		page_help_contact(r, b);
		p11e_sbuf_str(b, ".</p>\n");
		return;
	}
	p11e_sbuf_str(b, "<form method=\"post\" action=\"/identities\">");
	page_csrf_field(b, r);
	if (only != NULL) {
		p11e_sbuf_str(b, "<input type=\"hidden\" name=\"profile\" value=\"");
		page_text(b, only);
		p11e_sbuf_str(b, "\"><p><button id=\"request\" type=\"submit\">Request a new "
				 "certificate</button></p></form>\n");
		return;
	}
	p11e_sbuf_str(b, "<p><label for=\"profile\">Kind of certificate</label><br>"
			 "<select id=\"profile\" name=\"profile\">");
	for (size_t i = 0; profiles[i] != NULL; i++) {
		p11e_sbuf_str(b, "<option>");
		page_text(b, profiles[i]);
		p11e_sbuf_str(b, "</option>");
	}
	p11e_sbuf_str(b, "</select></p>\n<p><button id=\"request\" type=\"submit\">Request my "
			 "certificate</button></p></form>\n");
}

void page_password_form(portal_req *r, p11e_sbuf *b, const char *identity)
{
	p11e_sbuf_str(b, "<form method=\"post\" action=\"/identities/");
	page_url_segment(b, identity);
	p11e_sbuf_str(b, "/password\">");
	page_csrf_field(b, r);
	p11e_sbuf_str(b, "<button id=\"show-password\" type=\"submit\">Show me my "
			 "password</button></form>\n");
}

void page_back(p11e_sbuf *b)
{
	p11e_sbuf_str(b, "<p><a href=\"/\">Back to your certificate</a></p>\n");
}

static const char *error_title(int code)
{
	switch (code) {
	case 400:
		return "Something in the form was wrong";
	case 401:
		return "Please sign in";
	case 403:
		return "Not allowed";
	case 404:
		return "Page not found";
	case 405:
		return "Not possible this way";
	case 409:
		return "Not possible right now";
	case 413:
		return "Too much data";
	case 429:
		return "Too many tries";
	default:
		return "Something went wrong";
	}
}

void portal_page_error(portal_req *r, int code, const char *msg)
{
	p11e_sbuf b = {0};
	char first[2] = {0, 0};
	size_t n = msg ? strlen(msg) : 0;

	page_start(r, &b, error_title(code));
	p11e_sbuf_str(&b, "<p role=\"alert\">");
	if (n > 0) {
		/* The API's messages are clauses: a sentence on a page. */
		first[0] = (char)toupper((unsigned char)msg[0]);
		p11e_sbuf_str(&b, first);
		page_text(&b, msg + 1);
		if (strchr(".!?", msg[n - 1]) == NULL)
			p11e_sbuf_str(&b, ".");
	}
	p11e_sbuf_str(&b, "</p>\n<p><a href=\"/\">Go to the start page</a></p>\n");
	page_send(r, &b, code);
}

void portal_not_found(portal_req *r, const char *path)
{
	if (path != NULL && strncmp(path, "/api/", 5) == 0) {
		r->html = 0;
		portal_send_error(r, 404, "no such page");
		return;
	}
	r->html = 1;
	portal_page_error(r, 404, "there is no page at this address");
}
