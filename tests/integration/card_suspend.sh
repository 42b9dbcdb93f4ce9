# A card's suspension (issue 23): suspend puts every valid certificate on the card on hold
# at the embedded CA (certificateHold in its CRL: `openssl verify -crl_check` fails),
# resume lifts it (the next CRL leaves it out: the check passes again); a crash between
# two holds or two lifts and a rerun; lost --revoke (keyCompromise, final: found does not
# undo it); terminate --wipe (cessationOfOperation, wiped, back to stock); a CA that cannot lift a hold
# (cfssl) makes suspend refuse with nothing held.
. "$TESTS_DIR/lib/common.sh"
setup_ca
LOG=$TEST_TMP/all-output.log
: >"$LOG"
U=$TEST_TOKEN_URI
SERIAL=$(p11e pin status "$U" --json | jq -r .serial)
card() { p11e card show "$SERIAL" --json; }
state() { card | jq -r .state; }
for who in ann bob; do
	p11e_logged enroll "$U" --email $who@example.org --ca "local:$CA_DIR" --pin-source "$PIN_SRC"
	check_eq "enroll $who: exit 0 ($OUT)" 0 $?
	record $who@example.org | jq -r .cert_pem >"$TEST_TMP/$who.pem"
done
p11e ca cert --ca "local:$CA_DIR" >"$TEST_TMP/ca.pem"
# verify WHO: openssl verify -crl_check against a CRL signed now.
verify() {
	p11e ca crl --dir "$CA_DIR" --out "$TEST_TMP/crl.pem" >/dev/null 2>&1 &&
		openssl verify -crl_check -CAfile "$TEST_TMP/ca.pem" -CRLfile "$TEST_TMP/crl.pem" \
			"$TEST_TMP/$1.pem" 2>&1
}
crl_text() { openssl crl -in "$TEST_TMP/crl.pem" -noout -text; }

p11e_logged card register "$U" --no-personalise
check_eq "register: exit 0 ($OUT)" 0 $?
p11e_logged card issue "$SERIAL"
check_eq "issue: exit 0 ($OUT)" 0 $?
check_eq "show: the identities on the card" "ann@example.org bob@example.org" \
	"$(card | jq -r '[.generations[].identity] | join(" ")')"
check_contains "before suspend: ann verifies" "$(verify ann)" ": OK"

# suspend, cut after the first certificate's hold: the rerun holds both, once each.
P11ENROLL_TEST_CRASH_AFTER=card-cert-held p11e card suspend "$SERIAL" --reason leave >/dev/null 2>&1
check_eq "crash after the first hold: exit 86" 86 $?
check_eq "crash after the first hold: still issued" issued "$(state)"
p11e_logged card suspend "$SERIAL" --reason leave
check_eq "suspend rerun: exit 0 ($OUT)" 0 $?
check_eq "suspended" suspended "$(state)"
check_eq "the card lists both holds" 2 "$(card | jq '.held | length')"
for who in ann bob; do
	out=$(verify $who)
	check_contains "suspended: $who fails -crl_check" "$out" "certificate revoked"
done
check_contains "the CRL says Certificate Hold" "$(crl_text)" "Certificate Hold"
check_eq "the CRL lists each once" 2 "$(crl_text | grep -c 'Serial Number')"
check_eq "records still valid (a hold is not a revocation)" "null null" \
	"$(for w in ann bob; do record $w@example.org | jq -r .revoked_reason; done | tr '\n' ' ' | sed 's/ $//')"

# resume, cut after the first lift: the rerun lifts both; the next CRL leaves them out.
P11ENROLL_TEST_CRASH_AFTER=card-cert-lifted p11e card resume "$SERIAL" >/dev/null 2>&1
check_eq "crash after the first lift: exit 86" 86 $?
p11e_logged card resume "$SERIAL" --reason back
check_eq "resume rerun: exit 0 ($OUT)" 0 $?
check_eq "issued again" issued "$(state)"
for who in ann bob; do
	check_contains "resumed: $who verifies again" "$(verify $who)" ": OK"
done
check_eq "the CRL is empty again" 0 "$(crl_text | grep -c 'Serial Number')"
check_eq "no holds left on the card" null "$(card | jq .held)"

# lost (a hold), then lost --revoke is refused as a move (lost already)... a suspended card
# reported lost with --revoke: keyCompromise, final; found does not bring it back.
p11e_logged card suspend "$SERIAL"
p11e_logged card lost "$SERIAL" --revoke --reason "stolen"
check_eq "lost --revoke: exit 0 ($OUT)" 0 $?
check_eq "lost" lost "$(state)"
verify ann >/dev/null
check_contains "lost --revoke: Key Compromise in the CRL" "$(crl_text)" "Key Compromise"
check_not_contains "lost --revoke: the hold gave way" "$(crl_text)" "Certificate Hold"
check_eq "lost --revoke: records revoked" "keyCompromise keyCompromise" \
	"$(for w in ann bob; do record $w@example.org | jq -r .revoked_reason; done | tr '\n' ' ' | sed 's/ $//')"
p11e_logged card found "$SERIAL"
check_eq "found: exit 0 ($OUT)" 0 $?
check_contains "found after --revoke: ann still fails" "$(verify ann)" "certificate revoked"

# terminate: revokes what is valid (a new enrollment on the card) for cessationOfOperation,
# and returns the card to stock.
p11e_logged enroll "$U" --email cy@example.org --ca "local:$CA_DIR" --pin-source "$PIN_SRC"
record cy@example.org | jq -r .cert_pem >"$TEST_TMP/cy.pem"
p11e_logged card terminate "$SERIAL" --reason leaver --wipe "$U" --pin-source "$PIN_SRC"
check_eq "terminate --wipe: exit 0 ($OUT)" 0 $?
check_eq "terminate: in stock" in-stock "$(state)"
check_eq "terminate --wipe: nothing of p11enroll's left on the card" 0 \
	"$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')"
check_eq "terminate --wipe: the records retired" "retired retired retired" \
	"$(for w in ann bob cy; do record $w@example.org | jq -r .retired; done | tr '\n' ' ' | sed 's/ $//')"
check_contains "terminate: cy revoked" "$(verify cy)" "certificate revoked"
check_eq "terminate: cy's record says cessationOfOperation" cessationOfOperation \
	"$(record cy@example.org | jq -r .revoked_reason)"

# A CA that cannot lift a hold: suspend refuses, nothing held, the card where it was.
p11e_logged enroll "$U" --email dee@example.org --ca "local:$CA_DIR" --pin-source "$PIN_SRC"
record dee@example.org | jq -r .cert_pem >"$TEST_TMP/dee.pem"
p11e card issue "$SERIAL" >/dev/null
printf '{"cas": {"corp": {"type": "cfssl", "url": "https://127.0.0.1:1"}}}\n' >"$TEST_TMP/cfssl.json"
export P11ENROLL_CONFIG=$TEST_TMP/cfssl.json
record_edit dee@example.org '.ca = "corp"'
p11e_logged card suspend "$SERIAL"
check_eq "suspend with a cfssl certificate: exit 11 ($OUT)" 11 $?
check_contains "cfssl: says why and what to do" "$OUT" "cannot put it on hold"
check_eq "cfssl: the card is still issued" issued "$(state)"
record_edit dee@example.org ".ca = \"local:$CA_DIR\""
check_contains "cfssl refusal: dee still verifies" "$(verify dee)" ": OK"
finish
