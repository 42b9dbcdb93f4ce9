# The embedded CA with its key on a token: generated there (sensitive, never
# extractable), no ca.key file, and it issues for keys on another token, through
# p11-kit-proxy and with both tokens behind one directly loaded module.
. "$TESTS_DIR/lib/common.sh"
TCA=$TEST_TMP/token-ca
echo 11223344 >"$TEST_TMP/ca-so.pin"
echo 5678 >"$TEST_TMP/ca.pin"
p11e init-token "pkcs11:model=SoftHSM%20v2" --label ca --so-pin-source "file:$TEST_TMP/ca-so.pin" \
	--pin-source "file:$TEST_TMP/ca.pin" >/dev/null
check_eq "second token for the CA" 0 $?

out=$(p11e ca init --dir "$TCA" --key-uri "pkcs11:token=ca" --pin-source "file:$TEST_TMP/ca.pin" \
	--subject "/O=Example/CN=Token CA" 2>&1)
check_eq "ca init --key-uri ($out)" 0 $?
check "no key file in the CA dir" test ! -e "$TCA/ca.key"
check_contains "ca-key.json names the key by URI" "$(cat "$TCA/ca-key.json")" "pkcs11:"
check_not_contains "ca-key.json holds no PIN" "$(cat "$TCA/ca-key.json")" 5678
CA_PIN=5678 # for pkcs11-tool, through its environment
export CA_PIN
priv=$(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label ca --login --pin env:CA_PIN \
	--list-objects --type privkey 2>/dev/null)
check_contains "CA key on the token: sensitive, never extractable" "$priv" "never extractable"
openssl x509 -in "$TCA/ca.pem" -noout -ext basicConstraints >"$TEST_TMP/bc.txt" 2>&1
check_contains "ca.pem is a CA" "$(cat "$TEST_TMP/bc.txt")" "CA:TRUE"
check "ca.pem is self-signed by the token key" openssl verify -CAfile "$TCA/ca.pem" "$TCA/ca.pem"

# Enroll a user on the test token through p11-kit-proxy, and one with both
# tokens behind the directly loaded SoftHSM module.
for how in proxy direct; do
	email="$how@example.com"
	args=()
	[ "$how" = direct ] && args=(--module "$SOFTHSM_MODULE")
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --ca "local:$TCA" \
		--pin-source "$PIN_SRC" "${args[@]}" 2>&1)
	check_eq "$how: enroll with the token CA ($out)" 0 $?
	token_cert "$(key_id "$email")" "$TEST_TMP/$how.pem"
	check "$how: openssl verify against the token CA" \
		openssl verify -CAfile "$TCA/ca.pem" -purpose smimesign "$TEST_TMP/$how.pem"
done

# The CA's token PIN missing: a clear error before any user key is made.
before=$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')
mv "$TEST_TMP/ca.pin" "$TEST_TMP/ca.pin.away"
out=$(p11e enroll "$TEST_TOKEN_URI" --email late@example.com --ca "local:$TCA" --pin-source "$PIN_SRC" 2>&1)
check_eq "CA PIN source missing: usage error" 2 $?
check_contains "CA PIN source missing: names the file" "$out" ca.pin
check_eq "CA PIN source missing: no user key made" "$before" \
	"$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')"
mv "$TEST_TMP/ca.pin.away" "$TEST_TMP/ca.pin"

out=$(p11e ca init --dir "$TEST_TMP/ed-ca" --key ed25519 --key-uri "pkcs11:token=ca" \
	--pin-source "file:$TEST_TMP/ca.pin" 2>&1)
check_eq "ed25519 CA key on a token: refused" 2 $?
finish
