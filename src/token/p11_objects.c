/* Finding objects with narrow templates, and reading their attributes. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include "token/p11_internal.h"

p11e_rc p11e_find(p11e_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE **out,
		  CK_ULONG *count, p11e_err *err)
{
	CK_FUNCTION_LIST_PTR f = t->m->f;
	CK_OBJECT_HANDLE *list = NULL, batch[64];
	CK_ULONG got = 0, total = 0;
	CK_RV rv;

	*out = NULL;
	*count = 0;
	rv = f->C_FindObjectsInit(t->session, tmpl, n);
	if (rv != CKR_OK)
		return p11e_errf(err, P11E_FAIL, "token '%s': C_FindObjectsInit failed: %s",
				 t->info.label, CKR_TEXT(rv));
	do {
		rv = f->C_FindObjects(t->session, batch, 64, &got);
		if (rv != CKR_OK)
			break;
		if (got > 0) {
			CK_OBJECT_HANDLE *grown = realloc(list, (total + got) * sizeof(*list));
			if (grown == NULL) {
				rv = CKR_HOST_MEMORY;
				break;
			}
			list = grown;
			memcpy(list + total, batch, got * sizeof(*batch));
			total += got;
		}
	} while (got == 64);
	f->C_FindObjectsFinal(t->session);
	if (rv != CKR_OK) {
		free(list);
		return p11e_errf(err, P11E_FAIL, "token '%s': C_FindObjects failed: %s",
				 t->info.label, CKR_TEXT(rv));
	}
	*out = list;
	*count = total;
	return P11E_OK;
}

/* The slot for a new entry: the oldest one that is not kept (a CA certificate). */
static p11e_known *known_next_slot(p11e_token *t)
{
	p11e_known *k = &t->known[t->known_next];

	for (size_t i = 0; i < P11E_KNOWN_MAX && k->used && k->kept; i++) {
		t->known_next = (t->known_next + 1) % P11E_KNOWN_MAX;
		k = &t->known[t->known_next];
	}
	t->known_next = (t->known_next + 1) % P11E_KNOWN_MAX;
	return k;
}

void p11e_known_add(p11e_token *t, CK_OBJECT_CLASS cls, const unsigned char *id, size_t id_len,
		    CK_OBJECT_HANDLE h)
{
	p11e_known *k;

	if (id_len > P11E_ID_MAX)
		return;
	k = known_next_slot(t);
	k->cls = cls;
	memcpy(k->id.v, id, id_len);
	k->id.len = id_len;
	k->h = h;
	k->used = 1;
	k->made = 0;
	k->kept = 0;
}

void p11e_known_add_kept(p11e_token *t, const unsigned char *id, size_t id_len, CK_OBJECT_HANDLE h)
{
	size_t kept = 0;

	for (size_t i = 0; i < P11E_KNOWN_MAX; i++)
		kept += t->known[i].used && t->known[i].kept;
	p11e_known_add(t, CKO_CERTIFICATE, id, id_len, h);
	if (kept < P11E_KNOWN_MAX / 2 && id_len <= P11E_ID_MAX)
		t->known[(t->known_next + P11E_KNOWN_MAX - 1) % P11E_KNOWN_MAX].kept = 1;
}

void p11e_known_add_made(p11e_token *t, CK_OBJECT_CLASS cls, const p11e_id *id, CK_OBJECT_HANDLE h)
{
	p11e_known_add(t, cls, id->v, id->len, h);
	if (id->len <= P11E_ID_MAX) /* the entry just added */
		t->known[(t->known_next + P11E_KNOWN_MAX - 1) % P11E_KNOWN_MAX].made = 1;
}

int p11e_known_made_key(p11e_token *t, const p11e_id *id)
{
	CK_OBJECT_HANDLE h;

	for (size_t i = 0; i < P11E_KNOWN_MAX; i++) {
		p11e_known *k = &t->known[i];
		if (k->used && k->made && k->cls == CKO_PRIVATE_KEY && k->id.len == id->len &&
		    memcmp(k->id.v, id->v, id->len) == 0)
			return p11e_known_get(t, CKO_PRIVATE_KEY, id, &h);
	}
	return 0;
}

void p11e_known_unmade(p11e_token *t, const p11e_id *id)
{
	for (size_t i = 0; i < P11E_KNOWN_MAX; i++)
		if (t->known[i].id.len == id->len && memcmp(t->known[i].id.v, id->v, id->len) == 0)
			t->known[i].made = 0;
}

