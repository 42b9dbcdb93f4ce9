/* RFC 7512 parsing (a table of good and bad URIs) and formatting round trips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "p11enroll/uri.h"

static int eq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* What a URI should parse to; NULL: absent. */
typedef struct expect {
	const char *text;
	const char *token, *serial, *manufacturer, *model, *object, *type;
	const char *id; /* bytes, with id_len */
	size_t id_len;
	const char *module_path, *pin_source;
} expect;

static const expect goods[] = {
    {"pkcs11:", NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL},
    {"PKCS11:token=a", "a", NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL},
    {"Pkcs11:token=a;", "a", NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL},
    {"pkcs11:token=", "", NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL},
    {"pkcs11:token=My%20Card;serial=0123;manufacturer=ACME;model=M1;object=alice;type=private;"
     "id=%01%02A?module-path=/usr/lib/x.so&pin-source=file:/run/pin",
     "My Card", "0123", "ACME", "M1", "alice", "private",
     "\x01\x02"
     "A",
     3, "/usr/lib/x.so", "file:/run/pin"},
    /* lower-case hex, %25 is '%', literal pchar punctuation */
    {"pkcs11:token=a%2fb%25c;object=x:y@z!$'()*+,=&", "a/b%c", NULL, NULL, NULL, "x:y@z!$'()*+,=&",
     NULL, NULL, 0, NULL, NULL},
    /* '?' and ';' only separate where they are; encoded they are data */
    {"pkcs11:token=a%3Bb%3Fc", "a;b?c", NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL},
    {"pkcs11:?pin-source=env:PIN", NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, "env:PIN"},
    {"pkcs11:token=t?pin-source=file:/a?b&&module-name=softhsm2", "t", NULL, NULL, NULL, NULL, NULL,
     NULL, 0, NULL, "file:/a?b"},
    {"pkcs11:type=cert", NULL, NULL, NULL, NULL, NULL, "cert", NULL, 0, NULL, NULL},
    {"pkcs11:type=public", NULL, NULL, NULL, NULL, NULL, "public", NULL, 0, NULL, NULL},
    {"pkcs11:type=secret-key", NULL, NULL, NULL, NULL, NULL, "secret-key", NULL, 0, NULL, NULL},
    {"pkcs11:type=data", NULL, NULL, NULL, NULL, NULL, "data", NULL, 0, NULL, NULL},
    {"pkcs11:id=%00%FF%7f", NULL, NULL, NULL, NULL, NULL, NULL, "\x00\xff\x7f", 3, NULL, NULL},
    {"pkcs11:id=ab", NULL, NULL, NULL, NULL, NULL, NULL, "ab", 2, NULL, NULL},
    /* accepted and ignored */
    {"pkcs11:library-manufacturer=OpenSC;library-description=x;library-version=1.2;token=t", "t",
     NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL},
};

static void good(const expect *e)
{
	p11e_uri u;
	p11e_err err = {0};
	int ok;

	CHECK_RC(p11e_uri_parse(e->text, &u, &err), P11E_OK, &err);
	ok = eq(u.token, e->token) && eq(u.serial, e->serial) &&
	     eq(u.manufacturer, e->manufacturer) && eq(u.model, e->model) &&
	     eq(u.object, e->object) && eq(u.type, e->type) && eq(u.module_path, e->module_path) &&
	     eq(u.pin_source, e->pin_source) && u.has_id == (e->id != NULL) &&
	     u.id_len == e->id_len && (e->id == NULL || memcmp(u.id, e->id, e->id_len) == 0);
	if (!ok)
		fprintf(stderr, "'%s' parsed wrong\n", e->text);
	CHECK(ok);
	p11e_uri_clear(&u);
	CHECK(u.token == NULL && u.pin_source == NULL && !u.has_id);
}

