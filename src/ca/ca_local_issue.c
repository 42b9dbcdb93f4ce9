/* The embedded CA's certificate building: serials, extensions, signing, and
 * the leaf certificate for a CSR as its profile dictates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "p11enroll/ca.h"
#include "p11enroll/util.h"
#include "p11enroll/validate.h"
#include "ca/ca_local.h"
#include "x509/ext_logon.h"
#include "x509/x509_internal.h"

p11e_rc p11e_ca_local_set_serial(X509 *cert, p11e_err *err)
{
	unsigned char buf[16];
	BIGNUM *bn = NULL;
	p11e_rc rc = P11E_OK;

	/* All 128 bits random; as an unsigned big number it is positive
	 * (zero, which RFC 5280 forbids, is drawn again). */
	do {
		if (RAND_bytes(buf, sizeof(buf)) != 1 ||
		    (bn = BN_bin2bn(buf, sizeof(buf), bn)) == NULL) {
			rc = p11e_errf_ssl(err, P11E_FAIL, "cannot draw a random serial number");
			goto out;
		}
	} while (BN_is_zero(bn));
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot set the serial number");
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	BN_free(bn);
	return rc;
}

p11e_rc p11e_ca_local_add_ext(X509 *cert, X509 *issuer, int nid, const char *value, p11e_err *err)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	if (!ok)
		return p11e_errf_ssl(err, P11E_FAIL, "cannot add the %s extension",
				     OBJ_nid2sn(nid));
	return P11E_OK;
}

p11e_rc p11e_ca_local_sign(X509 *cert, EVP_PKEY *key, const char *digest, p11e_err *err)
{
	const EVP_MD *md = NULL;

	if (digest == NULL || digest[0] == '\0')
		digest = "sha256";
	/* Ed25519 hashes internally: X509_sign wants no digest for it. */
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519 &&
	    (md = EVP_get_digestbyname(digest)) == NULL)
		return p11e_errf(err, P11E_CONFIG,
				 "digest: '%.32s' is unknown (try sha256, sha384, sha512)", digest);
	if (X509_sign(cert, key, md) <= 0)
		return p11e_errf_ssl(err, P11E_FAIL, "cannot sign the certificate");
	return P11E_OK;
}

/* A requested otherName: a logon profile keeps a UPN (smartcard-logon
 * only) and an id-pkinit-san that are well-formed (*keep), refuses a
 * malformed one (reason set), and drops any other. */
static p11e_rc logon_name_ok(const GENERAL_NAME *gn, const p11e_profile *profile, int *keep,
			     char *reason, size_t reason_len, p11e_err *err)
{
	char *upn = NULL, *principal = NULL, *canonical = NULL;
	p11e_err bad = {0};

	*keep = 0;
	if (!(profile->purposes & (P11E_PURPOSE_LOGON | P11E_PURPOSE_KDC)))
		return P11E_OK;
	if ((profile->purposes & P11E_PURPOSE_LOGON) && (upn = p11e_x509_upn_of(gn)) != NULL) {
		if (p11e_upn_check(upn, "UPN otherName", &bad) != P11E_OK)
			snprintf(reason, reason_len, "%s", bad.msg);
		*keep = reason[0] == '\0';
	} else if ((principal = p11e_x509_pkinit_san_of(gn)) != NULL) {
		/* As p11enroll writes it: the realm upper-cased. */
		if (p11e_principal_canonical(principal, "id-pkinit-san", &canonical, &bad) !=
		    P11E_OK)
			snprintf(reason, reason_len, "%s", bad.msg);
		else if (strcmp(canonical, principal) != 0)
			snprintf(reason, reason_len,
				 "id-pkinit-san '%.100s': the realm must be upper case", principal);
		*keep = reason[0] == '\0';
	}
	(void)err;
	free(upn);
	free(principal);
	free(canonical);
	return P11E_OK;
}

/* A logon profile's SID extension, rebuilt from the CSR's (not copied:
 * only a well-formed SID goes into a certificate). *reason set for a
 * malformed one. */