int p11e_known_get(p11e_token *t, CK_OBJECT_CLASS cls, const p11e_id *id, CK_OBJECT_HANDLE *h)
{
	for (size_t i = 0; i < P11E_KNOWN_MAX; i++) {
		p11e_known *k = &t->known[i];
		CK_OBJECT_CLASS got_cls = 0;
		unsigned char got_id[P11E_ID_MAX];
		CK_ATTRIBUTE a[] = {{CKA_CLASS, &got_cls, sizeof(got_cls)},
				    {CKA_ID, got_id, sizeof(got_id)}};

		if (!k->used || k->cls != cls || k->id.len != id->len ||
		    memcmp(k->id.v, id->v, id->len) != 0)
			continue;
		/* Another program may have deleted or changed it meanwhile. */
		if (t->m->f->C_GetAttributeValue(t->session, k->h, a, 2) == CKR_OK &&
		    got_cls == cls && a[1].ulValueLen == id->len &&
		    memcmp(got_id, id->v, id->len) == 0) {
			*h = k->h;
			return 1;
		}
		k->used = 0;
	}
	return 0;
}

void p11e_known_set_id(p11e_token *t, CK_OBJECT_HANDLE h, const p11e_id *id)
{
	for (size_t i = 0; i < P11E_KNOWN_MAX; i++)
		if (t->known[i].used && t->known[i].h == h)
			t->known[i].id = *id;
}

p11e_rc p11e_find_one(p11e_token *t, CK_OBJECT_CLASS cls, const p11e_id *id, CK_OBJECT_HANDLE *out,
		      p11e_err *err)
{
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_ID, (void *)id->v, id->len},
	};
	CK_OBJECT_HANDLE *list = NULL;
	CK_ULONG n = 0;
	p11e_rc rc;

	if (p11e_known_get(t, cls, id, out))
		return P11E_OK;
	rc = p11e_find(t, tmpl, 2, &list, &n, err);
	if (rc != P11E_OK)
		return rc;
	if (n == 1)
		p11e_known_add(t, cls, id->v, id->len, list[0]);
	if (n == 0)
		rc = p11e_errf(err, P11E_NOT_FOUND, "token '%s': no %s under that CKA_ID",
			       t->info.label,
			       cls == CKO_PRIVATE_KEY  ? "private key"
			       : cls == CKO_PUBLIC_KEY ? "public key"
						       : "certificate");
	else
		*out = list[0];
	free(list);
	return rc;
}

CK_RV p11e_get_attr(p11e_token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, unsigned char **out,
		    CK_ULONG *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv;

	*out = NULL;
	*len = 0;
	rv = t->m->f->C_GetAttributeValue(t->session, h, &a, 1);
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == (CK_ULONG)-1)
		return CKR_ATTRIBUTE_SENSITIVE;
	if (a.ulValueLen == 0)
		return CKR_OK;
	a.pValue = malloc(a.ulValueLen);
	if (a.pValue == NULL)
		return CKR_HOST_MEMORY;
	rv = t->m->f->C_GetAttributeValue(t->session, h, &a, 1);
	if (rv != CKR_OK) {
		free(a.pValue);
		return rv;
	}
	*out = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

/* The objects of class cls under CKA_ID id (free *list). */
static p11e_rc find_by_id(p11e_token *t, unsigned long cls, const p11e_id *id,
			  CK_OBJECT_HANDLE **list, CK_ULONG *count, p11e_err *err)
{
	CK_OBJECT_CLASS c = cls;
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &c, sizeof(c)},
	    {CKA_ID, (void *)id->v, id->len},
	};

	return p11e_find(t, tmpl, 2, list, count, err);
}

p11e_rc p11e_token_count(p11e_token *t, unsigned long cls, const p11e_id *id, size_t *n,
			 p11e_err *err)
{
	CK_OBJECT_HANDLE *list = NULL;
	CK_ULONG count = 0;
	p11e_rc rc = find_by_id(t, cls, id, &list, &count, err);

	free(list);
	*n = count;
	return rc;
}

p11e_rc p11e_token_destroy(p11e_token *t, unsigned long cls, const p11e_id *id, size_t *n,
			   p11e_err *err)
{
	CK_OBJECT_HANDLE *list = NULL;
	CK_ULONG count = 0;
	p11e_rc rc = find_by_id(t, cls, id, &list, &count, err);

	*n = 0;
	for (CK_ULONG i = 0; rc == P11E_OK && i < count; i++)
		if ((rc = p11e_destroy_handle(t, list[i], "a key object", err)) == P11E_OK)
			(*n)++;
	free(list);
	return rc;
}

