# Enrollment and the card registry (issue 23, item 1): an enrollment onto a registered
# card in stock moves it to issued (audited once; a rerun moves nothing; a crash before
# the move, or between its save and its audit line, is finished by the rerun), renew and
# batch rows do the same, a lost, damaged or suspended card refuses the enrollment with
# nothing made on it (replace onto it: nothing revoked either), and an unregistered token
# enrolls as before.
. "$TESTS_DIR/lib/common.sh"
setup_ca
LOG=$TEST_TMP/all-output.log
: >"$LOG"
U=$TEST_TOKEN_URI
ME=$(id -un)
SO=$(cat "$TEST_SO_PIN_FILE")
# Fixture only: softhsm2-util takes PINs as arguments; p11enroll never does.
for t in c2 c3 c4 c5 b1 b2; do
	softhsm2-util --init-token --free --label $t --so-pin "$SO" --pin "$TEST_PIN" >/dev/null
done
serial_of() { p11e pin status "$1" --json | jq -r .serial; }
SERIAL=$(serial_of "$U")
card() { p11e card show "$1" --json; }
state() { card "$1" | jq -r .state; }
issues() { card "$1" | jq '[.history[] | select(.move == "issue")] | length'; }
issue_audits() {
	audit_lines | jq -r --arg s "$1" 'select(.action == "card-issue" and .serial == $s) | .reason' |
		wc -l
}
enroll() { # URI EMAIL [more]
	p11e_logged enroll "$1" --email "$2" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" "${@:3}"
}
objects() { # LABEL: every object on that token
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$1" --login --pin env:TEST_PIN \
		--list-objects 2>/dev/null | grep -c '^[A-Z][a-z]* Key Object\|^Certificate Object\|^Data object'
}

# An unregistered token enrolls as before: no card appears, nothing audited for one.
enroll "$U" zed@example.org
check_eq "unregistered token: enroll exit 0 ($OUT)" 0 $?
check_eq "unregistered token: still no card" 0 "$(p11e card list --json | jq '.cards | length')"
check_eq "unregistered token: no card-issue audited" 0 \
	"$(audit_lines | jq -r 'select(.action == "card-issue")' | wc -l)"

# Registered in stock: the enrollment moves it to issued, once, by the local user.
p11e_logged card register "$U" --no-personalise
check_eq "register: exit 0 ($OUT)" 0 $?
check_eq "registered in stock" in-stock "$(state "$SERIAL")"
enroll "$U" ann@example.org
check_eq "enroll ann onto the card: exit 0 ($OUT)" 0 $?
check_eq "ann's enrollment issued the card" issued "$(state "$SERIAL")"
check_eq "the move: issue by the local user, reason enrolled ann" \
	"issue in-stock issued $ME enrolled ann@example.org" \
	"$(card "$SERIAL" | jq -r '.history[-1] | "\(.move) \(.from) \(.to) \(.operator) \(.reason)"')"
check_eq "audited once" 1 "$(issue_audits "$SERIAL")"
check_eq "the audit line: operator and reason" "$ME enrolled ann@example.org" \
	"$(audit_lines | jq -r 'select(.action == "card-issue") | "\(.operator) \(.reason)"')"
check_eq "card show: ann on the card" true \
	"$(card "$SERIAL" | jq '[.identities[]?.identity, .generations[]?.identity] | index("ann@example.org") != null')"
# A rerun of the finished enrollment, and a second identity onto the issued card: no move.
enroll "$U" ann@example.org
check_eq "rerun ann: exit 0 ($OUT)" 0 $?
enroll "$U" bob@example.org
check_eq "enroll bob onto the issued card: exit 0 ($OUT)" 0 $?
check_eq "rerun and bob: still one issue move" 1 "$(issues "$SERIAL")"
check_eq "rerun and bob: still audited once" 1 "$(issue_audits "$SERIAL")"
# card issue by hand after it: already (nothing moved).
p11e_logged card issue "$SERIAL"
check_eq "card issue after the enrollment: exit 0 ($OUT)" 0 $?
check_eq "card issue after: still one issue move" 1 "$(issues "$SERIAL")"

# A crash after the record is final, before the move: the card stays in stock; the rerun
# of the finished enrollment moves it.
C2=$(serial_of pkcs11:token=c2)
p11e card register pkcs11:token=c2 --no-personalise >/dev/null
P11ENROLL_TEST_CRASH_AFTER=card-issuing enroll pkcs11:token=c2 carl@example.org
check_eq "crash before the move: exit 86" 86 $?
check_eq "crash before the move: carl's record is done" done "$(record carl@example.org | jq -r .step)"
check_eq "crash before the move: the card still in stock" in-stock "$(state "$C2")"
enroll pkcs11:token=c2 carl@example.org
check_eq "rerun carl: exit 0 ($OUT)" 0 $?
check_eq "rerun carl: the card issued" issued "$(state "$C2")"
check_eq "rerun carl: one move, audited once" "1 1" "$(issues "$C2") $(issue_audits "$C2")"
enroll pkcs11:token=c2 carl@example.org
check_eq "rerun carl again: one move, audited once" "1 1" "$(issues "$C2") $(issue_audits "$C2")"

