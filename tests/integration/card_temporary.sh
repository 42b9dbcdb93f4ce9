# A temporary card (issue 23 item 4): `card lost SERIAL --temporary URI --days N` holds the
# lost card's certificates and gives a card from stock new keys with certificates that end
# within N days (openssl x509 -enddate), for the same identities, and the archived
# encryption key restored (mail to the permanent card's certificate decrypts on it);
# `card found SERIAL --temporary URI` revokes the temporary certificates (on the CRL), wipes
# the card (no keys, no certificates) and returns it to stock, and the permanent card's
# certificates verify again; the records never stop pointing at the permanent card (renew
# and status act on it afterwards). A kill at every step and a rerun: one key and one
# certificate per identity, never a second CA request. Hostile input: one line, nothing
# changed.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/w
mkdir -p "$W"
# The helpdesk's notification command: one line per call.
cat >"$W/notify.sh" <<'SH'
#!/bin/sh
echo "$P11E_CARD_SERIAL $P11E_CARD_MOVE $P11E_CARD_FROM $P11E_CARD_TO" >>"$1"
SH
chmod 755 "$W/notify.sh"
file_vault "$W" '"profiles": { "short": { "base": "smime-sign", "validity_days": 3 } },
  "cards": { "notify_command": ["'"$W"'/notify.sh", "'"$W"'/notified"] }'
OFFICER=(--officer-key "$W/officer.key")
printf '%s' "$TEST_PIN" >"$TEST_TMP/engine.pin"
LOG=$TEST_TMP/all-output.log
: >"$LOG"
# Fixture only: softhsm2-util takes PINs as arguments; p11enroll never does.
for card in temp other blank; do
	softhsm2-util --init-token --free --label "$card" --so-pin 12345678 --pin "$TEST_PIN" >/dev/null
done
U=$TEST_TOKEN_URI
T="pkcs11:token=temp"
PERM=$(p11e pin status "$U" --json | jq -r .serial)
TS=$(p11e pin status "$T" --json | jq -r .serial)
OS=$(p11e pin status "pkcs11:token=other" --json | jq -r .serial)
doc() { p11e card show "$1" --json; }
state() { doc "$1" | jq -r .state; }
objects_on() { # objects_on LABEL TYPE [TEXT]: objects of TYPE (with TEXT in the label)
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$1" --login --pin env:TEST_PIN \
		--list-objects --type "$2" 2>/dev/null | grep -c "label:.*${3:-}" || true
}
requests() { # the embedded CA's requests (as ca_docs finds them: its store), counted
	if on_pg; then
		"$STORE_PROBE" "" list ca-request | grep -c . || true
	else
		env -u P11ENROLL_CONFIG -u P11ENROLL_STORE P11ENROLL_STATE_DIR="$CA_DIR" \
			"$STORE_PROBE" "" list ca-request | grep -c . || true
	fi
}
p11e ca cert --ca "local:$CA_DIR" >"$TEST_TMP/ca.pem"
verify() { # verify PEM: openssl verify -crl_check against a CRL signed now
	p11e ca crl --dir "$CA_DIR" --out "$TEST_TMP/crl.pem" >/dev/null 2>&1 &&
		openssl verify -crl_check -CAfile "$TEST_TMP/ca.pem" -CRLfile "$TEST_TMP/crl.pem" "$1" 2>&1
}
lines() { printf '%s\n' "$1" | grep -c .; }

p11e_logged enroll "$U" --email ann@example.org --pin-source "$PIN_SRC"
check_eq "enroll ann: exit 0 ($OUT)" 0 $?
# short@'s profile gives 3 days: its temporary certificate never outlives that.
p11e_logged enroll "$U" --email short@example.org --profile short --pin-source "$PIN_SRC"
check_eq "enroll short (3-day profile): exit 0 ($OUT)" 0 $?
p11e_logged enroll "$U" --archive --email arch@example.org --pin-source "$PIN_SRC" "${OFFICER[@]}"
check_eq "enroll arch --archive: exit 0 ($OUT)" 0 $?
for who in ann arch; do record $who@example.org | jq -r .cert_pem >"$TEST_TMP/$who.pem"; done
echo "to the permanent card" >"$TEST_TMP/m.txt"
openssl cms -encrypt -binary -aes256 -in "$TEST_TMP/m.txt" -out "$TEST_TMP/m.p7m" "$TEST_TMP/arch.pem"
for u in "$U" "$T" pkcs11:token=other; do
	p11e_logged card register "$u" --no-personalise
	check_eq "register $u: exit 0 ($OUT)" 0 $?
