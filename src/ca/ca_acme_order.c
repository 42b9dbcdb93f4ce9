/* An ACME order from identifiers to certificate (RFC 8555 7.4): the
 * identifiers taken from the CSR, authorizations answered with http-01,
 * finalize with the token-signed CSR, polling that honours Retry-After within
 * the configured "wait", and the PEM chain downloaded. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/x509v3.h>
#include "ca/ca_acme.h"
#include "p11enroll/peer.h"
#include "p11enroll/pem.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define CHAIN_MAX_CERTS 10

/* REJECTED, with the CA's words (cut to fit). */
static void reject(p11e_ca_result *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reject(p11e_ca_result *out, const char *fmt, ...)
{
	va_list ap;

	out->state = P11E_CA_STATE_REJECTED;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int add_identifier(json_object *arr, const char *type, const char *value)
{
	json_object *id;

	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		if (strcmp(acme_str(o, "type"), type) == 0 &&
		    strcasecmp(acme_str(o, "value"), value) == 0)
			return 0;
	}
	if ((id = json_object_new_object()) == NULL)
		return -1;
	json_object_object_add(id, "type", json_object_new_string(type));
	json_object_object_add(id, "value", json_object_new_string(value));
	return json_object_array_add(arr, id);
}

json_object *acme_identifiers(const acme *a, X509_REQ *csr, char *reason, size_t reason_len,
			      p11e_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
	GENERAL_NAMES *sans = NULL;
	json_object *arr = json_object_new_array();
	char buf[INET6_ADDRSTRLEN + 1], *text;
	int bad = 0;

	reason[0] = '\0';
	if (exts != NULL)
		sans = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; arr != NULL && sans != NULL && i < sk_GENERAL_NAME_num(sans) && !bad; i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const ASN1_STRING *s;
		switch (gn->type) {
		case GEN_DNS:
			s = gn->d.dNSName;
			text = OPENSSL_strndup((const char *)ASN1_STRING_get0_data(s),
					       (size_t)ASN1_STRING_length(s));
			bad = text == NULL || add_identifier(arr, "dns", text) != 0;
			OPENSSL_free(text);
			break;
		case GEN_IPADD:
			s = gn->d.iPAddress;
			if (!inet_ntop(ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6,
				       ASN1_STRING_get0_data(s), buf, sizeof(buf)) ||
			    (ASN1_STRING_length(s) != 4 && ASN1_STRING_length(s) != 16)) {
				snprintf(reason, reason_len,
					 "ca acme: the CSR has a malformed iPAddress");
				bad = 1;
				break;
			}
			bad = add_identifier(arr, "ip", buf) != 0;
			break;
		case GEN_EMAIL:
			s = gn->d.rfc822Name;
			text = OPENSSL_strndup((const char *)ASN1_STRING_get0_data(s),
					       (size_t)ASN1_STRING_length(s));
			if (!a->email_identifiers) {
				snprintf(
				    reason, reason_len,
				    "ca acme: the CSR names the address %.100s, and this CA is "
				    "not set up for RFC 8823 email identifiers "
				    "(\"email_identifiers\"); enroll a server name (--dns) "
				    "instead",
				    text ? text : "?");
				bad = 1;
			} else {
				bad = text == NULL || add_identifier(arr, "email", text) != 0;
			}
			OPENSSL_free(text);
			break;
		default:
			break; /* not something ACME identifies: the CA decides */
		}
	}
	/* No SAN at all: the subject's CN as a host name. */
	if (!bad && arr != NULL && json_object_array_length(arr) == 0) {
		X509_NAME *subj = X509_REQ_get_subject_name(csr);
		int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
		unsigned char *cn = NULL;
		if (idx >= 0 && ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(
							     X509_NAME_get_entry(subj, idx))) > 0)
			bad = add_identifier(arr, "dns", (const char *)cn) != 0;
		OPENSSL_free(cn);
		if (!bad && json_object_array_length(arr) == 0) {
			snprintf(reason, reason_len,
				 "ca acme: the CSR names no host: nothing to order");
			bad = 1;
		}
	}
	GENERAL_NAMES_free(sans);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (arr == NULL || (bad && reason[0] == '\0')) {
		json_object_put(arr);
		p11e_errf(err, P11E_FAIL, "out of memory");
		return NULL;
	}
	if (bad) {
		json_object_put(arr);
		return NULL;
	}
	return arr;
}

