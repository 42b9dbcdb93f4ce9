/* Reading certsrv's answers (ca_certsrv.h): bounded searches in bytes that
 * may hold NULs, ids checked digit by digit, every text cleaned before it
 * can reach a message. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include "ca/ca_certsrv.h"
#include "p11enroll/peer.h"

/* Where needle starts in body[0..len), or NULL. */
static const char *find(const char *body, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; body != NULL && n <= len && i <= len - n; i++)
		if (memcmp(body + i, needle, n) == 0)
			return body + i;
	return NULL;
}

/* The decimal id at p (up to end), followed by one of stops; -1 if none. */
static long read_id(const char *p, const char *end, const char *stops)
{
	long v = 0;
	const char *start = p;

	while (p < end && isdigit((unsigned char)*p)) {
		v = v * 10 + (*p - '0');
		if (v > CERTSRV_REQ_ID_MAX)
			return -1;
		p++;
	}
	if (p == start || v == 0 || p == end || strchr(stops, *p) == NULL || *p == '\0')
		return -1;
	return v;
}

/* Copies the text from p up to the first of stops (or end, or 255 bytes)
 * into out, cleaned and trimmed. */
static void copy_until(char *out, size_t cap, const char *p, const char *end, const char *stops)
{
	size_t n = 0;

	while (p < end && n + 1 < cap && *p != '\0' && strchr(stops, *p) == NULL)
		out[n++] = *p++;
	out[n] = '\0';
	p11e_peer_clean(out);
	while (n > 0 && out[n - 1] == ' ')
		out[--n] = '\0';
	if (n > 0 && out[0] == ' ')
		memmove(out, out + strspn(out, " "), strlen(out + strspn(out, " ")) + 1);
}

int certsrv_parse_submit(const char *body, size_t len, certsrv_answer *out)
{
	const char *end = body + len, *p;

	memset(out, 0, sizeof(*out));
	if (body == NULL)
		return -1;
	/* Issued: the page links the certificate (its href escapes the '&'). */
	if ((p = find(body, len, "certnew.cer?ReqID=")) != NULL) {
		out->req_id = read_id(p + strlen("certnew.cer?ReqID="), end, "&");
		if (out->req_id < 0)
			return out->req_id = 0, -1;
		out->disposition = CERTSRV_ISSUED;
		return 0;
	}
	if ((p = find(body, len, "Your Request Id is ")) != NULL) {
		out->req_id = read_id(p + strlen("Your Request Id is "), end, ".");
		if (out->req_id < 0)
			return out->req_id = 0, -1;
		out->disposition = CERTSRV_PENDING;
		snprintf(out->message, sizeof(out->message), "Taken Under Submission");
		return 0;
	}
	if ((p = find(body, len, "The disposition message is \"")) != NULL) {
		p += strlen("The disposition message is \"");
		copy_until(out->message, sizeof(out->message), p, end, "\"<\r\n");
		out->disposition = CERTSRV_DENIED;
		return 0;
	}
	return -1;
}