p11e_rc p11e_destroy_handle(p11e_token *t, CK_OBJECT_HANDLE h, const char *what, p11e_err *err)
{
	CK_RV rv = t->m->f->C_DestroyObject(t->session, h);

	if (rv != CKR_OK)
		return p11e_errf(err, P11E_FAIL, "token '%s': cannot delete %s: %s", t->info.label,
				 what, CKR_TEXT(rv));
	/* A remembered handle of it must not be handed out again. */
	for (size_t k = 0; k < P11E_KNOWN_MAX; k++)
		if (t->known[k].used && t->known[k].h == h)
			t->known[k].used = 0;
	return P11E_OK;
}

/* Refusals that say "this token does not change CKA_ID" (a card whose IDs are
 * fixed at generation), as opposed to a failure of the call. */
static int refuses_id_change(CK_RV rv)
{
	return rv == CKR_ATTRIBUTE_READ_ONLY || rv == CKR_ACTION_PROHIBITED ||
	       rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
	       rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_TEMPLATE_INCONSISTENT;
}

int p11e_token_ids_read_only(const p11e_token *t)
{
	return t->ids_read_only;
}

int p11e_token_out_of_room(const p11e_token *t)
{
	return t->out_of_room;
}

int p11e_token_fixed_slots(const p11e_token *t)
{
	return t->fixed_slots;
}

void p11e_token_note_fixed_slots(p11e_token *t)
{
	t->fixed_slots = 1;
}

int p11e_token_info_piv_shaped(const p11e_token_info *info)
{
	return info != NULL && (strcmp(info->manufacturer, "piv_II") == 0 ||
				strncmp(info->model, "YubiKey", 7) == 0);
}

const char *p11e_piv_slot_id(const char *piv_slot)
{
	/* OpenSC's PIV driver: the four standard slots, then the twenty retired
	 * key-management slots in order. */
	static const char *const slots[][2] = {
	    {"9a", "01"}, {"9c", "02"}, {"9d", "03"}, {"9e", "04"}, {"82", "05"}, {"83", "06"},
	    {"84", "07"}, {"85", "08"}, {"86", "09"}, {"87", "0a"}, {"88", "0b"}, {"89", "0c"},
	    {"8a", "0d"}, {"8b", "0e"}, {"8c", "0f"}, {"8d", "10"}, {"8e", "11"}, {"8f", "12"},
	    {"90", "13"}, {"91", "14"}, {"92", "15"}, {"93", "16"}, {"94", "17"}, {"95", "18"},
	};
	for (size_t i = 0; piv_slot != NULL && i < sizeof(slots) / sizeof(slots[0]); i++)
		if (strcasecmp(piv_slot, slots[i][0]) == 0)
			return slots[i][1];
	return NULL;
}

p11e_rc p11e_token_destroy_certs_except(p11e_token *t, const p11e_id *id, X509 *keep, size_t *n,
					p11e_err *err)
{
	CK_OBJECT_HANDLE *list = NULL;
	CK_ULONG count = 0;
	unsigned char *keep_der = NULL;
	int keep_len = keep != NULL ? i2d_X509(keep, &keep_der) : 0;
	p11e_rc rc = find_by_id(t, CKO_CERTIFICATE, id, &list, &count, err);

	*n = 0;
	if (keep != NULL && keep_len <= 0)
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot encode the certificate");
	for (CK_ULONG i = 0; rc == P11E_OK && i < count; i++) {
		unsigned char *value = NULL;
		CK_ULONG len = 0;
		CK_RV rv = p11e_get_attr(t, list[i], CKA_VALUE, &value, &len);
		int same = rv == CKR_OK && keep_der != NULL && len == (CK_ULONG)keep_len &&
			   memcmp(value, keep_der, len) == 0;
		free(value);
		if (same)
			continue;
		if ((rc = p11e_destroy_handle(t, list[i], "the slot's old certificate", err)) !=
		    P11E_OK)
			break;
		(*n)++;
	}
	OPENSSL_free(keep_der);
	free(list);
	return rc;
}

/* The handles of class cls under `from`: the key halves this session just
 * made need no search, and no certificate can carry their fresh ID yet. */
static p11e_rc ids_to_change(p11e_token *t, CK_OBJECT_CLASS cls, const p11e_id *from, int made_here,
			     CK_OBJECT_HANDLE **list, CK_ULONG *n, p11e_err *err)
{
	CK_OBJECT_HANDLE known;
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_ID, (void *)from->v, from->len},
	};

	*list = NULL;
	*n = 0;
	if (cls != CKO_CERTIFICATE && p11e_known_get(t, cls, from, &known)) {
		*list = malloc(sizeof(**list));
		if (*list == NULL)
			return p11e_errf(err, P11E_FAIL, "out of memory");
		**list = known;
		*n = 1;
		return P11E_OK;
	}
	if (cls == CKO_CERTIFICATE && made_here)
		return P11E_OK;
	return p11e_find(t, tmpl, 2, list, n, err);
}

