# PIN care (issue 10, item 6): `p11enroll pin status|change|unblock` on SoftHSM, and,
# through the test shim's PIN emulation (tests/shim/p11shim_pin.c) where SoftHSM cannot
# show it, a locked PIN (exit 4 naming `pin unblock`), a PIN to be changed and a pinpad
# reader that logs in without a PIN from us. pkcs11-tool checks each new PIN.
. "$TESTS_DIR/lib/common.sh"
setup_ca
LOG=$TEST_TMP/all-output.log
: >"$LOG"
U=$TEST_TOKEN_URI
printf '%s\n' 24681357 >"$TEST_TMP/new-pin"
printf '%s\n' 11223344 >"$TEST_TMP/newer-pin"
printf '%s\n' 99999999 >"$TEST_TMP/wrong-pin"
printf '%s\n' 12 >"$TEST_TMP/short-pin"
# Logged in with the PIN in file $1, pkcs11-tool lists the private keys: the PIN works.
private_keys_with() {
	PIN_NOW=$(cat "$1") pkcs11-tool --module "$SOFTHSM_MODULE" --token-label test --login \
		--pin env:PIN_NOW --list-objects --type privkey 2>/dev/null | grep -c '^Private Key Object'
}
export PIN_NOW

# A key to see: one enrollment.
p11e_logged enroll "$U" --email pin@example.org --ca "local:$CA_DIR" --pin-source "$PIN_SRC"
check_eq "enroll: exit 0 ($OUT)" 0 $?

# status: no PIN, no login; every flag by name, text and JSON.
p11e_logged pin status "$U"
check_eq "status: exit 0 ($OUT)" 0 $?
for flag in "user PIN count low" "user PIN final try" "user PIN locked" "user PIN to be changed" \
	"protected authentication path"; do
	check_contains "status names '$flag'" "$OUT" "$flag"
done
json=$(p11e pin status "$U" --json)
check_eq "status --json: count low false" false "$(jq -r .user_pin_count_low <<<"$json")"
check_eq "status --json: locked false" false "$(jq -r .user_pin_locked <<<"$json")"
check_eq "status --json: pinpad false" false "$(jq -r .protected_authentication_path <<<"$json")"
check_eq "status --json: min length (SoftHSM: 4)" 4 "$(jq -r .min_pin_len <<<"$json")"

# change with a wrong current PIN: exit 3, tried once; the token counts it.
p11e_logged pin change "$U" --pin-source "file:$TEST_TMP/wrong-pin" \
	--new-pin-source "file:$TEST_TMP/new-pin"
check_eq "change, wrong current PIN: exit 3 ($OUT)" 3 $?
check_contains "change, wrong current PIN: says so" "$OUT" "PIN incorrect"
check_eq "status after a wrong PIN: count low" true \
	"$(p11e pin status "$U" --json | jq -r .user_pin_count_low)"
check_eq "the old PIN still works" 1 "$(private_keys_with "$TEST_PIN_FILE")"

# change refused by length: exit 2 naming the token's range; nothing changed.
p11e_logged pin change "$U" --pin-source "$PIN_SRC" --new-pin-source "file:$TEST_TMP/short-pin"
check_eq "too short a new PIN: exit 2 ($OUT)" 2 $?
check_contains "too short a new PIN: the token's range" "$OUT" "4 to 255"
check_eq "too short: the old PIN still works" 1 "$(private_keys_with "$TEST_PIN_FILE")"

# change: the new PIN works for pkcs11-tool, the old one no longer does.
p11e_logged pin change "$U" --pin-source "$PIN_SRC" --new-pin-source "file:$TEST_TMP/new-pin"
check_eq "change: exit 0 ($OUT)" 0 $?
check_eq "change: pkcs11-tool logs in with the new PIN" 1 "$(private_keys_with "$TEST_TMP/new-pin")"
check_eq "change: the old PIN is refused" 0 "$(private_keys_with "$TEST_PIN_FILE")"
# And p11enroll enrolls with it.
p11e_logged enroll "$U" --email pin2@example.org --ca "local:$CA_DIR" \
	--pin-source "file:$TEST_TMP/new-pin"
check_eq "enroll with the changed PIN: exit 0 ($OUT)" 0 $?

# On a prompt the new PIN is asked twice; two different answers change nothing (exit 2).
if python3 -c 'import pty' 2>/dev/null; then
	out=$(python3 - "$P11ENROLL" "$U" "file:$TEST_TMP/new-pin" "$SOFTHSM_MODULE" <<'EOF'
import os, pty, select, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "pin", "change", sys.argv[2], "--pin-source", sys.argv[3],
                           "--new-pin-source", "prompt", "--module", sys.argv[4]])