done
p11e_logged card issue "$PERM"
p11e_logged card issue "$OS"
check_eq "states before" "issued in-stock issued" "$(state "$PERM") $(state "$TS") $(state "$OS")"
req0=$(requests)

# Hostile input: one line, a documented exit code, nothing changed.
refused() { # refused WHAT EXIT ARGS...
	local what=$1 want=$2
	shift 2
	out=$(p11e card "$@" --pin-source "$PIN_SRC" "${OFFICER[@]}" 2>&1)
	check_eq "$what: exit $want ($out)" "$want" $?
	check_eq "$what: one line" 1 "$(lines "$out")"
}
refused "unknown serial" 10 lost nosuchcard --temporary "$T" --days 7
refused "temporary card not registered" 10 lost "$PERM" --temporary pkcs11:token=blank --days 7
refused "not in stock" 2 lost "$PERM" --temporary pkcs11:token=other --days 7
refused "the same card" 2 lost "$PERM" --temporary "$U" --days 7
refused "a lost card holding no certificate" 2 lost "$OS" --temporary "$T" --days 7
refused "--days 0" 2 lost "$PERM" --temporary "$T" --days 0
refused "--days huge" 2 lost "$PERM" --temporary "$T" --days 100000
refused "--days not a number" 2 lost "$PERM" --temporary "$T" --days 7x
refused "--temporary without --days" 2 lost "$PERM" --temporary "$T"
refused "--temporary on suspend" 2 suspend "$PERM" --temporary "$T"
refused "--days without --temporary" 2 lost "$PERM" --days 7
refused "found: no temporary card" 2 found "$PERM" --temporary "$T"
out=$(p11e card lost "$PERM" --temporary "$T" --days 7 --pin-source "$PIN_SRC" 2>&1)
check_eq "archived keys, no --officer-key: exit 2 ($out)" 2 $?
check_contains "no --officer-key: names it" "$out" "--officer-key"
check_eq "refusals: states unchanged (other still issued)" "issued in-stock issued" \
	"$(state "$PERM") $(state "$TS") $(state "$OS")"
check_eq "refusals: no temporary link" "null null" \
	"$(doc "$PERM" | jq -r .temporary_card) $(doc "$TS" | jq -r .temporary)"
check_eq "refusals: nothing on the temporary card" "0 0" \
	"$(objects_on temp privkey) $(objects_on temp cert)"
check_eq "refusals: no CA request" "$req0" "$(requests)"
check_contains "refusals: ann verifies" "$(verify "$TEST_TMP/ann.pem")" ": OK"
# The temporary card busy (another command holds its lock): exit 12, nothing changed.
check "busy: the temporary card's lock held" lock_hold card "$TS"
out=$(p11e card lost "$PERM" --temporary "$T" --days 7 --wait 1 --pin-source "$PIN_SRC" \
	"${OFFICER[@]}" 2>&1)
check_eq "busy temporary card: exit 12 ($out)" 12 $?
lock_release
check_eq "busy: states unchanged" "issued in-stock" "$(state "$PERM") $(state "$TS")"
check_eq "busy: no CA request" "$req0" "$(requests)"

# lost --temporary, killed at every step; each rerun goes on from where the last stopped.
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	for point in temp-planned card-cert-held card-moved temp-key-pending temp-key temp-csr \
		temp-issued temp-stored temp-restored; do
		P11ENROLL_TEST_CRASH_AFTER=$point p11e card lost "$PERM" --temporary "$T" --days 7 \
			--reason "left on a train" --pin-source "$PIN_SRC" "${OFFICER[@]}" >>"$LOG" 2>&1
		check_eq "lost --temporary: killed after $point" 86 $?
	done
fi
p11e_logged card lost "$PERM" --temporary "$T" --days 7 --reason "left on a train" \
	--pin-source "$PIN_SRC" "${OFFICER[@]}"
check_eq "lost --temporary: exit 0 ($OUT)" 0 $?
# Told when the move is audited: once, even when a kill came between the move and its
# audit line (card-moved above).
check_eq "the helpdesk told of the loss once" "$PERM lost issued lost" \
	"$(grep " lost " "$W/notified" 2>/dev/null)"
