# opencryptoki 3.8's soft token (Debian's opencryptoki), a third real PKCS#11
# implementation: pkcsslotd started and stopped by this test; `tokens`, then
# `init-token` (its factory SO PIN), then enrollment with the embedded CA for
# every built-in profile and every RSA size; EC and Ed25519 refused by
# mechanism (the 3.8 soft token has no EC code at all: it came in 3.15);
# key and certificate paired as pkcs11-tool, p11tool and openssl see them;
# `batch`, whose CSRs are signed by raw C_Sign; a crash at each token step,
# then a rerun: one key and one certificate.
#
# Private namespaces, pkcsslotd and its directories: tests/lib/opencryptoki.sh
# (root only; any other user gets a failure, never a skip).
. "$TESTS_DIR/lib/opencryptoki.sh"
ock_enter_namespace "$@"
. "$TESTS_DIR/lib/common.sh"
ock_setup || finish

# Without its daemon the module cannot initialise.
out=$(p11e tokens --module "$OCK_MODULE" 2>&1)
check_eq "no pkcsslotd: tokens fails" 1 $?
check_contains "no pkcsslotd: the code by name" "$out" "C_Initialize failed: CKR_FUNCTION_FAILED"

ock_start || finish
# Leaks are checked for `tokens`, `init-token`, the first enrollment and the
# refusals; then no more (tests/lib/opencryptoki.sh says what they cost).

# The token gets the label "test", so common.sh's pkcs11-tool helpers
# (count_objects, token_cert) read it once pointed at this module.
PKCS11_TOOL_MODULE=$OCK_MODULE
OCK_URI="pkcs11:token=test"
ock() { p11e "$@" --module "$OCK_MODULE"; }
enroll_ock() { # enroll_ock KEY PROFILE (--email E | --dns H) [more options]
	local key=$1 profile=$2
	shift 2
	ock enroll "$OCK_URI" --key "$key" --profile "$profile" --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" "$@" 2>&1
}
printf '%s\n' 11223344 >"$TEST_TMP/wrong-so-pin"
setup_ca

echo "== tokens and init-token"
out=$(ock tokens 2>&1)
check_eq "tokens ($out)" 0 $?
check_contains "tokens: the soft token" "$out" "model:  IBM SoftTok (IBM Corp.)"
check_contains "tokens: not yet initialised" "$out" "flags:  NOT initialised"

out=$(ock init-token "pkcs11:model=IBM%20SoftTok" --label test \
	--so-pin-source "file:$TEST_TMP/wrong-so-pin" --pin-source "$PIN_SRC" 2>&1)
check_eq "init-token with a wrong SO PIN: exit 3" 3 $?
check_contains "... by name" "$out" "CKR_PIN_INCORRECT"
check_not_contains "... the PIN not shown" "$out" 11223344
out=$(ock init-token "pkcs11:model=IBM%20SoftTok" --label test \
	--so-pin-source "file:$OCK_SO_PIN_FILE" --pin-source "$PIN_SRC" 2>&1)
check_eq "init-token with the factory SO PIN ($out)" 0 $?
out=$(ock tokens 2>&1)
check_contains "tokens: the new label" "$out" "token:  test"
check_contains "tokens: initialised" "$out" "flags:  initialised, login required"
out=$(ock init-token "pkcs11:model=IBM%20SoftTok" --label again \
	--so-pin-source "file:$OCK_SO_PIN_FILE" --pin-source "$PIN_SRC" 2>&1)
check_eq "init-token again: an initialised token is never wiped" 9 $?

echo "== EC and Ed25519: refused by mechanism, nothing made"
for curve in P-256 P-384 P-521; do
	out=$(enroll_ock "ec:$curve" smime-sign --email "ec-$curve@example.com")
	check_eq "ec:$curve: exit 11" 11 $?
	check_contains "ec:$curve: the missing mechanism named" "$out" "no CKM_EC_KEY_PAIR_GEN"
done
out=$(enroll_ock ed25519 smime-sign --email ed@example.com)
check_eq "ed25519: exit 11" 11 $?
check_contains "ed25519: the missing mechanism named" "$out" "no CKM_EC_EDWARDS_KEY_PAIR_GEN"
check_eq "no key made by the refused enrollments" 0 \
	"$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')"

