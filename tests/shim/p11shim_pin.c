/*
 * PIN emulation for the test-only shim PKCS#11 module (tests/shim/p11shim.c): what a
 * smart card does with its user PIN and SoftHSM does not (SoftHSM never locks: one wrong
 * PIN only sets CKF_USER_PIN_COUNT_LOW). Each behaviour is off unless its environment
 * variable is set (read once, when the shim loads):
 *
 *   P11SHIM_PIN_TRIES=N     a retry counter: N wrong user PINs in a row lock the PIN.
 *                           Every p11enroll run is a new process, so the count lives in
 *                           the file P11SHIM_STATE/pin-failures (required then).
 *                           C_GetTokenInfo reports CKF_USER_PIN_COUNT_LOW after a failure,
 *                           CKF_USER_PIN_FINAL_TRY with one try left, CKF_USER_PIN_LOCKED
 *                           at none; a locked PIN makes C_Login(CKU_USER) and C_SetPIN
 *                           answer CKR_PIN_LOCKED without asking the real module. A right
 *                           PIN resets the count; C_InitPIN by the SO unlocks.
 *   P11SHIM_PINPAD=FILE     a reader with a pinpad: C_GetTokenInfo adds
 *                           CKF_PROTECTED_AUTHENTICATION_PATH; C_Login and C_SetPIN with a
 *                           NULL PIN take it from FILE's first line, as if typed on the
 *                           reader, and a new PIN (C_SetPIN, C_InitPIN) from FILE.new,
 *                           which replaces FILE once the token took it. A PIN passed in
 *                           the call is refused with CKR_ARGUMENTS_BAD: a test proves so
 *                           that the caller sent none. The SO PIN, on the pinpad, comes
 *                           from FILE.so.
 *   P11SHIM_PIN_TO_CHANGE=1 CKF_USER_PIN_TO_BE_CHANGED until a C_SetPIN or C_InitPIN
 *                           succeeds (remembered in P11SHIM_STATE/pin-changed).
 *   P11SHIM_STATE=DIR       where the state above is kept (a test's private directory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11shim.h"

#define PIN_MAX 256

static struct {
	const CK_FUNCTION_LIST *real;
	long tries; /* 0: no retry counter */
	const char *pinpad;
	int to_change;
	const char *state;
} pin;

/* DIR/name into out. */
static void state_path(const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", pin.state ? pin.state : ".", name);
}

static long failures(void)
{
	char path[4096];
	long n = 0;
	FILE *f;

	state_path("pin-failures", path, sizeof path);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}

static void set_failures(long n)
{
	char path[4096];
	FILE *f;

	state_path("pin-failures", path, sizeof path);
	if ((f = fopen(path, "w")) != NULL) {
		fprintf(f, "%ld\n", n);
		fclose(f);
	}
}

static int locked(void)
{
	return pin.tries > 0 && failures() >= pin.tries;
}

static int changed(void)
{
	char path[4096];
	FILE *f;

	state_path("pin-changed", path, sizeof path);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	fclose(f);
	return 1;
}

static void mark_changed(void)
{
	char path[4096];
	FILE *f;

	if (!pin.to_change)
		return;
	state_path("pin-changed", path, sizeof path);
	if ((f = fopen(path, "w")) != NULL)
		fclose(f);
}

/* The first line of path (suffix appended) into buf: what the holder types. */
static int typed(const char *suffix, char *buf, size_t cap)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s%s", pin.pinpad, suffix);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, (int)cap, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] != '\0';
}

/* The reader's holder now knows the new PIN as the PIN. */
static void new_pin_taken(void)
{
	char from[4096], to[4096];

	snprintf(from, sizeof from, "%s.new", pin.pinpad);
	snprintf(to, sizeof to, "%s", pin.pinpad);
	rename(from, to);
}

static CK_RV shim_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = pin.real->C_GetTokenInfo(slot, info);
	long left;

	if (rv != CKR_OK)
		return rv;
	if (pin.pinpad != NULL)
		info->flags |= CKF_PROTECTED_AUTHENTICATION_PATH;
	if (pin.to_change && !changed())
		info->flags |= CKF_USER_PIN_TO_BE_CHANGED;
	if (pin.tries > 0) {
		/* Ours replace SoftHSM's, which counts differently. */
		info->flags &= ~(CK_FLAGS)(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
					   CKF_USER_PIN_LOCKED);
		left = pin.tries - failures();
		if (left <= 0)
			info->flags |= CKF_USER_PIN_LOCKED;
		else if (left == 1)
			info->flags |= CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW;
		else if (left < pin.tries)
			info->flags |= CKF_USER_PIN_COUNT_LOW;
	}
	return CKR_OK;
}

