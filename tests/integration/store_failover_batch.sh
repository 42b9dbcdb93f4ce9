# A batch across a database failover (docs/fleet.md#failover): a primary and
# its streaming standby (tests/lib/postgres.sh), the standby synchronous
# (synchronous_standby_names, synchronous_commit on: what docs/fleet.md asks
# of a fleet), one multi-host connection string with
# target_session_attrs=read-write, the embedded CA, one SoftHSM token.
#
# First a station that cannot reach the database at all: one line, exit 1,
# nothing made (no key on the token, nothing at the CA). Then the worst
# failover we can make: the standby cut off from the primary while the batch
# runs (the primary's commits then wait for it, the station with them), the
# primary stopped at once (a crash), the standby promoted. The batch goes on
# against the new primary (rows caught in the failover fail with one line);
# it is rerun until it exits 0 (at most four times). Then every identity has
# one record, done; one private key, one public key and one certificate on
# the token; one issuance at the CA; and no key on the token that no record
# names. The records caught at the failover are read on the promoted server
# before the rerun: every one is whole, at a step a rerun resumes. Audit
# entries appended all the while: every acknowledged one is on the promoted
# server, `audit verify` finds the chain intact, and the head pinned before
# the failover (`audit head`) is still in it.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
export ASAN_OPTIONS=detect_leaks=0:fast_unwind_on_malloc=1
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "store_failover_batch needs a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
W=$TEST_TMP/fobatch
mkdir -p "$W"
cd "$W" || exit 1
setup_ca
N=40

# conf FILE PORTS [PASSWORD]: a config whose connection string lists PORTS on 127.0.0.1.
conf() {
	(umask 077 && printf 'host=%s port=%s dbname=fleet user=p11e password=%s sslmode=disable target_session_attrs=read-write connect_timeout=5\n' \
		"$(echo "$2" | sed 's/[0-9]\+/127.0.0.1/g')" "$2" "${3:-x}" >"$1.conninfo")
	printf '{ "state_dir": "%s", "store": { "type": "postgresql", "conninfo_source": "file:%s" } }\n' \
		"$P11ENROLL_STATE_DIR" "$W/$1.conninfo" >"$1"
}
# Every object of the token as "type id" lines (privkey, pubkey, cert).
objects() {
	p11tool_opensc --list-objects | awk '
		/^Private Key Object/ { t = "privkey" } /^Public Key Object/ { t = "pubkey" }
		/^Certificate Object/ { t = "cert" }
		/^ *ID:/ { print t, tolower($2) }'
}
index_lines() { grep -c "$1" "$CA_DIR/index.jsonl" || true; }

# --- a station that cannot reach the database makes nothing ---
down_port=$(free_port)
conf down.json "$down_port,$(free_port)"
p11e --config down.json enroll "$TEST_TOKEN_URI" --email nodb@example.org --key ec:P-256 \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" >down.out 2>&1
check_eq "no database: enroll exits 1" 1 $?
check_eq "... in one line ($(cat down.out))" 1 "$(wc -l <down.out)"
check_contains "... saying it could not connect" "$(cat down.out)" "cannot connect to PostgreSQL"
check_eq "... no object on the token" "" "$(objects)"
check_eq "... nothing asked of the CA" 0 "$(wc -l <"$CA_DIR/index.jsonl")"
printf 'email\nnodb1@example.org\nnodb2@example.org\n' >down.csv
p11e --config down.json batch down.csv --token "$TEST_TOKEN_URI" --key ec:P-256 \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" >down.out 2>&1
check_eq "no database: batch exits 1" 1 $?
check_eq "... one line a row and the summary ($(cat down.out))" 4 "$(wc -l <down.out)"
check_eq "... each row saying it could not connect" 2 "$(grep -c 'cannot connect to PostgreSQL' down.out)"
check_eq "... still no object on the token" "" "$(objects)"
check_eq "... still nothing asked of the CA" 0 "$(wc -l <"$CA_DIR/index.jsonl")"

# --- a primary, its synchronous standby ---
pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
pg_standby_start || { bad "the standby did not start: $(tail -n 5 "$PG_DIR"/standby.log "$PG_DIR"/basebackup.log 2>/dev/null)"; finish; }
pg_psql "ALTER SYSTEM SET synchronous_standby_names = '*'" && pg_psql "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 600); do
	[ "$(pg_psql "SELECT sync_state FROM pg_stat_replication")" = sync ] && break
	sleep 0.1
done
check_eq "the standby is synchronous" sync "$(pg_psql "SELECT sync_state FROM pg_stat_replication")"
conf fleet.json "$PG_PORT,$PG_STANDBY_PORT" "$(cat "$PG_DIR/p11e.pw")"
pe() { p11e --config "$W/fleet.json" "$@"; }
# psql on the promoted standby
standby_psql() {
	pg_as "$PG_BIN/psql" -X -q -At -h "$PG_SOCK" -p "$PG_STANDBY_PORT" -U postgres -d fleet \
		-v ON_ERROR_STOP=1 -c "$1"
}
pe store init >/dev/null 2>&1 || bad "store init failed"

