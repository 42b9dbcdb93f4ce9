# NSS softokn, a second real PKCS#11 implementation (Debian's libnss3): (a) loaded
# directly with --module-args (its C_Initialize needs init arguments), enrolling
# with the embedded CA for every key type and profile it can do, NSS's own
# certutil seeing key and certificate paired; a crash and rerun leave one key
# and one certificate; (b) through p11-kit-proxy from a module file with
# x-init-reserved, next to a registered module that fails to initialise.
# The whole test runs in a private mount namespace whose p11-kit registry
# (/usr/share/p11-kit/modules, and /etc/pkcs11/modules where it exists) is a
# directory of this test: the machine's registry is neither used nor changed.
SOFTOKN=/usr/lib/x86_64-linux-gnu/libsoftokn3.so
PROXY=/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so
if [ -z "${NSS_MNTNS:-}" ]; then
	# As root (CI) a plain mount namespace; otherwise a user namespace too.
	userns=$([ "$(id -u)" -eq 0 ] || echo --map-root-user)
	exec unshare --mount --propagation private $userns env NSS_MNTNS=1 bash "$0" "$@"
fi
. "$TESTS_DIR/lib/common.sh"
if [ ! -e "$SOFTOKN" ] || ! command -v certutil >/dev/null; then
	bad "needs libnss3 and certutil (libnss3-tools, scripts/deps.sh --test)"
	finish
fi

REG=$TEST_TMP/p11-kit-modules
private_p11kit_registry "$REG" || finish

# softokn and the NSS libraries keep allocations until exit: theirs, not ours.
lsan_suppress libsoftokn3 libnss3 libnssutil3 libnspr4 libplc4 libplds4 libsqlite3 \
	libfreeblpriv3 libfreebl3

NSSDB=$TEST_TMP/nssdb
mkdir -p "$NSSDB"
certutil -N -d "sql:$NSSDB" --empty-password || { bad "certutil -N"; finish; }
ARGS="configdir='sql:$NSSDB' certPrefix='' keyPrefix='' secmod='secmod.db' flags="
NSS_URI="pkcs11:token=NSS%20Certificate%20DB"
setup_ca
nss() { p11e "$@" --module "$SOFTOKN" --module-args "$ARGS"; }
# The trust flags NSS shows for a nickname ("u,u,u": it paired key and certificate).
nss_trust() {
	certutil -L -d "sql:$NSSDB" -h all | awk -v n="$1" \
		'substr($0, 1, length(n)) == n { print $NF }'
}
# Objects of a type (privkey, pubkey, cert) under CKA_ID $2, through p11-kit-proxy.
count_nss() {
	pkcs11-tool --module "$PROXY" --token-label "NSS Certificate DB" --list-objects \
		--type "$1" 2>/dev/null | grep -ci "^ *ID: *$2\$" || true
}

echo "== (a) loaded directly"
out=$(p11e tokens --module "$SOFTOKN" 2>&1)
check_eq "no init arguments: tokens fails" 1 $?
check_contains "no init arguments: the code by name" "$out" "C_Initialize failed: CKR_ARGUMENTS_BAD"
check_contains "no init arguments: what to do" "$out" "--module-args"
check_not_contains "no code as hex" "$out" "0x00000007"

out=$(nss tokens 2>&1)
check_eq "--module-args: tokens succeeds ($out)" 0 $?
check_contains "--module-args: NSS's token listed" "$out" "token:  NSS Certificate DB"
labels=$(nss tokens --json | jq -r '.modules[0].tokens[].label')
check_contains "--json lists NSS's token" "$labels" "NSS Certificate DB"

