# A server identity (--dns): the key on the token, a dNSName SAN and no
# rfc822Name, EKU serverAuth (profile tls-server), a record keyed by the host
# name. openssl verifies it for TLS server use and names it by host.
. "$TESTS_DIR/lib/common.sh"
setup_ca
export P11ENROLL_PIN_SOURCE=$PIN_SRC
ca="--ca local:$CA_DIR"

out=$(p11e enroll "$TEST_TOKEN_URI" --dns WWW.Example.ORG $ca --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll --dns ($out)" 0 $?
rec=$(record www.example.org)
check_eq "record keyed by the lower-cased host" www.example.org "$(jq -r .identity <<<"$rec")"
check_eq "record dns_name" www.example.org "$(jq -r .dns_name <<<"$rec")"
check_eq "profile defaults to tls-server" tls-server "$(jq -r .profile <<<"$rec")"
id=$(jq -r .key_id <<<"$rec")
check "certificate on the token under the key's ID" token_cert "$id" "$TEST_TMP/www.pem"
text=$(openssl x509 -in "$TEST_TMP/www.pem" -noout -ext subjectAltName,extendedKeyUsage,keyUsage)
check_contains "dNSName SAN" "$text" "DNS:www.example.org"
check_not_contains "no rfc822Name for a server" "$text" "email:"
check_contains "EKU serverAuth" "$text" "TLS Web Server Authentication"
check_contains "KU digitalSignature" "$text" "Digital Signature"
check "verifies as a TLS server certificate" \
	openssl verify -CAfile "$CA_DIR/ca.pem" -purpose sslserver "$TEST_TMP/www.pem"
check "openssl matches it to the host name" \
	openssl verify -CAfile "$CA_DIR/ca.pem" -verify_hostname www.example.org "$TEST_TMP/www.pem"
out=$(openssl verify -CAfile "$CA_DIR/ca.pem" -verify_hostname other.example.org "$TEST_TMP/www.pem" 2>&1)
check "but not to another host" test $? -ne 0
check_eq "one private key" 1 "$(count_objects privkey "$id")"

# Rerun: done, nothing new.
out=$(p11e enroll "$TEST_TOKEN_URI" --dns www.example.org $ca --pin-source "$PIN_SRC" 2>&1)
check_eq "rerun ($out)" 0 $?
check_eq "still one private key" 1 "$(count_objects privkey "$id")"

# Bad input: one-line errors naming the field, exit 2.
out=$(p11e enroll "$TEST_TOKEN_URI" --dns www.example.org --email a@example.org $ca 2>&1)
check_eq "--dns with --email: exit 2" 2 $?
check_contains "names the field" "$out" "dns:"
for bad in "bad_host.example.org" "-x.example.org" "localhost" "*.example.org" "a..b.org"; do
	out=$(p11e enroll "$TEST_TOKEN_URI" --dns "$bad" $ca 2>&1)
	check_eq "--dns '$bad': exit 2 ($out)" 2 $?
done
out=$(p11e enroll "$TEST_TOKEN_URI" --dns api.example.org --profile smime $ca --pin-source "$PIN_SRC" 2>&1)
check_eq "an S/MIME profile needs an address: exit 2 ($out)" 2 $?
check_contains "names the email field" "$out" "email:"
check "and no key was made for it" test "$(p11tool_opensc --list-objects --type privkey | grep -c 'label: *api.example.org')" -eq 0

# The local CA refuses a tls-server request without a dNSName (an email CSR).
out=$(p11e enroll "$TEST_TOKEN_URI" --email bob@example.org --profile tls-server $ca --pin-source "$PIN_SRC" 2>&1)
check "tls-server profile with --email is refused" test $? -ne 0
check_contains "names the dns field" "$out" "dns"
finish
