# The card's SO PIN and the helpdesk's unblock (issue 23) on a second implementation that
# has an SO PIN and locks a user PIN: opencryptoki 3.8's soft token (tests/lib/opencryptoki.sh;
# root only). A card as it comes from its maker (factory SO PIN) registered with a crash
# after its document was saved, rerun: registered and audited once, the SO PIN replaced by a
# generated one escrowed in the vault (the factory one refused); a user enrolled onto it;
# the user PIN locked by wrong PINs, with `pin status` following the token's count; `pin
# unblock --officer-key` with the escrowed SO PIN, audited with the operator, the new PIN
# signing; `pin rotate-so` (the vault's entry N+1 first), once cleanly and once cut after
# "sending" and rerun (not probed while the SO count is low), then unblock again with the
# rotated PIN; a suspend cut after its certificate was held, rerun: one audit line per move.
#
# What opencryptoki 3.8's soft token does (measured here, and checked below):
# - The user PIN locks after 3 wrong logins, and the token's flags are the count: after 1
#   wrong PIN CKF_USER_PIN_COUNT_LOW, after 2 CKF_USER_PIN_FINAL_TRY (COUNT_LOW cleared),
#   after 3 CKF_USER_PIN_LOCKED (FINAL_TRY cleared; the right PIN is refused too,
#   CKR_PIN_LOCKED). A right login clears them. SoftHSM never locks (card_so_pin.sh sees
#   COUNT_LOW only).
# - C_InitPIN (the unblock) clears CKF_USER_PIN_LOCKED only: unblocked from a lock, the
#   count is clean; unblocked with COUNT_LOW or FINAL_TRY set, that flag stays, and the new
#   PIN has fewer tries, until its first right login.
# - The SO PIN counts the same way (1 wrong: CKF_SO_PIN_COUNT_LOW, 2: CKF_SO_PIN_FINAL_TRY),
#   and a right SO login clears it. So one wrong SO PIN is enough for p11enroll not to probe
#   a card whose SO PIN change was cut short (exit 4) until an officer logs in right.
# - PINs of 4 to 8 characters: the generated SO PIN is 8 characters (24 on SoftHSM), from
#   the password alphabet, which the token takes. The SO PIN is changed by C_SetPIN in an SO
#   session and the user PIN set by C_InitPIN, as on SoftHSM.
# - Every soft token says serial "123" (3.8 has one per machine: its store path is fixed),
#   so its card document is "123".
. "$TESTS_DIR/lib/opencryptoki.sh"
ock_enter_namespace "$@"
. "$TESTS_DIR/lib/common.sh"
ock_setup || finish
ock_start || finish
LOG=$TEST_TMP/all-output.log
: >"$LOG"
setup_ca
file_vault "$TEST_TMP"
KEY=file:$TEST_TMP/officer.key
ock_init_token card1 || finish
PKCS11_TOOL_MODULE=$OCK_MODULE
U=pkcs11:token=card1
ock() { p11e_logged "$@" --module "$OCK_MODULE"; }
flags() { # the user and SO PIN flags as pin status --json says them, one word each
	p11e pin status "$U" --module "$OCK_MODULE" --json | jq -r '[
		(if .user_pin_count_low then "count-low" else empty end),
		(if .user_pin_final_try then "final-try" else empty end),
		(if .user_pin_locked then "locked" else empty end),
		(if .so_pin_count_low then "so-count-low" else empty end),
		(if .so_pin_final_try then "so-final-try" else empty end),
		(if .so_pin_locked then "so-locked" else empty end)] | join(" ")'
}
SERIAL=$(p11e pin status "$U" --module "$OCK_MODULE" --json | jq -r .serial)
check_eq "the soft token's serial" 123 "$SERIAL"
card() { p11e card show "$SERIAL" --json; }
audit_of() { # MOVE: how many audit lines this card has for it
	audit_lines 2>/dev/null | jq -r --arg s "$SERIAL" --arg a "$1" 'select(.action == $a and .serial == $s) | .action' |
		grep -c .
}
so_audit() { # the card-so-pin entries as "what:N" words
	audit_lines | jq -r --arg s "$SERIAL" \
		'select(.action == "card-so-pin" and .serial == $s) | "\(.so_pin):\(.generation)"' |
		tr '\n' ' ' | sed 's/ $//'
}
escrowed_so() { # N: the escrowed SO PIN number N as an officer reads it with any CMS tool
	openssl cms -decrypt -inform DER -in "$VAULT_DIR/escrow/card-so-pin%2F$SERIAL%2F$1.cms" \
		-recip "$VAULT_DIR/officers.pem" -inkey "$VAULT_DIR/officer.key" 2>/dev/null
}
export WRONG_PIN=9999 SO_TRY NEW_PIN
user_login() { # PIN_ENV: one user login with pkcs11-tool, its stderr
	pkcs11-tool --module "$OCK_MODULE" --token-label card1 --login --pin "env:$1" -O 2>&1 >/dev/null
}

