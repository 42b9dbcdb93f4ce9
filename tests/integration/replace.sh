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
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	P11ENROLL_TEST_CRASH_AFTER=history-recovered p11e replace arch@example.com "pkcs11:token=new2" \
		--pin-source "$PIN_SRC" "${OFFICER[@]}" >/dev/null 2>&1
	check_eq "crash after the first key recovered" 86 $?
	out=$(p11e replace arch@example.com "pkcs11:token=new2" --pin-source "$PIN_SRC" "${OFFICER[@]}" 2>&1)
	check_eq "the rerun finishes ($out)" 0 $?
else
	out=$(p11e replace arch@example.com "pkcs11:token=new2" --pin-source "$PIN_SRC" "${OFFICER[@]}" 2>&1)
	check_eq "replace arch@ ($out)" 0 $?
fi
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
