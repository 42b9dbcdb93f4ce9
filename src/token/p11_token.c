/* Slots and tokens: listing, selecting by URI, logging in, initialising. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "token/p11_internal.h"

static void forget_pin(p11e_token *t)
{
	if (t->pin != NULL) {
		OPENSSL_cleanse(t->pin, strlen(t->pin));
		free(t->pin);
		t->pin = NULL;
	}
}

/* CK_TOKEN_INFO strings are blank-padded, not NUL-terminated. */
static void trim_copy(char *dst, size_t cap, const unsigned char *src, size_t len)
{
	while (len > 0 && (src[len - 1] == ' ' || src[len - 1] == '\0'))
		len--;
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

CK_RV p11e_read_token_info(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, p11e_token_info *info)
{
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	CK_RV rv;

	memset(info, 0, sizeof(*info));
	rv = f->C_GetTokenInfo(slot, &ti);
	if (rv != CKR_OK)
		return rv;
	if (f->C_GetSlotInfo(slot, &si) == CKR_OK)
		trim_copy(info->slot_description, sizeof(info->slot_description),
			  si.slotDescription, sizeof(si.slotDescription));
	trim_copy(info->label, sizeof(info->label), ti.label, sizeof(ti.label));
	trim_copy(info->manufacturer, sizeof(info->manufacturer), ti.manufacturerID,
		  sizeof(ti.manufacturerID));
	trim_copy(info->model, sizeof(info->model), ti.model, sizeof(ti.model));
	trim_copy(info->serial, sizeof(info->serial), ti.serialNumber, sizeof(ti.serialNumber));
	info->flags = ti.flags;
	info->initialized = !!(ti.flags & CKF_TOKEN_INITIALIZED);
	info->login_required = !!(ti.flags & CKF_LOGIN_REQUIRED);
	info->protected_auth_path = !!(ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH);
	info->user_pin_initialized = !!(ti.flags & CKF_USER_PIN_INITIALIZED);
	info->write_protected = !!(ti.flags & CKF_WRITE_PROTECTED);
	info->user_pin_count_low = !!(ti.flags & CKF_USER_PIN_COUNT_LOW);
	info->user_pin_final_try = !!(ti.flags & CKF_USER_PIN_FINAL_TRY);
	info->user_pin_locked = !!(ti.flags & CKF_USER_PIN_LOCKED);
	info->user_pin_to_be_changed = !!(ti.flags & CKF_USER_PIN_TO_BE_CHANGED);
	info->so_pin_count_low = !!(ti.flags & CKF_SO_PIN_COUNT_LOW);
	info->so_pin_final_try = !!(ti.flags & CKF_SO_PIN_FINAL_TRY);
	info->so_pin_locked = !!(ti.flags & CKF_SO_PIN_LOCKED);
	info->min_pin_len = ti.ulMinPinLen;
	info->max_pin_len = ti.ulMaxPinLen;
	return CKR_OK;
}

/* The slots with a token present, and their infos. */
static p11e_rc scan(p11e_module *m, CK_SLOT_ID **slots, p11e_token_info **infos, size_t *n,
		    p11e_err *err)
{
	CK_ULONG count = 0, have = 0;
	CK_RV rv;

	*slots = NULL;
	*infos = NULL;
	*n = 0;
	rv = m->f->C_GetSlotList(CK_TRUE, NULL, &count);
	if (rv != CKR_OK)
		return p11e_errf(err, P11E_FAIL, "module %s: C_GetSlotList failed: %s", m->path,
				 CKR_TEXT(rv));
	*slots = calloc(count ? count : 1, sizeof(**slots));
	*infos = calloc(count ? count : 1, sizeof(**infos));
	if (*slots == NULL || *infos == NULL)
		goto oom;
	rv = m->f->C_GetSlotList(CK_TRUE, *slots, &count);
	if (rv != CKR_OK) {
		free(*slots);
		free(*infos);
		*slots = NULL;
		*infos = NULL;
		return p11e_errf(err, P11E_FAIL, "module %s: C_GetSlotList failed: %s", m->path,
				 CKR_TEXT(rv));
	}
	for (CK_ULONG i = 0; i < count; i++) {
		/* A token pulled out between the two calls is simply skipped. */
		if (p11e_read_token_info(m->f, (*slots)[i], &(*infos)[have]) != CKR_OK)
			continue;
		(*slots)[have++] = (*slots)[i];
	}
	*n = have;
	return P11E_OK;
oom:
	free(*slots);
	free(*infos);
	*slots = NULL;
	*infos = NULL;
	return p11e_errf(err, P11E_FAIL, "out of memory");
}

p11e_rc p11e_module_tokens(p11e_module *m, p11e_token_info **infos, size_t *n, p11e_err *err)
{
	CK_SLOT_ID *slots = NULL;
	p11e_rc rc = scan(m, &slots, infos, n, err);

	free(slots);
	return rc;
}

static int field_matches(const char *want, const char *have)
{
	return want == NULL || strcmp(want, have) == 0;
}

static int matches(const p11e_uri *uri, const p11e_token_info *t, int match_label)
{
	return (!match_label || field_matches(uri->token, t->label)) &&
	       field_matches(uri->serial, t->serial) &&
	       field_matches(uri->manufacturer, t->manufacturer) &&
	       field_matches(uri->model, t->model);
}

/* "'test' (serial 1a2b), 'card' (serial 99)" for messages. */
static void describe(const p11e_token_info *infos, size_t n, int initialized, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && used + 1 < cap; i++) {
		if (infos[i].initialized != initialized)
			continue;
		int w = snprintf(out + used, cap - used, "%s'%s' (serial %s)", used ? ", " : "",
				 infos[i].label, infos[i].serial);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used == 0)
		snprintf(out, cap, "none");
}