echo "== register: a crash after the document was saved, then the rerun personalises"
P11ENROLL_TEST_CRASH_AFTER=card-registered ock card register "$U" --so-pin-source "file:$OCK_SO_PIN_FILE"
check_eq "crash at card-registered: exit 86" 86 $?
check_eq "saved in stock, not audited yet, nothing escrowed" "in-stock 0 null" \
	"$(card | jq -r .state) $(audit_of card-register) $(card | jq -r .so_pin.escrowed)"
ock card register "$U" --so-pin-source "file:$OCK_SO_PIN_FILE" --operator desk1
check_eq "register rerun: exit 0 ($OUT)" 0 $?
check_eq "register audited once" 1 "$(audit_of card-register)"
check_eq "manufacturer and model as opencryptoki says them" "IBM Corp. IBM SoftTok" \
	"$(card | jq -r '"\(.manufacturer) \(.model)"')"
check_eq "the SO PIN escrowed as number 1" "1 changed:1" "$(card | jq .so_pin.escrowed) $(so_audit)"
SO1=$(escrowed_so 1)
check_eq "the escrowed SO PIN: 8 characters, the token's longest" 8 "${#SO1}"
# One SO login with the factory PIN (it costs an SO try: once only).
SO_TRY=$(cat "$OCK_SO_PIN_FILE")
out=$(pkcs11-tool --module "$OCK_MODULE" --token-label card1 --login --login-type so \
	--so-pin env:SO_TRY --init-pin --new-pin env:TEST_PIN 2>&1)
check_eq "the factory SO PIN is refused" 1 $?
check_contains "... as incorrect" "$out" CKR_PIN_INCORRECT
check_eq "pin status: the refusal counted (SO count low)" so-count-low "$(flags)"

echo "== a user enrolled onto the card; the user PIN locked by wrong PINs"
ock_leak_checks_off # the keygen below is slow under the leak check (tests/lib/opencryptoki.sh)
ock enroll "$U" --email alice@example.org --key rsa:2048 --ca "local:$CA_DIR" --pin-source "$PIN_SRC"
check_eq "enroll onto the card: exit 0 ($OUT)" 0 $?
check_eq "card show: alice on it" alice@example.org "$(card | jq -r '.generations[0].identity')"
ock card issue "$SERIAL" --reason "handed to alice"
check_eq "issue: exit 0 ($OUT)" 0 $?
# (The SO count stays low from the factory PIN's refusal until a right SO login.)
for want in count-low final-try locked; do
	out=$(user_login WRONG_PIN)
	check_contains "a wrong user PIN: refused" "$out" CKR_PIN_INCORRECT
	check_eq "pin status after it: $want" "$want so-count-low" "$(flags)"
done
out=$(user_login TEST_PIN)
check_contains "locked: the right PIN refused too" "$out" CKR_PIN_LOCKED
ock pin status "$U"
check_contains "pin status says what to do" "$OUT" "p11enroll pin unblock"
ock pin change "$U" --pin-source "$PIN_SRC" --new-pin-source "file:$TEST_PIN_FILE"
check_eq "p11enroll with the right PIN: exit 4 (locked) ($OUT)" 4 $?

