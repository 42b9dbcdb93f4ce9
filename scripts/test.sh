#!/usr/bin/env bash
# Installs the dependencies, builds p11enroll with AddressSanitizer,
# UndefinedBehaviorSanitizer and the failure-injection hooks, and runs every
# test (ctest) against private SoftHSM2 tokens, then fuzzes each parser for 30 s
# (clang, libFuzzer; scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --test
build=${BUILD_DIR:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DP11ENROLL_SANITIZE=ON \
	-DP11ENROLL_TEST_HOOKS=ON -DP11ENROLL_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
# Optimised builds see warnings the debug build does not (-Wmaybe-uninitialized).
cmake -S . -B "$build-release" -DCMAKE_BUILD_TYPE=Release -DP11ENROLL_WERROR=ON \
	-DBUILD_TESTING=OFF >/dev/null
cmake --build "$build-release" -j"$(nproc)"
(cd "$build" && ctest --output-on-failure -j"$(nproc)" "$@")
bash scripts/fuzz.sh 30
