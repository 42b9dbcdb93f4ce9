/* The audit log's parsers (src/core/audit_parse.h): the chain walk and the
 * head, on bytes, with no file behind them. */
#include <string.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "core/audit_parse.h"
#include "p11enroll/util.h"

void p11e_audit_line_hash(const char *line, size_t len, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(line, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		memset(md, 0, sizeof(md)); /* a chain that cannot be hashed never matches */
	p11e_hex_encode(md, 32, hex);
}

/* Checks one line against the chain so far: "seq" one more than the last,
 * "prev" the hash of the line before. Lines without "seq" before the first
 * chained one are entries written before the chain existed (accepted as
 * they are, and the first chained entry's "prev" covers the last of them). */
static const char *check_line(const char *line, const p11e_audit_chain *c, int prev_known,
			      long long *seq)
{
	json_object *o = json_tokener_parse(line), *v;
	const char *why = NULL;

	*seq = 0;
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		why = "is not a JSON object (edited or torn)";
	} else if (!json_object_object_get_ex(o, "seq", &v)) {
		if (c->seq > 0)
			why = "has no \"seq\" (inserted or edited)";
	} else if (!json_object_is_type(v, json_type_int) ||
		   (*seq = json_object_get_int64(v)) != c->seq + 1) {
		why = "has the wrong \"seq\" (an entry before it was removed, or it was "
		      "inserted, moved or edited)";
	} else if (!prev_known) {
		/* The first entry handed without those before it: its own
		 * hash is checked against the head instead. */
	} else if (!json_object_object_get_ex(o, "prev", &v) ||
		   !json_object_is_type(v, json_type_string) ||
		   strcmp(json_object_get_string(v), c->hash) != 0) {
		why = "does not chain to the line before it (that line was edited or removed)";
	}
	json_object_put(o);
	return why;
}

p11e_rc p11e_audit_walk_line(const char *where, const char *unit, long long number, char *line,
			     size_t len, int prev_known, p11e_audit_chain *c, long long *seq,
			     p11e_err *err)
{
	const char *why;
	char saved = line[len];

	*seq = 0;
	c->lines++;
	if (number <= 0)
		number = (long long)c->lines;
	line[len] = '\0';
	/* A NUL inside a line would hide what follows it from the JSON parser
	 * while the hash covers it: not a line p11enroll wrote. */
	why = memchr(line, '\0', len) != NULL ? "holds a NUL byte (edited)"
						: check_line(line, c, prev_known, seq);
	line[len] = saved;
	if (why != NULL) {
		c->bad = (size_t)number;
		return p11e_errf(err, P11E_FAIL,
				 "audit log %s: %s %lld %s; investigate, then see p11enroll(1) "
				 "AUDIT LOG",
				 where, unit, number, why);
	}
	p11e_audit_line_hash(line, len, c->hash);
	if (*seq > 0)
		c->seq = *seq;
	return P11E_OK;
}

p11e_rc p11e_audit_walk(const char *path, char *text, size_t len, p11e_audit_chain *c,
			p11e_err *err)
{
	char *p = text, *end = text + len;
	long long seq;
	p11e_rc rc;

	memset(c, 0, sizeof(*c));
	strcpy(c->hash, P11E_AUDIT_ZERO_HASH);
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL) {
			c->lines++;
			c->bad = c->lines;
			return p11e_errf(err, P11E_FAIL,
					 "audit log %s: line %zu is cut short (no end of line); "
					 "investigate, then see p11enroll(1) AUDIT LOG",
					 path, c->lines);
		}
		rc = p11e_audit_walk_line(path, "line", 0, p, (size_t)(nl - p), 1, c, &seq, err);
		if (rc != P11E_OK)
			return rc;
		p = nl + 1;
	}
	return P11E_OK;
}

static int is_hex64(const char *s, size_t len)
{
	if (len != 64)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (p11e_hex_digit((unsigned char)s[i]) < 0)
			return 0;
	return 1;
}

p11e_rc p11e_audit_head_parse(const char *head_path, const char *text, const char *log,
			      p11e_audit_head *h, p11e_err *err)
{
	json_object *o = json_tokener_parse(text), *v, *s;
	p11e_rc rc = P11E_OK;

	memset(h, 0, sizeof(*h));
	strcpy(h->hash, P11E_AUDIT_ZERO_HASH);
	h->found = 1;
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "log", &v) || !json_object_is_type(v, json_type_string) ||
	    !json_object_object_get_ex(o, "seq", &s) || !json_object_is_type(s, json_type_int) ||
	    json_object_get_int64(s) < 0) {
		rc = p11e_errf(err, P11E_FAIL,
			       "%s is corrupt; investigate, then see p11enroll(1) AUDIT LOG",
			       head_path);
		goto out;
	}
	if (strcmp(json_object_get_string(v), log) != 0)
		goto out; /* about another log: the config's "audit_log" changed */
	h->this_log = 1;
	h->seq = json_object_get_int64(s);
	if (json_object_object_get_ex(o, "sha256", &v) && json_object_is_type(v, json_type_string) &&
	    is_hex64(json_object_get_string(v), (size_t)json_object_get_string_len(v)))
		strcpy(h->hash, json_object_get_string(v));
	/* Heads written before the print existed have none: a walk. */
	if (json_object_object_get_ex(o, "file", &v) && json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) == 5) {
		long long *f[5] = {&h->print.dev, &h->print.ino, &h->print.size,
				   &h->print.ctime_s, &h->print.ctime_ns};
		for (size_t i = 0; i < 5; i++)
			*f[i] = json_object_get_int64(json_object_array_get_idx(v, i));
	}
out:
	json_object_put(o);
	return rc;
}
