/* ACME revocation (RFC 8555 7.6): revokeCert with the certificate's DER and
 * the RFC 5280 reason, signed with the account key, which is authorised for
 * every certificate its account ordered. */
#include <stdlib.h>
#include <string.h>
#include "ca/ca_acme.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

p11e_rc acme_revoke(void *state, const char *serial, X509 *cert, int reason, int *already,
		    p11e_err *err)
{
	acme *a = state;
	unsigned char *der = NULL;
	int der_len;
	char *b64 = NULL, why[300];
	json_object *payload = NULL;
	p11e_http_resp resp;
	const char *url;
	p11e_rc rc;

	*already = 0;
	memset(&resp, 0, sizeof(resp));
	if (cert == NULL)
		return p11e_errf(err, P11E_USAGE,
				 "cert: an ACME CA revokes a certificate it is shown, not a serial "
				 "(%s); give --cert FILE",
				 serial);
	if ((rc = acme_account_ready(a, err)) != P11E_OK)
		return rc;
	if ((url = acme_dir_url(a, "revokeCert")) == NULL)
		return p11e_errf(err, P11E_UNSUPPORTED,
				 "ca acme: the directory at %s offers no revokeCert", a->url);
	der_len = i2d_X509(cert, &der);
	if (der_len <= 0 || (b64 = acme_b64url(der, (size_t)der_len)) == NULL ||
	    (payload = json_object_new_object()) == NULL) {
		rc = p11e_errf(err, P11E_FAIL, "ca acme: cannot encode the certificate");
		goto out;
	}
	json_object_object_add(payload, "certificate", json_object_new_string(b64));
	/* RFC 8555: the reason is optional; unspecified (0) is sent as absent. */
	if (reason != P11E_REASON_UNSPECIFIED)
		json_object_object_add(payload, "reason", json_object_new_int(reason));
	rc = acme_post(a, url, json_object_to_json_string_ext(payload, JSON_FLAGS), 0, NULL, &resp,
		       err);
	if (rc != P11E_OK)
		goto out;
	if (resp.status == 200)
		goto out;
	if (acme_problem_is(&resp, "alreadyRevoked")) {
		*already = 1;
		goto out;
	}
	acme_problem(&resp, why, sizeof(why));
	if (acme_problem_is(&resp, "badRevocationReason"))
		rc = p11e_errf(err, P11E_USAGE, "reason: the ACME CA refuses it: %s", why);
	else if (resp.status >= 400 && resp.status < 500)
		rc = p11e_errf(err, P11E_CA_REJECTED, "ca acme: revokeCert refused: %s", why);
	else
		rc = p11e_errf(err, P11E_FAIL, "ca acme: revokeCert: %s; rerun later", why);
out:
	p11e_http_resp_free(&resp);
	json_object_put(payload);
	free(b64);
	OPENSSL_free(der);
	return rc;
}
