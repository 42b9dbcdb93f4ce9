/* The token layer: the only code in p11enroll that speaks PKCS#11.
 *
 * A p11e_module owns one loaded PKCS#11 module (raw dlopen + C_Initialize;
 * it is the only caller of C_Finalize) and, lazily, one libp11 context on the
 * same module whose lifetime is nested inside it (libp11 is used only for its
 * EVP_PKEY signing bridge). Tokens are selected by RFC 7512 URI, never by
 * slot number. */
#ifndef P11ENROLL_TOKEN_H
#define P11ENROLL_TOKEN_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11enroll/error.h"
#include "p11enroll/uri.h"

#define P11E_DEFAULT_MODULE "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"

typedef struct p11e_module p11e_module;
typedef struct p11e_token p11e_token;

typedef struct p11e_token_info {
	char label[33]; /* blank-padded fields of CK_TOKEN_INFO, trimmed */
	char manufacturer[33];
	char model[17];
	char serial[17];
	char slot_description[65];
	unsigned long flags; /* CK_TOKEN_INFO.flags as the module said */
	int initialized;
	int login_required;
	int protected_auth_path;
	int user_pin_initialized;
	int write_protected;
	int user_pin_count_low;
	int user_pin_final_try;
	int user_pin_locked;
	int user_pin_to_be_changed;
	int so_pin_count_low;
	int so_pin_final_try;
	int so_pin_locked;
	unsigned long min_pin_len; /* ulMinPinLen, ulMaxPinLen: what C_SetPIN and */
	unsigned long max_pin_len; /* C_InitPIN accept (CKR_PIN_LEN_RANGE otherwise) */
} p11e_token_info;

typedef enum p11e_key_kind {
	P11E_KEY_RSA = 1,
	P11E_KEY_EC = 2,
	P11E_KEY_ED25519 = 3,
} p11e_key_kind;

typedef struct p11e_keytype {
	p11e_key_kind kind;
	int bits;      /* RSA modulus bits */
	int curve_nid; /* EC: NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1 */
	char name[16]; /* canonical spelling: "rsa:2048", "ec:P-256", "ed25519" */
} p11e_keytype;

/* "rsa:2048|3072|4096", "ec:P-256|P-384|P-521" (also "ec:prime256v1",
 * "ec:secp384r1", "ec:secp521r1"), "ed25519". P11E_USAGE otherwise. */
p11e_rc p11e_keytype_parse(const char *text, p11e_keytype *out, p11e_err *err);

/* What the private key may do: only what its profile needs. */
#define P11E_USE_SIGN 0x1u    /* CKA_SIGN (public: CKA_VERIFY) */
#define P11E_USE_DECRYPT 0x2u /* RSA: CKA_DECRYPT+CKA_UNWRAP (public: ENCRYPT+WRAP) */
#define P11E_USE_DERIVE 0x4u  /* EC: CKA_DERIVE (key agreement) */

typedef struct p11e_id {
	unsigned char v[P11E_ID_MAX];
	size_t len;
} p11e_id;

/* --- modules and tokens --- */

/* path NULL means P11E_DEFAULT_MODULE. */
p11e_rc p11e_module_load(const char *path, p11e_module **out, p11e_err *err);
/* The same with init arguments (CK_C_INITIALIZE_ARGS.pReserved; NSS
 * softokn: "configdir='sql:DIR' certPrefix='' keyPrefix='' secmod='secmod.db'
 * flags="), NULL for none. P11E_USAGE for arguments that fail
 * p11e_module_args_check or are given to p11-kit-proxy. */
p11e_rc p11e_module_load_args(const char *path, const char *init_args, p11e_module **out,
			      p11e_err *err);
/* Init arguments are one line of printable ASCII, 1 to P11E_MODULE_ARGS_MAX
 * characters; P11E_USAGE naming field ("--module-args") otherwise. */
#define P11E_MODULE_ARGS_MAX 4096
p11e_rc p11e_module_args_check(const char *field, const char *args, p11e_err *err);
/* The module a token URI's module-name selects (RFC 7512), when path is
 * the default module (p11-kit-proxy): only that module registered with
 * p11-kit is loaded, directly, with its module file's x-init-reserved, and
 * none of the others. name NULL: p11e_module_load_args. P11E_USAGE for a
 * module-name beside another module (--module, module-path); P11E_FAIL for
 * a name p11-kit does not know, listing the names it knows. */
p11e_rc p11e_module_load_for(const char *path, const char *init_args, const char *name,
			     p11e_module **out, p11e_err *err);
void p11e_module_free(p11e_module *m);
const char *p11e_module_path(const p11e_module *m);

