# `p11enroll wipe` and the certificates it leaves without their keys (issue 20, item 1):
# before, a wipe forgot them (the records started afresh: the CA had two valid serials
# for one person, and status and revoke could reach only the new one). Now the valid
# ones are revoked through their CA (cessationOfOperation, or --revoke REASON), or kept
# valid with --keep-valid; a CA that cannot revoke makes wipe refuse (11) with nothing
# touched; the audit line names the serials; a wiped identity keeps its generations
# (removed from the token) and its next enrollment is the next generation. Checked with
# `p11enroll ca crl` and `openssl verify -crl_check`.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "wipe tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
S=$P11ENROLL_STATE_DIR
export P11ENROLL_CONFIG=$TEST_TMP/config.json
printf 'unused\n' >"$TEST_TMP/challenge"
# old-scep: a CA p11enroll cannot revoke through (SCEP has no revocation); never contacted.
cat >"$P11ENROLL_CONFIG" <<JSON
{ "default_ca": "local:$CA_DIR",
  "cas": { "old-scep": { "type": "scep", "url": "http://scep.example.invalid/scep",
                         "challenge_password_file": "challenge" } } }
JSON
enroll() { p11e enroll "$TEST_TOKEN_URI" --email "$1" --pin-source "$PIN_SRC" >/dev/null 2>&1; }
wipe() { p11e wipe "$TEST_TOKEN_URI" --confirm test --pin-source "$PIN_SRC" "$@"; }
privkeys() { p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object' || true; }
pem() { record "$1" | jq -r "$2" >"$TEST_TMP/$3.pem"; }
# serial FILE: as p11enroll writes it (lower-case hex, no leading zero byte)
serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//; s/^\(00\)*//' | tr A-F a-f; }
crl_verify() { # crl_verify PEM: openssl verify -crl_check against a fresh CRL; prints its verdict
	p11e ca crl --dir "$CA_DIR" >"$TEST_TMP/crl.pem" 2>/dev/null
	cat "$CA_DIR/ca.pem" "$TEST_TMP/crl.pem" >"$TEST_TMP/bundle.pem"
	openssl verify -crl_check -CAfile "$TEST_TMP/bundle.pem" "$1" 2>&1 | grep -o 'OK$\|certificate revoked' | head -1
}

# ann@ renewed (smime: generation 1's encryption key kept beside generation 2), bob@ once.
enroll ann@example.com && p11e renew ann@example.com --force --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "ann@: generation 2, generation 1 kept on the token" "2 kept" \
	"$(record ann@example.com | jq -r '"\(.generation) \(.history[0].on_token)"')"
enroll bob@example.com
pem ann@example.com .history[0].cert_pem ann1
pem ann@example.com .cert_pem ann2
pem bob@example.com .cert_pem bob1
for c in ann1 ann2 bob1; do
	check_eq "$c valid before the wipe" OK "$(crl_verify "$TEST_TMP/$c.pem")"
done

# Bad options: nothing touched.
out=$(wipe --revoke bogus 2>&1)
check_eq "--revoke bogus: exit 2 ($out)" 2 $?
check_contains "--revoke bogus: names the option" "$out" "--revoke"
out=$(wipe --revoke superseded --keep-valid 2>&1)
check_eq "--revoke with --keep-valid: exit 2 ($out)" 2 $?
check_eq "refused: 3 private keys still" 3 "$(privkeys)"

# cat@ issued by the embedded CA, but its record says a CA that cannot revoke.
enroll cat@example.com
pem cat@example.com .cert_pem cat1
record_edit cat@example.com '.ca = "old-scep"'
index=$(md5sum <"$CA_DIR/index.jsonl")
out=$(wipe 2>&1)
check_eq "a valid certificate its CA cannot revoke: exit 11 ($out)" 11 $?
check_contains "refusal names the identity" "$out" "cat@example.com"
check_contains "refusal names the serial" "$out" "$(serial "$TEST_TMP/cat1.pem")"
check_contains "refusal names --keep-valid" "$out" "--keep-valid"
check_eq "refused: 4 private keys still" 4 "$(privkeys)"
check_eq "refused: nothing retired" "none none" \
	"$(record ann@example.com | jq -r '.retired // "none"') $(record cat@example.com | jq -r '.retired // "none"')"
check_eq "refused: nothing revoked at the CA" "$index" "$(md5sum <"$CA_DIR/index.jsonl")"
record cat@example.com >"$TEST_TMP/cat.json" && record_remove cat@example.com # cat@ comes back for --keep-valid below

# The default: every valid certificate whose key goes is revoked (cessationOfOperation).
# Cut short after the first revocation is saved: a rerun finishes, revoking none twice.
out=$(P11ENROLL_TEST_CRASH_AFTER=wipe-revoked wipe 2>&1)
check_eq "crash after the first revocation: exit 86 ($out)" 86 $?
out=$(wipe --json 2>&1)
check_eq "rerun: exit 0 ($out)" 0 $?
check_eq "rerun: ann@ and bob@ retired" 2 "$(jq -r .identities_retired <<<"$out")"
check_eq "rerun: the two left revoked (one was before the crash)" 2 \
	"$(jq -r .certificates_revoked <<<"$out")"
for c in ann1 ann2 bob1; do
	check_eq "$c revoked at the CA (openssl verify -crl_check)" "certificate revoked" \
		"$(crl_verify "$TEST_TMP/$c.pem")"
done
check_eq "the CRL lists exactly the three" 3 \
	"$(openssl crl -in "$TEST_TMP/crl.pem" -noout -text | grep -c 'Serial Number:')"
check_contains "with the reason" "$(openssl crl -in "$TEST_TMP/crl.pem" -noout -text)" \
	"Cessation Of Operation"
check_eq "ann@'s record: both generations revoked" "cessationOfOperation cessationOfOperation" \
	"$(record ann@example.com | jq -r '"\(.history[0].revoked_reason) \(.revoked_reason)"')"
audit=$(grep '"action":"wipe"' <(audit_lines) | grep '"outcome":"ok"' | grep ann@example.com)
for c in ann1 ann2; do
	check_contains "audit: ann@'s wipe line names $c's serial" \
		"$(jq -r .certificates <<<"$audit")" "$(serial "$TEST_TMP/$c.pem")"
done
check_contains "audit: the ones this run revoked, with the reason" \
	"$(jq -r '"\(.revoked) \(.reason)"' <<<"$audit")" "cessationOfOperation"
check_eq "audit: one revoke line per certificate" 3 \
	"$(grep '"action":"revoke"' <(audit_lines) | grep -c '"outcome":"ok"')"
check "audit verify" p11e audit verify

# A wiped identity keeps its history; its next enrollment is the next generation.
enroll ann@example.com && enroll bob@example.com
check_eq "ann@ enrolled again: generation 3" 3 "$(record ann@example.com | jq -r .generation)"
check_eq "ann@: generations 1 and 2 kept, revoked, removed from the token" \
	"1 revoked removed 2 revoked removed" \
	"$(record ann@example.com | jq -r '[.history[] | "\(.number) \(.state) \(.on_token)"] | join(" ")')"
check_eq "ann@: the serials kept" "$(serial "$TEST_TMP/ann1.pem") $(serial "$TEST_TMP/ann2.pem")" \
	"$(for n in 0 1; do record ann@example.com | jq -r ".history[$n].cert_pem" | openssl x509 -noout -serial | sed 's/^serial=//; s/^\(00\)*//' | tr A-F a-f; done | xargs)"
check_eq "bob@: generation 2, generation 1 in its history" "2 1" \
	"$(record bob@example.com | jq -r '"\(.generation) \(.history[0].number)"')"
pem bob@example.com .cert_pem bob2
check_eq "bob@'s new certificate is valid, the old one revoked" "OK certificate revoked" \
	"$(crl_verify "$TEST_TMP/bob2.pem") $(crl_verify "$TEST_TMP/bob1.pem")"
out=$(p11e revoke ann@example.com --generation 1 --reason keyCompromise 2>&1)
check_eq "revoke still reaches the wiped generation 1 ($out)" 0 $?
check_contains "revoke: it was already revoked" "$out" "already revoked"
out=$(p11e status ann@example.com --json 2>&1)
check_eq "status lists the three generations" "1 2 3" \
	"$(jq -r '[.. | objects | select(has("generation")) | .generation] | unique | join(" ")' <<<"$out" 2>/dev/null ||
		echo "$out")"

