# One run of an identity at a time (finding 1): concurrent enrolls of one
# identity make one key and one certificate, the others wait and report it
# done, or give up with exit 12 naming the holder; a holder that dies leaves
# no stale lock; two batches of one roster at once; different identities at
# once against one embedded CA get distinct serials.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "concurrency tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
privkeys() { p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object'; }
index_lines() { grep -c "$1" "$CA_DIR/index.jsonl" || true; }
enroll() { # enroll EMAIL [OPTIONS]
	local email=$1; shift
	p11e enroll "$TEST_TOKEN_URI" --email "$email" --key ec:P-256 --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" "$@"
}

# Three at once, as in the report; generous waits (CI is slow), no timing asserted.
for i in 1 2 3; do
	enroll race@example.org --wait 300 >"$TEST_TMP/race$i.out" 2>&1 &
	pids[$i]=$!
done
for i in 1 2 3; do
	wait "${pids[$i]}"
	check_eq "race: run $i exits 0 ($(cat "$TEST_TMP/race$i.out"))" 0 $?
done
id=$(key_id race@example.org)
check_eq "race: one private key in all" 1 "$(privkeys)"
check_eq "race: one certificate under the key" 1 "$(count_objects cert "$id")"
check_eq "race: the CA issued once" 1 "$(index_lines race@example.org)"
for i in 1 2 3; do
	check_contains "race: run $i reports the one key" "$(cat "$TEST_TMP/race$i.out")" "key $id"
done

# start_holder EMAIL SLEEP_AT SLEEP_MS: an enrollment that sleeps (test hook)
# at SLEEP_AT while it holds the identity's lock, started in the background
# (the binary itself, so that $holder is its pid); returns once the lock file
# names it. Sets holder and lockfile.
start_holder() {
	P11ENROLL_TEST_SLEEP_AT=$2 P11ENROLL_TEST_SLEEP_MS=$3 "$P11ENROLL" enroll \
		"$TEST_TOKEN_URI" --email "$1" --key ec:P-256 --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" >/dev/null 2>&1 &
	holder=$!
	lockfile=$P11ENROLL_STATE_DIR/locks/identity/$1.lock
	for _ in $(seq 1 600); do
		if on_pg; then # the lock is the database's: held once a try without waiting fails
			"$STORE_PROBE" "" lock identity "$1" 0 2>/dev/null || break
		else
			grep -q "^pid $holder " "$lockfile" 2>/dev/null && break
		fi
		sleep 0.1
	done
}

# A slow holder: it sleeps once it holds the lock.
start_holder slow@example.org locked 600000
on_pg || check_contains "the lock file names its holder" "$(cat "$lockfile" 2>/dev/null)" "pid $holder host "
out=$(enroll slow@example.org --wait 0 2>&1)
check_eq "held: --wait 0 exits 12" 12 $?
check_contains "held: the holder is named" "$out" \
	"busy: identity slow@example.org is being enrolled by pid $holder on host $(hostname)"
out=$(enroll slow@example.org --wait 1 2>&1)
check_eq "held: --wait 1 gives up with 12" 12 $?
check_not_contains "held: the waiter wrote no record" \
	"$(record slow@example.org 2>/dev/null)" "busy"
out=$(p11e forget slow@example.org --wait 0 2>&1)
check_eq "held: forget waits for it too (12)" 12 $?
# The holder dies holding the lock: the kernel releases it.
kill -9 "$holder"
wait "$holder" 2>/dev/null
out=$(enroll slow@example.org --wait 0 2>&1)
check_eq "after the holder was killed: no stale lock ($out)" 0 $?
check_eq "slow: one key" 1 "$(count_objects privkey "$(key_id slow@example.org)")"

# A waiter that gets the lock after the holder finished reports the identity done.
start_holder late@example.org key-pending 3000
out=$(enroll late@example.org --wait 300 2>&1)
check_eq "waiter: exit 0 ($out)" 0 $?
wait "$holder"
check_eq "holder: exit 0" 0 $?
check_contains "waiter: reports the holder's key" "$out" "key $(key_id late@example.org)"
check_eq "late: the CA issued once" 1 "$(index_lines late@example.org)"
check_eq "late: one key" 1 "$(count_objects privkey "$(key_id late@example.org)")"

# Two batches of one roster at once: every identity one key and one certificate.
printf 'email\n' >"$TEST_TMP/roster.csv"
for i in $(seq 1 8); do echo "b$i@example.org" >>"$TEST_TMP/roster.csv"; done
for j in 1 2; do
	p11e batch "$TEST_TMP/roster.csv" --jobs 2 --token "$TEST_TOKEN_URI" \
		--ca "local:$CA_DIR" --pin-source "$PIN_SRC" >"$TEST_TMP/batch$j.out" 2>&1 &
	bpids[$j]=$!
done
for j in 1 2; do
	wait "${bpids[$j]}"
	rc=$?
	# A row may only fail by waiting too long for the other batch (slow CI).
	if [ "$rc" -ne 0 ]; then
		check_eq "batch $j: only busy rows fail" "" \
			"$(grep -i 'fail\|error' "$TEST_TMP/batch$j.out" | grep -v 'busy\|rows failed\|[0-9]* failed' || true)"
	fi
done
out=$(p11e batch "$TEST_TMP/roster.csv" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "batch rerun succeeds ($out)" 0 $?
for i in $(seq 1 8); do
	id=$(key_id "b$i@example.org")
	check_eq "b$i: one private key" 1 "$(count_objects privkey "$id")"
	check_eq "b$i: one certificate" 1 "$(count_objects cert "$id")"
	check_eq "b$i: the CA issued once" 1 "$(index_lines "b$i@example.org")"
done
check_eq "no key beyond one per identity" 11 "$(privkeys)"
out=$(p11e batch "$TEST_TMP/roster.csv" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "second rerun succeeds too" 0 $?

# Different identities at once against one embedded CA: it locks its own
# directory per submission, so each gets its own serial and index line.
for i in $(seq 1 4); do
	enroll "d$i@example.org" --wait 300 >"$TEST_TMP/d$i.out" 2>&1 &
	dpids[$i]=$!
done
for i in $(seq 1 4); do
	wait "${dpids[$i]}"
	check_eq "different identity d$i: exit 0 ($(cat "$TEST_TMP/d$i.out"))" 0 $?
	check_eq "d$i: one index line" 1 "$(index_lines "d$i@example.org")"
done
serials=$(jq -r .serial "$CA_DIR/index.jsonl" | sort)
check_eq "every serial in the index is distinct" "$(sort -u <<<"$serials")" "$serials"
check_eq "the index holds every issuance once" 15 "$(wc -l <"$CA_DIR/index.jsonl")"
# Every enrollment writes the CA certificate beside its key; the token's lock
# and the look by value keep it there once, also from processes at once.
check_eq "the token holds each issued certificate and the CA's, once each" 16 \
	"$(p11tool_opensc --list-objects --type cert | grep -c '^Certificate Object')"
finish
