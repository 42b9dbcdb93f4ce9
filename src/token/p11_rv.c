/* PKCS#11 return values by name: an operator searches for
 * "CKR_ARGUMENTS_BAD", never for "0x00000007". */
#include <stdio.h>
#include <string.h>
#include "token/p11_internal.h"

/* Every return value of PKCS#11 2.40 (section 3.6 of the base
 * specification), with the value written out so that a header lacking one
 * cannot silently shrink the table. Sorted by value. */
static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
    {0x00000000UL, "CKR_OK"},
    {0x00000001UL, "CKR_CANCEL"},
    {0x00000002UL, "CKR_HOST_MEMORY"},
    {0x00000003UL, "CKR_SLOT_ID_INVALID"},
    {0x00000005UL, "CKR_GENERAL_ERROR"},
    {0x00000006UL, "CKR_FUNCTION_FAILED"},
    {0x00000007UL, "CKR_ARGUMENTS_BAD"},
    {0x00000008UL, "CKR_NO_EVENT"},
    {0x00000009UL, "CKR_NEED_TO_CREATE_THREADS"},
    {0x0000000AUL, "CKR_CANT_LOCK"},
    {0x00000010UL, "CKR_ATTRIBUTE_READ_ONLY"},
    {0x00000011UL, "CKR_ATTRIBUTE_SENSITIVE"},
    {0x00000012UL, "CKR_ATTRIBUTE_TYPE_INVALID"},
    {0x00000013UL, "CKR_ATTRIBUTE_VALUE_INVALID"},
    {0x0000001BUL, "CKR_ACTION_PROHIBITED"},
    {0x00000020UL, "CKR_DATA_INVALID"},
    {0x00000021UL, "CKR_DATA_LEN_RANGE"},
    {0x00000030UL, "CKR_DEVICE_ERROR"},
    {0x00000031UL, "CKR_DEVICE_MEMORY"},
    {0x00000032UL, "CKR_DEVICE_REMOVED"},
    {0x00000040UL, "CKR_ENCRYPTED_DATA_INVALID"},
    {0x00000041UL, "CKR_ENCRYPTED_DATA_LEN_RANGE"},
    {0x00000050UL, "CKR_FUNCTION_CANCELED"},
    {0x00000051UL, "CKR_FUNCTION_NOT_PARALLEL"},
    {0x00000054UL, "CKR_FUNCTION_NOT_SUPPORTED"},
    {0x00000060UL, "CKR_KEY_HANDLE_INVALID"},
    {0x00000062UL, "CKR_KEY_SIZE_RANGE"},
    {0x00000063UL, "CKR_KEY_TYPE_INCONSISTENT"},
    {0x00000064UL, "CKR_KEY_NOT_NEEDED"},
    {0x00000065UL, "CKR_KEY_CHANGED"},
    {0x00000066UL, "CKR_KEY_NEEDED"},
    {0x00000067UL, "CKR_KEY_INDIGESTIBLE"},
    {0x00000068UL, "CKR_KEY_FUNCTION_NOT_PERMITTED"},
    {0x00000069UL, "CKR_KEY_NOT_WRAPPABLE"},
    {0x0000006AUL, "CKR_KEY_UNEXTRACTABLE"},
    {0x00000070UL, "CKR_MECHANISM_INVALID"},
    {0x00000071UL, "CKR_MECHANISM_PARAM_INVALID"},
    {0x00000082UL, "CKR_OBJECT_HANDLE_INVALID"},
    {0x00000090UL, "CKR_OPERATION_ACTIVE"},
    {0x00000091UL, "CKR_OPERATION_NOT_INITIALIZED"},
    {0x000000A0UL, "CKR_PIN_INCORRECT"},
    {0x000000A1UL, "CKR_PIN_INVALID"},
    {0x000000A2UL, "CKR_PIN_LEN_RANGE"},
    {0x000000A3UL, "CKR_PIN_EXPIRED"},
    {0x000000A4UL, "CKR_PIN_LOCKED"},
    {0x000000B0UL, "CKR_SESSION_CLOSED"},
    {0x000000B1UL, "CKR_SESSION_COUNT"},
    {0x000000B3UL, "CKR_SESSION_HANDLE_INVALID"},
    {0x000000B4UL, "CKR_SESSION_PARALLEL_NOT_SUPPORTED"},
    {0x000000B5UL, "CKR_SESSION_READ_ONLY"},
    {0x000000B6UL, "CKR_SESSION_EXISTS"},
    {0x000000B7UL, "CKR_SESSION_READ_ONLY_EXISTS"},
    {0x000000B8UL, "CKR_SESSION_READ_WRITE_SO_EXISTS"},
    {0x000000C0UL, "CKR_SIGNATURE_INVALID"},
    {0x000000C1UL, "CKR_SIGNATURE_LEN_RANGE"},
    {0x000000D0UL, "CKR_TEMPLATE_INCOMPLETE"},
    {0x000000D1UL, "CKR_TEMPLATE_INCONSISTENT"},
    {0x000000E0UL, "CKR_TOKEN_NOT_PRESENT"},
    {0x000000E1UL, "CKR_TOKEN_NOT_RECOGNIZED"},
    {0x000000E2UL, "CKR_TOKEN_WRITE_PROTECTED"},
    {0x000000F0UL, "CKR_UNWRAPPING_KEY_HANDLE_INVALID"},
    {0x000000F1UL, "CKR_UNWRAPPING_KEY_SIZE_RANGE"},
    {0x000000F2UL, "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT"},
    {0x00000100UL, "CKR_USER_ALREADY_LOGGED_IN"},
    {0x00000101UL, "CKR_USER_NOT_LOGGED_IN"},
    {0x00000102UL, "CKR_USER_PIN_NOT_INITIALIZED"},
    {0x00000103UL, "CKR_USER_TYPE_INVALID"},
    {0x00000104UL, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN"},
    {0x00000105UL, "CKR_USER_TOO_MANY_TYPES"},
    {0x00000110UL, "CKR_WRAPPED_KEY_INVALID"},
    {0x00000112UL, "CKR_WRAPPED_KEY_LEN_RANGE"},
    {0x00000113UL, "CKR_WRAPPING_KEY_HANDLE_INVALID"},
    {0x00000114UL, "CKR_WRAPPING_KEY_SIZE_RANGE"},
    {0x00000115UL, "CKR_WRAPPING_KEY_TYPE_INCONSISTENT"},
    {0x00000120UL, "CKR_RANDOM_SEED_NOT_SUPPORTED"},
    {0x00000121UL, "CKR_RANDOM_NO_RNG"},
    {0x00000130UL, "CKR_DOMAIN_PARAMS_INVALID"},
    {0x00000140UL, "CKR_CURVE_NOT_SUPPORTED"},
    {0x00000150UL, "CKR_BUFFER_TOO_SMALL"},
    {0x00000160UL, "CKR_SAVED_STATE_INVALID"},
    {0x00000170UL, "CKR_INFORMATION_SENSITIVE"},
    {0x00000180UL, "CKR_STATE_UNSAVEABLE"},
    {0x00000190UL, "CKR_CRYPTOKI_NOT_INITIALIZED"},
    {0x00000191UL, "CKR_CRYPTOKI_ALREADY_INITIALIZED"},
    {0x000001A0UL, "CKR_MUTEX_BAD"},
    {0x000001A1UL, "CKR_MUTEX_NOT_LOCKED"},
    {0x000001B0UL, "CKR_NEW_PIN_MODE"},
    {0x000001B1UL, "CKR_NEXT_OTP"},
    {0x000001C0UL, "CKR_EXCEEDED_MAX_ITERATIONS"},
    {0x000001C1UL, "CKR_FIPS_SELF_TEST_FAILED"},
    {0x000001C2UL, "CKR_LIBRARY_LOAD_FAILED"},
    {0x000001C3UL, "CKR_PIN_TOO_WEAK"},
    {0x000001C4UL, "CKR_PUBLIC_KEY_INVALID"},
    {0x00000200UL, "CKR_FUNCTION_REJECTED"},
};

