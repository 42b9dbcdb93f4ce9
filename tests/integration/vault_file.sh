# The file vault through the CLI: `escrow show` prints a software identity's
# PFX password only with an escrow officer's key (RSA or EC, a file or a key
# on the token by URI), `export` writes the PFX or the certificate with its
# chain, and both leave audit records that are JSON lines without the
# password. The escrow entry here is made by openssl cms (interop: an entry
# written by another CMS tool reads back); the library's own puts, and openssl
# reading them, are tested in tests/unit/test_vault_file.c.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/w
mkdir -p "$W"
STATE=$P11ENROLL_STATE_DIR
mkdir -p "$STATE/identities" "$STATE/pfx"

# --- officers: an RSA and an EC key file, an RSA and an EC key on the token ---
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/rsa.key" -out "$W/rsa.pem" -days 30 \
	-subj "/CN=RSA Officer" -addext keyUsage=keyEncipherment 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ec.key" \
	-out "$W/ec.pem" -days 30 -subj "/CN=EC Officer" -addext keyUsage=keyAgreement 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/outsider.key" -out "$W/outsider.pem" \
	-days 30 -subj "/CN=Outsider" 2>/dev/null
# Officers on the token are enrolled by p11enroll itself (smime: CKA_DECRYPT
# for RSA, CKA_DERIVE for EC, beside CKA_SIGN for the CSR).
for o in officer-rsa:rsa:2048 officer-ec:ec:P-256; do
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "${o%%:*}@example.com" --key "${o#*:}" \
		--profile smime --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
	check_eq "enroll the token officer ${o%%:*} ($out)" 0 $?
	record "${o%%:*}@example.com" | jq -r .cert_pem >"$W/${o%%:*}.pem"
done
cat "$W/rsa.pem" "$W/ec.pem" "$W/officer-rsa.pem" "$W/officer-ec.pem" >"$W/officers.pem"
tok_rsa="$TEST_TOKEN_URI;id=$(pct_id "$(key_id officer-rsa@example.com)")"
tok_ec="$TEST_TOKEN_URI;object=officer-ec@example.com"

cat >"$W/config.json" <<EOF
{ "vault": { "type": "file", "dir": "escrow", "officer_certs_file": "officers.pem" },
  "audit_log": "audit/audit.jsonl" }
EOF
export P11ENROLL_CONFIG=$W/config.json
AUDIT=$W/audit/audit.jsonl

# --- a software identity: key and PFX made in software, password escrowed ---
PW='pfx-Pa55-w0rd-8d1f'
printf '%s\n' "$PW" >"$W/pw"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/sam.key" \
	-subj "/CN=Sam" -out "$W/sam.csr" 2>/dev/null
openssl x509 -req -in "$W/sam.csr" -CA "$CA_DIR/ca.pem" -CAkey "$CA_DIR/ca.key" \
	-CAcreateserial -days 30 -out "$W/sam.pem" 2>/dev/null
openssl pkcs12 -export -inkey "$W/sam.key" -in "$W/sam.pem" -certfile "$CA_DIR/ca.pem" \
	-passout "file:$W/pw" -out "$STATE/pfx/sam.p12"
jq -n --rawfile cert "$W/sam.pem" --rawfile chain "$CA_DIR/ca.pem" --arg pfx "$STATE/pfx/sam.p12" \
	'{version: 1, identity: "sam@example.com", step: "done", key_store: "software",
	  pfx_path: $pfx, cert_pem: $cert, chain_pem: $chain, key_type: "ec:P-256"}' \
	>"$STATE/identities/sam@example.com.json"
mkdir -p "$W/escrow"
printf '%s' "$PW" | openssl cms -encrypt -binary -aes-256-gcm -outform DER \
	-out "$W/escrow/sam@example.com.cms" \
	-recip "$W/rsa.pem" -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 \
	-recip "$W/ec.pem" -recip "$W/officer-rsa.pem" -keyopt rsa_padding_mode:oaep \
	-recip "$W/officer-ec.pem"

# --- escrow show ---
out=$(p11e escrow show sam@example.com 2>"$W/err")
check_eq "show without an officer key: exit 2" 2 $?
check_eq "  nothing on stdout" "" "$out"
check_contains "  says what is needed" "$(cat "$W/err")" "--officer-key"

