# With a config file, a token URI and an email are all enroll needs: the CA,
# profile, module and PIN source come from the config. Profiles from the config
# shape the certificate.
. "$TESTS_DIR/lib/common.sh"
setup_ca
mkdir -p "$TEST_TMP/etc"
cat >"$TEST_TMP/etc/config.json" <<JSON
{
  "module": "$SOFTHSM_MODULE",
  "state_dir": "state",
  "pin_source": "file:$TEST_PIN_FILE",
  "default_ca": "corp",
  "default_profile": "staff",
  "cas": { "corp": { "type": "local", "dir": "$CA_DIR" } },
  "profiles": {
    "staff": { "base": "smime", "subject": "/O=Example Corp/OU=Staff", "validity_days": 30,
               "key": "ec:P-384" },
    "signers": { "base": "smime-sign", "key": "rsa:2048", "digest": "sha384" }
  }
}
JSON
export P11ENROLL_CONFIG=$TEST_TMP/etc/config.json
state=$TEST_TMP/etc/state
# rec_of ID: the record, from the config's state_dir (over PostgreSQL: the store's).
rec_of() { if on_pg; then record "$1"; else P11ENROLL_STATE_DIR=$state record "$1"; fi; }

out=$(p11e enroll "$TEST_TOKEN_URI" --email dana@example.com --name "Dana Example" 2>&1)
check_eq "enroll with only URI and email ($out)" 0 $?
on_pg ||
	check "record in the config's state_dir (relative to the file)" test -f "$state/identities/dana@example.com.json"
rec=$(rec_of dana@example.com)
check_eq "key type from the profile" ec:P-384 "$(jq -r .key_type <<<"$rec")"
check_eq "CA from default_ca" corp "$(jq -r .ca <<<"$rec")"
jq -r .cert_pem <<<"$rec" >"$TEST_TMP/dana.pem"
check_contains "subject from the profile" \
	"$(openssl x509 -in "$TEST_TMP/dana.pem" -noout -subject)" "O = Example Corp, OU = Staff, CN = Dana Example"
days=$(( ($(date -d "$(openssl x509 -in "$TEST_TMP/dana.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)) / 86400 ))
check "validity from the profile: 30 days, not the 365 default ($days)" test "$days" -ge 29 -a "$days" -le 30
check "verifies" openssl verify -CAfile "$CA_DIR/ca.pem" -purpose smimesign "$TEST_TMP/dana.pem"

# RSA-PSS CSR, a config profile with its own digest.
out=$(p11e enroll "$TEST_TOKEN_URI" --email erin@example.com --profile signers --rsa-pss 2>&1)
check_eq "enroll --rsa-pss ($out)" 0 $?
rec_of erin@example.com | jq -r .csr_pem >"$TEST_TMP/erin.csr"
check "RSA-PSS CSR verifies" openssl req -verify -noout -in "$TEST_TMP/erin.csr"
csr_text=$(openssl req -in "$TEST_TMP/erin.csr" -noout -text)
check_contains "CSR signed with RSASSA-PSS" "$csr_text" rsassaPss
check_contains "CSR digest from the profile" "$csr_text" sha384

# A rerun that contradicts the record is refused, the record untouched.
before=$(rec_of erin@example.com)
out=$(p11e enroll "$TEST_TOKEN_URI" --email erin@example.com --profile staff 2>&1)
check_eq "contradicting rerun: exit code" 9 $?
check_contains "contradicting rerun: names the field" "$out" profile
check_eq "contradicting rerun: record untouched" "$before" "$(rec_of erin@example.com)"

# An unknown profile name and a config CA that does not exist.
out=$(p11e enroll "$TEST_TOKEN_URI" --email fay@example.com --profile nobody 2>&1)
check_eq "unknown profile: exit code" 10 $?
check_contains "unknown profile: lists the built-ins" "$out" smime-sign
check_eq "status --json lists both" 2 "$(p11e status --json | jq length)"
finish
