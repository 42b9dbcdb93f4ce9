/* The identity in a directory entry (include/p11enroll/directory.h): the
 * binary objectSid as S-1-... text, the user principal name and the display
 * name, each checked before it goes near a certificate. No LDAP here: the
 * values come from src/publish/ldap_lookup.c, or from a test or a fuzzer. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "p11enroll/directory.h"
#include "p11enroll/util.h"
#include "p11enroll/validate.h"

int p11e_sid_to_text(const unsigned char *sid, size_t len, char *out, size_t cap)
{
	uint64_t authority = 0;
	size_t count, used;
	int n;

	/* Revision 1 is the only one there is; a SID has 1 to 15
	 * sub-authorities (MS-DTYP 2.4.2), and nothing after them. */
	if (sid == NULL || len < 8 || sid[0] != 1)
		return -1;
	count = sid[1];
	if (count < 1 || count > 15 || len != 8 + 4 * count)
		return -1;
	for (size_t i = 2; i < 8; i++)
		authority = authority << 8 | sid[i];
	if (authority >> 32)
		n = snprintf(out, cap, "S-1-0x%012" PRIX64, authority);
	else
		n = snprintf(out, cap, "S-1-%" PRIu64, authority);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	used = (size_t)n;
	for (size_t i = 0; i < count; i++) {
		const unsigned char *s = sid + 8 + 4 * i;
		uint32_t sub = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 |
			       (uint32_t)s[3] << 24;
		n = snprintf(out + used, cap - used, "-%" PRIu32, sub);
		if (n < 0 || (size_t)n >= cap - used)
			return -1;
		used += (size_t)n;
	}
	return 0;
}

/* Why a text value is refused, or NULL: valid UTF-8 without NUL and
 * without control characters (C0, DEL, or C1 as UTF-8), and no space when
 * no_space. */
static const char *text_problem(const char *s, size_t len, int no_space)
{
	if (memchr(s, '\0', len) != NULL)
		return "a NUL byte";
	if (!p11e_utf8_valid(s, NULL))
		return "bytes that are not UTF-8";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0))
			return "a control character";
		if (no_space && c == ' ')
			return "a space";
	}
	return NULL;
}

/* The one value of attr in values (NULL if none); P11E_USAGE if two. */
static p11e_rc single(const p11e_dir_value *values, size_t n, const char *attr, const char *where,
		      const p11e_dir_value **out, p11e_err *err)
{
	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (values[i].attr == NULL || strcasecmp(values[i].attr, attr) != 0)
			continue;
		if (*out != NULL)
			return p11e_errf(err, P11E_USAGE,
					 "%s: %s has several values; the directory must give one "
					 "person one",
					 where, attr);
		*out = &values[i];
	}
	return P11E_OK;
}

/* A malloc'd NUL-terminated copy of a text value, checked. */
static p11e_rc text_value(const p11e_dir_value *v, size_t max, int no_space, const char *where,
			  char **out, p11e_err *err)
{
	const char *why;
	char *s;

	*out = NULL;
	if (v->len == 0)
		return p11e_errf(err, P11E_USAGE, "%s: %s is empty", where, v->attr);
	if (v->len > max)
		return p11e_errf(err, P11E_USAGE, "%s: %s is %zu bytes long, more than %zu", where,
				 v->attr, v->len, max);
	if ((s = malloc(v->len + 1)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	memcpy(s, v->data, v->len);
	s[v->len] = '\0';
	/* The value is not echoed: a hostile one would garble a terminal. */
	if ((why = text_problem(s, v->len, no_space)) != NULL) {
		free(s);
		return p11e_errf(err, P11E_USAGE, "%s: %s holds %s; fix the entry in the directory",
				 where, v->attr, why);
	}
	*out = s;
	return P11E_OK;
}

static p11e_rc parse_upn(const p11e_dir_value *v, const char *where, char **out, p11e_err *err)
{
	p11e_rc rc = text_value(v, P11E_DIR_UPN_MAX, 1, where, out, err);
	const char *at;

	if (rc != P11E_OK)
		return rc;
	at = strchr(*out, '@');
	if (at == NULL || at == *out || at[1] == '\0' || strchr(at + 1, '@') != NULL) {
		free(*out);
		*out = NULL;
		return p11e_errf(err, P11E_USAGE,
				 "%s: %s is not NAME@SUFFIX (one '@', text on both sides)", where,
				 v->attr);
	}
	return P11E_OK;
}

p11e_rc p11e_dir_identity_parse(const p11e_dir_value *values, size_t n, const char *where,
				p11e_dir_identity *out, p11e_err *err)
{
	const p11e_dir_value *upn, *sid, *display;
	char text[P11E_SID_TEXT_MAX];
	p11e_rc rc;

	memset(out, 0, sizeof(*out));
	if ((rc = single(values, n, P11E_DIR_ATTR_UPN, where, &upn, err)) != P11E_OK ||
	    (rc = single(values, n, P11E_DIR_ATTR_SID, where, &sid, err)) != P11E_OK ||
	    (rc = single(values, n, P11E_DIR_ATTR_DISPLAY, where, &display, err)) != P11E_OK)
		return rc;
	if (upn == NULL || sid == NULL)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "%s: the entry has no %s; the directory must give it one (an "
				 "Active Directory user has both userPrincipalName and "
				 "objectSid)",
				 where, upn == NULL ? P11E_DIR_ATTR_UPN : P11E_DIR_ATTR_SID);
	if (p11e_sid_to_text(sid->data, sid->len, text, sizeof(text)) != 0)
		return p11e_errf(err, P11E_USAGE,
				 "%s: objectSid is not a binary SID (%zu bytes; revision 1 and 8 + "
				 "4 bytes per sub-authority)",
				 where, sid->len);
	if ((out->sid = strdup(text)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = parse_upn(upn, where, &out->upn, err);
	if (rc == P11E_OK && display != NULL)
		rc = text_value(display, P11E_DIR_DISPLAY_MAX, 0, where, &out->display_name, err);
	if (rc == P11E_OK && out->display_name != NULL) {
		/* It becomes the CN: the CN's own rules (length) apply. */
		p11e_err inner = {0};
		if (p11e_name_check(out->display_name, "displayName", &inner) != P11E_OK)
			rc = p11e_errf(err, P11E_USAGE, "%s: %s", where, inner.msg);
	}
	if (rc != P11E_OK)
		p11e_dir_identity_clear(out);
	return rc;
}

void p11e_dir_identity_clear(p11e_dir_identity *id)
{
	if (id == NULL)
		return;
	free(id->upn);
	free(id->sid);
	free(id->display_name);
	memset(id, 0, sizeof(*id));
}
