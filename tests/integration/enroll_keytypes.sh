# Every key type the module supports, enrolled end to end, then checked with
# tools no one here wrote: openssl, pkcs11-tool (OpenSC), p11tool (GnuTLS).
. "$TESTS_DIR/lib/common.sh"
setup_ca

enroll_and_check() {
	local kt=$1 profile=$2 purpose=$3
	local email="user-${kt//:/-}@example.com" id out
	email=${email,,}
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --key "$kt" --profile "$profile" \
		--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
	check_eq "$kt: enroll exit code ($out)" 0 $?
	id=$(key_id "$email")
	record "$email" | jq -r .csr_pem >"$TEST_TMP/$kt.csr"
	check "$kt: openssl req -verify on the CSR" openssl req -verify -noout -in "$TEST_TMP/$kt.csr"
	check_contains "$kt: CSR asks for the rfc822Name" \
		"$(openssl req -in "$TEST_TMP/$kt.csr" -noout -text)" "email:$email"

	check "$kt: certificate read back from the token" token_cert "$id" "$TEST_TMP/$kt.pem"
	check "$kt: openssl verify -purpose $purpose" \
		openssl verify -CAfile "$CA_DIR/ca.pem" -purpose "$purpose" "$TEST_TMP/$kt.pem"
	local san
	san=$(openssl x509 -in "$TEST_TMP/$kt.pem" -noout -ext subjectAltName 2>/dev/null)
	check_contains "$kt: SAN is the email" "$san" "email:$email"
	check_not_contains "$kt: no DNS SAN" "$san" "DNS:"

	# CKA_ID is the SHA-1 of the public key bits: the certificate's SKI.
	check_eq "$kt: CKA_ID == subject key identifier" "$id" \
		"$(openssl x509 -in "$TEST_TMP/$kt.pem" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' :' | tr A-F a-f)"

	# One private key, one public key, one certificate under the ID.
	check_eq "$kt: private keys under $id" 1 "$(count_objects privkey "$id")"
	check_eq "$kt: public keys under $id" 1 "$(count_objects pubkey "$id")"
	check_eq "$kt: certificates under $id" 1 "$(count_objects cert "$id")"
	local priv
	priv=$(p11tool_opensc --list-objects --type privkey --id "$id")
	check_contains "$kt: private key is sensitive and never extractable" "$priv" \
		"Access:     sensitive, always sensitive, never extractable, local"

	# The certificate's key is the token's key (GnuTLS p11tool exports it;
	# OpenSC 0.23's pkcs11-tool cannot rebuild P-384/P-521 public keys).
	if p11tool --provider "$SOFTHSM_MODULE" --login --export-pubkey \
		"pkcs11:token=test;id=$(pct_id "$id");type=public" --outfile "$TEST_TMP/$kt.pub.pem" 2>/dev/null; then
		check_eq "$kt: certificate key == token public key" \
			"$(openssl pkey -pubin -in "$TEST_TMP/$kt.pub.pem" -outform DER | sha256sum)" \
			"$(openssl x509 -in "$TEST_TMP/$kt.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)"
	else
		bad "$kt: p11tool could not export the public key"
	fi
	# The CA decides key usage from the profile and the key kind.
	local ku
	ku=$(openssl x509 -in "$TEST_TMP/$kt.pem" -noout -ext keyUsage 2>/dev/null)
	case "$profile:$kt" in
	smime:rsa*) check_contains "$kt: keyEncipherment" "$ku" "Key Encipherment" ;;
	smime:ec*) check_contains "$kt: keyAgreement" "$ku" "Key Agreement" ;;
	esac
	case "$profile" in
	smime-sign | client-auth) check_not_contains "$kt: signing only" "$ku" "Encipherment" ;;
	esac
}

enroll_and_check ec:P-256 smime smimesign
enroll_and_check ec:P-384 smime-sign smimesign
enroll_and_check ec:P-521 smime smimesign   # EC encrypts by keyAgreement, which openssl's smimeencrypt purpose does not know
enroll_and_check rsa:2048 smime smimeencrypt
enroll_and_check rsa:3072 client-auth sslclient
enroll_and_check rsa:4096 smime-sign smimesign   # once: it is slow
enroll_and_check ed25519 smime-sign smimesign

# With an Ed25519 key on the token, libp11 0.4.12 can no longer list its keys;
# RSA and EC enrollments still work (raw C_Sign fallback) and verify.
for kt in ec:P-256 rsa:2048; do
	email="after-ed-${kt//:/-}@example.com"
	email=${email,,}
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --key "$kt" --profile smime-sign \
		--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
	check_eq "$kt after ed25519: enroll ($out)" 0 $?
	record "$email" | jq -r .csr_pem >"$TEST_TMP/after-$kt.csr"
	check "$kt after ed25519: openssl req -verify" openssl req -verify -noout -in "$TEST_TMP/after-$kt.csr"
	token_cert "$(key_id "$email")" "$TEST_TMP/after-$kt.pem"
	check "$kt after ed25519: openssl verify" \
		openssl verify -CAfile "$CA_DIR/ca.pem" -purpose smimesign "$TEST_TMP/after-$kt.pem"
done

# GnuTLS's p11tool pairs each certificate with its private key by ID.
listing=$(p11tool --provider "$SOFTHSM_MODULE" --login --list-all "pkcs11:token=test" 2>/dev/null)
check_eq "p11tool: 9 private keys" 9 "$(grep -c 'Type: Private key' <<<"$listing")"
check_eq "p11tool: 9 certificates plus the CA's" 10 "$(grep -c 'Type: X.509 Certificate' <<<"$listing")"
id=$(key_id user-ec-p-256@example.com)
check_contains "p11tool: key and certificate share the ID" \
	"$(grep -c "ID: $(echo "$id" | sed 's/../&:/g; s/:$//')" <<<"$listing")" "3"

# The key type is refused early when the profile cannot use it.
out=$(p11e enroll "$TEST_TOKEN_URI" --email ed@example.com --key ed25519 --profile smime \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "ed25519 with an encryption profile: usage error" 2 $?
check_contains "ed25519 with smime says why" "$out" "cannot encrypt"
finish
