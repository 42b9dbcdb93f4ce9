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

# Bad values: exit 2 naming the option.
shim_enroll bad@example.com --slot-id zz
check_eq "--slot-id zz: exit 2" 2 $?
check_contains "--slot-id zz: names the option" "$OUT" "slot-id"
shim_enroll bad@example.com --slot-id "$(printf '%0130d' 1)"
check_eq "--slot-id of 65 bytes: exit 2" 2 $?
shim_enroll bad@example.com --piv-slot 9b
check_eq "--piv-slot 9b: exit 2" 2 $?
check_contains "--piv-slot 9b: names the option" "$OUT" "piv-slot"
shim_enroll bad@example.com --piv-slot 9a --slot-id 01
check_eq "--piv-slot with --slot-id: exit 2" 2 $?
shim_enroll bad@example.com --piv-slot 9a --id 01
check_eq "--piv-slot with --id: exit 2" 2 $?
shim_enroll bad@example.com --replace
check_eq "--replace without a slot: exit 2" 2 $?
check_eq "bad values made no record" "" "$(ls "$P11ENROLL_STATE_DIR/identities" 2>/dev/null | grep bad)"

# slot_pub ID: SHA-256 of the public key in slot ID ("" if none).
slot_pub() {
	p11tool_opensc --read-object --type pubkey --id "$1" -o "$TEST_TMP/slot.der" &&
		openssl pkey -pubin -inform DER -in "$TEST_TMP/slot.der" -outform DER | sha256sum
}
cert_email() { # the rfc822Name of the certificate in slot $1
	token_cert "$1" "$TEST_TMP/c.pem" && openssl x509 -in "$TEST_TMP/c.pem" -noout -ext subjectAltName | grep -o 'email:[^,]*'
}

# --- Item 5 (b): a card with fixed key slots (the PIV slots as OpenSC numbers them).
export P11SHIM_FIXED_IDS=01,02,03,04,05,06,07,08,09,0a,0b,0c,0d,0e,0f,10,11,12,13,14,15,16,17,18
shim_enroll piv-a@example.com --piv-slot 9c
check_eq "piv 9c: enrolled ($OUT)" 0 $?
check_eq "piv 9c: key_id is the slot's CKA_ID 02" 02 "$(key_id piv-a@example.com)"
check_eq "piv 9c: the record says the card has fixed slots" fixed "$(record piv-a@example.com | jq -r .slot_kind)"
one_pair "piv 9c" 02
check_contains "piv 9c: p11tool sees key and certificate paired" \
	"$(GNUTLS_PIN=$TEST_PIN p11tool --provider "$P11SHIM" --login --list-all "pkcs11:token=test;id=%02" 2>/dev/null)" \
	"Type: X.509 Certificate"
old=$(slot_pub 02)
shim_enroll piv-b@example.com --piv-slot 9c
check_eq "occupied slot without --replace: exit 9" 9 $?
check_contains "occupied slot: the message names the slot" "$OUT" "slot 02"
check_contains "occupied slot: the message says --replace" "$OUT" "--replace"
check_eq "occupied slot: the old key stays" "$old" "$(slot_pub 02)"
shim_enroll piv-b@example.com --piv-slot 9c --replace
check_eq "--replace: enrolled ($OUT)" 0 $?
one_pair "--replace" 02
check "--replace: a new key in the slot" test "$old" != "$(slot_pub 02)"
check_eq "--replace: the slot's certificate is the new identity's" email:piv-b@example.com "$(cert_email 02)"
check_eq "--replace: the old key is recorded" "$(echo "$old" | cut -d' ' -f1)" \
	"$(record piv-b@example.com | jq -r .slot_old_key_sha256)"

# Crash at each point, rerun: one key in the slot, made once; once the new certificate
# is stored, never the old one beside the new key.
n=0
for point in key-pending slot-recorded old-key-removed key-made key-generated csr-built issued \
	old-cert-removed cert-written stored; do
	n=$((n + 1))
	email="piv-$point@example.com"
	before=$(slot_pub 03)
	P11ENROLL_TEST_CRASH_AFTER=$point shim_enroll "$email" --piv-slot 9d --replace
	check_eq "piv, crash after $point: the crash happened ($OUT)" 86 $?
	after=$(slot_pub 03)
	shim_enroll "$email"
	check_eq "piv, $point: the rerun finishes ($OUT)" 0 $?
	one_pair "piv, $point" 03
	check_eq "piv, $point: the slot's certificate is $email's" "email:$email" "$(cert_email 03)"
	[ $n -gt 1 ] && check "piv, $point: a new key in the slot" test "$before" != "$(slot_pub 03)"
	case $point in key-made | key-generated | csr-built | issued | old-cert-removed | cert-written | stored)
		check_eq "piv, $point: the key the crashed run made is the one kept" "$after" "$(slot_pub 03)" ;;
	esac
done
unset P11SHIM_FIXED_IDS

# --- Item 5 (a): a token where any ID goes: the key is made under its temporary ID and
# moves into the slot once its certificate is stored, the old objects destroyed then.
shim_enroll free-a@example.com --slot-id 0505
check_eq "free slot: enrolled ($OUT)" 0 $?
check_eq "free slot: key_id is the slot's" 0505 "$(key_id free-a@example.com)"
check_eq "free slot: the record says any ID goes" free "$(record free-a@example.com | jq -r .slot_kind)"
one_pair "free slot" 0505
check_eq "free slot: nothing left under the temporary ID" 0 \
	"$(count_objects privkey "$(record free-a@example.com | jq -r .temp_id)")"