/* The modules registered with p11-kit (what p11-kit-proxy aggregates): name
 * and file, each initialised the way p11-kit-proxy does it (through p11-kit,
 * with its module file's arguments such as x-init-reserved). One that fails
 * has module NULL and error saying why (the CKR code by name); the others
 * are listed all the same. Such a module is for listing (p11e_module_tokens):
 * p11-kit owns its C_Initialize and C_Finalize. */
typedef struct p11e_registered_module {
	char *name;
	char *path;
	p11e_module *module; /* NULL if it failed to initialise */
	char *error;	     /* why module is NULL */
} p11e_registered_module;
p11e_rc p11e_registered_modules(p11e_registered_module **out, size_t *n, p11e_err *err);
void p11e_registered_modules_free(p11e_registered_module *mods, size_t n);

/* Every slot with a token present, initialised or not. *infos malloc'd. */
p11e_rc p11e_module_tokens(p11e_module *m, p11e_token_info **infos, size_t *n, p11e_err *err);

/* Opens a R/W session on the one token matching uri (token, serial,
 * manufacturer, model). No match, or several: P11E_TOKEN_NOT_FOUND with a
 * message listing the candidates' labels and serials. An uninitialised token
 * is never matched here. */
p11e_rc p11e_token_open(p11e_module *m, const p11e_uri *uri, p11e_token **out, p11e_err *err);
void p11e_token_close(p11e_token *t);

/* For threads that each have their own session on tokens of one module
 * (batch --jobs): holds the module's lock while one enrollment does its
 * token work. Needed because SoftHSM 2.6 fails C_GenerateKeyPair and
 * C_CreateObject with CKR_GENERAL_ERROR or CKR_TEMPLATE_INCONSISTENT when
 * other sessions of the process use the token at the same time (measured
 * here with batch --jobs 4; SoftHSMv2 issue 573), and a smartcard does one
 * thing at a time anyway. Not reentrant. */
void p11e_token_lock(p11e_token *t);

/* Clears CKA_SIGN on the private key (and CKA_VERIFY on the public one)
 * under id: an encryption key signed its CSR and is certified for nothing
 * else. A module that will not change the attribute keeps the key as it is
 * (CKR_ATTRIBUTE_READ_ONLY is not an error: the certificate still limits it). */
p11e_rc p11e_token_forbid_signing(p11e_token *t, const p11e_id *id, p11e_err *err);
void p11e_token_unlock(p11e_token *t);
/* Info as read at open (refreshed after a failed login). */
const p11e_token_info *p11e_token_get_info(const p11e_token *t);
/* Whether the token says it is a PIV card: manufacturer "piv_II" (OpenSC's
 * PIV driver, YubiKeys through OpenSC too) or a model starting "YubiKey"
 * (Yubico's ykcs11). docs/tokens.md, Fixed-slot cards. */
int p11e_token_info_piv_shaped(const p11e_token_info *info);

/* Logs the user in once. pin NULL is only valid for a protected
 * authentication path (pinpad). CKR_PIN_INCORRECT -> P11E_PIN_INCORRECT and
 * CKR_PIN_LOCKED -> P11E_PIN_LOCKED, with the token's remaining-tries flags in
 * the message. Never retries. Already logged in is success. */
p11e_rc p11e_token_login(p11e_token *t, const char *pin, p11e_err *err);

/* --- PINs (src/token/p11_pin.c) --- */

/* Changes the user PIN with C_SetPIN in t's session, which must be logged in
 * as the user (p11e_token_login): the old PIN is the one that login used, so
 * a wrong old PIN was refused there, once. new_pin NULL (and a login without
 * PIN) on a protected authentication path: the reader asks for both.
 * CKR_PIN_LEN_RANGE and CKR_PIN_INVALID: P11E_USAGE naming the token's
 * length range. */
p11e_rc p11e_token_set_pin(p11e_token *t, const char *new_pin, p11e_err *err);
/* Unblocks (or resets) the user PIN: C_Login as the SO (exactly once, never
 * retried), C_InitPIN(new_pin), C_Logout. t's session must not be logged in.
 * so_pin and new_pin NULL on a protected authentication path. A wrong SO
 * PIN: P11E_PIN_INCORRECT naming the SO PIN; a locked one P11E_PIN_LOCKED. */
p11e_rc p11e_token_unblock_pin(p11e_token *t, const char *so_pin, const char *new_pin,
			       p11e_err *err);

/* The SO PIN changed: one C_Login as the SO with old_pin (never retried),
 * C_SetPIN(old_pin, new_pin), C_Logout (the card registry's personalisation,
 * src/core/card_pin.c). A wrong old PIN: P11E_PIN_INCORRECT; a new PIN of
 * the wrong form: P11E_USAGE naming the token's length range. */