p11e_rc p11e_token_open(p11e_module *m, const p11e_uri *uri, p11e_token **out, p11e_err *err)
{
	CK_SLOT_ID *slots = NULL;
	p11e_token_info *infos = NULL;
	size_t n = 0, found = 0, which = 0;
	char avail[256];
	p11e_token *t = NULL;
	CK_RV rv;
	p11e_rc rc;

	*out = NULL;
	rc = scan(m, &slots, &infos, &n, err);
	if (rc != P11E_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (infos[i].initialized && matches(uri, &infos[i], 1)) {
			found++;
			which = i;
		}
	if (found != 1) {
		describe(infos, n, 1, avail, sizeof(avail));
		/* What p11-kit-proxy's modules printed is told here, where a
		 * module that failed may be why (p11_module.c). */
		rc = p11e_errf(err, P11E_TOKEN_NOT_FOUND,
			       "token: %s the URI (token=%s%s%s); available: %s%s%s%s",
			       found ? "more than one token matches" : "no token matches",
			       uri->token ? uri->token : "*", uri->serial ? ", serial=" : "",
			       uri->serial ? uri->serial : "", avail,
			       m->held_back[0] ? "; while p11-kit-proxy initialised the registered "
						 "modules, "
					       : "",
			       m->held_back,
			       m->held_back[0] ? " ('p11enroll tokens' shows which module failed)"
					       : "");
		goto out;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	t->m = m;
	t->slot = slots[which];
	t->info = infos[which];
	rv = m->f->C_OpenSession(t->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
				 &t->session);
	if (rv != CKR_OK) {
		rc = p11e_errf(err, P11E_FAIL, "token '%s': cannot open a session: %s",
			       t->info.label, CKR_TEXT(rv));
		free(t);
		t = NULL;
		goto out;
	}
	*out = t;
out:
	free(slots);
	free(infos);
	return rc;
}

void p11e_token_close(p11e_token *t)
{
	if (t == NULL)
		return;
	t->m->f->C_CloseSession(t->session);
	forget_pin(t);
	free(t);
}

const p11e_token_info *p11e_token_get_info(const p11e_token *t)
{
	return &t->info;
}

static void counter_flags(const p11e_token_info *i, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s%s", i->user_pin_count_low ? "count low " : "",
		 i->user_pin_final_try ? "FINAL TRY " : "", i->user_pin_locked ? "LOCKED " : "");
	if (out[0] == '\0')
		snprintf(out, cap, "no counter flags");
	else
		out[strlen(out) - 1] = '\0';
}

p11e_rc p11e_token_locked_error(const p11e_token *t, p11e_err *err)
{
	char *uri = p11e_uri_format(t->info.label, NULL, t->info.serial, NULL, NULL, 0, NULL);
	p11e_rc rc = p11e_errf(err, P11E_PIN_LOCKED,
			       "token '%s': user PIN locked; unblock it with the SO PIN: "
			       "p11enroll pin unblock '%s'",
			       t->info.label, uri != NULL ? uri : "pkcs11:token=LABEL");

	free(uri);
	return rc;
}

p11e_rc p11e_token_login(p11e_token *t, const char *pin, p11e_err *err)
{
	char flags[64];
	CK_RV rv;

	if (pin == NULL && !t->info.protected_auth_path)
		return p11e_errf(err, P11E_USAGE, "token '%s' needs a PIN: give --pin-source",
				 t->info.label);
	/* Exactly one C_Login: a failed PIN is never tried again, smartcards lock. */
	rv = t->m->f->C_Login(t->session, CKU_USER, (CK_UTF8CHAR_PTR)pin,
			      pin ? (CK_ULONG)strlen(pin) : 0);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		if (pin != NULL) {
			forget_pin(t);
			t->pin = strdup(pin);
		}
		return P11E_OK;
	}
	p11e_read_token_info(t->m->f, t->slot, &t->info);
	counter_flags(&t->info, flags, sizeof(flags));
	if (rv == CKR_PIN_INCORRECT)
		return p11e_errf(
		    err, P11E_PIN_INCORRECT,
		    "token '%s': PIN incorrect (token reports: %s); not retried, check "
		    "the pin source",
		    t->info.label, flags);
	if (rv == CKR_PIN_LOCKED)
		return p11e_token_locked_error(t, err);
	return p11e_errf(err, P11E_FAIL, "token '%s': login failed: %s (token reports: %s)",
			 t->info.label, CKR_TEXT(rv), flags);
}

