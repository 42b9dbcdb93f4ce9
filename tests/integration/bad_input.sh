# Bad input: a one-line error naming the problem, the documented exit code,
# state intact (no record, no key), and never a PIN in the output.
. "$TESTS_DIR/lib/common.sh"
setup_ca
ca="local:$CA_DIR"

objects() { p11tool_opensc --list-objects | md5sum; }
one_line() { check_eq "$1: one line" 1 "$(printf '%s\n' "$2" | wc -l)"; }
before=$(objects)

# Wrong PIN: exit 3, reported once, not retried, PIN not shown.
echo 999999 >"$TEST_TMP/wrong.pin"
out=$(p11e enroll "$TEST_TOKEN_URI" --email a@example.com --ca "$ca" \
	--pin-source "file:$TEST_TMP/wrong.pin" 2>&1)
check_eq "wrong PIN: exit code" 3 $?
one_line "wrong PIN" "$out"
check_contains "wrong PIN: says so" "$out" "PIN incorrect"
check_not_contains "wrong PIN: PIN not echoed" "$out" 999999
# SoftHSM marks the user PIN count low after a failure: the message carries it.
check_contains "wrong PIN: token's tries state reported" "$out" "token reports: count low"
check_contains "tokens shows the PIN counter flag" \
	"$(p11e tokens --module "$SOFTHSM_MODULE")" "user PIN count low"
# The right PIN still works afterwards: we did not burn tries by retrying.
check_eq "right PIN after a wrong one" 0 \
	"$(p11e list "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" >/dev/null 2>&1; echo $?)"

# A PIN-looking pin source is refused without echoing it.
out=$(p11e list "$TEST_TOKEN_URI" --pin-source 123456 2>&1)
check_eq "PIN given as a source: usage" 2 $?
check_not_contains "PIN given as a source: not echoed" "$out" 123456

# PIN in the URI is refused.
out=$(p11e list "pkcs11:token=test?pin-value=123456" 2>&1)
check_eq "pin-value in the URI: usage" 2 $?
check_not_contains "pin-value: not echoed" "$out" 123456

out=$(p11e enroll "pkcs11:token=no-such-token" --email a@example.com --ca "$ca" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "unknown token: exit code" 5 $?
one_line "unknown token" "$out"
check_contains "unknown token: lists what exists" "$out" "test"

out=$(p11e enroll "$TEST_TOKEN_URI" --email a@example.com --key rsa:1024 --ca "$ca" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "unsupported key type: exit code" 2 $?
check_contains "unsupported key type: names the field" "$out" "key type"

out=$(p11e enroll "$TEST_TOKEN_URI" --email "not an email" --ca "$ca" --pin-source "$PIN_SRC" 2>&1)
check_eq "malformed email: exit code" 2 $?
check_contains "malformed email: names the field" "$out" "email"

echo '{ "state_dir": ' >"$TEST_TMP/broken.json"
out=$(p11e enroll "$TEST_TOKEN_URI" --email a@example.com --config "$TEST_TMP/broken.json" 2>&1)
check_eq "unparsable config: exit code" 8 $?
one_line "unparsable config" "$out"
out=$(p11e status --config "$TEST_TMP/missing.json" 2>&1)
check_eq "missing config: exit code" 8 $?
# Unreadable (a directory reads as an error even for root, unlike chmod 000).
mkdir -p "$TEST_TMP/unreadable.json"
out=$(p11e status --config "$TEST_TMP/unreadable.json" 2>&1)
check_eq "unreadable config: exit code" 8 $?
check_contains "unreadable config: names the file" "$out" unreadable.json
echo '{ "statedir": "/tmp" }' >"$TEST_TMP/typo.json"
out=$(p11e status --config "$TEST_TMP/typo.json" 2>&1)
check_eq "config with a typo: exit code" 8 $?
check_contains "config with a typo: names the key" "$out" statedir

mkdir -p "$TEST_TMP/ca2"
p11e ca init --dir "$TEST_TMP/ca2" >/dev/null
rm "$TEST_TMP/ca2/ca.key"
out=$(p11e enroll "$TEST_TOKEN_URI" --email a@example.com --ca "local:$TEST_TMP/ca2" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "missing CA key: exit code" 10 $?
check_contains "missing CA key: says what to do" "$out" "ca init"

out=$(p11e enroll "$TEST_TOKEN_URI" --email a@example.com --ca no-such-ca --pin-source "$PIN_SRC" 2>&1)
check_eq "unknown CA: exit code" 8 $?

out=$(p11e enroll "$TEST_TOKEN_URI" --email a@example.com --id zz --ca "$ca" --pin-source "$PIN_SRC" 2>&1)
check_eq "bad --id: exit code" 2 $?

out=$(p11e enroll "$TEST_TOKEN_URI" --bogus 2>&1)
check_eq "unknown option: exit code" 2 $?
out=$(p11e frobnicate 2>&1)
check_eq "unknown command: exit code" 2 $?

# State intact: nothing on the token, no record left behind by bad input.
check_eq "token unchanged by bad input" "$before" "$(objects)"
check_eq "no records from bad input" 0 "$(ls "$P11ENROLL_STATE_DIR/identities" 2>/dev/null | grep -c json)"

# An existing object under an explicit --id is never overwritten.
p11e enroll "$TEST_TOKEN_URI" --email first@example.com --id 0a0b --ca "$ca" \
	--pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "explicit --id: enrolled" 0 $?
out=$(p11e enroll "$TEST_TOKEN_URI" --email second@example.com --id 0a0b --ca "$ca" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "explicit --id taken: exit code" 9 $?
check_eq "explicit --id taken: still one key" 1 "$(count_objects privkey 0a0b)"

# A PIN never reaches the state dir or the CA dir.
check_eq "no PIN in state or CA files" 0 \
	"$(grep -rl "$TEST_PIN" "$P11ENROLL_STATE_DIR" "$CA_DIR" 2>/dev/null | wc -l)"
finish
