# The portal's cards (issue 23 item 7, docs/portal.md and docs/cards.md): a signed-in user
# sees the card their identity is on and its state (the page GET /cards and GET
# /api/v1/cards), and reports it lost (the confirmation page and its form, or POST
# /api/v1/cards/SERIAL/lost): the card moves "lost" through p11e_card_move (a hold: its
# certificate fails `openssl verify -crl_check` against a fresh CRL), with the operator
# "portal:IDENTITY", audited card-lost and portal-card-lost, and the helpdesk's
# cards.notify_command run once with the facts in its environment (no secret, never on a
# command line). Another user's card, a missing CSRF token, an unticked box, a GET: refused
# or harmless, nothing changed. A second report is "already", with no second
# notification. A notify command that fails or hangs (killed at notify_timeout_seconds,
# with what it started): the move stands, a warning, an audit line, the portal answers.
# CLI moves out of service notify too (suspend); moves back into service do not (resume,
# found).
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
export LC_ALL=C
setup_ca
LOG=$TEST_TMP/all-output.log
: >"$LOG"
W=$TEST_TMP/portal
mkdir -p "$W"
cd "$W" || exit 1
portal_tls_cert
U=$TEST_TOKEN_URI
SO_OLD=$(cat "$TEST_SO_PIN_FILE")
ALICE=alice@example.org
BOB=bob@example.org

# The helpdesk's notification: writes its argv and its whole environment to a file of its
# own per run; what it does next is read from the file named by its second argument.
cat >notify.sh <<'SH'
#!/bin/sh
out=$(mktemp "$1/run.XXXXXX")
{ echo "ARGS=$#:$*"; env; } >"$out"
ls /proc/$$/fd >"$out.fds"
case "$(cat "$2" 2>/dev/null)" in
fail) exit 3 ;;
hang) sleep 300 & echo $! >"$1/sleep.pid"; wait ;;
esac
exit 0
SH
chmod 755 notify.sh
mkdir runs
: >mode
cat >config.json <<JSON
{ "default_ca": "local:$CA_DIR",
  "portal": { "tls_cert": "tls.pem", "tls_key": "tls.key", "client_cas": "$CA_DIR/ca.pem",
              "help_contact": "help@example.com", "workers": 2 },
  "cards": { "notify_command": ["$W/notify.sh", "$W/runs", "$W/mode"],
             "notify_timeout_seconds": 3 } }
JSON
export P11ENROLL_CONFIG=$W/config.json
runs() { ls runs | grep -c '^run\.[^.]*$' ; }
# last_run: the newest run's file.
last_run() { ls -t runs/run.* | grep -v '\.fds$' | head -1; }
var() { sed -n "s/^$1=//p" "$(last_run)"; }

# The config's key is checked at load: a shell string, a relative path, a bad timeout.
for bad in '"notify_command": "/bin/true; rm -rf /"' '"notify_command": ["true"]' \
	'"notify_command": []' '"notify_command": ["/bin/true", 3]' '"notify_timeout_seconds": 0'; do
	printf '{ "default_ca": "local:%s", "cards": { %s } }\n' "$CA_DIR" "$bad" >bad.json
	out=$(P11ENROLL_CONFIG=$W/bad.json "$P11ENROLL" card list 2>&1)
	check_eq "config with $bad: exit 8 ($out)" 8 $?
	check_contains "it names the key" "$out" "cards.notify_"
done

# alice's identity on the test token, bob's on another token; both registered and issued.
softhsm2-util --init-token --free --label other --so-pin "$SO_OLD" --pin "$TEST_PIN" >/dev/null
p11e_logged enroll "$U" --email $ALICE --ca "local:$CA_DIR" --pin-source "$PIN_SRC"
check_eq "enroll alice: exit 0 ($OUT)" 0 $?
p11e_logged enroll pkcs11:token=other --email $BOB --ca "local:$CA_DIR" --pin-source "$PIN_SRC"
check_eq "enroll bob onto another card: exit 0 ($OUT)" 0 $?
SA=$(p11e pin status "$U" --json | jq -r .serial)
SB=$(p11e pin status pkcs11:token=other --json | jq -r .serial)
for s in "$SA" "$SB"; do
	p11e_logged card register "pkcs11:serial=$s" --no-personalise
	check_eq "register $s: exit 0 ($OUT)" 0 $?
	p11e_logged card issue "$s" --operator helpdesk1 --reason "handed out"
	check_eq "issue $s: exit 0 ($OUT)" 0 $?
