/* Rosters: CSV and JSON lines, the errors that name the line and what is
 * wrong, a byte-order mark, extra columns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "p11enroll/roster.h"
#include "core/row_index.h"

static int eq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int has(const char *hay, const char *needle)
{
	if (hay != NULL && strstr(hay, needle) != NULL)
		return 1;
	fprintf(stderr, "'%s' lacks '%s'\n", hay ? hay : "(null)", needle);
	return 0;
}

static p11e_rc parse(const char *name, const char *text, unsigned flags, p11e_roster *r,
		     p11e_err *err)
{
	return p11e_roster_parse(name, text, strlen(text), flags, r, err);
}

/* A file-level error: P11E_USAGE naming the file, the roster left empty. */
static void refused(const char *text, unsigned flags, const char *needle)
{
	p11e_roster r;
	p11e_err err = {0};

	CHECK_RC(parse("r.csv", text, flags, &r, &err), P11E_USAGE, &err);
	CHECK(has(err.msg, "roster r.csv: ") && has(err.msg, needle));
	CHECK(r.rows == NULL && r.n == 0);
}

/* Finding 3: an unknown column after the first freed the fields before it
 * twice (free(): double free detected, exit 134). */
static void unknown_columns(void)
{
	p11e_roster r;
	p11e_err err = {0};

	refused("email,department\nx@example.com,X\n", 0,
		"line 1: unknown column 'department' (known: email, name, profile, token, key, ca, "
		"upn, principal, sid; "
		"--allow-extra-columns ignores others)");
	refused("email,nmae\nx@example.com,X\n", 0, "unknown column 'nmae'");
	refused("email,name,profile,token,key,ca,x\n", 0, "unknown column 'x'");
	refused("dept,email\n", 0, "unknown column 'dept'");
	refused("email,,name\n", 0, "line 1: column 2 of the header has no name");
	refused("email,name,Email\n", 0, "line 1: column 'email' appears twice");
	refused("name,profile\nx,y\n", 0, "line 1: the header has no email column");
	refused("# only a comment\n\n", 0, "empty (a header row is required)");
	refused("", 0, "empty");
	/* A control character in a column name is not sent to the terminal. */
	refused("email,\x1b[31mred\n", 0, "unknown column '?[31mred'");

	/* --allow-extra-columns: an HR export goes through, extras ignored,
	 * also past the 16 columns the old parser kept. */
	CHECK_RC(parse("hr.csv",
		       "Department,email,Cost centre,c4,c5,c6,c7,c8,c9,c10,c11,c12,c13,c14,c15,c16,"
		       "c17,name,\n"
		       "IT,ann@example.com,42,,,,,,,,,,,,,,,Ann Example,\n",
		       P11E_ROSTER_ALLOW_EXTRA_COLUMNS, &r, &err),
		 P11E_OK, &err);
	CHECK(r.n == 1 && eq(r.rows[0].email, "ann@example.com") &&
	      eq(r.rows[0].name, "Ann Example") && r.rows[0].error == NULL);
	p11e_roster_clear(&r);
}

/* Finding 4: a byte-order mark (Excel's "CSV UTF-8") is not part of the
 * first column's name. */
static void byte_order_mark(void)
{
	p11e_roster r;
	p11e_err err = {0};

	CHECK_RC(parse("r.csv",
		       "\xEF\xBB\xBF"
		       "email,name\r\nann@example.com,Ann\r\n",
		       0, &r, &err),
		 P11E_OK, &err);
	CHECK(r.n == 1 && eq(r.rows[0].email, "ann@example.com") && eq(r.rows[0].name, "Ann"));
	p11e_roster_clear(&r);
	CHECK_RC(parse("r.jsonl", "\xEF\xBB\xBF{\"email\":\"bo@example.com\"}\n", 0, &r, &err),
		 P11E_OK, &err);
	CHECK(r.n == 1 && eq(r.rows[0].email, "bo@example.com") && r.rows[0].error == NULL);
	p11e_roster_clear(&r);
	/* Without the .jsonl name: the '{' after the mark still says JSON. */
	CHECK_RC(parse("r.txt", "\xEF\xBB\xBF{\"email\":\"bo@example.com\"}", 0, &r, &err), P11E_OK,
		 &err);
	CHECK(r.n == 1 && eq(r.rows[0].email, "bo@example.com"));
	p11e_roster_clear(&r);
}