echo "== pin unblock with the escrowed SO PIN"
NEW_PIN=24681357
printf '%s\n' "$NEW_PIN" >"$TEST_TMP/new-pin"
ock pin unblock "$U" --new-pin-source "file:$TEST_TMP/new-pin"
check_eq "unblock with neither --officer-key nor an SO PIN source (no terminal to prompt): exit 2 ($OUT)" 2 $?
check_eq "... no SO login tried" "locked so-count-low" "$(flags)"
ock pin unblock "$U" --officer-key "$KEY" --new-pin-source "file:$TEST_TMP/new-pin" --operator helpdesk1
check_eq "pin unblock --officer-key: exit 0 ($OUT)" 0 $?
check_eq "pin status: nothing low, nothing locked (the SO count cleared by its right login)" "" "$(flags)"
check_eq "audit: the unblock by helpdesk1 with the escrowed SO PIN" "helpdesk1 escrowed ok" \
	"$(audit_lines | jq -r --arg s "$SERIAL" 'select(.action == "pin-unblock" and .serial == $s) | "\(.operator) \(.so_pin) \(.outcome)"' | tail -n 1)"
# The new PIN signs with alice's key (CKM_RSA_PKCS), and the signature is alice's.
ID=$(key_id alice@example.org)
record alice@example.org | jq -r .cert_pem >"$TEST_TMP/alice.pem"
printf 'unblocked' >"$TEST_TMP/msg"
pkcs11-tool --module "$OCK_MODULE" --token-label card1 --login --pin env:NEW_PIN --sign \
	--id "$ID" -m RSA-PKCS -i "$TEST_TMP/msg" -o "$TEST_TMP/msg.sig" >/dev/null 2>&1
check_eq "the new user PIN signs" 0 $?
check_eq "... a signature alice's certificate verifies" unblocked \
	"$(openssl pkeyutl -verifyrecover -certin -inkey "$TEST_TMP/alice.pem" -in "$TEST_TMP/msg.sig" 2>/dev/null)"

echo "== pin rotate-so: escrowed first; cut after 'sending' and rerun"
ock pin rotate-so "$U" --officer-key "$KEY" --operator helpdesk2
check_eq "rotate-so: exit 0 ($OUT)" 0 $?
check_eq "rotate-so: the card has number 2, audited" "2 changed:1 changed:2" \
	"$(card | jq .so_pin.escrowed) $(so_audit)"
P11ENROLL_TEST_CRASH_AFTER=so-sending ock pin rotate-so "$U" --officer-key "$KEY"
check_eq "rotate-so crash at so-sending: exit 86" 86 $?
SO3=$(escrowed_so 3)
check_eq "... number 3 in the vault before the card was asked" "2 3 sending 8" \
	"$(card | jq -r '"\(.so_pin.escrowed) \(.so_pin.pending) \(.so_pin.phase)"') ${#SO3}"
# One wrong SO PIN (someone's typo) makes opencryptoki say "SO count low": the rerun does
# not probe a card low on SO tries (docs/cards.md); an officer's right SO login clears it.
so_login() { # PIN: one SO login with pkcs11-tool (--init-pin to the user PIN it has), stderr
	SO_TRY=$1 pkcs11-tool --module "$OCK_MODULE" --token-label card1 --login --login-type so \
		--so-pin env:SO_TRY --init-pin --new-pin env:NEW_PIN 2>&1 >/dev/null
}
check_contains "a wrong SO PIN: refused" "$(so_login 76543210)" CKR_PIN_INCORRECT
check_eq "... SO count low" so-count-low "$(flags)"
ock pin rotate-so "$U" --officer-key "$KEY" --operator helpdesk2
check_eq "rotate-so rerun with the SO count low: exit 4, not probed ($OUT)" 4 $?
check_contains "... says an officer decides" "$OUT" "low on tries"
check_eq "... still pending, sending" "2 3 sending" \
	"$(card | jq -r '"\(.so_pin.escrowed) \(.so_pin.pending) \(.so_pin.phase)"')"
