/* "Your cards" (GET /cards): the cards the signed-in user's identity is on,
 * each with its state in plain words; and "I lost my card": the
 * confirmation (GET /cards/SERIAL/lost, a form that POSTs: a box to tick
 * and an optional note) and the report (its POST: the CSRF token, the
 * ticked box). The work is portal_ops_cards.c's, as for the API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/card.h"
#include "portal_page.h"

/* A card's state in plain words, and its badge's class. */
static const char *card_words(const char *state, const char **css)
{
	static const struct {
		const char *state, *words, *css;
	} words[] = {
	    {"issued", "In use", "ok"},
	    {"suspended", "Suspended: it does not work for now", "wait"},
	    {"lost", "Reported lost: it does not work", "bad"},
	    {"damaged", "Damaged: it does not work", "bad"},
	    {"terminated", "Withdrawn: it does not work any more", "bad"},
	    {"in-stock", "Not handed out yet", "wait"},
	};

	for (size_t i = 0; state != NULL && i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(words[i].state, state) == 0) {
			*css = words[i].css;
			return words[i].words;
		}
	*css = "wait";
	return "Not known to the card registry";
}

static const char *member(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : NULL;
}

/* One card: its name, its state as a badge, the facts, and the way to
 * report it lost while it can be. A section, not a table row: it fits a
 * phone's width. */
static void card_section(p11e_sbuf *b, json_object *card, size_t i)
{
	const char *state = member(card, "state"), *label = member(card, "label"), *css;
	const char *words = card_words(state, &css);
	int lostable =
	    state != NULL && (strcmp(state, "issued") == 0 || strcmp(state, "suspended") == 0);
	char head[96];

	snprintf(head, sizeof(head),
		 "<section aria-labelledby=\"h-card-%zu\"><h2 id=\"h-card-%zu\">", i, i);
	p11e_sbuf_str(b, head);
	if (label != NULL && label[0] != '\0') {
		p11e_sbuf_str(b, "Card ");
		page_text(b, label);
	} else {
		p11e_sbuf_str(b, "Your card");
	}
	p11e_sbuf_str(b, "</h2>\n<p><span class=\"badge ");
	p11e_sbuf_str(b, css);
	p11e_sbuf_str(b, "\" data-state=\"");
	page_text(b, state != NULL ? state : "");
	p11e_sbuf_str(b, "\">");
	page_text(b, words);
	p11e_sbuf_str(b, "</span></p>\n<dl class=\"facts\"><dt>Serial number</dt><dd>");
	page_text(b, member(card, "serial"));
	p11e_sbuf_str(b, "</dd><dt>Since</dt><dd>");
	page_date_only(b, member(card, "since"));
	p11e_sbuf_str(b, "</dd></dl>\n");
	if (lostable) {
		p11e_sbuf_str(b, "<p><a class=\"button danger\" href=\"/cards/");
		page_url_segment(b, member(card, "serial"));
		p11e_sbuf_str(b, "/lost\">Report this card lost</a></p>\n");
	}
	p11e_sbuf_str(b, "</section>\n");
}

void page_cards(portal_req *r)
{
	json_object *cards = NULL;
	p11e_sbuf b = {0};
	size_t n;

	if (r->user[0] == '\0') {
		page_signin(r, 401, "Please sign in first.");
		return;
	}
	portal_user_cards(r, &cards);
	n = json_object_array_length(cards);
	page_start(r, &b, "Your cards");
	if (n == 0) {
		p11e_sbuf_str(&b, "<p id=\"no-cards\">No card holds your certificate. If you have "
				  "a card and it is not shown here, ask ");
		page_help_contact(r, &b);
		p11e_sbuf_str(&b, ".</p>\n");
	} else {
		p11e_sbuf_str(&b, "<p>The card your certificate is on, and whether it works.</p>\n"
				  "<div id=\"cards\">\n");
		for (size_t i = 0; i < n; i++)
			card_section(&b, json_object_array_get_idx(cards, i), i);
		p11e_sbuf_str(&b, "</div>\n<p class=\"hint\">A card that is suspended "
				  "or reported lost can work again: ask ");
		page_help_contact(r, &b);
		p11e_sbuf_str(&b, ".</p>\n");
	}
	json_object_put(cards);
	page_back(&b);
	page_send(r, &b, 200);
}

