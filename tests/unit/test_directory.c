/* Identities from the directory without a directory: the binary objectSid
 * decoder (MS-DTYP 2.4.2) against SIDs built byte by byte here, and the
 * entry parser with hostile values (tests/integration/identity_ldap.sh has
 * the real slapd, identity_ad.sh the real Samba). */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "p11enroll/config.h"
#include "p11enroll/directory.h"
#include "p11enroll/profile.h"

/* A SID's bytes: revision 1, count, the 48-bit authority big-endian, the
 * sub-authorities little-endian. */
static size_t make_sid(unsigned char *out, unsigned long long authority, const unsigned *subs,
		       size_t n)
{
	out[0] = 1;
	out[1] = (unsigned char)n;
	for (int i = 0; i < 6; i++)
		out[2 + i] = (unsigned char)(authority >> (8 * (5 - i)));
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 4; b++)
			out[8 + 4 * i + b] = (unsigned char)(subs[i] >> (8 * b));
	return 8 + 4 * n;
}

static void test_sid(void)
{
	/* One measured from Samba 4.17 (samba-tool user show), and its bytes
	 * written out by hand rather than by make_sid. */
	static const unsigned char samba[] = {
	    0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x15, 0x00, 0x00, 0x00, 0xfe, 0xdc,
	    0x61, 0xb9, 0x60, 0x13, 0xc8, 0x1a, 0x14, 0xf6, 0x78, 0x54, 0x4f, 0x04, 0x00, 0x00};
	static const unsigned everyone[] = {0};
	unsigned max_subs[15];
	unsigned char buf[8 + 4 * 16];
	char text[P11E_SID_TEXT_MAX];
	size_t len;

	CHECK(p11e_sid_to_text(samba, sizeof(samba), text, sizeof(text)) == 0);
	CHECK(strcmp(text, "S-1-5-21-3110198526-449319776-1417213460-1103") == 0);
	len = make_sid(buf, 1, everyone, 1);
	CHECK(p11e_sid_to_text(buf, len, text, sizeof(text)) == 0 && strcmp(text, "S-1-1-0") == 0);
	/* An authority of 2^32 or more is written in hex, as Windows does. */
	len = make_sid(buf, 0x010000000000ULL, everyone, 1);
	CHECK(p11e_sid_to_text(buf, len, text, sizeof(text)) == 0 &&
	      strcmp(text, "S-1-0x010000000000-0") == 0);
	/* The longest there is fits P11E_SID_TEXT_MAX. */
	for (size_t i = 0; i < 15; i++)
		max_subs[i] = 0xffffffffu;
	len = make_sid(buf, 0xffffffffffffULL, max_subs, 15);
	CHECK(p11e_sid_to_text(buf, len, text, sizeof(text)) == 0);
	CHECK(strncmp(text, "S-1-0xFFFFFFFFFFFF-4294967295-", 30) == 0);
	/* ... and a buffer too small is refused, never cut. */
	CHECK(p11e_sid_to_text(samba, sizeof(samba), text, 20) == -1);

	/* Wrong lengths: one byte short, one too many, only the header. */
	CHECK(p11e_sid_to_text(samba, sizeof(samba) - 1, text, sizeof(text)) == -1);
	memcpy(buf, samba, sizeof(samba));
	buf[sizeof(samba)] = 0;
	CHECK(p11e_sid_to_text(buf, sizeof(samba) + 1, text, sizeof(text)) == -1);
	CHECK(p11e_sid_to_text(samba, 8, text, sizeof(text)) == -1);
	CHECK(p11e_sid_to_text(samba, 7, text, sizeof(text)) == -1);
	CHECK(p11e_sid_to_text(NULL, 0, text, sizeof(text)) == -1);
	/* A count that does not match, zero, or past 15; another revision. */
	memcpy(buf, samba, sizeof(samba));
	buf[1] = 4;
	CHECK(p11e_sid_to_text(buf, sizeof(samba), text, sizeof(text)) == -1);
	len = make_sid(buf, 5, max_subs, 0);
	CHECK(p11e_sid_to_text(buf, len, text, sizeof(text)) == -1);
	len = make_sid(buf, 5, max_subs, 15);
	buf[1] = 16;
	CHECK(p11e_sid_to_text(buf, len + 4, text, sizeof(text)) == -1);
	memcpy(buf, samba, sizeof(samba));
	buf[0] = 2;
	CHECK(p11e_sid_to_text(buf, sizeof(samba), text, sizeof(text)) == -1);
}

