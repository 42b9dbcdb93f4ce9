# The token key really works with its certificate: OpenSSL signs S/MIME
# through the pkcs11 engine (libp11) with the key's URI, and the signature
# verifies against the issued certificate and the CA.
. "$TESTS_DIR/lib/common.sh"
setup_ca
echo "hello from the token" >"$TEST_TMP/msg.txt"
# libp11 0.4.12's engine takes a pin-source file verbatim, newline included
# (measured: "PIN incorrect", then openssl segfaults): give it none.
printf '%s' "$TEST_PIN" >"$TEST_TMP/engine.pin"

for kt in ec:P-256 rsa:2048; do
	email="sign-${kt//:/-}@example.com"
	email=${email,,}
	p11e enroll "$TEST_TOKEN_URI" --email "$email" --key "$kt" --profile smime-sign \
		--ca "local:$CA_DIR" --pin-source "$PIN_SRC" >/dev/null 2>&1
	check_eq "$kt: enroll" 0 $?
	id=$(key_id "$email")
	token_cert "$id" "$TEST_TMP/$kt.pem"
	uri="pkcs11:token=test;id=$(pct_id "$id");type=private?pin-source=file:$TEST_TMP/engine.pin"
	check "$kt: openssl cms -sign through the pkcs11 engine" \
		openssl cms -sign -engine pkcs11 -keyform engine -inkey "$uri" \
		-binary -signer "$TEST_TMP/$kt.pem" -in "$TEST_TMP/msg.txt" -out "$TEST_TMP/$kt.p7s" -outform PEM
	check "$kt: openssl cms -verify with the CA" \
		openssl cms -verify -binary -CAfile "$CA_DIR/ca.pem" -purpose smimesign -inform PEM \
		-in "$TEST_TMP/$kt.p7s" -content "$TEST_TMP/msg.txt" -out "$TEST_TMP/$kt.out"
	check_eq "$kt: signed content round trip" "$(cat "$TEST_TMP/msg.txt")" "$(cat "$TEST_TMP/$kt.out" 2>/dev/null)"
	# The detached signature over other content must not verify.
	openssl cms -verify -CAfile "$CA_DIR/ca.pem" -inform PEM -in "$TEST_TMP/$kt.p7s" \
		-content /etc/hostname -out /dev/null >/dev/null 2>&1
	check_eq "$kt: tampered content is refused" 4 $?
done
finish
