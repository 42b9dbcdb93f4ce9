# The card's SO PIN (issue 23): personalisation cut short at each of its points (escrowed,
# sending, set) and rerun, pin rotate-so with a crash and a rerun that changes it once,
# and the helpdesk's unblock with the escrowed SO PIN after wrong user PINs (count low in
# `pin status`: SoftHSM never locks a PIN). A failed SO PIN is never sent twice.
. "$TESTS_DIR/lib/common.sh"
LOG=$TEST_TMP/all-output.log
: >"$LOG"
setup_ca
file_vault "$TEST_TMP"
KEY=file:$TEST_TMP/officer.key
SO_OLD=$(cat "$TEST_SO_PIN_FILE")
export SO_TRY TEST_PIN
for t in c1 c2 c3 c4; do
	softhsm2-util --init-token --free --label $t --so-pin "$SO_OLD" --pin "$TEST_PIN" >/dev/null
done
serial_of() { p11e pin status "pkcs11:token=$1" --json | jq -r .serial; }
card() { p11e card show "$(serial_of "$1")" --json; }
so_login_works() { # TOKEN PIN: one SO login (pkcs11-tool's --init-pin to the user PIN it has)
	SO_TRY=$2 pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$1" --login --login-type so \
		--so-pin env:SO_TRY --init-pin --new-pin env:TEST_PIN >/dev/null 2>&1
}
so_login_refused() { ! so_login_works "$@"; }
escrowed_so() { # TOKEN N
	openssl cms -decrypt -inform DER \
		-in "$VAULT_DIR/escrow/card-so-pin%2F$(serial_of "$1")%2F$2.cms" \
		-recip "$VAULT_DIR/officers.pem" -inkey "$VAULT_DIR/officer.key" 2>/dev/null
}
so_audit() { # TOKEN: the card-so-pin entries as "what:N" words
	audit_lines | jq -r --arg s "$(serial_of "$1")" \
		'select(.action == "card-so-pin" and .serial == $s) | "\(.so_pin):\(.generation)"' |
		tr '\n' ' ' | sed 's/ $//'
}
register() { p11e_logged card register "pkcs11:token=$1" --so-pin-source "file:$TEST_SO_PIN_FILE" "${@:2}"; }

# Cut after the new PIN is escrowed, before the card was asked: the card keeps the old
# PIN, and the rerun drops the pending one without any login, then changes it.
P11ENROLL_TEST_CRASH_AFTER=so-escrowed register c1
check_eq "c1 crash at so-escrowed: exit 86" 86 $?
check_eq "c1: pending 1, not sent" "1 escrowed" "$(card c1 | jq -r '"\(.so_pin.pending) \(.so_pin.phase)"')"
check "c1: the card still has the old SO PIN" so_login_works c1 "$SO_OLD"
register c1
check_eq "c1 rerun (no officer key needed): exit 0 ($OUT)" 0 $?
check_eq "c1: escrowed number 2, nothing pending" "2 null" "$(card c1 | jq -r '"\(.so_pin.escrowed) \(.so_pin.pending)"')"
check "c1: the card has number 2" so_login_works c1 "$(escrowed_so c1 2)"
check_eq "c1: audited" "pending-dropped:1 changed:2" "$(so_audit c1)"

# Cut after "sending" was saved, before C_SetPIN: the card kept the old PIN. The rerun
# needs the officer's key to try the pending PIN once; refused, it is dropped.
P11ENROLL_TEST_CRASH_AFTER=so-sending register c2
check_eq "c2 crash at so-sending: exit 86" 86 $?
register c2
check_eq "c2 rerun without --officer-key: exit 2 ($OUT)" 2 $?
check_contains "c2: says to give --officer-key" "$OUT" "--officer-key"
check_eq "c2: still pending, sending" "1 sending" "$(card c2 | jq -r '"\(.so_pin.pending) \(.so_pin.phase)"')"
register c2 --officer-key "$KEY"
check_eq "c2 rerun with --officer-key: exit 0 ($OUT)" 0 $?
check_eq "c2: the pending PIN was refused and dropped; number 2 set" "pending-refused:1 changed:2" "$(so_audit c2)"
check "c2: the card has number 2" so_login_works c2 "$(escrowed_so c2 2)"

# Cut after C_SetPIN, before the document said so: the rerun's one login with the
# pending PIN is accepted; nothing is changed a second time.
P11ENROLL_TEST_CRASH_AFTER=so-set register c3
check_eq "c3 crash at so-set: exit 86" 86 $?
check "c3: the card has the new PIN already" so_login_works c3 "$(escrowed_so c3 1)"
register c3 --officer-key "$KEY"
check_eq "c3 rerun: exit 0 ($OUT)" 0 $?
check_eq "c3: confirmed, not changed again" "pending-confirmed:1" "$(so_audit c3)"
check_eq "c3: escrowed number 1" 1 "$(card c3 | jq .so_pin.escrowed)"