static unsigned char good_sid[8 + 4 * 5];
static size_t good_sid_len;

/* An entry: upn (NULL: none), the good SID (sid_len 0: none, else that many
 * of its bytes), display (NULL: none). */
static p11e_rc parse(const char *upn, size_t sid_len, const char *display, p11e_dir_identity *id,
		     p11e_err *err)
{
	p11e_dir_value v[3];
	size_t n = 0;

	if (upn != NULL)
		v[n++] =
		    (p11e_dir_value){"userPrincipalName", (const unsigned char *)upn, strlen(upn)};
	if (sid_len > 0)
		v[n++] = (p11e_dir_value){"objectSid", good_sid, sid_len};
	if (display != NULL)
		v[n++] = (p11e_dir_value){"displayName", (const unsigned char *)display,
					  strlen(display)};
	return p11e_dir_identity_parse(v, n, "directory ad, entry CN=x", id, err);
}

/* A refusal: the code, one line naming field, nothing left in id. */
static void refused(p11e_rc got, p11e_rc want, const p11e_dir_identity *id, const p11e_err *err,
		    const char *field)
{
	CHECK(got == want);
	CHECK(strstr(err->msg, field) != NULL);
	CHECK(strstr(err->msg, "CN=x") != NULL);
	CHECK(strpbrk(err->msg, "\n\r\x1b") == NULL);
	CHECK(id->upn == NULL && id->sid == NULL && id->display_name == NULL);
	if (got != want || strstr(err->msg, field) == NULL)
		fprintf(stderr, "  (message: %s)\n", err->msg);
}

static void test_entry(void)
{
	static const unsigned subs[] = {21, 3110198526u, 449319776u, 1417213460u, 1103};
	p11e_dir_identity id;
	p11e_err err = {0};
	p11e_rc rc;

	good_sid_len = make_sid(good_sid, 5, subs, 5);
	CHECK_RC(parse("alice@p11e.test", good_sid_len, "Alice Example", &id, &err), P11E_OK, &err);
	CHECK(id.upn != NULL && strcmp(id.upn, "alice@p11e.test") == 0);
	CHECK(id.sid != NULL &&
	      strcmp(id.sid, "S-1-5-21-3110198526-449319776-1417213460-1103") == 0);
	CHECK(id.display_name != NULL && strcmp(id.display_name, "Alice Example") == 0);
	p11e_dir_identity_clear(&id);
	/* No display name: fine (the CN stays as given or the default). */
	CHECK_RC(parse("alice@p11e.test", good_sid_len, NULL, &id, &err), P11E_OK, &err);
	CHECK(id.display_name == NULL && id.upn != NULL);
	p11e_dir_identity_clear(&id);
	/* UTF-8 is fine in both. */
	CHECK_RC(
	    parse("j\xc3\xb6rg@p11e.test", good_sid_len, "J\xc3\xb6rg M\xc3\xbcller", &id, &err),
	    P11E_OK, &err);
	p11e_dir_identity_clear(&id);

	/* Missing attributes. */
	rc = parse(NULL, good_sid_len, "A", &id, &err);
	refused(rc, P11E_NOT_FOUND, &id, &err, "userPrincipalName");
	rc = parse("alice@p11e.test", 0, "A", &id, &err);
	refused(rc, P11E_NOT_FOUND, &id, &err, "objectSid");
	/* objectSid of the wrong length. */
	rc = parse("alice@p11e.test", good_sid_len - 1, NULL, &id, &err);
	refused(rc, P11E_USAGE, &id, &err, "objectSid");
	rc = parse("alice@p11e.test", 5, NULL, &id, &err);
	refused(rc, P11E_USAGE, &id, &err, "objectSid");
	/* Hostile UPNs: a line break, an escape sequence, a C1 control as
	 * UTF-8, bytes that are not UTF-8, a NUL inside, a space; not
	 * NAME@SUFFIX. */
	static const char *const bad_upns[] = {"alice@p11e.test\nmallory@p11e.test",
					       "alice\x1b[31m@p11e.test",
					       "alice\xc2\x85@p11e.test",
					       "alice\xff@p11e.test",
					       "alice @p11e.test",
					       "alice",
					       "@p11e.test",
					       "alice@",
					       "alice@a@b",
					       ""};
	for (size_t i = 0; i < sizeof(bad_upns) / sizeof(bad_upns[0]); i++) {
		rc = parse(bad_upns[i], good_sid_len, NULL, &id, &err);
		refused(rc, P11E_USAGE, &id, &err, "userPrincipalName");
	}
	{
		static const unsigned char nul_upn[] = "alice\0@p11e.test";
		p11e_dir_value v[2] = {{"userPrincipalName", nul_upn, sizeof(nul_upn) - 1},
				       {"objectSid", good_sid, good_sid_len}};
		rc = p11e_dir_identity_parse(v, 2, "directory ad, entry CN=x", &id, &err);
		refused(rc, P11E_USAGE, &id, &err, "userPrincipalName");
	}
	{
		char *long_upn = malloc(P11E_DIR_UPN_MAX + 2);
		memset(long_upn, 'a', P11E_DIR_UPN_MAX + 1);
		long_upn[5] = '@';
		long_upn[P11E_DIR_UPN_MAX + 1] = '\0';
		rc = parse(long_upn, good_sid_len, NULL, &id, &err);
		refused(rc, P11E_USAGE, &id, &err, "userPrincipalName");
		free(long_upn);
	}
	/* Hostile display names; one too long for a CN (64 characters). */
	rc = parse("alice@p11e.test", good_sid_len, "Alice\r\nOU=Admins", &id, &err);
	refused(rc, P11E_USAGE, &id, &err, "displayName");
	rc = parse("alice@p11e.test", good_sid_len,
		   "A name that is longer than sixty-four characters, which a CN cannot hold", &id,
		   &err);
	refused(rc, P11E_USAGE, &id, &err, "displayName");
	/* Two values of one attribute (names matched case-insensitively). */
	{
		p11e_dir_value v[3] = {{"userPrincipalName", (const unsigned char *)"a@b", 3},
				       {"objectSid", good_sid, good_sid_len},
				       {"userprincipalname", (const unsigned char *)"c@d", 3}};
		rc = p11e_dir_identity_parse(v, 3, "directory ad, entry CN=x", &id, &err);
		refused(rc, P11E_USAGE, &id, &err, "several");
		v[2] = (p11e_dir_value){"OBJECTSID", good_sid, good_sid_len};
		rc = p11e_dir_identity_parse(v, 3, "directory ad, entry CN=x", &id, &err);
		refused(rc, P11E_USAGE, &id, &err, "objectSid");
	}
}