out=$(p11e escrow show SAM@example.com --officer-key "$W/rsa.key" 2>"$W/err")
check_eq "show with the RSA officer key file ($(cat "$W/err"))" 0 $?
check_eq "  prints the password alone" "$PW" "$out"
out=$(p11e escrow show sam@example.com --officer-key "file:$W/ec.key")
check_eq "show with the EC officer key file" "$PW" "$out"
out=$(p11e escrow show sam@example.com --officer-key "$tok_rsa" --officer-pin-source "$PIN_SRC" 2>"$W/err")
check_eq "show with the RSA officer key on the token ($(cat "$W/err"))" "$PW" "$out"
out=$(p11e escrow show sam@example.com --officer-key "$tok_ec?pin-source=$PIN_SRC" 2>"$W/err")
check_eq "show with the EC officer key on the token ($(cat "$W/err"))" "$PW" "$out"
out=$(p11e escrow show sam@example.com --json --officer-key "$W/rsa.key" | jq -r .password)
check_eq "show --json" "$PW" "$out"

out=$(p11e escrow show sam@example.com --officer-key "$W/outsider.key" 2>"$W/err")
check_eq "show with a key that is no officer's: exit 2" 2 $?
check_eq "  nothing on stdout" "" "$out"
check_contains "  one clear line" "$(cat "$W/err")" "not an escrow officer's"
check_eq "  one line only" 1 "$(wc -l <"$W/err")"
out=$(p11e escrow show sam@example.com --officer-key "$TEST_TOKEN_URI;object=officer-rsa@example.com" \
	--officer-pin-source "file:$W/pw" 2>"$W/err")
check_eq "show with the wrong token PIN: exit 3" 3 $?
out=$(p11e escrow show nobody@example.com --officer-key "$W/rsa.key" 2>"$W/err")
check_eq "show an unknown identity: exit 10" 10 $?
check_contains "  says so" "$(cat "$W/err")" "no secret escrowed for 'nobody@example.com'"
out=$(p11e escrow show officer-rsa@example.com --officer-key "$W/rsa.key" 2>"$W/err")
check_eq "show a token identity: exit 10" 10 $?
check_contains "  says why" "$(cat "$W/err")" "key on the token"
cp "$W/escrow/sam@example.com.cms" "$W/sam.cms.bak"
head -c 100 "$W/sam.cms.bak" >"$W/escrow/sam@example.com.cms"
out=$(p11e escrow show sam@example.com --officer-key "$W/rsa.key" 2>"$W/err")
check_eq "a damaged entry: exit 1" 1 $?
check_eq "  nothing on stdout" "" "$out"
cp "$W/sam.cms.bak" "$W/escrow/sam@example.com.cms"
out=$(p11e escrow list)
check_eq "escrow list" "sam@example.com" "$out"

# --- export ---
p11e export sam@example.com --out "$W/sam-export.p12" 2>/dev/null
check_eq "export (default pfx) --out" 0 $?
check "  the PFX as written" cmp "$W/sam-export.p12" "$STATE/pfx/sam.p12"
check_eq "  mode 0600" 600 "$(stat -c %a "$W/sam-export.p12")"
# "download certificate" + "show me my password": the two open the PFX.
PW2=$(p11e escrow show sam@example.com --officer-key "$W/ec.key")
printf '%s\n' "$PW2" >"$W/pw2"
check "  opens with the escrowed password" \
	openssl pkcs12 -in "$W/sam-export.p12" -passin "file:$W/pw2" -noout
p11e export sam@example.com --format pfx --out "$W/sam-export.p12" 2>"$W/err"
check_eq "export onto an existing file: exit 9" 9 $?
check "  the file is untouched" cmp "$W/sam-export.p12" "$STATE/pfx/sam.p12"
p11e export sam@example.com >"$W/sam-stdout.p12"
check "export pfx to a pipe" cmp "$W/sam-stdout.p12" "$STATE/pfx/sam.p12"
p11e export sam@example.com --format pem --out "$W/sam-chain.pem" 2>/dev/null
check_eq "export pem" 0 $?
check_eq "  certificate and chain" 2 "$(grep -c 'BEGIN CERTIFICATE' "$W/sam-chain.pem")"
check "  verifies against the CA" openssl verify -CAfile "$CA_DIR/ca.pem" "$W/sam-chain.pem"
check_eq "  mode 0644" 644 "$(stat -c %a "$W/sam-chain.pem")"
p11e export sam@example.com --format der >"$W/sam.der"
check "export der" cmp <(openssl x509 -inform DER -in "$W/sam.der" -outform DER) "$W/sam.der"
check_eq "  is the certificate" "$(openssl x509 -in "$W/sam.pem" -noout -fingerprint)" \
	"$(openssl x509 -inform DER -in "$W/sam.der" -noout -fingerprint)"
p11e export sam@example.com --format p7b >"$W/sam.p7b"
check_eq "export p7b: certificate and chain" 2 \
	"$(openssl pkcs7 -inform DER -in "$W/sam.p7b" -print_certs | grep -c 'BEGIN CERTIFICATE')"
