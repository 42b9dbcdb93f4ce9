/* Certificate signing requests: subject, requested extensions, signature.
 * The signer is either an EVP_PKEY (software, or a libp11 token bridge) or,
 * for Ed25519 on a token, a raw CKM_EDDSA C_Sign over the TBS bytes. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include "p11enroll/csr.h"
#include "p11enroll/util.h"
#include "x509/ext_logon.h"
#include "x509/x509_internal.h"

#define CKM_EDDSA_ 0x1057UL /* PKCS#11 3.0 CKM_EDDSA */
#define CKM_ECDSA_ 0x1041UL
#define CKM_RSA_PKCS_ 0x1UL

p11e_rc p11e_x509_name_add_slash(X509_NAME *name, const char *dn, const char *field, p11e_err *err)
{
	char *buf = NULL, *p, *w;
	p11e_rc rc = P11E_OK;

	if (dn == NULL || dn[0] == '\0')
		return P11E_OK;
	if (dn[0] != '/')
		return p11e_errf(err, P11E_USAGE,
				 "%s: '%.100s' must be in the form /O=Example/OU=People", field,
				 dn);
	buf = strdup(dn + 1);
	if (buf == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	p = buf;
	while (*p != '\0') {
		char *key = p, *val = NULL;

		/* Unescape in place up to the next unescaped '/'. */
		for (w = p; *p != '\0' && *p != '/'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '=' && val == NULL) {
				*w++ = '\0';
				val = w;
				continue;
			}
			*w++ = *p;
		}
		if (*p == '/')
			p++;
		*w = '\0';
		if (key[0] == '\0' && val == NULL)
			continue; /* "//" or a trailing '/' */
		if (val == NULL || key[0] == '\0' || val[0] == '\0') {
			rc = p11e_errf(err, P11E_USAGE, "%s: '%.100s': each part must be KEY=VALUE",
				       field, dn);
			goto out;
		}
		if (X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8, (const unsigned char *)val,
					       -1, -1, 0) != 1) {
			rc =
			    p11e_errf_ssl(err, P11E_USAGE,
					  "%s: '%.100s': '%.40s' is not a known attribute (try CN, "
					  "O, OU, C, L, ST)",
					  field, dn, key);
			goto out;
		}
	}
out:
	free(buf);
	return rc;
}

p11e_key_kind p11e_x509_key_kind(const EVP_PKEY *k)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		return P11E_KEY_RSA;
	case EVP_PKEY_EC:
		return P11E_KEY_EC;
	case EVP_PKEY_ED25519:
		return P11E_KEY_ED25519;
	}
	return (p11e_key_kind)0;
}

/* Bit 0 of the BIT STRING is KU_DIGITAL_SIGNATURE (0x80), ..., bit 7 is
 * KU_ENCIPHER_ONLY (0x01), bit 8 is KU_DECIPHER_ONLY (0x8000). */
ASN1_BIT_STRING *p11e_x509_key_usage(unsigned ku)
{
	ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();

	if (bs == NULL)
		return NULL;
	for (int bit = 0; bit < 9; bit++) {
		unsigned mask = bit < 8 ? 0x80u >> bit : 0x8000u;
		if ((ku & mask) && ASN1_BIT_STRING_set_bit(bs, bit, 1) != 1) {
			ASN1_BIT_STRING_free(bs);
			return NULL;
		}
	}
	return bs;
}

EXTENDED_KEY_USAGE *p11e_x509_ext_key_usage(unsigned purposes)
{
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();

	if (eku == NULL)
		return NULL;
	/* OBJ_nid2obj objects are static: pop_free leaves them alone. */
	if ((purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT)) &&
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_email_protect)))
		goto fail;
	if ((purposes & P11E_PURPOSE_CLIENT_AUTH) &&
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)))
		goto fail;
	if ((purposes & P11E_PURPOSE_SERVER_AUTH) &&
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)))
		goto fail;
	/* Logon (docs/logon.md): Windows' smartcard logon, then RFC 4556's
	 * client and KDC purposes (the KDC's is Windows' "KDC Authentication"). */
	if ((purposes & P11E_PURPOSE_LOGON) &&
	    (!sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_ms_smartcard_login)) ||
	     !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_pkInitClientAuth))))
		goto fail;
	if ((purposes & P11E_PURPOSE_KDC) && !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_pkInitKDC)))
		goto fail;
	return eku;
