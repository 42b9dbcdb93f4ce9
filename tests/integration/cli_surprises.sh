# What surprised a new user (issue 20, 9): `export --out NAME` writes what the
# name says (dave.pem a PEM, never a PFX), and refuses a --format the name
# contradicts; `ca init --ca NAME` makes the config's local CA in its "dir";
# `status` shows the token and the profile in its table; `publish` without a
# publisher configured says so and exits 8.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/w
mkdir -p "$W"
file_vault "$W" '"profiles": { "soft": { "base": "smime", "key_store": "software" } }'
D=dave@example.com
p11e enroll --software --email "$D" --profile soft >/dev/null 2>&1
check_eq "a software identity" done "$(record $D | jq -r .step)"

# --- export: the name says the format ---
cd "$W" || exit 1
p11e export "$D" --out dave.pem 2>/dev/null
check_eq "export --out dave.pem: exit 0" 0 $?
check "  a PEM certificate, not a PFX" openssl x509 -in dave.pem -noout
check_eq "  with its chain" 2 "$(grep -c 'BEGIN CERTIFICATE' dave.pem)"
check_eq "  mode 0644 (no secret in it)" 644 "$(stat -c %a dave.pem)"
p11e export "$D" --out dave.DER 2>/dev/null
check "export --out dave.DER: the certificate in DER" openssl x509 -inform DER -in dave.DER -noout
p11e export "$D" --out dave.cer 2>/dev/null
check "export --out dave.cer: DER" openssl x509 -inform DER -in dave.cer -noout
p11e export "$D" --out dave.crt 2>/dev/null
check "export --out dave.crt: PEM" openssl x509 -in dave.crt -noout
p11e export "$D" --format der --out dave2.crt 2>/dev/null
check "export --format der --out dave2.crt: a .crt may hold DER" openssl x509 -inform DER -in dave2.crt -noout
p11e export "$D" --out dave.p7b 2>/dev/null
check_eq "export --out dave.p7b: PKCS#7 with the chain" 2 \
	"$(openssl pkcs7 -inform DER -in dave.p7b -print_certs | grep -c 'BEGIN CERTIFICATE')"
p11e export "$D" --out dave.p12 2>/dev/null
check "export --out dave.p12: the PFX" cmp dave.p12 "$(store_pfx_file "$(record $D | jq -r .pfx_path)")"
check_eq "  mode 0600" 600 "$(stat -c %a dave.p12)"
p11e export "$D" --out dave-pfx 2>/dev/null
check "a name that says nothing: the default (the PFX)" cmp dave-pfx "$(store_pfx_file "$(record $D | jq -r .pfx_path)")"
n_audit=$(grep -c '"export"' <(audit_lines))
out=$(p11e export "$D" --format pfx --out other.pem 2>&1)
check_eq "export --format pfx --out other.pem: exit 2" 2 $?
check_contains "  names the field and both" "$out" "out: 'other.pem' is named as a PEM file, but --format is pfx"
check "  nothing written" test ! -e other.pem
check_eq "  nothing recorded as exported" "$n_audit" "$(grep -c '"export"' <(audit_lines))"
out=$(p11e export "$D" --format pem --out other.p12 2>&1)
check_eq "export --format pem --out other.p12: exit 2" 2 $?
cd - >/dev/null || exit 1

# --- what the README says of OpenSSL 3.0's -purpose smimeencrypt: it refuses
# an EC encryption certificate (keyAgreement, no keyEncipherment), though
# encryption to it works (if OpenSSL changes, the README's note goes) ---
check_eq "dave's key is EC" ec:P-256 "$(record $D | jq -r .key_type)"
check "  keyAgreement, no keyEncipherment" grep -q "Key Agreement" \
	<<<"$(openssl x509 -in "$W/dave.pem" -noout -ext keyUsage)"
check "  openssl verify -purpose smimeencrypt refuses it" \
	bash -c "! openssl verify -CAfile '$CA_DIR/ca.pem' -purpose smimeencrypt '$W/dave.pem'"
check "  openssl verify -purpose smimesign takes it" \
	openssl verify -CAfile "$CA_DIR/ca.pem" -purpose smimesign "$W/dave.pem"
PW=$(escrowed $D)
printf 'to dave\n' >"$W/msg"
openssl cms -encrypt -aes256 -in "$W/msg" -out "$W/msg.p7" "$W/dave.pem" 2>/dev/null
openssl pkcs12 -in "$W/dave.p12" -nocerts -nodes -passin "pass:$PW" -out "$W/dave.key" 2>/dev/null
check_eq "  yet encryption to it works" "to dave" \
	"$(openssl cms -decrypt -in "$W/msg.p7" -recip "$W/dave.pem" -inkey "$W/dave.key" 2>/dev/null | tr -d '\r')"
rm -f "$W/dave.key"

# --- ca init --ca NAME: the config's local CA, where enroll --ca NAME looks ---
cat >"$W/ca.json" <<JSON
{ "cas": { "corp": { "type": "local", "dir": "corp-ca" },
           "remote": { "type": "cfssl", "url": "https://127.0.0.1:1/" } },
  "default_ca": "corp" }
JSON
out=$(p11e --config "$W/ca.json" ca init --ca corp --subject "/O=Example/CN=Corp CA" 2>&1)
check_eq "ca init --ca corp: exit 0 ($out)" 0 $?
check "  made in the config's dir (relative to the config)" test -s "$W/corp-ca/ca.pem"
check_contains "  the subject given" "$(openssl x509 -in "$W/corp-ca/ca.pem" -noout -subject)" "Corp CA"
check "  the CA that --ca corp then uses" cmp <(p11e --config "$W/ca.json" ca cert --ca corp) "$W/corp-ca/ca.pem"
out=$(p11e --config "$W/ca.json" ca init --ca remote 2>&1)
check_eq "ca init --ca of a CA that is not local: exit 2" 2 $?
check_contains "  says so" "$out" "'remote' is a cfssl CA"
out=$(p11e --config "$W/ca.json" ca init --ca corp --dir "$W/x" 2>&1)
check_eq "ca init --ca and --dir: exit 2" 2 $?
out=$(p11e --config "$W/ca.json" ca init --ca nosuch 2>&1)
check_eq "ca init --ca of an unknown CA: exit 8" 8 $?
out=$(p11e --config "$W/ca.json" ca init 2>&1)
check_eq "ca init with neither: exit 2" 2 $?
check_contains "  names both ways" "$out" "--dir DIR or --ca NAME"

# --- status: token and profile columns ---
p11e enroll "$TEST_TOKEN_URI" --email tom@example.com --pin-source "$PIN_SRC" >/dev/null 2>&1
st=$(p11e status)
check_contains "status: a TOKEN and a PROFILE column" "$(head -n 1 <<<"$st")" "TOKEN            PROFILE"
check_eq "status: a software identity's token and profile" "software soft" \
	"$(awk -v d="$D" '$1 == d { print $4, $5 }' <<<"$st")"
check_eq "status: a token identity's serial and profile" \
	"$(record tom@example.com | jq -r '.token_serial + " " + .profile')" \
	"$(awk '$1 == "tom@example.com" { print $4, $5 }' <<<"$st")"

# --- publish with no publisher configured ---
out=$(p11e publish "$D" 2>&1)
check_eq "publish without publishers: exit 8" 8 $?
check_contains "  says so" "$out" "no publisher is configured"
out=$(p11e publish "$D" --json 2>&1)
check_eq "  also with --json: exit 8" 8 $?
finish
