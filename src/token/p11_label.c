/* What key history needs of the token (renewal, src/core/steps_history.c):
 * an old generation's key pair and certificate relabelled in place, so old
 * mail still finds its key while the new generation carries the plain
 * label. Objects are found by class and CKA_ID, never by label. */
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