/* One newOrder; "replaces" names the certificate it renews when not NULL. */
static p11e_rc post_new_order(acme *a, json_object *identifiers, const char *replaces,
			      p11e_http_resp *resp, p11e_err *err)
{
	json_object *payload = json_object_new_object();
	p11e_rc rc;

	if (payload == NULL)
		return p11e_errf(err, P11E_FAIL, "out of memory");
	json_object_object_add(payload, "identifiers", json_object_get(identifiers));
	if (replaces != NULL)
		json_object_object_add(payload, "replaces", json_object_new_string(replaces));
	rc = acme_post(a, acme_dir_url(a, "newOrder"),
		       json_object_to_json_string_ext(payload, JSON_FLAGS), 0, NULL, resp, err);
	json_object_put(payload);
	return rc;
}

p11e_rc acme_new_order(acme *a, json_object *identifiers, char **order_url, p11e_ca_result *out,
		       p11e_err *err)
{
	/* RFC 9773 5: "replaces" only to a server that offers renewalInfo. */
	const char *replaces = acme_dir_url(a, "renewalInfo") != NULL ? a->replaces : NULL;
	p11e_http_resp resp;
	p11e_rc rc;

	*order_url = NULL;
	rc = post_new_order(a, identifiers, replaces, &resp, err);
	/* 409 alreadyReplaced: another live order already names the old
	 * certificate, most often our own from a run that died before saving
	 * it. "replaces" is a SHOULD, not a condition of renewing: the renewal
	 * is ordered again once, without it, rather than left undone. */
	if (rc == P11E_OK && replaces != NULL && acme_problem_is(&resp, "alreadyReplaced")) {
		p11e_http_resp_free(&resp);
		rc = post_new_order(a, identifiers, NULL, &resp, err);
	}
	if (rc != P11E_OK)
		return rc;
	if (resp.status == 201 && (*order_url = p11e_http_resp_header(&resp, "Location")) != NULL) {
		p11e_http_resp_free(&resp);
		if (acme_url_ok(*order_url))
			return P11E_OK;
		free(*order_url);
		*order_url = NULL;
		return p11e_errf(err, P11E_FAIL,
				 "ca acme: newOrder: the order's Location is not a URL");
	}
	if (resp.status >= 400 && resp.status < 500) {
		static const char replaced[] =
		    "the CA says the certificate this renews was already replaced (RFC 9773), "
		    "even when asked without \"replaces\": ";
		size_t used = 0;
		out->state = P11E_CA_STATE_REJECTED;
		if (acme_problem_is(&resp, "alreadyReplaced")) {
			memcpy(out->reason, replaced, sizeof(replaced));
			used = sizeof(replaced) - 1;
		}
		acme_problem(&resp, out->reason + used, sizeof(out->reason) - used);
	} else {
		char why[300];
		acme_problem(&resp, why, sizeof(why));
		rc = p11e_errf(err, P11E_FAIL, "ca acme: newOrder: %s", why);
	}
	p11e_http_resp_free(&resp);
	return rc;
}

/* POST-as-GET of an ACME resource: *resp holds a 200 answer (free it), and
 * *retry_after_s its Retry-After, bounded (0 if none). A 4xx is REJECTED in
 * out (reason = the problem) with resp freed; a 404 without a problem
 * document is P11E_NOT_FOUND. */
static p11e_rc fetch(acme *a, const char *url, p11e_http_resp *resp, long *retry_after_s,
		     p11e_ca_result *out, p11e_err *err)
{
	char why[300];
	p11e_rc rc;

	rc = acme_post(a, url, NULL, 0, NULL, resp, err);
	if (rc != P11E_OK)
		return rc;
	if (retry_after_s != NULL)
		*retry_after_s = p11e_peer_wait_s(p11e_http_retry_after(resp, 0));
	if (resp->status == 200)
		return P11E_OK;
	acme_problem(resp, why, sizeof(why));
	if (resp->status == 404)
		rc = p11e_errf(err, P11E_NOT_FOUND, "ca acme: %s: %s", url, why);
	else if (resp->status >= 400 && resp->status < 500) {
		reject(out, "%s", why);
	} else
		rc = p11e_errf(err, P11E_FAIL, "ca acme: %s: %s", url, why);
	p11e_http_resp_free(resp);
	return rc;
}

/* A malformed answer is the CA's fault, not the request's: P11E_FAIL keeps
 * the identity where it is, so a rerun after the CA is fixed goes on. */
static p11e_rc malformed(const char *url, const char *what, p11e_err *err)
{
	return p11e_errf(err, P11E_FAIL, "ca acme: %s: %s; ask the CA's operator, then rerun", url,
			 what);
}

/* One authorization: nothing to do when valid; for a pending one the http-01
 * answer is put up and the challenge triggered (once). A failed one is
 * REJECTED with the challenge's own error. */
