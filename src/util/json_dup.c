/* Duplicate keys in a JSON text. json-c keeps the last of two equal keys in
 * one object without a word, so {"url": "a", "url": "b"} would pass any check
 * made on the parsed tree: this scanner reads the text itself. It follows
 * only the structure (strings, braces, brackets, colons, commas) and is meant
 * to run on a text a JSON parser has accepted, but any bytes are safe to
 * give it (fuzzed: tests/fuzz/fuzz_config.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "p11enroll/conf.h"

/* json-c's own depth limit is 32: anything it accepted fits. */
#define MAX_DEPTH 64
#define PATH_CAP 256

typedef struct scan {
	const char *p, *end;
	char path[PATH_CAP]; /* where we are: "cas.corp" (truncated when long) */
	size_t path_len;
	int depth;
	int found;
} scan;

typedef struct key_list {
	char **keys;
	size_t n, cap;
} key_list;

static void skip_ws(scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hex4(const char *p, const char *end, unsigned *out)
{
	unsigned v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* A string at s->p (on its opening quote). With out, its value decoded
 * (malloc'd), so that "a" and "\u0061" are the same key, as they are to the
 * parser; cut at a NUL, as json-c keeps keys as C strings. -1: unterminated. */
static int read_string(scan *s, char **out)
{
	const char *start = ++s->p;
	char *o = NULL;
	size_t n = 0;

	while (s->p < s->end && *s->p != '"')
		s->p += *s->p == '\\' && s->p + 1 < s->end ? 2 : 1;
	if (s->p >= s->end)
		return -1;
	s->p++;
	if (out == NULL)
		return 0;
	/* Decoding never makes a string longer than its escaped form. */
	if ((o = malloc((size_t)(s->p - start))) == NULL)
		return -1;
	for (const char *q = start; q < s->p - 1;) {
		unsigned cp, lo;
		if (*q != '\\') {
			o[n++] = *q++;
			continue;
		}
		q++;
		switch (*q) {
		case 'b':
			o[n++] = '\b';
			break;
		case 'f':
			o[n++] = '\f';
			break;
		case 'n':
			o[n++] = '\n';
			break;
		case 'r':
			o[n++] = '\r';
			break;
		case 't':
			o[n++] = '\t';
			break;
		case 'u':
			if (hex4(q + 1, s->p - 1, &cp) != 0) {
				o[n++] = *q++;
				continue;
			}
			q += 4;
			if (cp >= 0xD800 && cp < 0xDC00 && s->p - 1 - (q + 1) >= 6 &&
			    q[1] == '\\' && q[2] == 'u' && hex4(q + 3, s->p - 1, &lo) == 0 &&
			    lo >= 0xDC00 && lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				q += 6;
			}
			n += put_utf8(o + n, cp);
			break;
		default:
			o[n++] = *q;
			break;
		}
		q++;
	}
	o[n] = '\0';
	*out = o;
	return 0;
}

/* Appends ".key" (or "[i]") to the path; returns the old length to restore. */
static size_t path_push(scan *s, const char *key, long index)
{
	size_t old = s->path_len;
	int w;

	if (key != NULL)
		w = snprintf(s->path + old, PATH_CAP - old, "%s%s", old ? "." : "", key);
	else
		w = snprintf(s->path + old, PATH_CAP - old, "[%ld]", index);
	if (w > 0)
		s->path_len = old + (size_t)w < PATH_CAP ? old + (size_t)w : PATH_CAP - 1;
	return old;
}

static void path_pop(scan *s, size_t old)
{
	s->path_len = old;
	s->path[old] = '\0';
}

static int scan_value(scan *s);

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, two equal neighbours are a duplicate: n log n, whatever the size. */
static const char *first_duplicate(key_list *k)
{
	if (k->n < 2)
		return NULL;
	qsort(k->keys, k->n, sizeof(*k->keys), by_string);
	for (size_t i = 1; i < k->n; i++)
		if (strcmp(k->keys[i - 1], k->keys[i]) == 0)
			return k->keys[i];
	return NULL;
}

static int scan_object(scan *s)
{
	key_list k = {0};
	const char *dup;
	int rc = -1;

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		char *key = NULL;
		size_t old;

		skip_ws(s);
		if (s->p >= s->end || *s->p != '"' || read_string(s, &key) != 0)
			goto out;
		if (k.n == k.cap) {
			size_t cap = k.cap ? k.cap * 2 : 8;
			char **grown = realloc(k.keys, cap * sizeof(*grown));
			if (grown == NULL) {
				free(key);
				goto out;
			}
			k.keys = grown;
			k.cap = cap;
		}
		k.keys[k.n++] = key;
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			goto out;
		s->p++;
		old = path_push(s, key, 0);
		if (scan_value(s) != 0 || s->found)
			goto out; /* the path stays: it names the duplicate inside */
		path_pop(s, old);
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			break;
		}
		goto out;
	}
	if ((dup = first_duplicate(&k)) != NULL) {
		path_push(s, dup, 0);
		s->found = 1;
	}
	rc = 0;
out:
	for (size_t i = 0; i < k.n; i++)
		free(k.keys[i]);
	free(k.keys);
	return rc;
}

static int scan_array(scan *s)
{
	long i = 0;

	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (;; i++) {
		size_t old = path_push(s, NULL, i);
		if (scan_value(s) != 0 || s->found)
			return s->found ? 0 : -1;
		path_pop(s, old);
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return 0;
		}
		return -1;
	}
}

static int scan_value(scan *s)
{
	int rc;

	skip_ws(s);
	if (s->p >= s->end)
		return -1;
	if (*s->p == '"')
		return read_string(s, NULL);
	if (*s->p == '{' || *s->p == '[') {
		if (++s->depth > MAX_DEPTH)
			return -1;
		rc = *s->p == '{' ? scan_object(s) : scan_array(s);
		s->depth--;
		return rc;
	}
	/* A number, true, false, null: whatever runs up to the next delimiter. */
	if (strchr(",:]} \t\r\n", *s->p) != NULL)
		return -1;
	while (s->p < s->end && strchr(",:]}{[\" \t\r\n", *s->p) == NULL)
		s->p++;
	return 0;
}

int p11e_json_duplicate_key(const char *text, size_t len, char *path, size_t cap)
{
	scan s = {.p = text, .end = text + len};
	int rc;

	rc = scan_value(&s);
	if (rc != 0 && !s.found)
		return -1;
	if (!s.found)
		return 0;
	if (path != NULL && cap > 0) {
		/* For a one-line message: no control characters from the file. */
		for (char *c = s.path; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		snprintf(path, cap, "%s", s.path);
	}
	return 1;
}
