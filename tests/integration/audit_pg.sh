# The audit chain in a PostgreSQL store (issue 21 item 5), against a real
# PostgreSQL 15 started for this test (tests/lib/postgres.sh): appends from
# several processes at once form one chain (seqs 1..N*M, no fork, verify
# intact); `audit verify` catches an UPDATE of a line, a DELETE, an INSERT
# and two entries swapped with psql, each naming the first bad entry, and an
# append refuses the chain until it is restored; `audit show` and `audit
# head` read it. Appends are driven by tests/tools/audit_append.c
# (p11e_audit_write, action "test-append"): the commands that audit also
# take locks or write documents, which this store may not keep yet.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
W=$TEST_TMP/auditpg
mkdir -p "$W"
cd "$W" || exit 1

pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
PW=$(cat "$PG_DIR/p11e.pw")
(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=p11e password=%s sslmode=disable\n' \
	"$PG_PORT" "$PW" >conninfo)
printf '{ "state_dir": "%s", "store": { "type": "postgresql", "conninfo_source": "file:conninfo" } }\n' \
	"$W/state" >fleet.json
a() { p11e --config fleet.json audit "$@"; }
appends() { "$AUDIT_APPEND" fleet.json "$@"; } # COUNT NAME
Q() { pg_psql "$1"; }

out=$(p11e --config fleet.json store init 2>&1)
check_contains "store init ($out)" "$out" "schema version 0 to 1"
out=$(a verify 2>&1)
check_eq "verify without entries: exit 0 ($out)" 0 $?
check_contains "  says there are none" "$out" "no audit log yet"
out=$(a head 2>&1)
check_contains "head without entries" "$out" "no audit log yet"

# N processes x M appends at once: one chain, 1..N*M, never forked.
N=4 M=5
for p in $(seq $N); do
	(for i in $(seq $M); do appends 1 "p$p-$i" || echo "fail p$p-$i"; done) >"app$p.out" 2>&1 &
done
wait
check_eq "every concurrent append succeeded" "" "$(cat app*.out)"
check_eq "seqs 1..N*M, no gap, no duplicate" "$((N * M)) 1 $((N * M))" \
	"$(Q "SELECT count(DISTINCT seq), min(seq), max(seq) FROM p11enroll.audit" | tr '|' ' ')"
check_eq "the head is the last entry" "$(Q "SELECT sha256 FROM p11enroll.audit WHERE seq = $((N * M))")" \
	"$(Q "SELECT sha256 FROM p11enroll.audit_head")"
check_eq "each row's seq is its line's" 0 \
	"$(Q "SELECT count(*) FROM p11enroll.audit WHERE (line::jsonb->>'seq')::bigint <> seq")"
check_eq "each row's sha256 is its line's" 0 \
	"$(Q "SELECT count(*) FROM p11enroll.audit WHERE encode(sha256(convert_to(line, 'UTF8')), 'hex') <> sha256")"
check_eq "each prev is the hash of the entry before" 0 \
	"$(Q "SELECT count(*) FROM p11enroll.audit a JOIN p11enroll.audit b ON b.seq = a.seq - 1 WHERE a.line::jsonb->>'prev' <> b.sha256")"
out=$(a verify 2>&1)
check_eq "verify: exit 0 ($out)" 0 $?
check_contains "  all of them" "$out" "intact, $((N * M)) chained entries"
check_contains "  names the table" "$out" "p11enroll.audit (PostgreSQL)"

# head and show.
HEADSHA=$(Q "SELECT sha256 FROM p11enroll.audit_head")
out=$(a head 2>&1)
check_eq "head: exit 0" 0 $?
check_contains "  seq and sha256" "$out" "head at entry $((N * M)), sha256 $HEADSHA"
check_eq "head --json" "$((N * M)) $HEADSHA" "$(a head --json | jq -r '"\(.seq) \(.sha256)"')"
out=$(a show 2>&1)
check_eq "show: a line per entry and a header" $((N * M + 1)) "$(wc -l <<<"$out")"
check_contains "  the table" "$out" "test-append"
out=$(a show --json --identity P2-3-1@EXAMPLE.COM)
check_eq "show --json --identity (any case): that entry's stored line" \
	"$(Q "SELECT line FROM p11enroll.audit WHERE line::jsonb->>'identity' = 'p2-3-1@example.com'")" "$out"
check_eq "show --since the future: nothing" "" "$(a show --json --since 2999-01-01)"
check_eq "show --since the past: everything" $((N * M)) "$(a show --json --since 1999-01-01T00:00Z | wc -l)"

# Tampering with psql: each caught by verify, naming the first bad entry. An
# append checks the chain's end (the last row against the head) and refuses
# what that shows; `audit head` also counts the rows; an edit further back is
# for verify, which walks every row (p11enroll(1) AUDIT LOG).
Q "CREATE TABLE p11enroll.audit_saved AS SELECT * FROM p11enroll.audit"
Q "CREATE TABLE p11enroll.audit_head_saved AS SELECT * FROM p11enroll.audit_head"
restore() {
	Q "DELETE FROM p11enroll.audit; INSERT INTO p11enroll.audit SELECT * FROM p11enroll.audit_saved"
	Q "DELETE FROM p11enroll.audit_head; INSERT INTO p11enroll.audit_head SELECT * FROM p11enroll.audit_head_saved"
	check "  restored: intact" a verify
}
tampered() { # tampered WHAT SQL ENTRY MESSAGE refused|appended
	Q "$2"
	out=$(a verify 2>&1)
	check_eq "$1: verify exit 1 ($out)" 1 $?
	check_contains "  names entry $3" "$out" "entry $3"
	check_contains "  says why" "$out" "$4"
	# The first bad entry, when one is there to name (not one deleted at the end).
	check_eq "  --json: bad_entry" "false ${6:-$3}" "$(a verify --json 2>/dev/null | jq -r '"\(.intact) \(.bad_entry)"')"
	before=$(Q "SELECT count(*) FROM p11enroll.audit")
	if [ "$5" = refused ]; then
		appends 1 refused 2>/dev/null
		check_eq "  an append is refused" 1 $?
		check_eq "  nothing appended" "$before" "$(Q "SELECT count(*) FROM p11enroll.audit")"
	fi
	a show >/dev/null 2>&1
	check_eq "  show fails too" 1 $?
	restore
}
tampered "UPDATE of a line" \
	"UPDATE p11enroll.audit SET line = replace(line, '\"outcome\":\"ok\"', '\"outcome\":\"OK\"') WHERE seq = 7" \
	7 "not the line that was written" appended
tampered "UPDATE of a line and its sha256" \
	"UPDATE p11enroll.audit SET line = replace(line, 'example', 'exampel'), sha256 = encode(sha256(convert_to(replace(line, 'example', 'exampel'), 'UTF8')), 'hex') WHERE seq = 7" \
	8 "does not chain" appended
tampered "UPDATE of the last line" \
	"UPDATE p11enroll.audit SET line = replace(line, '\"outcome\":\"ok\"', '\"outcome\":\"OK\"') WHERE seq = 20" \
	20 "not the line that was written" refused
Q "DELETE FROM p11enroll.audit WHERE seq = 5"
out=$(a head 2>&1)
check_eq "DELETE: head exit 1" 1 $?
check_contains "  counts the rows" "$out" "holds 19 entries but its last is entry 20"
restore
tampered "DELETE" "DELETE FROM p11enroll.audit WHERE seq = 5" 6 'wrong "seq"' appended
tampered "DELETE of the last entry" "DELETE FROM p11enroll.audit WHERE seq = 20" 19 "held 20" \
	refused null
tampered "INSERT" \
	"INSERT INTO p11enroll.audit (seq, line, sha256) SELECT 25, line, sha256 FROM p11enroll.audit WHERE seq = 3" \
	25 'wrong "seq"' refused
# An entry added at the end with a good chain: only the head knows.
last=$(Q "SELECT line FROM p11enroll.audit WHERE seq = 20")
forged=$(jq -c --arg h "$HEADSHA" '.seq = 21 | .prev = $h | .identity = "forged@example.com"' <<<"$last")
fsha=$(printf '%s' "$forged" | sha256sum | cut -d' ' -f1)
tampered "INSERT at the end, chained" \
	"INSERT INTO p11enroll.audit (seq, line, sha256) VALUES (21, '$forged', '$fsha')" \
	21 "goes on past its head" refused
tampered "two entries swapped" \
	"UPDATE p11enroll.audit SET seq = seq + 1000 WHERE seq IN (9, 10); UPDATE p11enroll.audit SET seq = CASE seq WHEN 1009 THEN 10 ELSE 9 END WHERE seq > 1000" \
	9 'wrong "seq"' appended

# The head's row deleted: verify and appends refuse until reset-head, which
# trusts the chain as it is in an entry of its own.
Q "DELETE FROM p11enroll.audit_head"
out=$(a verify 2>&1)
check_eq "head deleted: verify exit 1" 1 $?
check_contains "  says so" "$out" "p11enroll.audit_head (PostgreSQL) is missing"
appends 1 refused 2>/dev/null
check_eq "  an append is refused" 1 $?
out=$(a reset-head 2>&1)
check_eq "reset-head: exit 0 ($out)" 0 $?
check_contains "  trusts the 20 entries" "$out" "20 chained entries"
check_eq "  its own entry, then the head" "audit-reset-head missing 21 21" \
	"$(Q "SELECT line::jsonb->>'action', line::jsonb->>'previous_head', seq, (SELECT seq FROM p11enroll.audit_head) FROM p11enroll.audit ORDER BY 3 DESC LIMIT 1" | tr '|' ' ')"
check "  verify: intact" a verify
appends 1 after
check_eq "  appends go on" 22 "$(Q "SELECT max(seq) FROM p11enroll.audit")"

pg_stop
finish