check_contains "lost --temporary: says so" "$OUT" "card $TS is its temporary card"
check_eq "lost, temporary issued" "lost issued" "$(state "$PERM") $(state "$TS")"
check_eq "the documents name each other" "$TS $PERM" \
	"$(doc "$PERM" | jq -r .temporary_card) $(doc "$TS" | jq -r .temporary.for)"
# The lost card takes no key, a recovered archived key neither.
before=$(objects_on test privkey arch@)
out=$(p11e recover arch@example.org "$U" --pin-source "$PIN_SRC" "${OFFICER[@]}" 2>&1)
check_eq "recover onto the lost card: exit 2 ($out)" 2 $?
check_contains "recover onto the lost card: says why" "$out" "card $PERM is lost"
check_eq "recover onto the lost card: nothing imported" "$before" "$(objects_on test privkey arch@)"
check_contains "card show: the lost card names its stand-in" "$(p11e card show "$PERM")" \
	"temporary     card $TS stands in for it"
check_contains "card show: the temporary card says for which, until when" \
	"$(p11e card show "$TS")" "temporary     for card $PERM, until 20"
check_eq "one CA request per identity, never a second" $((req0 + 3)) "$(requests)"
check_eq "one key and one certificate for ann" "1 1" \
	"$(objects_on temp privkey ann@) $(objects_on temp cert ann@)"
check_eq "arch: a new signing key and the restored one, a certificate each" "2 2" \
	"$(objects_on temp privkey arch@) $(objects_on temp cert arch@)"
check_eq "short: one key, one certificate" "1 1" \
	"$(objects_on temp privkey short@) $(objects_on temp cert short@)"
out=$(p11e card lost "$PERM" --temporary "$T" --days 7 --pin-source "$PIN_SRC" --json 2>&1)
check_eq "lost --temporary again: already, nothing new" "0 true" \
	"$? $(jq -r .already <<<"$out" 2>/dev/null)"
check_eq "lost again: still one request per identity" $((req0 + 3)) "$(requests)"
now=$(date +%s)
for who in ann arch; do
	doc "$TS" | jq -r ".temporary.entries[] | select(.kind == \"new\" and .identity == \"$who@example.org\") | .cert_pem" \
		>"$TEST_TMP/$who-temp.pem"
	end=$(date -d "$(openssl x509 -in "$TEST_TMP/$who-temp.pem" -noout -enddate | cut -d= -f2)" +%s)
	check "$who's temporary certificate ends within 7 days ($end, now $now)" \
		test "$end" -le $((now + 7 * 86400 + 300)) -a "$end" -gt $((now + 6 * 86400))
	check_contains "lost: $who's temporary certificate verifies" \
		"$(verify "$TEST_TMP/$who-temp.pem")" ": OK"
	check_contains "lost: $who's permanent certificate fails -crl_check" \
		"$(verify "$TEST_TMP/$who.pem")" "certificate revoked"
done
doc "$TS" | jq -r '.temporary.entries[] | select(.identity == "short@example.org") | .cert_pem' \
	>"$TEST_TMP/short-temp.pem"
end=$(date -d "$(openssl x509 -in "$TEST_TMP/short-temp.pem" -noout -enddate | cut -d= -f2)" +%s)
check "short's temporary certificate: the profile's 3 days, not --days 7 ($end, now $now)" \
	test "$end" -le $((now + 3 * 86400 + 300))
check_eq "arch's temporary certificate signs only" "Digital Signature" \
	"$(openssl x509 -in "$TEST_TMP/arch-temp.pem" -noout -ext keyUsage | sed -n 2p | sed 's/^ *//')"
id=$(doc "$TS" | jq -r '.temporary.entries[] | select(.kind == "restored") | .key_id')
uri="pkcs11:token=temp;id=$(pct_id "$id");type=private?pin-source=file:$TEST_TMP/engine.pin"
check "mail to the permanent card decrypts on the temporary card" \
	openssl cms -decrypt -engine pkcs11 -keyform engine -inkey "$uri" \
	-recip "$TEST_TMP/arch.pem" -in "$TEST_TMP/m.p7m" -out "$TEST_TMP/m.out"
check_eq "the decrypted mail" "to the permanent card" "$(cat "$TEST_TMP/m.out" 2>/dev/null)"
check_eq "records still name the permanent card" "$PERM $PERM 1 1" \
	"$(record ann@example.org | jq -r .token_serial) $(record arch@example.org | jq -r .token_serial) $(record ann@example.org | jq -r '.generation // 1') $(record arch@example.org | jq -r '.generation // 1')"
