#!/usr/bin/env bash
# One `p11enroll enroll` against the usual four-process chain (bench/run.sh
# (b)) and the floor (bench/floor.c), with what each costs in CPU and how
# often it blocks: figures for docs/performance.md, never a test.
#
#   bash bench/chain.sh          N=21 of each, taking turns
#
# Per enrollment, median of N: wall time; CPU time (perf stat task-clock, user
# and kernel) and context switches (each a wait: for the disk, a lock, or on
# a loaded machine for a CPU). The chain's four processes are also shown one
# by one. The file store, EC P-256, a SoftHSM token of its own for each.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-21}
command -v perf >/dev/null || { echo "bench/chain.sh: needs perf (apt-get install linux-perf)" >&2; exit 2; }
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j2 --target p11enroll bench_floor >/dev/null
P=$PWD/build-bench/p11enroll
FLOOR=$PWD/build-bench/bench_floor
MOD=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
umask 077
echo 1234 >"$W/pin"
printf 1234 >"$W/pin.nonl" # the pkcs11 engine reads pin-source files verbatim
export BENCH_PIN=1234
unset P11ENROLL_CONFIG P11ENROLL_STORE

fresh() { # DIR: a token "bench" and a CA of its own
	mkdir -p "$W/$1/tok"
	sed "s|@TOKENDIR@|$W/$1/tok|" softhsm-conf/softhsm2.conf.in >"$W/$1/softhsm2.conf"
	SOFTHSM2_CONF=$W/$1/softhsm2.conf softhsm2-util --init-token --free --label bench \
		--so-pin 12345678 --pin 1234 >/dev/null
	"$P" ca init --dir "$W/$1/ca" >/dev/null
}
# measure NAME CMD...: appends "wall_ms cpu_ms switches" to $W/NAME; the
# wall time is perf's duration_time, the command's own (not perf's start).
measure() {
	local name=$1
	shift
	perf stat -x, -o "$W/stat" -e task-clock,context-switches,duration_time "$@" >/dev/null 2>&1
	awk -F, '/task-clock/ { c = $1 } /context-switches/ { s = $1 } /duration_time/ { w = $1 }
		END { printf "%.1f %.1f %d\n", w / 1e6, c, s }' "$W/stat" >>"$W/$name"
}
med() { sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] }'; }
col() { awk -v c="$2" '{ print $c }' "$W/$1" | med; }

fresh a
fresh b
fresh c
echo "bench/chain.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
	"commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), N=$N"
for i in $(seq "$N"); do
	export SOFTHSM2_CONF=$W/a/softhsm2.conf P11ENROLL_STATE_DIR=$W/a/state
	measure enroll "$P" enroll pkcs11:token=bench --email "u$i@example.com" --key ec:P-256 \
		--ca "local:$W/a/ca" --module "$MOD" --pin-source "file:$W/pin"
	export SOFTHSM2_CONF=$W/b/softhsm2.conf
	id=$(printf '%04x' "$i")
	measure keygen pkcs11-tool --module "$MOD" --token-label bench --login --pin env:BENCH_PIN \
		--keypairgen --key-type EC:prime256v1 --id "$id" --label "u$i"
	measure req openssl req -new -engine pkcs11 -keyform engine \
		-key "pkcs11:token=bench;id=%${id:0:2}%${id:2:2};type=private?pin-source=file:$W/pin.nonl" \
		-subj "/CN=u$i@example.com" -addext "subjectAltName=email:u$i@example.com" -out "$W/r.csr"
	measure x509 openssl x509 -req -in "$W/r.csr" -CA "$W/b/ca/ca.pem" -CAkey "$W/b/ca/ca.key" \
		-days 365 -copy_extensions copy -outform DER -out "$W/c.der"
	measure write pkcs11-tool --module "$MOD" --token-label bench --login --pin env:BENCH_PIN \
		--write-object "$W/c.der" --type cert --id "$id" --label "u$i"
	# The chain's four, summed per enrollment.
	paste -d' ' <(tail -n1 "$W/keygen") <(tail -n1 "$W/req") <(tail -n1 "$W/x509") \
		<(tail -n1 "$W/write") |
		awk '{ printf "%.1f %.1f %d\n", $1 + $4 + $7 + $10, $2 + $5 + $8 + $11, $3 + $6 + $9 + $12 }' \
			>>"$W/chain"
	# One iteration of the floor, module load and C_Initialize included.
	export SOFTHSM2_CONF=$W/c/softhsm2.conf
	measure floor "$FLOOR" "$MOD" bench "$W/pin" 1
	measure start "$P" --help
done
printf '%-40s %10s %10s %10s\n' "median of $N" "wall ms" "CPU ms" "switches"
for m in enroll chain keygen req x509 write floor start; do
	printf '%-40s %10s %10s %10s\n' "$m" "$(col $m 1)" "$(col $m 2)" "$(col $m 3)"
done
awk -v a="$(col enroll 1)" -v b="$(col chain 1)" -v ac="$(col enroll 2)" -v bc="$(col chain 2)" \
	'BEGIN { printf "\n(b)/(a) wall %.2f, CPU %.2f (target: wall >= 5)\n", b / a, bc / ac }'
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
