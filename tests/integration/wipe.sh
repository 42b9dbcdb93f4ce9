# `p11enroll wipe URI --confirm LABEL` (issue 10, item 7): removes the keys, certificates
# and CA certificates p11enroll put on a token, never a user's own objects; retires the
# records (status shows it; a new enroll starts afresh); refuses a wrong label (2), a
# missing token (5), a busy identity (12) with nothing touched; a wipe cut short after
# "retiring" or after the objects went is finished by a rerun.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "wipe tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
U=$TEST_TOKEN_URI
enroll() { # enroll EMAIL [OPTIONS]
	local email=$1; shift
	p11e enroll "$U" --email "$email" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" "$@"
}
count() { # count TYPE: objects of a type on the token
	p11tool_opensc --list-objects --type "$1" | grep -c "^$2" || true
}
privkeys() { count privkey 'Private Key Object'; }
certs() { count cert 'Certificate Object'; }
wipe() { p11e wipe "$U" --confirm test --pin-source "$PIN_SRC" "$@"; }
retired() { record "$1" | jq -r '.retired // "none"'; }

# Issue 20 item 4: a key type the token cannot make (a card without Ed25519: the
# test-only shim over SoftHSM, P11SHIM_NO_EDDSA) is refused (11) and leaves no record,
# which wipe would then count as an identity it retired.
out=$(P11SHIM_NO_EDDSA=1 p11e --module "$P11SHIM" enroll "$U" --email refused@example.org \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" --key ed25519 --profile smime-sign 2>&1)
check_eq "a key type the token cannot make: exit 11 ($out)" 11 $?
check "refused: no record left" no_record refused@example.org
check_eq "refused: status lists nothing" 0 "$(p11e status --json 2>/dev/null | jq length)"
out=$(wipe --json 2>&1)
check_eq "wipe after a refused enrollment: exit 0 ($out)" 0 $?
check_eq "wipe after a refused enrollment: no identity retired" 0 \
	"$(jq -r .identities_retired <<<"$out")"

for who in a b c; do
	out=$(enroll $who@example.org 2>&1)
	check_eq "enroll $who: exit 0 ($out)" 0 $?
done
# A user's own key pair and certificate, which no record names.
p11tool_opensc --keypairgen --key-type EC:prime256v1 --id 99 --label mine >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=mine \
	-keyout "$TEST_TMP/mine.key" -outform DER -out "$TEST_TMP/mine.der" -days 2 2>/dev/null
p11tool_opensc --write-object "$TEST_TMP/mine.der" --type cert --id 98 --label mine-cert >/dev/null
check_eq "before: 4 private keys" 4 "$(privkeys)"
check_eq "before: 3 certificates, the CA's, the user's" 5 "$(certs)"

# A wrong label, no token: nothing touched.
out=$(p11e wipe "$U" --confirm Test --pin-source "$PIN_SRC" 2>&1)
check_eq "wrong label: exit 2 ($out)" 2 $?
check_contains "wrong label: names the token's" "$out" "'test'"
out=$(p11e wipe pkcs11:token=nosuch --confirm nosuch --pin-source "$PIN_SRC" 2>&1)
check_eq "no such token: exit 5 ($out)" 5 $?
out=$(p11e wipe "$U" --pin-source "$PIN_SRC" 2>&1)
check_eq "no --confirm: exit 2" 2 $?
check_eq "refused wipes: 4 private keys still" 4 "$(privkeys)"
check_eq "refused wipes: no record retired" none "$(retired a@example.org)"

# A busy identity (a run holds its lock): exit 12, nothing touched.
check "busy: the lock held" lock_hold identity b@example.org
out=$(wipe --wait 1 2>&1)
check_eq "busy identity: exit 12 ($out)" 12 $?
lock_release
check_eq "busy: 4 private keys still" 4 "$(privkeys)"
check_eq "busy: a not retired" none "$(retired a@example.org)"

# Cut short after a record says "retiring": it is not resumed by enroll; a rerun finishes.
out=$(P11ENROLL_TEST_CRASH_AFTER=wipe-marked wipe 2>&1)
check_eq "crash after wipe-marked: exit 86 ($out)" 86 $?
check_eq "crash after wipe-marked: a retiring" retiring "$(retired a@example.org)"
out=$(enroll a@example.org 2>&1)
check_eq "enroll of a retiring identity: exit 9 ($out)" 9 $?
check_contains "enroll of a retiring identity: says rerun wipe" "$out" "p11enroll wipe"
out=$(P11ENROLL_TEST_CRASH_AFTER=wipe-destroyed wipe 2>&1)
check_eq "crash after wipe-destroyed: exit 86 ($out)" 86 $?
check_eq "crash after wipe-destroyed: a still retiring" retiring "$(retired a@example.org)"
check_eq "crash after wipe-destroyed: a's key gone" 3 "$(privkeys)"
out=$(wipe 2>&1)
check_eq "rerun: exit 0 ($out)" 0 $?
check_contains "rerun: reports" "$out" "identities retired"
for who in a b c; do
	check_eq "$who retired" retired "$(retired $who@example.org)"
done
check_eq "after: only the user's private key" 1 "$(privkeys)"
check_eq "after: only the user's certificate (CA certificate gone too)" 1 "$(certs)"
check_contains "after: the user's key stays" "$(p11tool_opensc --list-objects --type privkey)" "mine"
check_contains "status shows retired" "$(p11e status 2>&1)" "retired"
check_eq "status --json: retired" retired "$(p11e status --json 2>/dev/null | jq -r '.[0].retired')"
audit=$(audit_lines)
check_eq "audit: one wipe line per identity (plus the crashed one)" 3 \
	"$(grep '"action":"wipe"' <<<"$audit" | grep -c '"outcome":"ok"')"
check "audit verify" p11e audit verify
# Nothing left to do: a second wipe changes nothing.
out=$(wipe --json 2>/dev/null)
check_eq "second wipe: exit 0" 0 $?
check_eq "second wipe: nothing retired" 0 "$(jq -r .identities_retired <<<"$out")"

# A retired identity enrolls afresh (here on the same token), with a new key.
out=$(enroll a@example.org 2>&1)
check_eq "re-enroll after wipe: exit 0 ($out)" 0 $?
check_eq "re-enroll: record done, not retired" "done none" \
	"$(record a@example.org | jq -r '.step + " " + (.retired // "none")')"
check_eq "re-enroll: a key and the user's" 2 "$(privkeys)"
check_eq "re-enroll: certificate, CA certificate, the user's" 3 "$(certs)"

# The CA certificate stays while a certificate it issued stays: here the user's own,
# issued by the same CA (through p11enroll, then its record moved aside).
out=$(enroll keep@example.org 2>&1)
check_eq "enroll keep: exit 0 ($out)" 0 $?
record keep@example.org >"$TEST_TMP/keep.json" && record_remove keep@example.org
out=$(wipe --json 2>/dev/null)
check_eq "wipe with a foreign certificate from the CA: exit 0 ($out)" 0 $?
check_eq "the CA certificate is kept" 1 "$(jq -r .ca_certificates_kept <<<"$out")"
check_eq "keep's key and the user's stay" 2 "$(privkeys)"
check_eq "keep's certificate, the CA's, the user's stay" 3 "$(certs)"

# Issue 20 A: key objects without CKA_ID (what a kill inside key generation or a
# rename leaves on a module that writes objects in place; made here by pkcs11-tool
# without --id) carrying an identity's label go with it; a user's own stays.
out=$(enroll z@example.org 2>&1)
check_eq "enroll z: exit 0 ($out)" 0 $?
p11tool_opensc --keypairgen --key-type EC:prime256v1 --label z@example.org >/dev/null
p11tool_opensc --keypairgen --key-type EC:prime256v1 --label mine-noid >/dev/null
labelled() { p11tool_opensc --list-objects --type "$1" | grep -c "label: *$2\$" || true; }
check_eq "before: z's key pair and one without an ID carry z's label" "2 2" \
	"$(labelled privkey z@example.org) $(labelled pubkey z@example.org)"
out=$(wipe --json 2>&1)
check_eq "wipe with keys without an ID: exit 0 ($out)" 0 $?
check_eq "wipe: the pair without an ID found by z's label" 2 \
	"$(jq -r .key_objects_without_id_destroyed <<<"$out")"
check_eq "after: nothing carries z's label" "0 0" \
	"$(labelled privkey z@example.org) $(labelled pubkey z@example.org)"
check_eq "after: the user's key without an ID stays" "1 1" \
	"$(labelled privkey mine-noid) $(labelled pubkey mine-noid)"
# One left after the identity was retired is found by a later wipe too.
p11tool_opensc --keypairgen --key-type EC:prime256v1 --label z@example.org >/dev/null
out=$(wipe --json 2>&1)
check_eq "a later wipe: the retired identity's key without an ID ($out)" "0 2" \
	"$(jq -r '"\(.identities_retired) \(.key_objects_without_id_destroyed)"' <<<"$out")"
check_eq "a later wipe: nothing carries z's label" 0 "$(labelled privkey z@example.org)"
check "audit verify at the end" p11e audit verify
finish
