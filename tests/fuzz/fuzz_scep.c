/* Fuzz harness: a SCEP CA's answers (src/ca/ca_scep*.c). The first byte
 * picks the parser: even, GetCACert's certificates (one DER certificate or a
 * certs-only PKCS#7); odd, a CertRep (scep_reply_decode) checked against a
 * fixed CA and request: one fixed RSA test key and its self-signed
 * certificate (below, made for this harness and nothing else) play both the
 * CA and the requester, so that seeds signed with it verify on every run and
 * the fuzzer gets past the signature. */
#include <stdint.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/pem.h>
#include "ca/ca_scep.h"

/* A test key for this harness only (openssl req -x509 -newkey rsa:2048). */
static const char test_key[] = "-----BEGIN PRIVATE KEY-----\n"
			       "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC9ijEclVo5WIOZ\n"
			       "PLc94q+z4KdksmdIh5rCJIzXCW2BhHEnuO5fuYODNtsU9c1n7veAVPgL97vqto+i\n"
			       "N6hyaUYogEoQLS50nBbNFYrL0NcFuH8pVRyB/pqWbHcfSJOhs4RMlbdiHWAgrvIH\n"
			       "WCvYtqqtEQVh8S2gH6B/E2QbCe38GtUQiVsDrIbZT9X5SWbuubPrNj8203Ie2LCN\n"
			       "LL47baygNGmnDUMxNYymKGbMzOG7lKYjw60jqHaatXIXjn0BjPFBO2WaXyfNjEB+\n"
			       "fHa+eRVjIrNVQt+dJgm5VZ+kGRYZ1bgDMUwWbViBvHkaAaoEZhVHD1D16K2eARmg\n"
			       "4xsjtGp7AgMBAAECggEAJhp86wkfXT3tHsY09Ez5E4lLPZQb7VnNg9ADPEuZ5xqw\n"
			       "ANNNoJLT3HIPsvQDOiyxNuxd/VHtRi8zSuIzi+ScBRJdUUkz+J9UeiAlifnO8Eh5\n"
			       "z95bX8rGWw0tGW3mt/A13YuPlTrgk1F4OH/COMvoHei5E0p/6JvTERjd3A2v+Sk2\n"
			       "zAWnUDUtPiINu0zj5BvgKP6nY27HUYzjPaSDzpAN6WpWwstzAIYMuWFCEjHqr54A\n"
			       "LWkwP22adFJDDNTn2mAaquB6EvJ4nYk/2ggZNW0HQweBDE5/CJU9RCnGUHlLAS2F\n"
			       "NS7qvpy5HRO6aFTKwPgXmZZY/OkqUws5Vv+J25n64QKBgQDyEuu6cRDucr00yRZ2\n"
			       "UrchJiScrHkM57eWflI5dQlsSsmINDuL8VPqLU+M366I3UwT1qS3lY7pz7HEuW9l\n"
			       "qUxJFecfz1VJrPuWM9EyrtZHqi7/RIRslarp8kXQo4nfhtPjTrAOPr6GQokETxQf\n"
			       "tsIXnMiZ0fjKI5Qa2WZk7+rjiwKBgQDIcZbM744QEY66CIdc26twzrDS0vtiRmDg\n"
			       "pjlLBnoVDWIETf5uDfGBN7wpqURCQo1cPKfu4Nu0RxrF7SHvKBCufA+k6vPhbieY\n"
			       "fNcT1914mGP9+850Ip7SQrLhq5ivo1aUjPECMwSJHQt6T1M4O4PDfuhoJj8QdNGt\n"
			       "iPYeJ26y0QKBgFx237XahFYgW6cy/DJ8C9lMoYV6184XIGgKnku2KcBEnNA661fb\n"
			       "+WqknhM4SYmbxfh573b0WJ90pvl2v1c8oJf2Fs9uuawnt/26kzjh0ZWUKtl0iYSU\n"
			       "crFjykkUfpB0BrF3mAYI72uHNKEBt7UZcO/mAjXHH1nO1z6eNd9uSPFbAoGAHoee\n"
			       "jmxWWQAzmwY9h9k1jaMNr67O9zL9AnqO82xzH83ABiPTAvRAuovArx/G88irO0dJ\n"
			       "1MqO7DCAVXE+3+xcThc7UsUujEF46nLpV25jn0CmykKWOX4kbqYWFOVMBkR8pXeq\n"
			       "JcmbgT7ZRrHaXRBDi31C7MoWhO0mGqZnxkP/SmECgYEAl61zplxpPAo2O+aF9wRU\n"
			       "snRnYhzX714HcmOrmWFg4Lj3w4AqSO4igtEKfXFHRydaisHPg/N4x8SrJc/P4QMt\n"
			       "d6xeyv8gUdDn3GHt1vB7CaXb/U/IDkTumhiNyT6qIQtDYDp52XWMyh7jM1vKgiNE\n"
			       "u4HoFmL6Hp36Rqorq+VjTLk=\n"
			       "-----END PRIVATE KEY-----\n";