/* Finding 4: quoting errors name the line and what is wrong (they were
 * rows reported as "(no email)"). */
static void quoting(void)
{
	p11e_roster r;
	p11e_err err = {0};

	refused("email,name\nann@example.com,Ann\nbo@example.com,\"Bo\n", 0,
		"line 3: unterminated quote in field 2");
	refused("email,name\n\n# a comment\n\"cy@example.com,Cy\n", 0,
		"line 4: unterminated quote in field 1");
	refused("\"email,name\n", 0, "line 1: unterminated quote");
	refused("email,name\r\n\"dee@example.com\"x,Dee\r\n", 0,
		"line 2: text after the closing quote of field 1");
	{
		static const char nul[] = "email\nx@example.com\n\0\n";
		CHECK_RC(p11e_roster_parse("r.csv", nul, sizeof(nul) - 1, 0, &r, &err), P11E_USAGE,
			 &err);
		CHECK(has(err.msg, "line 3: a NUL byte"));
	}

	/* What RFC 4180 allows: quoted commas and doubled quotes, spaces
	 * around fields, CRLF or lone CR line ends. */
	CHECK_RC(parse("r.csv",
		       "email , name,token\r"
		       "  \"bo@example.com\" , \"Bo, the \"\"Second\"\"\",1234\r"
		       "ann@example.com,Ann,pkcs11:token=t\r",
		       0, &r, &err),
		 P11E_OK, &err);
	CHECK(r.n == 2 && r.rows[0].line == 2 && r.rows[1].line == 3);
	CHECK(eq(r.rows[0].email, "bo@example.com") && eq(r.rows[0].name, "Bo, the \"Second\""));
	CHECK(eq(r.rows[0].token, "pkcs11:serial=1234")); /* a serial: its URI */
	CHECK(eq(r.rows[1].token, "pkcs11:token=t"));
	p11e_roster_clear(&r);
}

static void bad_rows(void)
{
	p11e_roster r;
	p11e_err err = {0};

	CHECK_RC(parse("r.csv",
		       "email,name\n"
		       "ann@example.com,Ann,extra\n"
		       ",Nobody\n"
		       "\n"
		       "cy@example.com\n"
		       "dee@example.com,Dee\n",
		       0, &r, &err),
		 P11E_OK, &err);
	CHECK(r.n == 4);
	if (r.n == 4) {
		CHECK(r.rows[0].line == 2 &&
		      eq(r.rows[0].error, "3 fields where the header has 2"));
		CHECK(r.rows[1].line == 3 && eq(r.rows[1].error, "no email"));
		CHECK(r.rows[2].line == 5 && eq(r.rows[2].error, "1 field where the header has 2"));
		CHECK(r.rows[3].line == 6 && r.rows[3].error == NULL);
	}
	p11e_roster_clear(&r);
}

/* Finding 4: a JSON-lines row names the unknown key (the batch report
 * gives the line). */
static void json_lines(void)
{
	p11e_roster r;
	p11e_err err = {0};
	const char *text = "{\"email\":\"fin@example.com\",\"key\":\"ec:P-384\"}\n"
			   "not json\n"
			   "{\"email\":\"gus@example.com\",\"colour\":\"red\"}\n"
			   "\n"
			   "{\"email\":\"hal@example.com\",\"email\":\"eve@example.com\"}\n"
			   "{\"email\":5}\n"
			   "{\"email\":\"ida@example.com\",\"name\":null} \r\n"
			   "[\"jo@example.com\"]\n"
			   "{\"email\":\"kim@example.com\"} {}\n";

	CHECK_RC(parse("r.jsonl", text, 0, &r, &err), P11E_OK, &err);
	CHECK(r.n == 8);
	if (r.n == 8) {
		CHECK(r.rows[0].error == NULL && eq(r.rows[0].key, "ec:P-384"));
		CHECK(r.rows[1].line == 2 && has(r.rows[1].error, "not a JSON object"));
		CHECK(r.rows[2].line == 3 &&
		      eq(r.rows[2].error, "unknown key 'colour' (known: email, name, profile, "
					  "token, key, ca, upn, principal, sid; "
					  "--allow-extra-columns ignores others)"));
		CHECK(r.rows[3].line == 5 &&
		      eq(r.rows[3].error, "key 'email' appears twice; keep one"));
		CHECK(r.rows[4].line == 6 && eq(r.rows[4].error, "key 'email' must be a string"));
		CHECK(r.rows[5].line == 7 && r.rows[5].error == NULL && r.rows[5].name == NULL);
		CHECK(r.rows[6].line == 8 && has(r.rows[6].error, "not a JSON object"));
		CHECK(r.rows[7].line == 9 && has(r.rows[7].error, "not a JSON object"));
	}
	p11e_roster_clear(&r);

	CHECK_RC(parse("r.jsonl", "{\"email\":\"gus@example.com\",\"colour\":[1]}\n",
		       P11E_ROSTER_ALLOW_EXTRA_COLUMNS, &r, &err),
		 P11E_OK, &err);
	CHECK(r.n == 1 && r.rows[0].error == NULL && eq(r.rows[0].email, "gus@example.com"));
	p11e_roster_clear(&r);
}

