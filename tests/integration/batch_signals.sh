# SIGINT and SIGTERM stop a batch: no row starts after the signal, the rows
# in flight finish, the summary is printed and the exit status is 130 or 143;
# a second signal ends it at once. A rerun finishes every row with one key
# each. Rows are slowed by the test hook P11ENROLL_TEST_PAUSE_MS so some are
# in flight when the signal comes.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "signal tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca

# start NAME [ARGS...]: batch NAME.csv (6 rows) and ARGS in the background, signals at their
# defaults (a script's background job would start with SIGINT ignored, and an
# ignored SIGINT stays ignored); returns once a row is in flight.
start() {
	{
		echo email
		for i in $(seq 1 6); do echo "$1$i@example.com"; done
	} >"$TEST_TMP/$1.csv"
	P11ENROLL_TEST_PAUSE_MS=400 env --default-signal=INT,TERM "$P11ENROLL" batch \
		"$TEST_TMP/$1.csv" --jobs 2 --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" "${@:2}" >"$TEST_TMP/$1.out" 2>"$TEST_TMP/$1.err" &
	pid=$!
	for _ in $(seq 1 1500); do
		record_names | grep -q "^$1" && return
		sleep 0.02
	done
}
# rerun NAME: every row done, one key pair each, nothing else made.
rerun() {
	local out listing id e
	out=$(p11e batch "$TEST_TMP/$1.csv" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" 2>&1)
	check_eq "$1: the rerun finishes every row ($out)" 0 $?
	listing=$(p11tool_opensc --list-objects --type privkey)
	for i in $(seq 1 6); do
		e=$1$i@example.com
		id=$(key_id "$e")
		check_eq "$e: done with one key" "done 1" \
			"$(record "$e" | jq -r .step) $(grep -ci "^ *ID: *$id\$" <<<"$listing")"
	done
	check_eq "$1: six keys and no more" 6 "$(grep -ci "label: *$1[0-9]@" <<<"$listing")"
}

for sig in INT TERM; do
	name=${sig,,}
	start "$name"
	kill -$sig $pid
	wait $pid
	rc=$?
	check_eq "SIG$sig: exit $((128 + $(kill -l $sig)))" $((128 + $(kill -l $sig))) $rc
	out=$(cat "$TEST_TMP/$name.out")
	err=$(cat "$TEST_TMP/$name.err")
	check_contains "SIG$sig: the summary" "$out" "batch $TEST_TMP/$name.csv: 6 rows:"
	check_contains "SIG$sig: rows not tried, said why" "$out" "not tried (interrupted)"
	check_contains "SIG$sig: the error line" "$err" "interrupted by SIG$sig"
	check_not_contains "SIG$sig: not aborted" "$err" "aborted"
	# The rows in flight finished: every record there is done.
	unfinished=0
	for e in $(record_names | grep "^$name"); do
		[ "$(record "$e" | jq -r .step)" = done ] || unfinished=$((unfinished + 1))
	done
	check_eq "SIG$sig: the rows in flight finished" 0 $unfinished
	check "SIG$sig: rows after the signal never started" test \
		"$(record_names | grep -c "^$name")" -lt 6
	rerun "$name"
done

# --json: the error line names the signal (it said "name":"unknown" for 143).
start json --json
kill -TERM $pid
wait $pid
check_eq "--json, SIGTERM: exit 143" 143 $?
err=$(cat "$TEST_TMP/json.err")
check_eq "--json, SIGTERM: the error line names it ($err)" "143 sigterm" \
	"$(tail -n 1 "$TEST_TMP/json.err" | jq -r '"\(.error.code) \(.error.name)"')"
check "--json, SIGTERM: the report is JSON" jq -e '."not-tried" > 0' "$TEST_TMP/json.out"
rerun json

# A second signal: at once, no summary, and still resumable.
start twice
kill -INT $pid
sleep 0.1
kill -INT $pid
wait $pid
check_eq "second SIGINT: ended by the signal" 130 $?
check_contains "second SIGINT: says so" "$(cat "$TEST_TMP/twice.err")" "aborted by a second signal"
check_not_contains "second SIGINT: no summary" "$(cat "$TEST_TMP/twice.out")" "6 rows:"
rerun twice

# Without failures a rerun cannot fix, the error line says "rerun"; with only
# bad rows it does not.
printf 'email\nnot-an-email\nalso@bad@example.com\n' >"$TEST_TMP/bad.csv"
out=$(p11e batch "$TEST_TMP/bad.csv" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "bad rows: exit 1" 1 $?
check_not_contains "bad rows: no promise that a rerun helps" "$out" "rerun to resume"
check_contains "bad rows: fix them first" "$out" "a rerun alone will not finish them"
json=$(p11e batch "$TEST_TMP/bad.csv" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" --json 2>/dev/null)
check_eq "bad rows: --json marks them not resumable" "false" \
	"$(jq -r '[.rows[].resumable] | unique | join(",")' <<<"$json")"
finish
