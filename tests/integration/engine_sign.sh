# The token key really works with its certificate: OpenSSL signs S/MIME
# through the pkcs11 engine (libp11) with the key's URI, and the signature
# verifies against the issued certificate and the CA.
. "$TESTS_DIR/lib/common.sh"
setup_ca
echo "hello from the token" >"$TEST_TMP/msg.txt"

for kt in ec:P-256 rsa:2048; do
	email="sign-${kt//:/-}@example.com"
	p11e enroll "$TEST_TOKEN_URI" --email "$email" --key "$kt" --profile smime-sign \
		--ca "local:$CA_DIR" --pin-source "$PIN_SRC" >/dev/null 2>&1
	check_eq "$kt: enroll" 0 $?
	id=$(key_id "$email")
	token_cert "$id" "$TEST_TMP/$kt.pem"
	uri="pkcs11:token=test;id=$(pct_id "$id");type=private?pin-source=file:$TEST_PIN_FILE"
	check "$kt: openssl cms -sign through the pkcs11 engine" \
		openssl cms -sign -engine pkcs11 -keyform engine -inkey "$uri" \
		-signer "$TEST_TMP/$kt.pem" -in "$TEST_TMP/msg.txt" -out "$TEST_TMP/$kt.p7s" -outform PEM
	check "$kt: openssl cms -verify with the CA" \
		openssl cms -verify -CAfile "$CA_DIR/ca.pem" -purpose smimesign -inform PEM \
		-in "$TEST_TMP/$kt.p7s" -out "$TEST_TMP/$kt.out"
	check_eq "$kt: signed content round trip" "$(cat "$TEST_TMP/msg.txt")" "$(cat "$TEST_TMP/$kt.out" 2>/dev/null)"
	# A signature over other content must not verify (the check can fail).
	openssl cms -verify -CAfile "$CA_DIR/ca.pem" -inform PEM -in "$TEST_TMP/$kt.p7s" \
		-content /etc/hostname -out /dev/null >/dev/null 2>&1
	check_eq "$kt: tampered content is refused" 4 $?
done
finish
