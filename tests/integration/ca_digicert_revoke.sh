# DigiCert revocation against the CertCentral stub (tests/stubs/digicert_stub.py,
# written from CertCentral's documented "Revoke certificate" call: PUT
# certificate/{id or serial}/revoke): a request an administrator must approve
# is "pending" (exit 7, saying so); with skip_approval the certificate is
# revoked; an unknown serial is exit 10; the API key never shows.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/stubs/digicert.sh"
dc_start || { bad "the digicert stub did not start"; finish; }
trap 'dc_stop' EXIT
dc_mode '{"immediate": true}'
cat >"$TEST_TMP/p11enroll.json" <<JSON
{ "cas": {
    "dc":      { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$DC/api.key" },
    "dc-skip": { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$DC/api.key",
                 "skip_approval": true } } }
JSON
export P11ENROLL_CONFIG=$TEST_TMP/p11enroll.json
for who in a b; do
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$who@example.com" --ca dc --pin-source "$PIN_SRC" 2>&1)
	check_eq "enroll $who through the stub ($out)" 0 $?
	record "$who@example.com" | jq -r .cert_pem >"$TEST_TMP/$who.pem"
done
status_of() { jq -r --arg e "$1" '.orders[] | select(.certificate.emails[0] == $e) | .status' \
	"$DC/orders.json"; }

out=$(p11e ca revoke --ca dc --cert "$TEST_TMP/a.pem" --reason keyCompromise 2>&1)
check_eq "without skip_approval: pending (exit 7) ($out)" 7 $?
check_contains "says an administrator must approve" "$out" "awaits an administrator's approval"
check_eq "a: not revoked yet" issued "$(status_of a@example.com)"
check_eq "the reason went in comments" keyCompromise \
	"$(jq -r '.orders[] | select(.certificate.emails[0] == "a@example.com") | .revocations[0].comments' "$DC/orders.json")"

out=$(p11e ca revoke --ca dc-skip --serial "$(openssl x509 -in "$TEST_TMP/b.pem" -noout -serial)" \
	--reason superseded 2>&1)
check_eq "skip_approval, by serial: revoked ($out)" 0 $?
check_eq "b: revoked at the stub" revoked "$(status_of b@example.com)"
out=$(p11e ca revoke --ca dc-skip --cert "$TEST_TMP/b.pem" --reason superseded 2>&1)
check_eq "again: DigiCert refuses (exit 6)" 6 $?
check_contains "with DigiCert's words" "$out" "already revoked"

out=$(p11e ca revoke --ca dc --serial 0a0b0c --reason superseded 2>&1)
check_eq "an unknown serial: exit 10" 10 $?
check_not_contains "the API key never shows" "$out" "$DC_KEY"
check_eq "the stub saw PUT .../revoke" 4 "$(grep -c 'PUT /services/v2/certificate/.*/revoke' "$DC/requests.log")"
finish