fail:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return NULL;
}

static int add_eku(STACK_OF(X509_EXTENSION) * *exts, unsigned purposes)
{
	EXTENDED_KEY_USAGE *eku = p11e_x509_ext_key_usage(purposes);
	int ok = eku != NULL &&
		 X509V3_add1_i2d(exts, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1;

	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return ok;
}

/* Appends a name (taken over; NULL: out of memory) to names. */
static int push_name(GENERAL_NAMES *names, GENERAL_NAME *gn)
{
	if (gn == NULL || !sk_GENERAL_NAME_push(names, gn)) {
		GENERAL_NAME_free(gn);
		return 0;
	}
	return 1;
}

/* One subjectAltName: type (GEN_EMAIL rfc822Name or GEN_DNS) value first,
 * then a logon profile's otherNames (UPN for a person, id-pkinit-san). */
static int add_san(STACK_OF(X509_EXTENSION) * *exts, int type, const char *value,
		   const p11e_csr_params *p)
{
	unsigned logon = p->profile->purposes & (P11E_PURPOSE_LOGON | P11E_PURPOSE_KDC);
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	int ok = 0;

	if (names == NULL)
		goto out;
	if (value != NULL) {
		if ((gn = GENERAL_NAME_new()) == NULL || (ia5 = ASN1_IA5STRING_new()) == NULL ||
		    ASN1_STRING_set(ia5, value, (int)strlen(value)) != 1)
			goto out;
		GENERAL_NAME_set0_value(gn, type, ia5);
		ia5 = NULL;
		ok = push_name(names, gn);
		gn = NULL;
		if (!ok)
			goto out;
	}
	ok = 0;
	if (logon && p->upn != NULL && !push_name(names, p11e_x509_upn_name(p->upn)))
		goto out;
	if (logon && p->principal != NULL &&
	    !push_name(names, p11e_x509_pkinit_san_name(p->principal)))
		goto out;
	ok = sk_GENERAL_NAME_num(names) == 0 ||
	     X509V3_add1_i2d(exts, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(names);
	return ok;
}

/* The SID extension, for a logon profile given a SID. */
static int add_sid(STACK_OF(X509_EXTENSION) * *exts, const p11e_csr_params *p)
{
	X509_EXTENSION *ext;

	if (!(p->profile->purposes & P11E_PURPOSE_LOGON) || p->sid == NULL)
		return 1;
	if ((ext = p11e_x509_sid_ext(p->sid)) == NULL)
		return 0;
	if ((*exts == NULL && (*exts = sk_X509_EXTENSION_new_null()) == NULL) ||
	    !sk_X509_EXTENSION_push(*exts, ext)) {
		X509_EXTENSION_free(ext);
		return 0;
	}
	return 1;
}

/* Everything but the signature: version, subject, public key, extensions. */
static p11e_rc build_unsigned(EVP_PKEY *pubkey, const p11e_csr_params *p, X509_REQ **out,
			      p11e_err *err)
{
	const p11e_profile *prof = p->profile;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	ASN1_BIT_STRING *ku_bs = NULL;
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	int smime, server, has_email;
	char field[96];
	const char *cn;
	unsigned ku = 0;
	p11e_key_kind kind;
	p11e_rc rc;

	*out = NULL;
	if (prof == NULL)
		return p11e_errf(err, P11E_USAGE, "csr: no profile given");
	if (pubkey == NULL)
		return p11e_errf(err, P11E_USAGE, "csr: no public key given");
	kind = p11e_x509_key_kind(pubkey);
	if (kind == 0)
		return p11e_errf(err, P11E_USAGE,
				 "csr: the key is not rsa, ec or ed25519; use one of those");
	smime = (prof->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT)) != 0;
	server = (prof->purposes & P11E_PURPOSE_SERVER_AUTH) != 0;
	has_email = p->email != NULL && p->email[0] != '\0';
	if (server && !p11e_dns_name_valid(p->dns))
		return p11e_errf(err, P11E_USAGE,
				 "dns: profile '%s' needs a host name, e.g. www.example.org; "
				 "'%.100s' is not one",
				 prof->name, p->dns != NULL ? p->dns : "");
	if (smime && !has_email)
		return p11e_errf(err, P11E_USAGE,
				 "email: profile '%s' needs an address, e.g. user@example.org",
				 prof->name);
	/* Checked for every profile: whatever address is given goes into the SAN. */
	if (has_email && !p11e_email_valid(p->email))
		return p11e_errf(err, P11E_USAGE,
				 "email: '%.100s' is not a valid address; give one like "
				 "user@example.org",
				 p->email);
	cn = p->name != NULL && p->name[0] != '\0' ? p->name : server ? p->dns : p->email;
	if (cn == NULL || cn[0] == '\0')
		return p11e_errf(err, P11E_USAGE,
				 "name: a name or an email is required for the CN");
	if ((rc = p11e_profile_key_usage(prof, kind, &ku, err)) != P11E_OK)
		return rc;

	rc = P11E_FAIL;
	if ((req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL)
		goto ssl_fail;
	/* PKCS#10 knows only version 1, encoded as 0. */
	if (X509_REQ_set_version(req, 0) != 1)
		goto ssl_fail;
	snprintf(field, sizeof(field), "profile '%.64s': subject", prof->name);
	if ((rc = p11e_x509_name_add_slash(name, prof->subject, field, err)) != P11E_OK)
		goto out;
	rc = P11E_FAIL;
	if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1, 0) != 1) {
		rc = p11e_errf_ssl(err, P11E_USAGE,
				   "name: '%.64s' cannot be a CN (at most 64 "
				   "characters)",
				   cn);
		goto out;
	}
	if (X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pubkey) != 1)
		goto ssl_fail;

	/* One subjectAltName extension: the host for a server, else the address. */
	if (server && prof->allow_dns_san) {
		if (!add_san(&exts, GEN_DNS, p->dns, p))
			goto ssl_fail;
	} else if (!add_san(&exts, GEN_EMAIL, prof->allow_email_san && has_email ? p->email : NULL,
			    p)) {
		goto ssl_fail;
	}
	if ((ku_bs = p11e_x509_key_usage(ku)) == NULL ||
	    X509V3_add1_i2d(&exts, NID_key_usage, ku_bs, 1, X509V3_ADD_DEFAULT) != 1)
		goto ssl_fail;
	if (!add_eku(&exts, prof->purposes) || !add_sid(&exts, p))
		goto ssl_fail;
	if (X509_REQ_add_extensions(req, exts) != 1)
		goto ssl_fail;
	*out = req;
	req = NULL;
	rc = P11E_OK;
	goto out;