done
check_eq "issue is no out-of-service move: no notification" 0 "$(runs)"
state() { p11e card show "$1" --json | jq -r .state; }
record $ALICE | jq -r .cert_pem >alice.pem
p11e ca cert --ca "local:$CA_DIR" >ca.pem
verify() {
	p11e ca crl --dir "$CA_DIR" --out crl.pem >/dev/null 2>&1 &&
		openssl verify -crl_check -CAfile ca.pem -CRLfile crl.pem alice.pem 2>&1
}
check_contains "before: alice's certificate verifies against a fresh CRL" "$(verify)" ": OK"

portal_serve
req() {
	local out=$1
	shift
	curl -sS --max-time 120 --cacert tls.pem -o "$out" -w '%{http_code}' "$@" 2>>curl.err
}
text() { sed 's/<[^>]*>//g' "$1"; }
csrf_of() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$1" | head -1; }
# sign_in EMAIL JAR: a session by an invitation code; its CSRF token into CSRF.
sign_in() {
	local code
	code=$(p11e invite "$1")
	req si.json -c "$2" -H 'Content-Type: application/json' \
		-d "{\"email\": \"$1\", \"code\": \"$code\"}" "$URL/api/v1/session" >/dev/null
	CSRF=$(jq -r .csrf si.json)
}
sign_in $ALICE alice.jar
A_CSRF=$CSRF
sign_in $BOB bob.jar
B_CSRF=$CSRF

# --- alice sees her card and its state ---
check_eq "GET /cards without a sign-in: 401" 401 "$(req x.html "$URL/cards")"
check_eq "GET /api/v1/cards without a sign-in: 401" 401 "$(req x.json "$URL/api/v1/cards")"
check_eq "alice's cards page" 200 "$(req c.html -b alice.jar "$URL/cards")"
check_contains "the page names her card" "$(text c.html)" "Serial number$SA"
check_contains "... in plain words: in use" "$(text c.html)" "In use"
check_contains "... with a link to report it lost" "$(cat c.html)" "href=\"/cards/$SA/lost\""
check_not_contains "... and not bob's card" "$(cat c.html)" "$SB"
check_not_contains "the page: no inline style" "$(cat c.html)" "style="
check_eq "the start page links to the cards page" 200 "$(req h.html -b alice.jar "$URL/")"
check_contains "... 'Your card'" "$(cat h.html)" 'href="/cards"'
check_eq "GET /api/v1/cards" 200 "$(req c.json -b alice.jar "$URL/api/v1/cards")"
check_eq "JSON: her one card, issued, her generation 1" "$SA issued 1" \
	"$(jq -r '.cards[0] | "\(.serial) \(.state) \(.generations[0].generation)"' c.json)"
check_eq "JSON: one card" 1 "$(jq '.cards | length' c.json)"
check_eq "bob's JSON: his card only" "$SB" "$(req b.json -b bob.jar "$URL/api/v1/cards" >/dev/null; jq -r '[.cards[].serial] | join(" ")' b.json)"

# --- what must not change anything ---
before_a=$(p11e card show "$SA" --json | jq -c .history)
before_b=$(p11e card show "$SB" --json | jq -c .history)
check_eq "GET the confirmation: 200" 200 "$(req conf.html -b alice.jar "$URL/cards/$SA/lost")"
check_contains "the confirmation: a form that POSTs" "$(cat conf.html)" "<form method=\"post\" action=\"/cards/$SA/lost\">"
check_contains "... with a box to tick" "$(cat conf.html)" 'name="confirm" value="lost" required'
check_eq "GET /api/v1/cards/SERIAL/lost: 405" 405 "$(req x.json -b alice.jar "$URL/api/v1/cards/$SA/lost")"
check_eq "alice asks for bob's card's page: 403" 403 "$(req x.html -b alice.jar "$URL/cards/$SB/lost")"
check_eq "alice reports bob's card lost (form): 403" 403 \
	"$(req x.html -b alice.jar --data-urlencode "csrf=$A_CSRF" -d confirm=lost "$URL/cards/$SB/lost")"
check_contains "... says not yours" "$(text x.html)" "Not yours"
check_eq "alice reports bob's card lost (API): 403" 403 \
	"$(req x.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" -H 'Content-Type: application/json' \
		-d '{"confirm": "lost"}' "$URL/api/v1/cards/$SB/lost")"
check_contains "... as JSON" "$(jq -r .error x.json)" "not yours"
check_eq "an unknown serial: the same 403" 403 \
	"$(req x.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" -H 'Content-Type: application/json' \
		-d '{"confirm": "lost"}' "$URL/api/v1/cards/0000000000000000/lost")"
