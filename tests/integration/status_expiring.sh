# status --expiring DAYS lists the identities whose certificate ends within
# DAYS (or has ended): what renewal will pick. Time travel through
# P11ENROLL_TEST_NOW (test-hooks builds only) moves the clock it reads.
. "$TESTS_DIR/lib/common.sh"
mkdir -p "$TEST_TMP/etc"
cat >"$TEST_TMP/etc/config.json" <<JSON
{"cas": {"corp": {"type": "local", "dir": "$CA_DIR"}}, "default_ca": "corp",
 "profiles": {"short": {"base": "smime", "validity_days": 10}}}
JSON
export P11ENROLL_CONFIG=$TEST_TMP/etc/config.json
setup_ca
p11e enroll "$TEST_TOKEN_URI" --email year@example.com --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "enroll year@ (365 days)" 0 $?
p11e enroll "$TEST_TOKEN_URI" --email short@example.com --profile short --pin-source "$PIN_SRC" \
	>/dev/null 2>&1
check_eq "enroll short@ (10 days)" 0 $?
# An identity that never got a certificate is never "expiring".
P11ENROLL_TEST_CRASH_AFTER=key-made p11e enroll "$TEST_TOKEN_URI" --email half@example.com \
	--pin-source "$PIN_SRC" >/dev/null 2>&1

ids() { p11e --json status "$@" | jq -r '[.[].identity] | join(" ")'; }
check_eq "status: all three" "half@example.com short@example.com year@example.com" "$(ids)"
check_eq "--expiring 30: the 10-day one" "short@example.com" "$(ids --expiring 30)"
check_eq "--expiring 5: none" "" "$(ids --expiring 5)"
out=$(p11e status --expiring 30)
check_contains "text: a table row" "$out" "short@example.com"
check_not_contains "text: not the year one" "$out" "year@example.com"

if [ "${TEST_HOOKS:-0}" = 1 ]; then
	later=$(($(date +%s) + 340 * 86400))
	check_eq "340 days on, --expiring 30: both" "short@example.com year@example.com" \
		"$(P11ENROLL_TEST_NOW=$later ids --expiring 30)"
	check_eq "340 days on, --expiring 0: the ended one" "short@example.com" \
		"$(P11ENROLL_TEST_NOW=$later ids --expiring 0)"
	check_eq "an ISO time travels too" "short@example.com year@example.com" \
		"$(P11ENROLL_TEST_NOW=$(date -u -d "@$later" +%Y-%m-%dT%H:%M:%SZ) ids --expiring 30)"
else
	bad "needs a test-hooks build (-DP11ENROLL_TEST_HOOKS=ON) for time travel"
fi

for badv in -1 x 36501 ""; do
	out=$(p11e status --expiring "$badv" 2>&1)
	check_eq "--expiring '$badv': exit 2" 2 $?
	check_contains "--expiring '$badv': names the option" "$out" "expiring"
done
finish