{
	echo email
	for i in $(seq -w 1 $N); do echo "fo$i@example.org"; done
} >roster.csv
batch() { # batch OUT: the roster against fleet.json, --jobs 2
	pe batch roster.csv --jobs 2 --token "$TEST_TOKEN_URI" --key ec:P-256 --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" >"$1" 2>&1
}
done_rows() { pg_psql "SELECT count(*) FROM p11enroll.identities WHERE record->>'step' = 'done'" 2>/dev/null; }

# Audit appends all through the failover (tests/tools/audit_append.c), one
# process each: the acknowledged ones (exit 0) are listed in appended.
appender() {
	local i=0
	while [ ! -e stop-appending ]; do
		i=$((i + 1))
		"$AUDIT_APPEND" "$W/fleet.json" 1 "fa$i" >/dev/null 2>>append.err && echo "fa$i-1@example.com" >>appended
		sleep 0.2
	done
}
: >appended
appender &
appending=$!

# A pause in each token window (the test hook) keeps the batch running for
# a while: about a second a row.
P11ENROLL_TEST_PAUSE_MS=150 batch run1.out &
station=$!
for _ in $(seq 1200); do
	[ "$(done_rows)" -ge 8 ] 2>/dev/null && break
	sleep 0.1
done
check "the batch finished rows before the failover" test "$(done_rows)" -ge 8
pinned=$(p11e --config fleet.json audit head 2>&1)
check_contains "the audit head, pinned before the failover" "$pinned" "head at entry"
# The worst case: the standby cut off from the primary (its walreceiver
# stopped: no primary_conninfo), so what the primary commits from now on is
# on the primary alone. A synchronous standby makes those commits wait.
sed -i '/^primary_conninfo/d' "$PG_DIR/standby/postgresql.auto.conf"
pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" reload >/dev/null
for _ in $(seq 600); do
	[ "$(pg_psql "SELECT count(*) FROM pg_stat_replication")" = 0 ] && break
	sleep 0.1
done
check_eq "the standby is cut off" 0 "$(pg_psql "SELECT count(*) FROM pg_stat_replication")"
before=$(done_rows)
sleep 3
check_eq "cut off, the station waits: no row finishes ($before)" "$before" "$(done_rows)"
check_eq "... the commits wait for the standby" t \
	"$(pg_psql "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'SyncRep'")"
keys_waiting=$(objects | grep -c '^privkey' || true)
sleep 2
check_eq "... and makes no key meanwhile" "$keys_waiting" "$(objects | grep -c '^privkey' || true)"
# The station stopped (SIGSTOP) while the primary crashes and the standby
# is promoted, so that it meets the new primary as soon as it goes on: the
# rows in flight fail, the next ones must land on the new primary.
kill -STOP "$station"
pg_primary_stop
pg_promote || bad "the standby could not be promoted"
# The records the failover caught, as the new primary has them.
standby_psql "SELECT record FROM p11enroll.identities WHERE record->>'step' <> 'done'" >caught
kill -CONT "$station"
wait "$station"
rc=$?
check_contains "the batch across the failover exits 0 or 1 ($rc)" "0 1" "$rc"
after=$(standby_psql "SELECT count(*) FROM p11enroll.identities WHERE record->>'step' = 'done'")
failed=$(grep -c '^line ' run1.out || true)
echo "the batch across the failover: exit $rc, $(tail -n 1 run1.out), $after rows done on the new primary ($before before the cut)"
check "the batch went on: the rows after the failover done on the new primary ($before, then $after)" \
	test "$after" -gt "$before"
# The rows the failover caught fail, each in one line saying the store was
# lost or unreachable: each worker's row in flight, and the rows started
# while no primary answered (how many depends on the machine's speed: 5 here,
# 8 on a loaded CI root), never a row failing for another reason.
others=$(grep '^line ' run1.out | grep -v ': store: \(lost the connection\|cannot connect\)' || true)
check_eq "... only rows the failover caught failed, each saying so ($failed failed)" "" "$others"
check_eq "... every other row done" "$N" "$((after + failed))"
while IFS= read -r line; do
	case "$line" in
	line\ *) check_contains "a row caught in the failover fails in one line, resumable ($line)" "$line" "PostgreSQL" ;;
	batch\ * | "p11enroll batch: "*) ;;
	*) check_contains "nothing but row lines and the summary" "" "$line" ;;
	esac