check_eq "a serial that is not one: 400" 400 \
	"$(req x.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" -H 'Content-Type: application/json' \
		-d '{"confirm": "lost"}' "$URL/api/v1/cards/a%20b/lost")"
check_eq "no CSRF token (form): 403" 403 "$(req x.html -b alice.jar -d confirm=lost "$URL/cards/$SA/lost")"
check_eq "no CSRF token (API): 403" 403 \
	"$(req x.json -b alice.jar -H 'Content-Type: application/json' -d '{"confirm": "lost"}' "$URL/api/v1/cards/$SA/lost")"
check_eq "the box not ticked: 400" 400 \
	"$(req x.html -b alice.jar --data-urlencode "csrf=$A_CSRF" "$URL/cards/$SA/lost")"
check_eq "API without the confirmation: 400" 400 \
	"$(req x.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" -H 'Content-Type: application/json' \
		-d '{}' "$URL/api/v1/cards/$SA/lost")"
check_eq "a reason over two lines: 400" 400 \
	"$(req x.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" -H 'Content-Type: application/json' \
		-d '{"confirm": "lost", "reason": "a\nb"}' "$URL/api/v1/cards/$SA/lost")"
check_eq "a body over the limit: 413" 413 \
	"$(head -c 20000 /dev/zero | tr '\0' a | req x.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" \
		-H 'Content-Type: application/json' --data-binary @- "$URL/api/v1/cards/$SA/lost")"
check_eq "a form body as JSON's Content-Type: 415" 415 \
	"$(req x.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" -d confirm=lost "$URL/api/v1/cards/$SA/lost")"
check_eq "a cross-site form: 403" 403 \
	"$(req x.html -b alice.jar -H 'Origin: https://evil.example' --data-urlencode "csrf=$A_CSRF" \
		-d confirm=lost "$URL/cards/$SA/lost")"
check_eq "alice's card unchanged by all that" "$before_a" "$(p11e card show "$SA" --json | jq -c .history)"
check_eq "bob's card unchanged by all that" "$before_b" "$(p11e card show "$SB" --json | jq -c .history)"
check_eq "no notification by all that" 0 "$(runs)"

# --- alice reports her card lost through the form ---
REASON='on the train; $(touch pwned) `id` "x" --help'
check_eq "the report (form): 200" 200 \
	"$(req lost.html -D lost.h -b alice.jar --data-urlencode "csrf=$A_CSRF" -d confirm=lost \
		--data-urlencode "reason=$REASON" "$URL/cards/$SA/lost")"
check_contains "the page says so" "$(text lost.html)" "Reported: your card does not work any more"
check_contains "the answer: the security headers" "$(cat lost.h)" "default-src 'self'"
check_contains "the answer: no-store" "$(cat lost.h)" "Cache-Control: no-store"
check_eq "p11enroll card show: lost" lost "$(state "$SA")"
check_eq "the history: operator portal:alice, the reason" "portal:$ALICE|reported lost in the portal: $REASON" \
	"$(p11e card show "$SA" --json | jq -r '.history[-1] | "\(.operator)|\(.reason)"')"
check_contains "a hold, not a revocation: the CRL fails her certificate" "$(verify)" "certificate revoked"
check_contains "... as Certificate Hold" "$(openssl crl -in crl.pem -noout -text)" "Certificate Hold"
check_eq "her record is not revoked" null "$(record $ALICE | jq -r .revoked_reason)"
check_eq "audit: card-lost once, by portal:alice" "portal:$ALICE" \
	"$(audit_lines | jq -r "select(.action == \"card-lost\" and .serial == \"$SA\") | .operator")"
check_eq "audit: portal-card-lost, with the serial" "$ALICE $SA ok" \
	"$(audit_lines | jq -r 'select(.action == "portal-card-lost") | "\(.portal_user) \(.serial) \(.outcome)"')"
