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

/* The file vault's metadata file for a CMS entry path (…/X.cms -> …/X.meta):
 * read (absent or unreadable: meta left empty) and written atomically, 0600,
 * by rename (which replaces a planted link, never follows it). */
void vault_meta_file_read(const char *cms_path, p11e_vault_meta *meta);
/* name (may be NULL) is kept in the file too: the only record of the name of
 * an entry whose file name is a hash (a name too long for a file name). */
p11e_rc vault_meta_file_write(const char *cms_path, const char *name, const p11e_vault_meta *meta,
			      p11e_err *err);
/* The name kept by vault_meta_file_write (malloc'd), or NULL. */
char *vault_meta_file_name(const char *cms_path);
p11e_rc vault_meta_file_remove(const char *cms_path, p11e_err *err);

#endif
