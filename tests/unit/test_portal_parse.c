/* The portal's request parsers (src/portal/portal_parse.c): URL paths,
 * query strings and form bodies, cookies, JSON bodies: what a hostile
 * client may send, each with a verdict. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "p11enroll/portal.h"

static void test_routes(void)
{
	char id[P11E_PORTAL_ID_MAX];
	char longpath[600];

	CHECK(p11e_portal_route_parse("/", id) == P11E_ROUTE_PAGE_HOME);
	CHECK(p11e_portal_route_parse("/api/v1/me", id) == P11E_ROUTE_ME);
	CHECK(p11e_portal_route_parse("/identities", id) == P11E_ROUTE_PAGE_REQUEST);
	CHECK(p11e_portal_route_parse("/identities/", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/me/", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/session", id) == P11E_ROUTE_SESSION);
	CHECK(p11e_portal_route_parse("/signout", id) == P11E_ROUTE_PAGE_SIGNOUT);
	CHECK(p11e_portal_route_parse("/signout/", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/identities", id) == P11E_ROUTE_IDENTITIES);
	CHECK(p11e_portal_route_parse("/api/v1/identities/alice@example.com/certificate", id) ==
	      P11E_ROUTE_CERTIFICATE);
	CHECK(strcmp(id, "alice@example.com") == 0);
	CHECK(p11e_portal_route_parse("/api/v1/identities/alice%40example.com/pfx", id) ==
	      P11E_ROUTE_PFX);
	CHECK(strcmp(id, "alice@example.com") == 0);
	CHECK(p11e_portal_route_parse("/api/v1/identities/a@b.c/password", id) ==
	      P11E_ROUTE_PASSWORD);
	CHECK(p11e_portal_route_parse("/api/v1/identities/a@b.c/renew", id) == P11E_ROUTE_RENEW);
	CHECK(p11e_portal_route_parse("/identities/a@b.c/renew", id) == P11E_ROUTE_PAGE_RENEW);
	CHECK(p11e_portal_route_parse("/identities/a@b.c/password", id) ==
	      P11E_ROUTE_PAGE_PASSWORD);
	/* The cards (issue 23): the list, and the report of a lost one. */
	CHECK(p11e_portal_route_parse("/cards", id) == P11E_ROUTE_PAGE_CARDS);
	CHECK(p11e_portal_route_parse("/api/v1/cards", id) == P11E_ROUTE_CARDS);
	CHECK(p11e_portal_route_parse("/cards/435c0a44e104c888/lost", id) == P11E_ROUTE_PAGE_LOST);
	CHECK(strcmp(id, "435c0a44e104c888") == 0);
	CHECK(p11e_portal_route_parse("/api/v1/cards/435c/lost", id) == P11E_ROUTE_CARD_LOST);
	CHECK(strcmp(id, "435c") == 0);
	CHECK(p11e_portal_route_parse("/api/v1/cards/435c/found", id) == P11E_ROUTE_NONE);
	CHECK(id[0] == '\0');
	CHECK(p11e_portal_route_parse("/cards//lost", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/cards/a/lost/", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/cards/a%00/lost", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/cards/", id) == P11E_ROUTE_NONE);
	/* Pages have no certificate or pfx route of their own. */
	CHECK(p11e_portal_route_parse("/identities/a@b.c/pfx", id) == P11E_ROUTE_NONE);
	CHECK(id[0] == '\0');
	/* Smuggled separators, NULs, controls, bad escapes, empty IDs. */
	/* The raw path is split on '/' before decoding: "%2F" belongs to the ID
	 * (an address may hold a '/'), a raw '/' never does. */
	CHECK(p11e_portal_route_parse("/api/v1/identities/a%2Fb@example.com/pfx", id) ==
	      P11E_ROUTE_PFX);
	CHECK(strcmp(id, "a/b@example.com") == 0);
	CHECK(p11e_portal_route_parse("/identities/a%2fb@example.com/password", id) ==
	      P11E_ROUTE_PAGE_PASSWORD);
	CHECK(strcmp(id, "a/b@example.com") == 0);
	CHECK(p11e_portal_route_parse("/api/v1/identities/a/b@example.com/pfx", id) ==
	      P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/identities/%2F/pfx", id) == P11E_ROUTE_PFX);
	CHECK(strcmp(id, "/") == 0);
	CHECK(p11e_portal_route_parse("/api/v1/identities/a%00b/pfx", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/identities/a%0ab/pfx", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/identities/a%zzb/pfx", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/identities/a%4/pfx", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/identities/a%/pfx", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/identities//pfx", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/identities/x/pfx/", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/api/v1/identities/x/../y/pfx", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse(NULL, id) == P11E_ROUTE_NONE);
	/* The pages' own files and routes (issue 19). */
	CHECK(p11e_portal_route_parse("/identities/a@b.c/revoke", id) == P11E_ROUTE_PAGE_REVOKE &&
	      strcmp(id, "a@b.c") == 0);
	CHECK(p11e_portal_route_parse("/api/v1/identities/a@b.c/revoke", id) == P11E_ROUTE_REVOKE);
	CHECK(p11e_portal_route_parse("/ca-chain.pem", id) == P11E_ROUTE_PAGE_CA_CHAIN);
	CHECK(p11e_portal_route_parse("/static/portal.css", id) == P11E_ROUTE_STATIC_CSS);
	CHECK(p11e_portal_route_parse("/static/portal.js", id) == P11E_ROUTE_STATIC_JS);
	CHECK(p11e_portal_route_parse("/static/logo", id) == P11E_ROUTE_STATIC_LOGO);
	CHECK(p11e_portal_route_parse("/static/", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/static/../etc/passwd", id) == P11E_ROUTE_NONE);
	CHECK(p11e_portal_route_parse("/static/logo/", id) == P11E_ROUTE_NONE);
	memset(longpath, 0, sizeof(longpath));
	strcpy(longpath, "/api/v1/identities/");
	memset(longpath + strlen(longpath), 'a', 300);
	strcat(longpath, "/pfx");
	CHECK(p11e_portal_route_parse(longpath, id) == P11E_ROUTE_NONE);
}

static void test_forms(void)
{
	char v[32];
	const char *q = "format=p7b&x=1";

	CHECK(p11e_portal_form_value(q, strlen(q), "format", v, sizeof(v)) == 1);
	CHECK(strcmp(v, "p7b") == 0);
	CHECK(p11e_portal_form_value(q, strlen(q), "form", v, sizeof(v)) == 0);
	CHECK(p11e_portal_form_value(q, strlen(q), "x", v, sizeof(v)) == 1 && strcmp(v, "1") == 0);
	q = "email=a%40b.c&code=ab+cd&empty=&flag";
	CHECK(p11e_portal_form_value(q, strlen(q), "email", v, sizeof(v)) == 1);
	CHECK(strcmp(v, "a@b.c") == 0);
	CHECK(p11e_portal_form_value(q, strlen(q), "code", v, sizeof(v)) == 1);
	CHECK(strcmp(v, "ab cd") == 0);
	CHECK(p11e_portal_form_value(q, strlen(q), "empty", v, sizeof(v)) == 1 && v[0] == '\0');
	CHECK(p11e_portal_form_value(q, strlen(q), "flag", v, sizeof(v)) == 1 && v[0] == '\0');
	/* The length given counts, not a NUL: nothing read past it. */
	CHECK(p11e_portal_form_value(q, 5, "email", v, sizeof(v)) == 1 && v[0] == '\0');
	q = "a=%00";
	CHECK(p11e_portal_form_value(q, strlen(q), "a", v, sizeof(v)) == -1);
	q = "a=%4";
	CHECK(p11e_portal_form_value(q, strlen(q), "a", v, sizeof(v)) == -1);
	q = "a=0123456789012345678901234567890123456789";
	CHECK(p11e_portal_form_value(q, strlen(q), "a", v, sizeof(v)) == -1);
	CHECK(p11e_portal_form_value(NULL, 0, "a", v, sizeof(v)) == 0);
}

static void test_cookies(void)
{
	char v[64];

	CHECK(p11e_portal_cookie_value("p11e_session=abc-_09", "p11e_session", v, sizeof(v)) == 1);
	CHECK(strcmp(v, "abc-_09") == 0);
	CHECK(p11e_portal_cookie_value("x=1; p11e_session=Zz ; y=2", "p11e_session", v,
				       sizeof(v)) == 1);
	CHECK(strcmp(v, "Zz") == 0);
	CHECK(p11e_portal_cookie_value("xp11e_session=1", "p11e_session", v, sizeof(v)) == 0);
	CHECK(p11e_portal_cookie_value("p11e_session=a\"b", "p11e_session", v, sizeof(v)) == -1);
	CHECK(p11e_portal_cookie_value("p11e_session=a=b", "p11e_session", v, sizeof(v)) == -1);
	CHECK(p11e_portal_cookie_value("p11e_session=aaaa", "p11e_session", v, 4) == -1);
	CHECK(p11e_portal_cookie_value(NULL, "p11e_session", v, sizeof(v)) == 0);
	CHECK(p11e_portal_cookie_value(";;;", "p11e_session", v, sizeof(v)) == 0);
}

static void test_json(void)
{
	static const char *const keys[] = {"email", "code", NULL};
	char *vals[2];
	p11e_err err;
	const char *b;

	b = "{\"email\":\"a@b.c\",\"code\":\"xyz\"}";
	CHECK_RC(p11e_portal_json_strings(b, strlen(b), keys, vals, &err), P11E_OK, &err);
	CHECK(vals[0] != NULL && strcmp(vals[0], "a@b.c") == 0);
	CHECK(vals[1] != NULL && strcmp(vals[1], "xyz") == 0);
	free(vals[0]);
	free(vals[1]);
	b = "{\"email\":\"a@b.c\"}";
	CHECK_RC(p11e_portal_json_strings(b, strlen(b), keys, vals, &err), P11E_OK, &err);
	CHECK(vals[1] == NULL);
	free(vals[0]);
	const char *bad[] = {
	    "",
	    "[]",
	    "\"x\"",
	    "{\"email\":1}",
	    "{\"email\":null}",
	    "{\"other\":\"x\"}",
	    "{\"email\":\"a\"} trailing",
	    "{\"email\":\"a\\u0000b\"}",
	    "{\"email\":{\"deep\":{\"deeper\":{\"x\":{\"y\":{\"z\":{\"w\":{\"v\":{}}}}}}}}}",
	    "{\"email\":",
	    /* json-c keeps the last of two: "email" once, whatever the spelling. */
	    "{\"email\":\"a@b.c\",\"email\":\"evil@b.c\"}",
	    "{\"email\":\"a@b.c\",\"code\":\"x\",\"\\u0065mail\":\"evil@b.c\"}",
	    "{\"code\":\"x\",\"code\":\"x\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_RC(p11e_portal_json_strings(bad[i], strlen(bad[i]), keys, vals, &err),
			 P11E_USAGE, &err);
		free(vals[0]);
		free(vals[1]);
	}
	b = "{\"email\":\"a@b.c\",\"email\":\"evil@b.c\"}";
	p11e_portal_json_strings(b, strlen(b), keys, vals, &err);
	CHECK(strstr(err.msg, "'email' given twice") != NULL);
	CHECK(vals[0] == NULL && vals[1] == NULL);
	/* Exactly len bytes are read: the text after them does not count. */
	b = "{\"email\":\"a\"}GARBAGE";
	CHECK_RC(p11e_portal_json_strings(b, 13, keys, vals, &err), P11E_OK, &err);
	free(vals[0]);
	free(vals[1]);
}

static void test_media_type(void)
{
	CHECK(p11e_portal_json_media_type("application/json"));
	CHECK(p11e_portal_json_media_type("Application/JSON"));
	CHECK(p11e_portal_json_media_type("application/json; charset=utf-8"));
	CHECK(p11e_portal_json_media_type(" application/json ;charset=UTF-8"));
	CHECK(!p11e_portal_json_media_type(NULL));
	CHECK(!p11e_portal_json_media_type(""));
	CHECK(!p11e_portal_json_media_type("text/plain"));
	CHECK(!p11e_portal_json_media_type("text/plain; application/json"));
	CHECK(!p11e_portal_json_media_type("application/x-www-form-urlencoded"));
	CHECK(!p11e_portal_json_media_type("multipart/form-data; boundary=x"));
	CHECK(!p11e_portal_json_media_type("application/jsonx"));
	CHECK(!p11e_portal_json_media_type("application/json-patch+json"));
	CHECK(!p11e_portal_json_media_type("application/json x"));
}

static void test_origin(void)
{
	const char *h = "127.0.0.1:8443";

	/* No browser headers (curl, scripts): the CSRF token decides. */
	CHECK(p11e_portal_origin_ok(NULL, h, NULL));
	CHECK(p11e_portal_origin_ok(NULL, NULL, NULL));
	/* The portal's own page. */
	CHECK(p11e_portal_origin_ok("https://127.0.0.1:8443", h, "same-origin"));
	CHECK(p11e_portal_origin_ok("https://127.0.0.1:8443", h, NULL));
	CHECK(p11e_portal_origin_ok("https://Portal.Example.com", "portal.example.com", NULL));
	CHECK(p11e_portal_origin_ok("https://portal.example.com", "portal.example.com:443", NULL));
	CHECK(p11e_portal_origin_ok("https://[::1]:8443", "[::1]:8443", NULL));
	CHECK(p11e_portal_origin_ok(NULL, h, "none"));
	CHECK(p11e_portal_origin_ok(NULL, h, "same-origin"));
	/* Another site, another origin of the same site, plain http, another
	 * port, a look-alike. */
	CHECK(!p11e_portal_origin_ok("https://evil.example", h, NULL));
	CHECK(!p11e_portal_origin_ok("https://evil.example", h, "cross-site"));
	CHECK(!p11e_portal_origin_ok(NULL, h, "cross-site"));
	CHECK(!p11e_portal_origin_ok(NULL, h, "same-site"));
	CHECK(!p11e_portal_origin_ok("https://127.0.0.1:8443", h, "same-site"));
	CHECK(!p11e_portal_origin_ok("https://127.0.0.1:8443", h, "cross-site"));
	CHECK(!p11e_portal_origin_ok("http://127.0.0.1:8443", h, NULL));
	CHECK(!p11e_portal_origin_ok("https://127.0.0.1:8444", h, NULL));
	CHECK(!p11e_portal_origin_ok("https://127.0.0.1", h, NULL));
	CHECK(!p11e_portal_origin_ok("https://127.0.0.1:8443.evil.example", h, NULL));
	CHECK(!p11e_portal_origin_ok("https://127.0.0.1:8443/", h, NULL));
	CHECK(!p11e_portal_origin_ok("https://", "", NULL));
	CHECK(!p11e_portal_origin_ok("https://127.0.0.1:8443", NULL, NULL));
	CHECK(!p11e_portal_origin_ok("", h, NULL));
	/* "null": believed only where the browser also says same-origin. */
	CHECK(p11e_portal_origin_ok("null", h, "same-origin"));
	CHECK(!p11e_portal_origin_ok("null", h, NULL));
	CHECK(!p11e_portal_origin_ok("null", h, "cross-site"));
	CHECK(!p11e_portal_origin_ok("null", h, "none"));
}

int main(void)
{
	test_routes();
	test_forms();
	test_cookies();
	test_json();
	test_media_type();
	test_origin();
	return check_done();
}
