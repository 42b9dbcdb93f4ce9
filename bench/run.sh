#!/usr/bin/env bash
# Benchmarks for issue 5: figures, never a pass/fail test. One run, fresh
# SoftHSM tokens for every measurement, the directly loaded SoftHSM module
# everywhere p11enroll and pkcs11-tool choose it (openssl's pkcs11 engine uses
# its default, p11-kit-proxy).
#
#   bash bench/run.sh            N=50 single enrollments, a 1,000-identity batch
#   N=200 BATCH=0 bash bench/run.sh
#
# (a) p11enroll, one process per identity, and as one batch
# (b) the usual chain: pkcs11-tool --keypairgen, openssl req -engine pkcs11,
#     openssl x509 -req, pkcs11-tool --write-object (four processes)
# (c) the floor: login, keygen, sign, create object in a minimal C loop (bench/floor.c)
#
# The portal, `serve` (issue 13), has its own: bash bench/portal.sh (many
# HTTPS clients on loopback: req/s and p99 of a download and a reveal).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
N_RSA=${N_RSA:-10}
BATCH=${BATCH:-1000}
bash scripts/deps.sh
command -v /usr/bin/time >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq time >/dev/null; }
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc)" --target p11enroll bench_floor >/dev/null
P=$PWD/build-bench/p11enroll
FLOOR=$PWD/build-bench/bench_floor
MOD=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
umask 077
export SOFTHSM2_CONF=$W/softhsm2.conf P11ENROLL_STATE_DIR=$W/state
sed "s|@TOKENDIR@|$W/tok|" softhsm-conf/softhsm2.conf.in >"$SOFTHSM2_CONF"
echo 1234 >"$W/pin"
printf 1234 >"$W/pin.nonl"   # the pkcs11 engine reads pin-source files verbatim
export BENCH_PIN=1234        # pkcs11-tool --pin env:BENCH_PIN

# The software path escrows each PFX password in a file vault for one officer.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/officer.key" -out "$W/officer.pem" \
	-subj "/CN=bench officer" -days 2 -addext keyUsage=critical,keyEncipherment 2>/dev/null
printf '{"vault": {"type": "file", "dir": "%s", "officer_certs_file": "%s"}}\n' \
	"$W/escrow" "$W/officer.pem" >"$W/soft.json"

fresh() { # a new token directory, one token "bench", a new state dir and CA
	rm -rf "$W/tok" "$W/state" "$W/ca" "$W/escrow"
	mkdir -p "$W/tok"
	softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin 1234 >/dev/null
	"$P" ca init --dir "$W/ca" >/dev/null
}
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]}'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b-a)/1e6}'; }

single() { # key type, count -> per-enrollment ms, one line each
	for i in $(seq "$2"); do
		t0=$(now)
		"$P" enroll pkcs11:token=bench --email "u$i@example.com" --key "$1" --ca "local:$W/ca" \
			--module "$MOD" --pin-source "file:$W/pin" >/dev/null
		ms "$t0" "$(now)"
	done
}

usual() { # count -> per-enrollment ms for the four-process chain (EC P-256)
	for i in $(seq "$1"); do
		id=$(printf '%04x' "$i")
		t0=$(now)
		pkcs11-tool --module "$MOD" --token-label bench --login --pin env:BENCH_PIN \
			--keypairgen --key-type EC:prime256v1 --id "$id" --label "u$i" >/dev/null 2>&1
		openssl req -new -engine pkcs11 -keyform engine \
			-key "pkcs11:token=bench;id=%${id:0:2}%${id:2:2};type=private?pin-source=file:$W/pin.nonl" \
			-subj "/CN=u$i@example.com" -addext "subjectAltName=email:u$i@example.com" \
			-out "$W/r.csr" >/dev/null 2>&1
		openssl x509 -req -in "$W/r.csr" -CA "$W/ca/ca.pem" -CAkey "$W/ca/ca.key" -days 365 \
			-copy_extensions copy -outform DER -out "$W/c.der" >/dev/null 2>&1
		pkcs11-tool --module "$MOD" --token-label bench --login --pin env:BENCH_PIN \
			--write-object "$W/c.der" --type cert --id "$id" --label "u$i" >/dev/null 2>&1
		ms "$t0" "$(now)"
	done
}

software() { # count -> per-enrollment ms: enroll --software (key in memory, PFX, escrow)
	for i in $(seq "$1"); do
		t0=$(now)
		P11ENROLL_CONFIG=$W/soft.json "$P" enroll --software --email "s$i@example.com" \
			--ca "local:$W/ca" >/dev/null
		ms "$t0" "$(now)"
	done
}

roster() { # from, to -> CSV
	echo email
	for i in $(seq "$1" "$2"); do echo "b$i@example.com"; done
}