check_eq "the notification ran once" 1 "$(runs)"
check_eq "... with its argv from the config only" "ARGS=2:$W/runs $W/mode" "$(sed -n 1p "$(last_run)")"
check_eq "... serial" "$SA" "$(var P11E_CARD_SERIAL)"
check_eq "... move, from, to" "lost issued lost" "$(var P11E_CARD_MOVE) $(var P11E_CARD_FROM) $(var P11E_CARD_TO)"
check_eq "... operator" "portal:$ALICE" "$(var P11E_CARD_OPERATOR)"
check_eq "... the reason, verbatim" "reported lost in the portal: $REASON" "$(var P11E_CARD_REASON)"
check_eq "... the identities on the card" "$ALICE" "$(var P11E_CARD_IDENTITIES)"
# (the shell adds PWD, OLDPWD, SHLVL and _ of its own)
check_eq "... nothing else in its environment (no PIN, no config, no store credentials)" \
	"P11E_CARD_FROM P11E_CARD_IDENTITIES P11E_CARD_MOVE P11E_CARD_OPERATOR P11E_CARD_REASON P11E_CARD_SERIAL P11E_CARD_TO PATH" \
	"$(sed -n '2,$s/=.*//p' "$(last_run)" | grep -vxE 'PWD|OLDPWD|SHLVL|_' | sort -u | tr '\n' ' ' | sed 's/ $//')"
check_not_contains "... no PIN in it" "$(cat runs/run.*)" "$TEST_PIN"
check_eq "... no descriptor of the portal's inherited (sockets, store, audit log): 0 1 2 and dash's own 10 and 11" \
	"0 1 2 10 11" "$(sort -n "$(last_run).fds" | tr '\n' ' ' | sed 's/ $//')"
check "the reason was never run as a command" test ! -e pwned
check "... nor in the portal's directory" test ! -e "$W/runs/pwned"
check_eq "the cards page: reported lost" 200 "$(req c.html -b alice.jar "$URL/cards")"
check_contains "... in plain words" "$(text c.html)" "Reported lost"
check_not_contains "... no report link any more" "$(cat c.html)" "/cards/$SA/lost"
check_eq "JSON: lost" lost "$(req c.json -b alice.jar "$URL/api/v1/cards" >/dev/null; jq -r '.cards[0].state' c.json)"

# A second report: "already", nothing changed, no second notification.
hist=$(p11e card show "$SA" --json | jq '.history | length')
check_eq "a second report (API): 200" 200 \
	"$(req again.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" -H 'Content-Type: application/json' \
		-d '{"confirm": "lost"}' "$URL/api/v1/cards/$SA/lost")"
check_eq "... already: true" true "$(jq .already again.json)"
check_eq "a second report (form): 200" 200 \
	"$(req again.html -b alice.jar --data-urlencode "csrf=$A_CSRF" -d confirm=lost "$URL/cards/$SA/lost")"
check_contains "... says already" "$(text again.html)" "already reported lost"
check_eq "the confirmation page of a lost card: 409, already" 409 "$(req x.html -b alice.jar "$URL/cards/$SA/lost")"
check_eq "no new history entry" "$hist" "$(p11e card show "$SA" --json | jq '.history | length')"
check_eq "one card-lost audit line still" 1 "$(audit_lines | jq -r 'select(.action == "card-lost") | .serial' | grep -c "$SA")"
check_eq "no second notification" 1 "$(runs)"

# The helpdesk: found (back into service: no notification), then a CLI suspend notifies.
p11e_logged card found "$SA" --operator helpdesk1 --reason "turned up"
check_eq "found: exit 0 ($OUT)" 0 $?
check_eq "found: no notification" 1 "$(runs)"
check_contains "found: alice verifies again" "$(verify)" ": OK"
p11e_logged card suspend "$SA" --operator helpdesk1 --reason leave
check_eq "CLI suspend: exit 0 ($OUT)" 0 $?
check_eq "CLI suspend: notified" 2 "$(runs)"
check_eq "... suspend by helpdesk1" "suspend issued suspended helpdesk1 leave" \
	"$(var P11E_CARD_MOVE) $(var P11E_CARD_FROM) $(var P11E_CARD_TO) $(var P11E_CARD_OPERATOR) $(var P11E_CARD_REASON)"

# A notify command that fails: a suspended card reported lost through the API.
echo fail >mode
check_eq "report with a failing notify command (API): 200" 200 \
	"$(req l2.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" -H 'Content-Type: application/json' \
		-d '{"confirm": "lost", "reason": "gone"}' "$URL/api/v1/cards/$SA/lost")"
check_eq "... lost from suspended, reported" "lost false" "$(jq -r '"\(.state) \(.already)"' l2.json)"
check_eq "... the move stands" lost "$(state "$SA")"
check_eq "... the command ran" 3 "$(runs)"
check_contains "... a warning" "$(cat serve.log)" "cards.notify_command failed"
check_contains "... naming its status" "$(cat serve.log)" "exited with status 3"
check_eq "... audited card-notify (failed)" "$SA lost" \
	"$(audit_lines | jq -r 'select(.action == "card-notify") | "\(.serial) \(.move)"' | tail -1)"