static const char test_cert[] = "-----BEGIN CERTIFICATE-----\n"
				"MIIDETCCAfmgAwIBAgIUBRWBxbK+aPvU1OG7ATKFeSKgDdAwDQYJKoZIhvcNAQEL\n"
				"BQAwFzEVMBMGA1UEAwwMZnV6ei1zY2VwLWNhMCAXDTI2MTEyOTEzMDk0MFoYDzIx\n"
				"MjYxMTA1MTMwOTQwWjAXMRUwEwYDVQQDDAxmdXp6LXNjZXAtY2EwggEiMA0GCSqG\n"
				"SIb3DQEBAQUAA4IBDwAwggEKAoIBAQC9ijEclVo5WIOZPLc94q+z4KdksmdIh5rC\n"
				"JIzXCW2BhHEnuO5fuYODNtsU9c1n7veAVPgL97vqto+iN6hyaUYogEoQLS50nBbN\n"
				"FYrL0NcFuH8pVRyB/pqWbHcfSJOhs4RMlbdiHWAgrvIHWCvYtqqtEQVh8S2gH6B/\n"
				"E2QbCe38GtUQiVsDrIbZT9X5SWbuubPrNj8203Ie2LCNLL47baygNGmnDUMxNYym\n"
				"KGbMzOG7lKYjw60jqHaatXIXjn0BjPFBO2WaXyfNjEB+fHa+eRVjIrNVQt+dJgm5\n"
				"VZ+kGRYZ1bgDMUwWbViBvHkaAaoEZhVHD1D16K2eARmg4xsjtGp7AgMBAAGjUzBR\n"
				"MB0GA1UdDgQWBBS1lS6D15v8GOsnOqUGgZKOV2oPKTAfBgNVHSMEGDAWgBS1lS6D\n"
				"15v8GOsnOqUGgZKOV2oPKTAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUA\n"
				"A4IBAQBIB6RFteYpm23YD1TbaqRwy1AbsL0xWRme1WOD1SEo6J/BSkYfOB2u+413\n"
				"LXCIp9T5AkpFMoeuUYNUATHwv7Kj2bnpEWafS9j+BXFqQKEUUDJQShQB4SIm3GNp\n"
				"nGYTbAvlZnmaWRgLVGyrwmdAX15lQ0OA8NRryd1p/cTN4zdK/EAwPWihPsj6WdQ7\n"
				"9EGpfXISICQXxzGdEkiVx9G/cGdJ/vpSQk5HJd1w7EcnXGpPo4n5MlC/mYPd8Y+Q\n"
				"jv6/EXihwCXhZqGnvzTlpJykrQxGQZpmCicHfLqyh+rnDiai/G8HbfFnwCM8Lz9g\n"
				"jFCvD9gOdAE0bEgcr75ZZJ0h+jrq\n"
				"-----END CERTIFICATE-----\n";

typedef struct fixture {
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) * ca;
	scep_request req;
} fixture;

/* Made once per process; libFuzzer runs one input at a time. */
static fixture *setup(void)
{
	static fixture f;
	static int done;
	BIO *kb, *cb;

	if (done)
		return f.ca ? &f : NULL;
	done = 1;
	kb = BIO_new_mem_buf(test_key, -1);
	cb = BIO_new_mem_buf(test_cert, -1);
	f.key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	f.cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	BIO_free(kb);
	BIO_free(cb);
	if (f.key == NULL || f.cert == NULL)
		return NULL;
	f.ca = sk_X509_new_null();
	if (f.ca == NULL || !X509_up_ref(f.cert) || !sk_X509_push(f.ca, f.cert)) {
		sk_X509_free(f.ca);
		f.ca = NULL;
		return NULL;
	}
	f.req.message_type = SCEP_PKCSREQ;
	f.req.transaction_id = "fuzz-transaction";
	memset(f.req.nonce, 0x5a, sizeof(f.req.nonce));
	f.req.signer = f.cert;
	f.req.key = f.key;
	f.req.md = EVP_sha256();
	f.req.recipient = f.cert;
	return &f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fixture *f = setup();
	scep_reply reply;
	p11e_err err;

	if (size < 1 || f == NULL)
		return 0;
	if (data[0] % 2 == 0) {
		sk_X509_pop_free(scep_parse_ca_certs(data + 1, size - 1), X509_free);
	} else if (scep_reply_decode(&f->req, data + 1, size - 1, f->ca, &reply, &err) == P11E_OK) {
		scep_reply_clear(&reply);
	}
	ERR_clear_error();
	return 0;
}