p11e_rc p11e_token_init(p11e_module *m, const p11e_uri *uri, const char *label, const char *so_pin,
			const char *user_pin, p11e_err *err)
{
	CK_SLOT_ID *slots = NULL;
	p11e_token_info *infos = NULL;
	size_t n = 0, blank = 0, which = 0, initialized = 0;
	CK_UTF8CHAR padded[32];
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	char avail[256];
	CK_RV rv;
	p11e_rc rc;

	rc = scan(m, &slots, &infos, &n, err);
	if (rc != P11E_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (!infos[i].initialized && matches(uri, &infos[i], 0)) {
			blank++;
			which = i;
		} else if (infos[i].initialized && matches(uri, &infos[i], 1)) {
			initialized++;
		}
	}
	/* A URI that names an initialised token by its label means that token,
	 * even when a blank one is also present: never initialise another. */
	if (initialized > 0 && (blank == 0 || uri->token != NULL)) {
		rc = p11e_errf(err, P11E_EXISTS,
			       "token: the token matching the URI is already initialised; "
			       "p11enroll never wipes a token");
		goto out;
	}
	if (blank != 1) {
		describe(infos, n, 0, avail, sizeof(avail));
		rc = p11e_errf(err, P11E_TOKEN_NOT_FOUND,
			       "token: %s uninitialised token matches the URI; blank tokens: %s",
			       blank ? "more than one" : "no", avail);
		goto out;
	}
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strlen(label) < sizeof(padded) ? strlen(label) : sizeof(padded));
	rv = m->f->C_InitToken(slots[which], (CK_UTF8CHAR_PTR)so_pin, (CK_ULONG)strlen(so_pin),
			       padded);
	if (rv != CKR_OK) {
		rc = p11e_errf(err, rv == CKR_PIN_INCORRECT ? P11E_PIN_INCORRECT : P11E_FAIL,
			       "token: C_InitToken failed: %s", CKR_TEXT(rv));
		goto out;
	}
	rv = m->f->C_OpenSession(slots[which], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv == CKR_OK)
		rv = m->f->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, (CK_ULONG)strlen(so_pin));
	if (rv == CKR_OK)
		rv = m->f->C_InitPIN(s, (CK_UTF8CHAR_PTR)user_pin, (CK_ULONG)strlen(user_pin));
	if (rv != CKR_OK)
		rc = p11e_errf(err, rv == CKR_PIN_LEN_RANGE ? P11E_USAGE : P11E_FAIL,
			       "token '%s': initialised, but setting the user PIN failed: %s",
			       label, CKR_TEXT(rv));
	if (s != CK_INVALID_HANDLE) {
		m->f->C_Logout(s);
		m->f->C_CloseSession(s);
	}
out:
	free(slots);
	free(infos);
	return rc;
}
