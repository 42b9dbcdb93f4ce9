/* POST /api/v1/identities/ID/revoke (docs/portal.md): the signed-in user
 * revokes their own software certificate (reason keyCompromise), with the
 * X-CSRF-Token of GET /api/v1/me and the body {"confirm": "revoke"}, so
 * that no request revokes by accident. Answers the revoked generation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "p11enroll/record.h"
#include "portal_int.h"

void portal_api_revoke(portal_req *r, const char *id)
{
	static const char *const keys[] = {"confirm", NULL};
	char *vals[1] = {NULL}, *body = NULL, msg[200];
	size_t len = 0;
	p11e_record rec, now;
	p11e_err err = {0};
	json_object *doc;
	int status;

	if (portal_own_record(r, id, &rec) != 0)
		return;
	if (!portal_csrf_ok(r, portal_header(r, "X-CSRF-Token"))) {
		portal_send_error(r, 403,
				  "bad or missing X-CSRF-Token: take \"csrf\" from GET /api/v1/me");
		goto out;
	}
	body = portal_body(r, 8192, &len);
	if (p11e_portal_json_strings(body, len, keys, vals, &err) != P11E_OK || vals[0] == NULL ||
	    strcmp(vals[0], "revoke") != 0) {
		portal_send_error(r, 400,
				  err.rc != P11E_OK ? err.msg
						    : "send {\"confirm\": \"revoke\"} to revoke");
		goto out;
	}
	if ((status = portal_revoke_identity(r, &rec, msg, sizeof(msg))) != 200) {
		portal_send_error(r, status, msg);
		goto out;
	}
	if (p11e_record_load(r->p->cfg->store, rec.identity, &now, &err) != P11E_OK) {
		p11e_record_clear(&now);
		portal_send_error(r, 500, "revoked, but your record cannot be read now");
		goto out;
	}
	doc = json_object_new_object();
	json_object_object_add(doc, "identity", json_object_new_string(now.identity));
	json_object_object_add(doc, "generation",
			       json_object_new_int(p11e_record_generation(&rec)));
	json_object_object_add(doc, "reason", json_object_new_string("keyCompromise"));
	json_object_object_add(doc, "revoked_at",
			       now.revoked_at ? json_object_new_string(now.revoked_at) : NULL);
	portal_send_json(r, 200, doc);
	json_object_put(doc);
	p11e_record_clear(&now);
out:
	free(vals[0]);
	free(body);
	p11e_record_clear(&rec);
}
