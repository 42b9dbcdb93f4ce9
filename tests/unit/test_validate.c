/* Identity checks (src/util/validate.c): RFC 5321 address lengths, host
 * name lengths, UTF-8 and the CN rule (findings 5 and 8). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "p11enroll/validate.h"

/* An address of exactly len characters: a 64-character local part, then a
 * domain of labels of at most 63. */
static void address_of(char *out, size_t len)
{
	size_t n = 0;

	memset(out, 'l', 64);
	n = 64;
	out[n++] = '@';
	while (n < len) {
		size_t left = len - n, label = left > 64 ? 63 : left;
		if (left > 63 && left - 63 < 3)
			label = left - 3; /* leave room for one more label */
		memset(out + n, 'd', label);
		n += label;
		if (n < len)
			out[n++] = '.';
	}
	out[len] = '\0';
}

static void emails(void)
{
	char a[400];

	for (size_t len = 200; len <= 254; len++) {
		address_of(a, len);
		if (strlen(a) != len || !p11e_email_valid(a))
			fprintf(stderr, "length %zu: '%s' refused\n", len, a);
		CHECK(strlen(a) == len && p11e_email_valid(a));
	}
	/* finding 8: 255 and 260 characters passed before. */
	address_of(a, 255);
	CHECK(strlen(a) == 255 && !p11e_email_valid(a));
	address_of(a, 260);
	CHECK(!p11e_email_valid(a));
	/* a 65-character local part */
	memset(a, 'l', 65);
	strcpy(a + 65, "@example.org");
	CHECK(!p11e_email_valid(a));
	CHECK(p11e_email_valid(a + 1));
	CHECK(!p11e_email_valid("caf\xc3\xa9@example.org")); /* no SMTPUTF8 addresses */
}

static void dns(void)
{
	char n[300];

	/* 253 characters in labels of 63: valid; 254: not. */
	for (int i = 0; i < 253; i++)
		n[i] = (i % 64 == 63) ? '.' : 'h';
	n[253] = '\0';
	CHECK(p11e_dns_name_valid(n));
	n[253] = 'h';
	n[254] = '\0';
	CHECK(!p11e_dns_name_valid(n));
}

static void utf8(void)
{
	size_t chars = 0;

	CHECK(p11e_utf8_valid("Caf\xc3\xa9", &chars) && chars == 4);
	CHECK(p11e_utf8_valid("\xf0\x9f\x94\x91 key", &chars) && chars == 5);
	CHECK(!p11e_utf8_valid("Caf\xe9", &chars) && chars == 3); /* Latin-1 */
	CHECK(!p11e_utf8_valid("\xc0\xaf", NULL));		  /* overlong '/' */
	CHECK(!p11e_utf8_valid("\xed\xa0\x80", NULL));		  /* a surrogate */
	CHECK(!p11e_utf8_valid("\xf4\x90\x80\x80", NULL));	  /* past U+10FFFF */
	CHECK(!p11e_utf8_valid("\xe2\x82", NULL));		  /* cut short */
	CHECK(p11e_utf8_valid("", &chars) && chars == 0);
}

static void names(void)
{
	p11e_err err = {0};
	char n[200];

	CHECK_RC(p11e_name_check("Cafe Fixed", "name", &err), P11E_OK, &err);
	CHECK_RC(p11e_name_check("Caf\xc3\xa9", "name", &err), P11E_OK, &err);
	CHECK_RC(p11e_name_check("Caf\xe9", "name", &err), P11E_USAGE, &err);
	CHECK(strncmp(err.msg, "name: not UTF-8 (byte 4)", 24) == 0);
	CHECK(strchr(err.msg, '\xe9') == NULL);
	CHECK_RC(p11e_name_check("two\nlines", "name", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_name_check("", "name", &err), P11E_USAGE, &err);
	CHECK_RC(p11e_name_check(NULL, "name", &err), P11E_USAGE, &err);
	/* 64 characters fit, counted as characters, not bytes. */
	n[0] = '\0';
	for (int i = 0; i < 64; i++)
		strcat(n, "\xc3\xa9");
	CHECK_RC(p11e_name_check(n, "name", &err), P11E_OK, &err);
	strcat(n, "e");
	CHECK_RC(p11e_name_check(n, "name", &err), P11E_USAGE, &err);
	CHECK(strstr(err.msg, "65 characters") != NULL);
}

static void default_cn(void)
{
	char a[300], *cn;

	cn = p11e_default_cn("alice@example.org");
	CHECK(cn != NULL && strcmp(cn, "alice@example.org") == 0);
	free(cn);
	/* finding 5: an address over 64 characters gets its local part. */
	address_of(a, 254);
	cn = p11e_default_cn(a);
	CHECK(cn != NULL && strlen(cn) == 64 && strspn(cn, "l") == 64);
	free(cn);
	memset(a, 'x', 60);
	strcpy(a + 60, "@example.org");
	cn = p11e_default_cn(a);
	CHECK(cn != NULL && strlen(cn) == 60);
	free(cn);
	/* a host name: its first label */
	memset(a, 'h', 40);
	strcpy(a + 40, ".a-rather-long-domain-name-for-a-server.example.org");
	cn = p11e_default_cn(a);
	CHECK(cn != NULL && strlen(cn) == 40);
	free(cn);
}

/* issue 20: the local part keeps its case (RFC 5321), the domain does not. */
static void canonical(void)
{
	char *a = p11e_email_canonical("Shsm-ECp256@Example.COM");
	char *b = p11e_email_canonical("odd@Name@Sub.Example.ORG");

	CHECK(a != NULL && strcmp(a, "Shsm-ECp256@example.com") == 0);
	/* Only after the last '@' (an invalid address is refused before). */
	CHECK(b != NULL && strcmp(b, "odd@Name@sub.example.org") == 0);
	free(a);
	free(b);
}

int main(void)
{
	canonical();
	emails();
	dns();
	utf8();
	names();
	default_cn();
	return check_done();
}
