#!/usr/bin/env bash
# Big rosters (issue 20, C): how long `p11enroll batch` takes to start its
# first row, and to go through every row, for rosters of 10,000 to 200,000
# rows, one of them repeating the first row's address at the end (the
# duplicate check must find it). Figures, never a pass/fail test.
#
#   bash bench/roster.sh                 10k, 40k and 200k rows
#   ROWS="1000 500000" bash bench/roster.sh
#
# What a row does is left out on purpose: the roster has no token column and
# no --token is given, so every row fails at once ("token: no token column")
# and prints its line on stderr. The time from the start of the process to
# the first such line is the time to the first row's start (reading, parsing
# and planning the roster: the duplicate check and the token table); the total
# is the whole batch's own cost per row without any token or CA work.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-"10000 40000 200000"}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc)" --target p11enroll >/dev/null
P=$PWD/build-bench/p11enroll
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
export P11ENROLL_STATE_DIR=$W/state P11ENROLL_CONFIG=$W/config.json
echo '{}' >"$P11ENROLL_CONFIG"
printf '%-8s %-10s %-14s %-12s %s\n' rows "file MB" "first row s" "all rows s" "duplicate found"
for n in $ROWS; do
	python3 - "$n" "$W/roster.csv" <<'EOF'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("email,name\n")
    for i in range(n - 1):
        f.write("user%d@example.com,User %d\n" % (i, i))
    f.write("USER0@example.com,User 0 again\n")
EOF
	python3 - "$P" "$W/roster.csv" "$n" <<'EOF'
import os, subprocess, sys, time
p, roster, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.monotonic()
proc = subprocess.Popen([p, "batch", roster], stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE)
first = proc.stderr.readline()
t_first = time.monotonic() - start
rest = proc.stderr.read()
proc.wait()
t_all = time.monotonic() - start
dup = b"is already on line 2" in rest
print("%-8d %-10.1f %-14.3f %-12.2f %s" % (n, os.path.getsize(roster) / 1e6, t_first, t_all,
                                           "yes" if dup else "NO"))
EOF
done
