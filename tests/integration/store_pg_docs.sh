# The postgresql store's documents, locks and counters (docs/store.md)
# against a real PostgreSQL 15 (tests/lib/postgres.sh): documents round-trip
# bytes (NULs too), list and remove (store_probe, a test-only driver of the
# store's API); an enrollment keeps its record in the database, not in
# STATE_DIR; two stations racing for one identity make one key, one
# certificate, one issuance; a station killed while it holds the lock is
# taken over; PostgreSQL stopped mid-enrollment and started again, the rerun
# finishes; a write under a lock whose connection was terminated fails and
# writes nothing (fencing); counters never repeat under four processes.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "store_pg_docs needs a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
W=$TEST_TMP/pgdocs
mkdir -p "$W"
cd "$W" || exit 1
setup_ca

pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
PW=$(cat "$PG_DIR/p11e.pw")
(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=p11e password=%s sslmode=disable connect_timeout=10\n' \
	"$PG_PORT" "$PW" >conninfo)
printf '{ "state_dir": "%s", "store": { "type": "postgresql", "conninfo_source": "file:%s/conninfo" } }\n' \
	"$P11ENROLL_STATE_DIR" "$W" >fleet.json
probe() { "$STORE_PROBE" "$W/fleet.json" "$@"; }
pe() { p11e --config "$W/fleet.json" "$@"; }
enroll() { # enroll EMAIL [OPTIONS]
	local email=$1
	shift
	pe enroll "$TEST_TOKEN_URI" --email "$email" --key ec:P-256 --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" "$@"
}
db_record() { pg_psql "SELECT record->>'$2' FROM p11enroll.identities WHERE identity = '$1'"; }
index_lines() { grep -c "$1" "$CA_DIR/index.jsonl" || true; }
privkeys() { p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object'; }

# --- before `store init`: one line saying what to do, exit 8 ---
probe get identity nobody@example.org >out 2>err
check_eq "no schema yet: exit 8" 8 $?
check_contains "... saying to run store init" "$(cat err)" "run \`p11enroll store init\`"
pe status >out 2>err
check_eq "status (the identities) before init: exit 8" 8 $?
check_eq "... in one line" 1 "$(wc -l <err)"
pe store init >/dev/null 2>&1 || bad "store init failed"

# --- documents: bytes round-trip, NULs included ---
{ printf 'a\0b\0\0'; head -c 60000 /dev/urandom; printf '\0'; } >blob
probe put key 'k1@example.org' <blob
check_eq "put a binary document" 0 $?
probe get key 'k1@example.org' >back
check_eq "get it back" 0 $?
check "the bytes come back the same (NULs too)" cmp blob back
: | probe put pfx empty@example.org
check_eq "an empty document" "0 0" "$? $(probe get pfx empty@example.org | wc -c)"
printf 'second' | probe put-soon key 'k1@example.org'
check_eq "put without DURABLE replaces it" second "$(probe get key 'k1@example.org')"
check_eq "row_version counts the writes" 2 \
	"$(pg_psql "SELECT row_version FROM p11enroll.documents WHERE kind = 'key' AND name = 'k1@example.org'")"
check_contains "updated_by names the station" \
	"$(pg_psql "SELECT updated_by FROM p11enroll.documents WHERE kind = 'key' AND name = 'k1@example.org'")" \
	"p11enroll pid "
printf 'x' | probe put key 'K1@example.org'
printf 'yy' | probe put key 'k2@example.org'
check_eq "list: every document of the kind, sorted, with its length" \
	"K1@example.org 1,k1@example.org 6,k2@example.org 2" "$(probe list key | paste -sd,)"
check_eq "list: another kind is apart" "empty@example.org 0" "$(probe list pfx)"
probe remove key 'k2@example.org'
check_eq "remove" 0 $?
probe get key 'k2@example.org' >/dev/null 2>err
check_eq "removed: get is exit 10" 10 $?
probe remove key 'k2@example.org' 2>/dev/null
check_eq "remove again: exit 10" 10 $?
probe put nokind x </dev/null 2>err
check_eq "an unknown kind: exit 2" 2 $?

# --- an enrollment keeps its record in the database ---
out=$(enroll one@example.org 2>&1)
check_eq "enroll against the postgresql store ($out)" 0 $?
check_eq "the record in psql (identities view)" done "$(db_record one@example.org step)"
check_eq "... not in STATE_DIR" no "$([ -e "$P11ENROLL_STATE_DIR/identities/one@example.org.json" ] && echo yes || echo no)"
out=$(pe status one@example.org 2>&1)
check_eq "status reads it ($out)" 0 $?
check_contains "... from the database" "$out" "one@example.org"
out=$(pe --json status 2>&1)
check_eq "status lists the identities of the store" one@example.org \
	"$(echo "$out" | jq -r '.[].identity' 2>/dev/null | paste -sd,)"
out=$(enroll one@example.org 2>&1)
check_eq "a rerun finds it done" 0 $?
check_eq "... one key" 1 "$(count_objects privkey "$(db_record one@example.org key_id)")"

# --- two stations racing for one identity ---
for i in 1 2; do
	enroll race@example.org --wait 300 >"race$i.out" 2>&1 &
	pids[$i]=$!
done
for i in 1 2; do
	wait "${pids[$i]}"
	check_eq "race: station $i exits 0 ($(cat "race$i.out"))" 0 $?
done
id=$(db_record race@example.org key_id)
check_eq "race: one private key" 1 "$(count_objects privkey "$id")"
check_eq "race: one certificate" 1 "$(count_objects cert "$id")"
check_eq "race: the CA issued once" 1 "$(index_lines race@example.org)"

# --- a holder named, then killed while it holds the lock ---
# wait_lock PID: until the station PID holds an advisory lock (pg_locks).
wait_lock() {
	for _ in $(seq 1 600); do
		[ "$(pg_psql "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND a.application_name LIKE 'p11enroll pid $1 %'")" -ge 1 ] && return 0
		sleep 0.1
	done
	return 1
}
P11ENROLL_TEST_SLEEP_AT=key-generated P11ENROLL_TEST_SLEEP_MS=600000 "$P11ENROLL" --config fleet.json \
	enroll "$TEST_TOKEN_URI" --email killed@example.org --key ec:P-256 --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 600); do
	[ "$(db_record killed@example.org step)" = key-generated ] && break
	sleep 0.1
done
wait_lock "$holder" || bad "the holder never took its lock"
out=$(enroll killed@example.org --wait 0 2>&1)
check_eq "held: --wait 0 exits 12" 12 $?
check_contains "held: the holder named as the file store does" "$out" \
	"busy: identity killed@example.org is being enrolled by pid $holder on host $(hostname | cut -c1-28)"
kill -9 "$holder"
wait "$holder" 2>/dev/null
out=$(enroll killed@example.org --wait 300 2>&1)
check_eq "killed: another station takes over and finishes ($out)" 0 $?
id=$(db_record killed@example.org key_id)
check_eq "killed: one key" 1 "$(count_objects privkey "$id")"
check_eq "killed: one certificate" 1 "$(count_objects cert "$id")"
check_eq "killed: the CA issued once" 1 "$(index_lines killed@example.org)"

# --- PostgreSQL stopped mid-enrollment, started again ---
keys_before=$(privkeys)
P11ENROLL_TEST_SLEEP_AT=key-generated P11ENROLL_TEST_SLEEP_MS=8000 "$P11ENROLL" --config fleet.json \
	enroll "$TEST_TOKEN_URI" --email down@example.org --key ec:P-256 --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" >down.out 2>&1 &
station=$!
for _ in $(seq 1 600); do
	[ "$(db_record down@example.org step)" = key-generated ] && break
	sleep 0.1
done
pg_primary_stop
wait "$station"
check_eq "the database went away mid-enrollment: exit 1" 1 $?
check_contains "... said in one line" "$(cat down.out)" "lost the connection"
check_eq "... one line ($(cat down.out))" 1 "$(wc -l <down.out)"
pg_primary_start || bad "postgres did not start again"
out=$(enroll down@example.org 2>&1)
check_eq "after the restart the rerun finishes ($out)" 0 $?
id=$(db_record down@example.org key_id)
check_eq "down: one key" 1 "$(count_objects privkey "$id")"
check_eq "down: one certificate" 1 "$(count_objects cert "$id")"
check_eq "down: the CA issued once" 1 "$(index_lines down@example.org)"
check_eq "down: one key more on the token in all" $((keys_before + 1)) "$(privkeys)"

# --- fencing: a write under a lock whose connection was terminated ---
mkfifo fence.in
"$STORE_PROBE" "$W/fleet.json" fence fenced@example.org <fence.in >fence.out 2>fence.err &
fencer=$!
exec 7>fence.in
for _ in $(seq 1 600); do grep -q locked fence.out 2>/dev/null && break; sleep 0.1; done
check_eq "fence: the lock taken" locked "$(cat fence.out)"
printf 'x' | probe lock identity fenced@example.org 0 >/dev/null 2>err
check_eq "fence: held against another station (12)" 12 $?
check_contains "... naming the holder" "$(cat err)" "by pid $fencer on host"
check_eq "fence: its connection terminated" t \
	"$(pg_psql "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND pid IN (SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'p11enroll pid $fencer %')")"
probe lock identity fenced@example.org 10000
check_eq "fence: the lock went with the connection" 0 $?
echo go >&7
exec 7>&-
wait "$fencer"
check_eq "fence: the write under the lost lock fails (exit 1)" 1 $?
check_contains "... saying so" "$(cat fence.err)" "lost the connection that held the lock on identity fenced@example.org"
check_eq "... and wrote nothing" 0 \
	"$(pg_psql "SELECT count(*) FROM p11enroll.documents WHERE name = 'fenced@example.org'")"

# --- counters never repeat under four processes ---
for i in 1 2 3 4; do probe counter serial 1 25 >"count$i" 2>"count$i.err" & done
wait
check_eq "counters: 100 values handed out" 100 "$(cat count1 count2 count3 count4 | wc -l)"
check_eq "counters: none twice, 1 to 100" "100 1 100" \
	"$(cat count1 count2 count3 count4 | sort -n | uniq | awk 'NR == 1 { f = $1 } { n++; l = $1 } END { print n, f, l }')"
check_eq "counters: kept in the table" 100 \
	"$(pg_psql "SELECT value FROM p11enroll.counters WHERE name = 'serial'")"

# --- connections: an enrollment does everything on its identity lock's connection ---
# (log_connections is on: one "connection authorized" line a connection)
marker=$(wc -l <"$PG_LOG")
out=$(enroll conns@example.org 2>&1)
check_eq "enroll ($out)" 0 $?
pid_conns=$(tail -n +$((marker + 1)) "$PG_LOG" | grep 'connection authorized' | grep -c "application_name=p11enroll pid " || true)
# The identity's lock's connection, and on it the token's lock, the CA's
# lock and every document and counter of the enrollment: the embedded CA
# shares the config's store (4 before: the pipeline's shared connection and
# lock connection, and the CA's own two).
check_eq "one enrollment: one connection (the identity lock's)" 1 "$pid_conns"

pg_stop
finish