echo "== enrollment: every profile, every RSA size"
# paired IDENTITY: one private key, one public key and one certificate under
# the identity's CKA_ID (pkcs11-tool), and the token's public key (p11tool)
# is the certificate's.
paired() {
	local who=$1 id cert=$TEST_TMP/$1.pem
	id=$(key_id "$who")
	check_eq "$who: one private key under its ID" 1 "$(count_objects privkey "$id")"
	check_eq "$who: one public key under its ID" 1 "$(count_objects pubkey "$id")"
	check_eq "$who: one certificate under its ID" 1 "$(count_objects cert "$id")"
	token_cert "$id" "$cert" || { bad "$who: pkcs11-tool cannot read its certificate"; return; }
	if p11tool --provider "$OCK_MODULE" --login --export-pubkey \
		"$OCK_URI;id=$(pct_id "$id");type=public" --outfile "$TEST_TMP/$who.pub" 2>/dev/null; then
		check_eq "$who: p11tool: the token's public key is the certificate's" \
			"$(openssl pkey -pubin -in "$TEST_TMP/$who.pub" -outform DER | sha256sum)" \
			"$(openssl x509 -in "$cert" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)"
	else
		bad "$who: p11tool could not export the public key"
	fi
}
enrolled=()
for bits in 2048 3072 4096; do
	for profile in smime smime-sign smime-encrypt client-auth tls-server; do
		if [ "$profile" = tls-server ]; then
			who=www$bits.example.com
			set -- --dns "$who"
		else
			who=$profile-$bits@example.com
			set -- --email "$who"
		fi
		out=$(enroll_ock "rsa:$bits" "$profile" "$@")
		check_eq "enroll rsa:$bits $profile ($out)" 0 $?
		paired "$who"
		check_contains "rsa:$bits $profile: the certificate's key size" \
			"$(openssl x509 -in "$TEST_TMP/$who.pem" -noout -text 2>&1)" "Public-Key: ($bits bit)"
		enrolled+=("$who")
		ock_leak_checks_off # after the first enrollment (see above)
	done
done

echo "== batch: its CSRs signed by CKA_ID with raw C_Sign"
# The token has CKM_RSA_PKCS but no CKM_SHA256_RSA_PKCS (nor 384, 512): the
# raw path hashes in software and signs a DigestInfo (before, every RSA row
# failed with CKR_MECHANISM_INVALID).
printf 'email,key\nbatch-1@example.com,rsa:2048\nbatch-2@example.com,rsa:3072\n' >"$TEST_TMP/roster.csv"
out=$(ock batch "$TEST_TMP/roster.csv" --jobs 2 --token "$OCK_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "batch --jobs 2 of RSA rows ($out)" 0 $?
for who in batch-1@example.com batch-2@example.com; do
	paired "$who"
	enrolled+=("$who")
done
printf 'email,key\nbatch-384@example.com,rsa:2048\n' >"$TEST_TMP/roster384.csv"
jq -n '{profiles: {sha384: {base: "smime", digest: "sha384"}}}' >"$TEST_TMP/sha384.json"
out=$(ock batch "$TEST_TMP/roster384.csv" --config "$TEST_TMP/sha384.json" --profile sha384 \
	--token "$OCK_URI" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "batch with a SHA-384 profile ($out)" 0 $?
check_contains "... its CSR signed with SHA-384" \
	"$(record batch-384@example.com | jq -r .csr_pem | openssl req -noout -text 2>&1)" \
	"sha384WithRSAEncryption"
paired batch-384@example.com
enrolled+=(batch-384@example.com)

echo "== openssl: signs with the token key, verifies with its certificate"
# Through p11-kit's proxy (the pkcs11 engine's default module) and this
# test's registry, which holds opencryptoki alone.
printf 'module: %s\n' "$OCK_MODULE" >"$OCK/p11-kit/opencryptoki.module"
out=$(p11e tokens 2>&1)
check_eq "tokens through p11-kit ($out)" 0 $?
check_contains "tokens through p11-kit: the soft token" "$out" "token:  test"
printf '%s' "$TEST_PIN" >"$TEST_TMP/engine.pin" # the engine reads it verbatim
echo "signed on opencryptoki" >"$TEST_TMP/msg.txt"
for who in smime-sign-2048@example.com smime-4096@example.com; do
	id=$(key_id "$who")
	check "$who: openssl cms -sign through the pkcs11 engine" \
		openssl cms -sign -engine pkcs11 -keyform engine -binary \
		-inkey "$OCK_URI;id=$(pct_id "$id");type=private?pin-source=file:$TEST_TMP/engine.pin" \
		-signer "$TEST_TMP/$who.pem" -in "$TEST_TMP/msg.txt" -out "$TEST_TMP/$who.p7s" -outform PEM
	check "$who: openssl cms -verify with the certificate and the CA" \
		openssl cms -verify -binary -CAfile "$CA_DIR/ca.pem" -purpose smimesign -inform PEM \
		-in "$TEST_TMP/$who.p7s" -content "$TEST_TMP/msg.txt" -out /dev/null
done

echo "== a crash at each token step, then a rerun"
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	for point in key-pending key-made key-renamed csr-built cert-written; do
		who=crash-$point@example.com
		P11ENROLL_TEST_CRASH_AFTER=$point enroll_ock rsa:2048 smime --email "$who" >/dev/null
		check_eq "$point: the injected crash happened" 86 $?
		out=$(enroll_ock rsa:2048 smime --email "$who")
		check_eq "$point: rerun finishes ($out)" 0 $?
		paired "$who"
		enrolled+=("$who")
	done
else
	bad "the crash tests need a build with -DP11ENROLL_TEST_HOOKS=ON"
fi

# Nothing orphaned: one private key per enrolled identity; p11tool pairs
# every certificate but the CA's with a private key by ID.
check_eq "private keys on the token: one per identity" "${#enrolled[@]}" \
	"$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')"
listing=$(p11tool --provider "$OCK_MODULE" --login --list-all "$OCK_URI" 2>/dev/null)
for who in "${enrolled[@]}"; do
	check_eq "p11tool: $who's key and certificate share its ID" 3 \
		"$(grep -c "ID: $(key_id "$who" | sed 's/../&:/g; s/:$//')" <<<"$listing")"
done
finish