ssl_fail:
	rc = p11e_errf_ssl(err, P11E_FAIL, "csr: cannot build the request");
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ASN1_BIT_STRING_free(ku_bs);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

static p11e_rc pick_digest(const p11e_csr_params *p, const EVP_MD **md, p11e_err *err)
{
	const char *name = p->digest;

	if (name == NULL || name[0] == '\0')
		name = p->profile->digest[0] != '\0' ? p->profile->digest : "sha256";
	*md = EVP_get_digestbyname(name);
	if (*md == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "digest: '%.32s' is unknown (try sha256, sha384, sha512)", name);
	return P11E_OK;
}

/* Catches a signer that is not pubkey's private half (a wrong token ID, a
 * mix-up of keys) before anyone sends the request to a CA. */
static p11e_rc verify_req(X509_REQ *req, EVP_PKEY *pubkey, p11e_err *err)
{
	if (X509_REQ_verify(req, pubkey) != 1)
		return p11e_errf_ssl(err, P11E_FAIL,
				     "csr: the signature does not verify with the public key; the "
				     "signing key is not this key pair's private key");
	return P11E_OK;
}

/* Verifies the signed request and moves it to *out (req becomes NULL). */
static p11e_rc hand_out_verified(X509_REQ **req, EVP_PKEY *pubkey, X509_REQ **out, p11e_err *err)
{
	p11e_rc rc = verify_req(*req, pubkey, err);

	if (rc == P11E_OK) {
		*out = *req;
		*req = NULL;
	}
	return rc;
}

