/* ACME Renewal Information (RFC 9773): the certificate's identifier
 * ("certID", section 4.1), the directory's renewalInfo resource, the
 * RenewalInfo object it answers with (section 4.2, parsed here like every
 * other answer: bytes in, each member's type checked), and the two CA ops
 * that use them: renewal_window (the CA's suggested window) and set_renewal
 * (the certID a renewal's newOrder names in "replaces", section 5, sent by
 * ca_acme_order.c only when the directory offers renewalInfo). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/x509v3.h>
#include "ca/ca_acme.h"
#include "p11enroll/clock.h"
#include "p11enroll/peer.h"

/* A RenewalInfo object is two times and a URL: anything near this size is
 * not one, and is refused before json-c spends time on it. */
#define ARI_BODY_MAX (64 * 1024)
/* An RFC 3339 time is about 30 characters; a much longer string is not one
 * (and its digits need no counting). */
#define RFC3339_MAX 64

static int two_or_four_digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

static int leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (the
 * usual era arithmetic): no timegm, whose time_t and TZ rules are the
 * platform's. */
static long long days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int acme_rfc3339_parse(const char *s, long long *out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int year, mon, day, hour, min, sec, off_h = 0, off_m = 0, sign = 0;
	size_t i = 19;
	long long t;

	if (s == NULL || strlen(s) > RFC3339_MAX || !two_or_four_digits(s, 4, &year) ||
	    s[4] != '-' || !two_or_four_digits(s + 5, 2, &mon) || s[7] != '-' ||
	    !two_or_four_digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
	    !two_or_four_digits(s + 11, 2, &hour) || s[13] != ':' ||
	    !two_or_four_digits(s + 14, 2, &min) || s[16] != ':' ||
	    !two_or_four_digits(s + 17, 2, &sec))
		return -1;
	if (s[i] == '.') { /* time-secfrac: at least one digit, read and dropped */
		size_t digits = 0;
		for (i++; s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
		if (digits == 0)
			return -1;
	}
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '-' ? -1 : 1;
		if (!two_or_four_digits(s + i + 1, 2, &off_h) || s[i + 3] != ':' ||
		    !two_or_four_digits(s + i + 4, 2, &off_m))
			return -1;
		i += 6;
	} else {
		return -1;
	}
	if (s[i] != '\0' || mon < 1 || mon > 12 || day < 1 ||
	    day > mdays[mon - 1] + (mon == 2 && leap_year(year)) || hour > 23 || min > 59 ||
	    sec > 60 || off_h > 23 || off_m > 59)
		return -1;
	/* A leap second (:60) counts as the next second, as timegm would. */
	t = days_from_civil(year, mon, day) * 86400LL + hour * 3600LL + min * 60LL + sec -
	    sign * (off_h * 3600LL + off_m * 60LL);
	if (t < 0) /* before 1970: no UTC seconds here, and no CA's window */
		return -1;
	*out = t;
	return 0;
}

p11e_rc acme_ari_cert_id(X509 *cert, char **out, p11e_err *err)
{
	const ASN1_OCTET_STRING *kid = X509_get0_authority_key_id(cert);
	const unsigned char *content;
	unsigned char *der = NULL;
	char *a = NULL, *b = NULL;
	long content_len = 0;
	int der_len, tag = 0, xclass = 0;
	p11e_rc rc = P11E_OK;

	*out = NULL;
	if (kid == NULL || ASN1_STRING_length(kid) <= 0)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "ca acme: the certificate has no authority key identifier, so "
				 "RFC 9773 renewal information cannot name it");
	/* The serial's DER content octets: its encoding without tag and length,
	 * so a leading 0x00 that keeps it positive stays (RFC 9773 4.1). */
	der_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &der);
	content = der;
	if (der_len <= 0 ||
	    (ASN1_get_object(&content, &content_len, &tag, &xclass, der_len) & 0x80) != 0 ||
	    tag != V_ASN1_INTEGER || content_len <= 0) {
		rc = p11e_errf(err, P11E_FAIL,
			       "ca acme: the certificate's serial cannot be encoded");
		goto out;
	}
	a = acme_b64url(ASN1_STRING_get0_data(kid), (size_t)ASN1_STRING_length(kid));
	b = acme_b64url(content, (size_t)content_len);
	if (a == NULL || b == NULL || (*out = acme_fmt("%s.%s", a, b)) == NULL)
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
out:
	OPENSSL_free(der);
	free(a);
	free(b);
	return rc;
}

/* One bound of the window: a string holding an RFC 3339 time. */
static int window_bound(const json_object *win, const char *key, long long *t, char *malformed,
			size_t len)
{
	const char *s = acme_str(win, key);
	char shown[48];

	if (s == NULL) {
		snprintf(malformed, len,
			 "\"suggestedWindow\" has no \"%s\" string (an RFC 3339 time)", key);
		return -1;
	}
	if (acme_rfc3339_parse(s, t) != 0) {
		p11e_peer_copy(shown, sizeof(shown), s);
		snprintf(malformed, len,
			 "\"suggestedWindow\".\"%s\" is not an RFC 3339 time after 1970: \"%s\"",
			 key, shown);
		return -1;
	}
	return 0;
}

