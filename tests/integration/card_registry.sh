# The card registry (issue 23): register (the SO PIN replaced by a generated one, escrowed
# to the officers, never shown), the state table with its one-line refusals and the
# config's allowed_transitions, every move in the history and the audit with operator and
# reason, terminate --wipe only on this card, crash points at every transition with reruns, two moves on one card serialised,
# and hostile input changing nothing.
. "$TESTS_DIR/lib/common.sh"
setup_ca
LOG=$TEST_TMP/all-output.log
: >"$LOG"
U=$TEST_TOKEN_URI
file_vault "$TEST_TMP"
KEY=file:$TEST_TMP/officer.key
SO_OLD=$(cat "$TEST_SO_PIN_FILE")
SERIAL=$(p11e pin status "$U" --json | jq -r .serial)
card() { p11e card show "$SERIAL" --json; }
state() { card | jq -r .state; }
# so_login_works PIN: one SO login with pkcs11-tool (the PIN from the environment).
# (An SO session must be read-write: pkcs11-tool's --init-pin, setting the user PIN
# it already has, is its one SO action that changes nothing.)
so_login_works() {
	SO_TRY=$1 pkcs11-tool --module "$SOFTHSM_MODULE" --token-label test --login --login-type so \
		--so-pin env:SO_TRY --init-pin --new-pin env:TEST_PIN >/dev/null 2>&1
}
so_login_refused() { ! so_login_works "$1"; }
export SO_TRY
# escrowed_so N: the escrowed SO PIN number N as an officer reads it with any CMS tool
# (the file vault's entry "card-so-pin/SERIAL/N", its name escaped).
escrowed_so() {
	openssl cms -decrypt -inform DER -in "$VAULT_DIR/escrow/card-so-pin%2F$SERIAL%2F$1.cms" \
		-recip "$VAULT_DIR/officers.pem" -inkey "$VAULT_DIR/officer.key" 2>/dev/null
}

# Hostile input before anything is registered: unknown serial, bad serial, unknown verb.
p11e_logged card show 0000000000000000
check_eq "show an unknown serial: exit 10 ($OUT)" 10 $?
check_contains "unknown serial: says how to register" "$OUT" "card register URI"
p11e_logged card suspend "../../etc/passwd" --reason x
check_eq "a serial with a slash: exit 2 ($OUT)" 2 $?
check_contains "bad serial: names the field" "$OUT" "serial"
p11e_logged card fly "$SERIAL"
check_eq "unknown verb: exit 2" 2 $?
check_eq "nothing registered by all that" 0 "$(p11e card list --json | jq '.cards | length')"

# register: without an SO PIN source it refuses (nothing escrowed, the card unchanged).
p11e_logged card register "$U" --no-such-option 2>/dev/null
p11e_logged card register "$U"
check_eq "register without --so-pin-source: exit 2 ($OUT)" 2 $?
check "the old SO PIN still works" so_login_works "$SO_OLD"
# register: in stock, the SO PIN replaced by escrowed number 1.
p11e_logged card register "$U" --so-pin-source "file:$TEST_SO_PIN_FILE" --operator helpdesk1
check_eq "register: exit 0 ($OUT)" 0 $?
check_eq "registered in stock" in-stock "$(state)"
check_eq "serial, manufacturer, model recorded" "$SERIAL SoftHSM project SoftHSM v2" \
	"$(card | jq -r '[.serial, .manufacturer, .model] | join(" ")')"
check_eq "registration time recorded" true "$(card | jq '.registered | test("^20..-..-..T")')"
check_eq "the SO PIN escrowed as number 1" 1 "$(card | jq .so_pin.escrowed)"
SO1=$(escrowed_so 1)
check_eq "the escrowed SO PIN: 24 characters" 24 "${#SO1}"
check "the escrowed SO PIN is the card's" so_login_works "$SO1"
check "the old SO PIN is refused" so_login_refused "$SO_OLD"
check_eq "audit: card-register by helpdesk1" helpdesk1 \
	"$(audit_lines | jq -r 'select(.action == "card-register") | .operator')"
