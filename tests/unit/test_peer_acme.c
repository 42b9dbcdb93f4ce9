/* Hostile answers from an ACME server, fed to its parsers (ca_acme_parse.c)
 * without a server: wrong types, nulls, missing members, huge numbers,
 * escapes. Every one must give a clear "malformed" or "not an object",
 * never a crash. tests/integration/hostile_ca.sh sends some of them through
 * the binary. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "ca/ca_acme.h"

#define LEN(s) s, strlen(s)

static void directory(void)
{
	json_object *d;

	d = acme_parse_directory(LEN("{\"newNonce\":\"https://a/n\",\"newAccount\":\"https://a/a\","
				     "\"newOrder\":\"https://a/o\",\"meta\":{\"termsOfService\":"
				     "\"https://a/tos\",\"externalAccountRequired\":false}}"));
	CHECK(d != NULL);
	json_object_put(d);
	CHECK(acme_parse_directory(LEN("{\"newNonce\":1,\"newAccount\":\"https://a/a\","
				       "\"newOrder\":\"https://a/o\"}")) == NULL);
	CHECK(acme_parse_directory(LEN("{\"newNonce\":\"javascript:x\",\"newAccount\":"
				       "\"https://a/a\",\"newOrder\":\"https://a/o\"}")) == NULL);
	CHECK(acme_parse_directory(LEN("{\"newNonce\":\"https://a/n\",\"newAccount\":"
				       "\"https://a/a\",\"newOrder\":\"https://a/o\","
				       "\"meta\":[]}")) == NULL);
	/* "externalAccountRequired":"false" would have read as true. */
	CHECK(acme_parse_directory(LEN("{\"newNonce\":\"https://a/n\",\"newAccount\":"
				       "\"https://a/a\",\"newOrder\":\"https://a/o\",\"meta\":"
				       "{\"externalAccountRequired\":\"false\"}}")) == NULL);
	CHECK(acme_parse_directory(LEN("[]")) == NULL);
	CHECK(acme_parse_directory(LEN("")) == NULL);
}

static void account(void)
{
	char st[32];

	CHECK(acme_parse_account(LEN("{\"status\":\"deactivated\"}"), st, sizeof(st)) == 0 &&
	      strcmp(st, "deactivated") == 0);
	CHECK(acme_parse_account(LEN("{\"status\":7}"), st, sizeof(st)) == 0 && st[0] == '\0');
	CHECK(acme_parse_account(LEN("7"), st, sizeof(st)) == -1);
}

static void problem(void)
{
	char buf[200];

	CHECK(acme_parse_problem(LEN("{\"type\":\"urn:ietf:params:acme:error:malformed\","
				     "\"detail\":\"bad \\u001b[31mred\\n\",\"subproblems\":"
				     "[null,1,{\"identifier\":5,\"type\":[]}]}"),
				 buf, sizeof(buf)) == 1);
	CHECK(strchr(buf, 0x1b) == NULL && strchr(buf, '\n') == NULL);
	CHECK(strncmp(buf, "urn:ietf:params:acme:error:malformed: bad ?[31mred ", 51) == 0);
	CHECK(acme_parse_problem(LEN("{\"type\":1}"), buf, sizeof(buf)) == 0 && buf[0] == '\0');
	CHECK(acme_parse_problem(LEN("{\"type\":\"t\",\"subproblems\":{}}"), buf, sizeof(buf)) ==
	      1);
	CHECK(strcmp(buf, "t: (no detail)") == 0);
}

static int order_malformed(const char *body)
{
	acme_order_doc o;
	int bad;

	if (acme_parse_order(body, strlen(body), &o) != 0)
		return 1;
	bad = o.malformed[0] != '\0';
	acme_order_doc_clear(&o);
	return bad;
}

