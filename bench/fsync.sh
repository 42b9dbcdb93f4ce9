#!/usr/bin/env bash
# Benchmark for issue 21 item 6: what one enrollment asks of the disk. A
# figure, never a pass/fail test. One EC P-256 `p11enroll enroll` on a fresh
# SoftHSM token (file object store) with the embedded CA and the file store,
# under strace:
#   1. strace -f -c: the count of every call that can wait for the disk
#      (fsync, fdatasync, syncfs, sync, msync, sync_file_range: each one a
#      wait whatever its flags; msync(MS_SYNC) and sync_file_range with
#      SYNC_FILE_RANGE_WAIT_AFTER are the ones that do) and openat, rename,
#      link; "waits" is their sum, nothing left out
#   2. strace -f -y: which file each of those calls was for, split
#      into p11enroll's own (STATE_DIR, the CA's directory) and SoftHSM's
#      (its token directory: not ours to remove)
#   3. the median wall time of N enrollments without strace
#
#   bash bench/fsync.sh            N=20
#   N=50 BUILD=build-rel bash bench/fsync.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20}
BUILD=${BUILD:-build-bench}
command -v strace >/dev/null || { echo "bench/fsync.sh: needs strace (apt-get install strace)" >&2; exit 2; }
if [ ! -x "$BUILD/p11enroll" ]; then
	cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$BUILD" -j2 --target p11enroll >/dev/null
fi
P=$PWD/$BUILD/p11enroll
MOD=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
umask 077
export SOFTHSM2_CONF=$W/softhsm2.conf P11ENROLL_STATE_DIR=$W/state
sed "s|@TOKENDIR@|$W/tok|" softhsm-conf/softhsm2.conf.in >"$SOFTHSM2_CONF"
echo 1234 >"$W/pin"

fresh() {
	rm -rf "$W/tok" "$W/state" "$W/ca"
	mkdir -p "$W/tok"
	softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin 1234 >/dev/null
	"$P" ca init --dir "$W/ca" >/dev/null
}
enroll() { # email
	"$P" enroll pkcs11:token=bench --email "$1" --key ec:P-256 --ca "local:$W/ca" \
		--module "$MOD" --pin-source "file:$W/pin" >/dev/null
}

echo "machine: $(nproc) cores, $(uname -r), $(findmnt -no FSTYPE -T "$W" 2>/dev/null || echo '?') under $W"
echo "SoftHSM $(softhsm2-util --version), one EC P-256 enrollment, file store, embedded CA"
echo

# A first enrollment warms the token and the CA (its first serial, its index),
# as at any station that has enrolled before; the second is the one measured.
fresh
enroll warm@example.com

echo "## strace -f -c (calls per enrollment)"
SYNCS=fsync,fdatasync,syncfs,sync,msync,sync_file_range
strace -f -c -o "$W/count" -e trace=$SYNCS,openat,rename,link \
	"$P" enroll pkcs11:token=bench --email one@example.com --key ec:P-256 \
	--ca "local:$W/ca" --module "$MOD" --pin-source "file:$W/pin" >/dev/null
# columns: % time, seconds, usecs/call, calls, [errors,] syscall
awk '/^ *[0-9]/ && $NF ~ /^(fsync|fdatasync|syncfs|sync|msync|sync_file_range|openat|rename|link)$/ { print "  " $NF ": " $4 }' \
	"$W/count" | sort
awk '/^ *[0-9]/ && $NF ~ /^(fsync|fdatasync|syncfs|sync|msync|sync_file_range)$/ { n += $4 }
	END { print "  waits (all of the sync calls above): " n + 0 }' "$W/count"

echo
echo "## each call that may wait for the disk, by file (strace -f -y)"
strace -f -y -o "$W/sync" -e trace=$SYNCS \
	"$P" enroll pkcs11:token=bench --email two@example.com --key ec:P-256 \
	--ca "local:$W/ca" --module "$MOD" --pin-source "file:$W/pin" >/dev/null
# fsync(3</path/to/file>) = 0 -> the path, with $W shown as W
sed -n 's/.*\(fsync\|fdatasync\|syncfs\|msync\|sync_file_range\)([0-9]*<\([^>]*\)>.*/\1 \2/p;
	s/.* \(sync\)().*/\1 (everything)/p' "$W/sync" | sed "s|$W|W|" >"$W/files"
ours=$(grep -vc ' W/tok' "$W/files" || true)
theirs=$(grep -c ' W/tok' "$W/files" || true)
sed 's|\.tmp\.[A-Za-z0-9]\{6\}$|.tmp.XXXXXX|' "$W/files" | sort | uniq -c | sort -rn | sed 's/^/  /'
echo "  p11enroll's own (STATE_DIR, the CA): $ours; SoftHSM's (its token directory): $theirs"

echo
echo "## wall time, median of $N enrollments (ms, no strace)"
fresh
enroll warm@example.com
for i in $(seq "$N"); do
	t0=$(date +%s%N)
	enroll "u$i@example.com"
	t1=$(date +%s%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f\n", (b-a)/1e6}'
done | sort -n | awk '{a[NR]=$1} END {printf "  median %.1f ms, min %.1f, max %.1f\n", a[int((NR+1)/2)], a[1], a[NR]}'
