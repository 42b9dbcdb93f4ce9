# The PostgreSQL roles of a fleet (docs/fleet.md#roles): the owner (p11e,
# which owns the database) runs `store init`; contrib/postgresql/roles.sql,
# run by the owner, gives the station role what stations, portals and the
# renewal timer need and the auditor role the audit chain alone. Before it,
# a station's enrollment is refused in one line and makes nothing; after it,
# an enrollment as the station works, and so does an audit append; the
# auditor runs `audit verify` and `audit head`. As the station, psql is refused an
# UPDATE or DELETE of audit rows, a DELETE of a counter, a TRUNCATE and a
# DROP; as the auditor, the records and any write. roles.sql run twice is
# harmless.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
W=$TEST_TMP/roles
mkdir -p "$W"
cd "$W" || exit 1
setup_ca
pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
for r in station auditor; do
	(umask 077 && openssl rand -hex 16 | tr -d '\n' >"$r.pw")
	pg_psql "CREATE ROLE p11e_$r LOGIN PASSWORD '$(cat "$r.pw")'" ||
		bad "cannot create the role p11e_$r"
done
cp "$PG_DIR/p11e.pw" owner.pw
# conf NAME ROLE: NAME.json, a config connecting as ROLE (password in NAME.pw)
conf() {
	(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=%s password=%s sslmode=disable connect_timeout=10\n' \
		"$PG_PORT" "$2" "$(cat "$1.pw")" >"$1.conninfo")
	printf '{ "state_dir": "%s", "store": { "type": "postgresql", "conninfo_source": "file:%s/%s.conninfo" } }\n' \
		"$P11ENROLL_STATE_DIR" "$W" "$1" >"$1.json"
}
conf owner p11e
conf station p11e_station
conf auditor p11e_auditor
# as NAME SQL: psql connected as NAME's role (the password through a passfile)
as() {
	printf '127.0.0.1:%s:fleet:*:%s\n' "$PG_PORT" "$(cat "$1.pw")" >"$1.pgpass"
	PGPASSFILE=$W/$1.pgpass psql -X -q -At -v ON_ERROR_STOP=1 \
		"host=127.0.0.1 port=$PG_PORT dbname=fleet user=$(sed -n 's/.* user=\([^ ]*\) .*/\1/p' "$1.conninfo") sslmode=disable" \
		"${@:2}"
}
roles_sql() {
	as owner -v schema=p11enroll -v station=p11e_station -v auditor=p11e_auditor \
		-f "$SOURCE_DIR/contrib/postgresql/roles.sql"
}
enroll() { # enroll NAME EMAIL
	p11e --config "$W/$1.json" enroll "$TEST_TOKEN_URI" --email "$2" --key ec:P-256 \
		--ca "local:$CA_DIR" --pin-source "$PIN_SRC"
}
privkeys() { p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object' || true; }

p11e --config owner.json store init >/dev/null 2>&1
check_eq "the owner runs store init" 0 $?

# --- before the grants: refused in one line, nothing made ---
enroll station early@example.org >out 2>&1
check_eq "no grants yet: the station's enrollment fails (exit 1)" 1 $?
check_eq "... in one line ($(cat out))" 1 "$(wc -l <out)"
check_contains "... saying what PostgreSQL refused" "$(cat out)" "permission denied"
check_eq "... no key made" 0 "$(privkeys)"
check_eq "... nothing asked of the CA" 0 "$(wc -l <"$CA_DIR/index.jsonl")"

roles_sql >out 2>&1
rc=$?
check_eq "roles.sql runs as the owner ($(cat out))" 0 $rc
roles_sql >out 2>&1
rc=$?
check_eq "... and again, harmlessly ($(cat out))" 0 $rc

# --- the station enrolls ---
out=$(enroll station one@example.org 2>&1)
check_eq "the station role enrolls ($out)" 0 $?
check_eq "... the record in the database" done \
	"$(pg_psql "SELECT record->>'step' FROM p11enroll.identities WHERE identity = 'one@example.org'")"
out=$(p11e --config station.json status one@example.org 2>&1)
check_eq "... and reads it back ($out)" 0 $?
out=$(enroll station one@example.org 2>&1)
check_eq "... a rerun finds it done" 0 $?
check_eq "... one key" 1 "$(privkeys)"
out=$(as station -c "INSERT INTO p11enroll.counters (name, value) VALUES ('serial', 1) ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value" 2>&1)
check_eq "the station takes a counter's next value ($out)" 1 "$out"

# --- the station appends to the chain, and nothing more ---
out=$("$AUDIT_APPEND" "$W/station.json" 2 st 2>&1)
check_eq "the station appends to the audit chain ($out)" 0 $?
check_eq "... two entries, the head at the second" "2 2" \
	"$(pg_psql "SELECT count(*) || ' ' || (SELECT seq FROM p11enroll.audit_head) FROM p11enroll.audit")"
out=$(as station -c "BEGIN; SELECT seq FROM p11enroll.audit_head FOR UPDATE; COMMIT" 2>&1)
check_eq "... and locks the head for an append ($out)" 2 "$out"
chain=$(pg_psql "SELECT string_agg(seq || ':' || sha256, ',' ORDER BY seq) FROM p11enroll.audit")
refused() { # refused WHAT SQL: psql as the station fails with permission denied
	local out
	out=$(as "$3" -c "$2" 2>&1)
	check "$1: refused" test $? -ne 0
	case "$out" in
	*"permission denied"* | *"must be owner"*) ok ;;
	*) bad "$1: not a permission error: $out" ;;
	esac
}
refused "station: UPDATE an audit row" "UPDATE p11enroll.audit SET line = 'x' WHERE seq = 1" station
refused "station: DELETE an audit row" "DELETE FROM p11enroll.audit WHERE seq = 1" station
refused "station: TRUNCATE audit" "TRUNCATE p11enroll.audit" station
refused "station: DELETE the head" "DELETE FROM p11enroll.audit_head" station
refused "station: DELETE a counter" "DELETE FROM p11enroll.counters" station
refused "station: DROP TABLE documents" "DROP TABLE p11enroll.documents" station
refused "station: DROP TABLE audit" "DROP TABLE p11enroll.audit" station
refused "station: ALTER TABLE audit" "ALTER TABLE p11enroll.audit DROP CONSTRAINT audit_pkey" station
refused "station: CREATE TABLE in the schema" "CREATE TABLE p11enroll.mine (x int)" station
check_eq "the audit rows are as the station wrote them" "$chain" \
	"$(pg_psql "SELECT string_agg(seq || ':' || sha256, ',' ORDER BY seq) FROM p11enroll.audit")"
