# Addresses keep the case of their local part (RFC 5321 local parts are
# case-sensitive): `--email Shsm-ECp256@Example.COM` is certified (rfc822Name)
# and recorded as Shsm-ECp256@example.com, the domain lower-cased, while the
# identity, the record's key, is the lower-cased address: an enroll, status or
# escrow show spelled otherwise finds the same identity, never a second record.
# A record made before the case was kept (no "email") still loads and renews.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/w
mkdir -p "$W"
file_vault "$W"
ids() { record_count; }
san_of() { openssl x509 -noout -text -in "$1" | grep -o 'email:[^, ]*'; }

# A token key: the certificate names the address with its local part as given.
out=$(p11e enroll "$TEST_TOKEN_URI" --email Shsm-ECp256@Example.COM --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll Shsm-ECp256@Example.COM ($out)" 0 $?
check_eq "one record, under the lower-cased identity" \
	"shsm-ecp256@example.com Shsm-ECp256@example.com 1" \
	"$(record shsm-ecp256@example.com | jq -r '"\(.identity) \(.email)"') $(ids)"
record shsm-ecp256@example.com | jq -r .cert_pem >"$TEST_TMP/c1.pem"
check_eq "rfc822Name: local part as given, domain lower-cased" "email:Shsm-ECp256@example.com" \
	"$(san_of "$TEST_TMP/c1.pem")"
check_contains "CN the same" "$(openssl x509 -noout -subject -in "$TEST_TMP/c1.pem")" \
	"CN = Shsm-ECp256@example.com"
token_cert "$(key_id shsm-ecp256@example.com)" "$TEST_TMP/t1.pem"
check_eq "the token's certificate too" "email:Shsm-ECp256@example.com" "$(san_of "$TEST_TMP/t1.pem")"

# The same address spelled otherwise: the same identity, not a second record.
sha=$(record shsm-ecp256@example.com | jq -r .cert_sha256)
out=$(p11e enroll "$TEST_TOKEN_URI" --email shsm-ecp256@EXAMPLE.com --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll shsm-ecp256@EXAMPLE.com: the done identity ($out)" 0 $?
check_eq "still one record, the same certificate" "1 $sha" \
	"$(ids) $(record shsm-ecp256@example.com | jq -r .cert_sha256)"
check_eq "still one key on the token" 1 "$(count_objects privkey "$(key_id shsm-ecp256@example.com)")"
check_eq "status by any spelling" "shsm-ecp256@example.com" \
	"$(p11e status SHSM-ecp256@example.com --json | jq -r '.[0].identity // .identity')"

# A renewal certifies the recorded address, case kept.
out=$(p11e renew shsm-ecp256@example.com --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew ($out)" 0 $?
record shsm-ecp256@example.com | jq -r .cert_pem >"$TEST_TMP/c2.pem"
check_eq "generation 2: the case kept" "2 email:Shsm-ECp256@example.com" \
	"$(record shsm-ecp256@example.com | jq -r .generation) $(san_of "$TEST_TMP/c2.pem")"

# A software key: the PFX and the vault entry under the identity, the
# certificate with the address as given; escrow show by any spelling.
out=$(p11e enroll --software --email Mixed.Case@Example.org 2>&1)
check_eq "software enroll ($out)" 0 $?
pfx=$(store_pfx_file "$(record mixed.case@example.org | jq -r .pfx_path)")
check_eq "PFX named after the identity" "mixed.case@example.org.p12" "${pfx##*/}"
pw=$(p11e escrow show MIXED.case@example.org --officer-key "$W/officer.key" 2>&1)
check_eq "escrow show by another spelling" "$(escrowed mixed.case@example.org)" "$pw"
openssl pkcs12 -in "$pfx" -passin "pass:$pw" -nokeys -clcerts 2>/dev/null |
	openssl x509 >"$TEST_TMP/s.pem" 2>/dev/null
check_eq "software certificate: the case kept" "email:Mixed.Case@example.org" "$(san_of "$TEST_TMP/s.pem")"

# A roster naming one address twice in two spellings: one identity, refused twice.
printf 'email\nDup.User@example.com\ndup.user@EXAMPLE.COM\n' >"$W/roster.csv"
out=$(p11e batch "$W/roster.csv" --software --json 2>&1)
check_contains "roster: the second spelling is the same identity" "$out" "already on line"

# A record written before the case was kept (no "email"): loads, renews, certifies its identity.
record_edit shsm-ecp256@example.com 'del(.email)'
out=$(p11e renew shsm-ecp256@example.com --force --pin-source "$PIN_SRC" 2>&1)
check_eq "an old record renews ($out)" 0 $?
record shsm-ecp256@example.com | jq -r .cert_pem >"$TEST_TMP/c3.pem"
check_eq "an old record certifies its identity" "email:shsm-ecp256@example.com" "$(san_of "$TEST_TMP/c3.pem")"
# A hand-edited record whose email is another address is refused, naming the file.
record_edit shsm-ecp256@example.com '.email = "Other@example.com"'
out=$(p11e status shsm-ecp256@example.com 2>&1)
check "a record with another address: refused ($out)" test $? -ne 0
check_contains "names why" "$out" "is not its identity"
finish
