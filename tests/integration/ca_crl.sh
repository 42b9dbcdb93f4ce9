# Revocation at the embedded CA and its CRLs: `ca revoke` logs the revocation
# in index.jsonl, `ca crl` signs a v2 CRL with a CRL number and the authority key
# identifier, and `openssl verify -crl_check` (a client no one here wrote)
# accepts the good certificate and rejects the revoked one. Also: the CRL
# distribution point from crl_url, a torn index line, bad input, a CA key on a
# token, and revocations from several processes at once.
. "$TESTS_DIR/lib/common.sh"
mkdir -p "$TEST_TMP/etc"
cat >"$TEST_TMP/etc/config.json" <<JSON
{"cas": {"corp": {"type": "local", "dir": "$CA_DIR",
                  "crl_url": "http://crl.example.com/corp.crl"}},
 "default_ca": "corp"}
JSON
export P11ENROLL_CONFIG=$TEST_TMP/etc/config.json
setup_ca
for who in good bad; do
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$who@example.com" --pin-source "$PIN_SRC" 2>&1)
	check_eq "enroll $who ($out)" 0 $?
	record "$who@example.com" | jq -r .cert_pem >"$TEST_TMP/$who.pem"
done
dp=$(openssl x509 -in "$TEST_TMP/good.pem" -noout -ext crlDistributionPoints 2>&1)
check_contains "crl_url is the certificates' CRL distribution point" "$dp" \
	"URI:http://crl.example.com/corp.crl"

# No revocation yet: an empty CRL, and both certificates verify with it.
out=$(p11e ca crl --out "$TEST_TMP/crl0.pem" 2>&1)
check_eq "ca crl from the config's default CA ($out)" 0 $?
check_eq "a CRL is public: 0644" 644 "$(stat -c %a "$TEST_TMP/crl0.pem")"
text=$(openssl crl -in "$TEST_TMP/crl0.pem" -noout -text 2>&1)
check_contains "CRL v2" "$text" "Version 2"
check_contains "CRL number 1" "$text" "X509v3 CRL Number: "$'\n'"                1"
check_contains "authority key identifier" "$text" "X509v3 Authority Key Identifier"
check_contains "no revoked certificates yet" "$text" "No Revoked Certificates"
check "the CRL is signed by the CA" openssl crl -in "$TEST_TMP/crl0.pem" -CAfile "$CA_DIR/ca.pem" -noout
cat "$CA_DIR/ca.pem" "$TEST_TMP/crl0.pem" >"$TEST_TMP/bundle0.pem"
check "bad@ verifies before revocation" openssl verify -crl_check -CAfile "$TEST_TMP/bundle0.pem" "$TEST_TMP/bad.pem"

# Revoke bad@ by its serial as openssl prints it.
serial=$(openssl x509 -in "$TEST_TMP/bad.pem" -noout -serial)
out=$(p11e ca revoke --dir "$CA_DIR" --serial "$serial" --reason keyCompromise 2>&1)
check_eq "ca revoke --serial ($out)" 0 $?
check_contains "says revoked" "$out" "revoked"
lines=$(wc -l <"$CA_DIR/index.jsonl")
out=$(p11e --json ca revoke --cert "$TEST_TMP/bad.pem" --reason superseded 2>&1)
check_eq "revoking again is no error ($out)" 0 $?
check_eq "again: already_revoked" true "$(echo "$out" | jq -r .already_revoked)"
check_eq "again: nothing appended" "$lines" "$(wc -l <"$CA_DIR/index.jsonl")"

