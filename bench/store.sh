#!/usr/bin/env bash
# Benchmarks for issue 21: the file store against the PostgreSQL store on the
# same machine. Figures, never a pass/fail test (docs/performance.md).
#
#   bash bench/store.sh                  N=30 single enrollments, BATCH=1000
#   N=15 BATCH=200 bash bench/store.sh
#
# Needs root (PostgreSQL runs as user postgres, started here as
# tests/lib/postgres.sh starts it, with fsync on: the file store syncs too).
# (a) one EC P-256 `enroll` per process, median of N, the stores taking turns
#     (file, PostgreSQL over the Unix socket, over TCP, over TCP with TLS
#     verify-full), each with a token directory of its own
# (b) a BATCH-identity `batch` on each store
# (c) two stations (two processes, two tokens, one database) each doing
#     BATCH/2 identities at once, against one station doing BATCH/2
# The embedded CA is in files in every case (local:DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}
BATCH=${BATCH:-1000}
[ "$(id -u)" -eq 0 ] || { echo "bench/store.sh: run as root (PostgreSQL runs as user postgres)" >&2; exit 2; }
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j2 --target p11enroll >/dev/null
P=$PWD/build-bench/p11enroll
MOD=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
. tests/lib/ports.sh
. tests/lib/postgres.sh
W=$(mktemp -d)
trap 'pg_stop; rm -rf "$W"' EXIT
umask 077
echo 1234 >"$W/pin"
unset P11ENROLL_CONFIG P11ENROLL_STORE

pg_start || { echo "PostgreSQL did not start" >&2; exit 1; }
trap 'pg_stop; rm -rf "$W"' EXIT
# tests/lib/postgres.sh turns fsync off for tests; a benchmark against the
# file store (which syncs) wants it on, as a real server has it.
pg_psql "ALTER SYSTEM SET fsync = on" && pg_psql "SELECT pg_reload_conf()" >/dev/null
PW=$(cat "$PG_DIR/p11e.pw")
store_conf() { # NAME CONNINFO [EXTRA JSON]
	(umask 077 && printf '%s\n' "$2" >"$W/$1.conninfo")
	printf '{ "state_dir": "%s/state-%s", "store": { "type": "postgresql", "conninfo_source": "file:%s/%s.conninfo"%s } }\n' \
		"$W" "$1" "$W" "$1" "${3:-}" >"$W/$1.json"
}
store_conf sock "host=$PG_SOCK port=$PG_PORT dbname=fleet user=p11e"
store_conf tcp "host=127.0.0.1 port=$PG_PORT dbname=fleet user=p11e password=$PW sslmode=disable"
store_conf tls "host=localhost port=$PG_PORT dbname=fleet user=p11e password=$PW" ", \"ca_bundle\": \"$PG_TLS_CA\""
echo '{ "state_dir": "'"$W"'/state-file" }' >"$W/file.json"
"$P" --config "$W/sock.json" store init >/dev/null

# A store's token directory, token "bench", and CA; pg stores share the schema,
# so each run's identities carry the store's name.
fresh() { # STORE
	local d=$W/$1
	rm -rf "$d"
	mkdir -p "$d/tok"
	sed "s|@TOKENDIR@|$d/tok|" softhsm-conf/softhsm2.conf.in >"$d/softhsm2.conf"
	SOFTHSM2_CONF=$d/softhsm2.conf softhsm2-util --init-token --free --label bench --so-pin 12345678 \
		--pin 1234 >/dev/null
	"$P" ca init --dir "$d/ca" >/dev/null
}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]}'; }
enroll_one() { # STORE EMAIL
	SOFTHSM2_CONF=$W/$1/softhsm2.conf "$P" --config "$W/$1.json" enroll pkcs11:token=bench \
		--email "$2" --key ec:P-256 --ca "local:$W/$1/ca" --module "$MOD" \
		--pin-source "file:$W/pin" >/dev/null
}
batch() { # STORE ROSTER [TOKENDIR]
	SOFTHSM2_CONF=$W/${3:-$1}/softhsm2.conf "$P" --config "$W/$1.json" batch "$2" \
		--token pkcs11:token=bench --key ec:P-256 --ca "local:$W/${3:-$1}/ca" --module "$MOD" \
		--pin-source "file:$W/pin" >/dev/null
}
roster() { # FILE PREFIX COUNT
	{
		echo email
		for i in $(seq "$3"); do echo "$2$i@example.com"; done
	} >"$1"
}

STORES="file sock tcp tls"
echo "bench/store.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
	"commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "(a) one EC P-256 enroll, median of $N (ms), the stores taking turns"
for s in $STORES; do fresh "$s"; : >"$W/$s.ms"; done
for s in $STORES; do enroll_one "$s" "warm-$s@example.com"; done
for i in $(seq "$N"); do
	for s in $STORES; do
		t0=$(now)
		enroll_one "$s" "one$i-$s@example.com"
		echo $((($(now) - t0) / 1000)) | awk '{ printf "%.2f\n", $1 / 1000 }' >>"$W/$s.ms"
	done
done
file_ms=$(median <"$W/file.ms")
for s in $STORES; do
	m=$(median <"$W/$s.ms")
	printf '  %-5s %7s ms  %.2fx the file store\n' "$s" "$m" "$(awk -v a="$m" -v b="$file_ms" 'BEGIN { print a / b }')"
done
echo "  load after (a): $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$BATCH" -gt 0 ]; then
	echo
	echo "(b) a $BATCH-identity batch (s)"
	for s in file sock tcp; do
		fresh "$s"
		roster "$W/r-$s.csv" "b-$s-" "$BATCH"
		t0=$(now)
		batch "$s" "$W/r-$s.csv"
		printf '  %-5s %6.1f s  %5.1f identities/s\n' "$s" "$(awk -v t=$(($(now) - t0)) 'BEGIN { print t / 1e9 }')" \
			"$(awk -v t=$(($(now) - t0)) -v n="$BATCH" 'BEGIN { print n / (t / 1e9) }')"
	done
	echo
	echo "(c) two stations (two processes, two tokens, one database, TCP), $((BATCH / 2)) identities each,"
	echo "    against one station doing $((BATCH / 2)) alone (the same token size: SoftHSM slows as a token fills)"
	fresh st0
	roster "$W/r-st0.csv" "one-" $((BATCH / 2))
	t0=$(now)
	batch tcp "$W/r-st0.csv" st0
	t=$(($(now) - t0))
	printf '  one   %6.1f s  %5.1f identities/s\n' "$(awk -v t=$t 'BEGIN { print t / 1e9 }')" \
		"$(awk -v t=$t -v n=$((BATCH / 2)) 'BEGIN { print n / (t / 1e9) }')"
	fresh st1
	fresh st2
	roster "$W/r-st1.csv" "two-a-" $((BATCH / 2))
	roster "$W/r-st2.csv" "two-b-" $((BATCH / 2))
	t0=$(now)
	batch tcp "$W/r-st1.csv" st1 &
	p1=$!
	batch tcp "$W/r-st2.csv" st2 &
	p2=$!
	wait "$p1" "$p2"
	t=$(($(now) - t0))
	printf '  two   %6.1f s  %5.1f identities/s (together)\n' "$(awk -v t=$t 'BEGIN { print t / 1e9 }')" \
		"$(awk -v t=$t -v n="$BATCH" 'BEGIN { print n / (t / 1e9) }')"
	echo "  identities in the database: $(pg_psql "SELECT count(*) FROM p11enroll.identities WHERE record->>'step' = 'done'")"
fi
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