# A crash between the card's save and its audit line: the rerun writes the line, once.
C5=$(serial_of pkcs11:token=c5)
p11e card register pkcs11:token=c5 --no-personalise >/dev/null
P11ENROLL_TEST_CRASH_AFTER=card-moved enroll pkcs11:token=c5 cleo@example.org
check_eq "crash after the move's save: exit 86" 86 $?
check_eq "crash after the save: issued, not audited yet" "issued 0" \
	"$(state "$C5") $(issue_audits "$C5")"
enroll pkcs11:token=c5 cleo@example.org
check_eq "rerun cleo: exit 0 ($OUT)" 0 $?
check_eq "rerun cleo: one move, audited once" "1 1" "$(issues "$C5") $(issue_audits "$C5")"

# A lost card takes no keys: refused before anything is made (one line naming the state
# and the command), nothing on the token, no record; replace onto it revokes nothing.
C3=$(serial_of pkcs11:token=c3)
p11e card register pkcs11:token=c3 --no-personalise >/dev/null
p11e card issue "$C3" >/dev/null && p11e card lost "$C3" --reason "left on a train" >/dev/null
check_eq "c3 is lost" lost "$(state "$C3")"
before=$(objects c3)
enroll pkcs11:token=c3 dave@example.org
check_eq "enroll onto a lost card: exit 2 ($OUT)" 2 $?
check_contains "lost: names the state" "$OUT" "card $C3 is lost"
check_contains "lost: names the command" "$OUT" "p11enroll card found $C3"
check_eq "lost: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
check_eq "lost: nothing made on the token" "$before" "$(objects c3)"
check "lost: no record for dave" no_record dave@example.org
check_eq "lost: the card still lost" lost "$(state "$C3")"
ann_before=$(record ann@example.org | jq -c '[.generation, .cert_sha256, .revoked_reason]')
p11e_logged replace ann@example.org pkcs11:token=c3 --pin-source "$PIN_SRC"
check_eq "replace onto a lost card: exit 2 ($OUT)" 2 $?
check_contains "replace onto a lost card: says so" "$OUT" "is lost"
check_eq "replace refused: ann not revoked, no new generation" "$ann_before" \
	"$(record ann@example.org | jq -c '[.generation, .cert_sha256, .revoked_reason]')"
check_eq "replace refused: nothing made on c3" "$before" "$(objects c3)"

# Damaged (from stock) and suspended cards refuse too.
C4=$(serial_of pkcs11:token=c4)
p11e card register pkcs11:token=c4 --no-personalise >/dev/null
p11e card damaged "$C4" --reason "cracked" >/dev/null
enroll pkcs11:token=c4 erin@example.org
check_eq "enroll onto a damaged card: exit 2 ($OUT)" 2 $?
check_contains "damaged: says it is not reused" "$OUT" "damaged card is not reused"
p11e card suspend "$SERIAL" --reason leave >/dev/null
check_eq "the first card suspended" suspended "$(state "$SERIAL")"
enroll "$U" fay@example.org
check_eq "enroll onto a suspended card: exit 2 ($OUT)" 2 $?
check_contains "suspended: names the command" "$OUT" "p11enroll card resume $SERIAL"
p11e card resume "$SERIAL" >/dev/null

# Renew: a card registered after its enrollment (in stock) is issued by the renewal.
B2=$(serial_of pkcs11:token=b2)
enroll pkcs11:token=b2 gus@example.org
check_eq "enroll gus onto unregistered b2: exit 0 ($OUT)" 0 $?
p11e card register pkcs11:token=b2 --no-personalise >/dev/null
check_eq "b2 registered afterwards: in stock" in-stock "$(state "$B2")"
p11e_logged renew gus@example.org --force --pin-source "$PIN_SRC"
check_eq "renew gus: exit 0 ($OUT)" 0 $?
check_eq "renew gus: b2 issued" issued "$(state "$B2")"
check_eq "renew gus: reason names gus" "enrolled gus@example.org" \
	"$(card "$B2" | jq -r '.history[-1].reason')"

# A batch onto a card in stock: every row enrolled, the card issued once.
B1=$(serial_of pkcs11:token=b1)
p11e card register pkcs11:token=b1 --no-personalise >/dev/null
{
	echo "email,name,token"
	for i in 1 2 3 4; do echo "row$i@example.org,Row $i,pkcs11:token=b1"; done
	echo "lost1@example.org,Lost 1,pkcs11:token=c3"
} >"$TEST_TMP/roster.csv"
json=$(p11e batch "$TEST_TMP/roster.csv" --jobs 2 --token pkcs11:token=b1 --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" --json 2>>"$LOG")
check_eq "batch: the four rows onto b1 enrolled" 4 "$(jq .enrolled <<<"$json")"
check_eq "batch: b1 issued once, audited once" "issued 1 1" \
	"$(state "$B1") $(issues "$B1") $(issue_audits "$B1")"
check "batch: the row onto the lost card refused, no record" no_record lost1@example.org
check_eq "batch: nothing made on the lost card" "$before" "$(objects c3)"
finish
