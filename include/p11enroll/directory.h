/* Identities from the directory: a profile's "identity_from": "NAME" (NAME
 * an "ldap" entry of the config's "publishers") makes the enrollment look
 * the person up by address, as publishing does, and take the user principal
 * name, the security identifier and the display name from the entry before
 * any key is made (docs/config.md, docs/logon.md).
 *
 * The parsing (src/publish/ldap_identity.c) is apart from the LDAP query
 * (src/publish/ldap_lookup.c) so that the unit tests and a fuzz harness
 * reach it without a server: what a directory answers is hostile until
 * checked. */
#ifndef P11ENROLL_DIRECTORY_H
#define P11ENROLL_DIRECTORY_H

#include <stddef.h>
#include "p11enroll/config.h"
#include "p11enroll/error.h"

/* The attributes asked for, as Active Directory names them. */
#define P11E_DIR_ATTR_UPN "userPrincipalName"
#define P11E_DIR_ATTR_SID "objectSid"
#define P11E_DIR_ATTR_DISPLAY "displayName"

/* The longest a value may be: AD's own bound for userPrincipalName (1024
 * characters, counted here in bytes) and for displayName (256). */
#define P11E_DIR_UPN_MAX 1024
#define P11E_DIR_DISPLAY_MAX 256
/* "S-1-" + a 48-bit authority + 15 sub-authorities of 10 digits and a '-'. */
#define P11E_SID_TEXT_MAX 200

/* One value of one attribute of the entry, as the server sent it (bytes,
 * not NUL-terminated). An entry is a flat list of them, an attribute with
 * two values appearing twice. */
typedef struct p11e_dir_value {
	const char *attr; /* the name asked for (matched case-insensitively) */
	const unsigned char *data;
	size_t len;
} p11e_dir_value;

/* What the enrollment takes from the entry; malloc'd strings. */
typedef struct p11e_dir_identity {
	char *upn;	    /* userPrincipalName, as the directory spells it */
	char *sid;	    /* objectSid as text: S-1-5-21-... */
	char *display_name; /* displayName, or NULL when the entry has none */
} p11e_dir_identity;

/* The text form of a binary SID (MS-DTYP 2.4.2): revision 1, a count n of
 * 1 to 15 sub-authorities, a 48-bit big-endian identifier authority, then n
 * little-endian 32-bit sub-authorities: exactly 8 + 4n bytes. Written as
 * S-1-AUTHORITY-SUB-... (an authority of 2^32 or more in hex, 0x and 12
 * digits, as Windows writes it). -1 for any other length, revision or
 * count, or an out too small (P11E_SID_TEXT_MAX always fits). */
int p11e_sid_to_text(const unsigned char *sid, size_t len, char *out, size_t cap);

/* The identity in the values of one entry: userPrincipalName and objectSid
 * exactly once each, displayName at most once. A UPN is UTF-8 of at most
 * P11E_DIR_UPN_MAX bytes with no control character (C0, DEL, C1) and no
 * space, and one '@' with text on both sides; a display name is UTF-8 of at
 * most P11E_DIR_DISPLAY_MAX bytes with no control character, and must pass
 * as a CN (p11e_name_check). where names the entry in messages ("directory ad,
 * entry CN=..."). P11E_NOT_FOUND for a missing attribute, P11E_USAGE for
 * a value that is not one of the above or an attribute given twice: one
 * line naming the attribute, never echoing the bad bytes. */
p11e_rc p11e_dir_identity_parse(const p11e_dir_value *values, size_t n, const char *where,
				p11e_dir_identity *out, p11e_err *err);

void p11e_dir_identity_clear(p11e_dir_identity *id);

/* Looks address up in the directory of publisher name (its url, bind,
 * base_dn and filter, as `publish` does) and parses its one entry. No
 * entry: P11E_NOT_FOUND; two: P11E_USAGE; publisher not "ldap" or unknown:
 * P11E_CONFIG; the directory unreachable: P11E_FAIL. */
p11e_rc p11e_dir_identity_lookup(const p11e_config *cfg, const char *name, const char *address,
				 p11e_dir_identity *out, p11e_err *err);

#endif
