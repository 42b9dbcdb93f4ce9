/* Loading a PKCS#11 module, and the libp11 context nested inside it.
 *
 * Who initialises and finalizes a module, exactly once each:
 * - loaded directly (p11e_module_load_args): we dlopen it and call
 *   C_Initialize with the given init arguments; if that succeeded, we are
 *   the one caller of C_Finalize. libp11's context on the same module is
 *   created later (p11_keys.c) with the same arguments, finds the module
 *   initialised, and is unloaded before our C_Finalize.
 * - from p11-kit's registry (registry.c, for `tokens`): p11-kit loads the
 *   module, initialises it with its module file's arguments (x-init-reserved)
 *   and finalizes it; we only ask through p11_kit_module_initialize/
 *   _finalize and never call the module's C_Initialize/C_Finalize. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/p11-kit.h>
#include "token/p11_internal.h"

p11e_rc p11e_module_args_check(const char *field, const char *args, p11e_err *err)
{
	size_t len = strlen(args);

	if (len == 0 || len > P11E_MODULE_ARGS_MAX)
		return p11e_errf(err, P11E_USAGE,
				 "%s: give 1 to %d characters (the module's init "
				 "arguments, e.g. NSS's configdir='sql:DIR' ...)",
				 field, P11E_MODULE_ARGS_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)args[i] < 0x20 || (unsigned char)args[i] > 0x7e)
			return p11e_errf(err, P11E_USAGE,
					 "%s: character %zu is not printable ASCII; give the "
					 "arguments as one line of printable text",
					 field, i + 1);
	return P11E_OK;
}

/* p11-kit-proxy gives each registered module the arguments of its module
 * file; arguments meant for one module must not reach all of them. */
int p11e_module_is_proxy(const char *path)
{
	const char *base = strrchr(path, '/');

	return strncmp(base ? base + 1 : path, "p11-kit-proxy", 13) == 0;
}

