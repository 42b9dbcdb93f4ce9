/* Private to src/token: the structures behind p11e_module and p11e_token. */
#ifndef P11ENROLL_TOKEN_INTERNAL_H
#define P11ENROLL_TOKEN_INTERNAL_H

#include <pthread.h>
#include <p11-kit/pkcs11.h>
#include <libp11.h>
#include "p11enroll/token.h"

#ifndef CKM_EC_EDWARDS_KEY_PAIR_GEN
#define CKM_EC_EDWARDS_KEY_PAIR_GEN 0x1055UL
#endif
#ifndef CKM_EDDSA
#define CKM_EDDSA 0x1057UL
#endif
#ifndef CKK_EC_EDWARDS
#define CKK_EC_EDWARDS 0x40UL
#endif
#ifndef CKA_CERTIFICATE_CATEGORY
#define CKA_CERTIFICATE_CATEGORY 0x87UL
#endif

struct p11e_module {
	char *path;
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int owns_init;	 /* we called C_Initialize first: we call C_Finalize */
	char *init_args; /* CK_C_INITIALIZE_ARGS.pReserved (NULL: none), libp11's too */
	/* Set for a module from p11-kit's registry: p11-kit initialised it
	 * (with its module file's x-init-reserved) and finalizes it; f is
	 * p11-kit's managed function list. Listing only: no libp11 context. */
	CK_FUNCTION_LIST_PTR kit;
	/* p11e_token_lock: token work of concurrent enrollments, one at a time
	 * per module (see token.h). */
	pthread_mutex_t serial;
	/* libp11, only for its signing bridge; created on first use, and
	 * unloaded before our C_Finalize because its unload finalizes a
	 * directly loaded module too. */
	PKCS11_CTX *p11;
	PKCS11_SLOT *p11_slots;
	unsigned int p11_nslots;
	/* This module refused a key template that states unwanted usages as
	 * CK_FALSE (p11_keys.c): ask it for the wanted ones only from now on
	 * (tpm2-pkcs11 refuses after comparing it with the TPM key it made). */
	int keygen_wanted_only;
	/* p11-kit-proxy: what its modules wrote on stderr while it initialised
	 * them, summed up in one line ("" if nothing); held back, and told only
	 * when no token matches (p11e_token_open). */
	char held_back[256];
};

/* What a module writes on stderr around its C_Initialize (p11_quiet.c):
 * begin points fd 2 at an anonymous file; end restores it and either writes
 * the text to stderr (show) or sums it up in summary ("it wrote 15 lines on
 * stderr, the last: '...'", "" when it wrote nothing). One at a time per
 * process; P11ENROLL_MODULE_STDERR=show captures nothing. */
typedef struct p11e_quiet {
	int fd;
	int saved;
	int locked;
} p11e_quiet;
void p11e_quiet_begin(p11e_quiet *q);
/* p11-kit-proxy (by its file name): it loads every registered module. */
int p11e_module_is_proxy(const char *path);
void p11e_quiet_end(p11e_quiet *q, int show, char *summary, size_t cap);

/* An object this session made or found lately, by class and CKA_ID. */
typedef struct p11e_known {
	CK_OBJECT_CLASS cls;
	p11e_id id;
	CK_OBJECT_HANDLE h;
	int used;
	int made; /* created by this session (key generation), not found */
	int kept; /* a CA certificate: every enrollment needs it again, so the
		     objects of later enrollments never push it out */
} p11e_known;
#define P11E_KNOWN_MAX 8

#define P11E_RENAMED_MAX 4

struct p11e_token {
	p11e_module *m;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	p11e_token_info info;
	char *pin; /* kept only to log libp11's own sessions in; wiped on close */
	/* The last few objects made or found: an enrollment finds its own key
	 * again without C_FindObjects, whose cost grows with the number of
	 * objects on the token (SoftHSM re-reads every object file). */
	p11e_known known[P11E_KNOWN_MAX];
	size_t known_next;
	/* What this token was found to refuse (probed by use, never by the
	 * module's name): C_SetAttributeValue(CKA_ID) on its keys, and room
	 * for one more object (CKR_DEVICE_MEMORY from C_CreateObject). */
	int ids_read_only;
	int out_of_room;
	/* Keys only in its fixed slots (a key under another CKA_ID refused):
	 * p11e_token_note_fixed_slots. */
	int fixed_slots;
	/* The last private keys this session renamed (p11e_token_set_id): libp11
	 * keeps a key's CKA_ID as it was when it first listed the object, so a
	 * key it signed with under its temporary ID (the CSR, before the
	 * rename) is still listed under that ID (p11e_token_signing_key). */
	struct {
		p11e_id from, to;
	} renamed[P11E_RENAMED_MAX];
	size_t renamed_next;
};