check_eq "audit: the SO PIN change, number 1" "changed 1" \
	"$(audit_lines | jq -r 'select(.action == "card-so-pin") | "\(.so_pin) \(.generation)"')"
# A rerun: nothing twice.
p11e_logged card register "$U" --so-pin-source "file:$TEST_SO_PIN_FILE"
check_eq "register again: exit 0 ($OUT)" 0 $?
check_contains "register again: says so" "$OUT" "registered already"
check_eq "register again: still escrowed number 1" 1 "$(card | jq .so_pin.escrowed)"
check_eq "register again: one register entry" 1 "$(card | jq '[.history[] | select(.move == "register")] | length')"

# The moves: issue, suspend, resume, lost, found, terminate (back to stock).
p11e_logged card suspend "$SERIAL" --reason "no holder yet"
check_eq "suspend a card in stock: exit 2 ($OUT)" 2 $?
check_contains "illegal move: names both states" "$OUT" "in-stock -> suspended"
check_eq "illegal move: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
check_eq "illegal move: still in stock" in-stock "$(state)"
before=$(card)
p11e_logged card issue "$SERIAL" --operator helpdesk1 --reason "handed to alice"
check_eq "issue: exit 0 ($OUT)" 0 $?
p11e_logged card suspend "$SERIAL" --operator helpdesk2 --reason "on leave"
check_eq "suspend: exit 0 ($OUT)" 0 $?
check_eq "suspended" suspended "$(state)"
p11e_logged card suspend "$SERIAL" --reason "again"
check_eq "suspend again: exit 0, nothing moved ($OUT)" 0 $?
check_contains "suspend again: already" "$OUT" "already"
p11e_logged card found "$SERIAL"
check_eq "found a suspended card: exit 2 ($OUT)" 2 $?
check_contains "found: names both states" "$OUT" "suspended -> issued"
p11e_logged card resume "$SERIAL" --reason back
check_eq "resume: exit 0 ($OUT)" 0 $?
p11e_logged card lost "$SERIAL" --reason "left on a train"
check_eq "lost: exit 0 ($OUT)" 0 $?
p11e_logged card found "$SERIAL"
check_eq "found: exit 0 ($OUT)" 0 $?
p11e_logged card terminate "$SERIAL" --reason "leaver"
check_eq "terminate without --wipe: exit 0 ($OUT)" 0 $?
check_eq "terminate without --wipe: terminated, not in stock" terminated "$(state)"
check_contains "terminate without --wipe: says how to restock" "$OUT" "--wipe URI"
softhsm2-util --init-token --free --label other --so-pin "$SO_OLD" --pin "$TEST_PIN" >/dev/null
p11e_logged card terminate "$SERIAL" --wipe pkcs11:token=other --pin-source "$PIN_SRC"
check_eq "terminate --wipe on another card: exit 2 ($OUT)" 2 $?
check_contains "another card: names both serials" "$OUT" "not $SERIAL"
check_eq "another card: still terminated" terminated "$(state)"
p11e_logged card terminate "$SERIAL" --wipe "$U" --pin-source "$PIN_SRC"
check_eq "terminate --wipe: exit 0 ($OUT)" 0 $?
check_eq "terminated, wiped and back in stock" in-stock "$(state)"
check_eq "the history, in order" \
	"register issue suspend resume lost found terminate restock" \
	"$(card | jq -r '[.history[].move] | join(" ")')"
check_eq "the history: operator and reason kept" "helpdesk2: on leave" \
	"$(card | jq -r '.history[] | select(.move == "suspend") | "\(.operator): \(.reason)"')"
check_eq "every move audited once" "1 1 1 1 1 1 1" \
	"$(for m in issue suspend resume lost found terminate restock; do
		audit_lines | jq -r "select(.action == \"card-$m\") | .serial" | grep -c "$SERIAL"
	done | tr '\n' ' ' | sed 's/ $//')"
