# p11enroll renew: generations of a token identity (rekey and reuse-key), key
# history on the token (an old encryption key kept and relabelled, so mail
# encrypted to it still decrypts; an old signing key removed), the due window
# with time travel, --dry-run and --all, the post_renew_command hook and its
# clean environment, an absent token, concurrent renewals, and a version 1
# record from before generations.
. "$TESTS_DIR/lib/common.sh"
setup_ca
printf '%s' "$TEST_PIN" >"$TEST_TMP/engine.pin" # the engine reads it verbatim
cat >"$TEST_TMP/hook.sh" <<'SH'
env | sort >"$HOOK_OUT.$P11ENROLL_IDENTITY.$P11ENROLL_GENERATION"
SH
cat >"$TEST_TMP/config.json" <<JSON
{"default_ca": "local:$CA_DIR",
 "post_renew_command": "HOOK_OUT=$TEST_TMP/hook bash $TEST_TMP/hook.sh",
 "profiles": {"short": {"base": "smime-sign", "validity_days": 20, "renew_within_days": 10}}}
JSON
export P11ENROLL_CONFIG=$TEST_TMP/config.json
export SECRET_PIN=$TEST_PIN # for pin-source env:, which the hook must not see
enroll() { p11e enroll "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" "$@" >/dev/null 2>&1; }
gen() { record "$1" | jq -r "$2"; }
privs() { p11tool_opensc --list-objects --type privkey | grep -c "label:.*$1" || true; }
certs() { p11tool_opensc --list-objects --type cert | grep -c "label:.*$1" || true; }

enroll --email mail@example.com
check_eq "enroll mail@ (smime)" 0 $?
enroll --email sign@example.com --profile smime-sign
check_eq "enroll sign@ (smime-sign)" 0 $?
enroll --email short@example.com --profile short
check_eq "enroll short@ (20 days)" 0 $?
old_mail=$(key_id mail@example.com)
old_sign=$(key_id sign@example.com)
token_cert "$old_mail" "$TEST_TMP/mail1.pem"
echo "sent to generation 1" >"$TEST_TMP/msg.txt"
openssl cms -encrypt -binary -aes256 -in "$TEST_TMP/msg.txt" -out "$TEST_TMP/gen1.p7m" \
	"$TEST_TMP/mail1.pem"

# Not due: nothing happens, exit 0; --dry-run says what would.
out=$(p11e renew --all --pin-source "$PIN_SRC" 2>&1)
check_eq "renew --all, nothing due: exit 0 ($out)" 0 $?
check_eq "nothing renewed" 1 "$(gen mail@example.com '.generation // 1')"
check_contains "short@ not due yet" "$out" "short@example.com: not due"
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	later=$(($(date +%s) + 12 * 86400))
	out=$(P11ENROLL_TEST_NOW=$later p11e --json renew --all --dry-run 2>&1)
	check_eq "12 days on, --dry-run: short@ due" "due" \
		"$(echo "$out" | jq -r '.[] | select(.identity=="short@example.com") | .outcome')"
	check_eq "12 days on, --dry-run: mail@ not due" "not-due" \
		"$(echo "$out" | jq -r '.[] | select(.identity=="mail@example.com") | .outcome')"
	check_eq "--dry-run changed nothing" 1 "$(gen short@example.com '.generation // 1')"
	out=$(P11ENROLL_TEST_NOW=$later p11e renew --all --pin-source "env:SECRET_PIN" 2>&1)
	check_eq "12 days on, renew --all ($out)" 0 $?
	check_eq "short@ renewed: generation 2" 2 "$(gen short@example.com .generation)"
	check_eq "mail@ left alone" 1 "$(gen mail@example.com '.generation // 1')"
	hook=$TEST_TMP/hook.short@example.com.2
	check "the hook ran for short@ generation 2" test -s "$hook"
	check_contains "hook: identity" "$(cat "$hook" 2>/dev/null)" "P11ENROLL_IDENTITY=short@example.com"
	check_contains "hook: the certificate" "$(cat "$hook" 2>/dev/null)" "BEGIN CERTIFICATE"
	check_not_contains "hook: not our environment (the PIN variable)" "$(cat "$hook" 2>/dev/null)" \
		"SECRET_PIN"
	check_not_contains "hook: not the PIN" "$(cat "$hook" 2>/dev/null)" "$TEST_PIN"
else
	bad "needs a test-hooks build (-DP11ENROLL_TEST_HOOKS=ON) for time travel"
fi

