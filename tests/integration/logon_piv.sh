# issue 22 item 4: on a PIV-shaped token (manufacturer "piv_II", as OpenSC's PIV
# driver says; emulated by the test-only shim's P11SHIM_MANUFACTURER over SoftHSM,
# with P11SHIM_FIXED_IDS for the PIV slots' CKA_IDs 01 to 04) a smartcard-logon key
# goes to PIV slot 9a (CKA_ID 01) unless a slot or an ID is given; elsewhere, and for
# other profiles, nothing changes. An occupied 9a is refused without --replace.
. "$TESTS_DIR/lib/common.sh"
PKCS11_TOOL_MODULE=$P11SHIM
setup_ca
logon() { # logon EMAIL ARGS...: smartcard-logon through the shim, output in $OUT
	local email=$1
	shift
	OUT=$(p11e --module "$P11SHIM" enroll "$TEST_TOKEN_URI" --profile smartcard-logon \
		--email "$email" --upn "$email" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" "$@" 2>&1)
}

# Not PIV-shaped: the key's ID is the SHA-1 of its public key, no slot.
logon plain@example.org
check_eq "plain token: enroll ($OUT)" 0 $?
check_eq "plain token: no slot" "null" "$(record plain@example.org | jq -r .slot_id)"
check_eq "plain token: key_id is 20 bytes" 40 "$(key_id plain@example.org | tr -d '\n' | wc -c)"

export P11SHIM_MANUFACTURER=piv_II P11SHIM_FIXED_IDS=01,02,03,04
check_contains "the shim reports piv_II" "$(p11tool_opensc --list-token-slots 2>/dev/null)" "piv_II"
logon alice@example.org
check_eq "PIV-shaped: enroll ($OUT)" 0 $?
check_eq "PIV-shaped: slot 9a (CKA_ID 01), key and certificate there" "01 01" \
	"$(record alice@example.org | jq -r '"\(.slot_id) \(.key_id)"')"
check_eq "one private key under 01" 1 "$(count_objects privkey 01)"
check_eq "one certificate under 01" 1 "$(count_objects cert 01)"

# 9a holds alice's now: another logon key there only with --replace.
logon bob@example.org
check_eq "PIV-shaped, 9a occupied: exit 9" 9 $?
check_contains "names the slot and --replace" "$OUT" "slot 01 already holds"
check "nothing made for bob" no_record bob@example.org
# An explicit slot wins.
logon carol@example.org --piv-slot 9c
check_eq "PIV-shaped, --piv-slot 9c ($OUT)" 0 $?
check_eq "carol in 9c (CKA_ID 02)" "02" "$(record carol@example.org | jq -r .key_id)"
# An S/MIME signing key beside it, in 9d, leaves 9a alone.
OUT=$(p11e --module "$P11SHIM" enroll "$TEST_TOKEN_URI" --profile smime-sign \
	--email dave@example.org --piv-slot 9d --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "PIV-shaped, smime-sign in 9d ($OUT)" 0 $?
check_eq "alice still in 9a" 1 "$(count_objects privkey 01)"
finish