# --keep-valid: cat@ (whose CA cannot revoke) is wiped, its certificate stays valid,
# and the audit line says so.
record_put cat@example.com <"$TEST_TMP/cat.json"
out=$(wipe --keep-valid --json 2>&1)
check_eq "--keep-valid: exit 0 ($out)" 0 $?
# (ann@ and bob@ went back onto this token: their new generations go too.)
check_eq "--keep-valid: cat@, ann@, bob@ retired, three kept valid, none revoked" "3 3 0" \
	"$(jq -r '"\(.identities_retired) \(.certificates_kept_valid) \(.certificates_revoked)"' <<<"$out")"
check_eq "cat@'s and bob@'s certificates still valid at the CA" "OK OK" \
	"$(crl_verify "$TEST_TMP/cat1.pem") $(crl_verify "$TEST_TMP/bob2.pem")"
check_contains "audit: kept_valid names cat@'s serial" \
	"$(grep '"action":"wipe"' <(audit_lines) | grep cat@example.com | jq -r '.kept_valid // empty')" \
	"$(serial "$TEST_TMP/cat1.pem")"
enroll cat@example.com
check_eq "cat@ enrolled again: generation 2, generation 1 retired and removed" "2 retired removed" \
	"$(record cat@example.com | jq -r '"\(.generation) \(.history[0].state) \(.history[0].on_token)"')"

# A generation wiped before its certificate (here cut short once its key was made)
# leaves no history entry, but its number is used up: the next enrollment is 2.
P11ENROLL_TEST_CRASH_AFTER=key-generated p11e enroll "$TEST_TOKEN_URI" --email dan@example.com \
	--pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "dan@ cut short at key-generated (86)" 86 $?
out=$(wipe --json 2>&1)
check_eq "wipe dan@ (and cat@'s new generation): exit 0 ($out)" 0 $?
check_eq "dan@ and cat@ retired, only cat@'s certificate to revoke" "2 1" \
	"$(jq -r '"\(.identities_retired) \(.certificates_revoked)"' <<<"$out")"
enroll dan@example.com
check_eq "dan@ enrolled again: generation 2, no earlier certificate to keep" "done 2 0" \
	"$(record dan@example.com | jq -r '"\(.step) \(.generation) \(.history // [] | length)"')"
check "audit verify at the end" p11e audit verify
finish
