/* Which modules p11-kit knows about: the ones p11-kit-proxy would show. */
#include <stdlib.h>
#include <string.h>
#include <p11-kit/p11-kit.h>
#include "p11enroll/token.h"

p11e_rc p11e_registered_modules(p11e_registered_module **out, size_t *n, p11e_err *err)
{
	CK_FUNCTION_LIST **mods;
	p11e_registered_module *list = NULL;
	size_t count = 0;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	*n = 0;
	/* Unmanaged and not initialised: we only read names and file names. */
	mods = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
	if (mods == NULL)
		return p11e_errf(err, P11E_FAIL, "p11-kit: cannot read the module registry: %s",
				 p11_kit_message() ? p11_kit_message() : "unknown error");
	while (mods[count] != NULL)
		count++;
	list = calloc(count ? count : 1, sizeof(*list));
	if (list == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		char *name = p11_kit_module_get_name(mods[i]);
		char *path = p11_kit_module_get_filename(mods[i]);
		list[i].name = strdup(name ? name : "?");
		list[i].path = strdup(path ? path : "?");
		free(name);
		free(path);
		if (list[i].name == NULL || list[i].path == NULL) {
			p11e_registered_modules_free(list, count);
			list = NULL;
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
	}
	*out = list;
	*n = count;
out:
	p11_kit_modules_release(mods);
	return rc;
}

void p11e_registered_modules_free(p11e_registered_module *mods, size_t n)
{
	for (size_t i = 0; mods != NULL && i < n; i++) {
		free(mods[i].name);
		free(mods[i].path);
	}
	free(mods);
}
