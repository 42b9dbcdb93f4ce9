# Everything about an identity is checked before a key exists (finding 5),
# the longest valid addresses work (finding 8), and a failed first attempt
# can be started over (finding 6): by rerunning with other options while
# nothing exists, or with `p11enroll forget`.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "start-over tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
S=$P11ENROLL_STATE_DIR
privkeys() { p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object'; }
enroll() { # enroll EMAIL [OPTIONS]
	local email=$1; shift
	p11e enroll "$TEST_TOKEN_URI" --email "$email" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" "$@"
}
subject() { token_cert "$(key_id "$1")" "$TEST_TMP/s.pem" && openssl x509 -in "$TEST_TMP/s.pem" -noout -subject -nameopt utf8; }

# Finding 5: a Latin-1 name is refused before anything exists...
out=$(enroll cafe@example.org --name "$(printf 'Caf\xe9')" 2>&1)
check_eq "Latin-1 name: exit 2 ($out)" 2 $?
check_contains "Latin-1 name: says why" "$out" "name: not UTF-8"
check_eq "Latin-1 name: no key made" 0 "$(privkeys)"
check "Latin-1 name: no record" no_record cafe@example.org
# ... and the corrected rerun takes the corrected name.
out=$(enroll cafe@example.org --name "Cafe Fixed" 2>&1)
check_eq "corrected name: exit 0 ($out)" 0 $?
check_contains "corrected name: the CN" "$(subject cafe@example.org)" "CN=Cafe Fixed"
out=$(enroll cafe2@example.org --name "$(printf 'Caf\xc3\xa9 Cr\xc3\xa8me')" 2>&1)
check_eq "UTF-8 name: exit 0 ($out)" 0 $?
check_contains "UTF-8 name: the CN" "$(subject cafe2@example.org)" "$(printf 'CN=Caf\xc3\xa9 Cr\xc3\xa8me')"
out=$(enroll toolong@example.org --name "$(printf 'n%.0s' $(seq 1 65))" 2>&1)
check_eq "65-character name: exit 2" 2 $?
check_contains "65-character name: says why" "$out" "at most 64"
check_eq "bad names made no key" 2 "$(privkeys)"

# An address over 64 characters without --name: the CN is its local part.
local64=$(printf 'l%.0s' $(seq 1 64))
long=$local64@a-long-domain-name-for-this-test.example.org
out=$(enroll "$long" 2>&1)
check_eq "long address without --name: exit 0 ($out)" 0 $?
check_contains "long address: CN is the local part" "$(subject "$long")" "CN=$local64"
check_eq "long address: its keys" 3 "$(privkeys)"

# Finding 8: 254 characters (the RFC 5321 maximum) work; the record file is
# named by a hash and says whose it is; 255 characters are refused first.
domain=$(printf 'd%.0s' $(seq 1 63)).$(printf 'e%.0s' $(seq 1 63)).$(printf 'f%.0s' $(seq 1 57)).org
a254=$local64@$domain
check_eq "the address is 254 characters" 254 "${#a254}"
out=$(enroll "$a254" 2>&1)
check_eq "254 characters: exit 0 ($out)" 0 $?
on_pg || check_eq "254 characters: a hashed record file" 1 \
	"$(ls "$S/identities" | grep -c '^SHA256-[0-9a-f]\{64\}\.json$')"
check_eq "254 characters: status lists it done" done \
	"$(p11e status --json | jq -r --arg a "$a254" '.[] | select(.identity == $a) | .step')"
out=$(enroll "$a254" 2>&1)
check_eq "254 characters: rerun is done (exit 0)" 0 $?
out=$(enroll "x$a254" 2>&1)
check_eq "255 characters: exit 2 ($out)" 2 $?
check_contains "255 characters: says why" "$out" "at most 254"
keys=$(privkeys)

# Finding 6: failed at step new (the crash hook stands in for a failure
# there): a rerun with another key type starts over.
P11ENROLL_TEST_CRASH_AFTER=new enroll redo@example.org --key rsa:2048 --name Old >/dev/null 2>&1
check_eq "crash at new" new "$(record redo@example.org | jq -r .step)"
out=$(enroll redo@example.org --key ec:P-256 --name New --profile smime-sign 2>&1)
check_eq "new: rerun with other options: exit 0 ($out)" 0 $?
check_eq "new: the new key type" ec:P-256 "$(record redo@example.org | jq -r .key_type)"
check_eq "new: the new profile" smime-sign "$(record redo@example.org | jq -r .profile)"
check_contains "new: the new name" "$(subject redo@example.org)" "CN=New"
keys=$((keys + 1))
check_eq "new: one key made" "$keys" "$(privkeys)"

# Failed at key-pending with nothing on the token: starts over too.
P11ENROLL_TEST_CRASH_AFTER=key-pending enroll redo2@example.org --key rsa:2048 >/dev/null 2>&1
check_eq "crash at key-pending" key-pending "$(record redo2@example.org | jq -r .step)"
out=$(enroll redo2@example.org --key ec:P-384 2>&1)
check_eq "key-pending, no key: rerun with --key ec:P-384: exit 0 ($out)" 0 $?
check_eq "key-pending: the new key type" ec:P-384 "$(record redo2@example.org | jq -r .key_type)"
keys=$((keys + 1))
check_eq "key-pending: one key made" "$keys" "$(privkeys)"

# A key exists (key-pending after the keygen): the record holds, forget discards.
P11ENROLL_TEST_CRASH_AFTER=key-made enroll redo3@example.org --key ec:P-256 >/dev/null 2>&1
keys=$((keys + 1))
check_eq "key-made: its key exists" "$keys" "$(privkeys)"
out=$(enroll redo3@example.org --key ec:P-384 2>&1)
check_eq "key exists: another --key is exit 9" 9 $?
check_contains "key exists: points to forget" "$out" "p11enroll forget redo3@example.org"
out=$(p11e forget redo3@example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "forget: exit 0 ($out)" 0 $?
check_contains "forget: says what it destroyed" "$out" "2 key objects destroyed"
keys=$((keys - 1))
check_eq "forget: the key is gone" "$keys" "$(privkeys)"
check "forget: the record is gone" no_record redo3@example.org
out=$(enroll redo3@example.org --key ec:P-384 2>&1)
check_eq "after forget: a fresh enrollment (exit 0) ($out)" 0 $?
keys=$((keys + 1))
check_eq "after forget: one key" "$keys" "$(privkeys)"

# Key objects without CKA_ID under the identity's label (what a kill inside key
# generation leaves on SoftHSM's file store; made here by pkcs11-tool without --id)
# go with forget too (issue 20 A); a user's own without an ID stays.
P11ENROLL_TEST_CRASH_AFTER=key-made enroll redo4@example.org --key ec:P-256 >/dev/null 2>&1
p11tool_opensc --keypairgen --key-type EC:prime256v1 --label redo4@example.org >/dev/null
p11tool_opensc --keypairgen --key-type EC:prime256v1 --label mine-noid >/dev/null
keys=$((keys + 3))
check_eq "redo4: its key, one without an ID, the user's" "$keys" "$(privkeys)"
out=$(p11e forget redo4@example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "forget redo4: exit 0 ($out)" 0 $?
check_contains "forget redo4: its pair and the pair without an ID" "$out" "4 key objects destroyed"
keys=$((keys - 2))
check_eq "forget redo4: only the user's key without an ID is left of them" "$keys" "$(privkeys)"
check_eq "forget redo4: nothing carries its label" 0 \
	"$(p11tool_opensc --list-objects | grep -c 'label: *redo4@example.org$' || true)"

# forget refuses what it must not discard.
out=$(p11e forget redo3@example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "forget with a certificate: exit 9" 9 $?
check_contains "forget with a certificate: says why" "$out" "has a certificate"
check_eq "forget refused: the certificate stays" 1 "$(count_objects cert "$(key_id redo3@example.org)")"
out=$(p11e forget nobody@example.org 2>&1)
check_eq "forget of an unknown identity: exit 10" 10 $?

# A software key: forget removes its key file and escrowed password (audited),
# and a new enrollment can escrow again.
file_vault "$TEST_TMP"
P11ENROLL_TEST_CRASH_AFTER=key-made p11e enroll --software --email soft@example.org \
	--ca "local:$CA_DIR" >/dev/null 2>&1
check_eq "software key-made: escrowed" 1 "$(ls "$TEST_TMP/escrow" | grep -c '^soft@example.org\.cms$')"
check_eq "software key-made: its dates beside it" 1 \
	"$(ls "$TEST_TMP/escrow" | grep -c '^soft@example.org\.meta$')"
check_eq "software key-made: a key file" 1 "$(store_names key | grep -c '^soft@example.org')"
out=$(p11e forget soft@example.org 2>&1)
check_eq "forget software: exit 0 ($out)" 0 $?
check_contains "forget software: says so" "$out" "escrowed password deleted"
check_eq "forget software: no key file" 0 "$(store_names key | grep -c '^soft@example.org')"
check_eq "forget software: no escrow" 0 "$(ls "$TEST_TMP/escrow" | grep -c '^soft@example.org')"
check_contains "forget software: audited" "$(audit_lines)" '"action":"forget"'
out=$(p11e enroll --software --email soft@example.org --ca "local:$CA_DIR" 2>&1)
check_eq "software after forget: exit 0 ($out)" 0 $?

# Renewed identities (issue 11): a renewal resets the record's step for the
# next generation, but earlier generations had certificates: forget refuses
# (9) even while the renewal is cut short before its certificate, and keeps
# the record, both keys and every generation's escrowed password.
enroll ren@example.org >/dev/null 2>&1
ren1=$(key_id ren@example.org)
P11ENROLL_TEST_CRASH_AFTER=key-generated p11e renew ren@example.org --force \
	--pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "renewal cut short at key-generated (86)" 86 $?
ren2=$(key_id ren@example.org)
out=$(p11e forget ren@example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "forget during a renewal: exit 9 ($out)" 9 $?
check_contains "forget during a renewal: says why" "$out" "earlier generations"
check_eq "forget during a renewal: one line" 1 "$(echo "$out" | wc -l)"
check "forget refused: the record stays" record_exists ren@example.org
check_eq "forget refused: both keys stay" "1 1" \
	"$(count_objects privkey "$ren1") $(count_objects privkey "$ren2")"
out=$(p11e renew ren@example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "the renewal then finishes ($out)" 0 $?
out=$(p11e forget ren@example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "forget of a renewed identity: exit 9" 9 $?

escrows() { ls "$TEST_TMP/escrow" | grep -c '^soft@example.org.*\.cms$'; }
P11ENROLL_TEST_CRASH_AFTER=password-escrowed p11e renew soft@example.org --force \
	>/dev/null 2>&1
check_eq "software renewal cut short once its password is escrowed (86)" 86 $?
check_eq "two generations' passwords escrowed" 2 "$(escrows)"
out=$(p11e forget soft@example.org 2>&1)
check_eq "forget of a software renewal: exit 9 ($out)" 9 $?
check_eq "forget refused: both escrowed passwords stay" 2 "$(escrows)"
check "forget refused: the record stays" record_exists soft@example.org
# A record that lost its history (edited by hand) at generation 2: forget
# deletes generation 2's entry, never generation 1's.
record_edit soft@example.org 'del(.history)'
out=$(p11e forget soft@example.org 2>&1)
check_eq "forget of generation 2 without history: exit 0 ($out)" 0 $?
check_eq "only generation 2's password deleted" "soft@example.org.cms" \
	"$(ls "$TEST_TMP/escrow" | grep '^soft@example.org.*\.cms$')"
state_layout_check "forget and start over"
finish
