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
 * entry and replaced atomically) holds its p11e_vault_meta: no secret. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
#include "core/state_paths.h"
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

/* Like record file names: [a-z0-9@._+-] kept, the rest %XX, no leading dot;
 * a name too long for that is SHA256-<hex> (as state_paths.c does), its
 * real name kept in its metadata file. */
static char *escape_name(const char *name)
{
	char *out = p11e_name_escape(name, sizeof(SUFFIX) + 72);

	if (out != NULL && strlen(out) + strlen(SUFFIX) > FILE_NAME_MAX) {
		unsigned char md[SHA256_DIGEST_LENGTH];
		SHA256((const unsigned char *)name, strlen(name), md);
		strcpy(out, HASHED);
		p11e_hex_encode(md, sizeof(md), out + strlen(HASHED));
	}
	if (out != NULL)
		strcat(out, SUFFIX);
	return out;
}

static int hashed_file(const char *file)
{
	return strncmp(file, HASHED, strlen(HASHED)) == 0;
}

/* The name a file stands for, or NULL if it is not an entry. */
static char *unescape_name(const char *file)
{
	size_t len = strlen(file), slen = strlen(SUFFIX), n = 0;
	char *out;

	if (len <= slen || strcmp(file + len - slen, SUFFIX) != 0 || file[0] == '.')
		return NULL;
	len -= slen;
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int hi = i + 2 < len ? p11e_hex_digit((unsigned char)file[i + 1]) : -1;
		int lo = i + 2 < len ? p11e_hex_digit((unsigned char)file[i + 2]) : -1;

		if (file[i] == '%' && hi >= 0 && lo >= 0) {
			out[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[n++] = file[i];
		}
	}
	out[n] = '\0';
	return out;
}

