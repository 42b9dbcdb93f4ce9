/*
 * libp11shim.so: a test-only shim PKCS#11 module. Built only with the tests, never
 * installed. It emulates what real smart cards do and SoftHSM does not (fixed key slots,
 * attributes that cannot change after generation, little room for objects), the way
 * p11-kit's own tests use mock modules: no real card was available to test against.
 *
 * On the first C_GetFunctionList it dlopens the real module (env P11SHIM_MODULE, default
 * SoftHSM's), copies its function list into a table of its own and overrides only the
 * calls a behaviour below needs; everything else goes straight to the real module.
 * Each behaviour is off unless its environment variable turns it on, so a test turns on
 * only what it tests (read once, at the first C_GetFunctionList):
 *
 *   P11SHIM_MODULE=PATH       the real module (default
 *                             /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so)
 *   P11SHIM_FIXED_IDS=01,02   a card with fixed key slots: C_GenerateKeyPair only with a
 *                             CKA_ID from this list (hex, comma-separated), else
 *                             CKR_ATTRIBUTE_VALUE_INVALID; generating under an ID that
 *                             already holds keys REPLACES them (the old private and public
 *                             keys are destroyed first, as a PIV card overwrites its slot)
 *   P11SHIM_IMMUTABLE=1       C_SetAttributeValue of CKA_ID or CKA_LABEL on a key or a
 *                             certificate fails with CKR_ATTRIBUTE_READ_ONLY (other
 *                             attributes and objects pass through)
 *   P11SHIM_MAX_OBJECTS=N     C_CreateObject of a token object (and C_GenerateKeyPair,
 *                             counting 2) fails with CKR_DEVICE_MEMORY when the token would
 *                             then hold more than N token objects (counted with C_FindObjects
 *                             on CKA_TOKEN=TRUE in the caller's session: what it can see)
 *   P11SHIM_NO_EDDSA=1        a card without Ed25519: CKM_EC_EDWARDS_KEY_PAIR_GEN is
 *                             CKR_MECHANISM_INVALID to C_GetMechanismInfo and
 *                             C_GenerateKeyPair (SoftHSM 2.6.1's slots.mechanisms does not
 *                             hide a key generation mechanism from either)
 *   P11SHIM_MANUFACTURER=TEXT C_GetTokenInfo reports this manufacturerID (a PIV card
 *                             through OpenSC says "piv_II")
 *
 * PIN emulation (retry counter, lock, pinpad) is tests/shim/p11shim_pin.c's:
 * p11shim_pin_install() is called with the table after the copy.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "p11shim.h"

#define SHIM_DEFAULT_MODULE "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"
#define SHIM_MAX_FIXED_IDS 64
#define SHIM_MAX_ID_LEN 32

struct shim_fixed_id {
	unsigned char bytes[SHIM_MAX_ID_LEN];
	size_t len;
};

/* What a module is: one function table per process, filled once. */
static struct {
	pthread_once_t once;
	CK_RV load_rv;
	CK_FUNCTION_LIST *real;
	CK_FUNCTION_LIST table;
	struct shim_fixed_id fixed_ids[SHIM_MAX_FIXED_IDS];
	size_t n_fixed_ids;
	int immutable;
	long max_objects; /* 0: no limit */
	int no_eddsa;
	CK_C_GenerateKeyPair next_generate; /* what C_GenerateKeyPair calls below no_eddsa's */
	const char *manufacturer;
	CK_C_GetTokenInfo next_token_info; /* what C_GetTokenInfo calls below manufacturer's */
} shim = {.once = PTHREAD_ONCE_INIT};

static CK_RV shim_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = shim.next_token_info(slot, info);
	size_t n = strlen(shim.manufacturer);

	if (rv == CKR_OK && info != NULL) {
		memset(info->manufacturerID, ' ', sizeof(info->manufacturerID));
		memcpy(info->manufacturerID, shim.manufacturer,
		       n < sizeof(info->manufacturerID) ? n : sizeof(info->manufacturerID));
	}
	return rv;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "01,02,9a": every well-formed hex ID; a malformed one is skipped (a test's typo then
 * shows up as an ID that is refused). */
static void parse_fixed_ids(const char *list)
{
	const char *p = list;
	while (*p && shim.n_fixed_ids < SHIM_MAX_FIXED_IDS) {
		struct shim_fixed_id *id = &shim.fixed_ids[shim.n_fixed_ids];
		size_t digits = strcspn(p, ",");
		int ok = digits > 0 && digits % 2 == 0 && digits / 2 <= SHIM_MAX_ID_LEN;
		for (size_t i = 0; ok && i < digits; i += 2) {
			int hi = hex_value(p[i]), lo = hex_value(p[i + 1]);
			ok = hi >= 0 && lo >= 0;
			if (ok)
				id->bytes[i / 2] = (unsigned char)(hi << 4 | lo);
		}
		if (ok) {
			id->len = digits / 2;
			shim.n_fixed_ids++;
		}
		p += digits;
		if (*p == ',')
			p++;
	}
}

