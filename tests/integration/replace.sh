# p11enroll replace IDENTITY NEW-URI: a lost card replaced. The old card's
# certificates are revoked (keyCompromise; the embedded CA's CRL says so), a new
# generation is enrolled on the new card; an archived identity's key history
# (generations 1 and 2) is recovered onto the new card, so mail encrypted to the
# lost card decrypts there. Crashes inside the replacement rerun cleanly.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/w
mkdir -p "$W"
file_vault "$W"
OFFICER=(--officer-key "$W/officer.key")
printf '%s' "$TEST_PIN" >"$TEST_TMP/engine.pin"
gen() { record "$1" | jq -r "$2"; }
# Fixture only: softhsm2-util takes PINs as arguments; p11enroll never does.
for card in new1 new2; do
	softhsm2-util --init-token --free --label "$card" --so-pin 12345678 --pin "$TEST_PIN" >/dev/null
done
objects_on() { # objects_on LABEL TYPE: how many objects of TYPE with a label of the identity
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$1" --login --pin env:TEST_PIN \
		--list-objects --type "$2" 2>/dev/null | grep -c "label:.*$3" || true
}
crl_has() { # crl_has PEM: openssl verify -crl_check output
	p11e ca crl --dir "$CA_DIR" --out "$TEST_TMP/crl.pem" >/dev/null 2>&1 &&
		openssl verify -crl_check -CAfile "$CA_DIR/ca.pem" -CRLfile "$TEST_TMP/crl.pem" "$1" 2>&1
}

# A token identity: old card's certificate revoked, a new key on the new card.
p11e enroll "$TEST_TOKEN_URI" --email lost@example.com --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "enroll lost@" 0 $?
gen lost@example.com .cert_pem >"$TEST_TMP/lost1.pem"
out=$(p11e replace lost@example.com "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" 2>&1)
check_eq "the same card: exit 2 ($out)" 2 $?
out=$(p11e replace lost@example.com "pkcs11:token=nowhere" --pin-source "$PIN_SRC" 2>&1)
check_eq "no such card: exit 5 ($out)" 5 $?
check_eq "nothing revoked by the refusals" null "$(gen lost@example.com .revoked_reason)"
out=$(p11e replace lost@example.com "pkcs11:token=new1" --pin-source "$PIN_SRC" 2>&1)
check_eq "replace onto new1 ($out)" 0 $?
check_contains "old certificate revoked (CRL)" "$(crl_has "$TEST_TMP/lost1.pem")" "certificate revoked"
check_eq "generation 2 on new1; 1 revoked keyCompromise, elsewhere" \
	"2 revoked keyCompromise elsewhere" \
	"$(gen lost@example.com '"\(.generation) \(.history[0].state) \(.history[0].revoked_reason) \(.history[0].on_token)"')"
check_eq "new1 has the key and certificate" "1 1" \
	"$(objects_on new1 privkey lost@) $(objects_on new1 cert lost@)"
new_serial=$(gen lost@example.com .token_serial)
check "the record names the new card" test "$new_serial" != "$(gen lost@example.com .history[0].token_serial)"
gen lost@example.com .cert_pem >"$TEST_TMP/lost2.pem"
check_contains "generation 2 verifies" "$(crl_has "$TEST_TMP/lost2.pem")" ": OK"
# Run again once finished: nothing to do, exit 0, saying so with the real expiry.
out=$(p11e replace lost@example.com "pkcs11:token=new1" --pin-source "$PIN_SRC" 2>&1)
check_eq "replace again: exit 0 ($out)" 0 $?
check_contains "replace again: already replaced" "$out" "already replaced"
check_contains "replace again: the expiry" "$out" "valid until $(gen lost@example.com .not_after)"
out=$(p11e replace lost@example.com "pkcs11:token=new1" --pin-source "$PIN_SRC" --json 2>&1)
check_eq "replace again --json: not_after, generation, counts" \
	"$(gen lost@example.com .not_after) 2 0 1" \
	"$(jq -r '"\(.not_after) \(.generation) \(.revoked) \(.already_revoked)"' <<<"$out" 2>/dev/null)"
check_eq "replace again: still generation 2" 2 "$(gen lost@example.com .generation)"

# An archived identity with two generations: both keys recovered onto new2.
p11e enroll "$TEST_TOKEN_URI" --archive --email arch@example.com --pin-source "$PIN_SRC" \
	"${OFFICER[@]}" >/dev/null 2>&1
