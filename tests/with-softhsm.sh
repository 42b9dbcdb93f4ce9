#!/usr/bin/env bash
# Runs one test in a private SoftHSM2 world: its own token directory, one
# initialised token labelled "test", PINs in 0600 files (never on our
# command lines), and a fresh HOME/state dir. Cleans up afterwards.
#
# Exports for the test: SOFTHSM2_CONF, TEST_TMP, SOFTHSM_MODULE,
# TEST_PIN_FILE, TEST_SO_PIN_FILE, TEST_TOKEN_URI, P11ENROLL_STATE_DIR.
#
# With P11E_TEST_STORE=postgresql (ctest's pgstore.* tests) the test runs
# against a private PostgreSQL 15 (tests/lib/postgres.sh) instead of files:
# P11ENROLL_STORE=postgresql with libpq's PG* environment (TLS verified
# against the server's test CA, the password in a 0600 passfile), the store
# created with `p11enroll store init` before the test starts.
#
# The p11-kit registry a test sees is its own: the machine's module files less
# tpm2-pkcs11's (P11KIT_TEST_MODULES, a directory of TEST_TMP). Debian's
# libtpm2-pkcs11-1 registers that module, and without a TPM every load of
# p11-kit-proxy then prints "Could not initialize tpm ctx" on stderr, which no
# option of the module silences (measured). As root (CI) the test runs in a
# private mount namespace with that directory bound over
# /usr/share/p11-kit/modules; otherwise a user config (~/.config/pkcs11,
# which p11-kit reads only when not root) keeps the module out of the proxy.
# tests/integration/tpm2.sh puts the module back in for itself.
set -euo pipefail
if [ -z "${P11E_TEST_MNTNS:-}" ] && [ "$(id -u)" -eq 0 ] && unshare --mount true 2>/dev/null; then
	exec unshare --mount --propagation private env P11E_TEST_MNTNS=1 bash "$0" "$@"
fi
here=$(cd "$(dirname "$0")" && pwd)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/p11e-test.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT
mkdir -p "$TEST_TMP/tokens" "$TEST_TMP/home"
sed "s|@TOKENDIR@|$TEST_TMP/tokens|" "$here/../softhsm-conf/softhsm2.conf.in" >"$TEST_TMP/softhsm2.conf"
export SOFTHSM2_CONF="$TEST_TMP/softhsm2.conf" TEST_TMP
export P11KIT_TEST_MODULES=$TEST_TMP/p11kit-registry
mkdir -p "$P11KIT_TEST_MODULES"
for f in /usr/share/p11-kit/modules/*.module; do
	[ -e "$f" ] && [ "${f##*/}" != tpm2_pkcs11.module ] && cp "$f" "$P11KIT_TEST_MODULES/"
done
if [ -n "${P11E_TEST_MNTNS:-}" ]; then
	mount --bind "$P11KIT_TEST_MODULES" /usr/share/p11-kit/modules
	# /etc/pkcs11/modules is read too: empty for the tests.
	[ -d /etc/pkcs11/modules ] && mkdir -p "$TEST_TMP/etc-pkcs11-modules" &&
		mount --bind "$TEST_TMP/etc-pkcs11-modules" /etc/pkcs11/modules
else
	mkdir -p "$TEST_TMP/home/.config/pkcs11/modules"
	printf 'disable-in: p11-kit-proxy p11enroll\n' \
		>"$TEST_TMP/home/.config/pkcs11/modules/tpm2_pkcs11.module"
fi
export SOFTHSM_MODULE=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
export HOME="$TEST_TMP/home" P11ENROLL_STATE_DIR="$TEST_TMP/state"
unset P11ENROLL_CONFIG
umask 077
printf '%s\n' 123456 >"$TEST_TMP/pin"
printf '%s\n' 12345678 >"$TEST_TMP/so-pin"
export TEST_PIN_FILE="$TEST_TMP/pin" TEST_SO_PIN_FILE="$TEST_TMP/so-pin"
# Fixture only: softhsm2-util takes PINs as arguments; p11enroll never does.
softhsm2-util --init-token --free --label test --so-pin 12345678 --pin 123456 >/dev/null
export TEST_TOKEN_URI="pkcs11:token=test"
# tpm2-pkcs11 (libtpm2-pkcs11-1 registers it with p11-kit) looks for a TPM at
# every p11-kit-proxy load: /dev/tpmrm0, a tabrmd on the session bus, a
# simulator on 127.0.0.1:2321, each failure printed. Point it at no TPM, with
# the TSS quiet; tests/integration/tpm2.sh sets its own TPM.
export TPM2_PKCS11_TCTI=device:/nonexistent/tpm TSS2_LOG=all+none
unset DBUS_SESSION_BUS_ADDRESS TPM2TOOLS_TCTI TPM2_PKCS11_STORE
# Slow unwinding, so a leak inside a module is seen as the module's and suppressed.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if [ "${P11E_TEST_STORE:-file}" = postgresql ]; then
	. "$here/lib/ports.sh"
	. "$here/lib/postgres.sh"
	pg_start || { echo "PostgreSQL did not start: $(tail -n 5 "$PG_LOG" 2>/dev/null)" >&2; exit 1; }
	trap 'pg_stop; rm -rf "$TEST_TMP"' EXIT
	printf '*:%s:fleet:p11e:%s\n' "$PG_PORT" "$(cat "$PG_DIR/p11e.pw")" >"$TEST_TMP/pgpass"
	export P11ENROLL_STORE=postgresql PGHOST=localhost PGPORT=$PG_PORT PGDATABASE=fleet \
		PGUSER=p11e PGPASSFILE=$TEST_TMP/pgpass PGSSLMODE=verify-full PGSSLROOTCERT=$PG_TLS_CA
	"$P11ENROLL" store init >/dev/null
fi
"$@"
