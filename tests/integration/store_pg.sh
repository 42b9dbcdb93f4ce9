# The store's life cycle (docs/store.md), issue 21's first step: the file
# store by default, and the postgresql store against a real PostgreSQL 15
# started for this test (tests/lib/postgres.sh): `store init` creates the
# schema and its tables, a rerun and two stations at once make nothing
# twice, `store migrate` refuses a store never initialised and a schema
# newer than the binary, the connection string comes from a secret source
# and never shows (not in a malformed string's error either), a wrong
# password is one line, and with ca_bundle the server's certificate is
# verified (another CA's is refused).
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
W=$TEST_TMP/store
mkdir -p "$W"
cd "$W" || exit 1

# --- the file store: the default, nothing to set up ---
export P11ENROLL_STATE_DIR=$W/state
out=$(p11e store status 2>&1)
check_contains "file store: status before init" "$out" "version 0, this p11enroll knows 1: not created"
p11e store migrate >/dev/null 2>&1
check_eq "file store: migrate before init: exit 10" 10 $?
out=$(p11e store init 2>&1)
check_contains "file store: init" "$out" "store: file, $W/state: created, schema version 0 to 1"
check_eq "file store: the directory is 0700" 700 "$(stat -c %a "$W/state")"
out=$(p11e store init 2>&1)
check_contains "file store: init again" "$out" "up to date at version 1"

