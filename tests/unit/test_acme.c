/* The acme backend's pieces without a CA: base64url, the RFC 7638 thumbprint
 * vector, JWS signatures checked by OpenSSL (ES256, ES384, RS256), the EAB
 * MAC, newOrder identifiers from CSR SANs, problem documents, the config
 * checks, and the built-in http-01 responder fetched over a socket. The whole
 * protocol runs against Pebble in tests/integration/ca_acme.sh. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/x509v3.h>
#include "check.h"
#include "ca/ca_acme.h"

static void b64url(void)
{
	const unsigned char bin[] = {0xfb, 0xff, 0x00, 0x10};
	unsigned char *back = NULL;
	size_t len = 0;
	char *s;

	s = acme_b64url((const unsigned char *)"", 0);
	CHECK(s != NULL && strcmp(s, "") == 0);
	free(s);
	s = acme_b64url((const unsigned char *)"f", 1);
	CHECK(s != NULL && strcmp(s, "Zg") == 0);
	free(s);
	s = acme_b64url(bin, sizeof(bin));
	CHECK(s != NULL && strcmp(s, "-_8AEA") == 0); /* no padding, url alphabet */
	CHECK(acme_b64url_decode(s, &back, &len) == 0 && len == sizeof(bin) &&
	      memcmp(back, bin, len) == 0);
	free(back);
	free(s);
	CHECK(acme_b64url_decode("Zg==\n", &back, &len) == 0 && len == 1 && back[0] == 'f');
	free(back);
	CHECK(acme_b64url_decode("Z", &back, &len) == -1);
	CHECK(acme_b64url_decode("Z*g", &back, &len) == -1);
}

/* RFC 7638 section 3.1: the example RSA key and its thumbprint. */
static void thumbprint_vector(void)
{
	static const char n64[] =
	    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
	    "_"
	    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-"
	    "65YGjQR0_"
	    "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
	    "bFTWhAI4v"
	    "MQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
	unsigned char *nbin = NULL;
	size_t nlen = 0;
	BIGNUM *n = NULL, *e = BN_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	acme_key k = {0};
	p11e_err err = {0};

	CHECK(acme_b64url_decode(n64, &nbin, &nlen) == 0 && nlen == 256);
	n = BN_bin2bn(nbin, (int)nlen, NULL);
	BN_set_word(e, 65537);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
	params = OSSL_PARAM_BLD_to_param(bld);
	CHECK(EVP_PKEY_fromdata_init(ctx) == 1 &&
	      EVP_PKEY_fromdata(ctx, &k.pkey, EVP_PKEY_PUBLIC_KEY, params) == 1);
	CHECK_RC(acme_key_describe(&k, &err), P11E_OK, &err);
	CHECK(strcmp(k.thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs") == 0);
	CHECK(k.alg != NULL && strcmp(k.alg, "RS256") == 0);
	CHECK(k.jwk != NULL &&
	      strncmp(k.jwk, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7", 31) == 0);
	acme_key_clear(&k);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	free(nbin);
}

static unsigned char *decode_field(json_object *jws, const char *field, size_t *len)
{
	unsigned char *out = NULL;

	if (acme_b64url_decode(acme_str(jws, field), &out, len) != 0)
		return NULL;
	return out;
}

/* Signs a JWS with a fresh software key and checks it the way a CA would. */
static void jws_roundtrip(const char *alg, const char *kid)
{
	acme_key k = {0};
	p11e_err err = {0};
	json_object *jws = NULL, *hdr = NULL, *v;
	unsigned char *hbin = NULL, *sig = NULL, *der = NULL;
	size_t hlen = 0, slen = 0;
	char *text = NULL, *input = NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (strcmp(alg, "RS256") == 0)
		k.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		k.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
					   strcmp(alg, "ES256") == 0 ? "P-256" : "P-384");
	CHECK_RC(acme_key_describe(&k, &err), P11E_OK, &err);
	CHECK(k.alg != NULL && strcmp(k.alg, alg) == 0);
	CHECK_RC(acme_jws(&k, "https://ca/new-order", "nonce-1", kid, "{\"a\":1}", &text, &err),
		 P11E_OK, &err);
	jws = text ? json_tokener_parse(text) : NULL;
	hbin = decode_field(jws, "protected", &hlen);
	hdr = hbin ? json_tokener_parse((char *)hbin) : NULL;
	CHECK(hdr != NULL && strcmp(acme_str(hdr, "alg"), alg) == 0);
	CHECK(hdr != NULL && strcmp(acme_str(hdr, "nonce"), "nonce-1") == 0);
	CHECK(hdr != NULL && strcmp(acme_str(hdr, "url"), "https://ca/new-order") == 0);
	if (kid != NULL)
		CHECK(strcmp(acme_str(hdr, "kid"), kid) == 0 &&
		      !json_object_object_get_ex(hdr, "jwk", &v));
	else
		CHECK(json_object_object_get_ex(hdr, "jwk", &v) && acme_str(hdr, "kid") == NULL);
	sig = decode_field(jws, "signature", &slen);
	input = acme_fmt("%s.%s", acme_str(jws, "protected"), acme_str(jws, "payload"));
	CHECK(strcmp(acme_str(jws, "payload"), "eyJhIjoxfQ") == 0);
	if (k.coord != 0) {
		/* JWS r||s back to DER for OpenSSL. */
		ECDSA_SIG *es = ECDSA_SIG_new();
		int dlen;
		CHECK(slen == 2 * k.coord);
		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)k.coord, NULL),
			       BN_bin2bn(sig + k.coord, (int)k.coord, NULL));
		dlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		CHECK(EVP_DigestVerifyInit(md, NULL, k.md, NULL, k.pkey) == 1 &&
		      EVP_DigestVerify(md, der, (size_t)dlen, (unsigned char *)input,
				       strlen(input)) == 1);
	} else {
		CHECK(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k.pkey) == 1 &&
		      EVP_DigestVerify(md, sig, slen, (unsigned char *)input, strlen(input)) == 1);
	}
	/* POST-as-GET: the empty payload. */
	free(text);
	json_object_put(jws);
	CHECK_RC(acme_jws(&k, "https://ca/order/1", "n2", "https://ca/acct/1", NULL, &text, &err),
		 P11E_OK, &err);
	jws = text ? json_tokener_parse(text) : NULL;
	CHECK(jws != NULL && strcmp(acme_str(jws, "payload"), "") == 0);
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	json_object_put(jws);
	json_object_put(hdr);
	free(hbin);
	free(sig);
	free(text);
	free(input);
	acme_key_clear(&k);
}

