# `p11enroll wipe` after renewals (issue 11): the token also holds what earlier
# generations left there: old encryption keys kept and relabelled, the key a
# --reuse-key renewal shares, the old key of a renewal cut short, and a
# replaced card's generations. wipe removes all of them with the current ones,
# marks each history entry on_token "removed", and a wipe cut short is
# finished by a rerun; a record whose current generation is on another token
# keeps it and stays in use.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "wipe tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
export P11ENROLL_CONFIG=$TEST_TMP/config.json
echo "{\"default_ca\": \"local:$CA_DIR\"}" >"$P11ENROLL_CONFIG"
enroll() { # enroll EMAIL [OPTIONS]
	local email=$1; shift
	p11e enroll "$TEST_TOKEN_URI" --email "$email" --pin-source "$PIN_SRC" "$@" >/dev/null 2>&1
}
renew() { p11e renew "$@" --force --pin-source "$PIN_SRC" >/dev/null 2>&1; }
gen() { record "$1" | jq -r "$2"; }
privkeys() { p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object' || true; }
certs() { p11tool_opensc --list-objects --type cert | grep -c '^Certificate Object' || true; }
wipe() { p11e wipe "$TEST_TOKEN_URI" --confirm test --pin-source "$PIN_SRC" "$@"; }
on_token() { gen "$1" '[.history[].on_token // "none"] | join(" ")'; }

# mail@ (smime): renewed twice, generations 1 and 2 kept beside 3.
enroll mail@example.com && renew mail@example.com && renew mail@example.com
check_eq "mail@: generation 3, 1 and 2 kept" "3 kept kept" \
	"$(gen mail@example.com '"\(.generation) \(.history[0].on_token) \(.history[1].on_token)"')"
mail_ids=$(gen mail@example.com '[.history[].key_id, .key_id] | join(" ")')
# sign@ (smime-sign): renewed with --reuse-key, generation 1 shares the key.
enroll sign@example.com --profile smime-sign && renew sign@example.com --reuse-key
check_eq "sign@: generation 1 shared" shared "$(on_token sign@example.com)"
# mid@ (smime): a renewal cut short once its new key exists: both keys on the token.
enroll mid@example.com
P11ENROLL_TEST_CRASH_AFTER=key-generated renew mid@example.com
check_eq "mid@: renewal cut short (86)" 86 $?
check_eq "mid@: generation 1 still current, not settled" "current none" \
	"$(gen mid@example.com '"\(.history[0].state) \(.history[0].on_token // "none")"')"
mid_ids=$(gen mid@example.com '[.history[0].key_id, .key_id] | join(" ")')
# moved@ (smime): renewed (generation 1 kept), then its current generation
# recorded on another card, as `replace` leaves a lost card's identity: its
# earlier generation is on this token, its current one is not.
enroll moved@example.com && renew moved@example.com
moved_old=$(gen moved@example.com .history[0].key_id)
moved_new=$(gen moved@example.com .key_id)
record_edit moved@example.com '.token_serial = "0000000000000000" | .token_uri = "pkcs11:token=newcard"'

# 3 (mail) + 1 (sign) + 2 (mid) + 2 (moved) private keys.
check_eq "before: 8 private keys" 8 "$(privkeys)"
for id in $mail_ids $mid_ids; do
	check_eq "before: key $id there" 1 "$(count_objects privkey "$id")"
done

# Cut short after the first identity's objects went (mail@ sorts first): the
# record says retiring and its history is not yet marked; a rerun finishes.
out=$(P11ENROLL_TEST_CRASH_AFTER=wipe-destroyed wipe 2>&1)
check_eq "crash after wipe-destroyed: exit 86 ($out)" 86 $?
check_eq "crash: mail@ retiring" retiring "$(gen mail@example.com '.retired // "none"')"
for id in $mail_ids; do
	check_eq "crash: mail@'s key $id gone, old generations too" 0 "$(count_objects privkey "$id")"
	check_eq "crash: mail@'s certificate $id gone" 0 "$(count_objects cert "$id")"
done
out=$(wipe --json 2>&1)
check_eq "rerun: exit 0 ($out)" 0 $?
check_eq "rerun: mail@, sign@, mid@ retired" 3 "$(jq -r .identities_retired <<<"$out")"
check_eq "rerun: 2 of mail@ (once more), 1 of sign@, 1 of mid@, 1 of moved@" 5 \
	"$(jq -r .generations_removed <<<"$out")"

for e in mail sign mid; do
	check_eq "$e@ retired" retired "$(gen $e@example.com '.retired // "none"')"
done
check_eq "mail@: both earlier generations marked removed" "removed removed" \
	"$(on_token mail@example.com)"
check_eq "sign@: the shared generation marked removed" removed "$(on_token sign@example.com)"
check_eq "mid@: the generation being replaced marked removed" removed \
	"$(on_token mid@example.com)"
for id in $mid_ids; do
	check_eq "mid@: key $id gone" 0 "$(count_objects privkey "$id")"
done
check_eq "moved@: its earlier generation removed from this token" "0 0 removed" \
	"$(count_objects privkey "$moved_old") $(count_objects cert "$moved_old") $(on_token moved@example.com)"
check_eq "moved@: still in use (its current generation is on the other card)" none \
	"$(gen moved@example.com '.retired // "none"')"
# Its current key is on this token in this simulation only; it is not wipe's to take.
check_eq "moved@: the key the record puts on another token is not touched" 1 \
	"$(count_objects privkey "$moved_new")"
check_eq "after: only moved@'s current key left" 1 "$(privkeys)"
check_eq "after: moved@'s certificate and the CA's that issued it left" 2 "$(certs)"

# Nothing left: a second wipe removes nothing more.
out=$(wipe --json 2>&1)
check_eq "second wipe: exit 0" 0 $?
check_eq "second wipe: nothing" "0 0" \
	"$(jq -r '"\(.identities_retired) \(.generations_removed)"' <<<"$out")"
audit=$(audit_lines)
check_eq "audit: a wipe line for moved@ too" 1 \
	"$(grep '"action":"wipe"' <<<"$audit" | grep -c 'moved@example.com')"
check "audit verify" p11e audit verify
finish
