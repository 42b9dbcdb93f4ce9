# Crash after every step of the pipeline (and in the windows between a token
# or CA action and the record that notes it), then rerun: exactly one key and
# one certificate per identity, nothing orphaned, one CA issuance.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "resume tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca

points=(new key-pending key-made key-renamed key-generated csr-built ca-answered issued
	cert-written stored)
n=0
for point in "${points[@]}"; do
	n=$((n + 1))
	email="crash-$point@example.com"
	P11ENROLL_TEST_CRASH_AFTER=$point p11e enroll "$TEST_TOKEN_URI" --email "$email" \
		--key ec:P-256 --ca "local:$CA_DIR" --pin-source "$PIN_SRC" >/dev/null 2>&1
	check_eq "$point: the injected crash happened" 86 $?
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" 2>&1)
	check_eq "$point: rerun resumes and finishes ($out)" 0 $?
	check_eq "$point: record is done" done "$(record "$email" | jq -r .step)"
	id=$(key_id "$email")
	check_eq "$point: one private key" 1 "$(count_objects privkey "$id")"
	check_eq "$point: one public key" 1 "$(count_objects pubkey "$id")"
	check_eq "$point: one certificate" 1 "$(count_objects cert "$id")"
	check_eq "$point: the CA issued once for $email" 1 \
		"$(grep -c "\"request_key\": *\"$(record "$email" | jq -r .request_key)\"" "$CA_DIR/index.jsonl")"
	# Nothing orphaned: the token holds exactly one key pair per identity so far.
	check_eq "$point: private keys on the token" "$n" \
		"$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')"
done

# A rerun of a finished identity changes nothing.
before=$(p11tool_opensc --list-objects | md5sum)
p11e enroll "$TEST_TOKEN_URI" --email crash-new@example.com --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "rerun when done: exit 0" 0 $?
check_eq "rerun when done: token unchanged" "$before" "$(p11tool_opensc --list-objects | md5sum)"
finish
