#!/usr/bin/env bash
# Benchmark (issue 21 item 5): the audit append in the PostgreSQL store as
# the chain grows, and what a full walk per append would cost instead (the
# time of `audit verify`, which reads every row). A figure, never a test.
# Run as root from a build with tests (it needs tests/tools' audit_append):
#
#   bash bench/audit_pg.sh [BUILD_DIR]      sizes ROWS="1000 10000 100000", A=200
#
# It starts a private PostgreSQL 15 through tests/lib/postgres.sh, fills the
# chain in SQL (a PL/pgSQL loop hashing each line into the next), then times
# A appends in one process (the append alone, no process start) and one
# verify and one head per size.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-test}
ROWS=${ROWS:-"1000 10000 100000"}
A=${A:-200}
TESTS_DIR=$PWD/tests
bad() { echo "bench: $*" >&2; }
. tests/lib/ports.sh
. tests/lib/postgres.sh
W=$(mktemp -d)
pg_start || { bad "postgres did not start"; exit 1; }
(umask 077 && printf 'host=127.0.0.1 port=%s dbname=fleet user=p11e password=%s sslmode=disable\n' \
	"$PG_PORT" "$(cat "$PG_DIR/p11e.pw")" >"$W/conninfo")
printf '{ "state_dir": "%s", "store": { "type": "postgresql", "conninfo_source": "file:%s" } }\n' \
	"$W/state" "$W/conninfo" >"$W/fleet.json"
"$BUILD/p11enroll" --config "$W/fleet.json" store init >/dev/null
now() { date +%s.%N; }
for n in $ROWS; do
	pg_psql "TRUNCATE p11enroll.audit; DELETE FROM p11enroll.audit_head;
DO \$\$ DECLARE prev text := repeat('0', 64); l text; BEGIN
  FOR i IN 1..$n LOOP
    l := '{\"seq\":' || i || ',\"prev\":\"' || prev || '\",\"time\":\"2026-01-01T00:00:00Z\",\"user\":\"bench\",\"uid\":0,\"host\":\"bench\",\"pid\":1,\"action\":\"export\",\"identity\":\"user' || i || '@example.com\",\"outcome\":\"ok\"}';
    prev := encode(sha256(convert_to(l, 'UTF8')), 'hex');
    INSERT INTO p11enroll.audit (seq, line, sha256) VALUES (i, l, prev);
  END LOOP;
  INSERT INTO p11enroll.audit_head (seq, sha256) VALUES ($n, prev);
END \$\$;" >/dev/null
	pg_psql "VACUUM ANALYZE p11enroll.audit" >/dev/null
	t0=$(now)
	"$BUILD/tests/audit_append" "$W/fleet.json" "$A" bench
	t1=$(now)
	"$BUILD/p11enroll" --config "$W/fleet.json" audit verify >/dev/null
	t2=$(now)
	"$BUILD/p11enroll" --config "$W/fleet.json" audit head >/dev/null
	t3=$(now)
	printf 'rows %7d: append %.2f ms each, verify %.0f ms, head %.0f ms\n' \
		"$n" "$(echo "($t1 - $t0) * 1000 / $A" | bc -l)" "$(echo "($t2 - $t1) * 1000" | bc -l)" \
		"$(echo "($t3 - $t2) * 1000" | bc -l)"
done
pg_stop
rm -rf "$W"