/* Remembers h as the object of class cls under CKA_ID id (made: this
 * session generated it, so nothing else can carry its fresh ID). */
void p11e_known_add(p11e_token *t, CK_OBJECT_CLASS cls, const unsigned char *id, size_t id_len,
		    CK_OBJECT_HANDLE h);
void p11e_known_add_made(p11e_token *t, CK_OBJECT_CLASS cls, const p11e_id *id, CK_OBJECT_HANDLE h);
/* Remembers h as a CA certificate, kept while the session lasts (at most
 * half of the remembered objects are kept; past that it is remembered as
 * any other): a worker's tenth enrollment finds the chain without a search
 * as its first did. */
void p11e_known_add_kept(p11e_token *t, const unsigned char *id, size_t id_len,
			 CK_OBJECT_HANDLE h);
/* Whether this session generated the key pair now under id: then no
 * certificate can be under that ID yet unless this session stored one (or
 * another program wrote one meanwhile, which the searches of a resumed run
 * would see). */
int p11e_known_made_key(p11e_token *t, const p11e_id *id);
void p11e_known_unmade(p11e_token *t, const p11e_id *id);
/* A remembered handle, checked to still be that object (C_GetAttributeValue
 * of class and ID: one object, not the whole token); 0 if none. */
int p11e_known_get(p11e_token *t, CK_OBJECT_CLASS cls, const p11e_id *id, CK_OBJECT_HANDLE *h);
/* After C_SetAttributeValue(CKA_ID) on h. */
void p11e_known_set_id(p11e_token *t, CK_OBJECT_HANDLE h, const p11e_id *id);

/* "CKR_PIN_INCORRECT", "CKR_VENDOR_DEFINED+0x12" (src/token/p11_rv.c). */
const char *p11e_ckr_name(CK_RV rv, char *buf, size_t len);
#define CKR_TEXT(rv) p11e_ckr_name((rv), (char[48]){0}, 48)
/* What to do about rv from function ("C_Initialize", ...), or NULL. */
const char *p11e_ckr_hint(CK_RV rv, const char *function);
/* "C_Initialize failed: NAME; hint" into out; how the module was
 * initialised decides the hint. */
#define P11E_INIT_DIRECT 0     /* loaded directly, no init arguments */
#define P11E_INIT_WITH_ARGS 1  /* loaded directly with --module-args */
#define P11E_INIT_REGISTERED 2 /* through p11-kit, its module file's */
void p11e_init_failure(CK_RV rv, int how, char *out, size_t len);
/* A p11e_module around a module p11-kit loaded and initialised (kit);
 * p11e_module_free finalizes and releases it through p11-kit. */
p11e_module *p11e_module_adopt_kit(const char *path, CK_FUNCTION_LIST_PTR kit, p11e_err *err);

/* P11E_PIN_LOCKED for t's user PIN, the message naming the next step
 * (`p11enroll pin unblock URI`). */
p11e_rc p11e_token_locked_error(const p11e_token *t, p11e_err *err);

/* Reads C_GetTokenInfo (and the slot description) into info. */
CK_RV p11e_read_token_info(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, p11e_token_info *info);

/* C_DestroyObject of h, and h forgotten from the known handles; what names
 * the object in the message ("a certificate"). */
p11e_rc p11e_destroy_handle(p11e_token *t, CK_OBJECT_HANDLE h, const char *what, p11e_err *err);

/* Handles of objects matching a template; *out malloc'd. */
p11e_rc p11e_find(p11e_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE **out,
		  CK_ULONG *count, p11e_err *err);
/* The one object of class cls with CKA_ID id: P11E_NOT_FOUND if none. */
p11e_rc p11e_find_one(p11e_token *t, CK_OBJECT_CLASS cls, const p11e_id *id, CK_OBJECT_HANDLE *out,
		      p11e_err *err);
/* A variable-length attribute, malloc'd (NULL with *len 0 if empty). */
CK_RV p11e_get_attr(p11e_token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, unsigned char **out,
		    CK_ULONG *len);

#endif
