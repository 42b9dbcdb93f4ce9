# Real cards through the test-only shim (tests/shim/p11shim.c, $P11SHIM) over SoftHSM:
# tokens that do not change CKA_ID (P11SHIM_IMMUTABLE), fixed key slots
# (P11SHIM_FIXED_IDS: --slot-id, --piv-slot, --replace) and no room for the chain
# (P11SHIM_MAX_OBJECTS). Every crash point, then a rerun: never two keys.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "fixed_slots needs a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
PKCS11_TOOL_MODULE=$P11SHIM
setup_ca
shim_enroll() { # shim_enroll EMAIL ARGS...: enroll through the shim, output in $OUT
	local email=$1
	shift
	OUT=$(p11e --module "$P11SHIM" enroll "$TEST_TOKEN_URI" --email "$email" --key ec:P-256 \
		--ca "local:$CA_DIR" --pin-source "$PIN_SRC" "$@" 2>&1)
}
privkeys() { p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object'; }
# one_pair WHAT ID: one private key, one public key and one certificate under ID, the
# certificate for that very key (pkcs11-tool reads both back).
one_pair() {
	check_eq "$1: one private key under $2" 1 "$(count_objects privkey "$2")"
	check_eq "$1: one public key under $2" 1 "$(count_objects pubkey "$2")"
	check_eq "$1: one certificate under $2" 1 "$(count_objects cert "$2")"
	p11tool_opensc --read-object --type pubkey --id "$2" -o "$TEST_TMP/pub.der"
	token_cert "$2" "$TEST_TMP/cert.pem"
	check_eq "$1: the certificate under $2 is for the key under $2" \
		"$(openssl pkey -pubin -inform DER -in "$TEST_TMP/pub.der" -outform DER | sha256sum)" \
		"$(openssl x509 -in "$TEST_TMP/cert.pem" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum)"
}

# --- Item 4: a token that does not change CKA_ID keeps the key under its temporary ID.
export P11SHIM_IMMUTABLE=1
keys=0
for point in none key-made key-renamed cert-written; do
	email="immutable-$point@example.com"
	if [ "$point" != none ]; then
		P11ENROLL_TEST_CRASH_AFTER=$point shim_enroll "$email"
		check_eq "immutable, crash after $point: the crash happened ($OUT)" 86 $?
	fi
	shim_enroll "$email"
	check_eq "immutable, $point: the (re)run finishes ($OUT)" 0 $?
	keys=$((keys + 1))
	check_eq "immutable, $point: done" done "$(record "$email" | jq -r .step)"
	id=$(key_id "$email")
	check_eq "immutable, $point: key_id is the temporary ID" "$(record "$email" | jq -r .temp_id)" "$id"
	check_contains "immutable, $point: the record says why" \
		"$(record "$email" | jq -r .key_id_note)" "does not change CKA_ID"
	one_pair "immutable, $point" "$id"
	check_eq "immutable, $point: no other key was made" "$keys" "$(privkeys)"
done
unset P11SHIM_IMMUTABLE

finish