static const struct {
	const char *text, *needle;
} bads[] = {
    {"token=x", "PKCS#11 URI"},
    {"pkcs12:token=x", "PKCS#11 URI"},
    {"pkcs11", "PKCS#11 URI"},
    {"pkcs11:slot-id=1", "URI: slot-id is not supported: select tokens by token label or serial, "
			 "slot numbers change"},
    {"pkcs11:slot-description=x", "slot-description is not supported"},
    {"pkcs11:slot-manufacturer=x", "slot-manufacturer is not supported"},
    {"pkcs11:token=x?pin-value=123456",
     "URI: pin-value is refused: a PIN in a URI ends up in shell history; use pin-source"},
    {"pkcs11:pin-value=123456", "pin-value is refused"},
    {"pkcs11:tokn=x", "URI: unknown attribute 'tokn'"},
    {"pkcs11:?bogus=1", "unknown attribute 'bogus'"},
    {"pkcs11:x-vendor=1", "unknown attribute 'x-vendor'"},
    {"pkcs11:=x", "unknown attribute ''"},
    {"pkcs11:token", "no '='"},
    {"pkcs11:token=a;token=b", "'token' appears twice"},
    {"pkcs11:id=%01;id=%02", "'id' appears twice"},
    {"pkcs11:token=a?pin-source=env:A&pin-source=env:B", "'pin-source' appears twice"},
    {"pkcs11:library-version=1;library-version=2", "'library-version' appears twice"},
    {"pkcs11:token=%zz", "bad percent-encoding in 'token'"},
    {"pkcs11:object=%4", "bad percent-encoding in 'object'"},
    {"pkcs11:serial=%", "bad percent-encoding in 'serial'"},
    {"pkcs11:id=%0g", "bad percent-encoding in 'id'"},
    {"pkcs11:?module-path=%G0", "bad percent-encoding in 'module-path'"},
    {"pkcs11:token=a%00b", "NUL byte"},
    {"pkcs11:type=secret", "type must be"},
    {"pkcs11:type=Private", "type must be"},
    {"pkcs11:type=", "type must be"},
    {"pkcs11:id=", "id must be 1 to 64 bytes"},
    {"pkcs11:?token=x", "'token' belongs in the path"},
    {"pkcs11:module-path=/x.so", "'module-path' belongs in the query"},
    {"pkcs11:module-name=softhsm2", "'module-name' belongs in the query"},
    {"pkcs11:?module-name=a&module-name=b", "'module-name' appears twice"},
};

static void bad(const char *text, const char *needle)
{
	p11e_uri u;
	p11e_err err = {0};

	CHECK_RC(p11e_uri_parse(text, &u, &err), P11E_USAGE, &err);
	if (strstr(err.msg, needle) == NULL)
		fprintf(stderr, "'%s': message '%s' lacks '%s'\n", text, err.msg, needle);
	CHECK(strstr(err.msg, needle) != NULL);
	CHECK(strstr(err.msg, "123456") == NULL); /* a PIN is never repeated */
	/* A failed parse leaves nothing to free. */
	CHECK(u.token == NULL && u.object == NULL && u.type == NULL && !u.has_id);
}

static void id_limits(void)
{
	char text[16 + 3 * (P11E_ID_MAX + 1)];
	p11e_uri u;
	p11e_err err = {0};
	size_t n = (size_t)snprintf(text, sizeof(text), "pkcs11:id=");

	for (int i = 0; i < P11E_ID_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%%%02X", i + 0x80);
	CHECK_RC(p11e_uri_parse(text, &u, &err), P11E_OK, &err);
	CHECK(u.has_id && u.id_len == P11E_ID_MAX && u.id[0] == 0x80 && u.id[63] == 0xbf);
	p11e_uri_clear(&u);
	snprintf(text + n, sizeof(text) - n, "%%00");
	CHECK_RC(p11e_uri_parse(text, &u, &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "id must be 1 to 64 bytes") != NULL);
	CHECK_RC(p11e_uri_parse(NULL, &u, &err), P11E_USAGE, &err);
}

/* Every character p11e_uri_format writes is one a path value may hold
 * unencoded, or part of a %XX. */
static int only_pchars(const char *s)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789-._~:[]@!$'()*+,=&%;";
	return strspn(s, allowed) == strlen(s);
}