p11e_rc p11e_token_set_so_pin(p11e_token *t, const char *old_pin, const char *new_pin,
			      p11e_err *err);
/* One SO login with so_pin and a logout: which of two SO PINs a card has,
 * when a change was cut short. P11E_PIN_INCORRECT when refused (counted by
 * the card). */
p11e_rc p11e_token_so_pin_check(p11e_token *t, const char *so_pin, p11e_err *err);

/* Initialises the one uninitialised token matching uri with label, SO PIN,
 * then logs in as SO and sets the user PIN. An initialised match is
 * P11E_EXISTS (we never wipe a token). */
p11e_rc p11e_token_init(p11e_module *m, const p11e_uri *uri, const char *label, const char *so_pin,
			const char *user_pin, p11e_err *err);

/* --- keys --- */

/* P11E_UNSUPPORTED (naming the mechanism) if the token lacks the key pair
 * generation mechanism or the size/curve, asked with C_GetMechanismInfo. */
p11e_rc p11e_token_check_keytype(p11e_token *t, const p11e_keytype *kt, p11e_err *err);

/* Generates a key pair on the token: private key CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE, !CKA_EXTRACTABLE, with only the usages in `usage`; both
 * halves get id and label. */
p11e_rc p11e_token_generate_keypair(p11e_token *t, const p11e_keytype *kt, const p11e_id *id,
				    const char *label, unsigned usage, p11e_err *err);

/* Imports a key made elsewhere (an archived software key: RSA or named-curve
 * EC) with C_CreateObject: the private key CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE, !CKA_EXTRACTABLE (RSA with every CRT component, EC with
 * CKA_EC_PARAMS and CKA_VALUE), the public key beside it; only the usages in
 * `usage`; both under id and label. Each call creates one object: the caller
 * checks first what is already there (src/token/p11_import.c). */
p11e_rc p11e_token_import_private_key(p11e_token *t, EVP_PKEY *key, const p11e_id *id,
				      const char *label, unsigned usage, p11e_err *err);
p11e_rc p11e_token_import_public_key(p11e_token *t, EVP_PKEY *key, const p11e_id *id,
				     const char *label, unsigned usage, p11e_err *err);

/* How many objects of class cls (CKO_PRIVATE_KEY, CKO_PUBLIC_KEY,
 * CKO_CERTIFICATE) carry CKA_ID == id. A narrow template: never enumerates. */
p11e_rc p11e_token_count(p11e_token *t, unsigned long cls, const p11e_id *id, size_t *n,
			 p11e_err *err);

/* Destroys every object of class cls under CKA_ID id; *n how many. Only
 * for objects p11enroll itself made under an ID of its own (half a key pair
 * that a kill inside C_GenerateKeyPair left): never a user's objects. */
p11e_rc p11e_token_destroy(p11e_token *t, unsigned long cls, const p11e_id *id, size_t *n,
			   p11e_err *err);

/* Whether the key pair under id, one private and one public key, is whole:
 * both halves say CKA_LOCAL (PKCS#11 sets it only on keys C_GenerateKeyPair
 * finished) and the public key can be read. SoftHSM writes each half twice,
 * its template first and then the key itself with CKA_LOCAL: a kill between
 * the writes leaves a key object without its key. A module that has no
 * CKA_LOCAL is taken at its word. P11E_NOT_FOUND if a half is missing. */
p11e_rc p11e_token_key_pair_whole(p11e_token *t, const p11e_id *id, int *whole, p11e_err *err);

/* The CKA_ID of the one private key labelled `label` (a URI's object=).
 * P11E_NOT_FOUND if none; P11E_USAGE if several share the label. */
p11e_rc p11e_token_key_id_by_label(p11e_token *t, const char *label, p11e_id *id, p11e_err *err);

/* Changes CKA_ID from `from` to `to` on every private key, public key and
 * certificate that has `from`. A token that refuses to change CKA_ID
 * (CKR_ATTRIBUTE_READ_ONLY, CKR_ACTION_PROHIBITED, CKR_ATTRIBUTE_VALUE_INVALID,
 * ...: a card whose IDs are fixed at generation): P11E_UNSUPPORTED with
 * everything left under `from` (what this call had moved is moved back), and
 * the handle remembers it (p11e_token_ids_read_only): later calls fail at once. */
p11e_rc p11e_token_set_id(p11e_token *t, const p11e_id *from, const p11e_id *to, p11e_err *err);
/* Capabilities found by use on this handle: CKA_ID refused (above); a
 * C_CreateObject answered CKR_DEVICE_MEMORY (the token has no room). */
int p11e_token_ids_read_only(const p11e_token *t);
int p11e_token_out_of_room(const p11e_token *t);
/* A card that makes keys only in its fixed slots (it refused a key pair under
 * another CKA_ID): noted by the caller that found it, remembered on the handle. */