static p11e_rc authorize(acme *a, const char *url, p11e_ca_result *out, p11e_err *err)
{
	acme_authz_doc az;
	p11e_http_resp got;
	p11e_rc rc;

	rc = fetch(a, url, &got, NULL, out, err);
	if (rc != P11E_OK || out->state == P11E_CA_STATE_REJECTED)
		return rc;
	if (acme_parse_authz(got.body, got.body_len, &az) != 0) {
		p11e_http_resp_free(&got);
		return malformed(url, "the answer is not an ACME authorization", err);
	}
	p11e_http_resp_free(&got);
	if (az.malformed[0] != '\0') {
		rc = malformed(url, az.malformed, err);
		goto out;
	}
	if (strcmp(az.status, "invalid") == 0 && az.error[0] != '\0') {
		reject(out, "%s %s: %s", az.itype, az.ivalue, az.error);
		goto out;
	}
	if (strcmp(az.status, "valid") == 0)
		goto out;
	if (strcmp(az.status, "pending") != 0) {
		reject(out, "authorization for %s %s is %s", az.itype, az.ivalue, az.status);
		goto out;
	}
	if (!az.has_http01) {
		/* RFC 8823's email-reply-00 is answered by the mailbox's owner. */
		if (strcmp(az.itype, "email") != 0) {
			reject(out, "the CA offers no http-01 challenge for %s %s (offered: %s)",
			       az.itype, az.ivalue, az.offered[0] ? az.offered : "none");
		}
		goto out;
	}
	{
		char *key_auth = NULL;
		p11e_http_resp resp;

		if (az.http01_token == NULL || az.http01_url == NULL) {
			rc = malformed(url, "an http-01 challenge without token or url", err);
			goto out;
		}
		if ((key_auth = acme_fmt("%s.%s", az.http01_token, a->key.thumbprint)) == NULL) {
			rc = p11e_errf(err, P11E_FAIL, "out of memory");
			goto out;
		}
		rc = acme_http01_serve(a, az.http01_token, key_auth, err);
		free(key_auth);
		if (rc != P11E_OK || strcmp(az.http01_status, "pending") != 0)
			goto out;
		/* "Ready, check now": the empty object, once. */
		rc = acme_post(a, az.http01_url, "{}", 0, NULL, &resp, err);
		if (rc != P11E_OK)
			goto out;
		if (resp.status >= 400) {
			char why[300];
			acme_problem(&resp, why, sizeof(why));
			if (resp.status < 500) {
				reject(out, "http-01 for %s: %s", az.ivalue, why);
			} else {
				rc = p11e_errf(err, P11E_FAIL, "ca acme: %s: %s", az.http01_url,
					       why);
			}
		}
		p11e_http_resp_free(&resp);
	}
out:
	acme_authz_doc_clear(&az);
	return rc;
}

static p11e_rc finalize(acme *a, const char *url, const unsigned char *csr_der, size_t csr_len,
			p11e_ca_result *out, p11e_err *err)
{
	char *b64 = NULL, *payload = NULL;
	p11e_http_resp resp;
	p11e_rc rc;

	if (csr_der == NULL)
		return p11e_errf(err, P11E_FAIL,
				 "ca acme: the order is ready but its CSR was not saved with it "
				 "(the store's acme-order documents for %s); remove the "
				 "identity's record to start over",
				 a->url);
	b64 = acme_b64url(csr_der, csr_len);
	if (b64 == NULL || (payload = acme_fmt("{\"csr\":\"%s\"}", b64)) == NULL) {
		free(b64);
		return p11e_errf(err, P11E_FAIL, "out of memory");
	}
	rc = acme_post(a, url, payload, 0, NULL, &resp, err);
	free(b64);
	free(payload);
	if (rc != P11E_OK)
		return rc;
	if (resp.status >= 400) {
		char why[300];
		acme_problem(&resp, why, sizeof(why));
		/* Finalized already (by a run that died before the answer): go on. */
		if (resp.status < 500 && strstr(why, "orderNotReady") == NULL) {
			reject(out, "finalize: %s", why);
		} else if (resp.status >= 500) {
			rc = p11e_errf(err, P11E_FAIL, "ca acme: finalize: %s", why);
		}
	}
	p11e_http_resp_free(&resp);
	return rc;
}

