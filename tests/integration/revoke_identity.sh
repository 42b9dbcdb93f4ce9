# p11enroll revoke IDENTITY: a generation revoked through the embedded CA (its
# index, its CRL: openssl verify -crl_check), recorded in the record and the
# audit log, idempotent, resumable after a crash between the CA and the
# record; --remove takes it off the token (and only then); a revoked current
# generation is due for renewal; earlier generations by --generation.
. "$TESTS_DIR/lib/common.sh"
setup_ca
echo "{\"default_ca\": \"local:$CA_DIR\"}" >"$TEST_TMP/config.json"
export P11ENROLL_CONFIG=$TEST_TMP/config.json
gen() { record "$1" | jq -r "$2"; }
crl_check() { # crl_check PEM: openssl verify against the CA and a fresh CRL
	p11e ca crl --dir "$CA_DIR" --out "$TEST_TMP/crl.pem" >/dev/null 2>&1 &&
		openssl verify -crl_check -CAfile "$CA_DIR/ca.pem" -CRLfile "$TEST_TMP/crl.pem" "$1" 2>&1
}

p11e enroll "$TEST_TOKEN_URI" --email rev@example.com --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "enroll" 0 $?
id1=$(key_id rev@example.com)
gen rev@example.com .cert_pem >"$TEST_TMP/g1.pem"
check_contains "before: verifies with -crl_check" "$(crl_check "$TEST_TMP/g1.pem")" ": OK"

out=$(p11e revoke rev@example.com 2>&1)
check_eq "no --reason: exit 2 ($out)" 2 $?
check_contains "names the option" "$out" "reason"
out=$(p11e revoke rev@example.com --reason bogus 2>&1)
check_eq "unknown reason: exit 2" 2 $?

if [ "${TEST_HOOKS:-0}" = 1 ]; then
	P11ENROLL_TEST_CRASH_AFTER=revoked-at-ca p11e revoke rev@example.com --reason keyCompromise \
		>/dev/null 2>&1
	check_eq "crash after the CA revoked it" 86 $?
	check_eq "the record does not say it yet" null "$(gen rev@example.com .revoked_reason)"
else
	bad "needs a test-hooks build for the crash point"
fi
out=$(p11e --json revoke rev@example.com --reason keyCompromise 2>&1)
check_eq "revoke ($out)" 0 $?
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	check_eq "the rerun: the CA had it already" true "$(echo "$out" | jq -r .already)"
fi
check_eq "record: revoked, keyCompromise" "revoked keyCompromise" \
	"$(p11e --json status rev@example.com | jq -r '.[0] | "\(.state) \(.revoked_reason)"')"
check_contains "the CRL rejects it" "$(crl_check "$TEST_TMP/g1.pem")" "certificate revoked"
check_eq "nothing left the token without --remove" "1 1" \
	"$(count_objects privkey "$id1") $(count_objects cert "$id1")"
check_contains "audit log has it" "$(grep '"revoke"' <(audit_lines))" \
	"keyCompromise"
out=$(p11e revoke rev@example.com --reason keyCompromise 2>&1)
check_contains "revoking again: already" "$out" "was already revoked"
# Again for another reason: the reason it stands revoked for is the recorded
# one (the CA keeps the first), not the one just given.
out=$(p11e revoke rev@example.com --reason affiliationChanged 2>&1)
check_contains "again, another reason: the recorded one ($out)" "$out" \
	"was already revoked (keyCompromise)"
out=$(p11e --json revoke rev@example.com --reason affiliationChanged 2>&1)
check_eq "--json: the recorded reason" "true keyCompromise" \
	"$(echo "$out" | jq -r '"\(.already) \(.reason)"')"
check_eq "the record keeps it" keyCompromise "$(gen rev@example.com .revoked_reason)"

# A revoked current generation is due: renew (no --force) makes generation 2.
out=$(p11e renew rev@example.com --pin-source "$PIN_SRC" 2>&1)
check_eq "renew of a revoked identity ($out)" 0 $?
check_eq "generation 2; 1 stays revoked" "2 revoked" \
	"$(gen rev@example.com '"\(.generation) \(.history[0].state)"')"
gen rev@example.com .cert_pem >"$TEST_TMP/g2.pem"
check_contains "generation 2 verifies" "$(crl_check "$TEST_TMP/g2.pem")" ": OK"

# An earlier generation, then --remove: its objects leave the token.
out=$(p11e revoke rev@example.com --generation 1 --reason superseded --remove \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "revoke --generation 1 --remove ($out)" 0 $?
check_eq "generation 1 off the token" "0 0" \
	"$(count_objects privkey "$id1") $(count_objects cert "$id1")"
check_eq "history says removed; the first reason kept" "removed keyCompromise" \
	"$(gen rev@example.com '"\(.history[0].on_token) \(.history[0].revoked_reason)"')"
id2=$(key_id rev@example.com)
check_eq "generation 2 untouched" "1 1" "$(count_objects privkey "$id2") $(count_objects cert "$id2")"
out=$(p11e revoke rev@example.com --generation 7 --reason superseded 2>&1)
check_eq "no generation 7: exit 10" 10 $?
out=$(p11e revoke nobody@example.com --reason superseded 2>&1)
check_eq "no identity: exit 10" 10 $?
finish
