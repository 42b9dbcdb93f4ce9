/* Roster files: CSV (RFC 4180 quoting) or JSON lines, one identity a row. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>
#include "p11enroll/roster.h"
#include "p11enroll/uri.h"
#include "p11enroll/util.h"

#define ROSTER_MAX (64 * 1024 * 1024)
#define MAX_FIELDS 16

static const char *const columns[] = {"email", "name", "profile", "token", "key", "ca", NULL};

static char **column_slot(p11e_roster_row *r, size_t col)
{
	char **slots[] = {&r->email, &r->name, &r->profile, &r->token, &r->key, &r->ca};
	return slots[col];
}

static int column_index(const char *name)
{
	for (size_t i = 0; columns[i] != NULL; i++)
		if (strcasecmp(name, columns[i]) == 0)
			return (int)i;
	return -1;
}

static void set_error(p11e_roster_row *r, const char *msg)
{
	if (r->error == NULL)
		r->error = strdup(msg);
}

/* A serial alone is shorthand for its token URI. */
static void normalise_token(p11e_roster_row *r)
{
	char *uri;

	if (r->token == NULL || r->token[0] == '\0' || strncasecmp(r->token, "pkcs11:", 7) == 0)
		return;
	uri = p11e_uri_format(NULL, NULL, r->token, NULL, NULL, 0, NULL);
	if (uri != NULL) {
		free(r->token);
		r->token = uri;
	}
}

/* Splits one CSV record (line, without its newline) into at most MAX_FIELDS
 * malloc'd fields. -1 on an unterminated quote. */
static int csv_split(const char *line, char **fields, size_t *n)
{
	size_t count = 0;
	const char *p = line;

	for (;;) {
		size_t cap = strlen(p) + 1, len = 0;
		char *f = malloc(cap);
		if (f == NULL) {
			while (count > 0)
				free(fields[--count]);
			return -1;
		}
		if (*p == '"') {
			p++;
			for (;;) {
				if (*p == '\0') {
					free(f);
					while (count > 0)
						free(fields[--count]);
					return -1;
				}
				if (*p == '"' && p[1] == '"') {
					f[len++] = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					f[len++] = *p++;
				}
			}
			while (*p != ',' && *p != '\0')
				p++;
		} else {
			while (*p != ',' && *p != '\0')
				f[len++] = *p++;
			while (len > 0 && isspace((unsigned char)f[len - 1]))
				len--;
		}
		f[len] = '\0';
		if (count < MAX_FIELDS)
			fields[count++] = f;
		else
			free(f);
		if (*p != ',')
			break;
		p++;
		while (*p == ' ')
			p++;
	}
	*n = count;
	return 0;
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

static p11e_rc parse_csv(const char *path, char *text, p11e_roster *r, p11e_err *err)
{
	int map[MAX_FIELDS];
	size_t ncols = 0, line = 0, cap = 0;
	int have_email = 0, header = 1;
	char *next = text;
	p11e_rc rc = P11E_OK;

	while (next != NULL && *next != '\0') {
		char *l = next, *end = strchr(l, '\n');
		char *fields[MAX_FIELDS];
		size_t n = 0;
		p11e_roster_row *row = NULL;

		if (end != NULL)
			*end = '\0';
		next = end ? end + 1 : NULL;
		line++;
		l[strcspn(l, "\r")] = '\0';
		if (l[0] == '\0' || l[0] == '#')
			continue;
		if (csv_split(l, fields, &n) != 0) {
			if (header)
				return p11e_errf(err, P11E_USAGE,
						 "roster %s: line %zu: bad quoting", path, line);
			rc = push(r, &cap, &row, line, err);
			if (rc != P11E_OK)
				return rc;
			set_error(row, "bad quoting");
			continue;
		}
		if (header) {
			for (size_t i = 0; i < n; i++) {
				map[i] = column_index(fields[i]);
				if (map[i] < 0) {
					rc = p11e_errf(err, P11E_USAGE,
						       "roster %s: unknown column '%.40s' (known: "
						       "email, name, profile, token, key, ca)",
						       path, fields[i]);
					for (size_t j = 0; j < n; j++)
						free(fields[j]);
					return rc;
				}
				have_email |= map[i] == 0;
				free(fields[i]);
			}
			ncols = n;
			header = 0;
			if (!have_email)
				return p11e_errf(err, P11E_USAGE,
						 "roster %s: the header has no email column", path);
			continue;
		}
		rc = push(r, &cap, &row, line, err);
		if (rc != P11E_OK) {
			for (size_t j = 0; j < n; j++)
				free(fields[j]);
			return rc;
		}
		if (n != ncols)
			set_error(row, "wrong number of columns");
		for (size_t i = 0; i < n; i++) {
			if (i < ncols && fields[i][0] != '\0' &&
			    *column_slot(row, (size_t)map[i]) == NULL)
				*column_slot(row, (size_t)map[i]) = fields[i];
			else
				free(fields[i]);
		}
		normalise_token(row);
	}
	if (header)
		return p11e_errf(err, P11E_USAGE, "roster %s: empty (a header row is required)",
				 path);
	return P11E_OK;
}

static p11e_rc parse_jsonl(const char *path, char *text, p11e_roster *r, p11e_err *err)
{
	size_t line = 0, cap = 0;
	char *p = text;
	p11e_rc rc;

	(void)path;
	while (*p != '\0') {
		char *end = strchr(p, '\n');
		p11e_roster_row *row = NULL;
		json_object *o;

		if (end != NULL)
			*end = '\0';
		line++;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '\0') {
			rc = push(r, &cap, &row, line, err);
			if (rc != P11E_OK)
				return rc;
			o = json_tokener_parse(p);
			if (o == NULL || !json_object_is_type(o, json_type_object)) {
				set_error(row, "not a JSON object");
			} else {
				json_object_object_foreach(o, key, val)
				{
					int col = column_index(key);
					if (col < 0) {
						set_error(row, "unknown key");
					} else if (!json_object_is_type(val, json_type_string)) {
						set_error(row, "values must be strings");
					} else if (*column_slot(row, (size_t)col) == NULL) {
						*column_slot(row, (size_t)col) =
						    strdup(json_object_get_string(val));
					}
				}
				normalise_token(row);
			}
			json_object_put(o);
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return P11E_OK;
}

p11e_rc p11e_roster_load(const char *path, p11e_roster *out, p11e_err *err)
{
	char *text = NULL, *first;
	size_t len = 0, plen = strlen(path);
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	rc = p11e_read_file(path, ROSTER_MAX, &text, &len, err);
	if (rc != P11E_OK)
		return p11e_errf(err, P11E_USAGE, "roster %s: cannot read it", path);
	first = text + strspn(text, " \t\r\n");
	if (*first == '{' || (plen > 6 && strcmp(path + plen - 6, ".jsonl") == 0))
		rc = parse_jsonl(path, text, out, err);
	else
		rc = parse_csv(path, text, out, err);
	free(text);
	for (size_t i = 0; rc == P11E_OK && i < out->n; i++)
		if (out->rows[i].error == NULL && out->rows[i].email == NULL)
			set_error(&out->rows[i], "no email");
	if (rc != P11E_OK)
		p11e_roster_clear(out);
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