static p11e_rc add_sid(X509 *cert, X509_REQ *csr, const p11e_profile *profile, char *reason,
		       size_t reason_len, p11e_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	ASN1_OBJECT *obj = NULL;
	X509_EXTENSION *ext = NULL;
	char *sid = NULL;
	p11e_err bad = {0};
	int at;
	p11e_rc rc = P11E_OK;

	if (!(profile->purposes & P11E_PURPOSE_LOGON))
		return P11E_OK;
	exts = X509_REQ_get_extensions(csr);
	if ((obj = p11e_x509_sid_ext_obj()) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	if (exts == NULL || (at = X509v3_get_ext_by_OBJ(exts, obj, -1)) < 0)
		goto out;
	sid = p11e_x509_sid_of(sk_X509_EXTENSION_value(exts, at));
	if (sid == NULL || p11e_sid_check(sid, "SID extension", &bad) != P11E_OK) {
		snprintf(reason, reason_len, "%s",
			 sid == NULL ? "the SID extension is malformed" : bad.msg);
		goto out;
	}
	if ((ext = p11e_x509_sid_ext(sid)) == NULL || X509_add_ext(cert, ext, -1) != 1)
		rc = p11e_errf_ssl(err, P11E_FAIL, "cannot add the SID extension");
out:
	X509_EXTENSION_free(ext);
	ASN1_OBJECT_free(obj);
	free(sid);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/* The CSR's requested SANs that the profile allows: rfc822Name (if
 * allow_email_san) and dNSName (if allow_dns_san); everything else is
 * dropped. *reason is set (and *kept NULL) for a request to refuse. */
static p11e_rc filter_san(X509_REQ *csr, const p11e_profile *profile, GENERAL_NAMES **kept,
			  int *n_email, int *n_dns, char *reason, size_t reason_len, p11e_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
	GENERAL_NAMES *req = NULL;
	p11e_rc rc = P11E_OK;

	*n_email = 0;
	*n_dns = 0;
	if ((*kept = GENERAL_NAMES_new()) == NULL)
		goto oom;
	req = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; req != NULL && i < sk_GENERAL_NAME_num(req); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(req, i), *dup;

		if (gn->type == GEN_EMAIL && profile->allow_email_san) {
			const ASN1_IA5STRING *s = gn->d.rfc822Name;
			const char *v = (const char *)ASN1_STRING_get0_data(s);

			if (strlen(v) != (size_t)ASN1_STRING_length(s) || !p11e_email_valid(v)) {
				snprintf(
				    reason, reason_len,
				    "rfc822Name subjectAltName '%.100s' is not a valid address", v);
				GENERAL_NAMES_free(*kept);
				*kept = NULL;
				goto out;
			}
			(*n_email)++;
		} else if (gn->type == GEN_DNS && profile->allow_dns_san) {
			(*n_dns)++;
		} else if (gn->type == GEN_OTHERNAME) {
			int keep = 0;
			if ((rc = logon_name_ok(gn, profile, &keep, reason, reason_len, err)) !=
				P11E_OK ||
			    reason[0] != '\0') {
				GENERAL_NAMES_free(*kept);
				*kept = NULL;
				goto out;
			}
			if (!keep)
				continue;
		} else {
			continue;
		}
		if ((dup = GENERAL_NAME_dup(gn)) == NULL)
			goto oom;
		if (!sk_GENERAL_NAME_push(*kept, dup)) {
			GENERAL_NAME_free(dup);
			goto oom;
		}
	}
	goto out;
oom:
	GENERAL_NAMES_free(*kept);
	*kept = NULL;
	rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	GENERAL_NAMES_free(req);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/* Builds and signs the certificate; *cert NULL and reason set when the
 * request is refused. */
p11e_rc p11e_ca_local_issue(const p11e_ca_local *ca, X509_REQ *csr, const p11e_profile *profile,
			    X509 **out, char *reason, size_t reason_len, p11e_err *err)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(csr);
	GENERAL_NAMES *san = NULL;
	ASN1_BIT_STRING *ku_bs = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	X509 *cert = NULL;
	X509_NAME *subject = X509_REQ_get_subject_name(csr);
	unsigned ku = 0;
	int n_email = 0, n_dns = 0, empty_subject;
	p11e_key_kind kind;
	p11e_err kerr;
	p11e_rc rc;

	*out = NULL;
	if (reason_len > 0)
		reason[0] = '\0';
	if (profile->validity_days < 1)
		return p11e_errf(err, P11E_CONFIG, "profile '%s': validity_days must be at least 1",
				 profile->name);
	if (pub == NULL || X509_REQ_verify(csr, pub) != 1) {
		ERR_clear_error();
		snprintf(reason, reason_len, "the CSR signature does not verify");
		return P11E_OK;
	}
	kind = p11e_x509_key_kind(pub);
	if (kind == 0) {
		snprintf(reason, reason_len, "the CSR key is not rsa, ec or ed25519");
		return P11E_OK;
	}
	if (p11e_profile_key_usage(profile, kind, &ku, &kerr) != P11E_OK) {
		snprintf(reason, reason_len, "%s", kerr.msg);
		return P11E_OK;
	}
	if ((rc = filter_san(csr, profile, &san, &n_email, &n_dns, reason, reason_len, err)) !=
		P11E_OK ||
	    san == NULL)
		return rc;
	empty_subject = subject == NULL || X509_NAME_entry_count(subject) == 0;
	if ((profile->purposes & (P11E_PURPOSE_SIGN | P11E_PURPOSE_ENCRYPT)) && n_email == 0) {
		snprintf(reason, reason_len, "no rfc822Name subjectAltName");
		goto out;
	}
	if ((profile->purposes & P11E_PURPOSE_SERVER_AUTH) && n_dns == 0) {
		snprintf(reason, reason_len, "no dNSName subjectAltName");
		goto out;
	}
	if (empty_subject && sk_GENERAL_NAME_num(san) == 0) {
		snprintf(reason, reason_len, "empty subject and no subjectAltName");
		goto out;
	}

	rc = P11E_FAIL;
	if ((cert = X509_new()) == NULL || X509_set_version(cert, 2) != 1 ||
	    X509_set_subject_name(cert, subject) != 1 ||
	    X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), profile->validity_days, 0, NULL) == NULL ||
	    X509_set_pubkey(cert, pub) != 1)
		goto ssl_fail;
	if ((rc = p11e_ca_local_set_serial(cert, err)) != P11E_OK ||
	    (rc = p11e_ca_local_add_ext(cert, ca->cert, NID_basic_constraints, "critical,CA:FALSE",
					err)) != P11E_OK)
		goto out;
	rc = P11E_FAIL;
	if ((ku_bs = p11e_x509_key_usage(ku)) == NULL ||
	    X509_add1_ext_i2d(cert, NID_key_usage, ku_bs, 1, X509V3_ADD_DEFAULT) != 1 ||
	    (eku = p11e_x509_ext_key_usage(profile->purposes)) == NULL ||
	    X509_add1_ext_i2d(cert, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1)
		goto ssl_fail;
	if ((rc = p11e_ca_local_add_ext(cert, ca->cert, NID_subject_key_identifier, "hash", err)) !=
		P11E_OK ||
	    (rc = p11e_ca_local_add_ext(cert, ca->cert, NID_authority_key_identifier, "keyid",
					err)) != P11E_OK)
		goto out;
	if (ca->crl_url != NULL) {
		char dp[1100];

		snprintf(dp, sizeof(dp), "URI:%s", ca->crl_url);
		if ((rc = p11e_ca_local_add_ext(cert, ca->cert, NID_crl_distribution_points, dp,
						err)) != P11E_OK)
			goto out;
	}
	/* RFC 5280 4.2.1.6: with an empty subject the SAN must be critical. */
	rc = P11E_FAIL;
	if (sk_GENERAL_NAME_num(san) > 0 &&
	    X509_add1_ext_i2d(cert, NID_subject_alt_name, san, empty_subject, X509V3_ADD_DEFAULT) !=
		1)
		goto ssl_fail;
	if ((rc = add_sid(cert, csr, profile, reason, reason_len, err)) != P11E_OK ||
	    reason[0] != '\0')
		goto out;
	if ((rc = p11e_ca_local_sign(cert, ca->key, profile->digest, err)) != P11E_OK)
		goto out;
	*out = cert;
	cert = NULL;
	rc = P11E_OK;
	goto out;
ssl_fail:
	rc = p11e_errf_ssl(err, P11E_FAIL, "local CA in %s: cannot build the certificate", ca->dir);
out:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	ASN1_BIT_STRING_free(ku_bs);
	GENERAL_NAMES_free(san);
	X509_free(cert);
	return rc;
}