int acme_parse_renewal_info(const char *body, size_t len, acme_ari_doc *out)
{
	json_object *o, *win;
	const char *url;

	memset(out, 0, sizeof(*out));
	if (len > ARI_BODY_MAX) {
		snprintf(out->malformed, sizeof(out->malformed),
			 "the renewal information is %zu bytes, more than a RenewalInfo object "
			 "can be",
			 len);
		return 0;
	}
	if ((o = p11e_peer_json_object(body, len)) == NULL)
		return -1;
	if (!json_object_object_get_ex(o, "suggestedWindow", &win) ||
	    !json_object_is_type(win, json_type_object)) {
		snprintf(out->malformed, sizeof(out->malformed),
			 "the renewal information has no \"suggestedWindow\" object");
		goto out;
	}
	if (window_bound(win, "start", &out->start, out->malformed, sizeof(out->malformed)) != 0 ||
	    window_bound(win, "end", &out->end, out->malformed, sizeof(out->malformed)) != 0)
		goto out;
	/* RFC 9773 4.2: such an object is invalid, as if no answer came. */
	if (out->end <= out->start) {
		snprintf(out->malformed, sizeof(out->malformed),
			 "the suggested window ends before it starts");
		goto out;
	}
	/* Optional, for the operator: kept only when it is a URL, and a bad one
	 * does not spoil the window (it is only ever shown, never fetched). */
	url = acme_str(o, "explanationURL");
	if (acme_url_ok(url) && strlen(url) < sizeof(out->explanation))
		p11e_peer_copy(out->explanation, sizeof(out->explanation), url);
out:
	json_object_put(o);
	return 0;
}

/* The renewalInfo resource for cert: base/CERTID. */
static char *renewal_info_url(const char *base, const char *cert_id)
{
	size_t n = strlen(base);

	return acme_fmt("%s%s%s", base, n > 0 && base[n - 1] == '/' ? "" : "/", cert_id);
}

/* X509's notAfter as UTC seconds; -1 if unreadable. */
static long long not_after(X509 *cert)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		return -1;
	return days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) * 86400LL +
	       tm.tm_hour * 3600LL + tm.tm_min * 60LL + tm.tm_sec;
}

p11e_rc acme_renewal_window(void *state, X509 *cert, long long *start, long long *end,
			    p11e_err *err)
{
	acme *a = state;
	static const char *const accept[] = {"Accept: application/json", NULL};
	p11e_http_req req = {.method = "GET", .headers = accept};
	p11e_http_resp resp = {0};
	const char *base;
	char *cert_id = NULL, *url = NULL, why[300];
	long long expires = not_after(cert);
	acme_ari_doc doc;
	p11e_rc rc;

	*start = *end = 0;
	if ((rc = acme_directory(a, err)) != P11E_OK)
		return rc;
	if ((base = acme_dir_url(a, "renewalInfo")) == NULL)
		return p11e_errf(err, P11E_NOT_FOUND,
				 "ca acme: %s offers no renewal information (RFC 9773 "
				 "renewalInfo): the configured renewal window applies",
				 a->url);
	/* RFC 9773 4.3: never asked about an expired certificate. */
	if (expires < 0 || expires <= (long long)p11e_now())
		return p11e_errf(err, P11E_NOT_FOUND,
				 "ca acme: the certificate has expired: it is due for renewal, and "
				 "RFC 9773 has the CA asked no more about it");
	if ((rc = acme_ari_cert_id(cert, &cert_id, err)) != P11E_OK)
		return rc;
	if ((url = renewal_info_url(base, cert_id)) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "out of memory");
		goto out;
	}
	/* An unauthenticated GET (RFC 9773 4.1), with the transport's retries
	 * on connection errors and 5xx. Its Retry-After is how often to ask
	 * again: a `renew` run asks once, so it is not kept. */
	req.url = url;
	if ((rc = p11e_http_request(&a->http, &req, &resp, err)) != P11E_OK)
		goto out;
	if (resp.status != 200) {
		acme_problem(&resp, why, sizeof(why));
		rc = p11e_errf(err,
			       resp.status == 404   ? P11E_NOT_FOUND
			       : resp.status >= 500 ? P11E_FAIL
						    : P11E_CA_REJECTED,
			       "ca acme: renewal information for %s: %s", cert_id, why);
		goto out;
	}
	if (acme_parse_renewal_info(resp.body, resp.body_len, &doc) != 0)
		snprintf(doc.malformed, sizeof(doc.malformed),
			 "the answer is not a JSON object (RFC 9773 RenewalInfo)");
	if (doc.malformed[0] == '\0' && expires >= 0 && doc.start >= expires)
		snprintf(doc.malformed, sizeof(doc.malformed),
			 "the suggested window starts after the certificate expires");
	if (doc.malformed[0] != '\0') {
		rc = p11e_errf(err, P11E_FAIL, "ca acme: renewal information for %s: %s", cert_id,
			       doc.malformed);
		goto out;
	}
	*start = doc.start;
	*end = doc.end;
	/* The CA's explanation, for the operator (ca.h: err on success). */
	if (err != NULL && doc.explanation[0] != '\0')
		p11e_errf(err, P11E_OK, "ca acme: the CA explains its renewal window at %s",
			  doc.explanation);
	else if (err != NULL)
		p11e_errf(err, P11E_OK, "%s", "");
out:
	p11e_http_resp_free(&resp);
	free(cert_id);
	free(url);
	return rc;
}

p11e_rc acme_set_renewal(void *state, const p11e_ca_renewal *renewal, p11e_err *err)
{
	acme *a = state;
	p11e_err mine = {0};
	p11e_rc rc;

	free(a->replaces);
	a->replaces = NULL;
	if (renewal == NULL || renewal->old_cert == NULL)
		return P11E_OK;
	/* A certificate without an AKI cannot be named: an ordinary order, and
	 * no message (err stays the caller's). */
	rc = acme_ari_cert_id(renewal->old_cert, &a->replaces, &mine);
	if (rc == P11E_NOT_FOUND)
		return P11E_OK;
	if (rc != P11E_OK)
		return p11e_errf(err, rc, "%s", mine.msg);
	return P11E_OK;
}
