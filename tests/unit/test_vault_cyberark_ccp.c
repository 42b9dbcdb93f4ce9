/* The cyberark vault's Central Credential Provider path: how a request that
 * failed in transfer is explained (cyberark_ccp_transfer_error). A client
 * certificate the provider refuses surfaces, as the timing falls, as a TLS
 * alert read, a failed send (getpeername's errno 107, a broken pipe) or a
 * failed receive; each must name the certificate files, whatever libcurl's
 * message says. The refusal itself, against a provider, is
 * tests/integration/vault_cyberark.sh. */
#include <stdio.h>
#include <string.h>
#include <curl/curl.h>
#include "check.h"
#include "p11enroll/error.h"
#include "vault/vault_cyberark.h"

static void refused_certificate(void)
{
	cyberark k = {0};
	p11e_err err = {0};
	/* What libcurl 7.88 reported in 30 refusals by the test's provider: */
	static const struct {
		int code;
		const char *words;
	} seen[] = {
	    {CURLE_SEND_ERROR, "getpeername() failed with errno 107: Transport endpoint is not "
			       "connected"},
	    {CURLE_SEND_ERROR, "SSL_write() error: error:0A00007F:SSL routines::bad write retry"},
	    {CURLE_RECV_ERROR, "OpenSSL SSL_read: OpenSSL/3.0.19: error:0A000418:SSL "
			       "routines::tlsv1 alert unknown ca, errno 0"},
	    {CURLE_RECV_ERROR, "Recv failure: Connection reset by peer"},
	    {CURLE_SSL_CONNECT_ERROR, "OpenSSL SSL_connect: Connection reset by peer"},
	    {CURLE_GOT_NOTHING, "Empty reply from server"},
	};

	k.ccp_url = "https://ccp.example";
	k.ccp_cert = "app.pem";
	k.ccp_key = "app.key";
	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		CHECK_RC(cyberark_ccp_transfer_error(&k, seen[i].code, seen[i].words, &err),
			 P11E_FAIL, &err);
		CHECK(strstr(err.msg, "\"ccp_cert_file\" app.pem") != NULL);
		CHECK(strstr(err.msg, "\"ccp_key_file\" app.key") != NULL);
		CHECK(strstr(err.msg, "does not accept the client certificate") != NULL);
		CHECK(strstr(err.msg, "unreachable") == NULL);
		CHECK(strstr(err.msg, seen[i].words) != NULL); /* libcurl's words kept */
	}
	/* The client's own files unusable. */
	CHECK_RC(cyberark_ccp_transfer_error(&k, CURLE_SSL_CERTPROBLEM, "could not load PEM", &err),
		 P11E_FAIL, &err);
	CHECK(strstr(err.msg, "cannot use the client certificate") != NULL);
	CHECK(strstr(err.msg, "app.key") != NULL);
	/* The provider's certificate not trusted: the bundle, not the client's. */
	CHECK_RC(cyberark_ccp_transfer_error(&k, CURLE_PEER_FAILED_VERIFICATION,
					     "SSL certificate problem: unable to get local issuer",
					     &err),
		 P11E_FAIL, &err);
	CHECK(strstr(err.msg, "\"ca_bundle\"") != NULL);
	CHECK(strstr(err.msg, "ccp_cert_file") == NULL);
	/* No connection at all: unreachable, no file to blame. */
	CHECK_RC(cyberark_ccp_transfer_error(&k, CURLE_COULDNT_CONNECT,
					     "Failed to connect to ccp.example port 443", &err),
		 P11E_FAIL, &err);
	CHECK(strstr(err.msg, "unreachable") != NULL);
	CHECK(strstr(err.msg, "ccp_cert_file") == NULL);
	CHECK_RC(cyberark_ccp_transfer_error(&k, CURLE_OPERATION_TIMEDOUT, "timed out", &err),
		 P11E_FAIL, &err);
	CHECK(strstr(err.msg, "unreachable") != NULL);
}

int main(void)
{
	refused_certificate();
	return check_done();
}