seen = b""
answers = [b"13572468\n", b"13572469\n"]
status = None
deadline = time.time() + 300
# Polled, not a blocking read: a helper a module starts may keep the terminal open.
while status is None and time.time() < deadline:
    if select.select([fd], [], [], 0.5)[0]:
        try:
            seen += os.read(fd, 1024)
        except OSError:
            pass
    # Typed only once the prompt has turned echo off (it flushes earlier input).
    if answers and seen.count(b"Enter ") > 2 - len(answers) and \
            not termios.tcgetattr(fd)[3] & termios.ECHO:
        os.write(fd, answers.pop(0))
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
sys.stdout.write(seen.decode(errors="replace"))
sys.stdout.write("\nEXIT=%s\n" % (os.waitstatus_to_exitcode(status) if status is not None else "timeout"))
EOF
)
	printf '%s\n' "$out" >>"$LOG"
	check_contains "prompt mismatch: exit 2" "$out" "EXIT=2"
	check_contains "prompt mismatch: says the entries differ" "$out" "differ"
	check_contains "prompt: asked twice" "$out" "new user PIN again"
	check_not_contains "prompt: no echo of the PIN" "$out" "13572468"
	check_eq "prompt mismatch: the PIN unchanged" 2 "$(private_keys_with "$TEST_TMP/new-pin")"
else
	bad "python3 with pty is needed for the prompt test"
fi

# unblock: a wrong SO PIN is exit 3 naming the SO PIN; the right one sets a new user PIN.
p11e_logged pin unblock "$U" --so-pin-source "file:$TEST_TMP/wrong-pin" \
	--new-pin-source "file:$TEST_TMP/newer-pin"
check_eq "unblock, wrong SO PIN: exit 3 ($OUT)" 3 $?
check_contains "unblock, wrong SO PIN: names it" "$OUT" "SO PIN incorrect"
p11e_logged pin unblock "$U" --so-pin-source "file:$TEST_SO_PIN_FILE" \
	--new-pin-source "file:$TEST_TMP/newer-pin"
check_eq "unblock: exit 0 ($OUT)" 0 $?
check_eq "unblock: pkcs11-tool logs in with the new PIN" 2 \
	"$(private_keys_with "$TEST_TMP/newer-pin")"
p11e_logged pin unblock "$U" --so-pin-source "file:$TEST_SO_PIN_FILE" \
	--new-pin-source "file:$TEST_TMP/short-pin"
check_eq "unblock, too short a new PIN: exit 2 ($OUT)" 2 $?
check_contains "unblock, too short: the token's range" "$OUT" "4 to 255"

# --- Through the test shim (tests/shim/p11shim_pin.c), what SoftHSM cannot show ---
CUR=$TEST_TMP/newer-pin # the user PIN now
shim() { p11e --module "$P11SHIM" "$@"; }
shim_enroll() { # shim_enroll EMAIL [OPTIONS]
	local email=$1; shift
	OUT=$(shim enroll "$U" --email "$email" --ca "local:$CA_DIR" "$@" 2>&1)
	local rc=$?
	printf '%s\n' "$OUT" >>"$LOG"
	return $rc
}

# A retry counter of 3: two wrong PINs, count low then final try; the third locks.
export P11SHIM_PIN_TRIES=3 P11SHIM_STATE=$TEST_TMP/shim-tries
mkdir -p "$P11SHIM_STATE"
shim_enroll locked@example.org --pin-source "file:$TEST_TMP/wrong-pin"
check_eq "shim, wrong PIN 1: exit 3 ($OUT)" 3 $?
check_eq "shim, after 1 wrong: count low" true "$(shim pin status "$U" --json | jq -r .user_pin_count_low)"
shim_enroll locked@example.org --pin-source "file:$TEST_TMP/wrong-pin"
check_eq "shim, wrong PIN 2: exit 3" 3 $?
check_contains "shim, wrong PIN 2: the message says final try" "$OUT" "FINAL TRY"
check_eq "shim, after 2 wrong: final try" true "$(shim pin status "$U" --json | jq -r .user_pin_final_try)"
shim_enroll locked@example.org --pin-source "file:$TEST_TMP/wrong-pin"
check_eq "shim, wrong PIN 3: exit 3" 3 $?
p11e_logged --module "$P11SHIM" pin status "$U"
check_contains "shim, status: locked" "$OUT" "user PIN locked                  yes"
check_contains "shim, status: the way out" "$OUT" "pin unblock"
# Locked: even the right PIN is refused, exit 4, and the message names the next step.
shim_enroll locked@example.org --pin-source "file:$CUR"
check_eq "shim, locked: exit 4 ($OUT)" 4 $?
check_contains "shim, locked: names pin unblock" "$OUT" "p11enroll pin unblock 'pkcs11:"
p11e_logged --module "$P11SHIM" pin change "$U" --pin-source "file:$CUR" \
	--new-pin-source "file:$TEST_TMP/new-pin"
check_eq "shim, locked: pin change exit 4" 4 $?
printf '%s\n' 55667788 >"$TEST_TMP/unblocked-pin"
p11e_logged --module "$P11SHIM" pin unblock "$U" --so-pin-source "file:$TEST_SO_PIN_FILE" \
	--new-pin-source "file:$TEST_TMP/unblocked-pin"
