/* Fuzz harness: the portal's request parsers (src/portal/portal_parse.c),
 * which read what any TLS client sends: the URL path, the query string or
 * form body, the Cookie header, a JSON body (duplicate members included),
 * the Content-Type, Origin, Host and Sec-Fetch-Site headers. Each input is
 * tried as every one of them; the headers also as the input split at its
 * first and second newline. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/portal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"email", "code", "profile", NULL};
	char *text = malloc(size + 1), id[P11E_PORTAL_ID_MAX], v[64], *vals[3];
	p11e_err err;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	p11e_portal_route_parse(text, id);
	p11e_portal_form_value(text, size, "format", v, sizeof(v));
	p11e_portal_form_value(text, size, "csrf", v, 1);
	p11e_portal_cookie_value(text, "p11e_session", v, sizeof(v));
	p11e_portal_json_strings(text, size, keys, vals, &err);
	for (size_t i = 0; i < 3; i++)
		free(vals[i]);
	p11e_portal_json_media_type(text);
	p11e_portal_origin_ok(text, text, text);
	p11e_portal_origin_ok(text, "127.0.0.1:8443", NULL);
	p11e_portal_origin_ok("https://127.0.0.1:8443", text, "same-origin");
	{
		/* "ORIGIN\nHOST\nSITE": three headers at once. */
		char *host = strchr(text, '\n'), *site = NULL;

		if (host != NULL) {
			*host++ = '\0';
			if ((site = strchr(host, '\n')) != NULL)
				*site++ = '\0';
			p11e_portal_origin_ok(text, host, site);
		}
	}
	free(text);
	return 0;
}
