# Two batches on one roster at once (issue 20, D): each row is made once, and
# each run counts as "enrolled" only the rows it made; a row the other run
# finished first is "already-done" there (both used to count it enrolled).
# Rows are slowed by the test hook P11ENROLL_TEST_PAUSE_MS so the two runs
# meet on the same rows.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "needs a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
{
	echo email
	for i in $(seq 1 6); do echo "twice$i@example.com"; done
} >"$TEST_TMP/roster.csv"
run() {
	P11ENROLL_TEST_PAUSE_MS=150 "$P11ENROLL" batch "$TEST_TMP/roster.csv" --json \
		--token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" \
		>"$TEST_TMP/$1.json" 2>"$TEST_TMP/$1.err"
	echo $? >"$TEST_TMP/$1.rc"
}
# b starts once a is logged in and has begun its first row: the runs then
# meet on the rows, never in two simultaneous logins to one SoftHSM token,
# whose file store is rewritten by a login (docs: platform facts) and once
# failed every row of one run on the fresh CI root.
run a &
a=$!
for _ in $(seq 600); do
	record_exists twice1@example.com && break
	sleep 0.1
done
run b &
b=$!
wait $a $b
for r in a b; do
	check_eq "batch $r: exit 0 ($(cat "$TEST_TMP/$r.err"))" 0 "$(cat "$TEST_TMP/$r.rc")"
	check_eq "batch $r: nothing failed" 0 "$(jq '.failed + ."not-tried"' "$TEST_TMP/$r.json")"
done
# A row neither run made nor found done: say why, for the log.
for r in a b; do
	jq -c '.rows[] | select(.result != "enrolled" and .result != "already-done")' \
		"$TEST_TMP/$r.json" 2>/dev/null | head -n 3 | sed "s/^/batch $r: /" >&2
done
counts() { jq -r '"\(.enrolled) \(."already-done")"' "$TEST_TMP/$1.json"; }
echo "a: $(counts a), b: $(counts b)" >&2
check_eq "enrolled, both runs together: each row once" 6 \
	$(($(jq .enrolled "$TEST_TMP/a.json") + $(jq .enrolled "$TEST_TMP/b.json")))
check_eq "already done, both runs together: each row once" 6 \
	$(($(jq '."already-done"' "$TEST_TMP/a.json") + $(jq '."already-done"' "$TEST_TMP/b.json")))
# Per row: enrolled in exactly one of the two reports.
for i in $(seq 0 5); do
	check_eq "row $((i + 2)): enrolled by one run, already done in the other" \
		"already-done enrolled" \
		"$(jq -rs --argjson i $i '[.[].rows[$i].result] | sort | join(" ")' \
			"$TEST_TMP/a.json" "$TEST_TMP/b.json")"
done
listing=$(p11tool_opensc --list-objects --type privkey)
check_eq "six keys and no more" 6 "$(grep -ci "label: *twice[0-9]@" <<<"$listing")"
finish