check_eq "shim, unblock: exit 0 ($OUT)" 0 $?
check_eq "shim, unblocked: not locked" false "$(shim pin status "$U" --json | jq -r .user_pin_locked)"
CUR=$TEST_TMP/unblocked-pin
shim_enroll locked@example.org --pin-source "file:$CUR"
check_eq "shim, enroll after unblock: exit 0 ($OUT)" 0 $?
check_eq "after unblock: pkcs11-tool logs in with the new PIN" 3 "$(private_keys_with "$CUR")"
unset P11SHIM_PIN_TRIES P11SHIM_STATE

# A PIN to be changed: status says so until pin change.
export P11SHIM_PIN_TO_CHANGE=1 P11SHIM_STATE=$TEST_TMP/shim-change
mkdir -p "$P11SHIM_STATE"
check_eq "shim: to be changed" true "$(shim pin status "$U" --json | jq -r .user_pin_to_be_changed)"
p11e_logged --module "$P11SHIM" pin change "$U" --pin-source "file:$CUR" \
	--new-pin-source "file:$TEST_TMP/new-pin"
check_eq "shim, change: exit 0 ($OUT)" 0 $?
check_eq "shim: no longer to be changed" false \
	"$(shim pin status "$U" --json | jq -r .user_pin_to_be_changed)"
CUR=$TEST_TMP/new-pin
unset P11SHIM_PIN_TO_CHANGE P11SHIM_STATE

# A pinpad reader: no PIN source anywhere, p11enroll sends no PIN (the shim refuses one
# with CKR_ARGUMENTS_BAD) and says where to type it; the CSR is signed through libp11's
# bridge (EC) and by raw C_Sign (RSA) in the same logged-in state, asking for nothing.
export P11SHIM_PINPAD=$TEST_TMP/pad
cp "$CUR" "$P11SHIM_PINPAD"
check_eq "shim, pinpad: status says so" true \
	"$(shim pin status "$U" --json | jq -r .protected_authentication_path)"
shim_enroll pinpad@example.org </dev/null
check_eq "shim, pinpad enroll (EC): exit 0 ($OUT)" 0 $?
check_contains "shim, pinpad: tells where to type" "$OUT" "on the reader's pinpad"
check_eq "shim, pinpad enroll: one certificate" 1 "$(PIN_NOW=$(cat "$CUR") pkcs11-tool --module \
	"$SOFTHSM_MODULE" --token-label test --login --pin env:PIN_NOW --list-objects --type cert \
	2>/dev/null | grep -ci "^ *ID: *$(key_id pinpad@example.org)\$")"
shim_enroll pinpad-rsa@example.org --key rsa:2048 </dev/null
check_eq "shim, pinpad enroll (RSA): exit 0 ($OUT)" 0 $?
# A PIN passed anyway is refused by the reader: the test above proved none was sent.
shim_enroll pinpad2@example.org --pin-source "file:$CUR"
check_eq "shim, pinpad with an explicit PIN: refused by the shim" 1 $?
check_contains "shim, pinpad with an explicit PIN: CKR_ARGUMENTS_BAD" "$OUT" "CKR_ARGUMENTS_BAD"
# pin change and unblock on the pinpad: the reader asks for every PIN.
printf '%s\n' 86427531 >"$P11SHIM_PINPAD.new"
p11e_logged --module "$P11SHIM" pin change "$U" </dev/null
check_eq "shim, pinpad change: exit 0 ($OUT)" 0 $?
check_eq "pinpad change: pkcs11-tool logs in with the PIN typed" 5 "$(private_keys_with "$P11SHIM_PINPAD")"
cp "$TEST_SO_PIN_FILE" "$P11SHIM_PINPAD.so"
printf '%s\n' 97531864 >"$P11SHIM_PINPAD.new"
p11e_logged --module "$P11SHIM" pin unblock "$U" </dev/null
check_eq "shim, pinpad unblock: exit 0 ($OUT)" 0 $?
check_eq "pinpad unblock: pkcs11-tool logs in with the PIN typed" 5 "$(private_keys_with "$P11SHIM_PINPAD")"
unset P11SHIM_PINPAD

# Usage errors.
p11e_logged pin reset "$U"
check_eq "unknown pin action: exit 2" 2 $?
p11e_logged pin status "$U" --so-pin-source "file:$TEST_SO_PIN_FILE"
check_eq "status with an SO PIN source: exit 2" 2 $?
p11e_logged pin status pkcs11:token=nosuch
check_eq "no such token: exit 5" 5 $?

# The audit trail: one line per change and unblock tried, chained, and no PIN anywhere.
audit=$(cat "$P11ENROLL_STATE_DIR/audit.jsonl")
check_eq "audit: pin-change lines (3 SoftHSM, mismatch, 3 shim)" 7 \
	"$(grep -c '"action":"pin-change"' <<<"$audit")"
check_eq "audit: pin-unblock lines (3 SoftHSM, 2 shim)" 5 "$(grep -c '"action":"pin-unblock"' <<<"$audit")"
check "audit verify" p11e audit verify
for pin in 123456 12345678 24681357 11223344 99999999 13572468 13572469 55667788 86427531 97531864; do
	check_not_contains "no PIN in the audit trail" "$audit" "$pin"
	check_not_contains "no PIN in any output" "$(cat "$LOG")" "$pin"
done

finish
