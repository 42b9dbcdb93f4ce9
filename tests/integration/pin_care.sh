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
	out=$(python3 - "$P11ENROLL" "$U" "file:$TEST_TMP/new-pin" <<'EOF'
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "pin", "change", sys.argv[2], "--pin-source", sys.argv[3],
                           "--new-pin-source", "prompt"])
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
    if answers and seen.count(b"Enter ") > 2 - len(answers):
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

# Usage errors.
p11e_logged pin reset "$U"
check_eq "unknown pin action: exit 2" 2 $?
p11e_logged pin status "$U" --so-pin-source "file:$TEST_SO_PIN_FILE"
check_eq "status with an SO PIN source: exit 2" 2 $?
p11e_logged pin status pkcs11:token=nosuch
check_eq "no such token: exit 5" 5 $?

# The audit trail: one line per change and unblock tried, chained, and no PIN anywhere.
audit=$(cat "$P11ENROLL_STATE_DIR/audit.jsonl")
check_eq "audit: pin-change lines (wrong PIN, too short, ok, mismatch)" 4 \
	"$(grep -c '"action":"pin-change"' <<<"$audit")"
check_eq "audit: pin-unblock lines" 3 "$(grep -c '"action":"pin-unblock"' <<<"$audit")"
check "audit verify" p11e audit verify
for pin in 123456 12345678 24681357 11223344 99999999 13572468 13572469; do
	check_not_contains "no PIN in the audit trail" "$audit" "$pin"
	check_not_contains "no PIN in any output" "$(cat "$LOG")" "$pin"
done

finish
