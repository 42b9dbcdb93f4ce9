/* PIN care: changing the user PIN (C_SetPIN) and unblocking it with the SO
 * PIN (C_InitPIN). Every PIN is tried exactly once: a failed one is never
 * sent again, because a smartcard counts the failures and locks. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "token/p11_internal.h"

static CK_ULONG pin_len(const char *pin)
{
	return pin != NULL ? (CK_ULONG)strlen(pin) : 0;
}

/* A new PIN the token refused for its form, not for its value. */
static p11e_rc refused_new_pin(p11e_token *t, CK_RV rv, p11e_err *err)
{
	/* Re-read: the range is the token's current word, not the one at open. */
	p11e_read_token_info(t->m->f, t->slot, &t->info);
	if (rv == CKR_PIN_LEN_RANGE)
		return p11e_errf(err, P11E_USAGE,
				 "new PIN: token '%s' takes %lu to %lu characters "
				 "(CKR_PIN_LEN_RANGE); choose one of that length",
				 t->info.label, t->info.min_pin_len, t->info.max_pin_len);
	return p11e_errf(err, P11E_USAGE,
			 "new PIN: token '%s' refuses its characters (CKR_PIN_INVALID); choose "
			 "another",
			 t->info.label);
}

p11e_rc p11e_token_set_pin(p11e_token *t, const char *new_pin, p11e_err *err)
{
	const char *old_pin = t->pin; /* the one p11e_token_login used; NULL on a pinpad */
	char *kept = NULL;
	CK_RV rv;

	if (new_pin == NULL && !t->info.protected_auth_path)
		return p11e_errf(err, P11E_USAGE,
				 "new PIN: token '%s' has no pinpad; give --new-pin-source",
				 t->info.label);
	/* Copied before the call, so that a failure to copy leaves the PIN as
	 * it was rather than changed with no copy for libp11's sessions. */
	if (new_pin != NULL && (kept = strdup(new_pin)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rv = t->m->f->C_SetPIN(t->session, (CK_UTF8CHAR_PTR)old_pin, pin_len(old_pin),
			       (CK_UTF8CHAR_PTR)new_pin, pin_len(new_pin));
	if (rv != CKR_OK) {
		if (kept != NULL) {
			OPENSSL_cleanse(kept, strlen(kept));
			free(kept);
		}
		if (rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID)
			return refused_new_pin(t, rv, err);
		if (rv == CKR_PIN_LOCKED)
			return p11e_token_locked_error(t, err);
		if (rv == CKR_PIN_INCORRECT)
			return p11e_errf(err, P11E_PIN_INCORRECT,
					 "token '%s': the current PIN was refused "
					 "(CKR_PIN_INCORRECT); not retried, check the pin source",
					 t->info.label);
		return p11e_errf(
		    err, P11E_FAIL, "token '%s': changing the PIN failed: %s%s%s", t->info.label,
		    CKR_TEXT(rv), p11e_ckr_hint(rv, "C_SetPIN") ? "; " : "",
		    p11e_ckr_hint(rv, "C_SetPIN") ? p11e_ckr_hint(rv, "C_SetPIN") : "");
	}
	/* libp11's own sessions log in with the PIN that works now. */
	if (t->pin != NULL) {
		OPENSSL_cleanse(t->pin, strlen(t->pin));
		free(t->pin);
	}
	t->pin = kept;
	p11e_read_token_info(t->m->f, t->slot, &t->info);
	return P11E_OK;
}

/* Exactly one SO login: the SO PIN locks too, and then only re-initialising
 * the token (losing every key) is left. Its failures are named for which
 * PIN was tried, with what to check (hint, may be ""), never retried. */
static p11e_rc so_login(p11e_token *t, const char *so_pin, const char *which, const char *hint,
			p11e_err *err)
{
	CK_RV rv = t->m->f->C_Login(t->session, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, pin_len(so_pin));

	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return P11E_OK;
	p11e_read_token_info(t->m->f, t->slot, &t->info);
	if (rv == CKR_PIN_INCORRECT)
		return p11e_errf(err, P11E_PIN_INCORRECT,
				 "token '%s': %s incorrect%s; not retried%s", t->info.label, which,
				 t->info.so_pin_final_try   ? " (one try left before it locks)"
				 : t->info.so_pin_count_low ? " (few tries left)"
							    : "",
				 hint);
	if (rv == CKR_PIN_LOCKED)
		return p11e_errf(err, P11E_PIN_LOCKED,
				 "token '%s': SO PIN locked; only re-initialising the token "
				 "(which erases every key on it) is left",
				 t->info.label);
	return p11e_errf(err, P11E_FAIL, "token '%s': SO login failed: %s%s%s", t->info.label,
			 CKR_TEXT(rv), p11e_ckr_hint(rv, "C_Login") ? "; " : "",
			 p11e_ckr_hint(rv, "C_Login") ? p11e_ckr_hint(rv, "C_Login") : "");
}

p11e_rc p11e_token_unblock_pin(p11e_token *t, const char *so_pin, const char *new_pin,
			       p11e_err *err)
{
	p11e_rc rc = P11E_OK;
	CK_RV rv;

	if ((so_pin == NULL || new_pin == NULL) && !t->info.protected_auth_path)
		return p11e_errf(err, P11E_USAGE,
				 "token '%s' has no pinpad: give --so-pin-source and "
				 "--new-pin-source",
				 t->info.label);
	if ((rc = so_login(t, so_pin, "SO PIN", ", check --so-pin-source", err)) != P11E_OK)
		return rc;
	rv = t->m->f->C_InitPIN(t->session, (CK_UTF8CHAR_PTR)new_pin, pin_len(new_pin));
	if (rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID)
		rc = refused_new_pin(t, rv, err);
	else if (rv != CKR_OK)
		rc = p11e_errf(err, P11E_FAIL, "token '%s': setting the new user PIN failed: %s",
			       t->info.label, CKR_TEXT(rv));
	t->m->f->C_Logout(t->session);
	p11e_read_token_info(t->m->f, t->slot, &t->info);
	return rc;
}

p11e_rc p11e_token_so_pin_check(p11e_token *t, const char *so_pin, p11e_err *err)
{
	p11e_rc rc = so_login(t, so_pin, "the SO PIN tried", "", err);

	if (rc == P11E_OK)
		t->m->f->C_Logout(t->session);
	p11e_read_token_info(t->m->f, t->slot, &t->info);
	return rc;
}

p11e_rc p11e_token_set_so_pin(p11e_token *t, const char *old_pin, const char *new_pin,
			      p11e_err *err)
{
	p11e_rc rc;
	CK_RV rv;

	if (old_pin == NULL || new_pin == NULL)
		return p11e_errf(err, P11E_USAGE, "token '%s': both SO PINs are needed",
				 t->info.label);
	if ((rc = so_login(t, old_pin, "the current SO PIN", "", err)) != P11E_OK)
		return rc;
	rv = t->m->f->C_SetPIN(t->session, (CK_UTF8CHAR_PTR)old_pin, pin_len(old_pin),
			       (CK_UTF8CHAR_PTR)new_pin, pin_len(new_pin));
	if (rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID)
		rc = refused_new_pin(t, rv, err);
	else if (rv != CKR_OK)
		rc = p11e_errf(err, P11E_FAIL, "token '%s': setting the new SO PIN failed: %s",
			       t->info.label, CKR_TEXT(rv));
	t->m->f->C_Logout(t->session);
	p11e_read_token_info(t->m->f, t->slot, &t->info);
	return rc;
}
