/* The cards in the JSON API (docs/portal.md): GET /api/v1/cards, the
 * signed-in user's cards and their states; POST /api/v1/cards/SERIAL/lost
 * with the X-CSRF-Token of GET /api/v1/me and the body {"confirm": "lost",
 * "reason": "..."} ("reason" optional), so that no request reports a card
 * lost by accident. The work is portal_ops_cards.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/portal.h"
#include "p11enroll/record.h"
#include "portal_int.h"

void portal_api_cards(portal_req *r)
{
	json_object *doc, *cards = NULL;
	p11e_record none;

	if (r->user[0] == '\0') {
		portal_own_record(r, "", &none); /* answers 401 */
		return;
	}
	portal_user_cards(r, &cards);
	doc = json_object_new_object();
	json_object_object_add(doc, "user", json_object_new_string(r->user));
	json_object_object_add(doc, "cards", cards);
	portal_send_json(r, 200, doc);
	json_object_put(doc);
}

void portal_api_card_lost(portal_req *r, const char *serial)
{
	static const char *const keys[] = {"confirm", "reason", NULL};
	char *vals[2] = {NULL, NULL}, *body = NULL, msg[200];
	size_t len = 0;
	p11e_record none;
	p11e_err err = {0};
	json_object *doc;
	int status, already = 0;

	if (r->user[0] == '\0') {
		portal_own_record(r, "", &none); /* answers 401 */
		return;
	}
	if (!portal_csrf_ok(r, portal_header(r, "X-CSRF-Token"))) {
		portal_send_error(r, 403,
				  "bad or missing X-CSRF-Token: take \"csrf\" from GET /api/v1/me");
		return;
	}
	if (!p11e_portal_json_media_type(portal_header(r, "Content-Type"))) {
		portal_send_error(r, 415, "Content-Type: send the body as application/json");
		return;
	}
	if ((body = portal_body(r, 8192, &len)) == NULL) {
		portal_send_error(r, 413, "request body: send one JSON object of at most 8 KiB");
		return;
	}
	if (p11e_portal_json_strings(body, len, keys, vals, &err) != P11E_OK || vals[0] == NULL ||
	    strcmp(vals[0], "lost") != 0) {
		portal_send_error(r, 400,
				  err.rc != P11E_OK ? err.msg
						    : "send {\"confirm\": \"lost\"} to report the "
						      "card lost");
		goto out;
	}
	if (!portal_card_reason_ok(vals[1])) {
		portal_send_error(r, 400, "reason: at most 200 characters on one line");
		goto out;
	}
	status = portal_report_card_lost(r, serial, vals[1], &already, msg, sizeof(msg));
	if (status != 200) {
		portal_send_error(r, status, msg);
		goto out;
	}
	doc = json_object_new_object();
	json_object_object_add(doc, "serial", json_object_new_string(serial));
	json_object_object_add(doc, "state", json_object_new_string("lost"));
	json_object_object_add(doc, "already", json_object_new_boolean(already));
	portal_send_json(r, 200, doc);
	json_object_put(doc);
out:
	free(vals[0]);
	free(vals[1]);
	free(body);
}