check_eq "audited: the loss and the temporary card's issue" "1 1" \
	"$(audit_lines | jq -r "select(.action == \"card-lost\" and .serial == \"$PERM\") | .to" | grep -c lost) $(audit_lines | jq -r "select(.action == \"card-issue\" and .serial == \"$TS\") | .reason" | grep -c "temporary card for card $PERM")"
check_contains "status during the loss: the permanent card" \
	"$(p11e --json status ann@example.org | jq -r '.[0].token_serial')" "$PERM"

# found: refused without the temporary card at hand, or with another card.
out=$(p11e card found "$PERM" 2>&1)
check_eq "found without --temporary: exit 2 ($out)" 2 $?
check_contains "found without --temporary: says what to do" "$out" "give --temporary URI"
refused "found with the wrong card" 2 found "$PERM" --temporary pkcs11:token=other
# Someone enrolled onto the temporary card by hand: found waits until that is wiped.
p11e_logged enroll "$T" --email extra@example.org --pin-source "$PIN_SRC"
check_eq "enroll extra onto the temporary card: exit 0 ($OUT)" 0 $?
out=$(p11e card found "$PERM" --temporary "$T" --pin-source "$PIN_SRC" 2>&1)
check_eq "found, extra on the temporary card: exit 2 ($out)" 2 $?
check_contains "found, extra: names it" "$out" "extra@example.org was enrolled onto it"
check_eq "found, extra: still lost, temporary certificates not revoked" "lost 0" \
	"$(state "$PERM") $(doc "$TS" | jq '[.temporary.entries[] | select(.revoked)] | length')"
p11e_logged wipe "$T" --confirm temp --pin-source "$PIN_SRC"
check_eq "wipe extra off the temporary card: exit 0 ($OUT)" 0 $?
check_eq "the wipe left the temporary keys (not records')" "1 2 1" \
	"$(objects_on temp privkey ann@) $(objects_on temp privkey arch@) $(objects_on temp privkey short@)"
check_eq "found refused: still lost, temporary issued" "lost issued" "$(state "$PERM") $(state "$TS")"
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	for point in temp-cert-revoked card-cert-lifted card-moved temp-wiped; do
		P11ENROLL_TEST_CRASH_AFTER=$point p11e card found "$PERM" --temporary "$T" \
			--pin-source "$PIN_SRC" >>"$LOG" 2>&1
		check_eq "found: killed after $point" 86 $?
	done
fi
p11e_logged card found "$PERM" --temporary "$T" --pin-source "$PIN_SRC" --reason "turned up"
check_eq "found: exit 0 ($OUT)" 0 $?
check_eq "found: issued, the temporary card in stock" "issued in-stock" \
	"$(state "$PERM") $(state "$TS")"
check_eq "found: no link left" "null null" \
	"$(doc "$PERM" | jq -r .temporary_card) $(doc "$TS" | jq -r .temporary)"
check_eq "found: card show names no temporary card" 0 \
	"$( (p11e card show "$PERM"; p11e card show "$TS") | grep -c '^  temporary')"
check_eq "found: the temporary card is empty" "0 0 0" \
	"$(objects_on temp privkey) $(objects_on temp pubkey) $(objects_on temp cert)"
for who in ann arch; do
	check_contains "found: $who's temporary certificate is revoked" \
		"$(verify "$TEST_TMP/$who-temp.pem")" "certificate revoked"
	check_contains "found: $who's permanent certificate verifies again" \
		"$(verify "$TEST_TMP/$who.pem")" ": OK"
done
check_contains "found: the CRL says cessationOfOperation" \
	"$(openssl crl -in "$TEST_TMP/crl.pem" -noout -text)" "Cessation Of Operation"
check_eq "found: the temporary card's history" "register issue terminate restock" \
	"$(doc "$TS" | jq -r '[.history[].move] | join(" ")')"
check_eq "audited: found, terminate, restock" "1 1 1" \
	"$(for a in found:$PERM terminate:$TS restock:$TS; do audit_lines | jq -r "select(.action == \"card-${a%%:*}\" and .serial == \"${a#*:}\") | .to" | grep -c .; done | tr '\n' ' ' | sed 's/ $//')"
out=$(p11e card found "$PERM" 2>&1)
check_eq "found again: exit 0, nothing changed ($out)" 0 $?
check_contains "found again: already" "$out" "already"