check_eq "audit: both states of the suspend" "issued suspended helpdesk2 on leave" \
	"$(audit_lines | jq -r 'select(.action == "card-suspend") | "\(.from) \(.to) \(.operator) \(.reason)"')"
check_eq "list --state in-stock" "$SERIAL" "$(p11e card list --state in-stock --json | jq -r '.cards[].serial')"
check_eq "list --state issued: none" 0 "$(p11e card list --state issued --json | jq '.cards | length')"
p11e_logged card list --state broken
check_eq "list --state unknown: exit 2" 2 $?

# Crash at every point of a move, then a rerun: the move made once, audited once.
p11e card issue "$SERIAL" >/dev/null
for point in card-locked card-work-done card-moved; do
	n_before=$(audit_lines | jq -r 'select(.action == "card-suspend")' | grep -c serial)
	P11ENROLL_TEST_CRASH_AFTER=$point p11e card suspend "$SERIAL" --reason "crash $point" >/dev/null 2>&1
	check_eq "crash at $point: exit 86" 86 $?
	p11e_logged card suspend "$SERIAL" --reason "crash $point"
	check_eq "rerun after $point: exit 0 ($OUT)" 0 $?
	check_eq "rerun after $point: suspended" suspended "$(state)"
	check_eq "after $point: one more suspend audited" $((n_before + 1)) \
		"$(audit_lines | jq -r 'select(.action == "card-suspend")' | grep -c serial)"
	check_eq "after $point: history and audit agree on the suspends" \
		"$(audit_lines | jq -r 'select(.action == "card-suspend")' | grep -c serial)" \
		"$(card | jq '[.history[] | select(.move == "suspend")] | length')"
	p11e card resume "$SERIAL" >/dev/null
done
# terminate cut between its two halves: the rerun finishes it (back to stock).
P11ENROLL_TEST_CRASH_AFTER=card-locked p11e card terminate "$SERIAL" >/dev/null 2>&1
P11ENROLL_TEST_CRASH_AFTER=card-moved p11e card terminate "$SERIAL" --wipe "$U" --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "terminate cut after its first half: terminated" terminated "$(state)"
p11e_logged card terminate "$SERIAL" --wipe "$U" --pin-source "$PIN_SRC"
check_eq "terminate rerun: exit 0 ($OUT)" 0 $?
check_eq "terminate rerun: in stock" in-stock "$(state)"

# Two moves on one card at once take turns: the first holds the lock (slowed down at
# card-locked); a second that will not wait is refused (exit 12), one that waits goes after.
p11e card issue "$SERIAL" >/dev/null
# The holder keeps the lock 20 s: over PostgreSQL one p11enroll run takes seconds here.
P11ENROLL_TEST_SLEEP_AT=card-locked P11ENROLL_TEST_SLEEP_MS=20000 \
	p11e card suspend "$SERIAL" --reason first >"$TEST_TMP/first.out" 2>&1 &
first=$!
# The probe changes nothing either way: a rerun of the move just made (issue) is "already"
# (exit 0) until the holder has the lock; then it is refused (12), and anything else ends it.
for _ in $(seq 1 300); do
	p11e card issue "$SERIAL" --wait 0 >"$TEST_TMP/busy.out" 2>&1
	rc=$?
	[ $rc -ne 0 ] && break
	sleep 0.1
done
check_eq "a second command while the first holds the card: exit 12" 12 "$rc"
check_contains "busy: names the lock" "$(cat "$TEST_TMP/busy.out")" "card"
p11e_logged card lost "$SERIAL" --wait 60 --reason second
check_eq "a second move that waits: exit 0 ($OUT)" 0 $?
wait $first
check_eq "the first move: exit 0" 0 $?
check_eq "they took turns: suspend, then lost" "suspend lost" \
	"$(card | jq -r '[.history[-2:][].move] | join(" ")')"
check_eq "lost after both" lost "$(state)"

