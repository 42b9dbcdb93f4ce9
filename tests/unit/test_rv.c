/* Every PKCS#11 return value by name (src/token/p11_rv.c): each code that
 * p11-kit's complete PKCS#11 header defines is checked against its macro, so
 * a mistyped value or an unsorted table fails here. */
#include <string.h>
#include "check.h"
#include "token/p11_internal.h"

static const struct {
	CK_RV rv;
	const char *name;
} header[] = {
#define N(x)                                                                                       \
	{                                                                                          \
		x, #x                                                                              \
	}
    N(CKR_OK),
    N(CKR_CANCEL),
    N(CKR_HOST_MEMORY),
    N(CKR_SLOT_ID_INVALID),
    N(CKR_GENERAL_ERROR),
    N(CKR_FUNCTION_FAILED),
    N(CKR_ARGUMENTS_BAD),
    N(CKR_NO_EVENT),
    N(CKR_NEED_TO_CREATE_THREADS),
    N(CKR_CANT_LOCK),
    N(CKR_ATTRIBUTE_READ_ONLY),
    N(CKR_ATTRIBUTE_SENSITIVE),
    N(CKR_ATTRIBUTE_TYPE_INVALID),
    N(CKR_ATTRIBUTE_VALUE_INVALID),
    N(CKR_ACTION_PROHIBITED),
    N(CKR_DATA_INVALID),
    N(CKR_DATA_LEN_RANGE),
    N(CKR_DEVICE_ERROR),
    N(CKR_DEVICE_MEMORY),
    N(CKR_DEVICE_REMOVED),
    N(CKR_ENCRYPTED_DATA_INVALID),
    N(CKR_ENCRYPTED_DATA_LEN_RANGE),
    N(CKR_FUNCTION_CANCELED),
    N(CKR_FUNCTION_NOT_PARALLEL),
    N(CKR_FUNCTION_NOT_SUPPORTED),
    N(CKR_KEY_HANDLE_INVALID),
    N(CKR_KEY_SIZE_RANGE),
    N(CKR_KEY_TYPE_INCONSISTENT),
    N(CKR_KEY_NOT_NEEDED),
    N(CKR_KEY_CHANGED),
    N(CKR_KEY_NEEDED),
    N(CKR_KEY_INDIGESTIBLE),
    N(CKR_KEY_FUNCTION_NOT_PERMITTED),
    N(CKR_KEY_NOT_WRAPPABLE),
    N(CKR_KEY_UNEXTRACTABLE),
    N(CKR_MECHANISM_INVALID),
    N(CKR_MECHANISM_PARAM_INVALID),
    N(CKR_OBJECT_HANDLE_INVALID),
    N(CKR_OPERATION_ACTIVE),
    N(CKR_OPERATION_NOT_INITIALIZED),
    N(CKR_PIN_INCORRECT),
    N(CKR_PIN_INVALID),
    N(CKR_PIN_LEN_RANGE),
    N(CKR_PIN_EXPIRED),
    N(CKR_PIN_LOCKED),
    N(CKR_SESSION_CLOSED),
    N(CKR_SESSION_COUNT),
    N(CKR_SESSION_HANDLE_INVALID),
    N(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
    N(CKR_SESSION_READ_ONLY),
    N(CKR_SESSION_EXISTS),
    N(CKR_SESSION_READ_ONLY_EXISTS),
    N(CKR_SESSION_READ_WRITE_SO_EXISTS),
    N(CKR_SIGNATURE_INVALID),
    N(CKR_SIGNATURE_LEN_RANGE),
    N(CKR_TEMPLATE_INCOMPLETE),
    N(CKR_TEMPLATE_INCONSISTENT),
    N(CKR_TOKEN_NOT_PRESENT),
    N(CKR_TOKEN_NOT_RECOGNIZED),
    N(CKR_TOKEN_WRITE_PROTECTED),
    N(CKR_UNWRAPPING_KEY_SIZE_RANGE),
    N(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
    N(CKR_USER_ALREADY_LOGGED_IN),
    N(CKR_USER_NOT_LOGGED_IN),
    N(CKR_USER_PIN_NOT_INITIALIZED),
    N(CKR_USER_TYPE_INVALID),
    N(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
    N(CKR_USER_TOO_MANY_TYPES),
    N(CKR_WRAPPED_KEY_INVALID),
    N(CKR_WRAPPED_KEY_LEN_RANGE),
    N(CKR_WRAPPING_KEY_HANDLE_INVALID),
    N(CKR_WRAPPING_KEY_SIZE_RANGE),
    N(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
    N(CKR_RANDOM_SEED_NOT_SUPPORTED),
    N(CKR_RANDOM_NO_RNG),
    N(CKR_DOMAIN_PARAMS_INVALID),
    N(CKR_CURVE_NOT_SUPPORTED),
    N(CKR_BUFFER_TOO_SMALL),
    N(CKR_SAVED_STATE_INVALID),
    N(CKR_INFORMATION_SENSITIVE),
    N(CKR_STATE_UNSAVEABLE),
    N(CKR_CRYPTOKI_NOT_INITIALIZED),
    N(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    N(CKR_MUTEX_BAD),
    N(CKR_MUTEX_NOT_LOCKED),
    N(CKR_NEW_PIN_MODE),
    N(CKR_NEXT_OTP),
    N(CKR_EXCEEDED_MAX_ITERATIONS),
    N(CKR_FIPS_SELF_TEST_FAILED),
    N(CKR_LIBRARY_LOAD_FAILED),
    N(CKR_PIN_TOO_WEAK),
    N(CKR_PUBLIC_KEY_INVALID),
    N(CKR_FUNCTION_REJECTED),
#undef N
};

static void name_is(CK_RV rv, const char *want)
{
	char buf[64];
	const char *got = p11e_ckr_name(rv, buf, sizeof(buf));

	if (strcmp(got, want) != 0) {
		fprintf(stderr, "0x%08lx: got '%s', want '%s'\n", (unsigned long)rv, got, want);
		check_failed++;
	} else {
		check_passed++;
	}
}

int main(void)
{
	char buf[64];
	const char *hint;

	for (size_t i = 0; i < sizeof(header) / sizeof(header[0]); i++)
		name_is(header[i].rv, header[i].name);
	CHECK(sizeof(header) / sizeof(header[0]) >= 90);
	/* In PKCS#11 2.40 but not in p11-kit 0.24's header. */
	name_is(0xF0UL, "CKR_UNWRAPPING_KEY_HANDLE_INVALID");
	name_is(CKR_VENDOR_DEFINED, "CKR_VENDOR_DEFINED+0x0");
	name_is(CKR_VENDOR_DEFINED + 0x1234UL, "CKR_VENDOR_DEFINED+0x1234");
	name_is(0x4UL, "CKR 0x00000004 (not in PKCS#11 2.40)");
	/* CKR_TEXT's own buffer holds the longest fallback. */
	CHECK(strcmp(CKR_TEXT(CKR_VENDOR_DEFINED + 0x7fffffffUL),
		     "CKR_VENDOR_DEFINED+0x7fffffff") == 0);
	/* A small buffer truncates, never overflows. */
	CHECK(strlen(p11e_ckr_name(0x4UL, buf, 8)) == 7);

	hint = p11e_ckr_hint(CKR_ARGUMENTS_BAD, "C_Initialize");
	CHECK(hint != NULL && strstr(hint, "--module-args") != NULL &&
	      strstr(hint, "module_args") != NULL && strstr(hint, "p11-kit") != NULL);
	/* Bad arguments elsewhere are our bug, not a missing configuration. */
	CHECK(p11e_ckr_hint(CKR_ARGUMENTS_BAD, "C_Sign") == NULL);
	CHECK(p11e_ckr_hint(CKR_MECHANISM_INVALID, NULL) != NULL);
	CHECK(p11e_ckr_hint(CKR_OK, "C_Initialize") == NULL);
	return check_done();
}