static p11e_rc parse_config(const char *profiles, p11e_config *c, p11e_err *err)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "{\"publishers\": {\"ad\": {\"type\": \"ldap\", \"url\": "
		 "\"ldaps://dc.example/\", \"base_dn\": \"dc=example\"}}, \"profiles\": {%s}}",
		 profiles);
	setenv("P11ENROLL_STATE_DIR", "/tmp/p11e-test-directory", 1);
	return p11e_config_parse("/etc/t/config.json", text, strlen(text), c, err);
}

/* The profile key: an ldap publisher's name, else the config is refused. */
static void test_config(void)
{
	p11e_config c;
	p11e_profile prof;
	p11e_dir_identity id;
	p11e_err err = {0};

	CHECK_RC(parse_config("\"logon\": {\"base\": \"client-auth\", \"identity_from\": \"ad\"}",
			      &c, &err),
		 P11E_OK, &err);
	CHECK_RC(p11e_config_profile(&c, "logon", &prof, &err), P11E_OK, &err);
	CHECK(strcmp(prof.identity_from, "ad") == 0);
	CHECK_RC(p11e_config_profile(&c, "client-auth", &prof, &err), P11E_OK, &err);
	CHECK(prof.identity_from[0] == '\0');
	/* A lookup through a publisher that is not configured. */
	CHECK_RC(p11e_dir_identity_lookup(&c, "nosuch", "a@example.org", &id, &err), P11E_CONFIG,
		 &err);
	CHECK(id.upn == NULL && id.sid == NULL);
	p11e_config_clear(&c);
	CHECK(parse_config("\"logon\": {\"identity_from\": \"nosuch\"}", &c, &err) == P11E_CONFIG);
	CHECK(strstr(err.msg, "identity_from") != NULL);
	CHECK(parse_config("\"logon\": {\"identity_from\": 3}", &c, &err) == P11E_CONFIG);
	CHECK(strstr(err.msg, "identity_from") != NULL);
}

int main(void)
{
	test_sid();
	test_entry();
	test_config();
	return check_done();
}