static void from_file(void)
{
	const char *tmp = getenv("TEST_TMP");
	char path[512];
	p11e_roster r;
	p11e_err err = {0};
	FILE *f;

	snprintf(path, sizeof(path), "%s/roster.csv", tmp ? tmp : "/tmp");
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs("email,department\nx@example.com,X\n", f);
	fclose(f);
	CHECK_RC(p11e_roster_load(path, 0, &r, &err), P11E_USAGE, &err);
	CHECK(has(err.msg, "unknown column 'department'") && has(err.msg, path));
	CHECK_RC(p11e_roster_load(path, P11E_ROSTER_ALLOW_EXTRA_COLUMNS, &r, &err), P11E_OK, &err);
	CHECK(r.n == 1 && eq(r.rows[0].email, "x@example.com"));
	p11e_roster_clear(&r);
	snprintf(path, sizeof(path), "%s/missing.csv", tmp ? tmp : "/tmp");
	CHECK_RC(p11e_roster_load(path, 0, &r, &err), P11E_USAGE, &err);
	CHECK(has(err.msg, "cannot read it"));
}

/* A field echoed in a message: whole up to 100 bytes, else its first 100 (never
 * half a UTF-8 character) and its length. */
static void shown(void)
{
	char buf[P11E_ROSTER_SHOWN], *big = malloc(10000);

	CHECK(eq(p11e_roster_shown("ann@example.com", buf), "ann@example.com"));
	CHECK(eq(p11e_roster_shown(NULL, buf), ""));
	if (big == NULL)
		return;
	memset(big, 'a', 9999);
	big[9999] = '\0';
	p11e_roster_shown(big, buf);
	CHECK(strlen(buf) < 130 && has(buf, "...(9999 bytes)") && strncmp(buf, big, 100) == 0);
	/* "é" (2 bytes) across byte 100: cut before it. */
	memset(big, 'b', 99);
	memcpy(big + 99, "\xC3\xA9", 2);
	big[101] = '\0';
	p11e_roster_shown(big, buf);
	CHECK(has(buf, "...(101 bytes)") && buf[99] == '.' && buf[98] == 'b');
	free(big);
}

/* The batch's index of addresses: the first row of a repeated one, in any
 * case; full when more keys come than it was made for. */
static void row_index(void)
{
	p11e_row_index ix;
	size_t first = 0;

	CHECK(p11e_row_index_init(&ix, 3, 1) == 0);
	CHECK(p11e_row_index_add(&ix, "a@example.com", 0, &first) == 0);
	CHECK(p11e_row_index_add(&ix, "b@example.com", 1, &first) == 0);
	CHECK(p11e_row_index_add(&ix, "A@Example.COM", 2, &first) == 1 && first == 0);
	p11e_row_index_free(&ix);
	CHECK(p11e_row_index_init(&ix, 2, 0) == 0);
	CHECK(p11e_row_index_add(&ix, "pkcs11:token=A", 0, &first) == 0);
	CHECK(p11e_row_index_add(&ix, "pkcs11:token=a", 1, &first) == 0);
	/* Keys are borrowed: they live as long as the index. */
	static char keys[100][8];
	for (size_t i = 2; i < 100; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		if (p11e_row_index_add(&ix, keys[i], i, &first) < 0)
			break;
		CHECK(i < 16); /* made for 2: at most half of 16 slots */
	}
	p11e_row_index_free(&ix);
}

int main(void)
{
	shown();
	row_index();
	unknown_columns();
	byte_order_mark();
	quoting();
	bad_rows();
	json_lines();
	from_file();
	return check_done();
}
