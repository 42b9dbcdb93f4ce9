/* The "file" vault, the embedded default: each secret is one file,
 * DIR/<escaped name>.cms (0600, DIR 0700), holding DER CMS encrypted to every
 * escrow officer's certificate in "officer_certs_file":
 *
 *   RSA officer: KeyTransRecipientInfo, RSAES-OAEP (SHA-256, MGF1-SHA-256)
 *   EC officer:  KeyAgreeRecipientInfo, ephemeral-static ECDH, X9.63 KDF
 *                with SHA-256, AES key wrap
 *   content:     AES-256-GCM in AuthEnvelopedData (RFC 5083/5084), or with
 *                "cipher": "aes-256-cbc" plain EnvelopedData for readers
 *                that lack AuthEnvelopedData (OpenSSL < 3.0)
 *
 * Writing needs only the certificates. Reading needs one officer's private
 * key: a PEM/DER file (passphrase from a secret source) or a key on a token
 * by PKCS#11 URI, whose private operation (RSA decryption, ECDH) runs on the
 * token through libp11. The key must match one of the officer certificates,
 * and the secret must have been encrypted to that officer: nobody else can
 * read it, and an entry is never replaced (P11E_EXISTS). Any CMS tool reads
 * an entry: openssl cms -decrypt -inform DER -in F.cms -recip O.pem -inkey O.key
 * Beside each entry, DIR/<escaped name>.meta (JSON, 0600, written before the
 * entry and replaced atomically) holds its p11e_vault_meta: no secret.
 *
 * The entries are documents of the store (kinds "escrow" and "escrow-meta"):
 * without "dir", the config's store (the file store: STATE_DIR/escrow, the
 * layout above; PostgreSQL: every station reads them); with "dir", a file
 * store of their own on that directory, whatever the config's store is (an
 * explicit place, as a PFX's --out is). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include "p11enroll/secret.h"
#include "p11enroll/session.h"
#include "p11enroll/util.h"
#include "p11enroll/conf.h"
#include "p11enroll/vault.h"
#include "p11enroll/store.h"
#include "vault/vault_meta.h"

#define SUFFIX ".cms"
#define NAME_MAX_LEN 1024   /* past FILE_NAME_MAX escaped: a hash as file name */
#define FILE_NAME_MAX 240   /* the escaped name and SUFFIX within NAME_MAX (255) */
#define HASHED "SHA256-"    /* never an escaped name: that spells 'S' %53 */
#define ENTRY_MAX (1 << 20) /* a password in CMS is a few KiB at most */

#include "vault/vault_file.h"

static const char *const known_keys[] = {"type", "dir", "officer_certs_file", "cipher", NULL};

static const char *conf_string(const json_object *conf, const char *key)
{
	json_object *v;

	if (conf != NULL && json_object_object_get_ex(conf, key, &v) &&
	    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0)
		return json_object_get_string(v);
	return NULL;
}

/* --- names --- */

static p11e_rc name_ok(const char *name, p11e_err *err)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > NAME_MAX_LEN)
		return p11e_errf(err, P11E_USAGE,
				 "vault: a secret's name must be 1 to %d characters", NAME_MAX_LEN);
	return P11E_OK;
}

/* Whether the file store names name's entry by a hash (its escaped name
 * past FILE_NAME_MAX with SUFFIX): its name is then kept in its metadata,
 * the only place a list finds it. */
static int long_name(const char *name)
{
	char *escaped = p11e_name_escape(name, 0);
	int hashed = escaped == NULL || strlen(escaped) + strlen(SUFFIX) > FILE_NAME_MAX;

	free(escaped);
	return hashed;
}

/* The metadata document of name into meta (none: left as it is). */
static void meta_read(const file_vault *v, const char *name, p11e_vault_meta *meta)
{
	unsigned char *text = NULL;
	size_t len = 0;
	p11e_err ignored = {0};

	if (p11e_store_get(v->store, "escrow-meta", name, &text, &len, &ignored) == P11E_OK)
		vault_meta_parse((const char *)text, meta, NULL);
	free(text);
}

