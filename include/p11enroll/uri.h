/* RFC 7512 PKCS#11 URIs: the only way tokens and objects are selected. */
#ifndef P11ENROLL_URI_H
#define P11ENROLL_URI_H

#include <stddef.h>
#include "p11enroll/error.h"

#define P11E_ID_MAX 64

typedef struct p11e_uri {
	/* path attributes, percent-decoded; NULL when absent */
	char *token;
	char *serial;
	char *manufacturer;
	char *model;
	char *object; /* CKA_LABEL */
	char *type;   /* "private", "public", "cert", "secret-key", "data" */
	unsigned char id[P11E_ID_MAX];
	size_t id_len;
	int has_id;
	/* query attributes */
	char *module_path;
	char *module_name; /* a module registered with p11-kit, by its name */
	char *pin_source; /* as written in the URI: "file:/p", "env:V", ... */
} p11e_uri;

/* Parses a "pkcs11:" URI. Unknown attributes, slot-id/slot-description
 * (slot numbers are not stable), bad percent-encoding and pin-value (a PIN
 * in a URI ends up in shell history) are P11E_USAGE naming the attribute.
 * "pkcs11:" alone matches every token. */
p11e_rc p11e_uri_parse(const char *text, p11e_uri *out, p11e_err *err);
void p11e_uri_clear(p11e_uri *uri);

/* Formats a token URI (token, manufacturer, serial, model) plus optional id
 * and type, percent-encoding as RFC 7512 requires. malloc'd. */
char *p11e_uri_format(const char *token, const char *manufacturer, const char *serial,
		      const char *model, const unsigned char *id, size_t id_len, const char *type);

#endif