p11e_rc p11e_token_set_id(p11e_token *t, const p11e_id *from, const p11e_id *to, p11e_err *err)
{
	static const CK_OBJECT_CLASS classes[] = {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE};
	CK_ATTRIBUTE set = {CKA_ID, (void *)to->v, to->len};
	CK_ATTRIBUTE back = {CKA_ID, (void *)from->v, from->len};
	CK_OBJECT_HANDLE done[16];
	size_t n_done = 0;
	CK_RV refused = CKR_OK;
	p11e_rc rc = P11E_OK;

	if (t->ids_read_only)
		return p11e_errf(
		    err, P11E_UNSUPPORTED,
		    "token '%s' does not change CKA_ID (found earlier in this session)",
		    t->info.label);
	/* Asked before the key halves below take their new ID. */
	int made_here = p11e_known_made_key(t, from);

	for (size_t c = 0; rc == P11E_OK && refused == CKR_OK && c < 3; c++) {
		CK_OBJECT_HANDLE *list = NULL;
		CK_ULONG n = 0;
		rc = ids_to_change(t, classes[c], from, made_here, &list, &n, err);
		for (CK_ULONG i = 0; rc == P11E_OK && refused == CKR_OK && i < n; i++) {
			CK_RV rv = t->m->f->C_SetAttributeValue(t->session, list[i], &set, 1);
			if (refuses_id_change(rv))
				refused = rv;
			else if (rv != CKR_OK)
				rc = p11e_errf(err, P11E_FAIL, "token '%s': cannot set CKA_ID: %s",
					       t->info.label, CKR_TEXT(rv));
			else if (n_done < sizeof(done) / sizeof(done[0]))
				done[n_done++] = list[i];
			if (rv == CKR_OK)
				p11e_known_set_id(t, list[i], to);
		}
		free(list);
#ifdef P11ENROLL_TEST_HOOKS
		/* Test builds: a kill between the private key's rename and the
		 * public key's (crash point "key-renaming", tests/integration/
		 * resume.sh); the core's hooks cannot reach inside this call. */
		const char *at = getenv("P11ENROLL_TEST_CRASH_AFTER");
		if (c == 0 && rc == P11E_OK && refused == CKR_OK && at != NULL &&
		    strcmp(at, "key-renaming") == 0)
			_exit(86);
#endif
	}
	if (refused == CKR_OK && rc == P11E_OK) {
		size_t at = t->renamed_next++ % P11E_RENAMED_MAX;
		t->renamed[at].from = *from;
		t->renamed[at].to = *to;
	}
	if (refused == CKR_OK)
		return rc;
	/* A token that changes some objects' IDs but not others': what moved
	 * goes back, so the pair stays under one ID. */
	for (size_t i = 0; i < n_done; i++) {
		if (t->m->f->C_SetAttributeValue(t->session, done[i], &back, 1) != CKR_OK)
			return p11e_errf(err, P11E_FAIL,
					 "token '%s' changed the CKA_ID of some objects and then "
					 "refused (%s); they could not be moved back. Inspect with "
					 "pkcs11-tool -O",
					 t->info.label, CKR_TEXT(refused));
		p11e_known_set_id(t, done[i], from);
	}
	t->ids_read_only = 1;
	return p11e_errf(err, P11E_UNSUPPORTED, "token '%s' does not change CKA_ID (%s)",
			 t->info.label, CKR_TEXT(refused));
}

p11e_rc p11e_token_key_id_by_label(p11e_token *t, const char *label, p11e_id *id, p11e_err *err)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_LABEL, (void *)label, strlen(label)},
	};
	CK_OBJECT_HANDLE *list = NULL;
	CK_ULONG n = 0, len = 0;
	unsigned char *value = NULL;
	p11e_rc rc = p11e_find(t, tmpl, 2, &list, &n, err);

	if (rc != P11E_OK)
		return rc;
	if (n != 1) {
		rc = p11e_errf(err, n == 0 ? P11E_NOT_FOUND : P11E_USAGE,
			       "object: %s private key labelled '%s' on token '%s'%s",
			       n == 0 ? "no" : "more than one", label, t->info.label,
			       n == 0 ? "" : "; select it by id= instead");
		goto out;
	}
	if (p11e_get_attr(t, list[0], CKA_ID, &value, &len) != CKR_OK || len == 0 ||
	    len > P11E_ID_MAX) {
		rc = p11e_errf(err, P11E_FAIL, "object: the key labelled '%s' has no usable CKA_ID",
			       label);
		goto out;
	}
	memcpy(id->v, value, len);
	id->len = len;
out:
	free(value);
	free(list);
	return rc;
}