static p11e_rc meta_write(const file_vault *v, const char *name, const p11e_vault_meta *meta,
			  p11e_err *err)
{
	char *text = vault_meta_text(long_name(name) ? name : NULL, meta);
	p11e_rc rc;

	if (text == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	rc = p11e_store_put(v->store, "escrow-meta", name, text, strlen(text), 0, err);
	free(text);
	return rc;
}

/* Whether an entry is escrowed under name (*found). */
static p11e_rc entry_exists(const file_vault *v, const char *name, int *found, p11e_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	p11e_rc rc = p11e_store_get(v->store, "escrow", name, &data, &len, err);

	free(data);
	*found = rc == P11E_OK;
	return rc == P11E_NOT_FOUND ? P11E_OK : rc;
}

/* --- officer certificates --- */

int p11e_vault_officer_cert_ok(X509 *cert, char *why, size_t cap)
{
	int id = EVP_PKEY_get_base_id(X509_get0_pubkey(cert));
	/* X509_get_key_usage: UINT32_MAX when there is no keyUsage. */
	uint32_t ku = X509_get_key_usage(cert);
	uint32_t needed = id == EVP_PKEY_RSA ? KU_KEY_ENCIPHERMENT : KU_KEY_AGREEMENT;

	if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC) {
		snprintf(why, cap, "has neither an RSA nor an EC key");
		return 0;
	}
	if (ku != UINT32_MAX && !(ku & needed)) {
		snprintf(why, cap, "lacks keyUsage %s",
			 id == EVP_PKEY_RSA ? "keyEncipherment" : "keyAgreement");
		return 0;
	}
	if ((X509_get_extension_flags(cert) & EXFLAG_CA) &&
	    (ku == UINT32_MAX || (ku & KU_KEY_CERT_SIGN))) {
		snprintf(why, cap, "is a CA certificate (basicConstraints CA:TRUE%s)",
			 ku == UINT32_MAX ? ", no keyUsage" : ", keyCertSign");
		return 0;
	}
	return 1;
}

static p11e_rc load_officers(file_vault *v, p11e_err *err)
{
	BIO *bio = BIO_new_file(v->certs_path, "r");
	X509 *cert;
	p11e_rc rc = P11E_OK;

	if (bio == NULL)
		return p11e_errf(err, P11E_CONFIG, "vault: officer_certs_file %s: %s",
				 v->certs_path, errno ? strerror(errno) : "cannot open");
	if ((v->officers = sk_X509_new_null()) == NULL) {
		BIO_free(bio);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		char why[96];
		/* Refused at load, not at the first put: a certificate that
		 * cannot decrypt is no officer, for reading either. */
		if (!p11e_vault_officer_cert_ok(cert, why, sizeof(why))) {
			char subj[128];
			vault_file_subject(cert, subj, sizeof(subj));
			X509_free(cert);
			rc = p11e_errf(err, P11E_CONFIG,
				       "vault: officer certificate %s in %s %s: it cannot receive "
				       "an escrowed secret (make officers with p11enroll escrow "
				       "officer-init)",
				       subj, v->certs_path, why);
			break;
		}
		if (!sk_X509_push(v->officers, cert)) {
			X509_free(cert);
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			break;
		}
	}
	/* The loop ends on "no start line" after the last certificate. */
	ERR_clear_error();
	BIO_free(bio);
	if (rc == P11E_OK && sk_X509_num(v->officers) == 0)
		rc = p11e_errf(err, P11E_CONFIG,
			       "vault: officer_certs_file %s holds no PEM certificate",
			       v->certs_path);
	return rc;
}

/* Every officer must be able to receive a secret today: a put that quietly
 * left one out would hide the secret from that officer. */
static p11e_rc check_officers_for_put(const file_vault *v, p11e_err *err)
{
	for (int i = 0; i < sk_X509_num(v->officers); i++) {
		X509 *cert = sk_X509_value(v->officers, i);
		int rsa = EVP_PKEY_get_base_id(X509_get0_pubkey(cert)) == EVP_PKEY_RSA;
		uint32_t ku = X509_get_key_usage(cert);
		char subj[128];

		vault_file_subject(cert, subj, sizeof(subj));
		if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0 ||
		    X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
			return p11e_errf(err, P11E_CONFIG,
					 "vault: officer certificate %s in %s is not valid now "
					 "(expired or not yet valid): replace it",
					 subj, v->certs_path);
		/* X509_get_key_usage: UINT32_MAX when there is no keyUsage. */
		if (ku != UINT32_MAX && !(ku & (rsa ? KU_KEY_ENCIPHERMENT : KU_KEY_AGREEMENT)))
			return p11e_errf(err, P11E_CONFIG,
					 "vault: officer certificate %s in %s lacks keyUsage %s",
					 subj, v->certs_path,
					 rsa ? "keyEncipherment" : "keyAgreement");
	}
	return P11E_OK;
}

/* --- the vtable --- */

