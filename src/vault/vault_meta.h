/* The metadata beside an escrowed secret (p11e_vault_meta) as JSON, for the
 * backends that keep it as a document of their own (the file vault's
 * NAME.meta file; vault_meta.c). */
#ifndef P11ENROLL_VAULT_META_H
#define P11ENROLL_VAULT_META_H

#include "p11enroll/vault.h"

struct json_object;

/* Fills meta from o's "created", "not_after", "cert_sha256" (each only if it
 * is a string of the expected form); the others stay as they are. */
void vault_meta_from_json(const struct json_object *o, p11e_vault_meta *meta);
/* Adds meta's non-empty fields to object o. */
void vault_meta_to_json(const p11e_vault_meta *meta, struct json_object *o);
/* Copies src's non-empty fields over dst's. */
void vault_meta_merge(p11e_vault_meta *dst, const p11e_vault_meta *src);

/* The file vault's metadata document (kind "escrow-meta", beside the
 * entry): its text parsed into meta (unreadable: meta left as it is), and
 * the name it keeps into *name (malloc'd, or NULL; name may be NULL). The
 * name is kept only for an entry whose own name is too long for the file
 * store to keep (it is named by a hash there). */
void vault_meta_parse(const char *text, p11e_vault_meta *meta, char **name);
/* The document for meta (name may be NULL), malloc'd; NULL: out of memory. */
char *vault_meta_text(const char *name, const p11e_vault_meta *meta);

#endif