done <run1.out
# Every record caught mid-way is whole and at a step a rerun resumes.
while IFS= read -r json; do
	who=$(jq -r .identity <<<"$json")
	step=$(jq -r .step <<<"$json")
	check_contains "caught $who: its record parses, at a step the pipeline resumes ($step)" \
		" new key-pending key-generated csr-built submitted issued stored " " $step "
done <caught
echo "records caught mid-way at the failover: $(jq -r .step caught | sort | uniq -c | paste -sd,)"


touch stop-appending
wait "$appending"
acked=$(wc -l <appended)
check "audit appends were acknowledged before and after the failover" test "$acked" -ge 4
lost=0
while read -r who; do
	[ "$(standby_psql "SELECT count(*) FROM p11enroll.audit WHERE line::jsonb->>'identity' = '$who'")" = 1 ] ||
		lost=$((lost + 1))
done <appended
check_eq "every acknowledged audit entry is on the new primary, once ($acked acknowledged)" 0 "$lost"
out=$(p11e --config fleet.json audit verify 2>&1)
check_eq "audit verify after the failover: intact ($out)" 0 $?
check_contains "... every entry chained" "$out" "intact, $(standby_psql "SELECT count(*) FROM p11enroll.audit") chained entries"
seq=$(sed -n 's/.*head at entry \([0-9]*\), sha256 \([0-9a-f]*\).*/\1/p' <<<"$pinned")
sha=$(sed -n 's/.*head at entry \([0-9]*\), sha256 \([0-9a-f]*\).*/\2/p' <<<"$pinned")
check_eq "the head pinned before the failover is still in the chain" "$sha" \
	"$(standby_psql "SELECT sha256 FROM p11enroll.audit WHERE seq = ${seq:-0}")"

# Rerun until it is done (bounded).
for run in 2 3 4 5; do
	batch "run$run.out"
	rc=$?
	[ $rc = 0 ] && break
done
check_eq "the reruns finish the batch ($(tail -n 3 "run$run.out"))" 0 "$rc"
check_contains "the last run skips what was done" "$(tail -n 1 "run$run.out")" "$N rows:"

# --- one of everything per identity ---
check_eq "every identity has one record, done" "$N done" \
	"$(standby_psql "SELECT count(*) || ' ' || string_agg(DISTINCT record->>'step', ',') FROM p11enroll.identities WHERE identity LIKE 'fo%@example.org'")"
listing=$(objects)
standby_psql "SELECT lower(record->>'key_id') FROM p11enroll.identities" | sort >ids
check_eq "$N distinct key IDs in the records" "$N" "$(sort -u ids | wc -l)"
for t in privkey pubkey; do
	grep "^$t " <<<"$listing" | awk '{ print $2 }' | sort >"$t.ids"
	check_eq "one $t per identity, under its record's key ID, and no other" "" "$(diff ids "$t.ids")"
done
# The certificates: one per identity under its key's ID, and the CA's own
# (written beside the first key, under its own ID).
grep "^cert " <<<"$listing" | awk '{ print $2 }' | sort >cert.ids
check_eq "one certificate per identity, under its record's key ID" "" "$(comm -23 ids cert.ids)"
check_eq "no other certificate but the CA's" 1 "$(comm -13 ids cert.ids | wc -l)"
for id in $(comm -13 ids cert.ids); do
	token_cert "$id" other.pem
	check_eq "... which is the CA's ($id)" "$(openssl x509 -in "$CA_DIR/ca.pem" -noout -fingerprint -sha256)" \
		"$(openssl x509 -in other.pem -noout -fingerprint -sha256 2>&1)"
done
[ -n "${FOB_KEEP:-}" ] && cp -r "$W" "$FOB_KEEP"
# The embedded CA's index is in the store (documents of kind ca-cert, one
# per certificate issued); CA_DIR/index.jsonl is this station's log of it.
standby_psql "SELECT convert_from(data, 'UTF8')::jsonb->>'subject' FROM p11enroll.documents WHERE kind = 'ca-cert'" >issued
for i in $(seq -w 1 $N); do
	n=$(grep -c "fo$i@example.org" issued)
	[ "$n" = 1 ] || bad "fo$i@example.org: the CA's index (the store) has $n certificates"
	n=$(index_lines "fo$i@example.org")
	[ "$n" = 1 ] || bad "fo$i@example.org: the CA's log (index.jsonl) has $n certificates"
done
check_eq "the CA issued $N certificates in all (its index in the store)" "$N" "$(wc -l <issued)"
check_eq "... and its log says the same" "$N" "$(wc -l <"$CA_DIR/index.jsonl")"
for i in 01 $N; do
	id=$(standby_psql "SELECT record->>'key_id' FROM p11enroll.identities WHERE identity = 'fo$i@example.org'")
	token_cert "$id" "fo$i.pem"
	check "fo$i: the token's certificate verifies against the CA" \
		openssl verify -CAfile "$CA_DIR/ca.pem" "fo$i.pem"
done

pg_stop
finish
