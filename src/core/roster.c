/* Roster files: CSV (RFC 4180 quoting, one record a line) or JSON lines, one
 * identity a row. Bad rows are reported by the batch and the rest goes on;
 * a file whose structure is broken (a header that is wrong, quoting that
 * does not close) is refused whole, since nothing after it can be trusted to
 * be what the writer meant. */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "p11enroll/conf.h"
#include "p11enroll/roster.h"
#include "p11enroll/uri.h"
#include "p11enroll/util.h"

#define ROSTER_MAX (64 * 1024 * 1024)
/* HR exports run to a few dozen columns; more is not a roster. */
#define MAX_FIELDS 256
#define KNOWN "email, name, profile, token, key, ca, upn, principal, sid"

static const char *const columns[] = {"email", "name", "profile",   "token", "key",
				      "ca",    "upn",  "principal", "sid",   NULL};
#define NCOLUMNS 9

static char **column_slot(p11e_roster_row *r, size_t col)
{
	char **slots[NCOLUMNS] = {&r->email, &r->name, &r->profile,   &r->token, &r->key,
				  &r->ca,    &r->upn,  &r->principal, &r->sid};
	return slots[col];
}

static int column_index(const char *name)
{
	for (size_t i = 0; columns[i] != NULL; i++)
		if (strcasecmp(name, columns[i]) == 0)
			return (int)i;
	return -1;
}

/* A name from the file, fit for a one-line message: at most 40 bytes, no
 * control characters (a terminal escape in a CSV header stays inert). */
static const char *shown(const char *s, char buf[48])
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < 40; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