static const CK_ATTRIBUTE *find_attr(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
	for (CK_ULONG i = 0; tmpl && i < n; i++)
		if (tmpl[i].type == type)
			return &tmpl[i];
	return NULL;
}

static int attr_is_true(const CK_ATTRIBUTE *a)
{
	return a && a->pValue && a->ulValueLen == sizeof(CK_BBOOL) &&
	       *(const CK_BBOOL *)a->pValue == CK_TRUE;
}

/* Up to max handles matching tmpl in the caller's session; returns how many, or -1. */
static long find_handles(CK_SESSION_HANDLE session, CK_ATTRIBUTE *tmpl, CK_ULONG n,
			 CK_OBJECT_HANDLE *out, CK_ULONG max)
{
	CK_OBJECT_HANDLE scratch[64];
	CK_ULONG got = 0;
	long total = 0;
	if (shim.real->C_FindObjectsInit(session, tmpl, n) != CKR_OK)
		return -1;
	do {
		if (shim.real->C_FindObjects(session, scratch, 64, &got) != CKR_OK) {
			total = -1;
			break;
		}
		for (CK_ULONG i = 0; i < got; i++, total++)
			if (out && (CK_ULONG)total < max)
				out[total] = scratch[i];
	} while (got > 0);
	shim.real->C_FindObjectsFinal(session);
	return total;
}

static long count_token_objects(CK_SESSION_HANDLE session)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {{CKA_TOKEN, &yes, sizeof yes}};
	return find_handles(session, tmpl, 1, NULL, 0);
}

/* Would adding `adding` token objects (after `leaving` go) overflow P11SHIM_MAX_OBJECTS? */
static CK_RV check_room(CK_SESSION_HANDLE session, long adding, long leaving)
{
	if (shim.max_objects <= 0)
		return CKR_OK;
	long now = count_token_objects(session);
	if (now < 0)
		return CKR_GENERAL_ERROR;
	return now - leaving + adding > shim.max_objects ? CKR_DEVICE_MEMORY : CKR_OK;
}

static int id_is_fixed(const CK_ATTRIBUTE *id)
{
	for (size_t i = 0; id && id->pValue && i < shim.n_fixed_ids; i++)
		if (shim.fixed_ids[i].len == id->ulValueLen &&
		    memcmp(shim.fixed_ids[i].bytes, id->pValue, id->ulValueLen) == 0)
			return 1;
	return 0;
}

/* The keys a card's slot holds under CKA_ID id (private and public), up to max. */
static long slot_keys(CK_SESSION_HANDLE session, const CK_ATTRIBUTE *id, CK_OBJECT_HANDLE *out,
		      CK_ULONG max)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
	long total = 0;
	for (size_t c = 0; c < 2; c++) {
		CK_OBJECT_CLASS cls = classes[c];
		CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
				       {CKA_ID, id->pValue, id->ulValueLen}};
		long n = find_handles(session, tmpl, 2, out + total, max - (CK_ULONG)total);
		if (n < 0)
			return -1;
		total += n < (long)(max - (CK_ULONG)total) ? n : (long)(max - (CK_ULONG)total);
	}
	return total;
}

static CK_RV shim_GenerateKeyPair(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech,
				  CK_ATTRIBUTE_PTR pub_tmpl, CK_ULONG n_pub,
				  CK_ATTRIBUTE_PTR priv_tmpl, CK_ULONG n_priv,
				  CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
	CK_OBJECT_HANDLE old[16];
	long n_old = 0;
	CK_RV rv;
	if (shim.n_fixed_ids > 0) {
		/* A card takes the slot's ID from the private key's template, or the public one's.
		 */
		const CK_ATTRIBUTE *id = find_attr(priv_tmpl, n_priv, CKA_ID);
		if (!id)
			id = find_attr(pub_tmpl, n_pub, CKA_ID);
		if (!id_is_fixed(id))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		n_old = slot_keys(session, id, old, 16);
		if (n_old < 0)
			return CKR_GENERAL_ERROR;
	}
	long adding = attr_is_true(find_attr(pub_tmpl, n_pub, CKA_TOKEN)) +
		      attr_is_true(find_attr(priv_tmpl, n_priv, CKA_TOKEN));
	if ((rv = check_room(session, adding, n_old)) != CKR_OK)
		return rv;
	for (long i = 0; i < n_old; i++)
		if ((rv = shim.real->C_DestroyObject(session, old[i])) != CKR_OK)
			return rv;
	return shim.real->C_GenerateKeyPair(session, mech, pub_tmpl, n_pub, priv_tmpl, n_priv, pub,
					    priv);
}

