# ACME revocation (RFC 8555 7.6) against a real Pebble on 127.0.0.1: `ca revoke
# --cert` sends revokeCert signed with the account key that ordered the
# certificate; Pebble's management API then reports it revoked with the reason
# given; again is alreadyRevoked (no error); another account is refused.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/pebble.sh"
W=$TEST_TMP/acme
mkdir -p "$W/pb"
cd "$W" || exit 1
trap 'pebble_stop' EXIT
pebble_start "$W/pb" || { bad "pebble"; finish; }
LISTEN=127.0.0.1:$(free_port)
common="\"url\": \"$PEBBLE_URL\", \"ca_bundle\": \"pb/tls-ca.pem\", \"terms_agreed\": true"
cat >p11enroll.json <<JSON
{ "cas": {
  "pebble": { "type": "acme", $common, "dir": "state/one", "http01_listen": "$LISTEN" },
  "other":  { "type": "acme", $common, "dir": "state/two" } } }
JSON
export P11ENROLL_CONFIG=$W/p11enroll.json

for name in a.example.org b.example.org; do
	out=$(p11e enroll "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" --dns "$name" --ca pebble 2>&1)
	check_eq "enroll $name ($out)" 0 $?
	record "$name" | jq -r .cert_pem >"$W/$name.pem"
done
# Pebble's management API answers with the certificate's status by serial.
status_of() {
	local serial
	serial=$(openssl x509 -in "$W/$1.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
	curl -sf --cacert pb/tls-ca.pem "$PEBBLE_MGMT/cert-status-by-serial/$serial"
}
check_eq "a.example.org valid before" Valid "$(status_of a.example.org | jq -r .Status)"

out=$(p11e ca revoke --ca pebble --cert "$W/a.example.org.pem" --reason keyCompromise 2>&1)
check_eq "ca revoke --ca pebble ($out)" 0 $?
st=$(status_of a.example.org)
check_eq "Pebble says revoked" Revoked "$(echo "$st" | jq -r .Status)"
check_eq "with reason keyCompromise (1)" 1 "$(echo "$st" | jq -r .Reason)"
check_eq "b.example.org untouched" Valid "$(status_of b.example.org | jq -r .Status)"

out=$(p11e --json ca revoke --ca pebble --cert "$W/a.example.org.pem" --reason keyCompromise 2>&1)
check_eq "again: no error ($out)" 0 $?
check_eq "again: already_revoked" true "$(echo "$out" | jq -r .already_revoked)"

# Another account did not order b.example.org: the CA refuses (exit 6) and the
# problem document is shown.
out=$(p11e ca revoke --ca other --cert "$W/b.example.org.pem" --reason superseded 2>&1)
check_eq "another account: exit 6 ($out)" 6 $?
check_contains "names the ACME problem" "$out" "urn:ietf:params:acme:error:"
check_eq "b.example.org still valid" Valid "$(status_of b.example.org | jq -r .Status)"

# An ACME CA revokes what it is shown: a serial alone is exit 2 naming --cert.
out=$(p11e ca revoke --ca pebble --serial 0a1b --reason superseded 2>&1)
check_eq "serial only: exit 2" 2 $?
check_contains "says --cert" "$out" "--cert"

out=$(p11e ca revoke --ca pebble --cert "$W/b.example.org.pem" --reason superseded 2>&1)
check_eq "revoke b (superseded) ($out)" 0 $?
check_eq "b revoked, reason 4" "Revoked 4" "$(status_of b.example.org | jq -r '"\(.Status) \(.Reason)"')"
out=$(p11e ca crl --ca pebble 2>&1)
check_eq "an ACME CA has no CRL from p11enroll: exit 11" 11 $?
finish
