# The test-only shim PKCS#11 module (tests/shim/p11shim.c, $P11SHIM) over SoftHSM:
# pkcs11-tool sees SoftHSM's token through it, and each behaviour its environment
# variables switch on triggers (and only when switched on).
. "$TESTS_DIR/lib/common.sh"
PKCS11_TOOL_MODULE=$P11SHIM
list() { p11tool_opensc --list-objects "$@"; }
keygen() { # keygen ID LABEL
	p11tool_opensc --keypairgen --key-type EC:prime256v1 --id "$1" --label "$2" >/dev/null
}

check_contains "pkcs11-tool lists SoftHSM's token through the shim" \
	"$(pkcs11-tool --module "$P11SHIM" -L 2>&1)" "token label        : test"

# P11SHIM_FIXED_IDS: keys only in the card's slots; a slot's old keys are replaced.
export P11SHIM_FIXED_IDS=01,02,9a
keygen 07 outside
check_eq "fixed IDs: keygen under an ID outside the list is refused" 1 $?
out=$(pkcs11-tool --module "$P11SHIM" --token-label test --login --pin env:TEST_PIN \
	--keypairgen --key-type EC:prime256v1 --id 07 2>&1)
check_contains "fixed IDs: ...with CKR_ATTRIBUTE_VALUE_INVALID" "$out" CKR_ATTRIBUTE_VALUE_INVALID
check "fixed IDs: keygen in slot 02" keygen 02 first
first=$(p11tool_opensc --read-object --type pubkey --id 02 | sha256sum)
check "fixed IDs: keygen in slot 02 again" keygen 02 second
check_eq "fixed IDs: one private key in slot 02 after the second keygen" 1 "$(count_objects privkey 02)"
check_eq "fixed IDs: one public key in slot 02 after the second keygen" 1 "$(count_objects pubkey 02)"
check_contains "fixed IDs: the slot holds the new key" "$(list --type privkey)" "label:      second"
check_not_contains "fixed IDs: the old key is gone" "$(list)" "label:      first"
check "fixed IDs: the public key changed" test "$first" != \
	"$(p11tool_opensc --read-object --type pubkey --id 02 | sha256sum)"
check "fixed IDs: slot 9a (a one-byte ID from the list)" keygen 9a piv-auth
unset P11SHIM_FIXED_IDS
check "without P11SHIM_FIXED_IDS any ID goes" keygen 0707 free

# P11SHIM_IMMUTABLE: CKA_ID and CKA_LABEL of keys and certificates cannot change.
export P11SHIM_IMMUTABLE=1
out=$(pkcs11-tool --module "$P11SHIM" --token-label test --login --pin env:TEST_PIN \
	--set-id 05 --id 02 --type privkey 2>&1)
check_contains "immutable: CKA_ID of a private key is read-only" "$out" CKR_ATTRIBUTE_READ_ONLY
out=$(pkcs11-tool --module "$P11SHIM" --token-label test --login --pin env:TEST_PIN \
	--set-id 05 --id 02 --type pubkey 2>&1)
check_contains "immutable: CKA_ID of a public key is read-only" "$out" CKR_ATTRIBUTE_READ_ONLY
check_eq "immutable: the key kept its ID" 1 "$(count_objects privkey 02)"
unset P11SHIM_IMMUTABLE
check "without P11SHIM_IMMUTABLE the ID changes" \
	p11tool_opensc --set-id 05 --id 02 --type pubkey
check_eq "...and the public key is under the new ID" 1 "$(count_objects pubkey 05)"

# P11SHIM_MAX_OBJECTS: no room beyond N token objects (CKR_DEVICE_MEMORY).
total=$(list | grep -c 'Object;')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=shim \
	-keyout "$TEST_TMP/shim.key" -outform DER -out "$TEST_TMP/shim.der" -days 2 2>/dev/null
export P11SHIM_MAX_OBJECTS=$((total + 1))
check "max objects: one more object fits" \
	p11tool_opensc --write-object "$TEST_TMP/shim.der" --type cert --id 0808 --label fits
out=$(pkcs11-tool --module "$P11SHIM" --token-label test --login --pin env:TEST_PIN \
	--write-object "$TEST_TMP/shim.der" --type cert --id 0909 --label full 2>&1)
check_contains "max objects: the next is refused with CKR_DEVICE_MEMORY" "$out" CKR_DEVICE_MEMORY
out=$(pkcs11-tool --module "$P11SHIM" --token-label test --login --pin env:TEST_PIN \
	--keypairgen --key-type EC:prime256v1 --id 0a 2>&1)
check_contains "max objects: a key pair is refused too" "$out" CKR_DEVICE_MEMORY
check_eq "max objects: nothing was added" $((total + 1)) "$(list | grep -c 'Object;')"
unset P11SHIM_MAX_OBJECTS
check "without P11SHIM_MAX_OBJECTS it fits" \
	p11tool_opensc --write-object "$TEST_TMP/shim.der" --type cert --id 0909 --label full

# p11enroll enrolls through the shim like through SoftHSM itself.
setup_ca
out=$(p11e --module "$P11SHIM" enroll "$TEST_TOKEN_URI" --email shim@example.com \
	--key ec:P-256 --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "p11enroll through the shim: exit 0 ($out)" 0 $?
id=$(key_id shim@example.com)
check_eq "p11enroll through the shim: one certificate under the key's ID" 1 "$(count_objects cert "$id")"
finish