/* The PEM chain at the order's certificate URL: leaf first. */
static p11e_rc download(acme *a, const char *url, p11e_ca_result *out, p11e_err *err)
{
	STACK_OF(X509) *all = NULL;
	p11e_http_resp resp;
	char why[300];
	p11e_rc rc;

	rc = acme_post(a, url, NULL, 0, "application/pem-certificate-chain", &resp, err);
	if (rc != P11E_OK)
		return rc;
	if (resp.status != 200) {
		acme_problem(&resp, why, sizeof(why));
		rc = p11e_errf(err, P11E_FAIL, "ca acme: certificate download %s: %s", url, why);
		goto out;
	}
	all = p11e_chain_from_pem(resp.body);
	if (all == NULL || sk_X509_num(all) == 0 || sk_X509_num(all) > CHAIN_MAX_CERTS) {
		rc = p11e_errf(err, P11E_FAIL, "ca acme: %s did not answer a PEM certificate chain",
			       url);
		goto out;
	}
	out->cert = sk_X509_shift(all);
	out->chain = all;
	all = NULL;
	out->state = P11E_CA_STATE_ISSUED;
out:
	sk_X509_pop_free(all, X509_free);
	p11e_http_resp_free(&resp);
	return rc;
}

p11e_rc acme_drive(acme *a, const char *order_url, const unsigned char *csr_der, size_t csr_len,
		   p11e_ca_result *out, p11e_err *err)
{
	long deadline = now_ms() + a->wait_s * 1000L, step_ms = 250;
	int finalized = 0;
	p11e_rc rc = P11E_OK;

	for (;;) {
		acme_order_doc order;
		p11e_http_resp got;
		long retry_after = 0, wait_ms, left;
		const char *status;

		rc = fetch(a, order_url, &got, &retry_after, out, err);
		if (rc != P11E_OK || out->state == P11E_CA_STATE_REJECTED)
			break;
		if (acme_parse_order(got.body, got.body_len, &order) != 0) {
			p11e_http_resp_free(&got);
			rc = malformed(order_url, "the answer is not an ACME order", err);
			break;
		}
		p11e_http_resp_free(&got);
		if (order.malformed[0] != '\0') {
			rc = malformed(order_url, order.malformed, err);
			acme_order_doc_clear(&order);
			break;
		}
		status = order.status;
		if (strcmp(status, "valid") == 0) {
			rc = order.certificate
				 ? download(a, order.certificate, out, err)
				 : p11e_errf(err, P11E_FAIL,
					     "ca acme: a valid order without a certificate URL");
			acme_order_doc_clear(&order);
			break;
		}
		if (strcmp(status, "invalid") == 0) {
			reject(out, "%s", order.error[0] ? order.error : "the order is invalid");
			/* The failed authorization says why. */
			for (size_t i = 0; i < order.n_authz; i++) {
				p11e_ca_result probe = {0};
				if (authorize(a, order.authz[i], &probe, NULL) == P11E_OK &&
				    probe.state == P11E_CA_STATE_REJECTED) {
					snprintf(out->reason, sizeof(out->reason), "%s",
						 probe.reason);
					break;
				}
			}
			acme_order_doc_clear(&order);
			break;
		}
		if (strcmp(status, "pending") == 0) {
			for (size_t i = 0; rc == P11E_OK && out->state == 0 && i < order.n_authz;
			     i++)
				rc = authorize(a, order.authz[i], out, err);
		} else if (strcmp(status, "ready") == 0 && !finalized) {
			rc = order.finalize
				 ? finalize(a, order.finalize, csr_der, csr_len, out, err)
				 : p11e_errf(err, P11E_FAIL,
					     "ca acme: the order has no finalize URL");
			finalized = 1;
			acme_order_doc_clear(&order);
			if (rc != P11E_OK || out->state != 0)
				break;
			continue; /* read the order again at once */
		} else if (strcmp(status, "processing") != 0 && strcmp(status, "ready") != 0) {
			rc =
			    p11e_errf(err, P11E_FAIL, "ca acme: the order has status '%s'", status);
		}
		acme_order_doc_clear(&order);
		if (rc != P11E_OK || out->state != 0)
			break;
		/* Wait as the CA asks (Retry-After, at most a day: fetch bounds it),
		 * else a little longer each time. */
		wait_ms = retry_after > 0 ? retry_after * 1000L : step_ms;
		left = deadline - now_ms();
		if (wait_ms > left) {
			out->state = P11E_CA_STATE_PENDING;
			out->retry_after = (int)(retry_after > 0 ? retry_after : 5);
			break;
		}
		acme_sleep_ms(wait_ms);
		if (step_ms < 4000)
			step_ms *= 2;
	}
	/* Answers stay up while the CA may still fetch them (PENDING, or the
	 * CA unreachable); a later run puts them up again anyway. */
	if (rc == P11E_OK && out->state != P11E_CA_STATE_PENDING)
		acme_http01_withdraw(a);
	if (rc != P11E_OK) {
		X509_free(out->cert);
		sk_X509_pop_free(out->chain, X509_free);
		out->cert = NULL;
		out->chain = NULL;
		out->state = 0;
	}
	return rc;
}