p11e ca crl --dir "$CA_DIR" --days 2 >"$TEST_TMP/crl1.pem"
check_eq "ca crl to stdout" 0 $?
text=$(openssl crl -in "$TEST_TMP/crl1.pem" -noout -text 2>&1)
check_contains "CRL number 2" "$text" "X509v3 CRL Number: "$'\n'"                2"
hex=${serial#serial=}
check_contains "the revoked serial is listed" "${text,,}" "serial number: ${hex,,}"
check_contains "with its reason" "$text" "Key Compromise"
cat "$CA_DIR/ca.pem" "$TEST_TMP/crl1.pem" >"$TEST_TMP/bundle1.pem"
check "openssl verify -crl_check accepts good@" \
	openssl verify -crl_check -CAfile "$TEST_TMP/bundle1.pem" "$TEST_TMP/good.pem"
out=$(openssl verify -crl_check -CAfile "$TEST_TMP/bundle1.pem" "$TEST_TMP/bad.pem" 2>&1)
check_eq "openssl verify -crl_check rejects bad@" 2 $?
check_contains "because it is revoked" "$out" "certificate revoked"

# A torn last line (a crash cut an append) is ignored, and the next revocation
# starts on a line of its own.
p11e enroll "$TEST_TOKEN_URI" --email third@example.com --pin-source "$PIN_SRC" >/dev/null 2>&1
record third@example.com | jq -r .cert_pem >"$TEST_TMP/third.pem"
printf '{"revoked":"TORN-TAIL' >>"$CA_DIR/index.jsonl"
out=$(p11e ca crl --dir "$CA_DIR" 2>&1 >/dev/null)
check_eq "ca crl over a torn last line ($out)" 0 $?
out=$(p11e ca revoke --cert "$TEST_TMP/third.pem" --reason cessationOfOperation 2>&1)
check_eq "revoke after a torn line ($out)" 0 $?
check_eq "the torn line was cut off" 0 "$(grep -c 'TORN-TAIL' "$CA_DIR/index.jsonl")"
check_eq "every index line is JSON" "$(wc -l <"$CA_DIR/index.jsonl")" \
	"$(jq -c . "$CA_DIR/index.jsonl" | wc -l)"
p11e ca crl --dir "$CA_DIR" >"$TEST_TMP/crl2.pem"
text=$(openssl crl -in "$TEST_TMP/crl2.pem" -noout -text 2>&1)
check_eq "two revoked certificates listed" 2 "$(grep -c 'Serial Number:' <<<"$text")"
# A broken line in the middle is refused: a revocation must never vanish.
sed -i '1s/^/x/' "$CA_DIR/index.jsonl"
out=$(p11e ca crl --dir "$CA_DIR" 2>&1)
check_eq "a corrupt index line: exit 1" 1 $?
check_contains "names the line" "$out" "index.jsonl line 1"
sed -i '1s/^x//' "$CA_DIR/index.jsonl"

# Bad input: one line naming the field, exit 2; an unknown serial, exit 10.
out=$(p11e ca revoke --serial 12zz --reason keyCompromise 2>&1)
check_eq "bad serial: exit 2" 2 $?
check_contains "names the field" "$out" "serial"
out=$(p11e ca revoke --serial 01 --reason keyCompromise 2>&1)
check_eq "serial not issued here: exit 10" 10 $?
out=$(p11e ca revoke --serial 01 --reason removeFromCRL 2>&1)
check_eq "removeFromCRL is no reason to revoke: exit 2" 2 $?
check_contains "names --reason" "$out" "reason"
out=$(p11e ca revoke --serial 01 --cert "$TEST_TMP/good.pem" --reason superseded 2>&1)
check_eq "--serial and --cert: exit 2" 2 $?
out=$(p11e ca crl --days 0 2>&1)
check_eq "--days 0: exit 2" 2 $?
echo "not a cert" >"$TEST_TMP/junk.pem"
out=$(p11e ca revoke --cert "$TEST_TMP/junk.pem" --reason superseded 2>&1)
check_eq "--cert without a certificate: exit 2" 2 $?
bad_conf=$TEST_TMP/etc/bad.json
echo '{"cas":{"c":{"type":"local","dir":"'"$CA_DIR"'","crl_url":"http://a,b"}}}' >"$bad_conf"
out=$(P11ENROLL_CONFIG=$bad_conf p11e ca crl --ca c 2>&1)
check_eq "crl_url with a comma: exit 8" 8 $?
echo '{"cas":{"c":{"type":"cfssl","url":"http://127.0.0.1:1"}}}' >"$bad_conf"
out=$(P11ENROLL_CONFIG=$bad_conf p11e ca crl --ca c 2>&1)
check_eq "a cfssl CA has no CRL here: exit 11" 11 $?

# Revocations from several processes at once: each is logged once, none lost.
for i in 1 2 3 4; do
	p11e enroll "$TEST_TOKEN_URI" --email "c$i@example.com" --pin-source "$PIN_SRC" >/dev/null 2>&1
	record "c$i@example.com" | jq -r .cert_pem >"$TEST_TMP/c$i.pem"
done
pids=()
for i in 1 2 3 4; do
	p11e ca revoke --cert "$TEST_TMP/c$i.pem" --reason affiliationChanged >/dev/null 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || bad "a concurrent revoke failed"; done
check_eq "four concurrent revocations, four lines" 4 \
	"$(grep -c '"reason":"affiliationChanged"' "$CA_DIR/index.jsonl")"
p11e ca crl >"$TEST_TMP/crl3.pem"
check_eq "six revoked certificates listed" 6 \
	"$(openssl crl -in "$TEST_TMP/crl3.pem" -noout -text | grep -c 'Serial Number:')"

# A CA whose key is on a token signs its CRL there.
unset P11ENROLL_CONFIG
echo 11223344 >"$TEST_TMP/ca-so.pin"
echo 5678 >"$TEST_TMP/ca.pin"
p11e init-token "pkcs11:model=SoftHSM%20v2" --label ca --so-pin-source "file:$TEST_TMP/ca-so.pin" \
	--pin-source "file:$TEST_TMP/ca.pin" >/dev/null 2>&1
TCA=$TEST_TMP/token-ca
p11e ca init --dir "$TCA" --key-uri "pkcs11:token=ca" --pin-source "file:$TEST_TMP/ca.pin" \
	--key rsa:2048 >/dev/null 2>&1
p11e enroll "$TEST_TOKEN_URI" --email tok@example.com --ca "local:$TCA" \
	--pin-source "$PIN_SRC" >/dev/null 2>&1
record tok@example.com | jq -r .cert_pem >"$TEST_TMP/tok.pem"
out=$(p11e ca revoke --dir "$TCA" --cert "$TEST_TMP/tok.pem" --reason superseded 2>&1)
check_eq "revoke at the token CA ($out)" 0 $?
out=$(p11e ca crl --dir "$TCA" --out "$TEST_TMP/tcrl.pem" 2>&1)
check_eq "CRL signed on the token ($out)" 0 $?
check "token CA's CRL verifies" openssl crl -in "$TEST_TMP/tcrl.pem" -CAfile "$TCA/ca.pem" -noout
cat "$TCA/ca.pem" "$TEST_TMP/tcrl.pem" >"$TEST_TMP/tbundle.pem"
out=$(openssl verify -crl_check -CAfile "$TEST_TMP/tbundle.pem" "$TEST_TMP/tok.pem" 2>&1)
check_contains "token CA: revoked certificate rejected" "$out" "certificate revoked"
finish