void page_card_lost_confirm(portal_req *r, const char *serial)
{
	p11e_sbuf b = {0};
	char msg[200];
	int status;

	if (r->user[0] == '\0') {
		page_signin(r, 401, "Please sign in first.");
		return;
	}
	if ((status = portal_card_lostable(r, serial, msg, sizeof(msg))) != 0) {
		portal_page_error(r, status, msg);
		return;
	}
	page_start(r, &b, "Report my card lost");
	p11e_sbuf_str(&b, "<p>Do this as soon as you miss your card (serial number ");
	page_text(&b, serial);
	p11e_sbuf_str(&b, ").</p>\n<ul><li>Your card stops working at once: its certificates "
			  "are put on hold, so nobody can sign in or sign with it.</li><li>The "
			  "help desk is told, and helps you on: a temporary card, or a new "
			  "one.</li><li>If you find it again, the help desk can make it work "
			  "again.</li></ul>\n<form method=\"post\" action=\"/cards/");
	page_url_segment(&b, serial);
	p11e_sbuf_str(&b, "/lost\">");
	page_csrf_field(&b, r);
	p11e_sbuf_str(&b, "<p><label for=\"reason\">Where and when did you last have it? "
			  "(optional)</label><br><input type=\"text\" id=\"reason\" "
			  "name=\"reason\" maxlength=\"200\"></p>\n"
			  "<p class=\"check\"><input type=\"checkbox\" id=\"confirm\" "
			  "name=\"confirm\" value=\"lost\" required> <label for=\"confirm\">Yes, "
			  "my card is lost</label></p>\n<p class=\"actions\"><button "
			  "id=\"lost-confirm\" class=\"danger\" type=\"submit\">Report my card "
			  "lost</button> <a href=\"/cards\">Cancel</a></p></form>\n");
	page_send(r, &b, 200);
}

void page_card_lost(portal_req *r, const char *serial)
{
	char confirm[16], reason[PORTAL_CARD_REASON_MAX + 1] = "", *body = NULL, msg[200];
	size_t len = 0;
	p11e_sbuf b = {0};
	int ticked, reason_ok, status, already = 0;

	if (!page_form_ok(r, &body, &len))
		return;
	ticked = p11e_portal_form_value(body, len, "confirm", confirm, sizeof(confirm)) == 1 &&
		 strcmp(confirm, "lost") == 0;
	reason_ok = p11e_portal_form_value(body, len, "reason", reason, sizeof(reason)) >= 0 &&
		    portal_card_reason_ok(reason);
	free(body);
	if ((status = portal_own_card(r, serial, msg, sizeof(msg))) != 0) {
		portal_page_error(r, status, msg);
		return;
	}
	if (!ticked) {
		portal_page_error(r, 400,
				  "nothing was reported: tick the box that confirms it, then press "
				  "the button");
		return;
	}
	if (!reason_ok) {
		portal_page_error(r, 400,
				  "nothing was reported: the note is at most 200 characters on "
				  "one line");
		return;
	}
	status = portal_report_card_lost(r, serial, reason, &already, msg, sizeof(msg));
	if (status != 200) {
		portal_page_error(r, status, msg);
		return;
	}
	page_start(r, &b,
		   already ? "Your card was already reported lost" : "Your card is reported lost");
	p11e_sbuf_str(&b, already ? "<p role=\"status\" id=\"already\">Your card was already "
				    "reported lost: nothing more to do here.</p>\n"
				  : "<p role=\"status\" id=\"reported\">Reported: your card does "
				    "not work any more, and the help desk is told.</p>\n");
	p11e_sbuf_str(&b, "<p>For a temporary card or a new one, or if you find your card "
			  "again, ask ");
	page_help_contact(r, &b);
	p11e_sbuf_str(&b, ".</p>\n<p><a href=\"/cards\">Your cards</a></p>\n");
	page_back(&b);
	page_send(r, &b, 200);
}