batch_ms() { # roster file, rows, jobs[, key] -> per-enrollment ms (wall clock / rows)
	t0=$(now)
	"$P" batch "$1" --jobs "$3" --key "${4:-ec:P-256}" --token pkcs11:token=bench \
		--ca "local:$W/ca" --module "$MOD" --pin-source "file:$W/pin" >/dev/null
	awk -v a="$t0" -v b="$(now)" -v n="$2" 'BEGIN {printf "%.1f", (b-a)/1e6/n}'
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "SoftHSM $(softhsm2-util --version), OpenSSL $(openssl version | cut -d' ' -f2), N=$N"
echo

fresh
a1=$(single ec:P-256 "$N" | median)
fresh
roster 1 "$N" >"$W/r.csv"
a2=$(batch_ms "$W/r.csv" "$N" 1)
fresh
a2j=$(batch_ms "$W/r.csv" "$N" "$(nproc)")
fresh
b=$(usual "$N" | median)
fresh
c=$("$FLOOR" "$MOD" bench "$W/pin" "$N" | awk '/^floor/ {print $5}')
fresh
a_rsa=$(single rsa:3072 "$N_RSA" | median)
fresh
roster 1 "$N_RSA" >"$W/rr.csv"
a2_rsa=$(batch_ms "$W/rr.csv" "$N_RSA" 1 rsa:3072)
fresh
a2j_rsa=$(batch_ms "$W/rr.csv" "$N_RSA" "$(nproc)" rsa:3072)
fresh
c_rsa=$("$FLOOR" "$MOD" bench "$W/pin" "$N_RSA" rsa3072 | awk '/^floor/ {print $5}')
fresh
s1=$(software "$N" | median)
fresh
roster 1 "$N" >"$W/s.csv"
t0=$(now)
P11ENROLL_CONFIG=$W/soft.json "$P" batch "$W/s.csv" --software --jobs "$(nproc)" \
	--ca "local:$W/ca" >/dev/null
s2=$(awk -v a="$t0" -v b="$(now)" -v n="$N" 'BEGIN {printf "%.1f", (b-a)/1e6/n}')

echo "| measurement (median ms per enrollment) | EC P-256 | RSA-3072 |"
echo "| --- | --- | --- |"
echo "| (a) p11enroll enroll, one process each | $a1 | $a_rsa (n=$N_RSA) |"
echo "| (a) p11enroll batch, one worker (mean) | $a2 | $a2_rsa |"
echo "| (a) p11enroll batch --jobs $(nproc) (wall clock / rows) | $a2j | $a2j_rsa |"
echo "| (b) pkcs11-tool + openssl req -engine + openssl x509 + pkcs11-tool | $b | |"
echo "| (c) floor: login, keygen, sign, create object | $c | $c_rsa (n=$N_RSA) |"
echo "| software key + PFX + escrow: enroll --software, one process each | $s1 | |"
echo "| software: batch --software --jobs $(nproc) (wall clock / rows) | $s2 | |"
awk -v a="$a1" -v b="$b" -v c="$c" 'BEGIN {printf "\n(b)/(a) = %.1f (target >= 5)   (a)/(c) = %.1f (target <= 1.3)   batch (a)/(c) = ", b/a, a/c}'
awk -v a="$a2" -v c="$c" 'BEGIN {printf "%.1f\n", a/c}'

if [ "$BATCH" -gt 0 ]; then
	# One $BATCH-identity batch on one token, one process; --json gives
	# each row's finishing time, so the first and the last hundred can be
	# compared. Peak resident memory is the process's.
	for jobs in 1 "$(nproc)"; do
		fresh
		roster 1 "$BATCH" >"$W/big.csv"
		/usr/bin/time -f "%M %e" -o "$W/time" "$P" batch "$W/big.csv" --jobs "$jobs" --json \
			--token pkcs11:token=bench --ca "local:$W/ca" --module "$MOD" \
			--pin-source "file:$W/pin" >"$W/big.json"
		read -r rss secs <"$W/time"
		jq -r '.rows[].finished_ms' "$W/big.json" | sort -n >"$W/t"
		first=$(awk 'NR==100 {printf "%.1f", $1/100}' "$W/t")
		last=$(awk -v n="$BATCH" 'NR==n-100 {a=$1} NR==n {printf "%.1f", ($1-a)/100}' "$W/t")
		echo "batch of $BATCH, --jobs $jobs: ${secs}s, $(jq .enrolled "$W/big.json") enrolled," \
			"peak RSS $((rss / 1024)) MB (target < 32 MB)"
		echo "  per enrollment, first hundred: $first ms, last hundred: $last ms"
	done
	# The module's own growth and memory: the floor loop over as many identities.
	fresh
	/usr/bin/time -f "%M" -o "$W/time" "$FLOOR" "$MOD" bench "$W/pin" "$BATCH" >"$W/floor.txt"
	echo "floor over $BATCH: $(grep 'first hundred' "$W/floor.txt" | sed 's/^floor //'), peak RSS" \
		"$(($(cat "$W/time") / 1024)) MB"
fi
