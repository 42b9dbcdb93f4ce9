/* TLS for the portal: OpenSSL, as everywhere else in p11enroll. TLS 1.2 and
 * up; the client certificate is asked for but never required by the
 * handshake (a user with an invitation code has none), so the handshake's
 * own verdict is ignored and the application verifies what was presented:
 * X509_verify_cert against client_cas alone, at p11e_now(), the purpose
 * sslclient, an extended key usage that names clientAuth, and the CRL file
 * when one is configured (re-read on every request: a revocation counts at
 * once), and never a CA's certificate. The identity is the certificate's
 * first rfc822Name. The SSL_CTX and the client store are rebuilt whole by a
 * reload (portal_trust.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "p11enroll/clock.h"
#include "p11enroll/session.h"
#include "p11enroll/token.h"
#include "p11enroll/validate.h"
#include "portal_int.h"

/* The handshake never fails over the client certificate. */
static int accept_any(int preverify, X509_STORE_CTX *ctx)
{
	return 1;
}

/* A key on a token: opened once at start and kept as loaded (a reload
 * reuses it; the token's session stays open). */
static p11e_rc token_key(struct p11e_portal *p, p11e_err *err)
{
	p11e_session_params sp = {.uri = p->conf->tls_key, .login = 1};
	p11e_id id = {{0}, 0};
	p11e_rc rc;

	if ((p->tls_token = calloc(1, sizeof(*p->tls_token))) == NULL)
		return p11e_errf(err, P11E_FAIL, "portal: out of memory");
	if ((rc = p11e_session_open(p->cfg, &sp, p->tls_token, err)) != P11E_OK)
		return rc;
	if (!p->tls_token->uri.has_id)
		return p11e_errf(err, P11E_CONFIG,
				 "portal.tls_key: the pkcs11: URI needs the key's id=%%XX...");
	memcpy(id.v, p->tls_token->uri.id, p->tls_token->uri.id_len);
	id.len = p->tls_token->uri.id_len;
	return p11e_token_signing_key(p->tls_token->token, &id, &p->tls_key, err);
}

/* A key file, read again at each build. */
static EVP_PKEY *file_key(const char *path, p11e_err *err)
{
	BIO *bio = BIO_new_file(path, "r");
	EVP_PKEY *key;

	if (bio == NULL) {
		p11e_errf_ssl(err, P11E_CONFIG, "portal.tls_key %s: cannot read it", path);
		return NULL;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key == NULL)
		p11e_errf_ssl(err, P11E_CONFIG,
			      "portal.tls_key %s: not an unencrypted PEM private key", path);
	return key;
}

p11e_rc portal_tls_build(struct p11e_portal *p, SSL_CTX **ssl_out, X509_STORE **store_out,
			 p11e_err *err)
{
	const p11e_portal_conf *c = p->conf;
	STACK_OF(X509_NAME) *names = NULL;
	X509_STORE *store = NULL;
	EVP_PKEY *key = p->tls_key;
	SSL_CTX *ssl = NULL;
	p11e_rc rc = P11E_OK;

	*ssl_out = NULL;
	*store_out = NULL;
	if ((ssl = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION) != 1) {
		rc = p11e_errf_ssl(err, P11E_FAIL, "portal: TLS setup");
		goto out;
	}
	SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ssl, c->tls_cert) != 1) {
		rc =
		    p11e_errf_ssl(err, P11E_CONFIG,
				  "portal.tls_cert %s: not a PEM certificate (chain)", c->tls_cert);
		goto out;
	}
	if (key == NULL && (key = file_key(c->tls_key, err)) == NULL) {
		rc = err->rc;
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(ssl, key) != 1 || SSL_CTX_check_private_key(ssl) != 1) {
		rc =
		    p11e_errf_ssl(err, P11E_CONFIG,
				  "portal.tls_key: does not match portal.tls_cert %s", c->tls_cert);
		goto out;
	}
	if ((store = X509_STORE_new()) == NULL || X509_STORE_load_file(store, c->client_cas) != 1) {
		rc = p11e_errf_ssl(err, P11E_CONFIG, "portal.client_cas %s: not PEM certificates",
				   c->client_cas);
		goto out;
	}
	/* The CA names tell a browser which of its certificates to offer. */
	if ((names = SSL_load_client_CA_file(c->client_cas)) == NULL) {
		rc = p11e_errf_ssl(err, P11E_CONFIG, "portal.client_cas %s: no CA certificate",
				   c->client_cas);
		goto out;
	}
	SSL_CTX_set_client_CA_list(ssl, names);
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, accept_any);
	/* Sessions are not resumed: each connection shows its certificate. */
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ssl, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ssl, 0);
out:
	if (key != p->tls_key)
		EVP_PKEY_free(key); /* the SSL_CTX holds its own reference */
	if (rc != P11E_OK) {
		SSL_CTX_free(ssl);
		X509_STORE_free(store);
		return rc;
	}
	*ssl_out = ssl;
	*store_out = store;
	return P11E_OK;
}