p11e_rc p11e_csr_build(EVP_PKEY *pubkey, EVP_PKEY *signer, const p11e_csr_params *p, X509_REQ **out,
		       p11e_err *err)
{
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	X509_REQ *req = NULL;
	const EVP_MD *md = NULL;
	p11e_key_kind kind;
	p11e_rc rc;

	*out = NULL;
	if (p == NULL || signer == NULL)
		return p11e_errf(err, P11E_USAGE, "csr: no parameters or signing key given");
	if ((rc = build_unsigned(pubkey, p, &req, err)) != P11E_OK)
		goto out;
	kind = p11e_x509_key_kind(signer);
	if (p->rsa_pss && kind != P11E_KEY_RSA) {
		rc = p11e_errf(err, P11E_USAGE, "rsa_pss: only rsa keys can sign with RSA-PSS");
		goto out;
	}
	/* Ed25519 hashes internally: the digest must be NULL. */
	if (kind != P11E_KEY_ED25519 && (rc = pick_digest(p, &md, err)) != P11E_OK)
		goto out;
	rc = P11E_FAIL;
	if ((mctx = EVP_MD_CTX_new()) == NULL)
		goto ssl_fail;
	/* The non-_ex init is the one that also drives legacy ENGINE keys (the
	 * libp11 token bridge). */
	if (EVP_DigestSignInit(mctx, &pctx, md, NULL, signer) != 1)
		goto ssl_fail;
	if (p->rsa_pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
			   EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, EVP_MD_get_size(md)) <= 0 ||
			   EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0))
		goto ssl_fail;
	if (X509_REQ_sign_ctx(req, mctx) <= 0)
		goto ssl_fail;
	rc = hand_out_verified(&req, pubkey, out, err);
	goto out;
ssl_fail:
	rc = p11e_errf_ssl(err, P11E_FAIL, "csr: signing the request failed");
out:
	EVP_MD_CTX_free(mctx);
	X509_REQ_free(req);
	return rc;
}

/* How a key kind signs raw on the token: the signature algorithm written in
 * the request, the mechanism, and whether we hash first. */
typedef struct raw_scheme {
	int sig_nid;
	int param_type; /* V_ASN1_UNDEF: absent; V_ASN1_NULL for RSA */
	unsigned long mech;
	int prehash; /* CKM_ECDSA and CKM_RSA_PKCS sign a digest, CKM_EDDSA the data */
	const unsigned char *digest_info; /* RSA: the DER DigestInfo before the digest */
	size_t digest_info_len;
} raw_scheme;

/* RFC 8017 section 9.2, note 1: the DER DigestInfo of PKCS#1 v1.5 up to the
 * digest itself, for each digest we sign with. */
static const unsigned char digest_info_sha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
						   0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
						   0x01, 0x05, 0x00, 0x04, 0x20};
static const unsigned char digest_info_sha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
						   0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
						   0x02, 0x05, 0x00, 0x04, 0x30};
static const unsigned char digest_info_sha512[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
						   0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
						   0x03, 0x05, 0x00, 0x04, 0x40};

