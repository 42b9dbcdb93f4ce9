# tokens, init-token, list, csr and status, as an operator uses them, with the
# default module (p11-kit-proxy) and with --module.
. "$TESTS_DIR/lib/common.sh"
setup_ca

json=$(p11e tokens --json)
check_eq "tokens --json: exit code" 0 $?
check_eq "tokens: the SoftHSM module is listed among p11-kit's" 1 \
	"$(jq '[.modules[] | select(.path | test("softhsm"))] | length' <<<"$json")"
check_eq "tokens: the test token, initialised, under SoftHSM" true \
	"$(jq -r '.modules[] | select(.path | test("softhsm")) | .tokens[] | select(.label=="test") | .initialized' <<<"$json")"
check_eq "tokens: one blank token" 1 \
	"$(jq '[.modules[].tokens[] | select(.initialized==false)] | length' <<<"$json")"
human=$(p11e tokens --module "$SOFTHSM_MODULE")
check_contains "tokens --module: lists the token" "$human" "token:  test"
check_contains "tokens: prints a URI" "$human" "pkcs11:"
check_contains "tokens: shows flags" "$human" "initialised, login required"

# init-token: PINs from sources, then the new token works.
echo 87654321 >"$TEST_TMP/so2.pin"
echo 4321 >"$TEST_TMP/user2.pin"
out=$(p11e init-token "pkcs11:model=SoftHSM%20v2" --label second \
	--so-pin-source "file:$TEST_TMP/so2.pin" --pin-source "file:$TEST_TMP/user2.pin" 2>&1)
check_eq "init-token: exit code ($out)" 0 $?
out=$(p11e init-token "pkcs11:token=test" --label again --so-pin-source "file:$TEST_TMP/so2.pin" \
	--pin-source "file:$TEST_TMP/user2.pin" 2>&1)
check_eq "init-token never wipes an initialised token" 9 $?
out=$(p11e enroll "pkcs11:token=second" --email bob@example.com --ca "local:$CA_DIR" \
	--pin-source "file:$TEST_TMP/user2.pin" 2>&1)
check_eq "enroll onto the new token ($out)" 0 $?

# csr: PEM alone on stdout, and a later enroll continues with that key.
p11e csr "$TEST_TOKEN_URI" --email carol@example.com --pin-source "$PIN_SRC" >"$TEST_TMP/carol.csr"
check_eq "csr: exit code" 0 $?
check_eq "csr: stdout is exactly one PEM CSR" "-----BEGIN CERTIFICATE REQUEST-----" "$(head -1 "$TEST_TMP/carol.csr")"
check "csr: openssl req -verify" openssl req -verify -noout -in "$TEST_TMP/carol.csr"
check_eq "csr: record stops at csr-built" csr-built "$(record carol@example.com | jq -r .step)"
p11e enroll "$TEST_TOKEN_URI" --email carol@example.com --ca "local:$CA_DIR" --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "enroll after csr: exit code" 0 $?
id=$(key_id carol@example.com)
check_eq "enroll after csr: still one key" 1 "$(count_objects privkey "$id")"
token_cert "$id" "$TEST_TMP/carol.pem"
check_eq "the certificate certifies the CSR's key" \
	"$(openssl req -in "$TEST_TMP/carol.csr" -noout -pubkey | sha256sum)" \
	"$(openssl x509 -in "$TEST_TMP/carol.pem" -noout -pubkey | sha256sum)"
# csr for an existing key by id in the URI.
p11e csr "pkcs11:token=test;id=$(pct_id "$id")" --email carol@example.com --pin-source "$PIN_SRC" >"$TEST_TMP/again.csr"
check "csr for an existing key: verifies" openssl req -verify -noout -in "$TEST_TMP/again.csr"
check_eq "csr for an existing key: same key" \
	"$(openssl req -in "$TEST_TMP/carol.csr" -noout -pubkey | sha256sum)" \
	"$(openssl req -in "$TEST_TMP/again.csr" -noout -pubkey | sha256sum)"
# ... or by its label (object=), with another digest.
p11e csr "pkcs11:token=test;object=carol@example.com" --email carol@example.com --digest sha512 \
	--pin-source "$PIN_SRC" >"$TEST_TMP/by-label.csr"
check_eq "csr by object=: exit code" 0 $?
check_contains "csr --digest sha512" "$(openssl req -in "$TEST_TMP/by-label.csr" -noout -text)" ecdsa-with-SHA512
check_eq "csr by object=: same key" \
	"$(openssl req -in "$TEST_TMP/carol.csr" -noout -pubkey | sha256sum)" \
	"$(openssl req -in "$TEST_TMP/by-label.csr" -noout -pubkey | sha256sum)"
out=$(p11e csr "pkcs11:token=test;object=nobody" --email carol@example.com --pin-source "$PIN_SRC" 2>&1)
check_eq "csr by an unknown label: not found" 10 $?

# list: pairs with email and expiry.
lj=$(p11e list "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" --json)
check_eq "list --json: carol's key has its certificate" "carol@example.com" \
	"$(jq -r --arg id "$id" '.[] | select(.id==$id) | .email' <<<"$lj")"
check_eq "list --json: private key present" true \
	"$(jq -r --arg id "$id" '.[] | select(.id==$id) | .private_key' <<<"$lj")"
check_contains "list: human table" "$(p11e list "$TEST_TOKEN_URI" --pin-source "$PIN_SRC")" carol@example.com

# The URI alone can carry the module and the PIN source (RFC 7512 query attributes).
out=$(p11e list "pkcs11:token=test?module-path=$SOFTHSM_MODULE&pin-source=file:$TEST_PIN_FILE" --json 2>&1)
check_eq "URI with module-path and pin-source: exit code" 0 $?
check_contains "URI with module-path and pin-source: lists keys" "$out" carol@example.com

# status
sj=$(p11e status --json)
check_eq "status --json: two records" 2 "$(jq length <<<"$sj")"
check_eq "status: carol done" done "$(jq -r '.[] | select(.identity=="carol@example.com") | .step' <<<"$sj")"

# ca cert prints the chain for openssl.
p11e ca cert --ca "local:$CA_DIR" >"$TEST_TMP/chain.pem"
check "ca cert: verifies carol" openssl verify -CAfile "$TEST_TMP/chain.pem" -purpose smimesign "$TEST_TMP/carol.pem"
finish
