/* Loading a PKCS#11 module, and the libp11 context nested inside it. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "token/p11_internal.h"

const char *p11e_ckr_name(CK_RV rv, char *buf, size_t len)
{
	static const struct {
		CK_RV rv;
		const char *name;
	} names[] = {
	    {CKR_OK, "CKR_OK"},
	    {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"},
	    {CKR_PIN_LOCKED, "CKR_PIN_LOCKED"},
	    {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE"},
	    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"},
	    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT"},
	    {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED"},
	    {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"},
	    {CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"},
	    {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"},
	    {CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"},
	    {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"},
	    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY"},
	    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"},
	    {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"},
	    {CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"},
	    {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"},
	    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"},
	    {CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].rv == rv)
			return names[i].name;
	snprintf(buf, len, "CKR 0x%08lx", (unsigned long)rv);
	return buf;
}

p11e_rc p11e_module_load(const char *path, p11e_module **out, p11e_err *err)
{
	CK_C_GetFunctionList get_list;
	CK_C_INITIALIZE_ARGS args;
	p11e_module *m;
	CK_RV rv;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (path == NULL)
		path = P11E_DEFAULT_MODULE;
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->path = strdup(path)) == NULL) {
		free(m);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	/* RTLD_NODELETE: modules register exit handlers and leave allocations
	 * behind (SoftHSM, through OpenSSL); unmapping them before exit crashes
	 * or hides the culprit from leak reports. */
	pthread_mutex_init(&m->serial, NULL);
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
	rv = m->f->C_Initialize(&args);
	if (rv == CKR_OK)
		m->owns_init = 1;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		rc = p11e_errf(err, P11E_FAIL, "module %s: C_Initialize failed: %s", path,
			       CKR_TEXT(rv));
out:
	if (rc != P11E_OK) {
		if (m->dl != NULL)
			dlclose(m->dl);
		pthread_mutex_destroy(&m->serial);
		free(m->path);
		free(m);
		return rc;
	}
	*out = m;
	return P11E_OK;
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
	/* libp11's unload may have finalized a shared module already: then
	 * this answers CKR_CRYPTOKI_NOT_INITIALIZED, which is fine. */
	if (m->owns_init)
		m->f->C_Finalize(NULL);
	if (m->dl != NULL)
		dlclose(m->dl);
	pthread_mutex_destroy(&m->serial);
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
