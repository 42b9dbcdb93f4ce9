/* The CA's side of the scep backend: SCEP over HTTP, GetCACaps, GetCACert
 * (pinned by ca_fingerprint), which certificate is the CA and which the RA,
 * and chains from them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include "ca/ca_scep.h"
#include "p11enroll/peer.h"

/* Percent-encoding for a query value. */
static char *url_escape(const char *in)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(3 * strlen(in) + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* One SCEP operation over HTTP: GET url?operation=OP[&message=M], or POST of
 * a binary body. P11E_FAIL (resumable) unless the CA answered 200, or, with
 * any_status, unless it answered at all. */
p11e_rc scep_call(const scep *s, const char *op, const char *message, const void *body,
		  size_t body_len, int any_status, p11e_http_resp *resp, p11e_err *err)
{
	char *esc = message ? url_escape(message) : NULL, *url;
	size_t len = strlen(s->url) + strlen(op) + (esc ? strlen(esc) : 0) + 32;
	p11e_http_req req = {0};
	p11e_rc rc;

	url = malloc(len);
	if (url == NULL || (message != NULL && esc == NULL)) {
		free(url);
		free(esc);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	snprintf(url, len, "%s%soperation=%s%s%s", s->url, strchr(s->url, '?') ? "&" : "?", op,
		 esc ? "&message=" : "", esc ? esc : "");
	req.url = url;
	req.body = body;
	req.body_len = body_len;
	req.content_type = body ? "application/x-pki-message" : NULL;
	rc = p11e_http_request(&s->http, &req, resp, err);
	if (rc == P11E_OK && resp->status != 200 && !any_status) {
		char text[160];

		snprintf(text, sizeof(text), "%s", resp->body ? resp->body : "");
		p11e_peer_clean(text);
		rc = p11e_errf(err, P11E_FAIL, "ca scep: %s at %s: HTTP %ld%s%s", op, s->url,
			       resp->status, text[0] ? ": " : "", text);
		p11e_http_resp_free(resp);
	}
	free(url);
	free(esc);
	return rc;
}

static int has_cap(const char *caps, const char *name)
{
	size_t n = strlen(name);

	for (const char *line = caps; line != NULL && *line;) {
		const char *end = line + strcspn(line, "\r\n");

		while (line < end && (*line == ' ' || *line == '\t'))
			line++;
		if ((size_t)(end - line) >= n && strncasecmp(line, name, n) == 0) {
			const char *rest = line + n;

			while (rest < end && (*rest == ' ' || *rest == '\t'))
				rest++;
			if (rest == end)
				return 1;
		}
		line = *end ? end + 1 : NULL;
	}
	return 0;
}

/* With ca_fingerprint set, every certificate GetCACert returned must be the
 * pinned one or linked to it by signatures; else anyone on the path could
 * hand us a CA of their own. */
static p11e_rc check_pin(const scep *s, p11e_err *err)
{
	int n = sk_X509_num(s->ca_certs), left = n, progress = 1;
	unsigned char md[32];
	unsigned int mdlen;
	char *trusted = calloc((size_t)n + 1, 1);

	if (trusted == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	left = n;
	for (int i = 0; i < n; i++)
		if (X509_digest(sk_X509_value(s->ca_certs, i), EVP_sha256(), md, &mdlen) == 1 &&
		    mdlen == sizeof(md) && CRYPTO_memcmp(md, s->pin, sizeof(md)) == 0) {
			trusted[i] = 1;
			left--;
		}
	if (left == n) {
		free(trusted);
		return p11e_errf(err, P11E_CONFIG,
				 "ca scep: no certificate from GetCACert at %s has the configured "
				 "ca_fingerprint; nothing was sent to it",
				 s->url);
	}
	while (left > 0 && progress) {
		progress = 0;
		for (int i = 0; i < n; i++) {
			X509 *c = sk_X509_value(s->ca_certs, i);

			for (int j = 0; !trusted[i] && j < n; j++) {
				X509 *t = sk_X509_value(s->ca_certs, j);

				if (!trusted[j] || i == j)
					continue;
				if ((X509_check_issued(t, c) == X509_V_OK &&
				     X509_verify(c, X509_get0_pubkey(t)) == 1) ||
				    (X509_check_issued(c, t) == X509_V_OK &&
				     X509_verify(t, X509_get0_pubkey(c)) == 1)) {
					trusted[i] = 1;
					left--;
					progress = 1;
				}
			}
		}
	}
	free(trusted);
	ERR_clear_error();
	if (left > 0)
		return p11e_errf(err, P11E_CONFIG,
				 "ca scep: GetCACert at %s returned certificates not linked to the "
				 "one with the configured ca_fingerprint; nothing was sent to it",
				 s->url);
	return P11E_OK;
}

/* Which certificate is the issuing CA, and which one requests are encrypted
 * to: an RA (a non-CA certificate allowed to encipher keys) if there is one. */
static p11e_rc classify(scep *s, p11e_err *err)
{
	int n = sk_X509_num(s->ca_certs);
	X509 *ra = NULL;

	for (int i = 0; i < n && ra == NULL; i++) {
		X509 *c = sk_X509_value(s->ca_certs, i);

		if (X509_check_ca(c) == 0 && (!(X509_get_extension_flags(c) & EXFLAG_KUSAGE) ||
					      (X509_get_key_usage(c) & KU_KEY_ENCIPHERMENT)))
			ra = c;
	}
	for (int i = 0; i < n && s->issuer == NULL; i++) {
		X509 *c = sk_X509_value(s->ca_certs, i);
		int issues_ca = 0;

		if (X509_check_ca(c) == 0)
			continue;
		if (ra != NULL) {
			if (X509_check_issued(c, ra) == X509_V_OK)
				s->issuer = c;
			continue;
		}
		/* No RA: the CA lowest in the chain, the one that issues no other CA. */
		for (int j = 0; j < n; j++) {
			X509 *o = sk_X509_value(s->ca_certs, j);

			if (j != i && X509_check_ca(o) != 0 && X509_check_issued(c, o) == X509_V_OK)
				issues_ca = 1;
		}
		if (!issues_ca)
			s->issuer = c;
	}
	if (s->issuer == NULL && n == 1)
		s->issuer = sk_X509_value(s->ca_certs, 0); /* a CA without CA:TRUE */
	if (s->issuer == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "ca scep: GetCACert at %s returned no CA certificate that issues "
				 "for it",
				 s->url);
	s->recipient = ra != NULL ? ra : s->issuer;
	return P11E_OK;
}

/* GetCACaps and GetCACert, once. */
p11e_rc scep_fetch_ca(scep *s, p11e_err *err)
{
	p11e_http_resp resp;
	p11e_rc rc;

	if (s->fetched)
		return P11E_OK;
	/* GetCACaps: a CA down is an error; one that does not know it has no caps. */
	rc = scep_call(s, "GetCACaps", s->ca_identifier, NULL, 0, 1, &resp, err);
	if (rc != P11E_OK)
		return rc;
	if (resp.status == 200) {
		s->post =
		    has_cap(resp.body, "POSTPKIOperation") || has_cap(resp.body, "SCEPStandard");
		s->aes = has_cap(resp.body, "AES") || has_cap(resp.body, "SCEPStandard");
		/* RFC 8894 3.5.2: "Renewal" is never implied by SCEPStandard. */
		s->renewal = has_cap(resp.body, "Renewal");
	}
	p11e_http_resp_free(&resp);
	rc = scep_call(s, "GetCACert", s->ca_identifier, NULL, 0, 0, &resp, err);
	if (rc != P11E_OK)
		return rc;
	s->ca_certs = scep_parse_ca_certs((const unsigned char *)resp.body, resp.body_len);
	p11e_http_resp_free(&resp);
	if (s->ca_certs == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "ca scep: GetCACert at %s returned neither a certificate nor a "
				 "PKCS#7 of certificates",
				 s->url);
	if (s->pinned && (rc = check_pin(s, err)) != P11E_OK)
		return rc;
	if ((rc = classify(s, err)) != P11E_OK)
		return rc;
	s->fetched = 1;
	return P11E_OK;
}

/* The issued certificate's chain from the CA's certificates: its issuer
 * first, up to the root. */
STACK_OF(X509) * scep_chain_for(const scep *s, X509 *leaf)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *cur = leaf;

	for (int depth = 0; chain != NULL && depth < 10; depth++) {
		X509 *next = NULL;

		if (cur != leaf && X509_check_issued(cur, cur) == X509_V_OK)
			break; /* the root */
		for (int i = 0; i < sk_X509_num(s->ca_certs) && next == NULL; i++) {
			X509 *c = sk_X509_value(s->ca_certs, i);

			if (c != cur && X509_check_ca(c) != 0 &&
			    X509_check_issued(c, cur) == X509_V_OK)
				next = c;
		}
		if (next == NULL)
			break;
		if (!X509_up_ref(next) || sk_X509_push(chain, next) == 0) {
			X509_free(next);
			sk_X509_pop_free(chain, X509_free);
			return NULL;
		}
		cur = next;
	}
	return chain;
}