# --- PostgreSQL ---
pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
PW=$(cat "$PG_DIR/p11e.pw")
# The connection string is a secret: in a 0600 file and in the environment.
(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=p11e password=%s sslmode=disable\n' \
	"$PG_PORT" "$PW" >conninfo)
pg_config() { # pg_config FILE STORE-MEMBERS...
	local f=$1
	shift
	printf '{ "state_dir": "%s", "store": { "type": "postgresql", %s } }\n' "$W/state" "$*" >"$f"
}
pg_config fleet.json '"conninfo_source": "file:conninfo"'
s() { p11e --config "$1" store "${@:2}"; }

out=$(s fleet.json status 2>&1)
check_contains "pg: status before init" "$out" "version 0, this p11enroll knows 1: not created"
check_contains "pg: status names the server" "$out" "server: PostgreSQL 15."
check_not_contains "pg: status shows no password" "$out" "$PW"
s fleet.json migrate >err 2>&1
check_eq "pg: migrate before init: exit 10" 10 $?
check_contains "pg: migrate before init says what to do" "$(cat err)" "p11enroll store init"
out=$(s fleet.json init 2>&1)
check_contains "pg: init creates the schema" "$out" "created, schema version 0 to 1"
check_eq "pg: the tables" \
	"audit audit_head counters documents p11e_schema" \
	"$(pg_psql "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'p11enroll'")"
check_eq "pg: owned by the station's role" p11e \
	"$(pg_psql "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'p11enroll'")"
check_eq "pg: the migration is recorded" "1|p11e" \
	"$(pg_psql "SELECT version, applied_by FROM p11enroll.p11e_schema")"
out=$(s fleet.json init 2>&1)
check_contains "pg: init again does nothing" "$out" "up to date at version 1"
out=$(s fleet.json --json status 2>&1)
check_eq "pg: status --json" "1 1 up to date false" \
	"$(echo "$out" | jq -r '"\(.schema_version) \(.known_version) \(.state) \(.read_only)"')"

# Two stations initialising one new schema at once: one creates it, the
# other waits on the migration lock and finds it done; nothing twice.
pg_config two.json '"conninfo_source": "env:PGCONN", "schema": "desk_two"'
export PGCONN
PGCONN=$(cat conninfo)
for i in 1 2 3 4; do s two.json init >"init$i.out" 2>&1 & done
wait
ok_runs=0
for i in 1 2 3 4; do grep -qE '(version 1|0 to 1)$' "init$i.out" && ok_runs=$((ok_runs + 1)); done
check_eq "pg: four stations at once all succeed" 4 "$ok_runs"
check_eq "pg: one of them created it" 1 "$(grep -l 'created, schema' init*.out | wc -l)"
check_eq "pg: one migration row" 1 "$(pg_psql "SELECT count(*) FROM desk_two.p11e_schema")"
unset PGCONN

# A schema newer than this binary: status says so, migrate refuses (exit 8).
pg_psql "INSERT INTO p11enroll.p11e_schema (version, summary) VALUES (99, 'from the future')"
out=$(s fleet.json status 2>&1)
check_contains "pg: a newer schema is shown" "$out" "version 99, this p11enroll knows 1: newer than this p11enroll"
s fleet.json migrate >err 2>&1
check_eq "pg: migrate refuses a newer schema: exit 8" 8 $?
check_contains "pg: ... and says what to do" "$(cat err)" "upgrade p11enroll"
pg_psql "DELETE FROM p11enroll.p11e_schema WHERE version = 99"

# The connection string is never echoed: a malformed one (libpq's parser
# would quote a piece of it), a wrong password, a server that is not there.
(umask 077 && printf 'host=127.0.0.1 password=%s oops\n' "$PW" >bad-conninfo)
pg_config bad.json '"conninfo_source": "file:bad-conninfo"'
s bad.json status >err 2>&1
check_eq "pg: a malformed connection string: exit 8" 8 $?
check_contains "pg: ... names the field" "$(cat err)" "store.conninfo_source file:"
check_not_contains "pg: ... without the password" "$(cat err)" "$PW"
check_eq "pg: ... in one line" 1 "$(wc -l <err)"
(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=p11e password=wrong-%s\n' \
	"$PG_PORT" "$PW" >wrong-conninfo)
pg_config wrong.json '"conninfo_source": "file:wrong-conninfo"'
s wrong.json status >err 2>&1
check_eq "pg: a wrong password: exit 1" 1 $?
check_contains "pg: ... says so" "$(cat err)" "password authentication failed"
check_not_contains "pg: ... without the password" "$(cat err)" "$PW"
check_eq "pg: ... in one line" 1 "$(wc -l <err)"
pg_config plain.json '"conninfo_source": "host=127.0.0.1 password=x"'
s plain.json status >err 2>&1
check_eq "pg: a connection string in the config itself is refused: exit 8" 8 $?
check_contains "pg: ... naming the field" "$(cat err)" "store.conninfo_source: must be env:VAR or file:PATH"
pg_config typo.json '"conninfo_source": "file:conninfo", "shema": "x"'
p11e --config typo.json config check >err 2>&1
check_eq "pg: an unknown key: exit 8" 8 $?
check_contains "pg: ... named" "$(cat err)" "unknown key 'store.shema'"
pg_config schema.json '"conninfo_source": "file:conninfo", "schema": "Robert\"); DROP"'
s schema.json status >err 2>&1
check_eq "pg: a schema name that is not an identifier: exit 8" 8 $?

# TLS: with ca_bundle the server's certificate must verify (verify-full),
# whatever the connection string asks for.
(umask 077 && printf 'host=localhost port=%s dbname=fleet user=p11e password=%s sslmode=disable\n' \
	"$PG_PORT" "$PW" >tls-conninfo)
cp "$PG_TLS_CA" pg-ca.pem
pg_config tls.json '"conninfo_source": "file:tls-conninfo", "ca_bundle": "pg-ca.pem"'
before=$(grep -cE 'user=p11e database=fleet.* SSL enabled' "$PG_LOG")
out=$(s tls.json status 2>&1)
check_contains "pg: TLS verified against ca_bundle" "$out" "schema: version 1"
check_eq "pg: the station's connection used TLS (server log)" $((before + 1)) \
	"$(grep -cE 'user=p11e database=fleet.* SSL enabled' "$PG_LOG")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other \
	-keyout other.key -out other-ca.pem 2>/dev/null
pg_config other.json '"conninfo_source": "file:tls-conninfo", "ca_bundle": "other-ca.pem"'
s other.json status >err 2>&1
check_eq "pg: another CA's server certificate is refused: exit 1" 1 $?
check_contains "pg: ... says why" "$(cat err)" "certificate verify failed"

pg_stop
finish