static void eab(void)
{
	const unsigned char mac[] = "0123456789abcdef0123456789abcdef";
	const char *jwk = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"a\",\"y\":\"b\"}";
	json_object *o = NULL, *hdr = NULL;
	unsigned char *hbin = NULL, *payload = NULL, *sig = NULL, want[32];
	size_t hlen, plen, slen;
	unsigned int wlen = 0;
	char *input;
	p11e_err err = {0};

	CHECK_RC(acme_eab("kid-1", mac, 32, "https://ca/new-acct", jwk, &o, &err), P11E_OK, &err);
	hbin = decode_field(o, "protected", &hlen);
	hdr = hbin ? json_tokener_parse((char *)hbin) : NULL;
	CHECK(hdr != NULL && strcmp(acme_str(hdr, "alg"), "HS256") == 0 &&
	      strcmp(acme_str(hdr, "kid"), "kid-1") == 0 &&
	      strcmp(acme_str(hdr, "url"), "https://ca/new-acct") == 0);
	payload = decode_field(o, "payload", &plen);
	CHECK(payload != NULL && plen == strlen(jwk) && memcmp(payload, jwk, plen) == 0);
	input = acme_fmt("%s.%s", acme_str(o, "protected"), acme_str(o, "payload"));
	HMAC(EVP_sha256(), mac, 32, (unsigned char *)input, strlen(input), want, &wlen);
	sig = decode_field(o, "signature", &slen);
	CHECK(sig != NULL && slen == 32 && memcmp(sig, want, 32) == 0);
	free(input);
	free(hbin);
	free(payload);
	free(sig);
	json_object_put(hdr);
	json_object_put(o);
}