p11e_rc portal_tls_setup(struct p11e_portal *p, p11e_err *err)
{
	p11e_rc rc;

	if (strncmp(p->conf->tls_key, "pkcs11:", 7) == 0 && (rc = token_key(p, err)) != P11E_OK)
		return rc;
	/* Before the files are read: a change while they are read is seen by
	 * the next check. */
	portal_trust_stat(p, p->loaded);
	memcpy(p->tried, p->loaded, sizeof(p->tried));
	memcpy(p->seen, p->loaded, sizeof(p->seen));
	return portal_tls_build(p, &p->ssl, &p->client_store, err);
}

void portal_tls_free(struct p11e_portal *p)
{
	SSL_CTX_free(p->ssl);
	X509_STORE_free(p->client_store);
	EVP_PKEY_free(p->tls_key);
	if (p->tls_token != NULL) {
		p11e_session_close(p->tls_token);
		free(p->tls_token);
	}
}

/* The CRL file as a stack (NULL and *bad set when it cannot be read). */
static STACK_OF(X509_CRL) * load_crls(const char *path, int *bad)
{
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	BIO *bio = BIO_new_file(path, "r");
	X509_CRL *crl;

	*bad = crls == NULL || bio == NULL;
	while (!*bad && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_CRL_push(crls, crl)) {
			X509_CRL_free(crl);
			*bad = 1;
		}
	ERR_clear_error();
	BIO_free(bio);
	if (!*bad && sk_X509_CRL_num(crls) == 0)
		*bad = 1;
	if (*bad) {
		sk_X509_CRL_pop_free(crls, X509_CRL_free);
		return NULL;
	}
	return crls;
}

/* The identity: the FIRST rfc822Name of cert, lower-cased, into user: 1
 * when it is a valid address, 0 when there is none or the first is not
 * (a later name is never taken instead: the CA vouched for the first). */
static int rfc822_name(X509 *cert, char *user, char *email, size_t cap)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int found = 0;

	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const unsigned char *v;
		int len;

		if (gn->type != GEN_EMAIL)
			continue;
		v = ASN1_STRING_get0_data(gn->d.rfc822Name);
		len = ASN1_STRING_length(gn->d.rfc822Name);
		if (len > 0 && (size_t)len < cap && memchr(v, 0, (size_t)len) == NULL) {
			const unsigned char *at = memchr(v, '@', (size_t)len);

			/* The identity lower-cased; the address as the certificate
			 * spells its local part (RFC 5321), the domain lower-cased. */
			for (int k = 0; k < len; k++) {
				user[k] = (char)tolower(v[k]);
				email[k] = at != NULL && v + k > at ? user[k] : (char)v[k];
			}
			user[len] = email[len] = '\0';
			found = p11e_email_valid(user);
		}
		break;
	}
	GENERAL_NAMES_free(sans);
	if (!found && cap > 0)
		user[0] = email[0] = '\0';
	return found;
}

int portal_tls_client_user(struct p11e_portal *p, SSL *ssl, char *user, char *email, size_t cap,
			   char *problem, size_t pcap)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl); /* server side: without cert */
	STACK_OF(X509_CRL) *crls = NULL;
	X509_STORE_CTX *vctx = NULL;
	X509_STORE *store = NULL;
	int result = -1, bad_crl = 0;
	uint32_t xku;

	user[0] = email[0] = '\0';
	if (cert == NULL)
		return 0;
	/* The store as it is now (a reload may swap it while we verify). */
	if ((store = portal_tls_store(p)) == NULL || (vctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(vctx, store, cert, chain) != 1) {
		snprintf(problem, pcap, "client certificate: cannot be checked (out of memory)");
		goto out;
	}
	X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT);
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(vctx), p11e_now());
	if (p->conf->client_crl != NULL) {
		if ((crls = load_crls(p->conf->client_crl, &bad_crl)) == NULL) {
			/* Fail closed: without the CRL nobody's revocation is known. */
			snprintf(problem, pcap,
				 "client certificate: the portal's CRL cannot be read; tell its "
				 "administrator");
			goto out;
		}
		X509_STORE_CTX_set0_crls(vctx, crls);
		X509_STORE_CTX_set_flags(vctx, X509_V_FLAG_CRL_CHECK);
	}
	if (X509_verify_cert(vctx) != 1) {
		int e = X509_STORE_CTX_get_error(vctx);

		snprintf(problem, pcap, "client certificate not accepted: %s",
			 X509_verify_cert_error_string(e));
		goto out;
	}
	/* A CA's certificate is not a person's, even one that chains to
	 * client_cas and names clientAuth and an address. */
	if (X509_check_ca(cert) != 0) {
		snprintf(problem, pcap,
			 "client certificate not accepted: it is a CA certificate "
			 "(basicConstraints CA:TRUE or keyCertSign), not a user's");
		goto out;
	}
	/* sslclient lets a certificate without any EKU pass: require clientAuth. */
	xku = X509_get_extended_key_usage(cert);
	if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0 || (xku & XKU_SSL_CLIENT) == 0) {
		snprintf(problem, pcap,
			 "client certificate not accepted: its extended key usage lacks "
			 "clientAuth");
		goto out;
	}
	if (!rfc822_name(cert, user, email, cap)) {
		snprintf(problem, pcap,
			 "client certificate not accepted: its first email address "
			 "(rfc822Name) is missing or not a valid address");
		goto out;
	}
	result = 1;
out:
	if (result != 1)
		user[0] = email[0] = '\0';
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	ERR_clear_error();
	return result;
}