static p11e_rc entry_path(const file_vault *v, const char *name, char **out, p11e_err *err)
{
	char *file;

	*out = NULL;
	if (name == NULL || name[0] == '\0' || strlen(name) > NAME_MAX_LEN)
		return p11e_errf(err, P11E_USAGE,
				 "vault: a secret's name must be 1 to %d characters", NAME_MAX_LEN);
	if ((file = escape_name(name)) == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	*out = p11e_path_join(v->dir, file);
	free(file);
	return *out ? P11E_OK : p11e_errf(err, P11E_FAIL, "out of memory");
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
	free(v->dir);
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
	v->dir = s ? strdup(s) : p11e_state_escrow_dir(cfg->state_dir);
	s = conf_string(conf, "officer_certs_file");
	if (s == NULL) {
		rc = p11e_errf(err, P11E_CONFIG,
			       "vault: type file needs \"officer_certs_file\" (PEM with the escrow "
			       "officers' certificates)");
		goto fail;
	}
	v->certs_path = strdup(s);
	if (v->dir == NULL || v->certs_path == NULL) {
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
	char *path = NULL;
	int der_len;
	p11e_rc rc;

	if ((rc = entry_path(v, name, &path, err)) != P11E_OK)
		return rc;
	if (access(path, F_OK) == 0) {
		rc = p11e_errf(err, P11E_EXISTS,
			       "vault: a secret for '%.200s' is already escrowed (%s); it is never "
			       "overwritten",
			       name, path);
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
	if ((rc = p11e_mkdirs(v->dir, 0700, err)) != P11E_OK)
		goto out;
	/* The metadata first: once the entry exists, a put is never repeated.
	 * A hashed file name needs it for its name. */
	{
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		const p11e_vault_meta none = {.created = ""};
		int hashed = hashed_file(base);
		if ((meta != NULL || hashed) &&
		    (rc = vault_meta_file_write(path, hashed ? name : NULL, meta ? meta : &none,
						err)) != P11E_OK)
			goto out;
	}
	rc = p11e_write_file_new(path, der, (size_t)der_len, 0600, err);
	if (rc == P11E_EXISTS)
		rc = p11e_errf(err, P11E_EXISTS,
			       "vault: a secret for '%.200s' is already escrowed (%s); it is never "
			       "overwritten",
			       name, path);
out:
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	free(path);
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
	char *path = NULL, *data = NULL;
	const unsigned char *p;
	size_t dlen = 0;
	int nid;
	p11e_rc rc;

	if ((rc = entry_path(v, name, &path, err)) != P11E_OK)
		return rc;
	if (v->key == NULL) {
		rc = p11e_errf(err, P11E_USAGE,
			       "vault: the file vault opens only with an escrow officer's key: "
			       "give --officer-key FILE or a pkcs11: URI");
		goto out;
	}
	rc = p11e_read_file(path, ENTRY_MAX, &data, &dlen, err);
	if (rc == P11E_NOT_FOUND) {
		rc = p11e_errf(err, P11E_NOT_FOUND, "vault: no secret escrowed for '%.200s'", name);
		goto out;
	}
	if (rc != P11E_OK)
		goto out;
	p = (const unsigned char *)data;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)dlen);
	nid = cms ? OBJ_obj2nid(CMS_get0_type(cms)) : NID_undef;
	if (cms == NULL || p != (const unsigned char *)data + dlen ||
	    (nid != NID_pkcs7_enveloped && nid != NID_id_smime_ct_authEnvelopedData)) {
		ERR_clear_error();
		rc = p11e_errf(err, P11E_FAIL, "vault: %s is not a CMS EnvelopedData: corrupt?",
			       path);
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
	free(path);
	return rc;
}

static void meta_read(const file_vault *v, const char *name, p11e_vault_meta *meta)
{
	char *path = NULL;
	p11e_err ignored = {0};

	if (entry_path(v, name, &path, &ignored) == P11E_OK)
		vault_meta_file_read(path, meta);
	free(path);
}

static p11e_rc file_set_meta(void *state, const char *name, const p11e_vault_meta *meta,
			     p11e_err *err)
{
	file_vault *v = state;
	p11e_vault_meta merged = {.created = ""};
	char *path = NULL;
	p11e_rc rc;

	if ((rc = entry_path(v, name, &path, err)) != P11E_OK)
		return rc;
	if (access(path, F_OK) != 0)
		rc = p11e_errf(err, P11E_NOT_FOUND, "vault: no secret escrowed for '%.200s'", name);
	if (rc == P11E_OK) {
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		vault_meta_file_read(path, &merged);
		vault_meta_merge(&merged, meta);
		rc = vault_meta_file_write(path, hashed_file(base) ? name : NULL, &merged, err);
	}
	free(path);
	return rc;
}

static p11e_rc file_list(void *state, p11e_vault_entry **entries, size_t *n, p11e_err *err)
{
	file_vault *v = state;
	DIR *d = opendir(v->dir);
	struct dirent *de;
	size_t cap = 0;
	p11e_rc rc = P11E_OK;

	if (d == NULL) {
		if (errno == ENOENT)
			return P11E_OK; /* nothing escrowed yet */
		return p11e_errf(err, P11E_FAIL, "vault: cannot read %s: %s", v->dir,
				 strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		char *name = unescape_name(de->d_name);
		if (name != NULL && hashed_file(de->d_name)) {
			char *path = p11e_path_join(v->dir, de->d_name);
			free(name);
			name = path ? vault_meta_file_name(path) : NULL;
			free(path);
		}
		if (name == NULL)
			continue;
		if (*n == cap) {
			p11e_vault_entry *grown =
			    realloc(*entries, (cap = cap ? 2 * cap : 16) * sizeof(**entries));
			if (grown == NULL) {
				free(name);
				rc = p11e_errf(err, P11E_FAIL, "out of memory");
				break;
			}
			*entries = grown;
		}
		memset(&(*entries)[*n], 0, sizeof(**entries));
		(*entries)[*n].name = name;
		meta_read(v, name, &(*entries)[*n].meta);
		(*n)++;
	}
	closedir(d);
	if (rc != P11E_OK) {
		p11e_vault_entries_free(*entries, *n);
		*entries = NULL;
		*n = 0;
	}
	return rc;
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1, saved;

	if (fd >= 0) {
		rc = fsync(fd);
		saved = errno;
		close(fd);
		errno = saved;
	}
	return rc;
}

static p11e_rc file_del(void *state, const char *name, p11e_err *err)
{
	file_vault *v = state;
	char *path = NULL;
	p11e_rc rc;

	if ((rc = entry_path(v, name, &path, err)) != P11E_OK)
		return rc;
	if (unlink(path) != 0)
		rc = errno == ENOENT ? p11e_errf(err, P11E_NOT_FOUND,
						 "vault: no secret escrowed for '%.200s'", name)
				     : p11e_errf(err, P11E_FAIL, "vault: cannot delete %s: %s",
						 path, strerror(errno));
	else if ((rc = vault_meta_file_remove(path, err)) == P11E_OK && sync_dir(v->dir) != 0)
		rc =
		    p11e_errf(err, P11E_FAIL, "vault: cannot sync %s: %s", v->dir, strerror(errno));
	free(path);
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
