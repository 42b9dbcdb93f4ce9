/* Which modules p11-kit knows about: the ones p11-kit-proxy would show,
 * initialised the way the proxy does it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/p11-kit.h>
#include "token/p11_internal.h"

/* Initialises one registered module through p11-kit: managed, so p11-kit
 * hands C_Initialize the module file's x-init-reserved (NSS softokn needs
 * its configdir that way). On failure, entry->error says why and the module
 * is released; the next module is tried all the same. */
static p11e_rc open_one(CK_FUNCTION_LIST_PTR kit, p11e_registered_module *entry, p11e_err *err)
{
	char why[256], noise[256], text[sizeof(why) + sizeof(noise) + 4096];
	p11e_quiet quiet;
	CK_RV rv;

	/* A module that fails is one line in the listing, however much it
	 * printed; one that works says what it has to say. */
	p11e_quiet_begin(&quiet);
	rv = p11_kit_module_initialize(kit);
	p11e_quiet_end(&quiet, rv == CKR_OK, noise, sizeof(noise));
	if (rv != CKR_OK) {
		p11e_init_failure(rv, P11E_INIT_REGISTERED, why, sizeof(why));
		p11_kit_module_release(kit);
		snprintf(text, sizeof(text), "module %s: %s%s%s", entry->path, why,
			 noise[0] ? "; " : "", noise);
		entry->error = strdup(text);
		return entry->error ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
	}
	entry->module = p11e_module_adopt_kit(entry->path, kit, err);
	if (entry->module == NULL) {
		p11_kit_module_finalize(kit);
		p11_kit_module_release(kit);
		return P11E_FAIL;
	}
	return P11E_OK;
}

p11e_rc p11e_registered_modules(p11e_registered_module **out, size_t *n, p11e_err *err)
{
	CK_FUNCTION_LIST **mods;
	p11e_registered_module *list = NULL;
	size_t count = 0, i = 0;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	*n = 0;
	/* Managed (flags 0), as p11-kit-proxy loads them: each caller gets its
	 * own view of a module and p11-kit counts initialisations. */
	mods = p11_kit_modules_load(NULL, 0);
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
	for (; i < count; i++) {
		char *name = p11_kit_module_get_name(mods[i]);
		char *path = p11_kit_module_get_filename(mods[i]);
		list[i].name = strdup(name ? name : "?");
		list[i].path = strdup(path ? path : "?");
		free(name);
		free(path);
		if (list[i].name == NULL || list[i].path == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		/* From here the entry owns mods[i] (or has released it). */
		if ((rc = open_one(mods[i], &list[i], err)) != P11E_OK) {
			i++;
			goto out;
		}
	}
out:
	/* The modules not yet handed to an entry; then the array itself (what
	 * p11_kit_modules_release does after releasing each). */
	for (size_t j = i; j < count; j++)
		p11_kit_module_release(mods[j]);
	free(mods);
	if (rc != P11E_OK) {
		p11e_registered_modules_free(list, count);
		return rc;
	}
	*out = list;
	*n = count;
	return P11E_OK;
}

void p11e_registered_modules_free(p11e_registered_module *mods, size_t n)
{
	for (size_t i = 0; mods != NULL && i < n; i++) {
		p11e_module_free(mods[i].module);
		free(mods[i].error);
		free(mods[i].name);
		free(mods[i].path);
	}
	free(mods);
}

/* "opensc-pkcs11, softhsm2" into out: the names p11-kit knows. */
static void known_names(CK_FUNCTION_LIST **mods, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; mods[i] != NULL && used + 1 < cap; i++) {
		char *name = p11_kit_module_get_name(mods[i]);
		int w =
		    snprintf(out + used, cap - used, "%s%s", used ? ", " : "", name ? name : "?");
		free(name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used == 0)
		snprintf(out, cap, "none");
}

/* Only the named module is loaded: the others registered with p11-kit are
 * read (their module files) but never initialised, so a module that fails
 * noisily elsewhere on the machine stays out of this command. */
static p11e_rc load_registered(const char *name, p11e_module **out, p11e_err *err)
{
	CK_FUNCTION_LIST **mods = p11_kit_modules_load(NULL, 0);
	CK_FUNCTION_LIST *mod;
	char *path = NULL, *args = NULL, names[256];
	p11e_rc rc;

	if (mods == NULL)
		return p11e_errf(err, P11E_FAIL, "p11-kit: cannot read the module registry: %s",
				 p11_kit_message() ? p11_kit_message() : "unknown error");
	mod = p11_kit_module_for_name(mods, name);
	if (mod == NULL) {
		known_names(mods, names, sizeof(names));
		p11_kit_modules_release(mods);
		return p11e_errf(err, P11E_FAIL,
				 "token URI: module-name=%s: no module of that name is registered "
				 "with p11-kit (registered: %s); see 'p11enroll tokens'",
				 name, names);
	}
	path = p11_kit_module_get_filename(mod);
	args = p11_kit_config_option(mod, "x-init-reserved");
	p11_kit_modules_release(mods);
	if (path == NULL) {
		free(args);
		return p11e_errf(
		    err, P11E_FAIL,
		    "token URI: module-name=%s: p11-kit gives no file for it (a remote "
		    "module?); use the default module without module-name",
		    name);
	}
	/* p11-kit hands x-init-reserved to C_Initialize as pReserved; so do we.
	 * An empty one (p11-kit-trust's) is none. */
	rc = p11e_module_load_args(path, args != NULL && args[0] != '\0' ? args : NULL, out, err);
	free(path);
	free(args);
	return rc;
}

p11e_rc p11e_module_load_for(const char *path, const char *init_args, const char *name,
			     p11e_module **out, p11e_err *err)
{
	*out = NULL;
	if (name == NULL)
		return p11e_module_load_args(path, init_args, out, err);
	if (path != NULL && strcmp(path, P11E_DEFAULT_MODULE) != 0)
		return p11e_errf(err, P11E_USAGE,
				 "token URI: module-name=%s selects a module registered with "
				 "p11-kit, but the module is %s (--module, module-path or the "
				 "config's module): give one of them",
				 name, path);
	return load_registered(name, out, err);
}