static void order(void)
{
	acme_order_doc o;

	CHECK(acme_parse_order(LEN("{\"status\":\"pending\",\"authorizations\":"
				   "[\"https://ca/authz/1\",\"https://ca/authz/2\"],"
				   "\"finalize\":\"https://ca/fin\"}"),
			       &o) == 0);
	CHECK(o.malformed[0] == '\0' && o.n_authz == 2 && strcmp(o.status, "pending") == 0);
	CHECK(o.finalize != NULL && o.certificate == NULL);
	acme_order_doc_clear(&o);
	/* Finding 16: each of these was a json-c assertion or a NULL dereference. */
	CHECK(order_malformed("{\"status\":\"pending\",\"authorizations\":\"https://ca/a\"}"));
	CHECK(order_malformed("{\"status\":\"invalid\",\"authorizations\":{\"a\":1}}"));
	CHECK(order_malformed("{\"status\":\"pending\",\"authorizations\":[null]}"));
	CHECK(order_malformed("{\"status\":\"pending\",\"authorizations\":[1]}"));
	CHECK(order_malformed("{\"status\":\"pending\",\"authorizations\":[\"file:///x\"]}"));
	CHECK(order_malformed("{\"status\":\"pending\"}"));
	CHECK(order_malformed("{\"status\":5,\"authorizations\":[]}"));
	CHECK(order_malformed("{\"status\":\"valid\",\"authorizations\":[],\"certificate\":7}"));
	CHECK(order_malformed("{\"status\":\"ready\",\"authorizations\":[],\"finalize\":"
			      "\"https://ca/fin\\nX-Evil: 1\"}"));
	CHECK(order_malformed("[]"));
	CHECK(order_malformed("{\"status\":\"pending\",\"authorizations\":["));
	/* An invalid order's error, cleaned. */
	CHECK(acme_parse_order(LEN("{\"status\":\"invalid\",\"authorizations\":[],\"error\":"
				   "{\"type\":\"t\",\"detail\":\"\\u009b2J\"}}"),
			       &o) == 0);
	CHECK(o.malformed[0] == '\0' && strcmp(o.error, "t: ??2J") == 0);
	acme_order_doc_clear(&o);
	{
		/* More authorizations than any order needs. */
		char big[8192] = "{\"status\":\"pending\",\"authorizations\":[";
		for (int i = 0; i < 150; i++)
			strcat(big, i ? ",\"https://c/a\"" : "\"https://c/a\"");
		strcat(big, "]}");
		CHECK(order_malformed(big));
	}
}

static void authz(void)
{
	acme_authz_doc z;

	CHECK(acme_parse_authz(LEN("{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
				   "\"value\":\"h.example\"},\"challenges\":[{\"type\":\"dns-01\"},"
				   "{\"type\":\"http-01\",\"status\":\"pending\",\"token\":\"tok\","
				   "\"url\":\"https://ca/chal/1\"}]}"),
			       &z) == 0);
	CHECK(z.malformed[0] == '\0' && z.has_http01 && strcmp(z.http01_token, "tok") == 0 &&
	      strcmp(z.http01_url, "https://ca/chal/1") == 0 &&
	      strcmp(z.offered, "dns-01, http-01") == 0 && strcmp(z.ivalue, "h.example") == 0);
	acme_authz_doc_clear(&z);
	/* Finding 16: "challenges" not an array. */
	CHECK(acme_parse_authz(
		  LEN("{\"status\":\"pending\",\"challenges\":{\"type\":\"http-01\"}}"), &z) == 0 &&
	      z.malformed[0] != '\0');
	acme_authz_doc_clear(&z);
	CHECK(acme_parse_authz(LEN("{\"status\":\"pending\",\"challenges\":\"x\"}"), &z) == 0 &&
	      z.malformed[0] != '\0');
	acme_authz_doc_clear(&z);
	/* Nulls and numbers where objects and strings belong. */
	CHECK(acme_parse_authz(LEN("{\"status\":\"pending\",\"identifier\":null,\"challenges\":"
				   "[null,1,{\"type\":\"http-01\",\"token\":5,\"url\":[]}]}"),
			       &z) == 0);
	CHECK(z.malformed[0] == '\0' && z.has_http01 && z.http01_token == NULL &&
	      z.http01_url == NULL && strcmp(z.offered, "?, ?, http-01") == 0 &&
	      strcmp(z.itype, "?") == 0);
	acme_authz_doc_clear(&z);
	CHECK(acme_parse_authz(LEN("{\"identifier\":{\"type\":\"dns\",\"value\":\"x\"}}"), &z) ==
		  0 &&
	      z.malformed[0] != '\0');
	acme_authz_doc_clear(&z);
	CHECK(acme_parse_authz(LEN("null"), &z) == -1);
	/* The challenge's error, cleaned; the identifier too. */
	CHECK(acme_parse_authz(
		  LEN("{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\","
		      "\"value\":\"a\\u001b]0;x\\u0007\"},\"challenges\":[{\"type\":"
		      "\"http-01\",\"error\":{\"type\":\"urn:x\",\"detail\":\"d\\r\"}}]}"),
		  &z) == 0);
	CHECK(strcmp(z.ivalue, "a?]0;x?") == 0 && strcmp(z.error, "http-01: urn:x: d ") == 0);
	acme_authz_doc_clear(&z);
}

static void urls(void)
{
	CHECK(acme_url_ok("https://ca.example/acme/order/1"));
	CHECK(acme_url_ok("http://127.0.0.1:14000/x"));
	CHECK(!acme_url_ok(NULL));
	CHECK(!acme_url_ok("ftp://x"));
	CHECK(!acme_url_ok("https://a b"));
	CHECK(!acme_url_ok("https://a\r\nb"));
	CHECK(!acme_url_ok("https://\xc3\xa9"));
}

int main(void)
{
	directory();
	account();
	problem();
	order();
	authz();
	urls();
	return check_done();
}
