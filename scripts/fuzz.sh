#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer, and runs each for a bounded time on a copy of its
# committed seed corpus (tests/fuzz/corpus/<parser>/). A crash stops the run with the
# crashing input saved as build-fuzz/crash-<parser>-*: add it to the corpus with the fix.
# Usage: scripts/fuzz.sh [SECONDS_EACH] [PARSER...]   (default 30 s, every harness)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DP11ENROLL_FUZZ=ON \
	-DP11ENROLL_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
parsers=("$@")
if [ ${#parsers[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		p=${f##*/fuzz_}
		parsers+=("${p%.c}")
	done
fi
failed=0
for p in "${parsers[@]}"; do
	work=$(mktemp -d)
	# libFuzzer adds what it finds to the first directory: a scratch copy, so the
	# committed corpus changes only by hand.
	cp -r "tests/fuzz/corpus/$p/." "$work/"
	if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		"$build/tests/fuzz/fuzz_$p" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$build/crash-$p-" -print_final_stats=0 "$work" \
		>"$build/fuzz-$p.log" 2>&1; then
		echo "fuzz $p: ${secs}s, $(ls "$work" | wc -l) inputs, no crash"
	else
		echo "fuzz $p: FAILED, see $build/fuzz-$p.log"
		tail -n 40 "$build/fuzz-$p.log"
		failed=1
	fi
	rm -rf "$work"
done
exit $failed