p11e --config station.json store migrate >out 2>&1
rc=$?
check_eq "the station finds the schema up to date, changing nothing ($(cat out))" 0 $rc

# --- the auditor reads the chain, and nothing else ---
out=$(as auditor -c "SELECT count(*) FROM p11enroll.audit" 2>&1)
check_eq "the auditor reads the audit chain ($out)" 2 "$out"
out=$(as auditor -c "SELECT seq FROM p11enroll.audit_head" 2>&1)
check_eq "... and its head ($out)" 2 "$out"
out=$(p11e --config auditor.json audit verify 2>&1)
check_eq "the auditor runs audit verify ($out)" 0 $?
check_contains "... intact" "$out" "intact, 2 chained entries"
out=$(p11e --config auditor.json audit head 2>&1)
check_eq "... and audit head ($out)" 0 $?
"$AUDIT_APPEND" "$W/auditor.json" 1 aud >out 2>&1
rc=$?
check_eq "the auditor cannot append through p11enroll (exit 1: $(cat out))" 1 $rc
check_contains "... permission denied" "$(cat out)" "permission denied"
refused "auditor: read the records" "SELECT count(*) FROM p11enroll.documents" auditor
refused "auditor: read the identities view" "SELECT count(*) FROM p11enroll.identities" auditor
refused "auditor: append to the chain" "INSERT INTO p11enroll.audit (seq, line, sha256) VALUES (2, '{}', repeat('0', 64))" auditor
refused "auditor: move the head" "UPDATE p11enroll.audit_head SET seq = 5" auditor
enroll auditor two@example.org >out 2>&1
rc=$?
check_eq "the auditor cannot enroll (exit 1, $(cat out))" 1 $rc
check_contains "... permission denied, one line" "$(cat out)" "permission denied"
check_eq "... and no key was made" 1 "$(privkeys)"

pg_stop
finish