static p11e_module *module_new(const char *path, p11e_err *err)
{
	p11e_module *m = calloc(1, sizeof(*m));

	if (m == NULL || (m->path = strdup(path)) == NULL) {
		free(m);
		p11e_errf(err, P11E_FAIL, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&m->serial, NULL);
	return m;
}

/* "C_Initialize failed: CKR_ARGUMENTS_BAD; this module needs init arguments: ..." */
void p11e_init_failure(CK_RV rv, int how, char *out, size_t len)
{
	const char *hint = p11e_ckr_hint(rv, "C_Initialize");

	if (rv == CKR_ARGUMENTS_BAD && how == P11E_INIT_WITH_ARGS)
		hint = "the module refused these init arguments: check --module-args or the "
		       "config's module_args";
	else if (rv == CKR_ARGUMENTS_BAD && how == P11E_INIT_REGISTERED)
		hint = "this module needs init arguments: add x-init-reserved to its p11-kit "
		       "module file, or use --module PATH --module-args";
	snprintf(out, len, "C_Initialize failed: %s%s%s", CKR_TEXT(rv), hint ? "; " : "",
		 hint ? hint : "");
}

p11e_rc p11e_module_load_args(const char *path, const char *init_args, p11e_module **out,
			      p11e_err *err)
{
	CK_C_GetFunctionList get_list;
	CK_C_INITIALIZE_ARGS args;
	p11e_module *m;
	p11e_quiet quiet;
	char why[256], noise[256];
	CK_RV rv;
	int ok;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (path == NULL)
		path = P11E_DEFAULT_MODULE;
	if (init_args != NULL) {
		if ((rc = p11e_module_args_check("module_args", init_args, err)) != P11E_OK)
			return rc;
		if (p11e_module_is_proxy(path))
			return p11e_errf(err, P11E_USAGE,
					 "module_args: p11-kit-proxy passes each registered module "
					 "the arguments of its module file (x-init-reserved); give "
					 "--module PATH with --module-args");
	}
	if ((m = module_new(path, err)) == NULL)
		return P11E_FAIL;
	if (init_args != NULL && (m->init_args = strdup(init_args)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	/* RTLD_NODELETE: modules register exit handlers and leave allocations
	 * behind (SoftHSM, through OpenSSL); unmapping them before exit crashes
	 * or hides the culprit from leak reports. */
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (m->dl == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "module %s: cannot load: %s; check --module", path,
			       dlerror());
		goto out;
	}
	get_list = (CK_C_GetFunctionList)dlsym(m->dl, "C_GetFunctionList");
	if (get_list == NULL || get_list(&m->f) != CKR_OK || m->f == NULL) {
		rc = p11e_errf(err, P11E_FAIL,
			       "module %s: not a PKCS#11 module (no C_GetFunctionList)", path);
		goto out;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	args.pReserved = m->init_args;
	p11e_quiet_begin(&quiet);
	rv = m->f->C_Initialize(&args);
	ok = rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED;
	/* A module named directly is the one the command uses: what it says
	 * while it works is shown. p11-kit-proxy initialises every registered
	 * module, most of them not the token's: held back, and told in one
	 * line only if no token matches (p11e_token_open). */
	p11e_quiet_end(&quiet, ok && !p11e_module_is_proxy(path), noise, sizeof(noise));
	if (rv == CKR_OK) {
		m->owns_init = 1;
	} else if (!ok) {
		p11e_init_failure(rv, init_args ? P11E_INIT_WITH_ARGS : P11E_INIT_DIRECT, why,
				  sizeof(why));
		rc = p11e_errf(err, P11E_FAIL, "module %s: %s%s%s", path, why, noise[0] ? "; " : "",
			       noise);
	}
	if (ok && p11e_module_is_proxy(path))
		snprintf(m->held_back, sizeof(m->held_back), "%s", noise);
out:
	if (rc != P11E_OK) {
		if (m->dl != NULL)
			dlclose(m->dl);
		m->dl = NULL;
		p11e_module_free(m);
		return rc;
	}
	*out = m;
	return P11E_OK;
}

p11e_rc p11e_module_load(const char *path, p11e_module **out, p11e_err *err)
{
	return p11e_module_load_args(path, NULL, out, err);
}

p11e_module *p11e_module_adopt_kit(const char *path, CK_FUNCTION_LIST_PTR kit, p11e_err *err)
{
	p11e_module *m = module_new(path, err);

	if (m == NULL)
		return NULL;
	m->kit = kit;
	m->f = kit;
	return m;
}

void p11e_module_free(p11e_module *m)
{
	if (m == NULL)
		return;
	if (m->p11 != NULL) {
		if (m->p11_slots != NULL)
			PKCS11_release_all_slots(m->p11, m->p11_slots, m->p11_nslots);
		PKCS11_CTX_unload(m->p11);
		PKCS11_CTX_free(m->p11);
	}
	if (m->kit != NULL) {
		/* p11-kit initialised it (with the module file's arguments)
		 * and keeps count: it finalizes the module itself when no
		 * other user of the same module remains. */
		p11_kit_module_finalize(m->kit);
		p11_kit_module_release(m->kit);
	} else if (m->owns_init) {
		/* libp11's unload may have finalized a shared module already:
		 * then this answers CKR_CRYPTOKI_NOT_INITIALIZED, which is
		 * fine. */
		m->f->C_Finalize(NULL);
	}
	if (m->dl != NULL)
		dlclose(m->dl);
	pthread_mutex_destroy(&m->serial);
	free(m->init_args);
	free(m->path);
	free(m);
}

void p11e_token_lock(p11e_token *t)
{
	pthread_mutex_lock(&t->m->serial);
}

void p11e_token_unlock(p11e_token *t)
{
	pthread_mutex_unlock(&t->m->serial);
}

const char *p11e_module_path(const p11e_module *m)
{
	return m->path;
}
