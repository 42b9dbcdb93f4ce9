/* RFC 7512 parsing and formatting. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "p11enroll/uri.h"

static void good(void)
{
	p11e_uri u;
	p11e_err err = {0};

	CHECK_RC(p11e_uri_parse("pkcs11:token=My%20Card;serial=0123;manufacturer=ACME;"
				"model=M1;object=alice;type=private;id=%01%02A"
				"?module-path=/usr/lib/x.so&pin-source=file:/run/pin",
				&u, &err),
		 P11E_OK, &err);
	CHECK(u.token && strcmp(u.token, "My Card") == 0);
	CHECK(u.serial && strcmp(u.serial, "0123") == 0);
	CHECK(u.manufacturer && strcmp(u.manufacturer, "ACME") == 0);
	CHECK(u.model && strcmp(u.model, "M1") == 0);
	CHECK(u.object && strcmp(u.object, "alice") == 0);
	CHECK(u.type && strcmp(u.type, "private") == 0);
	CHECK(u.has_id && u.id_len == 3 && u.id[0] == 1 && u.id[1] == 2 && u.id[2] == 'A');
	CHECK(u.module_path && strcmp(u.module_path, "/usr/lib/x.so") == 0);
	CHECK(u.pin_source && strcmp(u.pin_source, "file:/run/pin") == 0);
	p11e_uri_clear(&u);

	CHECK_RC(p11e_uri_parse("PKCS11:", &u, &err), P11E_OK, &err);
	CHECK(u.token == NULL && !u.has_id);
	p11e_uri_clear(&u);
	CHECK_RC(p11e_uri_parse("pkcs11:token=;library-manufacturer=x?module-name=y", &u, &err),
		 P11E_OK, &err);
	CHECK(u.token && u.token[0] == '\0');
	p11e_uri_clear(&u);
}

static void bad(const char *text, const char *needle)
{
	p11e_uri u;
	p11e_err err = {0};

	CHECK_RC(p11e_uri_parse(text, &u, &err), P11E_USAGE, &err);
	if (strstr(err.msg, needle) == NULL)
		fprintf(stderr, "'%s': message '%s' lacks '%s'\n", text, err.msg, needle);
	CHECK(strstr(err.msg, needle) != NULL);
	CHECK(strstr(err.msg, "123456") == NULL); /* a PIN is never repeated */
	CHECK(u.token == NULL);
}

static void round_trip(void)
{
	const unsigned char id[] = {0xde, 0xad, 0x00, 0x41};
	char *s = p11e_uri_format("My Card;1", "ACME Inc.", "12/34", "M%1", id, sizeof(id), "cert");
	p11e_uri u;
	p11e_err err = {0};

	CHECK(s != NULL && strncmp(s, "pkcs11:", 7) == 0 && strchr(s, ' ') == NULL);
	CHECK_RC(p11e_uri_parse(s, &u, &err), P11E_OK, &err);
	CHECK(u.token && strcmp(u.token, "My Card;1") == 0);
	CHECK(u.manufacturer && strcmp(u.manufacturer, "ACME Inc.") == 0);
	CHECK(u.serial && strcmp(u.serial, "12/34") == 0);
	CHECK(u.model && strcmp(u.model, "M%1") == 0);
	CHECK(u.has_id && u.id_len == 4 && memcmp(u.id, id, 4) == 0);
	CHECK(u.type && strcmp(u.type, "cert") == 0);
	p11e_uri_clear(&u);
	free(s);
	s = p11e_uri_format("test", NULL, NULL, NULL, NULL, 0, NULL);
	CHECK(s != NULL && strcmp(s, "pkcs11:token=test") == 0);
	free(s);
}

int main(void)
{
	good();
	bad("token=x", "PKCS#11 URI");
	bad("pkcs11:slot-id=1", "slot numbers change");
	bad("pkcs11:token=x?pin-value=123456", "pin-value is refused");
	bad("pkcs11:tokn=x", "unknown attribute 'tokn'");
	bad("pkcs11:token=a;token=b", "appears twice");
	bad("pkcs11:token=%zz", "percent-encoding");
	bad("pkcs11:token=%4", "percent-encoding");
	bad("pkcs11:type=secret", "type must be");
	bad("pkcs11:token", "no '='");
	bad("pkcs11:?bogus=1", "unknown attribute 'bogus'");
	round_trip();
	return check_done();
}