static X509_REQ *csr_with(const char *san)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_NAME *name = X509_REQ_get_subject_name(req);

	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (unsigned char *)"cn.example.org", -1,
				   -1, 0);
	X509_REQ_set_pubkey(req, key);
	if (san != NULL) {
		sk_X509_EXTENSION_push(exts,
				       X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
		X509_REQ_add_extensions(req, exts);
	}
	X509_REQ_sign(req, key, EVP_sha256());
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	EVP_PKEY_free(key);
	return req;
}

static void identifiers(void)
{
	acme a = {0};
	char reason[256];
	p11e_err err = {0};
	X509_REQ *req;
	json_object *ids;
	const char *text;

	req = csr_with("DNS:www.example.org,DNS:WWW.example.org,IP:192.0.2.1,IP:2001:db8::1");
	ids = acme_identifiers(&a, req, reason, sizeof(reason), &err);
	text = ids ? json_object_to_json_string_ext(ids, JSON_C_TO_STRING_PLAIN) : "";
	CHECK(strcmp(text, "[{\"type\":\"dns\",\"value\":\"www.example.org\"},"
			   "{\"type\":\"ip\",\"value\":\"192.0.2.1\"},"
			   "{\"type\":\"ip\",\"value\":\"2001:db8::1\"}]") == 0);
	json_object_put(ids);
	X509_REQ_free(req);

	/* An address: refused unless the CA is set up for RFC 8823. */
	req = csr_with("email:a@example.org");
	ids = acme_identifiers(&a, req, reason, sizeof(reason), &err);
	CHECK(ids == NULL && strstr(reason, "RFC 8823") != NULL);
	a.email_identifiers = 1;
	ids = acme_identifiers(&a, req, reason, sizeof(reason), &err);
	text = ids ? json_object_to_json_string_ext(ids, JSON_C_TO_STRING_PLAIN) : "";
	CHECK(strcmp(text, "[{\"type\":\"email\",\"value\":\"a@example.org\"}]") == 0);
	json_object_put(ids);
	X509_REQ_free(req);

	/* No SAN: the CN. */
	req = csr_with(NULL);
	ids = acme_identifiers(&a, req, reason, sizeof(reason), &err);
	text = ids ? json_object_to_json_string_ext(ids, JSON_C_TO_STRING_PLAIN) : "";
	CHECK(strcmp(text, "[{\"type\":\"dns\",\"value\":\"cn.example.org\"}]") == 0);
	json_object_put(ids);
	X509_REQ_free(req);
}

static void problems(void)
{
	char body[] = "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\","
		      "\"detail\":\"no\\nway\",\"subproblems\":[{\"type\":"
		      "\"urn:ietf:params:acme:error:caa\",\"detail\":\"CAA forbids\","
		      "\"identifier\":{\"type\":\"dns\",\"value\":\"a.example.org\"}}]}";
	p11e_http_resp r = {.status = 403, .body = body, .body_len = sizeof(body) - 1};
	p11e_http_resp plain = {.status = 502, .body = (char *)"oops", .body_len = 4};
	char buf[300];

	acme_problem(&r, buf, sizeof(buf));
	CHECK(strcmp(buf, "urn:ietf:params:acme:error:rejectedIdentifier: no way; a.example.org: "
			  "urn:ietf:params:acme:error:caa: CAA forbids (HTTP 403)") == 0);
	acme_problem(&plain, buf, sizeof(buf));
	CHECK(strcmp(buf, "HTTP 502") == 0);
}