static p11e_rc pick_raw_scheme(p11e_key_kind kind, const p11e_csr_params *p, raw_scheme *s,
			       const EVP_MD **md, p11e_err *err)
{
	int md_nid;
	p11e_rc rc;

	memset(s, 0, sizeof(*s));
	*md = NULL;
	if (kind == P11E_KEY_ED25519) {
		/* RFC 8410: the Ed25519 AlgorithmIdentifier has absent parameters. */
		*s = (raw_scheme){NID_ED25519, V_ASN1_UNDEF, CKM_EDDSA_, 0, NULL, 0};
		return P11E_OK;
	}
	if (kind == P11E_KEY_RSA && p->rsa_pss)
		return p11e_errf(
		    err, P11E_UNSUPPORTED,
		    "csr: RSA-PSS needs libp11's signing bridge, which cannot use this "
		    "token's keys; sign with PKCS#1 v1.5 (drop --rsa-pss)");
	rc = pick_digest(p, md, err);
	if (rc != P11E_OK)
		return rc;
	md_nid = EVP_MD_get_type(*md);
	if (kind == P11E_KEY_EC) {
		s->mech = CKM_ECDSA_;
		s->prehash = 1;
		s->param_type = V_ASN1_UNDEF;
		if (OBJ_find_sigid_by_algs(&s->sig_nid, md_nid, NID_X9_62_id_ecPublicKey) != 1)
			s->sig_nid = NID_undef;
	} else if (kind == P11E_KEY_RSA) {
		/* CKM_RSA_PKCS over a DigestInfo hashed here, not CKM_SHA256_RSA_PKCS:
		 * the same signature, and the mechanism libp11's bridge uses, so a
		 * token that enrolls one at a time also signs a batch's CSRs;
		 * opencryptoki 3.8's soft token has no CKM_SHA*_RSA_PKCS at all. */
		s->mech = CKM_RSA_PKCS_;
		s->prehash = 1;
		if (md_nid == NID_sha256) {
			s->digest_info = digest_info_sha256;
			s->digest_info_len = sizeof(digest_info_sha256);
		} else if (md_nid == NID_sha384) {
			s->digest_info = digest_info_sha384;
			s->digest_info_len = sizeof(digest_info_sha384);
		} else if (md_nid == NID_sha512) {
			s->digest_info = digest_info_sha512;
			s->digest_info_len = sizeof(digest_info_sha512);
		}
		s->param_type = V_ASN1_NULL;
		if (OBJ_find_sigid_by_algs(&s->sig_nid, md_nid, NID_rsaEncryption) != 1)
			s->sig_nid = NID_undef;
	}
	if (s->sig_nid == NID_undef || (kind == P11E_KEY_RSA && s->digest_info == NULL))
		return p11e_errf(err, P11E_USAGE, "digest: %s cannot be used to sign on the token",
				 EVP_MD_get0_name(*md));
	return P11E_OK;
}

/* CKM_ECDSA answers r||s; X.509 wants the DER ECDSA-Sig-Value. */
static p11e_rc ecdsa_to_der(unsigned char **sig, size_t *len, p11e_err *err)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	int der_len;
	size_t half = *len / 2;

	if (es == NULL || *len == 0 || *len % 2 != 0 ||
	    (r = BN_bin2bn(*sig, (int)half, NULL)) == NULL ||
	    (s = BN_bin2bn(*sig + half, (int)half, NULL)) == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return p11e_errf_ssl(err, P11E_FAIL,
				     "csr: the token's ECDSA signature is malformed");
	}
	der_len = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	if (der_len <= 0)
		return p11e_errf_ssl(err, P11E_FAIL, "csr: cannot encode the ECDSA signature");
	free(*sig);
	*sig = malloc((size_t)der_len);
	if (*sig == NULL) {
		OPENSSL_free(der);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	memcpy(*sig, der, (size_t)der_len);
	*len = (size_t)der_len;
	OPENSSL_free(der);
	return P11E_OK;
}