# The config narrows the table (Dogtag's allowed transitions): lost -> issued not listed.
cp "$P11ENROLL_CONFIG" "$TEST_TMP/config-full.json"
jq '. + {cards: {allowed_transitions: ["in-stock:issued", "issued:suspended", "suspended:issued", "issued:lost", "lost:terminated", "terminated:in-stock"]}}' \
	"$TEST_TMP/config-full.json" >"$TEST_TMP/config-narrow.json"
export P11ENROLL_CONFIG=$TEST_TMP/config-narrow.json
before=$(card)
p11e_logged card found "$SERIAL"
check_eq "a move the config leaves out: exit 2 ($OUT)" 2 $?
check_contains "config refusal: names both states and the key" "$OUT" "lost -> issued is not in the config's cards.allowed_transitions"
check_eq "config refusal: nothing changed" "$before" "$(card)"
jq '. + {cards: {allowed_transitions: ["lost:nowhere"]}}' "$TEST_TMP/config-full.json" >"$TEST_TMP/config-bad.json"
P11ENROLL_CONFIG=$TEST_TMP/config-bad.json p11e_logged card list
check_eq "a bad allowed_transitions: exit 8 ($OUT)" 8 $?
check_contains "bad allowed_transitions: names the entry" "$OUT" "cards.allowed_transitions[0]"
jq '. + {cards: {lost_command: "true"}}' "$TEST_TMP/config-full.json" >"$TEST_TMP/config-bad.json"
P11ENROLL_CONFIG=$TEST_TMP/config-bad.json p11e_logged card list
check_eq "an unknown key under cards: exit 8 ($OUT)" 8 $?
check_contains "unknown key: named by its path" "$OUT" "cards.lost_command"
export P11ENROLL_CONFIG=$TEST_TMP/config-full.json
p11e_logged card found "$SERIAL"
check_eq "found (full table): exit 0 ($OUT)" 0 $?

# init-token registers what it initialises: in stock, its SO PIN not escrowed.
p11e_logged init-token "pkcs11:model=SoftHSM%20v2" --label fresh --so-pin-source "file:$TEST_SO_PIN_FILE" \
	--pin-source "$PIN_SRC"
check_eq "init-token: exit 0 ($OUT)" 0 $?
check_eq "init-token: the new card in stock, SO PIN not escrowed" "in-stock null" \
	"$(p11e card list --json | jq -r '.cards[] | select(.label == "fresh") | "\(.state) \(.so_pin.escrowed)"')"
check_eq "init-token: its history says so" "register: initialised by init-token" \
	"$(p11e card list --json | jq -r '.cards[] | select(.label == "fresh") | .history[0] | "\(.move): \(.reason)"')"
# card register --no-personalise says that, not init-token's words.
softhsm2-util --init-token --free --label plain --so-pin 12345678 --pin "$TEST_PIN" >/dev/null
p11e_logged card register "pkcs11:token=plain" --no-personalise
check_eq "register --no-personalise: exit 0 ($OUT)" 0 $?
check_eq "register --no-personalise: its history says so" \
	"register: registered, SO PIN not personalised" \
	"$(p11e card list --json | jq -r '.cards[] | select(.label == "plain") | .history[0] | "\(.move): \(.reason)"')"
# A damaged card is terminated without a --wipe hint: it is not reused.
FRESH=$(p11e card list --json | jq -r '.cards[] | select(.label == "fresh") | .serial')
p11e card damaged "$FRESH" --reason cracked >/dev/null
p11e_logged card terminate "$FRESH" --reason cracked
check_eq "terminate a damaged card: exit 0 ($OUT)" 0 $?
check_contains "terminate a damaged card: says it is not reused" "$OUT" "a damaged card is not reused"
check_not_contains "terminate a damaged card: no --wipe hint" "$OUT" "--wipe"

# No secret reached the output, the audit or the card's document.
for secret in "$SO1" "$SO_OLD"; do
	check_not_contains "no SO PIN in the output" "$(cat "$LOG")" "$secret"
	check_not_contains "no SO PIN in the audit" "$(audit_lines)" "$secret"
	check_not_contains "no SO PIN in the card's document" "$(card)" "$secret"
done
finish
