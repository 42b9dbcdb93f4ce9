# Encryption-only keys (profile smime-encrypt) on the token: the key signs its
# own CSR (proof of possession), then loses CKA_SIGN once certified; mail
# encrypted to the certificate by openssl cms decrypts through the pkcs11
# engine with the token key (RSA key transport, EC key agreement), and the
# key can no longer sign.
. "$TESTS_DIR/lib/common.sh"
setup_ca
echo "for your eyes only" >"$TEST_TMP/msg.txt"
printf '%s' "$TEST_PIN" >"$TEST_TMP/engine.pin" # the engine reads it verbatim

for kt in rsa:2048 ec:P-256; do
	email="enc-${kt//:/-}@example.com"
	email=${email,,}
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --key "$kt" --profile smime-encrypt \
		--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
	check_eq "$kt: enroll smime-encrypt ($out)" 0 $?
	id=$(key_id "$email")
	token_cert "$id" "$TEST_TMP/$kt.pem"
	ku=$(openssl x509 -in "$TEST_TMP/$kt.pem" -noout -ext keyUsage)
	want=$([ "${kt%%:*}" = rsa ] && echo "Key Encipherment" || echo "Key Agreement")
	check_contains "$kt: keyUsage $want" "$ku" "$want"
	check_not_contains "$kt: no digitalSignature" "$ku" "Digital Signature"
	usage=$(p11tool_opensc --list-objects --type privkey --id "$id" | grep -i "usage:")
	check_not_contains "$kt: CKA_SIGN withdrawn after certification ($usage)" "$usage" "sign"
	check "$kt: openssl cms -encrypt to the certificate" \
		openssl cms -encrypt -binary -aes256 -in "$TEST_TMP/msg.txt" -out "$TEST_TMP/$kt.p7m" \
		"$TEST_TMP/$kt.pem"
	uri="pkcs11:token=test;id=$(pct_id "$id");type=private?pin-source=file:$TEST_TMP/engine.pin"
	check "$kt: openssl cms -decrypt through the pkcs11 engine" \
		openssl cms -decrypt -engine pkcs11 -keyform engine -inkey "$uri" \
		-recip "$TEST_TMP/$kt.pem" -in "$TEST_TMP/$kt.p7m" -out "$TEST_TMP/$kt.out"
	check_eq "$kt: round trip" "$(cat "$TEST_TMP/msg.txt")" "$(cat "$TEST_TMP/$kt.out" 2>/dev/null)"
	openssl cms -sign -engine pkcs11 -keyform engine -inkey "$uri" -binary \
		-signer "$TEST_TMP/$kt.pem" -in "$TEST_TMP/msg.txt" -out /dev/null >/dev/null 2>&1
	check "$kt: the token refuses to sign with it" test $? -ne 0
	# A rerun finds it done and changes nothing.
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
	check_eq "$kt: rerun ($out)" 0 $?
done
finish
