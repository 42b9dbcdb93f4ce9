/* Hostile answers from a CFSSL server, fed to its parser without a server,
 * and the helpers every backend uses on a peer's words and numbers
 * (include/p11enroll/peer.h). tests/integration/hostile_ca.sh drives the
 * same answers through the binary. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "ca/ca_cfssl.h"
#include <json-c/json.h>
#include "p11enroll/peer.h"

#define PARSE(text, ans) cfssl_parse_answer(text, strlen(text), ans)

static void peer_helpers(void)
{
	char buf[64];

	/* Finding 22: a wait is bounded both ways. */
	CHECK(p11e_peer_wait_s(-5) == 0);
	CHECK(p11e_peer_wait_s(30) == 30);
	CHECK(p11e_peer_wait_s(LONG_MAX) == P11E_PEER_WAIT_MAX_S);
	CHECK(p11e_peer_wait_s(LONG_MAX) * 1000L > 0);
	/* Finding 23: escapes, line breaks and C1 controls are gone, UTF-8 stays. */
	p11e_peer_copy(buf, sizeof(buf),
		       "a\x1b]0;owned\x07z\r\nx\xc2\x9b"
		       "2J \xc3\xa9");
	CHECK(strchr(buf, 0x1b) == NULL && strchr(buf, '\n') == NULL && strchr(buf, 7) == NULL);
	CHECK(strstr(buf, "\xc2\x9b") == NULL);
	CHECK(strstr(buf, "\xc3\xa9") != NULL);
	CHECK(strcmp(buf, "a?]0;owned?z  x??2J \xc3\xa9") == 0);
	p11e_peer_copy(buf, sizeof(buf), "\x9b\xff\xc0\xaf\xed\xa0\x80");
	CHECK(strcmp(buf, "???????") == 0);
	p11e_peer_copy(buf, sizeof(buf), NULL);
	CHECK(buf[0] == '\0');
}

static void peer_json(void)
{
	struct json_object *o;

	CHECK(p11e_peer_json_object("[1]", 3) == NULL);
	CHECK(p11e_peer_json_object("1", 1) == NULL);
	CHECK(p11e_peer_json_object("{} x", 4) == NULL);
	CHECK(p11e_peer_json_object("{\"a\":", 5) == NULL);
	CHECK(p11e_peer_json_object("", 0) == NULL);
	CHECK(p11e_peer_json_object(NULL, 3) == NULL);
	/* Not NUL-terminated: only len bytes are read. */
	o = p11e_peer_json_object("{}\n!!!", 3);
	CHECK(o != NULL);
	json_object_put(o);
}

static void cfssl_hostile(void)
{
	static const char *const junk[] = {
	    "{\"errors\":1}", /* finding 16: was a json-c assertion, exit 134 */
	    "{\"errors\":{\"code\":1}}",
	    "{\"errors\":[null]}",
	    "{\"errors\":[1,2]}",
	    "{\"errors\":[{\"code\":\"x\",\"message\":{}}]}",
	    "{\"success\":1,\"result\":{\"certificate\":\"x\"}}",
	    "{\"success\":true,\"result\":\"x\"}",
	    "{\"success\":true,\"result\":null}",
	    "{\"success\":true,\"result\":{\"certificate\":5}}",
	    "{\"success\":true,\"result\":{\"certificate\":\"-----BEGIN CERTIFICATE-----\\nAA\"}}",
	    "[]",
	    "null",
	    "",
	    "{\"success\":true,\"result\":[",
	};
	cfssl_answer a;

	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		PARSE(junk[i], &a);
		CHECK(a.cert == NULL);
		cfssl_answer_clear(&a);
	}
	PARSE("{\"errors\":1}", &a);
	CHECK(!a.success && a.reason[0] == '\0');
	PARSE("{\"success\":true,\"result\":{\"certificate\":5}}", &a);
	CHECK(a.success && a.cert == NULL);
	cfssl_answer_clear(&a);
	/* A huge code is read as what it is, not wrapped. */
	PARSE("{\"errors\":[{\"code\":99999999999,\"message\":\"m\"}]}", &a);
	CHECK(strcmp(a.reason, "cfssl error 99999999999: m") == 0);
	PARSE("{\"errors\":[{\"message\":\"m\"}]}", &a);
	CHECK(strcmp(a.reason, "cfssl error 0: m") == 0);
}

/* Finding 23: CFSSL's message reaches the terminal cleaned. */
static void cfssl_escapes(void)
{
	cfssl_answer a;

	PARSE("{\"success\":false,\"errors\":[{\"code\":1000,\"message\":"
	      "\"bad \\u001b[2J\\u001b]0;pwned\\u0007 csr\\nline\"}]}",
	      &a);
	CHECK(!a.success);
	CHECK(strchr(a.reason, 0x1b) == NULL && strchr(a.reason, '\n') == NULL &&
	      strchr(a.reason, 7) == NULL);
	CHECK(strcmp(a.reason, "cfssl error 1000: bad ?[2J?]0;pwned? csr line") == 0);
}

static void cfssl_real_shapes(void)
{
	cfssl_answer a;
	char *pem = check_capture("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
				  "-nodes -keyout /dev/null -subj /CN=cfssl-test -days 1 "
				  "2>/dev/null");
	char *body;
	json_object *o = json_object_new_object(), *r = json_object_new_object();

	CHECK(pem != NULL && strstr(pem, "BEGIN CERTIFICATE") != NULL);
	json_object_object_add(r, "certificate", json_object_new_string(pem ? pem : ""));
	json_object_object_add(o, "success", json_object_new_boolean(1));
	json_object_object_add(o, "result", r);
	json_object_object_add(o, "errors", json_object_new_array());
	body = strdup(json_object_to_json_string(o));
	cfssl_parse_answer(body, strlen(body), &a);
	CHECK(a.success && a.cert != NULL && a.reason[0] == '\0');
	cfssl_answer_clear(&a);
	/* What CFSSL really answers to a bad request (HTTP 400). */
	PARSE("{\"success\":false,\"result\":null,\"errors\":[{\"code\":9001,\"message\":"
	      "\"Invalid or unknown policy\"}],\"messages\":[]}",
	      &a);
	CHECK(!a.success && strcmp(a.reason, "cfssl error 9001: Invalid or unknown policy") == 0);
	free(body);
	free(pem);
	json_object_put(o);
}

int main(void)
{
	peer_helpers();
	peer_json();
	cfssl_hostile();
	cfssl_escapes();
	cfssl_real_shapes();
	return check_done();
}
