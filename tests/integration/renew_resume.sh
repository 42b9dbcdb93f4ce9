# A renewal survives a crash anywhere: crash after its start, after every step
# of the pipeline it runs, in the windows between token, vault or CA actions
# and the saves that record them, and while the old generation is settled;
# then `renew IDENTITY` (no --force: a renewal cut short is finished, never
# started twice). Token identities end with exactly one new key and one new
# certificate beside the kept old encryption key; software identities with
# one new PFX whose new escrowed password (entry IDENTITY#2) opens it, the
# old PFX and password untouched.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "resume tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
W=$TEST_TMP/w
mkdir -p "$W"
file_vault "$W" '"post_renew_command": "echo hooked >>'"$W"'/hook.$P11ENROLL_IDENTITY"'
OFFICER=(--officer-key "$W/officer.key")
gen() { record "$1" | jq -r "$2"; }
issued() { grep -c "CN *= *$1\"" "$CA_DIR/index.jsonl" || true; }

token_points=(renew-started key-pending key-made key-renamed key-generated csr-built ca-answered
	issued cert-written stored history-settled before-hook)
for point in "${token_points[@]}"; do
	e="tok-$point@example.com"
	p11e enroll "$TEST_TOKEN_URI" --email "$e" --pin-source "$PIN_SRC" >/dev/null 2>&1
	old=$(key_id "$e")
	P11ENROLL_TEST_CRASH_AFTER=$point p11e renew "$e" --force --pin-source "$PIN_SRC" \
		>/dev/null 2>&1
	check_eq "token $point: the injected crash happened" 86 $?
	out=$(p11e renew "$e" --pin-source "$PIN_SRC" 2>&1)
	check_eq "token $point: the rerun finishes ($out)" 0 $?
	check_contains "token $point: renewed" "$out" "renewed: generation 2"
	new=$(key_id "$e")
	check "token $point: a new key" test "$new" != "$old"
	check_eq "token $point: one new private key" 1 "$(count_objects privkey "$new")"
	check_eq "token $point: one new certificate" 1 "$(count_objects cert "$new")"
	check_eq "token $point: the old key kept" "1 1" \
		"$(count_objects privkey "$old") $(count_objects cert "$old")"
	check_eq "token $point: two private keys in all" 2 \
		"$(p11tool_opensc --list-objects --type privkey | grep -c "label:.*$e")"
	check_eq "token $point: two issuances" 2 "$(issued "$e")"
	check_eq "token $point: settled" "2 done superseded kept" \
		"$(gen "$e" '"\(.generation) \(.step) \(.history[0].state) \(.history[0].on_token)"')"
	check "token $point: the hook ran" test -s "$W/hook.$e"
	# And a third run does nothing.
	out=$(p11e renew "$e" --pin-source "$PIN_SRC" 2>&1)
	check_contains "token $point: then not due" "$out" "not due"
done

soft_points=(renew-started key-pending password-escrowed key-made key-generated csr-built
	ca-answered issued pfx-written escrow-meta key-deleted stored before-hook)
pfx_pub() { PW=$2 openssl pkcs12 -in "$1" -passin env:PW -clcerts -nokeys 2>/dev/null |
	openssl x509 -pubkey -noout 2>/dev/null; }
for point in "${soft_points[@]}"; do
	e="sw-$point@example.com"
	p11e enroll --software --email "$e" >/dev/null 2>&1
	pfx1=$(store_pfx_file "$(gen "$e" .pfx_path)")
	pw1=$(escrowed "$e")
	sum1=$(sha256sum <"$pfx1")
	P11ENROLL_TEST_CRASH_AFTER=$point p11e renew "$e" --force >/dev/null 2>&1
	check_eq "software $point: the injected crash happened" 86 $?
	out=$(p11e renew "$e" "${OFFICER[@]}" 2>&1)
	check_eq "software $point: the rerun finishes ($out)" 0 $?
	pfx2=$(store_pfx_file "$(gen "$e" .pfx_path)")
	check_eq "software $point: the new PFX beside the old" "${pfx1%.p12}.g2.p12" "$pfx2"
	pw2=$(escrowed "$e%232") # the file vault escapes "#"
	check "software $point: a new password" test -n "$pw2" -a "$pw2" != "$pw1"
	check "software $point: the new password opens the new PFX" test -n "$(pfx_pub "$pfx2" "$pw2")"
	check_eq "software $point: the new PFX holds the recorded certificate" \
		"$(gen "$e" .cert_pem | openssl x509 -pubkey -noout)" "$(pfx_pub "$pfx2" "$pw2")"
	check_eq "software $point: the old PFX untouched" "$sum1" "$(sha256sum <"$pfx1")"
	check_eq "software $point: the old password kept" "$pw1" "$(escrowed "$e")"
	check_eq "software $point: no key file left" "" "$(ls "$P11ENROLL_STATE_DIR/keys" 2>/dev/null)"
	check_eq "software $point: two issuances" 2 "$(issued "$e")"
	check_eq "software $point: escrow show, current generation" "$pw2" \
		"$(p11e escrow show "$e" "${OFFICER[@]}" 2>/dev/null)"
	check_eq "software $point: escrow show --generation 1" "$pw1" \
		"$(p11e escrow show "$e" --generation 1 "${OFFICER[@]}" 2>/dev/null)"
	check_eq "software $point: export --generation 1 is the old PFX" "$sum1" \
		"$(p11e export "$e" --generation 1 --format pfx | sha256sum)"
	check_eq "software $point: export is the new PFX" "$(sha256sum <"$pfx2")" \
		"$(p11e export "$e" --format pfx | sha256sum)"
done
out=$(p11e escrow show sw-stored@example.com --generation 3 "${OFFICER[@]}" 2>&1)
check_eq "escrow show --generation 3 (none): exit 10" 10 $?
out=$(p11e export sw-stored@example.com --generation 0 2>&1)
check_eq "export --generation 0: exit 2" 2 $?
check_contains "export --generation 0: names the option" "$out" "generation"
out=$(p11e renew sw-stored@example.com --force --reuse-key 2>&1)
check_eq "software --reuse-key: exit 2" 2 $?
finish
