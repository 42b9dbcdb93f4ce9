/* What the portal's page files share (portal_page_*.c, portal_html.c): the
 * frame every page has (organisation, logo, sign-out, help contact), HTML
 * escaping and plain-words helpers. Not public. */
#ifndef P11ENROLL_PORTAL_PAGE_H
#define P11ENROLL_PORTAL_PAGE_H

#include <time.h>
#include "p11enroll/record.h"
#include "p11enroll/sbuf.h"
#include "portal_int.h"

/* s with <, >, &, " and ' escaped. */
void page_text(p11e_sbuf *b, const char *s);
/* An identity as a URL path segment: unreserved characters and '@' as is. */
void page_url_segment(p11e_sbuf *b, const char *s);
/* The page's head, its header (logo, organisation; signed in: who and a
 * Sign out button) and <main> with the h1 title. */
void page_start(portal_req *r, p11e_sbuf *b, const char *title);
/* Closes <main>, adds the footer (help contact) and sends b (freed). */
void page_send(portal_req *r, p11e_sbuf *b, int code);
void page_csrf_field(p11e_sbuf *b, const portal_req *r);
/* The help contact as the footer shows it: a mailto: or https: link, else
 * text; "your IT help desk" when portal.help_contact is unset. */
void page_help_contact(portal_req *r, p11e_sbuf *b);
/* An ISO 8601 time as "7 December 2027 (in 365 days)" against p11e_now();
 * "-" when absent or unreadable. */
void page_date(p11e_sbuf *b, const char *iso);
/* The same without "(in N days)": for certificates no longer in use. */
void page_date_only(p11e_sbuf *b, const char *iso);
/* Where a record stands, in plain words: "Ready", "Waiting for the
 * certificate authority", "Revoked", ... and a CSS class for its badge. */
const char *page_state_words(const p11e_record *rec, const char **css_class);
/* A record's key is software (a PFX the user downloads). */
int page_software(const p11e_record *rec);
/* The request form: profiles offered (none: nothing); only, when not NULL,
 * that one profile (a new certificate after a revoked one). */
void page_request_form(portal_req *r, p11e_sbuf *b, const char *only);
/* "Show me my password": a POST, so the password is never in a URL. */
void page_password_form(portal_req *r, p11e_sbuf *b, const char *identity);
/* The form's CSRF token checked: 1, else the answer is sent (a sign-in
 * page when nobody is signed in, 403 for a missing or wrong token). bodyp
 * and lenp, when not NULL, get the body (free it). portal_html.c. */
int page_form_ok(portal_req *r, char **bodyp, size_t *lenp);
/* A "Back to your certificate" link. */
void page_back(p11e_sbuf *b);

/* portal_page_home.c */
void page_home(portal_req *r);
void page_signin(portal_req *r, int code, const char *problem);
/* portal_page_revoke.c */
void page_revoke_confirm(portal_req *r, const char *id);
void page_revoke(portal_req *r, const char *id);
void page_ca_chain(portal_req *r);
/* portal_page_cards.c: "Your cards", and "I lost my card" (the
 * confirmation, GET; the report, POST). */
void page_cards(portal_req *r);
void page_card_lost_confirm(portal_req *r, const char *serial);
void page_card_lost(portal_req *r, const char *serial);
/* portal_static.c */
void portal_static(portal_req *r, p11e_portal_route route);

#endif