# rotate-so: the escrowed PIN read back with the officer's key, a new one escrowed first.
p11e_logged pin rotate-so pkcs11:token=c3
check_eq "rotate-so without --officer-key: exit 2 ($OUT)" 2 $?
check "c3: rotate-so refused, the card still has number 1" so_login_works c3 "$(escrowed_so c3 1)"
p11e_logged pin rotate-so pkcs11:token=c3 --officer-key "$KEY" --operator helpdesk1
check_eq "rotate-so: exit 0 ($OUT)" 0 $?
check "c3: the card has number 3" so_login_works c3 "$(escrowed_so c3 3)"
check "c3: number 1 no longer works" so_login_refused c3 "$(escrowed_so c3 1)"
P11ENROLL_TEST_CRASH_AFTER=so-set p11e pin rotate-so pkcs11:token=c3 --officer-key "$KEY" >/dev/null 2>&1
check_eq "rotate-so crash at so-set: exit 86" 86 $?
p11e_logged pin rotate-so pkcs11:token=c3 --officer-key "$KEY"
check_eq "rotate-so rerun: exit 0 ($OUT)" 0 $?
check_eq "rotate-so rerun: the cut change confirmed, no further one" 4 "$(card c3 | jq .so_pin.escrowed)"
check "c3: the card has number 4" so_login_works c3 "$(escrowed_so c3 4)"
# rotate-so takes no PIN source (the SO PIN is always generated): refused, nothing changed.
p11e_logged pin rotate-so pkcs11:token=c3 --officer-key "$KEY" --new-pin-source "file:$TEST_SO_PIN_FILE"
check_eq "rotate-so --new-pin-source: exit 2 ($OUT)" 2 $?
check_contains "rotate-so --new-pin-source: names the option" "$OUT" "--new-pin-source"
check_eq "rotate-so --new-pin-source: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
check_eq "rotate-so --new-pin-source: still number 4, nothing pending" "4 null" \
	"$(card c3 | jq -r '"\(.so_pin.escrowed) \(.so_pin.pending)"')"
check "c3: still number 4 on the card" so_login_works c3 "$(escrowed_so c3 4)"

# Helpdesk unblock: wrong user PINs (count low), then the escrowed SO PIN unblocks it.
printf '%s\n' 99999999 >"$TEST_TMP/wrong-pin"
printf '%s\n' 24681357 >"$TEST_TMP/new-pin"
p11e_logged pin change pkcs11:token=c3 --pin-source "file:$TEST_TMP/wrong-pin" --new-pin-source "file:$TEST_TMP/new-pin"
check_eq "a wrong user PIN: exit 3" 3 $?
check_eq "pin status: count low" true "$(p11e pin status pkcs11:token=c3 --json | jq -r .user_pin_count_low)"
p11e_logged pin unblock pkcs11:token=c3 --officer-key "$KEY" --new-pin-source "file:$TEST_TMP/new-pin" --operator helpdesk2
check_eq "pin unblock --officer-key: exit 0 ($OUT)" 0 $?
check_eq "pin status after: count low cleared" false "$(p11e pin status pkcs11:token=c3 --json | jq -r .user_pin_count_low)"
check_eq "the new user PIN works" 0 "$(PIN_NOW=24681357 pkcs11-tool --module "$SOFTHSM_MODULE" --token-label c3 --login --pin env:PIN_NOW -O >/dev/null 2>&1; echo $?)"
check_eq "audit: the unblock, by helpdesk2, with the escrowed SO PIN" "helpdesk2 escrowed ok" \
	"$(audit_lines | jq -r --arg s "$(serial_of c3)" 'select(.action == "pin-unblock" and .serial == $s) | "\(.operator) \(.so_pin) \(.outcome)"')"
export PIN_NOW

# A card registered without personalisation, or not at all: the unblock says so.
p11e_logged card register pkcs11:token=c4 --no-personalise
check_eq "c4 register --no-personalise: exit 0 ($OUT)" 0 $?
check "c4: the SO PIN is untouched" so_login_works c4 "$SO_OLD"
p11e_logged pin unblock pkcs11:token=c4 --officer-key "$KEY" --new-pin-source "file:$TEST_TMP/new-pin"
check_eq "c4 unblock: exit 10 ($OUT)" 10 $?
check_contains "c4 unblock: not escrowed" "$OUT" "not escrowed"
p11e_logged pin unblock "$TEST_TOKEN_URI" --officer-key "$KEY" --new-pin-source "file:$TEST_TMP/new-pin"
check_eq "unblock of an unregistered card: exit 10 ($OUT)" 10 $?
check_contains "unregistered: says so" "$OUT" "not registered"
p11e_logged pin unblock "$TEST_TOKEN_URI" --officer-key "$KEY" --so-pin-source "file:$TEST_SO_PIN_FILE"
check_eq "--officer-key with --so-pin-source: exit 2" 2 $?

# No SO PIN anywhere it should not be.
for t in c1 c2 c3; do
	for n in 1 2 3 4; do
		pin=$(escrowed_so $t $n) || continue
		[ -n "$pin" ] || continue
		check_not_contains "$t/$n: not in the output" "$(cat "$LOG")" "$pin"
		check_not_contains "$t/$n: not in the audit" "$(audit_lines)" "$pin"
		check_not_contains "$t/$n: not in the card's document" "$(card $t)" "$pin"
	done
done
finish
