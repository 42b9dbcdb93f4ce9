/* Cross-site requests refused before any handler runs: every state-changing
 * request (any method but GET and HEAD) that a browser sends on behalf of
 * another site says so in Origin or Sec-Fetch-Site, and is answered 403
 * whatever its route, signed in or not, so the sign-in, the sign-out and
 * every form share one rule (docs/portal.md, CSRF). The CSRF tokens stay:
 * they also hold for a browser that sends neither header. */
#include <stdio.h>
#include <event2/http.h>
#include "portal_int.h"

int portal_origin_check(portal_req *r)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(r->req);
	const char *origin, *site;
	char msg[200];

	if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)
		return 1;
	origin = portal_header(r, "Origin");
	site = portal_header(r, "Sec-Fetch-Site");
	if (p11e_portal_origin_ok(origin, portal_header(r, "Host"), site))
		return 1;
	snprintf(msg, sizeof(msg),
		 "cross-site request refused (Origin: %.60s, Sec-Fetch-Site: %.20s): use the "
		 "portal's own pages",
		 origin ? origin : "-", site ? site : "-");
	portal_send_error(r, 403, msg);
	return 0;
}
