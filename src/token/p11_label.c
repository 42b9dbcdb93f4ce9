/* What key history needs of the token (renewal, src/core/steps_history.c):
 * an old generation's key pair and certificate relabelled in place, so old
 * mail still finds its key while the new generation carries the plain
 * label. Objects are found by class and CKA_ID, never by label, except the
 * key objects that lost their CKA_ID (a kill inside key generation or
 * inside a rename, on a module that rewrites objects in place): those only
 * a label p11enroll gave them still names. */
#include <stdlib.h>
#include <string.h>
#include "token/p11_internal.h"

p11e_rc p11e_token_set_label(p11e_token *t, const p11e_id *id, const char *label, size_t *n,
			     p11e_err *err)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE};
	CK_ATTRIBUTE set = {CKA_LABEL, (void *)label, strlen(label)};
	p11e_rc rc = P11E_OK;

	*n = 0;
	for (size_t c = 0; rc == P11E_OK && c < sizeof(classes) / sizeof(classes[0]); c++) {
		CK_OBJECT_CLASS cls = classes[c];
		CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
				       {CKA_ID, (void *)id->v, id->len}};
		CK_OBJECT_HANDLE *list = NULL;
		CK_ULONG count = 0;

		rc = p11e_find(t, tmpl, 2, &list, &count, err);
		for (CK_ULONG i = 0; rc == P11E_OK && i < count; i++) {
			CK_RV rv = t->m->f->C_SetAttributeValue(t->session, list[i], &set, 1);
			if (rv != CKR_OK)
				rc = p11e_errf(err, P11E_FAIL,
					       "token '%s': cannot set CKA_LABEL '%.80s': %s",
					       t->info.label, label, CKR_TEXT(rv));
			else
				(*n)++;
		}
		free(list);
	}
	return rc;
}

/* Whether h's CKA_ID is absent or empty. */
static int has_no_id(p11e_token *t, CK_OBJECT_HANDLE h)
{
	CK_ATTRIBUTE a = {CKA_ID, NULL, 0};
	CK_RV rv = t->m->f->C_GetAttributeValue(t->session, h, &a, 1);

	return rv == CKR_ATTRIBUTE_TYPE_INVALID || (rv == CKR_OK && a.ulValueLen == 0);
}

/* Counts (destroy 0) or destroys the key objects labelled `label` that have
 * no CKA_ID. */
static p11e_rc idless_keys(p11e_token *t, const char *label, int destroy, size_t *n, p11e_err *err)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
	p11e_rc rc = P11E_OK;

	*n = 0;
	if (label == NULL || label[0] == '\0')
		return P11E_OK;
	for (size_t c = 0; rc == P11E_OK && c < sizeof(classes) / sizeof(classes[0]); c++) {
		CK_OBJECT_CLASS cls = classes[c];
		CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
				       {CKA_LABEL, (void *)label, strlen(label)}};
		CK_OBJECT_HANDLE *list = NULL;
		CK_ULONG count = 0;

		rc = p11e_find(t, tmpl, 2, &list, &count, err);
		for (CK_ULONG i = 0; rc == P11E_OK && i < count; i++) {
			if (!has_no_id(t, list[i]))
				continue;
			if (destroy)
				rc = p11e_destroy_handle(t, list[i], "a key object without CKA_ID",
							 err);
			if (rc == P11E_OK)
				(*n)++;
		}
		free(list);
	}
	return rc;
}

p11e_rc p11e_token_destroy_idless_keys(p11e_token *t, const char *label, size_t *n, p11e_err *err)
{
	return idless_keys(t, label, 1, n, err);
}

p11e_rc p11e_token_count_idless_keys(p11e_token *t, const char *label, size_t *n, p11e_err *err)
{
	return idless_keys(t, label, 0, n, err);
}