out=$(p11e tokens --module "$SOFTOKN" --module-args "$(printf 'configdir=a\tb')" 2>&1)
check_eq "a control character in --module-args is refused" 2 $?
check_contains "... naming the option" "$out" "--module-args: character 12 is not printable"
out=$(p11e tokens --module "$SOFTOKN" --module-args "$(head -c 5000 /dev/zero | tr '\0' a)" 2>&1)
check_eq "over-long --module-args refused" 2 $?
out=$(p11e tokens --module-args "$ARGS" 2>&1)
check_eq "--module-args without a module to go to" 2 $?
out=$(p11e tokens --module "$PROXY" --module-args "$ARGS" 2>&1)
check_eq "--module-args for p11-kit-proxy refused" 2 $?
check_contains "... saying where such arguments go" "$out" "x-init-reserved"

# The config's module_args belong to the config's module, and only to it.
jq -n --arg m "$SOFTOKN" --arg a "$ARGS" '{module: $m, module_args: $a}' >"$TEST_TMP/nss.json"
out=$(p11e tokens --config "$TEST_TMP/nss.json" 2>&1)
check_eq "config module_args: tokens succeeds ($out)" 0 $?
check_contains "config module_args: NSS's token listed" "$out" "NSS Certificate DB"
out=$(p11e tokens --config "$TEST_TMP/nss.json" --module "$SOFTHSM_MODULE" 2>&1)
check_eq "config module_args not given to another --module ($out)" 0 $?
check_contains "... which lists its own token" "$out" "token:  test"
jq -n --arg a "$ARGS" '{module_args: $a}' >"$TEST_TMP/noargs.json"
out=$(p11e tokens --config "$TEST_TMP/noargs.json" 2>&1)
check_eq "config module_args without module" 8 $?
printf '{"module": "%s", "module_args": "a\\u0000b"}\n' "$SOFTOKN" >"$TEST_TMP/nul.json"
out=$(p11e tokens --config "$TEST_TMP/nul.json" 2>&1)
check_eq "config module_args with a NUL" 8 $?
check_contains "... named" "$out" "module_args holds a NUL"

# Enrollment, for the key types and profiles softokn's mechanisms allow.
enroll_nss() { # enroll_nss NAME KEY PROFILE [more options]
	local name=$1 key=$2 profile=$3
	shift 3
	nss enroll "$NSS_URI" --key "$key" --profile "$profile" --ca "local:$CA_DIR" "$@" 2>&1
}
for key in ec:P-256 ec:P-384 ec:P-521 rsa:2048; do
	email=$(echo "smime-${key/:/-}@example.com" | tr A-Z a-z) # identities are lower case
	out=$(enroll_nss "$email" "$key" smime --email "$email")
	check_eq "enroll $key smime ($out)" 0 $?
	check_eq "certutil: $key key and certificate paired" "u,u,u" "$(nss_trust "$email")"
	check_contains "certutil -K: the key carries the certificate's nickname" \
		"$(certutil -K -d "sql:$NSSDB" 2>/dev/null)" "$(key_id "$email")   $email"
done
out=$(enroll_nss sign@example.com ec:P-256 smime-sign --email sign@example.com)
check_eq "enroll ec:P-256 smime-sign ($out)" 0 $?
check_eq "certutil: smime-sign paired" "u,u,u" "$(nss_trust sign@example.com)"
out=$(enroll_nss enc@example.com rsa:2048 smime-encrypt --email enc@example.com)
check_eq "enroll rsa:2048 smime-encrypt ($out)" 0 $?
check_eq "certutil: smime-encrypt paired" "u,u,u" "$(nss_trust enc@example.com)"
out=$(enroll_nss client@example.com ec:P-256 client-auth --email client@example.com)
check_eq "enroll ec:P-256 client-auth ($out)" 0 $?
check_eq "certutil: client-auth paired" "u,u,u" "$(nss_trust client@example.com)"
out=$(enroll_nss www.example.com ec:P-256 tls-server --dns www.example.com)
check_eq "enroll ec:P-256 tls-server ($out)" 0 $?
check_eq "certutil: tls-server paired" "u,u,u" "$(nss_trust www.example.com)"
out=$(enroll_nss ed@example.com ed25519 smime-sign --email ed@example.com)
check_eq "ed25519: softokn 3.87 has no EdDSA keygen: exit 11" 11 $?
check_contains "... named" "$out" "CKM_EC_EDWARDS_KEY_PAIR_GEN"