static int is_pkix_cert(const char *content_type)
{
	size_t n = strlen("application/pkix-cert");

	return content_type != NULL && strncasecmp(content_type, "application/pkix-cert", n) == 0 &&
	       (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ');
}

/* A PEM (or DER) certificate in body. */
static X509 *decode_cert(const char *body, size_t len)
{
	const unsigned char *der = (const unsigned char *)body;
	BIO *b;
	X509 *x = NULL;

	if (len > 0 && find(body, len, "-----BEGIN CERTIFICATE-----") != NULL) {
		if ((b = BIO_new_mem_buf(body, (int)len)) == NULL)
			return NULL;
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		BIO_free(b);
		return x;
	}
	x = d2i_X509(NULL, &der, (long)len);
	if (x != NULL && der != (const unsigned char *)body + len) {
		X509_free(x); /* trailing bytes: not one certificate */
		x = NULL;
	}
	return x;
}

int certsrv_parse_cert(const char *content_type, const char *body, size_t len, X509 **cert,
		       certsrv_answer *out)
{
	const char *end = body + len, *p;

	memset(out, 0, sizeof(*out));
	*cert = NULL;
	if (body == NULL || len > 1024 * 1024)
		return -1;
	if (is_pkix_cert(content_type)) {
		if ((*cert = decode_cert(body, len)) == NULL)
			return -1;
		out->disposition = CERTSRV_ISSUED;
		return 0;
	}
	if ((p = find(body, len, "Disposition message:")) == NULL)
		return -1;
	p += strlen("Disposition message:");
	/* The page puts the text after tabs (or a table cell's markup). */
	while (p < end && (*p == '\t' || *p == ' ' || *p == '\r' || *p == '\n'))
		p++;
	while (p < end && *p == '<') { /* skip a tag such as </TD><TD> */
		const char *gt = memchr(p, '>', (size_t)(end - p));
		if (gt == NULL)
			return -1;
		p = gt + 1;
		while (p < end && (*p == '\t' || *p == ' ' || *p == '\r' || *p == '\n'))
			p++;
	}
	copy_until(out->message, sizeof(out->message), p, end, "<\r\n");
	if (out->message[0] == '\0')
		return -1;
	if (strncasecmp(out->message, "Taken Under Submission", 22) == 0)
		out->disposition = CERTSRV_PENDING;
	else
		out->disposition = CERTSRV_DENIED;
	return 0;
}

int certsrv_parse_renewals(const char *body, size_t len, int *renewals)
{
	const char *p = find(body, len, "var nRenewals=");
	long v;

	*renewals = 0;
	if (p == NULL)
		return -1;
	p += strlen("var nRenewals=");
	if (p < body + len && *p == '0' && p + 1 < body + len && p[1] == ';')
		return 0;
	v = read_id(p, body + len, ";");
	if (v < 0 || v > 9999)
		return -1;
	*renewals = (int)v;
	return 0;
}

/* body as DER: as it is, or from PEM / bare base64 (line breaks allowed). */
static unsigned char *chain_der(const char *body, size_t len, size_t *der_len)
{
	const char *p = body, *end = body + len, *pem;
	unsigned char *der;
	size_t n = 0;
	int v, pad = 0;

	if (len > 0 && (unsigned char)body[0] == 0x30) { /* DER already */
		if ((der = OPENSSL_malloc(len)) != NULL)
			memcpy(der, body, len);
		*der_len = len;
		return der;
	}
	if ((pem = find(body, len, "-----BEGIN PKCS7-----")) != NULL) {
		p = pem + strlen("-----BEGIN PKCS7-----");
		if ((end = find(p, (size_t)(body + len - p), "-----END PKCS7-----")) == NULL)
			return NULL;
	}
	if ((der = OPENSSL_malloc((size_t)(end - p) / 4 * 3 + 3)) == NULL)
		return NULL;
	{
		unsigned int acc = 0;
		int bits = 0;

		for (; p < end; p++) {
			unsigned char c = (unsigned char)*p;
			if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
				continue;
			if (c == '=') {
				pad++;
				continue;
			}
			if (pad > 0)
				goto bad; /* data after padding */
			if (c >= 'A' && c <= 'Z')
				v = c - 'A';
			else if (c >= 'a' && c <= 'z')
				v = c - 'a' + 26;
			else if (c >= '0' && c <= '9')
				v = c - '0' + 52;
			else if (c == '+')
				v = 62;
			else if (c == '/')
				v = 63;
			else
				goto bad;
			acc = (acc << 6) | (unsigned int)v;
			if ((bits += 6) >= 8) {
				bits -= 8;
				der[n++] = (unsigned char)(acc >> bits);
			}
		}
	}
	if (pad > 2 || n == 0)
		goto bad;
	*der_len = n;
	return der;
bad:
	OPENSSL_free(der);
	return NULL;
}

int certsrv_parse_chain(const char *body, size_t len, STACK_OF(X509) * *out)
{
	unsigned char *der;
	const unsigned char *q;
	size_t der_len = 0;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *certs = NULL, *copy = NULL;
	int rc = -1;

	*out = NULL;
	if (body == NULL || len == 0 || len > 1024 * 1024 ||
	    (der = chain_der(body, len, &der_len)) == NULL)
		return -1;
	q = der;
	p7 = d2i_PKCS7(NULL, &q, (long)der_len);
	if (p7 == NULL || q != der + der_len || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL)
		goto out;
	certs = p7->d.sign->cert;
	if (certs == NULL || sk_X509_num(certs) < 1 || (copy = sk_X509_new_null()) == NULL)
		goto out;
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		if (x == NULL || !X509_up_ref(x))
			goto out;
		if (!sk_X509_push(copy, x)) {
			X509_free(x);
			goto out;
		}
	}
	*out = copy;
	copy = NULL;
	rc = 0;
out:
	sk_X509_pop_free(copy, X509_free);
	PKCS7_free(p7);
	OPENSSL_free(der);
	return rc;
}