__attribute__((format(printf, 2, 3))) static void set_error(p11e_roster_row *r, const char *fmt,
							    ...)
{
	char msg[256];
	va_list ap;

	if (r->error != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Out of memory leaves the row without its reason; the load fails
	 * below when no row can be added at all. */
	r->error = strdup(msg);
}

/* A serial alone is shorthand for its token URI. */
static void normalise_token(p11e_roster_row *r)
{
	char *uri;

	if (r->token == NULL || strncasecmp(r->token, "pkcs11:", 7) == 0)
		return;
	uri = p11e_uri_format(NULL, NULL, r->token, NULL, NULL, 0, NULL);
	if (uri != NULL) {
		free(r->token);
		r->token = uri;
	}
}

static p11e_rc push(p11e_roster *r, size_t *cap, p11e_roster_row **row, size_t line, p11e_err *err)
{
	if (r->n == *cap) {
		size_t grown_cap = *cap ? *cap * 2 : 64;
		p11e_roster_row *grown = realloc(r->rows, grown_cap * sizeof(*grown));
		if (grown == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		r->rows = grown;
		*cap = grown_cap;
	}
	*row = &r->rows[r->n++];
	memset(*row, 0, sizeof(**row));
	(*row)->line = line;
	return P11E_OK;
}

/* --- CSV --- */

typedef struct csv {
	const char *p, *end;
	size_t line; /* of the character at p */
	const char *name;
	char *fields[MAX_FIELDS];
	size_t n;
} csv;

static void csv_free_fields(csv *c)
{
	while (c->n > 0)
		free(c->fields[--c->n]);
}

static int at_line_end(const csv *c)
{
	return c->p >= c->end || *c->p == '\n' || *c->p == '\r';
}

/* Past the line end at p: "\n", "\r\n" or a lone "\r" (old Mac exports). */
static void next_line(csv *c)
{
	if (c->p < c->end && *c->p == '\r')
		c->p++;
	if (c->p < c->end && *c->p == '\n')
		c->p++;
	c->line++;
}

/* Appends the character at p to the field f being read (the last of
 * c->fields), growing it as needed. */
static p11e_rc push_char(csv *c, char **f, size_t *cap, size_t *len, p11e_err *err)
{
	if (*len + 1 >= *cap) {
		char *grown = realloc(*f, *cap *= 2);
		if (grown == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		c->fields[c->n - 1] = *f = grown;
	}
	(*f)[(*len)++] = *c->p++;
	return P11E_OK;
}

/* One field at p, malloc'd, into c->fields. */
static p11e_rc csv_field(csv *c, p11e_err *err)
{
	size_t cap = 64, len = 0, k = c->n + 1;
	char *f;

	if (c->n == MAX_FIELDS)
		return p11e_errf(err, P11E_USAGE, "roster %s: line %zu: more than %d fields",
				 c->name, c->line, MAX_FIELDS);
	if ((f = malloc(cap)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	c->fields[c->n++] = f;
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	if (c->p < c->end && *c->p == '"') {
		c->p++;
		for (;;) {
			if (at_line_end(c))
				return p11e_errf(err, P11E_USAGE,
						 "roster %s: line %zu: unterminated quote in field "
						 "%zu (a quoted field must end on its own line)",
						 c->name, c->line, k);
			if (*c->p == '"' && (c->p + 1 >= c->end || c->p[1] != '"')) {
				c->p++;
				break;
			}
			if (*c->p == '"')
				c->p++; /* "" is one quote */
			if (push_char(c, &f, &cap, &len, err) != P11E_OK)
				return P11E_FAIL;
		}
		while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
			c->p++;
		if (!at_line_end(c) && *c->p != ',')
			return p11e_errf(err, P11E_USAGE,
					 "roster %s: line %zu: text after the closing quote of "
					 "field %zu (quote the whole field, and double a quote "
					 "inside it: \"\")",
					 c->name, c->line, k);
	} else {
		while (!at_line_end(c) && *c->p != ',') {
			if (push_char(c, &f, &cap, &len, err) != P11E_OK)
				return P11E_FAIL;
		}
		while (len > 0 && (f[len - 1] == ' ' || f[len - 1] == '\t'))
			len--;
	}
	f[len] = '\0';
	return P11E_OK;
}

/* The next record into c->fields (c->n of them, 0 at the end of the text);
 * blank lines and lines starting with '#' are skipped. *line: where it is. */
static p11e_rc csv_record(csv *c, size_t *line, p11e_err *err)
{
	p11e_rc rc;

	csv_free_fields(c);
	for (;;) {
		const char *q = c->p;
		while (q < c->end && (*q == ' ' || *q == '\t'))
			q++;
		if (c->p >= c->end)
			return P11E_OK;
		if (q < c->end && *q == '#') {
			while (!at_line_end(c))
				c->p++;
		} else if (q < c->end && *q != '\n' && *q != '\r') {
			break;
		} else {
			c->p = q;
		}
		next_line(c);
	}
	*line = c->line;
	for (;;) {
		if ((rc = csv_field(c, err)) != P11E_OK)
			return rc;
		if (at_line_end(c))
			break;
		c->p++; /* the comma */
	}
	next_line(c);
	return P11E_OK;
}

/* map[i]: the column field i goes to, or -1 (an extra column, ignored). */
static p11e_rc csv_header(csv *c, size_t line, unsigned flags, int *map, p11e_err *err)
{
	int seen[NCOLUMNS] = {0};
	char buf[48];

	for (size_t i = 0; i < c->n; i++) {
		map[i] = column_index(c->fields[i]);
		if (map[i] >= 0 && seen[map[i]]++)
			return p11e_errf(err, P11E_USAGE,
					 "roster %s: line %zu: column '%s' appears twice in the "
					 "header; keep one",
					 c->name, line, columns[map[i]]);
		if (map[i] >= 0 || (flags & P11E_ROSTER_ALLOW_EXTRA_COLUMNS))
			continue;
		if (c->fields[i][0] == '\0')
			return p11e_errf(
			    err, P11E_USAGE,
			    "roster %s: line %zu: column %zu of the header has no name "
			    "(known: " KNOWN "; --allow-extra-columns ignores others)",
			    c->name, line, i + 1);
		return p11e_errf(err, P11E_USAGE,
				 "roster %s: line %zu: unknown column '%s' (known: " KNOWN
				 "; --allow-extra-columns ignores others)",
				 c->name, line, shown(c->fields[i], buf));
	}
	if (!seen[0])
		return p11e_errf(err, P11E_USAGE,
				 "roster %s: line %zu: the header has no email column", c->name,
				 line);
	return P11E_OK;
}

static p11e_rc parse_csv(const char *name, const char *text, size_t len, unsigned flags,
			 p11e_roster *r, p11e_err *err)
{
	csv c = {.p = text, .end = text + len, .line = 1, .name = name};
	int map[MAX_FIELDS];
	size_t ncols = 0, cap = 0, line = 0;
	p11e_rc rc;

	if ((rc = csv_record(&c, &line, err)) != P11E_OK)
		goto out;
	if (c.n == 0) {
		rc =
		    p11e_errf(err, P11E_USAGE, "roster %s: empty (a header row is required)", name);
		goto out;
	}
	if ((rc = csv_header(&c, line, flags, map, err)) != P11E_OK)
		goto out;
	ncols = c.n;
	for (;;) {
		p11e_roster_row *row = NULL;

		if ((rc = csv_record(&c, &line, err)) != P11E_OK || c.n == 0)
			goto out;
		if ((rc = push(r, &cap, &row, line, err)) != P11E_OK)
			goto out;
		if (c.n != ncols)
			set_error(row, "%zu field%s where the header has %zu", c.n,
				  c.n == 1 ? "" : "s", ncols);
		for (size_t i = 0; i < c.n && i < ncols; i++) {
			char **slot;
			if (map[i] < 0 || c.fields[i][0] == '\0')
				continue;
			slot = column_slot(row, (size_t)map[i]);
			*slot = c.fields[i];
			c.fields[i] = NULL; /* the row owns it now */
		}
		normalise_token(row);
	}
out:
	csv_free_fields(&c);
	return rc;
}

/* --- JSON lines --- */

static void jsonl_row(const char *line, size_t len, unsigned flags, p11e_roster_row *row)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL;
	char dup[64], buf[48];
	size_t end;

	if (tok == NULL) {
		set_error(row, "out of memory");
		return;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, line, (int)len);
	end = json_tokener_get_parse_end(tok);
	while (end < len && isspace((unsigned char)line[end]))
		end++;
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success || end < len ||
	    !json_object_is_type(o, json_type_object)) {
		set_error(row, "not a JSON object (one {...} a line)");
		goto out;
	}
	/* json-c keeps the last of two equal keys: which email was meant? */
	if (p11e_json_duplicate_key(line, len, dup, sizeof(dup)) == 1) {
		set_error(row, "key '%s' appears twice; keep one", shown(dup, buf));
		goto out;
	}
	json_object_object_foreach(o, key, val)
	{
		int col = column_index(key);
		char **slot;

		if (col < 0) {
			if (!(flags & P11E_ROSTER_ALLOW_EXTRA_COLUMNS))
				set_error(row,
					  "unknown key '%s' (known: " KNOWN
					  "; --allow-extra-columns ignores others)",
					  shown(key, buf));
			continue;
		}
		if (json_object_is_type(val, json_type_null))
			continue;
		if (!json_object_is_type(val, json_type_string)) {
			set_error(row, "key '%s' must be a string", columns[col]);
			continue;
		}
		slot = column_slot(row, (size_t)col);
		if (*slot == NULL && json_object_get_string_len(val) > 0 &&
		    (*slot = strdup(json_object_get_string(val))) == NULL)
			set_error(row, "out of memory");
	}
	normalise_token(row);
out:
	json_object_put(o);
	json_tokener_free(tok);
}

static p11e_rc parse_jsonl(const char *text, size_t len, unsigned flags, p11e_roster *r,
			   p11e_err *err)
{
	size_t line = 0, cap = 0;
	const char *p = text, *end = text + len;
	p11e_rc rc;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		p11e_roster_row *row = NULL;

		line++;
		while (p < stop && isspace((unsigned char)*p))
			p++;
		if (p < stop) {
			const char *last = stop;
			while (last > p && isspace((unsigned char)last[-1]))
				last--;
			if ((rc = push(r, &cap, &row, line, err)) != P11E_OK)
				return rc;
			if ((size_t)(last - p) > INT_MAX)
				set_error(row, "line too long");
			else
				jsonl_row(p, (size_t)(last - p), flags, row);
		}
		p = nl ? nl + 1 : end;
	}
	return P11E_OK;
}

/* --- the file --- */

p11e_rc p11e_roster_parse(const char *name, const char *text, size_t len, unsigned flags,
			  p11e_roster *out, p11e_err *err)
{
	static const char bom[] = "\xEF\xBB\xBF";
	size_t nlen = strlen(name), skip;
	const char *nul;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	/* Excel's "CSV UTF-8" starts with a byte-order mark. */
	if (len >= 3 && memcmp(text, bom, 3) == 0) {
		text += 3;
		len -= 3;
	}
	if ((nul = memchr(text, '\0', len)) != NULL) {
		size_t line = 1;
		for (const char *q = text; q < nul; q++)
			line += *q == '\n';
		return p11e_errf(err, P11E_USAGE,
				 "roster %s: line %zu: a NUL byte: save it as CSV or JSON lines "
				 "text (UTF-8)",
				 name, line);
	}
	for (skip = 0; skip < len && isspace((unsigned char)text[skip]); skip++)
		;
	if ((skip < len && text[skip] == '{') ||
	    (nlen > 6 && strcmp(name + nlen - 6, ".jsonl") == 0) ||
	    (nlen > 5 && strcmp(name + nlen - 5, ".json") == 0))
		rc = parse_jsonl(text, len, flags, out, err);
	else
		rc = parse_csv(name, text, len, flags, out, err);
	for (size_t i = 0; rc == P11E_OK && i < out->n; i++)
		if (out->rows[i].error == NULL && out->rows[i].email == NULL)
			set_error(&out->rows[i], "no email");
	if (rc != P11E_OK)
		p11e_roster_clear(out);
	return rc;
}

p11e_rc p11e_roster_load(const char *path, unsigned flags, p11e_roster *out, p11e_err *err)
{
	char *text = NULL;
	size_t len = 0;
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	rc = p11e_read_file(path, ROSTER_MAX, &text, &len, err);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_USAGE, "roster %s: cannot read it", path);
	rc = p11e_roster_parse(path, text, len, flags, out, err);
	free(text);
	return rc;
}

void p11e_roster_clear(p11e_roster *r)
{
	for (size_t i = 0; i < r->n; i++) {
		for (size_t c = 0; columns[c] != NULL; c++)
			free(*column_slot(&r->rows[i], c));
		free(r->rows[i].error);
	}
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

/* 100 bytes: an address or a URI of any sensible length is shown whole. */
#define SHOWN_BYTES 100

const char *p11e_roster_shown(const char *field, char buf[P11E_ROSTER_SHOWN])
{
	size_t len, cut;

	if (field == NULL) {
		buf[0] = '\0';
		return buf;
	}
	len = strlen(field);
	if (len <= SHOWN_BYTES) {
		memcpy(buf, field, len + 1);
		return buf;
	}
	/* Back to the start of a character: no half of one is shown. */
	for (cut = SHOWN_BYTES; cut > 0 && ((unsigned char)field[cut] & 0xC0) == 0x80; cut--)
		;
	snprintf(buf, P11E_ROSTER_SHOWN, "%.*s...(%zu bytes)", (int)cut, field, len);
	return buf;
}