check_eq "the officer logs in as SO with number 2" "" "$(so_login "$(escrowed_so 2)")"
check_eq "... the SO count cleared" "" "$(flags)"
ock pin rotate-so "$U" --officer-key "$KEY" --operator helpdesk2
check_eq "rotate-so rerun: exit 0 ($OUT)" 0 $?
# The rerun tried number 3 once (the card never had it: refused, dropped), then rotated
# with number 2 to number 4.
check_eq "rerun: 3 refused and dropped, then changed to 4" "changed:1 changed:2 pending-refused:3 changed:4" "$(so_audit)"
check_eq "rerun: escrowed 4, nothing pending" "4 null" "$(card | jq -r '"\(.so_pin.escrowed) \(.so_pin.pending)"')"
check_eq "pin status: the refused probe's count cleared by the rotation's login" "" "$(flags)"
NEW_PIN=13572468
printf '%s\n' "$NEW_PIN" >"$TEST_TMP/new-pin2"
out=$(user_login WRONG_PIN)
check_eq "one wrong user PIN: count low" count-low "$(flags)"
ock pin unblock "$U" --officer-key "$KEY" --new-pin-source "file:$TEST_TMP/new-pin2" --operator helpdesk1
check_eq "unblock with the rotated SO PIN: exit 0 ($OUT)" 0 $?
# opencryptoki's C_InitPIN clears CKF_USER_PIN_LOCKED only: a count low (or final try)
# stays until the first right login with the new PIN.
check_eq "... the user PIN's count still low (opencryptoki's C_InitPIN)" count-low "$(flags)"
check_eq "... the new user PIN logs in" "" "$(user_login NEW_PIN)"
check_eq "... and that login cleared the count" "" "$(flags)"

echo "== suspend cut after the certificate was held, then the rerun"
P11ENROLL_TEST_CRASH_AFTER=card-cert-held ock card suspend "$SERIAL" --reason leave
check_eq "crash at card-cert-held: exit 86" 86 $?
ock card suspend "$SERIAL" --reason leave --operator desk1
check_eq "suspend rerun: exit 0 ($OUT)" 0 $?
check_eq "suspended, audited once" "suspended 1" "$(card | jq -r .state) $(audit_of card-suspend)"
p11e ca cert --ca "local:$CA_DIR" >"$TEST_TMP/ca.pem"
verify() {
	p11e ca crl --dir "$CA_DIR" --out "$TEST_TMP/crl.pem" >/dev/null 2>&1 &&
		openssl verify -crl_check -CAfile "$TEST_TMP/ca.pem" -CRLfile "$TEST_TMP/crl.pem" \
			"$TEST_TMP/alice.pem" 2>&1
}
check_contains "suspended: alice's certificate on hold" "$(verify)" "certificate revoked"
ock card resume "$SERIAL" --operator desk1
check_eq "resume: exit 0 ($OUT)" 0 $?
check_contains "resumed: verifies again" "$(verify)" ": OK"
check_eq "one audit line per move" "card-register card-issue card-suspend card-resume" \
	"$(audit_lines | jq -r --arg s "$SERIAL" 'select(.serial == $s and (.action | startswith("card-")) and .action != "card-so-pin") | .action' |
		tr '\n' ' ' | sed 's/ $//')"

# No SO PIN and no user PIN anywhere it should not be.
for n in 1 2 3 4; do
	pin=$(escrowed_so $n)
	check_eq "SO PIN $n: escrowed" 8 "${#pin}"
	check_not_contains "SO PIN $n: not in the output" "$(cat "$LOG")" "$pin"
	check_not_contains "SO PIN $n: not in the audit" "$(audit_lines)" "$pin"
	check_not_contains "SO PIN $n: not in the card's document" "$(card)" "$pin"
done
for pin in 24681357 13572468; do
	check_not_contains "a new user PIN: not in the output" "$(cat "$LOG")" "$pin"
	check_not_contains "a new user PIN: not in the audit" "$(audit_lines)" "$pin"
done
finish
