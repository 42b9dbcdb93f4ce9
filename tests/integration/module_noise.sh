# Another module in the p11-kit registry that fails noisily does not drown
# p11enroll's output (issue 20, item 7). tpm2-pkcs11 as Debian's
# libtpm2-pkcs11-1 registers it, on a machine with no TPM: no /dev/tpmrm0, no
# tabrmd on a session bus, no simulator; the environment a user has (neither
# TSS2_LOG nor TPM2_PKCS11_TCTI set, which tests/with-softhsm.sh sets for the
# other tests). Through p11-kit-proxy (the default module) enroll, list and
# tokens print none of its TCTI or D-Bus messages on stderr; `tokens` marks the
# module that failed to initialise in one line; a URI that names its module
# (module-name) loads that module only.
TPM_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
PROXY=/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so
. "$TESTS_DIR/lib/common.sh"
[ -e "$TPM_MODULE" ] || { bad "needs $TPM_MODULE (libtpm2-pkcs11-1, scripts/deps.sh --test)"; finish; }
command -v pkcs11-tool >/dev/null || { bad "needs pkcs11-tool (opensc)"; finish; }

# The module back in this test's registry, as the package registers it
# (tests/with-softhsm.sh keeps it out of the other tests' registries).
cp /dev/null "$HOME/.config/pkcs11/modules/tpm2_pkcs11.module" 2>/dev/null
printf 'module: libtpm2_pkcs11.so\ncritical: no\n' >"$P11KIT_TEST_MODULES/tpm2_pkcs11.module"
unset TSS2_LOG TPM2_PKCS11_TCTI TPM2TOOLS_TCTI DBUS_SESSION_BUS_ADDRESS
lsan_suppress libtpm2_pkcs11 libtss2 libglib libgio libgobject libdbus libsqlite3 libyaml libffi

# What the module's noisy lines look like; none may reach p11enroll's stderr,
# which has at most one line (p11enroll's own error, where it fails).
no_noise() { # no_noise "what" stderr-text
	check_not_contains "$1: no TCTI messages" "$2" "tcti"
	check_not_contains "$1: no D-Bus CRITICAL" "$2" "CRITICAL"
	check_not_contains "$1: no store WARNING" "$2" "WARNING:"
	[ "$(printf '%s' "$2" | grep -c .)" -le 1 ] && ok || bad "$1: more than one line on stderr: $2"
}

# Control: the module is in the registry and noisy there, as a user sees it
# with any other p11-kit-proxy user.
err=$(pkcs11-tool --module "$PROXY" --list-token-slots 2>&1 >/dev/null)
check_contains "control: pkcs11-tool on p11-kit-proxy shows the TCTI noise" "$err" "tcti"

setup_ca
out=$(p11e enroll "$TEST_TOKEN_URI" --key ec:P-256 --email noise@example.com --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>"$TEST_TMP/enroll.err")
check_eq "enroll through p11-kit-proxy ($(cat "$TEST_TMP/enroll.err"))" 0 $?
check_eq "enroll: nothing on stderr" "" "$(cat "$TEST_TMP/enroll.err")"

out=$(p11e list "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" 2>"$TEST_TMP/list.err")
check_eq "list through p11-kit-proxy ($(cat "$TEST_TMP/list.err"))" 0 $?
check_eq "list: nothing on stderr" "" "$(cat "$TEST_TMP/list.err")"
check_contains "list: the enrolled identity" "$out" "noise@example.com"
no_noise "list" "$(cat "$TEST_TMP/list.err")"

out=$(p11e tokens 2>"$TEST_TMP/tokens.err")
check_eq "tokens ($(cat "$TEST_TMP/tokens.err"))" 0 $?
check_eq "tokens: nothing on stderr" "" "$(cat "$TEST_TMP/tokens.err")"
no_noise "tokens" "$(cat "$TEST_TMP/tokens.err")"
check_contains "tokens: the SoftHSM token" "$out" "token:  test"
# The failed module: its heading and exactly one line under it.
block=$(printf '%s\n' "$out" | awk '/^module: tpm2_pkcs11/ { on = 1; next } on && /^$/ { exit } on')
check_eq "tokens: one line under the failed module ($block)" 1 "$(printf '%s\n' "$block" | grep -c .)"
check_contains "tokens: it failed to initialise" "$block" "C_Initialize failed: CKR_GENERAL_ERROR"
check_contains "tokens: says the module wrote on stderr" "$block" "lines on stderr"
json=$(p11e tokens --json 2>"$TEST_TMP/tokens-json.err")
no_noise "tokens --json" "$(cat "$TEST_TMP/tokens-json.err")"
check_eq "tokens --json: the failed module's error is one line" 1 \
	"$(echo "$json" | jq -r '.modules[] | select(.name == "tpm2_pkcs11") | .error' | wc -l)"

# Loaded directly it fails the same way, in one line.
out=$(p11e tokens --module "$TPM_MODULE" 2>"$TEST_TMP/direct.err")
check_eq "tokens --module tpm2-pkcs11: fails" 1 $?
no_noise "tokens --module" "$(cat "$TEST_TMP/direct.err")"
check_contains "tokens --module: the failure" "$out" "C_Initialize failed: CKR_GENERAL_ERROR"

# A token no module has: the error says that a module failed to initialise,
# in one line, without its messages.
err=$(p11e list "pkcs11:token=nosuch" --pin-source "$PIN_SRC" 2>&1 >/dev/null)
check_eq "no such token: one line ($err)" 1 "$(printf '%s\n' "$err" | grep -c .)"
check_contains "no such token: says a module printed" "$err" "lines on stderr"
check_contains "no such token: says where to look" "$err" "'p11enroll tokens' shows which module failed"
no_noise "no such token" "$err"

# module-name in the URI: only that module is loaded.
out=$(p11e list "pkcs11:token=test?module-name=softhsm2" --pin-source "$PIN_SRC" 2>"$TEST_TMP/name.err")
check_eq "module-name=softhsm2 ($(cat "$TEST_TMP/name.err"))" 0 $?
check_contains "module-name: the identity" "$out" "noise@example.com"
check_eq "module-name: nothing on stderr" "" "$(cat "$TEST_TMP/name.err")"
err=$(p11e list "pkcs11:token=test?module-name=nosuch" --pin-source "$PIN_SRC" 2>&1 >/dev/null)
check_eq "module-name of no registered module: exit 1" 1 $?
check_contains "module-name of no registered module: says so" "$err" "module-name=nosuch"

# Asked for, the module's own messages come through.
err=$(P11ENROLL_MODULE_STDERR=show p11e tokens 2>&1 >/dev/null)
check_contains "P11ENROLL_MODULE_STDERR=show: the module's messages" "$err" "tcti"
finish