# A notify command that hangs: killed at notify_timeout_seconds (3), with what it started.
p11e_logged card found "$SA"
echo hang >mode
rm -f runs/sleep.pid
start=$(date +%s)
check_eq "report with a hanging notify command (form): 200" 200 \
	"$(req l3.html -b alice.jar --data-urlencode "csrf=$A_CSRF" -d confirm=lost "$URL/cards/$SA/lost")"
check "... answered once the command was killed (not after its 300 s)" test $(($(date +%s) - start)) -lt 200
check_eq "... the move stands" lost "$(state "$SA")"
check_contains "... a warning: killed" "$(cat serve.log)" "did not end within 3 s: killed"
check_eq "... audited card-notify twice now" 2 "$(audit_lines | jq -r 'select(.action == "card-notify") | .serial' | grep -c "$SA")"
check "... what it started is gone too" test -s runs/sleep.pid
sleep_pid=$(cat runs/sleep.pid)
# gone, or a zombie its new parent has not reaped yet: not running either way
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" = Z ]; }
check "... (its sleep $sleep_pid killed with its group: $(cat /proc/$sleep_pid/stat 2>/dev/null))" gone "$sleep_pid"
check_eq "the portal still answers" 200 "$(req c.json -b alice.jar "$URL/api/v1/cards")"

# A card in a state that cannot be lost (damaged): 409, nothing changed, no notification.
: >mode
p11e_logged card found "$SA"
p11e_logged card damaged "$SA" --reason "cracked"
check_eq "damaged: exit 0 ($OUT)" 0 $?
n=$(runs)
hist=$(p11e card show "$SA" --json | jq '.history | length')
check_eq "report a damaged card (API): 409" 409 \
	"$(req x.json -b alice.jar -H "X-CSRF-Token: $A_CSRF" -H 'Content-Type: application/json' \
		-d '{"confirm": "lost"}' "$URL/api/v1/cards/$SA/lost")"
check_contains "... says why" "$(jq -r .error x.json)" "your card is damaged"
check_eq "... its confirmation page: 409" 409 "$(req x.html -b alice.jar "$URL/cards/$SA/lost")"
check_eq "... still damaged, no new history entry" "damaged $hist" \
	"$(p11e card show "$SA" --json | jq -r '"\(.state) \(.history | length)"')"
check_eq "... no notification" "$n" "$(runs)"
check_eq "the cards page: 200" 200 "$(req c.html -b alice.jar "$URL/cards")"
check_contains "... damaged" "$(text c.html)" "Damaged: it does not work"
check_not_contains "... no report link" "$(cat c.html)" "/cards/$SA/lost"

# carol's key is on a card the registry does not know: shown as such, a report is 404.
softhsm2-util --init-token --free --label third --so-pin "$SO_OLD" --pin "$TEST_PIN" >/dev/null
p11e_logged enroll pkcs11:token=third --email carol@example.org --ca "local:$CA_DIR" --pin-source "$PIN_SRC"
check_eq "enroll carol onto an unregistered card: exit 0 ($OUT)" 0 $?
SC=$(p11e pin status pkcs11:token=third --json | jq -r .serial)
sign_in carol@example.org carol.jar
check_eq "carol's cards (JSON): her card, state null" "$SC null" \
	"$(req c.json -b carol.jar "$URL/api/v1/cards" >/dev/null; jq -r '.cards[0] | "\(.serial) \(.state)"' c.json)"
check_eq "carol's cards page" 200 "$(req c.html -b carol.jar "$URL/cards")"
check_contains "... not known to the registry" "$(text c.html)" "Not known to the card registry"
check_eq "carol reports it lost: 404" 404 \
	"$(req x.json -b carol.jar -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' \
		-d '{"confirm": "lost"}' "$URL/api/v1/cards/$SC/lost")"
check_contains "... says to call the help desk" "$(jq -r .error x.json)" "help desk"
check "... and registered nothing" sh -c "! '$P11ENROLL' card show '$SC' >/dev/null 2>&1"

# bob's card went through none of it.
check_eq "bob's card: still issued" issued "$(state "$SB")"
check_eq "bob's card: its history as before" "$before_b" "$(p11e card show "$SB" --json | jq -c .history)"
check_not_contains "no notification named bob's card" "$(cat runs/run.*)" "$SB"
check_not_contains "no PIN in any output" "$(cat "$LOG" serve.log serve.out)" "$TEST_PIN"
portal_stop
finish