static void file_close(void *state)
{
	file_vault *v = state;

	if (v == NULL)
		return;
	/* A token key lives in the module: free it before the session. */
	EVP_PKEY_free(v->key);
	if (v->session != NULL) {
		p11e_session_close(v->session);
		free(v->session);
	}
	sk_X509_pop_free(v->officers, X509_free);
	p11e_store_close(v->own_store);
	free(v->certs_path);
	free(v);
}

static p11e_rc file_open(const p11e_config *cfg, const json_object *conf,
			 const p11e_vault_open_params *p, void **state, p11e_err *err)
{
	file_vault *v;
	const char *s;
	p11e_rc rc;

	*state = NULL;
	if ((rc = p11e_conf_check_keys(conf, known_keys, "vault (type file)", err)) != P11E_OK)
		return rc;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	s = conf_string(conf, "dir");
	if (s != NULL && (rc = p11e_store_open_flat(s, &v->own_store, err)) != P11E_OK)
		goto fail;
	v->store = s != NULL ? v->own_store : cfg->store;
	if (v->store == NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "vault: type file needs a store (the config's) or a \"dir\"");
		goto fail;
	}
	s = conf_string(conf, "officer_certs_file");
	if (s == NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "vault: type file needs \"officer_certs_file\" (PEM with the escrow "
			       "officers' certificates)");
		goto fail;
	}
	v->certs_path = strdup(s);
	if (v->certs_path == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto fail;
	}
	s = conf_string(conf, "cipher");
	if (s == NULL || strcmp(s, "aes-256-gcm") == 0) {
		v->cipher = EVP_aes_256_gcm();
	} else if (strcmp(s, "aes-256-cbc") == 0) {
		v->cipher = EVP_aes_256_cbc();
	} else {
		rc = p11e_errf(err, P11E_CONFIG,
			       "vault: cipher '%.40s' is unknown (aes-256-gcm or aes-256-cbc)", s);
		goto fail;
	}
	if ((rc = load_officers(v, err)) != P11E_OK)
		goto fail;
	if (p != NULL && p->officer_key != NULL &&
	    (rc = vault_file_load_key(v, cfg, p, err)) != P11E_OK)
		goto fail;
	*state = v;
	return P11E_OK;
fail:
	file_close(v);
	return rc;
}

static p11e_rc set_recipient_params(CMS_RecipientInfo *ri, int rsa)
{
	EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);

	if (pctx == NULL)
		return P11E_FAIL;
	if (rsa)
		return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
			       EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0 &&
			       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0
			   ? P11E_OK
			   : P11E_FAIL;
	return EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) > 0 ? P11E_OK : P11E_FAIL;
}

static p11e_rc file_put(void *state, const char *name, const unsigned char *secret, size_t len,
			const p11e_vault_meta *meta, p11e_err *err)
{
	file_vault *v = state;
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	unsigned char *der = NULL;
	int der_len, found = 0;
	char where[400];
	p11e_rc rc;

	if ((rc = name_ok(name, err)) != P11E_OK ||
	    (rc = entry_exists(v, name, &found, err)) != P11E_OK)
		return rc;
	if (found) {
		rc = p11e_errf(err, P11E_EXISTS,
			       "vault: a secret for '%.200s' is already escrowed (in %s); it is "
			       "never overwritten",
			       name, p11e_store_describe(v->store, "escrow", name, where, sizeof(where)));
		goto out;
	}
	if ((rc = check_officers_for_put(v, err)) != P11E_OK)
		goto out;
	if (len > INT32_MAX || (in = BIO_new_mem_buf(secret, (int)len)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	cms = CMS_encrypt(NULL, NULL, v->cipher, CMS_BINARY | CMS_PARTIAL);
	if (cms == NULL) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "vault: cannot start the CMS envelope");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(v->officers); i++) {
		X509 *cert = sk_X509_value(v->officers, i);
		int rsa = EVP_PKEY_get_base_id(X509_get0_pubkey(cert)) == EVP_PKEY_RSA;
		CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, cert, CMS_KEY_PARAM);
		if (ri == NULL || set_recipient_params(ri, rsa) != P11E_OK) {
			char subj[128];
			vault_file_subject(cert, subj, sizeof(subj));
			rc = p11e_errf_ssl(err, P11E_FAIL,
					   "vault: cannot encrypt to officer certificate %s", subj);
			goto out;
		}
	}
	if (!CMS_final(cms, in, NULL, CMS_BINARY) ||
	    (der_len = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "vault: cannot encrypt the secret for '%.200s'",
				   name);
		goto out;
	}
	/* The metadata first: once the entry exists, a put is never repeated.
	 * An entry the file store names by a hash needs it for its name. */
	if (meta != NULL || long_name(name)) {
		const p11e_vault_meta none = {.created = ""};
		if ((rc = meta_write(v, name, meta ? meta : &none, err)) != P11E_OK)
			goto out;
	}
	/* Created, never replaced: of two stations escrowing at once, one wins. */
	rc = p11e_store_put(v->store, "escrow", name, der, (size_t)der_len,
			    P11E_STORE_CREATE | P11E_STORE_DURABLE, err);
	if (rc == P11E_EXISTS)
		rc = p11e_errf(err, P11E_EXISTS,
			       "vault: a secret for '%.200s' is already escrowed (in %s); it is "
			       "never overwritten",
			       name, p11e_store_describe(v->store, "escrow", name, where, sizeof(where)));