#define VENDOR_DEFINED 0x80000000UL

const char *p11e_ckr_name(CK_RV rv, char *buf, size_t len)
{
	size_t lo = 0, hi = sizeof(ckr_names) / sizeof(ckr_names[0]);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ckr_names[mid].rv == rv)
			return ckr_names[mid].name;
		if (ckr_names[mid].rv < rv)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Vendors number their codes from CKR_VENDOR_DEFINED up: the offset is
	 * what their manuals list. */
	if (rv >= VENDOR_DEFINED)
		snprintf(buf, len, "CKR_VENDOR_DEFINED+0x%lx",
			 (unsigned long)(rv - VENDOR_DEFINED));
	else
		snprintf(buf, len, "CKR 0x%08lx (not in PKCS#11 2.40)", (unsigned long)rv);
	return buf;
}

const char *p11e_ckr_hint(CK_RV rv, const char *function)
{
	int init = function != NULL && strcmp(function, "C_Initialize") == 0;

	switch (rv) {
	case 0x00000007UL: /* CKR_ARGUMENTS_BAD */
		if (init)
			return "this module needs init arguments: --module-args or the config's "
			       "module_args, or register it with p11-kit (x-init-reserved)";
		return NULL;
	case 0x00000009UL: /* CKR_NEED_TO_CREATE_THREADS */
	case 0x0000000AUL: /* CKR_CANT_LOCK */
		if (init)
			return "the module cannot use the OS's locking; it is not usable from "
			       "p11enroll";
		return NULL;
	case 0x000001C2UL: /* CKR_LIBRARY_LOAD_FAILED */
		return "the module could not load a library it depends on: check its "
		       "installation";
	case 0x00000032UL: /* CKR_DEVICE_REMOVED */
	case 0x000000E0UL: /* CKR_TOKEN_NOT_PRESENT */
		return "insert the token (or card) and retry";
	case 0x000000E2UL: /* CKR_TOKEN_WRITE_PROTECTED */
		return "the token is read-only: use another token or change its write "
		       "protection";
	case 0x00000070UL: /* CKR_MECHANISM_INVALID */
	case 0x00000140UL: /* CKR_CURVE_NOT_SUPPORTED */
		return "the token lacks this algorithm: choose another key type (see "
		       "docs/tokens.md)";
	default:
		return NULL;
	}
}