# Rekey of an S/MIME identity: the new key and certificate under a new ID, the
# old encryption key and certificate kept, relabelled after their month.
out=$(p11e renew mail@example.com --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew --force mail@ ($out)" 0 $?
new_mail=$(key_id mail@example.com)
check "a new key ID" test "$new_mail" != "$old_mail"
check_eq "generation 2" 2 "$(gen mail@example.com .generation)"
check_eq "history: generation 1 superseded" "1 superseded kept" \
	"$(gen mail@example.com '.history[0] | "\(.number) \(.state) \(.on_token)"')"
month=$(openssl x509 -in "$TEST_TMP/mail1.pem" -noout -startdate | cut -d= -f2)
month=$(date -u -d "$month" +%Y-%m)
check_eq "old key relabelled" "mail@example.com ($month)" "$(gen mail@example.com .history[0].label)"
check_eq "old private key still there" 1 "$(count_objects privkey "$old_mail")"
check_eq "old certificate still there" 1 "$(count_objects cert "$old_mail")"
check_eq "new private key" 1 "$(count_objects privkey "$new_mail")"
check_eq "new certificate" 1 "$(count_objects cert "$new_mail")"
uri1="pkcs11:token=test;id=$(pct_id "$old_mail");type=private?pin-source=file:$TEST_TMP/engine.pin"
check "mail to generation 1 still decrypts (openssl cms, pkcs11 engine)" \
	openssl cms -decrypt -engine pkcs11 -keyform engine -inkey "$uri1" \
	-recip "$TEST_TMP/mail1.pem" -in "$TEST_TMP/gen1.p7m" -out "$TEST_TMP/gen1.out"
check_eq "generation 1 round trip" "sent to generation 1" "$(cat "$TEST_TMP/gen1.out" 2>/dev/null)"
token_cert "$new_mail" "$TEST_TMP/mail2.pem"
uri2="pkcs11:token=test;id=$(pct_id "$new_mail");type=private?pin-source=file:$TEST_TMP/engine.pin"
check "new mail signs with generation 2" \
	openssl cms -sign -engine pkcs11 -keyform engine -inkey "$uri2" -binary \
	-signer "$TEST_TMP/mail2.pem" -in "$TEST_TMP/msg.txt" -out "$TEST_TMP/signed.p7s"
check "generation 2's signature verifies against the CA" \
	openssl cms -verify -binary -CAfile "$CA_DIR/ca.pem" -in "$TEST_TMP/signed.p7s" \
	-content "$TEST_TMP/msg.txt" -out /dev/null
status=$(p11e --json status mail@example.com)
check_eq "status --json: both generations" "1:superseded 2:current" \
	"$(echo "$status" | jq -r '[.[0].generations[] | "\(.generation):\(.state)"] | join(" ")')"

# Rekey of a signing-only identity: the old key and certificate are removed.
out=$(p11e renew sign@example.com --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew --force sign@ ($out)" 0 $?
check_eq "old signing key removed" 0 "$(count_objects privkey "$old_sign")"
check_eq "old signing certificate removed" 0 "$(count_objects cert "$old_sign")"
check_eq "history says removed" "removed" "$(gen sign@example.com .history[0].on_token)"

# --reuse-key: the same key, a new certificate in place of the old one.
cur=$(key_id sign@example.com)
before=$(gen sign@example.com .cert_sha256)
out=$(p11e renew sign@example.com --force --reuse-key --pin-source "$PIN_SRC" 2>&1)
check_eq "renew --reuse-key ($out)" 0 $?
check_eq "same key" "$cur" "$(key_id sign@example.com)"
check "a new certificate" test "$(gen sign@example.com .cert_sha256)" != "$before"
check_eq "one certificate under the key's ID" 1 "$(count_objects cert "$cur")"
check_eq "generation 3, 2 shared" "3 shared" \
	"$(gen sign@example.com '"\(.generation) \(.history[1].on_token)"')"
out=$(p11e renew mail@example.com --force --reuse-key --pin-source "$PIN_SRC" 2>&1)
check_eq "smime --reuse-key: allowed (the key signs)" 0 $?
enroll --email enc@example.com --profile smime-encrypt
out=$(p11e renew enc@example.com --force --reuse-key --pin-source "$PIN_SRC" 2>&1)
check_eq "smime-encrypt --reuse-key: exit 2 (the key cannot sign a CSR)" 2 $?
check_contains "names the option" "$out" "reuse-key"

# Two renewals at once: one generation (the second finds it not due). The
# profile's validity grows after the first enrollment, so the first certificate
# is due and its successor is not.
enroll --email race@example.com --profile short
jq '.profiles.short.validity_days = 365' "$P11ENROLL_CONFIG" >"$TEST_TMP/c2.json" &&
	mv "$TEST_TMP/c2.json" "$P11ENROLL_CONFIG"
for i in 1 2; do
	P11ENROLL_TEST_SLEEP_AT=locked P11ENROLL_TEST_SLEEP_MS=1500 \
		p11e renew race@example.com --within 30 --wait 60 --pin-source "$PIN_SRC" \
		>"$TEST_TMP/race.$i" 2>&1 &
done
wait
check_eq "concurrent renewals: one new generation" 2 "$(gen race@example.com .generation)"
both=$(cat "$TEST_TMP/race.1" "$TEST_TMP/race.2")
check_eq "one renewed, one found it not due ($both)" "1 1" \
	"$(echo "$both" | grep -c renewed) $(echo "$both" | grep -c 'not due')"

# A token that is not inserted: skipped with the card's serial, exit 0.
enroll --email absent@example.com --profile short
record_edit absent@example.com '.token_uri = "pkcs11:token=elsewhere"'
serial=$(gen absent@example.com .token_serial)
out=$(p11e renew absent@example.com --force --pin-source "$PIN_SRC" 2>&1)
check_eq "absent token: exit 0 ($out)" 0 $?
check_contains "absent token: insert card serial" "$out" "insert card serial $serial"

# A record written before generations (version 1) loads and renews.
enroll --email legacy@example.com
record_edit legacy@example.com '.version = 1 | del(.generation, .history)'
out=$(p11e --json status legacy@example.com)
check_eq "version 1 record: generation 1" "1 current" \
	"$(echo "$out" | jq -r '.[0] | "\(.generation) \(.state)"')"
out=$(p11e renew legacy@example.com --force --pin-source "$PIN_SRC" 2>&1)
check_eq "version 1 record renews ($out)" 0 $?
check_eq "written as version 2" "2 2" "$(gen legacy@example.com '"\(.version) \(.generation)"')"

# Bad input: one line naming the field.
for args in "--within -1 mail@example.com" "--within x mail@example.com" "" \
	"--all mail@example.com" "--all --force"; do
	out=$(p11e renew $args 2>&1)
	check_eq "renew $args: exit 2" 2 $?
	check_eq "renew $args: one line" 1 "$(echo "$out" | wc -l)"
done
out=$(p11e renew nobody@example.com 2>&1)
check_eq "renew of an unknown identity: exit 10" 10 $?
finish