check_eq "enroll --archive arch@" 0 $?
gen arch@example.com .cert_pem >"$TEST_TMP/arch1.pem"
echo "to generation 1" >"$TEST_TMP/m1.txt"
openssl cms -encrypt -binary -aes256 -in "$TEST_TMP/m1.txt" -out "$TEST_TMP/m1.p7m" "$TEST_TMP/arch1.pem"
out=$(p11e renew arch@example.com --force --pin-source "$PIN_SRC" "${OFFICER[@]}" 2>&1)
check_eq "renew arch@ ($out)" 0 $?
gen arch@example.com .cert_pem >"$TEST_TMP/arch2.pem"
echo "to generation 2" >"$TEST_TMP/m2.txt"
openssl cms -encrypt -binary -aes256 -in "$TEST_TMP/m2.txt" -out "$TEST_TMP/m2.p7m" "$TEST_TMP/arch2.pem"
# Everything the replacement needs is checked before the first revocation: the officer
# key (archived keys are restored), the new card logged in, the CA's files.
unchanged() { # the identity as before any replace: generation 2, nothing revoked, new2 empty
	check_eq "$1: nothing revoked, no new generation" "2 null null" \
		"$(gen arch@example.com '"\(.generation) \(.revoked_reason) \(.history[0].revoked_reason)"')"
	check_eq "$1: nothing on new2" 0 "$(objects_on new2 privkey arch@)"
}
out=$(p11e replace arch@example.com "pkcs11:token=new2" --pin-source "$PIN_SRC" 2>&1)
check_eq "no --officer-key: exit 2 ($out)" 2 $?
check_contains "no --officer-key: names the option" "$out" "--officer-key"
unchanged "no --officer-key"
printf '%s' 999999 >"$TEST_TMP/wrong.pin"
out=$(p11e replace arch@example.com "pkcs11:token=new2" --pin-source "file:$TEST_TMP/wrong.pin" \
	"${OFFICER[@]}" 2>&1)
check_eq "wrong PIN for the new card: exit 3 ($out)" 3 $?
unchanged "wrong PIN"
mv "$CA_DIR/ca.key" "$CA_DIR/ca.key.away"
out=$(p11e replace arch@example.com "pkcs11:token=new2" --pin-source "$PIN_SRC" "${OFFICER[@]}" 2>&1)
check "CA key missing: refused ($out)" test $? -ne 0
mv "$CA_DIR/ca.key.away" "$CA_DIR/ca.key"
unchanged "CA key missing"
# A stop after the first revocation says what was done and the command that finishes it:
# generation 1's escrowed password is out of reach (the officer check cannot see that).
mv "$VAULT_DIR/escrow/arch@example.com.cms" "$TEST_TMP/g1.cms"
out=$(p11e replace arch@example.com "pkcs11:token=new2" --pin-source "$PIN_SRC" "${OFFICER[@]}" 2>&1)
check "escrow entry gone: stops ($out)" test $? -ne 0
check_contains "half done: says so" "$out" "half done"
check_contains "half done: what was revoked" "$out" "revoked generations 1 and 2"
check_contains "half done: the command" "$out" "p11enroll replace arch@example.com pkcs11:token=new2 --officer-key"
mv "$TEST_TMP/g1.cms" "$VAULT_DIR/escrow/arch@example.com.cms"
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	P11ENROLL_TEST_CRASH_AFTER=history-recovered p11e replace arch@example.com "pkcs11:token=new2" \
		--pin-source "$PIN_SRC" "${OFFICER[@]}" >/dev/null 2>&1
	check_eq "crash after the first key recovered" 86 $?
fi
out=$(p11e replace arch@example.com "pkcs11:token=new2" --pin-source "$PIN_SRC" "${OFFICER[@]}" 2>&1)
check_eq "the rerun finishes ($out)" 0 $?
check_contains "the rerun: the real counts" "$out" "(0 now, 2 before)"
check_contains "the rerun: the expiry" "$out" "valid until $(gen arch@example.com .not_after)"
check "the rerun: an expiry at all" test -n "$(gen arch@example.com .not_after | tr -d null)"
out=$(p11e replace arch@example.com "pkcs11:token=new2" --pin-source "$PIN_SRC" 2>&1)
check_eq "archived, replace again: exit 0, no officer key needed ($out)" 0 $?
check_contains "archived, replace again: already replaced" "$out" "already replaced"
check_eq "generation 3, both earlier recovered" "3 recovered recovered" \
	"$(gen arch@example.com '"\(.generation) \(.history[0].on_token) \(.history[1].on_token)"')"
check_eq "three private keys of arch@ on new2" 3 "$(objects_on new2 privkey arch@)"
check_eq "three certificates of arch@ on new2" 3 "$(objects_on new2 cert arch@)"
for n in 1 2; do
	id=$(gen arch@example.com ".history[$((n - 1))].key_id")
	uri="pkcs11:token=new2;id=$(pct_id "$id");type=private?pin-source=file:$TEST_TMP/engine.pin"
	check "mail to generation $n decrypts on the new card" \
		openssl cms -decrypt -engine pkcs11 -keyform engine -inkey "$uri" \
		-recip "$TEST_TMP/arch$n.pem" -in "$TEST_TMP/m$n.p7m" -out "$TEST_TMP/m$n.out"
	check_eq "generation $n round trip" "to generation $n" "$(cat "$TEST_TMP/m$n.out" 2>/dev/null)"
	check_contains "generation $n revoked" "$(crl_has "$TEST_TMP/arch$n.pem")" "certificate revoked"
done
check_contains "audit: recover entries" "$(grep -c '"recover"' "$P11ENROLL_STATE_DIR/audit.jsonl")" ""
finish