out:
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return rc;
}

/* Whether the envelope has a recipient for cert. */
static int has_recipient(CMS_ContentInfo *cms, X509 *cert)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);

	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		int type = CMS_RecipientInfo_type(ri);
		if (type == CMS_RECIPINFO_TRANS && CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
			return 1;
		if (type == CMS_RECIPINFO_AGREE) {
			STACK_OF(CMS_RecipientEncryptedKey) *reks =
			    CMS_RecipientInfo_kari_get0_reks(ri);
			for (int j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks); j++)
				if (CMS_RecipientEncryptedKey_cert_cmp(
					sk_CMS_RecipientEncryptedKey_value(reks, j), cert) == 0)
					return 1;
		}
	}
	return 0;
}

static p11e_rc file_get(void *state, const char *name, unsigned char **out, size_t *len,
			p11e_err *err)
{
	file_vault *v = state;
	CMS_ContentInfo *cms = NULL;
	BIO *plain = NULL;
	BUF_MEM *mem = NULL;
	unsigned char *data = NULL;
	const unsigned char *p;
	size_t dlen = 0;
	int nid;
	char where[400];
	p11e_rc rc;

	if ((rc = name_ok(name, err)) != P11E_OK)
		return rc;
	if (v->key == NULL) {
		rc = p11e_errf(err, P11E_USAGE,
			       "vault: the file vault opens only with an escrow officer's key: "
			       "give --officer-key FILE or a pkcs11: URI");
		goto out;
	}
	rc = p11e_store_get(v->store, "escrow", name, &data, &dlen, err);
	if (rc == P11E_NOT_FOUND) {
		rc = p11e_errf(err, P11E_NOT_FOUND, "vault: no secret escrowed for '%.200s'", name);
		goto out;
	}
	if (rc != P11E_OK)
		goto out;
	p = data;
	cms = dlen <= ENTRY_MAX ? d2i_CMS_ContentInfo(NULL, &p, (long)dlen) : NULL;
	nid = cms ? OBJ_obj2nid(CMS_get0_type(cms)) : NID_undef;
	if (cms == NULL || p != data + dlen ||
	    (nid != NID_pkcs7_enveloped && nid != NID_id_smime_ct_authEnvelopedData)) {
		ERR_clear_error();
		rc = p11e_errf(err, P11E_FAIL,
			       "vault: the entry for '%.200s' in %s is not a CMS EnvelopedData: "
			       "corrupt?",
			       name, p11e_store_describe(v->store, "escrow", name, where, sizeof(where)));
		goto out;
	}
	if (!has_recipient(cms, v->key_cert)) {
		rc = p11e_errf(err, P11E_USAGE,
			       "vault: the secret for '%.200s' was not escrowed to officer %s "
			       "(made before that officer was added?): use another officer's key",
			       name, v->key_subject);
		goto out;
	}
	if ((plain = BIO_new(BIO_s_secmem())) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if (!CMS_decrypt(cms, v->key, v->key_cert, NULL, plain, CMS_BINARY)) {
		rc = p11e_errf_ssl(err, P11E_FAIL,
				   "vault: officer %s cannot decrypt the secret for '%.200s'",
				   v->key_subject, name);
		goto out;
	}
	BIO_get_mem_ptr(plain, &mem);
	if (mem == NULL || (*out = malloc(mem->length + 1)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	memcpy(*out, mem->data, mem->length);
	(*out)[mem->length] = '\0';
	*len = mem->length;
	rc = P11E_OK;
out:
	BIO_free(plain);
	CMS_ContentInfo_free(cms);
	free(data); /* ciphertext: nothing to wipe */
	return rc;
}

static p11e_rc file_set_meta(void *state, const char *name, const p11e_vault_meta *meta,
			     p11e_err *err)
{
	file_vault *v = state;
	p11e_vault_meta merged = {.created = ""};
	int found = 0;
	p11e_rc rc;

	if ((rc = name_ok(name, err)) != P11E_OK ||
	    (rc = entry_exists(v, name, &found, err)) != P11E_OK)
		return rc;
	if (!found)
		return p11e_errf(err, P11E_NOT_FOUND, "vault: no secret escrowed for '%.200s'",
				 name);
	meta_read(v, name, &merged);
	vault_meta_merge(&merged, meta);
	return meta_write(v, name, &merged, err);
}

/* The metadata document stored as stored (a list's name) among metas: its
 * text, or NULL. */
static int doc_by_name(const void *key, const void *doc)
{
	return strcmp(key, ((const p11e_store_doc *)doc)->name);
}

/* The metadata listed for stored (p11e_store_list sorts by name), or NULL. */
static const char *meta_of(const p11e_store_doc *metas, size_t n, const char *stored)
{
	const p11e_store_doc *d =
	    n > 0 ? bsearch(stored, metas, n, sizeof(*metas), doc_by_name) : NULL;

	return d != NULL ? (const char *)d->data : NULL;
}

static p11e_rc file_list(void *state, p11e_vault_entry **entries, size_t *n, p11e_err *err)
{
	file_vault *v = state;
	p11e_store_doc *docs = NULL, *metas = NULL;
	size_t ndocs = 0, nmetas = 0;
	p11e_err ignored = {0};
	int one_by_one = 0;
	p11e_rc rc;

	if ((rc = p11e_store_list(v->store, "escrow", &docs, &ndocs, err)) != P11E_OK)
		goto out;
	/* Metadata helps, it is not the entry: when one cannot be read (a link
	 * planted in its place), each is read alone and that one's entry lists
	 * without fields, as an entry without metadata does. */
	if (p11e_store_list(v->store, "escrow-meta", &metas, &nmetas, &ignored) != P11E_OK)
		one_by_one = 1;
	if (ndocs > 0 && (*entries = calloc(ndocs, sizeof(**entries))) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ndocs; i++) {
		p11e_vault_entry *e = &(*entries)[*n];
		unsigned char *alone = NULL;
		const char *text = NULL;
		char *kept = NULL;
		size_t len = 0;

		if (!one_by_one)
			text = meta_of(metas, nmetas, docs[i].name);
		else if (p11e_store_get(v->store, "escrow-meta", docs[i].name, &alone, &len,
					&ignored) == P11E_OK)
			text = (const char *)alone;
		vault_meta_parse(text, &e->meta, &kept);
		free(alone);
		/* A name the store keeps as a hash: the one its metadata names. */
		if (kept != NULL && strcmp(kept, docs[i].name) != 0 &&
		    p11e_store_same_name(v->store, "escrow", docs[i].name, kept)) {
			e->name = kept;
			kept = NULL;
		} else if (strncmp(docs[i].name, HASHED, strlen(HASHED)) != 0) {
			e->name = strdup(docs[i].name);
		} /* else a hash nothing names: not listed */
		free(kept);
		if (e->name != NULL)
			(*n)++;
		else
			memset(e, 0, sizeof(*e));
	}
out:
	p11e_store_docs_free(docs, ndocs);
	p11e_store_docs_free(metas, nmetas);
	if (rc != P11E_OK) {
		p11e_vault_entries_free(*entries, *n);
		*entries = NULL;
		*n = 0;
	}
	return rc;
}

static p11e_rc file_del(void *state, const char *name, p11e_err *err)
{
	file_vault *v = state;
	p11e_rc rc;

	if ((rc = name_ok(name, err)) != P11E_OK)
		return rc;
	rc = p11e_store_remove(v->store, "escrow", name, err);
	if (rc == P11E_NOT_FOUND)
		return p11e_errf(err, P11E_NOT_FOUND, "vault: no secret escrowed for '%.200s'",
				 name);
	if (rc == P11E_OK && (rc = p11e_store_remove(v->store, "escrow-meta", name, err)) ==
				 P11E_NOT_FOUND)
		rc = P11E_OK;
	return rc;
}

static const char *file_reader(void *state)
{
	file_vault *v = state;

	return v->key_cert != NULL ? v->key_subject : NULL;
}

const p11e_vault_ops p11e_vault_file_ops = {
    .type = "file",
    .open = file_open,
    .put = file_put,
    .set_meta = file_set_meta,
    .get = file_get,
    .list = file_list,
    .del = file_del,
    .close = file_close,
    .reader = file_reader,
    .config_keys = known_keys,
};