out=$(p11e export officer-rsa@example.com)
check_contains "a token identity exports pem by default" "$out" "BEGIN CERTIFICATE"
p11e export officer-rsa@example.com --format pfx >/dev/null 2>"$W/err"
check_eq "  but has no pfx: exit 10" 10 $?
p11e export nobody@example.com --format pem >/dev/null 2>"$W/err"
check_eq "export an unknown identity: exit 10" 10 $?
check_contains "  says so" "$(cat "$W/err")" "no identity 'nobody@example.com'"
p11e export sam@example.com --format zip >/dev/null 2>"$W/err"
check_eq "export --format zip: exit 2" 2 $?

out=$(p11e escrow show sam@example.com --officer-key "$TEST_TOKEN_URI;object=officer-rsa@example.com?pin-value=$TEST_PIN" 2>&1)
check_eq "a PIN in the officer key's URI: exit 2" 2 $?

# --- end to end: a software enrollment escrows through this vault ---
out=$(p11e enroll --software --email zoe@example.com --ca "local:$CA_DIR" 2>&1)
check_eq "enroll --software ($out)" 0 $?
check_eq "  escrowed 0600" 600 "$(stat -c %a "$W/escrow/zoe@example.com.cms")"
ZPW=$(p11e escrow show zoe@example.com --officer-key "$tok_ec" --officer-pin-source "$PIN_SRC")
check_eq "  its password shows with the token officer's key" 0 $?
printf '%s\n' "$ZPW" >"$W/zpw"
check_eq "  openssl reads the same entry by hand" "$ZPW" \
	"$(openssl cms -decrypt -inform DER -in "$W/escrow/zoe@example.com.cms" -recip "$W/rsa.pem" -inkey "$W/rsa.key")"
p11e export zoe@example.com --out "$W/zoe.p12" 2>/dev/null
check "  the exported PFX opens with it" openssl pkcs12 -in "$W/zoe.p12" -passin "file:$W/zpw" -noout
out=$(p11e escrow show zoe@example.com --officer-key "$W/outsider.key" 2>&1)
check_eq "  but not with another key" 2 $?

# --- the audit log ---
check_eq "audit log mode 0600" 600 "$(stat -c %a "$AUDIT")"
check "every line is JSON" jq -e . "$AUDIT"
check_eq "one line per show and export" 25 "$(wc -l <"$AUDIT")"
check_eq "no line holds the password" 0 "$(grep -cF "$PW" "$AUDIT")"
check_eq "  nor a PIN given in a URI" 0 "$(grep -c "pin-value=" "$AUDIT")"
check_eq "shows recorded" 15 "$(jq -r 'select(.action == "escrow-show") | .identity' "$AUDIT" | wc -l)"
first=$(grep -m1 '"outcome":"ok"' "$AUDIT")
check_eq "who" "$(id -un)" "$(jq -r .user <<<"$first")"
check_eq "which identity" sam@example.com "$(jq -r .identity <<<"$first")"
check_eq "which vault" file "$(jq -r .vault <<<"$first")"
check_contains "when" "$(jq -r .time <<<"$first")" "$(date -u +%Y-%m-%dT)"
check_eq "failures are recorded with their code" 2 \
	"$(jq -r 'select(.outcome == "usage") | .error' "$AUDIT" | grep -c 'not an escrow officer')"
check_eq "exports record the format" "pfx pfx pfx pem der p7b pem pfx pem pfx" \
	"$(jq -r 'select(.action == "export") | .format' "$AUDIT" | tr '\n' ' ' | sed 's/ $//')"

# Without a writable audit log, nothing is shown or exported.
cat >"$W/config-noaudit.json" <<EOF
{ "vault": { "type": "file", "dir": "escrow", "officer_certs_file": "officers.pem" },
  "audit_log": "audit" }
EOF
out=$(p11e escrow show sam@example.com --config "$W/config-noaudit.json" --officer-key "$W/rsa.key" 2>"$W/err")
check_eq "show without an audit log: exit 1" 1 $?
check_eq "  nothing shown" "" "$out"
check_contains "  says why" "$(cat "$W/err")" "the password was not shown"
p11e export sam@example.com --config "$W/config-noaudit.json" --out "$W/never.p12" 2>"$W/err"
check_eq "export without an audit log: exit 1" 1 $?
check "  nothing written" test ! -e "$W/never.p12"

# No vault configured: exit 8.
echo '{}' >"$W/config-novault.json"
p11e escrow show sam@example.com --config "$W/config-novault.json" --officer-key "$W/rsa.key" 2>"$W/err"
check_eq "no vault in the config: exit 8" 8 $?
finish