static CK_RV shim_CreateObject(CK_SESSION_HANDLE session, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n,
			       CK_OBJECT_HANDLE_PTR object)
{
	if (attr_is_true(find_attr(tmpl, n, CKA_TOKEN))) {
		CK_RV rv = check_room(session, 1, 0);
		if (rv != CKR_OK)
			return rv;
	}
	return shim.real->C_CreateObject(session, tmpl, n, object);
}

static CK_RV shim_SetAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
				    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	if (shim.immutable && (find_attr(tmpl, n, CKA_ID) || find_attr(tmpl, n, CKA_LABEL))) {
		CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
		CK_ATTRIBUTE get = {CKA_CLASS, &cls, sizeof cls};
		CK_RV rv = shim.real->C_GetAttributeValue(session, object, &get, 1);
		if (rv != CKR_OK)
			return rv;
		if (cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY || cls == CKO_SECRET_KEY ||
		    cls == CKO_CERTIFICATE)
			return CKR_ATTRIBUTE_READ_ONLY;
	}
	return shim.real->C_SetAttributeValue(session, object, tmpl, n);
}

static CK_RV shim_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
				   CK_MECHANISM_INFO_PTR info)
{
	if (type == CKM_EC_EDWARDS_KEY_PAIR_GEN)
		return CKR_MECHANISM_INVALID;
	return shim.real->C_GetMechanismInfo(slot, type, info);
}

static CK_RV shim_GenerateKeyPairNoEddsa(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mech,
					 CK_ATTRIBUTE_PTR pub, CK_ULONG npub, CK_ATTRIBUTE_PTR priv,
					 CK_ULONG npriv, CK_OBJECT_HANDLE_PTR hpub,
					 CK_OBJECT_HANDLE_PTR hpriv)
{
	if (mech != NULL && mech->mechanism == CKM_EC_EDWARDS_KEY_PAIR_GEN)
		return CKR_MECHANISM_INVALID;
	return shim.next_generate(session, mech, pub, npub, priv, npriv, hpub, hpriv);
}

static void shim_load(void)
{
	const char *path = getenv("P11SHIM_MODULE");
	const char *fixed = getenv("P11SHIM_FIXED_IDS");
	const char *immutable = getenv("P11SHIM_IMMUTABLE");
	const char *max_objects = getenv("P11SHIM_MAX_OBJECTS");
	CK_C_GetFunctionList get_list;
	void *handle = dlopen(path && *path ? path : SHIM_DEFAULT_MODULE, RTLD_NOW | RTLD_LOCAL);
	shim.load_rv = CKR_GENERAL_ERROR;
	if (!handle)
		return;
	/* POSIX allows this conversion for dlsym's result; ISO C does not, hence the copy. */
	void *sym = dlsym(handle, "C_GetFunctionList");
	if (!sym)
		return;
	memcpy(&get_list, &sym, sizeof get_list);
	if ((shim.load_rv = get_list(&shim.real)) != CKR_OK)
		return;
	shim.table = *shim.real;
	shim.table.C_GetFunctionList = C_GetFunctionList;
	if (fixed && *fixed)
		parse_fixed_ids(fixed);
	shim.immutable = immutable && strcmp(immutable, "1") == 0;
	shim.max_objects = max_objects ? strtol(max_objects, NULL, 10) : 0;
	if (shim.n_fixed_ids > 0 || shim.max_objects > 0)
		shim.table.C_GenerateKeyPair = shim_GenerateKeyPair;
	if (shim.max_objects > 0)
		shim.table.C_CreateObject = shim_CreateObject;
	if (shim.immutable)
		shim.table.C_SetAttributeValue = shim_SetAttributeValue;
	shim.no_eddsa = getenv("P11SHIM_NO_EDDSA") && strcmp(getenv("P11SHIM_NO_EDDSA"), "1") == 0;
	if (shim.no_eddsa) {
		shim.next_generate = shim.table.C_GenerateKeyPair;
		shim.table.C_GenerateKeyPair = shim_GenerateKeyPairNoEddsa;
		shim.table.C_GetMechanismInfo = shim_GetMechanismInfo;
	}
	p11shim_pin_install(&shim.table, shim.real);
	shim.manufacturer = getenv("P11SHIM_MANUFACTURER");
	if (shim.manufacturer && *shim.manufacturer) {
		shim.next_token_info = shim.table.C_GetTokenInfo;
		shim.table.C_GetTokenInfo = shim_GetTokenInfo;
	}
}

/* The one symbol the shim exports (built with -fvisibility=hidden). */
__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (!list)
		return CKR_ARGUMENTS_BAD;
	pthread_once(&shim.once, shim_load);
	if (shim.load_rv != CKR_OK)
		return shim.load_rv;
	*list = &shim.table;
	return CKR_OK;
}