p11e_rc p11e_csr_build_token_raw(EVP_PKEY *pubkey, p11e_token *t, const p11e_id *id,
				 const p11e_csr_params *p, X509_REQ **out, p11e_err *err)
{
	X509_REQ *req = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *bs = NULL;
	unsigned char *tbs = NULL, *sig = NULL, digest[32 + EVP_MAX_MD_SIZE];
	const unsigned char *to_sign;
	unsigned int digest_len = 0;
	size_t sig_len = 0, to_sign_len;
	const EVP_MD *md = NULL;
	raw_scheme scheme;
	int tbs_len;
	p11e_rc rc;

	*out = NULL;
	if (p == NULL || pubkey == NULL)
		return p11e_errf(err, P11E_USAGE, "csr: no parameters given");
	rc = pick_raw_scheme(p11e_x509_key_kind(pubkey), p, &scheme, &md, err);
	if (rc == P11E_OK)
		rc = build_unsigned(pubkey, p, &req, err);
	if (rc != P11E_OK)
		goto out;
	rc = P11E_FAIL;
	if ((alg = X509_ALGOR_new()) == NULL ||
	    X509_ALGOR_set0(alg, OBJ_nid2obj(scheme.sig_nid), scheme.param_type, NULL) != 1 ||
	    X509_REQ_set1_signature_algo(req, alg) != 1)
		goto ssl_fail;
	if ((tbs_len = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0)
		goto ssl_fail;
	to_sign = tbs;
	to_sign_len = (size_t)tbs_len;
	if (scheme.prehash) {
		/* RSA: the DigestInfo's prefix (at most 19 bytes), then the digest. */
		size_t pre = scheme.digest_info_len;

		if (pre > sizeof(digest) - EVP_MAX_MD_SIZE ||
		    EVP_Digest(tbs, (size_t)tbs_len, digest + pre, &digest_len, md, NULL) != 1)
			goto ssl_fail;
		if (pre > 0)
			memcpy(digest, scheme.digest_info, pre);
		to_sign = digest;
		to_sign_len = pre + digest_len;
	}
	rc = p11e_token_sign_raw(t, id, scheme.mech, to_sign, to_sign_len, &sig, &sig_len, err);
	if (rc == P11E_OK && scheme.mech == CKM_ECDSA_)
		rc = ecdsa_to_der(&sig, &sig_len, err);
	if (rc != P11E_OK)
		goto out;
	rc = P11E_FAIL;
	if (sig_len > INT_MAX || (bs = ASN1_BIT_STRING_new()) == NULL ||
	    ASN1_BIT_STRING_set(bs, sig, (int)sig_len) != 1)
		goto ssl_fail;
	/* A signature is whole bytes: say "no unused bits" rather than let the
	 * encoder trim trailing zero bits off it. */
	bs->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bs->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bs);
	bs = NULL;
	rc = hand_out_verified(&req, pubkey, out, err);
	goto out;
ssl_fail:
	rc = p11e_errf_ssl(err, P11E_FAIL, "csr: signing the request on the token failed");
out:
	ASN1_BIT_STRING_free(bs);
	X509_ALGOR_free(alg);
	OPENSSL_free(tbs);
	free(sig);
	X509_REQ_free(req);
	return rc;
}

char *p11e_csr_to_pem(X509_REQ *req)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;

	if (bio != NULL && PEM_write_bio_X509_REQ(bio, req) == 1)
		out = p11e_bio_to_string(bio);
	BIO_free(bio);
	return out;
}

p11e_rc p11e_csr_request_key(X509_REQ *req, const char *tag, char **pem, char hex[65],
			     p11e_err *err)
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	int der_len = i2d_X509_REQ(req, &der);
	size_t tag_len = tag != NULL ? strlen(tag) : 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	*pem = der_len > 0 ? p11e_csr_to_pem(req) : NULL;
	ok = *pem != NULL && ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, der, (size_t)der_len) == 1 &&
	     (tag_len == 0 || EVP_DigestUpdate(ctx, tag, tag_len) == 1) &&
	     EVP_DigestFinal_ex(ctx, md, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	if (!ok) {
		free(*pem);
		*pem = NULL;
		return p11e_errf_ssl(err, P11E_FAIL, "cannot encode the CSR");
	}
	p11e_hex_encode(md, sizeof(md), hex);
	return P11E_OK;
}

X509_REQ *p11e_csr_from_pem(const char *pem)
{
	BIO *bio = pem != NULL ? BIO_new_mem_buf(pem, -1) : NULL;
	X509_REQ *req = NULL;

	if (bio != NULL)
		req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return req;
}