shim_enroll free-b@example.com --slot-id 0505
check_eq "free slot occupied without --replace: exit 9" 9 $?
keys=$(privkeys)
n=0
for point in key-made key-generated issued cert-written slot-cleared slot-moved stored; do
	n=$((n + 1))
	email="free-$point@example.com"
	before=$(slot_pub 0505)
	P11ENROLL_TEST_CRASH_AFTER=$point shim_enroll "$email" --slot-id 0505 --replace
	check_eq "free slot, crash after $point: the crash happened ($OUT)" 86 $?
	case $point in key-made | key-generated | issued | cert-written)
		check_eq "free slot, $point: the old key is still in the slot" "$before" "$(slot_pub 0505)"
		check_eq "free slot, $point: and its certificate" 1 "$(count_objects cert 0505)" ;;
	esac
	shim_enroll "$email"
	check_eq "free slot, $point: the rerun finishes ($OUT)" 0 $?
	one_pair "free slot, $point" 0505
	check "free slot, $point: a new key in the slot" test "$before" != "$(slot_pub 0505)"
	check_eq "free slot, $point: the slot's certificate is $email's" "email:$email" "$(cert_email 0505)"
	check_eq "free slot, $point: nothing under the temporary ID" 0 \
		"$(count_objects privkey "$(record "$email" | jq -r .temp_id)")"
	check_eq "free slot, $point: no key pair more than before" "$keys" "$(privkeys)"
done

# Started over before anything was made, without a slot: the record forgets the slot.
P11ENROLL_TEST_CRASH_AFTER=key-pending shim_enroll over@example.com --slot-id 0707
OUT=$(p11e --module "$P11SHIM" enroll "$TEST_TOKEN_URI" --email over@example.com --key rsa:2048 \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "started over without a slot: enrolled ($OUT)" 0 $?
check_eq "started over without a slot: no slot in the record" null "$(record over@example.com | jq .slot_id)"
check_eq "started over without a slot: nothing in slot 0707" 0 "$(count_objects privkey 0707)"
one_pair "started over without a slot" "$(key_id over@example.com)"

# A CA that fails after the key is made: the old key and certificate stay in the slot.
before=$(slot_pub 0505)
P11ENROLL_TEST_CRASH_AFTER=key-generated shim_enroll free-ca@example.com --slot-id 0505 --replace
check_eq "CA failure: the key is made (crash after key-generated)" 86 $?
mv "$CA_DIR" "$CA_DIR.away"
shim_enroll free-ca@example.com
rc=$?
echo "CA failure: exit $rc: $OUT"
check "CA failure: the enrollment fails" test "$rc" != 0
one_pair "CA failure: the old key and certificate" 0505
check_eq "CA failure: the old key is intact" "$before" "$(slot_pub 0505)"
mv "$CA_DIR.away" "$CA_DIR"
shim_enroll free-ca@example.com
check_eq "CA back: the rerun finishes ($OUT)" 0 $?
one_pair "CA back" 0505
check "CA back: the new key is in the slot" test "$before" != "$(slot_pub 0505)"

# A token that does not change CKA_ID either: the key is made in the slot.
export P11SHIM_IMMUTABLE=1
keys=$(privkeys)
shim_enroll free-imm@example.com --slot-id 0606
check_eq "read-only IDs, slot: enrolled ($OUT)" 0 $?
check_eq "read-only IDs, slot: made in the slot" fixed "$(record free-imm@example.com | jq -r .slot_kind)"
one_pair "read-only IDs, slot" 0606
check_eq "read-only IDs, slot: one key pair more, nothing left under the temporary ID" \
	$((keys + 1)) "$(privkeys)"
unset P11SHIM_IMMUTABLE

# A profile's slot: "piv_slot" (or "slot_id") in the config; a bad one is refused at load.
printf '{ "profiles": { "card": { "base": "smime", "piv_slot": "9e" } } }\n' >"$TEST_TMP/card.json"
shim_enroll profile@example.com --config "$TEST_TMP/card.json" --profile card
check_eq "profile piv_slot 9e: enrolled ($OUT)" 0 $?
one_pair "profile piv_slot 9e" 04
printf '{ "profiles": { "card": { "base": "smime", "slot_id": "0x" } } }\n' >"$TEST_TMP/bad.json"
shim_enroll profile-bad@example.com --config "$TEST_TMP/bad.json" --profile card
check_eq "profile slot_id 0x: exit 8" 8 $?
check_contains "profile slot_id 0x: names the key" "$OUT" "profiles.card.slot_id"

# --- A card with no room for the chain: the certificate alone, and the record says so.
p11e ca init --dir "$TEST_TMP/ca2" >/dev/null
export P11SHIM_MAX_OBJECTS=$(($(p11tool_opensc --list-objects | grep -c 'Object;') + 3))
OUT=$(p11e --module "$P11SHIM" enroll "$TEST_TOKEN_URI" --email full@example.com --key ec:P-256 \
	--ca "local:$TEST_TMP/ca2" --pin-source "$PIN_SRC" 2>&1)
check_eq "no room for the chain: enrolled ($OUT)" 0 $?
unset P11SHIM_MAX_OBJECTS
one_pair "no room for the chain" "$(key_id full@example.com)"
check_eq "no room for the chain: the record notes it" \
	"chain not stored on token: no room (CKR_DEVICE_MEMORY)" "$(record full@example.com | jq -r .chain_note)"
check_contains "no room for the chain: status shows it" "$(p11e status 2>&1)" "chain not stored on token"
check_contains "no room for the chain: status --json too" "$(p11e status --json 2>&1)" '"chain_note"'
ca2_ski=$(openssl x509 -in "$TEST_TMP/ca2/ca.pem" -noout -ext subjectKeyIdentifier 2>/dev/null | tail -1 | tr -d ' :')
check_eq "no room for the chain: the CA certificate is not on the token" 0 \
	"$(count_objects cert "${ca2_ski,,}")"

finish