static void config(void)
{
	static const struct {
		const char *json;
		const char *says;
	} bad[] = {
	    {"{\"type\":\"acme\"}", "\"url\" is required"},
	    {"{\"type\":\"acme\",\"url\":\"https://ca/dir\",\"htp01_listen\":\"x\"}",
	     "htp01_listen"},
	    {"{\"type\":\"acme\",\"url\":\"https://ca/dir\",\"eab_kid\":\"k\"}",
	     "eab_hmac_key_file"},
	    {"{\"type\":\"acme\",\"url\":\"https://ca/dir\",\"wait\":-1}", "\"wait\""},
	    {"{\"type\":\"acme\",\"url\":\"https://ca/dir\",\"terms_agreed\":\"yes\"}",
	     "true or false"},
	    {"{\"type\":\"acme\",\"url\":\"https://ca/dir\",\"account_key_file\":\"a\","
	     "\"account_key_uri\":\"pkcs11:\"}",
	     "not both"},
	    {"{\"type\":\"acme\",\"url\":\"https://ca/dir\",\"contact\":[1]}", "contact"},
	};
	p11e_err err = {0};
	void *state = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object *conf = json_tokener_parse(bad[i].json);
		CHECK_RC(p11e_ca_acme_ops.open(conf, &state, &err), P11E_CONFIG, &err);
		CHECK(strstr(err.msg, bad[i].says) != NULL);
		json_object_put(conf);
	}
	{
		json_object *conf = json_tokener_parse("{\"type\":\"acme\",\"url\":\"https://ca/"
						       "dir\",\"contact\":\"ops@example.org\"}");
		acme *a;
		CHECK_RC(p11e_ca_acme_ops.open(conf, &state, &err), P11E_OK, &err);
		a = state;
		CHECK(a != NULL && a->wait_s == 60 && strstr(a->dir, "/acme-") != NULL);
		CHECK(a != NULL &&
		      strcmp(json_object_get_string(json_object_array_get_idx(a->contact, 0)),
			     "mailto:ops@example.org") == 0);
		p11e_ca_acme_ops.close(state);
		json_object_put(conf);
	}
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* GET path from 127.0.0.1:port; the whole answer, malloc'd. */
static char *get(int port, const char *path)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char *buf = calloc(1, 4096), req[512];
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		free(buf);
		return NULL;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	(void)!write(fd, req, strlen(req));
	while ((n = read(fd, buf + got, 4095 - got)) > 0)
		got += (size_t)n;
	close(fd);
	return buf;
}

static void responder(void)
{
	acme a = {0}, b = {0};
	char listen_on[64], *r;
	p11e_err err = {0};
	int port = free_port();

	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", port);
	CHECK_RC(acme_http01_serve(&a, "tok", "tok.tp", &err), P11E_CONFIG, &err);
	CHECK(strstr(err.msg, "http01_listen") != NULL);
	a.http01_listen = listen_on;
	b.http01_listen = listen_on;
	CHECK_RC(acme_http01_serve(&a, "tok-A_1", "tok-A_1.thumb", &err), P11E_OK, &err);
	CHECK_RC(acme_http01_serve(&b, "tokB", "tokB.thumb", &err), P11E_OK, &err);
	CHECK_RC(acme_http01_serve(&a, "../etc", "x", &err), P11E_CA_REJECTED, &err);
	r = get(port, "/.well-known/acme-challenge/tok-A_1");
	CHECK(r != NULL && strncmp(r, "HTTP/1.1 200", 12) == 0 &&
	      strstr(r, "\r\n\r\ntok-A_1.thumb") != NULL);
	free(r);
	r = get(port, "/.well-known/acme-challenge/nope");
	CHECK(r != NULL && strncmp(r, "HTTP/1.1 404", 12) == 0);
	free(r);
	r = get(port, "/");
	CHECK(r != NULL && strncmp(r, "HTTP/1.1 404", 12) == 0);
	free(r);
	/* a withdraws its answers; b's stay, and so does the responder. */
	acme_http01_release(&a);
	r = get(port, "/.well-known/acme-challenge/tok-A_1");
	CHECK(r != NULL && strncmp(r, "HTTP/1.1 404", 12) == 0);
	free(r);
	r = get(port, "/.well-known/acme-challenge/tokB");
	CHECK(r != NULL && strncmp(r, "HTTP/1.1 200", 12) == 0);
	free(r);
	acme_http01_release(&b);
	CHECK(get(port, "/") == NULL); /* stopped with its last user */
}

int main(void)
{
	b64url();
	thumbprint_vector();
	jws_roundtrip("ES256", NULL);
	jws_roundtrip("ES384", "https://ca/acct/7");
	jws_roundtrip("RS256", "https://ca/acct/8");
	eab();
	identifiers();
	problems();
	config();
	responder();
	return check_done();
}
