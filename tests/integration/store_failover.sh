# The postgresql store across a failover (docs/store.md): a primary and its
# streaming standby (tests/lib/postgres.sh), one libpq multi-host connection
# string with target_session_attrs=read-write. The station finds the primary;
# the standby alone is shown as a standby and refused for migrations; the
# primary stopped at once (a crash) and the standby promoted, the same string
# finds the promoted server with the schema the primary had committed.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/postgres.sh"
W=$TEST_TMP/failover
mkdir -p "$W"
cd "$W" || exit 1

pg_start || { bad "postgres did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)"; finish; }
pg_standby_start || { bad "the standby did not start: $(tail -n 5 "$PG_DIR"/standby.log "$PG_DIR"/basebackup.log 2>/dev/null)"; finish; }
PW=$(cat "$PG_DIR/p11e.pw")
conf() { # conf FILE PORTS: a config whose connection string lists PORTS
	(umask 077 && printf 'host=%s port=%s dbname=fleet user=p11e password=%s target_session_attrs=read-write connect_timeout=5\n' \
		"$(echo "$2" | sed 's/[0-9]\+/127.0.0.1/g')" "$2" "$PW" >"$1.conninfo")
	printf '{ "state_dir": "%s", "store": { "type": "postgresql", "conninfo_source": "file:%s" } }\n' \
		"$W/state" "$1.conninfo" >"$1"
}
conf fleet.json "$PG_PORT,$PG_STANDBY_PORT"
conf standby.json "$PG_STANDBY_PORT"
sed -i 's/ target_session_attrs=read-write//' standby.json.conninfo
s() { p11e --config "$1" store "${@:2}"; }

out=$(s fleet.json init 2>&1)
check_contains "the multi-host string finds the primary" "$out" "port $PG_PORT, schema p11enroll: created"
# The standby replays it (streaming, within seconds).
for _ in $(seq 300); do
	[ "$(s standby.json --json status 2>/dev/null | jq -r .schema_version)" = 1 ] && break
	sleep 0.2
done
out=$(s standby.json --json status 2>&1)
check_eq "the standby has the schema, and says it is one" "1 true" \
	"$(echo "$out" | jq -r '"\(.schema_version) \(.read_only)"')"
s standby.json init >err 2>&1
check_eq "init on a standby is refused: exit 1" 1 $?
check_contains "... saying what to do" "$(cat err)" "target_session_attrs=read-write"
check_not_contains "... without the password" "$(cat err)" "$PW"

pg_primary_stop
s fleet.json status >err 2>&1
check_eq "primary down, standby not promoted: no read-write server, exit 1" 1 $?
check_contains "... said in one line" "$(wc -l <err)" "1"
pg_promote || bad "the standby could not be promoted"
out=$(s fleet.json --json status 2>&1)
check_eq "after the promotion the same string finds the new primary" \
	"port $PG_STANDBY_PORT 1 false" \
	"$(echo "$out" | jq -r '"port \(.where | capture("port (?<p>[0-9]+)").p) \(.schema_version) \(.read_only)"')"
out=$(s fleet.json migrate 2>&1)
check_contains "... and it is writable: migrate finds it up to date" "$out" "up to date at version 1"

pg_stop
finish
