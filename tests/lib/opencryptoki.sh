# A private opencryptoki 3.8 (Debian's `opencryptoki`) for a test: pkcsslotd and its soft
# token in private namespaces. Sourced by the test before tests/lib/common.sh:
#
#   ock_enter_namespace "$@"  first thing: re-runs the test script ($0) in private mount,
#                             SysV IPC and PID namespaces (the daemon dies with the test
#                             whatever happens). Root only: any other user gets a failure
#                             (exit 1), never a skip.
#   ock_setup                 after common.sh: checks the tools, then the private world in
#                             $OCK ($TEST_TMP/ock): a configuration with the soft token alone
#                             (slot 0), an empty token store, /run (pid file, socket, lock
#                             directories), /dev/shm, a p11-kit registry $OCK/p11-kit holding
#                             nothing (put a module file there for p11-kit-proxy); the
#                             module's leaks suppressed; OCK_SO_PIN_FILE holds the factory SO
#                             PIN. Says why (bad) and returns non-zero if anything is missing.
#   ock_start                 pkcsslotd started, stopped when the test exits (a trap); waits
#                             up to a minute for its socket.
#   ock_stop                  pkcsslotd stopped (TERM, then KILL after 30 s).
#   ock_init_token LABEL      the blank soft token initialised as a card comes from its maker,
#                             with pkcs11-tool (no p11enroll): the factory SO PIN kept, the
#                             label, the user PIN $TEST_PIN.
#   ock_leak_checks_off       no more ASan leak checks from here on (see below).
#
# opencryptoki's paths cannot be redirected: pkcsslotd reads
# /etc/opencryptoki/opencryptoki.conf and writes /run/pkcsslotd.{pid,socket};
# the soft token keeps its objects in /var/lib/opencryptoki/swtok and its
# locks in /var/lock/opencryptoki (= /run/lock); the daemon and the library
# meet in SysV shared memory keyed by ftok(/usr/sbin/pkcsslotd), and the
# token's processes in POSIX shared memory (/dev/shm) named after its store
# path. So the whole test runs in private namespaces: mounts (each of those
# directories is one of $TEST_TMP), SysV IPC, and PIDs. The machine's token
# store, daemon and p11-kit registry are neither used nor changed.
#
# Root only: pkcsslotd refuses to run unless its effective uid is 0 and gives
# its directories and shared memory to the group pkcs11 (measured in a user
# namespace: "Failed to set group ownership for shm", then a segfault). CI
# runs as root.
OCK_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so

ock_enter_namespace() {
	[ -z "${OCK_NS:-}" ] || return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "FAIL: ${0##*/} must run as root: pkcsslotd needs euid 0 and the group pkcs11" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	exec unshare --mount --ipc --pid --fork --mount-proc --propagation private \
		env OCK_NS=1 bash "$0" "$@"
}

ock_setup() {
	local need m
	for need in /usr/sbin/pkcsslotd "$OCK_MODULE" pkcs11-tool p11tool; do
		if ! command -v "$need" >/dev/null && [ ! -e "$need" ]; then
			bad "needs $need (opencryptoki, opensc, gnutls-bin: scripts/deps.sh --test)"
			return 1
		fi
	done
	if ! getent group pkcs11 >/dev/null; then
		bad "the group pkcs11 is missing (made by the opencryptoki package's postinst)"
		return 1
	fi
	OCK=$TEST_TMP/ock
	mkdir -p "$OCK/etc" "$OCK/lib/swtok/TOK_OBJ" "$OCK/run/lock/opencryptoki/swtok"
	cat >"$OCK/etc/opencryptoki.conf" <<'EOF'
version opencryptoki-3.1
slot 0
{
stdll = libpkcs11_sw.so
description = "p11enroll test: soft token"
}
EOF
	chmod 0755 "$OCK/etc" && chmod 0644 "$OCK/etc/opencryptoki.conf"
	chgrp -R pkcs11 "$OCK/lib" "$OCK/run/lock/opencryptoki" &&
		chmod -R 0770 "$OCK/lib" "$OCK/run/lock/opencryptoki" && chmod 0755 "$OCK/run" "$OCK/run/lock"
	for m in "$OCK/etc:/etc/opencryptoki" "$OCK/lib:/var/lib/opencryptoki" "$OCK/run:/run"; do
		mount --bind "${m%%:*}" "${m#*:}" || { bad "cannot bind-mount a private ${m#*:}"; return 1; }
	done
	private_p11kit_registry "$OCK/p11-kit" || return 1
	mount -t tmpfs -o mode=1777 ock-shm /dev/shm || { bad "cannot mount a private /dev/shm"; return 1; }
	# opencryptoki keeps allocations until exit: theirs, not ours.
	lsan_suppress libopencryptoki libpkcs11_sw
	OCK_SO_PIN_FILE=$TEST_TMP/ock-so-pin
	printf '%s\n' 87654321 >"$OCK_SO_PIN_FILE" # opencryptoki's factory SO PIN
}

ock_stop() {
	local pid i
	pid=$(cat /run/pkcsslotd.pid 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	for i in $(seq 60); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.5
	done
	kill -KILL "$pid" 2>/dev/null
}

ock_start() {
	local i
	trap ock_stop EXIT
	/usr/sbin/pkcsslotd || { bad "pkcsslotd did not start"; return 1; }
	for i in $(seq 120); do
		[ -S /run/pkcsslotd.socket ] && return 0
		sleep 0.5
	done
	bad "pkcsslotd made no socket within a minute"
	return 1
}

ock_init_token() {
	local so
	so=$(cat "$OCK_SO_PIN_FILE")
	OCK_SO=$so pkcs11-tool --module "$OCK_MODULE" --init-token --label "$1" \
		--so-pin env:OCK_SO >/dev/null 2>&1 &&
		OCK_SO=$so pkcs11-tool --module "$OCK_MODULE" --token-label "$1" --login --login-type so \
			--so-pin env:OCK_SO --init-pin --new-pin env:TEST_PIN >/dev/null 2>&1 ||
		{ bad "pkcs11-tool could not initialise the soft token as '$1'"; return 1; }
}

# ASan's leak check costs much here: opencryptoki 3.8 leaks allocations for
# every object of the token (suppressed above), and slow unwinding (set by
# with-softhsm.sh, so that a leak's stack shows the module) slows every
# allocation of its OpenSSL keygen. Measured: rsa:2048 enrollments took 10 s
# on a fresh token and 38 s with 20 keys on it, against 0.5-1 s without the
# check. So the tests check leaks for their first commands, then no more (the
# SoftHSM tests check p11enroll's own leaks everywhere).
ock_leak_checks_off() {
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0:fast_unwind_on_malloc=1"
}
