/* The logon identities (issue 22): UPN, principal, SID and realm checks,
 * their record fields, roster columns and the config's kerberos_realm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "p11enroll/config.h"
#include "p11enroll/record.h"
#include "p11enroll/roster.h"
#include "p11enroll/validate.h"

static void upns(void)
{
	p11e_err err = {0};

	CHECK_RC(p11e_upn_check("alice@example.com", "upn", &err), P11E_OK, &err);
	CHECK_RC(p11e_upn_check("J\xc3\xbcrgen.M@corp.example.com", "upn", &err), P11E_OK, &err);
	CHECK_RC(p11e_upn_check("alice\n@example.com", "upn", &err), P11E_USAGE, &err);
	CHECK(strncmp(err.msg, "upn: a control character at byte 6", 34) == 0);
	CHECK(strchr(err.msg, '\n') == NULL);
	CHECK_RC(p11e_upn_check("alice\xc2\x85@example.com", "upn", &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "control character") != NULL);
	CHECK_RC(p11e_upn_check("alice\x1b[2J@example.com", "roster upn", &err), P11E_USAGE, &err);
	CHECK(strncmp(err.msg, "roster upn: ", 12) == 0 && strchr(err.msg, 0x1b) == NULL);
	CHECK_RC(p11e_upn_check("alice", "upn", &err), P11E_USAGE, &err);
	CHECK(strncmp(err.msg, "upn: 'alice' is not a UPN", 25) == 0);
	CHECK_RC(p11e_upn_check("@example.com", "upn", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_upn_check("alice@", "upn", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_upn_check("a@b@example.com", "upn", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_upn_check("", "upn", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_upn_check("alice\xff@example.com", "upn", &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "not UTF-8 (byte 6)") != NULL);
}

static void principals(void)
{
	p11e_err err = {0};
	char *out = NULL;

	CHECK_RC(p11e_principal_canonical("alice@example.org", "principal", &out, &err), P11E_OK,
		 &err);
	CHECK(out != NULL && strcmp(out, "alice@EXAMPLE.ORG") == 0); /* realm upper-cased */
	free(out);
	CHECK_RC(
	    p11e_principal_canonical("krbtgt/Example.org@example.org", "principal", &out, &err),
	    P11E_OK, &err);
	/* Only the realm: a name component keeps its case. */
	CHECK(out != NULL && strcmp(out, "krbtgt/Example.org@EXAMPLE.ORG") == 0);
	free(out);
	out = (char *)"unchanged";
	CHECK_RC(p11e_principal_canonical("alice", "principal", &out, &err), P11E_USAGE, &err);
	CHECK(out == NULL && strncmp(err.msg, "principal: 'alice' is not a principal", 37) == 0);
	CHECK_RC(p11e_principal_canonical("alice@", "principal", &out, &err), P11E_USAGE, &err);
	CHECK_RC(p11e_principal_canonical("@EXAMPLE.ORG", "principal", &out, &err), P11E_USAGE,
		 &err);
	CHECK_RC(p11e_principal_canonical("a//b@EXAMPLE.ORG", "principal", &out, &err), P11E_USAGE,
		 &err);
	CHECK_RC(p11e_principal_canonical("a\\@b@EXAMPLE.ORG", "principal", &out, &err), P11E_USAGE,
		 &err);
	CHECK_RC(p11e_principal_canonical("alice@EXAMPLE ORG", "principal", &out, &err), P11E_USAGE,
		 &err);
	CHECK(strncmp(err.msg, "principal: 'EXAMPLE ORG' is not a Kerberos realm", 48) == 0);
	CHECK_RC(p11e_principal_canonical("al\tice@EXAMPLE.ORG", "principal", &out, &err),
		 P11E_USAGE, &err);
	CHECK(strstr(err.msg, "control character at byte 3") != NULL);
	CHECK_RC(p11e_realm_check("EXAMPLE.ORG", "kerberos_realm", &err), P11E_OK, &err);
	CHECK_RC(p11e_realm_check(".EXAMPLE", "kerberos_realm", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_realm_check("", "kerberos_realm", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_realm_check("A/B", "kerberos_realm", &err), P11E_USAGE, &err);
}

static void sids(void)
{
	p11e_err err = {0};
	static const char *const good[] = {
	    "S-1-5-21-1004336348-1177238915-682003330-1106",
	    "S-1-5-32-544",
	    "S-1-5-18",
	    "S-1-281474976710655-4294967295",
	    "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15",
	};
	static const char *const bad[] = {
	    "",
	    "S-1-5",					    /* no sub-authority */
	    "S-2-5-21",					    /* revision 1 only */
	    "s-1-5-21",					    /* as AD writes it */
	    "S-1-5-21-",				    /* empty last */
	    "S-1-5--21",				    /* empty between */
	    "S-1-5-021",				    /* leading zero */
	    "S-1-5-4294967296",				    /* past 32 bits */
	    "S-1-281474976710656-1",			    /* past 48 bits */
	    "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", /* 16 */
	    "S-1-5-21 ",
	    "S-1-0x5-21",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_RC(p11e_sid_check(good[i], "sid", &err), P11E_OK, &err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_RC(p11e_sid_check(bad[i], "sid", &err), P11E_USAGE, &err);
		CHECK(strncmp(err.msg, "sid: '", 6) == 0 && strchr(err.msg, '\n') == NULL);
	}
}

/* The record keeps them: saved and loaded, so renew and a rerun reuse them. */
static void record_fields(void)
{
	static const char text[] =
	    "{\"version\":2,\"step\":\"done\",\"identity\":\"a@example.org\","
	    "\"upn\":\"a@corp.example.org\",\"principal\":\"a@EXAMPLE.ORG\","
	    "\"sid\":\"S-1-5-21-1-2-3-1106\"}";
	p11e_record r;
	p11e_err err = {0};

	CHECK_RC(p11e_record_parse("mem", text, sizeof(text) - 1, &r, &err), P11E_OK, &err);
	CHECK(r.upn != NULL && strcmp(r.upn, "a@corp.example.org") == 0);
	CHECK(r.principal != NULL && strcmp(r.principal, "a@EXAMPLE.ORG") == 0);
	CHECK(r.sid != NULL && strcmp(r.sid, "S-1-5-21-1-2-3-1106") == 0);
	p11e_record_clear(&r);
	CHECK(r.upn == NULL && r.principal == NULL && r.sid == NULL);
}

static void roster_columns(void)
{
	static const char csv[] = "email,upn,principal,sid\n"
				  "a@example.org,a@corp.example.org,a@EXAMPLE.ORG,S-1-5-21-1-2\n";
	static const char jsonl[] =
	    "{\"email\":\"b@example.org\",\"upn\":\"b@corp\",\"sid\":\"S-1-5-21-9\"}\n";
	p11e_roster r;
	p11e_err err = {0};

	CHECK_RC(p11e_roster_parse("r.csv", csv, strlen(csv), 0, &r, &err), P11E_OK, &err);
	CHECK(r.n == 1 && r.rows[0].error == NULL);
	if (r.n == 1) {
		CHECK(r.rows[0].upn && strcmp(r.rows[0].upn, "a@corp.example.org") == 0);
		CHECK(r.rows[0].principal && strcmp(r.rows[0].principal, "a@EXAMPLE.ORG") == 0);
		CHECK(r.rows[0].sid && strcmp(r.rows[0].sid, "S-1-5-21-1-2") == 0);
	}
	p11e_roster_clear(&r);
	CHECK_RC(p11e_roster_parse("r.jsonl", jsonl, strlen(jsonl), 0, &r, &err), P11E_OK, &err);
	CHECK(r.n == 1 && r.rows[0].error == NULL && r.rows[0].principal == NULL);
	if (r.n == 1)
		CHECK(r.rows[0].sid && strcmp(r.rows[0].sid, "S-1-5-21-9") == 0);
	p11e_roster_clear(&r);
}

static void config_realm(const char *dir)
{
	static const char good[] = "{ \"kerberos_realm\": \"example.org\" }";
	static const char bad[] = "{ \"kerberos_realm\": \"EXAMPLE ORG\" }";
	char state[600];
	p11e_config c;
	p11e_err err = {0};

	snprintf(state, sizeof(state), "%s/state", dir);
	setenv("P11ENROLL_STATE_DIR", state, 1);
	CHECK_RC(p11e_config_parse("c.json", good, strlen(good), &c, &err), P11E_OK, &err);
	CHECK(c.kerberos_realm != NULL && strcmp(c.kerberos_realm, "EXAMPLE.ORG") == 0);
	p11e_config_clear(&c);
	CHECK_RC(p11e_config_parse("c.json", bad, strlen(bad), &c, &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "config c.json: kerberos_realm: 'EXAMPLE ORG' is not a Kerberos "
			      "realm") != NULL);
	unsetenv("P11ENROLL_STATE_DIR");
}

int main(void)
{
	char dir[] = "/tmp/p11e-logon-ids-XXXXXX";
	char cmd[200];

	upns();
	principals();
	sids();
	record_fields();
	roster_columns();
	if (mkdtemp(dir) != NULL) {
		config_realm(dir);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK(check_sh(cmd) == 0);
	}
	return check_done();
}