static void round_trip(void)
{
	const unsigned char id[] = {0xde, 0xad, 0x00, 0x41};
	char all[256], *s;
	unsigned char idall[P11E_ID_MAX];
	p11e_uri u;
	p11e_err err = {0};

	s = p11e_uri_format("My Token", "ACME", "0123", "SoftHSM v2",
			    (const unsigned char *)"\x01\x02", 2, "private");
	CHECK(s != NULL && strcmp(s, "pkcs11:model=SoftHSM%20v2;manufacturer=ACME;serial=0123;"
				     "token=My%20Token;id=%01%02;type=private") == 0);
	free(s);
	s = p11e_uri_format("test", NULL, NULL, NULL, NULL, 0, NULL);
	CHECK(s != NULL && strcmp(s, "pkcs11:token=test") == 0);
	free(s);
	s = p11e_uri_format(NULL, NULL, NULL, NULL, NULL, 0, NULL);
	CHECK(s != NULL && strcmp(s, "pkcs11:") == 0);
	free(s);
	/* id bytes are always %XX, even printable ones. */
	s = p11e_uri_format(NULL, NULL, "7", NULL, (const unsigned char *)"AZ", 2, NULL);
	CHECK(s != NULL && strcmp(s, "pkcs11:serial=7;id=%41%5A") == 0);
	free(s);
	s = p11e_uri_format("a;b?c/d%e f&g", NULL, NULL, NULL, NULL, 0, NULL);
	CHECK(s != NULL && strcmp(s, "pkcs11:token=a%3Bb%3Fc%2Fd%25e%20f&g") == 0);
	free(s);

	s = p11e_uri_format("My Card;1", "ACME Inc.", "12/34", "M%1", id, sizeof(id), "cert");
	CHECK(s != NULL && only_pchars(s + 7));
	CHECK_RC(p11e_uri_parse(s, &u, &err), P11E_OK, &err);
	CHECK(eq(u.token, "My Card;1") && eq(u.manufacturer, "ACME Inc.") &&
	      eq(u.serial, "12/34") && eq(u.model, "M%1") && eq(u.type, "cert"));
	CHECK(u.has_id && u.id_len == 4 && memcmp(u.id, id, 4) == 0);
	p11e_uri_clear(&u);
	free(s);

	/* Every byte but NUL, in every field; every id byte value. */
	for (int i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	for (int chunk = 0; chunk < 4; chunk++) {
		for (int i = 0; i < P11E_ID_MAX; i++)
			idall[i] = (unsigned char)(chunk * P11E_ID_MAX + i);
		s = p11e_uri_format(all, all, all, all, idall, sizeof(idall), "data");
		CHECK(s != NULL && only_pchars(s + 7));
		CHECK_RC(p11e_uri_parse(s, &u, &err), P11E_OK, &err);
		CHECK(eq(u.token, all) && eq(u.manufacturer, all) && eq(u.serial, all) &&
		      eq(u.model, all) && eq(u.type, "data"));
		CHECK(u.has_id && u.id_len == P11E_ID_MAX && memcmp(u.id, idall, P11E_ID_MAX) == 0);
		p11e_uri_clear(&u);
		free(s);
	}
	p11e_uri_clear(&u); /* twice is fine */
}

/* module-name (RFC 7512): kept, percent-decoded, for the token layer to
 * load only that registered module. */
static void module_name(void)
{
	p11e_uri u;
	p11e_err err = {0};

	CHECK_RC(p11e_uri_parse("pkcs11:token=t?module-name=soft%20hsm&pin-source=env:P", &u, &err),
		 P11E_OK, &err);
	CHECK(eq(u.module_name, "soft hsm") && eq(u.token, "t") && eq(u.pin_source, "env:P"));
	p11e_uri_clear(&u);
	CHECK(u.module_name == NULL);
	CHECK_RC(p11e_uri_parse("pkcs11:token=t", &u, &err), P11E_OK, &err);
	CHECK(u.module_name == NULL);
	p11e_uri_clear(&u);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++)
		good(&goods[i]);
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		bad(bads[i].text, bads[i].needle);
	id_limits();
	round_trip();
	module_name();
	return check_done();
}