int p11e_token_fixed_slots(const p11e_token *t);
void p11e_token_note_fixed_slots(p11e_token *t);

/* The CKA_ID OpenSC gives a PIV key slot: "9a" 01, "9c" 02, "9d" 03, "9e" 04,
 * the retired key-management slots "82" to "95" 05 to 18 (hex); NULL for
 * anything else. */
const char *p11e_piv_slot_id(const char *piv_slot);

/* Destroys every certificate under CKA_ID id except one equal to keep (NULL:
 * all); *n how many. For a key slot's certificate once it is replaced. */
p11e_rc p11e_token_destroy_certs_except(p11e_token *t, const p11e_id *id, X509 *keep, size_t *n,
					p11e_err *err);

/* The public half of the key pair with CKA_ID id, as an OpenSSL key built from
 * the public key object's attributes (RSA modulus/exponent, EC params/point,
 * Ed25519 point). P11E_NOT_FOUND if there is none. */
p11e_rc p11e_token_public_key(p11e_token *t, const p11e_id *id, EVP_PKEY **out, p11e_err *err);

/* An EVP_PKEY whose private operations run on the token (libp11 bridge) for
 * the RSA or EC private key with CKA_ID id. Valid until the module is freed;
 * free it with EVP_PKEY_free before p11e_module_free. */
p11e_rc p11e_token_signing_key(p11e_token *t, const p11e_id *id, EVP_PKEY **out, p11e_err *err);

/* Raw C_Sign with mechanism mech (e.g. CKM_EDDSA) by the private key with
 * CKA_ID id: for key types libp11 0.4.12 cannot bridge. *sig malloc'd. */
p11e_rc p11e_token_sign_raw(p11e_token *t, const p11e_id *id, unsigned long mech,
			    const unsigned char *data, size_t len, unsigned char **sig,
			    size_t *sig_len, p11e_err *err);

/* --- certificates --- */

/* Writes cert as a token object: CLASS, CERTIFICATE_TYPE X.509, TOKEN, ID,
 * LABEL, SUBJECT, ISSUER, SERIAL_NUMBER, VALUE (what NSS and OpenSC need to
 * pair it with its key). */
p11e_rc p11e_token_store_cert(p11e_token *t, X509 *cert, const p11e_id *id, const char *label,
			      p11e_err *err);
/* Writes a CA certificate (CKA_ID = its subject key identifier, label = its
 * subject CN, CKA_CERTIFICATE_CATEGORY authority) unless an identical
 * certificate is already there. */
p11e_rc p11e_token_store_ca_cert(p11e_token *t, X509 *cert, p11e_err *err);
/* Sets CKA_LABEL on every private key, public key and certificate with
 * CKA_ID id (*n: how many); renewal relabels an old generation's objects
 * (src/token/p11_label.c). */
p11e_rc p11e_token_set_label(p11e_token *t, const p11e_id *id, const char *label, size_t *n,
			     p11e_err *err);
/* Destroys every private and public key labelled `label` whose CKA_ID is
 * absent or empty (*n: how many): what a kill inside C_GenerateKeyPair or a
 * rename left on a module that writes objects in place (SoftHSM's file
 * store). p11enroll gives every key an ID, so only its own label finds them
 * (src/token/p11_label.c). A NULL or empty label finds nothing. */
p11e_rc p11e_token_destroy_idless_keys(p11e_token *t, const char *label, size_t *n, p11e_err *err);
/* How many such key objects there are (*n), destroying none. */
p11e_rc p11e_token_count_idless_keys(p11e_token *t, const char *label, size_t *n, p11e_err *err);
/* Destroys every certificate object whose CKA_VALUE is cert's DER (a CA
 * certificate p11enroll wrote, found by value: `p11enroll wipe`); *n how
 * many (src/token/p11_wipe.c). */
p11e_rc p11e_token_destroy_cert_value(p11e_token *t, X509 *cert, size_t *n, p11e_err *err);
/* The certificate with CKA_ID id; P11E_NOT_FOUND if none. */
p11e_rc p11e_token_find_cert(p11e_token *t, const p11e_id *id, X509 **out, p11e_err *err);

/* One entry per CKA_ID that has a private key, public key or certificate. */
typedef struct p11e_token_object {
	p11e_id id;
	char label[129];
	int has_private;
	int has_public;
	X509 *cert; /* NULL if no certificate under this id */
} p11e_token_object;
p11e_rc p11e_token_list(p11e_token *t, p11e_token_object **objs, size_t *n, p11e_err *err);
void p11e_token_objects_free(p11e_token_object *objs, size_t n);

#endif