# A crash at each step, then a rerun: one key and one certificate (the token
# holds what p11enroll made; counted by pkcs11-tool through p11-kit below).
crashed=()
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	for point in key-pending key-made key-renamed csr-built cert-written; do
		email="crash-$point@example.com"
		P11ENROLL_TEST_CRASH_AFTER=$point enroll_nss "$email" ec:P-256 smime \
			--email "$email" >/dev/null
		check_eq "$point: the injected crash happened" 86 $?
		out=$(enroll_nss "$email" ec:P-256 smime --email "$email")
		check_eq "$point: rerun finishes ($out)" 0 $?
		check_eq "$point: certutil pairs them" "u,u,u" "$(nss_trust "$email")"
		crashed+=("$email")
	done
else
	bad "the crash tests need a build with -DP11ENROLL_TEST_HOOKS=ON"
fi

echo "== (b) through p11-kit-proxy"
printf 'module: %s\nx-init-reserved: %s\n' "$SOFTOKN" "$ARGS" >"$REG/nss.module"
# The same library under another name (a separate instance) registered
# without its init arguments: it must fail, and be listed with its error.
cp "$SOFTOKN" "$TEST_TMP/libsoftokn3-noargs.so"
printf 'module: %s\n' "$TEST_TMP/libsoftokn3-noargs.so" >"$REG/nss-noargs.module"
printf 'module: %s\n' "$SOFTHSM_MODULE" >"$REG/softhsm.module"
out=$(p11e tokens 2>&1)
check_eq "registry: tokens succeeds ($out)" 0 $?
check_contains "registry: three modules" "$out" "3 modules registered with p11-kit"
check_contains "registry: NSS's token, initialised with x-init-reserved" "$out" "token:  NSS Certificate DB"
check_contains "registry: the failing module, its error by name" "$out" \
	"module: nss-noargs ($TEST_TMP/libsoftokn3-noargs.so)
  cannot list: module $TEST_TMP/libsoftokn3-noargs.so: C_Initialize failed: CKR_ARGUMENTS_BAD"
check_contains "registry: ... and what to do" "$out" "add x-init-reserved to its p11-kit module file"
check_contains "registry: SoftHSM still listed" "$out" "token:  test"
json=$(p11e tokens --json)
check_eq "registry --json: the failing module's error" "1" \
	"$(echo "$json" | jq '[.modules[] | select(.name == "nss-noargs") | .error | select(test("CKR_ARGUMENTS_BAD"))] | length')"
check_eq "registry --json: NSS's token" "NSS Certificate DB" \
	"$(echo "$json" | jq -r '.modules[] | select(.name == "nss") | .tokens[].label' | grep Certificate)"

out=$(p11e enroll "$NSS_URI" --email proxy@example.com --key ec:P-256 --ca "local:$CA_DIR" 2>&1)
check_eq "enroll through p11-kit-proxy ($out)" 0 $?
check_eq "certutil: proxy enrollment paired" "u,u,u" "$(nss_trust proxy@example.com)"

# Key and certificate paired by CKA_ID, as other PKCS#11 tools see them.
for email in smime-ec-p-256@example.com smime-rsa-2048@example.com proxy@example.com "${crashed[@]}"; do
	id=$(key_id "$email")
	check_eq "pkcs11-tool: one private key under $email's ID" 1 "$(count_nss privkey "$id")"
	check_eq "pkcs11-tool: one public key under $email's ID" 1 "$(count_nss pubkey "$id")"
	check_eq "pkcs11-tool: one certificate under $email's ID" 1 "$(count_nss cert "$id")"
done
# Nothing orphaned by the crashes: one private key per enrolled identity.
check_eq "private keys on NSS's token" "$(ls "$P11ENROLL_STATE_DIR/identities" | grep -vc '^ed@')" \
	"$(pkcs11-tool --module "$PROXY" --token-label "NSS Certificate DB" --list-objects \
		--type privkey 2>/dev/null | grep -c '^Private Key Object')"
finish