# The records' current generation is the permanent card's: status shows it, renew renews it
# on the permanent card (the revoked temporary certificate plays no part).
check_eq "status after found: ann's permanent certificate" \
	"$(record ann@example.org | jq -r .not_after) $PERM" \
	"$(p11e --json status ann@example.org | jq -r '.[0] | "\(.not_after) \(.token_serial)"')"
p11e_logged renew ann@example.org --force --pin-source "$PIN_SRC"
check_eq "renew after found: exit 0 ($OUT)" 0 $?
check_eq "renewed on the permanent card, generation 1 superseded" "2 $PERM superseded" \
	"$(record ann@example.org | jq -r '"\(.generation) \(.token_serial) \(.history[0].state)"')"
check_eq "generation 1 is the permanent certificate" \
	"$(openssl x509 -in "$TEST_TMP/ann.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)" \
	"$(record ann@example.org | jq -r .history[0].cert_sha256)"
check_eq "nothing of ann on the temporary card" 0 "$(objects_on temp privkey ann@)"

# The temporary card, back in stock, can stand in again (its document was reset).
# Concurrency: while one run holds both cards (asleep after its first key), a move of the lost
# card is busy, and the same command waits for it and then finds it done: one request each.
# This time the card was stolen: --revoke (keyCompromise), which found does not undo.
req1=$(requests)
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	P11ENROLL_TEST_SLEEP_AT=temp-key P11ENROLL_TEST_SLEEP_MS=3000 p11e card lost "$PERM" \
		--temporary "$T" --days 2 --revoke --reason stolen --pin-source "$PIN_SRC" "${OFFICER[@]}" \
		>>"$LOG" 2>&1 &
	first=$!
	for _ in $(seq 1 300); do
		[ "$(doc "$TS" | jq -r '.temporary.entries[0].phase')" = key ] && break
		sleep 0.1
	done
	out=$(p11e card suspend "$PERM" --wait 0 2>&1)
	check_eq "during the run: the lost card is busy, exit 12 ($out)" 12 $?
	out=$(p11e card lost "$PERM" --temporary "$T" --days 2 --wait 60 --pin-source "$PIN_SRC" \
		"${OFFICER[@]}" --json 2>&1)
	check_eq "the same command meanwhile: waits, then already done" "0 true" \
		"$? $(jq -r .already <<<"$out" 2>/dev/null)"
	wait "$first"
	check_eq "the first run: exit 0" 0 $?
else
	p11e_logged card lost "$PERM" --temporary "$T" --days 2 --revoke --reason stolen \
		--pin-source "$PIN_SRC" "${OFFICER[@]}"
	check_eq "a second loss, the same temporary card: exit 0 ($OUT)" 0 $?
fi
check_eq "the second loss: one request per identity" $((req1 + 3)) "$(requests)"
check_eq "the second loss: one key per identity and the restored one" "1 2 1" \
	"$(objects_on temp privkey ann@) $(objects_on temp privkey arch@) $(objects_on temp privkey short@)"
check_eq "--revoke: the permanent certificates revoked" "keyCompromise keyCompromise" \
	"$(record ann@example.org | jq -r .revoked_reason) $(record short@example.org | jq -r .revoked_reason)"
doc "$TS" | jq -r '.temporary.entries[] | select(.identity == "ann@example.org") | .cert_pem' \
	>"$TEST_TMP/ann-temp2.pem"
check_contains "--revoke: ann's temporary certificate verifies" "$(verify "$TEST_TMP/ann-temp2.pem")" ": OK"
p11e_logged card found "$PERM" --temporary "$T" --pin-source "$PIN_SRC"
check_eq "found again: exit 0 ($OUT)" 0 $?
check_eq "back to stock twice" "issued in-stock" "$(state "$PERM") $(state "$TS")"
record ann@example.org | jq -r .cert_pem >"$TEST_TMP/ann2.pem"
check_contains "found after --revoke: ann's permanent certificate stays revoked" \
	"$(verify "$TEST_TMP/ann2.pem")" "certificate revoked"
check_contains "found after --revoke: the temporary one is revoked too" \
	"$(verify "$TEST_TMP/ann-temp2.pem")" "certificate revoked"
check_eq "found after --revoke: the temporary card is empty" "0 0" \
	"$(objects_on temp privkey) $(objects_on temp cert)"
finish