static CK_RV shim_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR p, CK_ULONG len)
{
	char buf[PIN_MAX];
	CK_RV rv;

	if (pin.pinpad != NULL) {
		if (p != NULL || len != 0)
			return CKR_ARGUMENTS_BAD;
		if (!typed(user == CKU_SO ? ".so" : "", buf, sizeof buf))
			return CKR_FUNCTION_CANCELED; /* nobody typed anything */
		p = (CK_UTF8CHAR_PTR)buf;
		len = (CK_ULONG)strlen(buf);
	}
	if (user == CKU_USER && locked())
		return CKR_PIN_LOCKED;
	rv = pin.real->C_Login(s, user, p, len);
	if (user == CKU_USER && pin.tries > 0) {
		if (rv == CKR_PIN_INCORRECT)
			set_failures(failures() + 1);
		else if (rv == CKR_OK)
			set_failures(0);
	}
	return rv;
}

static CK_RV shim_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old, CK_ULONG old_len,
			 CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len)
{
	char old_buf[PIN_MAX], new_buf[PIN_MAX];
	CK_RV rv;

	if (pin.pinpad != NULL) {
		if (old != NULL || old_len != 0 || new_pin != NULL || new_len != 0)
			return CKR_ARGUMENTS_BAD;
		if (!typed("", old_buf, sizeof old_buf) || !typed(".new", new_buf, sizeof new_buf))
			return CKR_FUNCTION_CANCELED;
		old = (CK_UTF8CHAR_PTR)old_buf;
		old_len = (CK_ULONG)strlen(old_buf);
		new_pin = (CK_UTF8CHAR_PTR)new_buf;
		new_len = (CK_ULONG)strlen(new_buf);
	}
	if (locked())
		return CKR_PIN_LOCKED;
	rv = pin.real->C_SetPIN(s, old, old_len, new_pin, new_len);
	if (pin.tries > 0 && rv == CKR_PIN_INCORRECT)
		set_failures(failures() + 1);
	if (rv == CKR_OK) {
		mark_changed();
		if (pin.pinpad != NULL)
			new_pin_taken();
	}
	return rv;
}

static CK_RV shim_InitPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR p, CK_ULONG len)
{
	char buf[PIN_MAX];
	CK_RV rv;

	if (pin.pinpad != NULL) {
		if (p != NULL || len != 0)
			return CKR_ARGUMENTS_BAD;
		if (!typed(".new", buf, sizeof buf))
			return CKR_FUNCTION_CANCELED;
		p = (CK_UTF8CHAR_PTR)buf;
		len = (CK_ULONG)strlen(buf);
	}
	rv = pin.real->C_InitPIN(s, p, len);
	if (rv == CKR_OK) {
		if (pin.tries > 0)
			set_failures(0); /* the SO unblocked it */
		mark_changed();
		if (pin.pinpad != NULL)
			new_pin_taken();
	}
	return rv;
}

void p11shim_pin_install(CK_FUNCTION_LIST *table, const CK_FUNCTION_LIST *real)
{
	const char *tries = getenv("P11SHIM_PIN_TRIES");
	const char *pinpad = getenv("P11SHIM_PINPAD");
	const char *to_change = getenv("P11SHIM_PIN_TO_CHANGE");

	pin.real = real;
	pin.tries = tries != NULL ? strtol(tries, NULL, 10) : 0;
	pin.pinpad = pinpad != NULL && *pinpad ? pinpad : NULL;
	pin.to_change = to_change != NULL && strcmp(to_change, "1") == 0;
	pin.state = getenv("P11SHIM_STATE");
	if (pin.tries <= 0 && pin.pinpad == NULL && !pin.to_change)
		return;
	table->C_GetTokenInfo = shim_GetTokenInfo;
	table->C_Login = shim_Login;
	table->C_SetPIN = shim_SetPIN;
	table->C_InitPIN = shim_InitPIN;
}
