# p11enroll escrow officer-init: escrow officers made by the tool. A key file
# (0600 PEM) and a key made on the SoftHSM token (EC), each with a certificate
# the vault accepts (keyEncipherment / keyAgreement, CA:FALSE) appended to the
# config's officer_certs_file; a software enrollment then escrows to both, and
# `escrow show --officer-key` with the file and with the pkcs11: URI reveals
# the PFX's password. A rerun adds nothing. An officer issued by the embedded
# CA. The vault refuses officer certificates that cannot decrypt: a CA
# certificate, a signing-only one.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/w
mkdir -p "$W"
conf() { # conf CERTS_FILE: a config with the embedded CA and a file vault on CERTS_FILE
	printf '{ "default_ca": "local:%s",\n  "vault": { "type": "file", "dir": "escrow", "officer_certs_file": "%s" } }\n' \
		"$CA_DIR" "$1" >"$W/config.json"
	export P11ENROLL_CONFIG=$W/config.json
}
ncerts() { grep -c "BEGIN CERTIFICATE" "$1" 2>/dev/null || echo 0; }
text_of() { # text_of FILE N: the Nth certificate of FILE, openssl x509 -text
	awk -v n="$2" '/BEGIN CERT/{i++} i==n' "$1" | openssl x509 -noout -text 2>&1
}
conf officers.pem

# --- a key file ---
out=$(p11e escrow officer-init --key-file "$W/officer.key" --subject "/CN=File Officer" 2>&1)
check_eq "officer-init --key-file ($out)" 0 $?
check_contains "says where" "$out" "added to $W/officers.pem"
check_eq "key file 0600" 600 "$(stat -c %a "$W/officer.key")"
check "key file is a private key" openssl pkey -in "$W/officer.key" -noout
check_eq "one certificate" 1 "$(ncerts "$W/officers.pem")"
t=$(text_of "$W/officers.pem" 1)
check_contains "RSA officer: keyEncipherment" "$t" "Key Encipherment"
check_contains "not a CA" "$t" "CA:FALSE"
check_contains "its subject" "$t" "CN = File Officer"
check_eq "the certificate is the key's" "$(openssl pkey -in "$W/officer.key" -pubout)" \
	"$(awk '/BEGIN CERT/{i++} i==1' "$W/officers.pem" | openssl x509 -noout -pubkey)"
out=$(p11e escrow officer-init --key-file "$W/officer.key" 2>&1)
check_eq "again: exit 0 ($out)" 0 $?
check_contains "again: already there" "$out" "was already in"
check_eq "again: still one certificate" 1 "$(ncerts "$W/officers.pem")"

# --- a key on the token (EC): made there, never a file ---
URI="$TEST_TOKEN_URI;object=officer2"
out=$(p11e escrow officer-init --key-uri "$URI" --key ec:P-256 --subject "/CN=Token Officer" \
	--officer-pin-source "$PIN_SRC" --json 2>&1)
check_eq "officer-init --key-uri ($out)" 0 $?
check_eq "two certificates" 2 "$(ncerts "$W/officers.pem")"
t=$(text_of "$W/officers.pem" 2)
check_contains "EC officer: keyAgreement" "$t" "Key Agreement"
check_contains "EC officer: not a CA" "$t" "CA:FALSE"
check_eq "the key is on the token" 1 \
	"$(p11tool_opensc --list-objects --type privkey | grep -c 'label: *officer2')"
key_uri=$(jq -r .officer_key <<<"$out")
check_contains "--json names the key's URI" "$key_uri" "pkcs11:"
out=$(p11e escrow officer-init --key-uri "$URI" --officer-pin-source "$PIN_SRC" 2>&1)
check_eq "token again: exit 0 ($out)" 0 $?
check_eq "token again: no second key, no second certificate" "1 2" \
	"$(p11tool_opensc --list-objects --type privkey | grep -c 'label: *officer2') $(ncerts "$W/officers.pem")"

# --- killed after the key is made, before its certificate: the rerun certifies that key ---
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	P11ENROLL_TEST_CRASH_AFTER=officer-key-made p11e escrow officer-init --key-file "$W/crash.key" \
		--out "$W/crash.pem" >/dev/null 2>&1
	check_eq "file: crash after the key" 86 $?
	check_eq "file: a key, no certificate" "600 0" "$(stat -c %a "$W/crash.key") $(ncerts "$W/crash.pem")"
	keep=$(openssl pkey -in "$W/crash.key" -pubout)
	out=$(p11e escrow officer-init --key-file "$W/crash.key" --out "$W/crash.pem" 2>&1)
	check_eq "file: the rerun ($out)" 0 $?
	check_eq "file: that key certified, once" "1 $keep" \
		"$(ncerts "$W/crash.pem") $(openssl x509 -in "$W/crash.pem" -noout -pubkey)"
	C_URI="$TEST_TOKEN_URI;object=crash"
	P11ENROLL_TEST_CRASH_AFTER=officer-key-made p11e escrow officer-init --key-uri "$C_URI" \
		--officer-pin-source "$PIN_SRC" --out "$W/crash2.pem" >/dev/null 2>&1
	check_eq "token: crash after the key" 86 $?
	out=$(p11e escrow officer-init --key-uri "$C_URI" --officer-pin-source "$PIN_SRC" --out "$W/crash2.pem" 2>&1)
	check_eq "token: the rerun ($out)" 0 $?
	check_eq "token: one key, one certificate" "1 1" \
		"$(p11tool_opensc --list-objects --type privkey | grep -c 'label: *crash$') $(ncerts "$W/crash2.pem")"
fi

# --- a software enrollment escrows to both; each officer reads the password ---
out=$(p11e enroll --software --email sw@example.com 2>&1)
check_eq "software enroll ($out)" 0 $?
pfx=$(store_pfx_file "$(record sw@example.com | jq -r .pfx_path)")
pw1=$(p11e escrow show sw@example.com --officer-key "$W/officer.key" 2>&1)
check_eq "escrow show with the key file" 0 $?
check "the password opens the PFX" openssl pkcs12 -in "$pfx" -passin "pass:$pw1" -noout
pw2=$(p11e escrow show sw@example.com --officer-key "$URI" --officer-pin-source "$PIN_SRC" 2>&1)
check_eq "escrow show with the pkcs11: URI ($pw2)" 0 $?
check_eq "both officers read the same password" "$pw1" "$pw2"
pw3=$(p11e escrow show sw@example.com --officer-key "$key_uri" --officer-pin-source "$PIN_SRC" 2>&1)
check_eq "the printed URI works as --officer-key" "$pw1" "$pw3"
check_contains "audited" "$(audit_lines)" '"escrow-officer-init"'

# --- issued by the embedded CA ---
out=$(p11e escrow officer-init --key-file "$W/o3.key" --ca "local:$CA_DIR" --email Officer3@example.com \
	--out "$W/o3.pem" 2>&1)
check_eq "officer-init --ca local ($out)" 0 $?
check_contains "issued by the CA: verifies" "$(openssl verify -CAfile "$CA_DIR/ca.pem" "$W/o3.pem" 2>&1)" ": OK"
t=$(openssl x509 -in "$W/o3.pem" -noout -text)
check_contains "CA-issued: keyEncipherment" "$t" "Key Encipherment"
check_contains "CA-issued: the address" "$t" "email:Officer3@example.com"
check_eq "--out: the config's file untouched" 2 "$(ncerts "$W/officers.pem")"

# --- bad input: one line, exit 2, nothing made ---
out=$(p11e escrow officer-init --key-file "$W/x.key" --key-uri "$URI" 2>&1)
check_eq "both key places: exit 2 ($out)" 2 $?
out=$(p11e escrow officer-init --key-file "$W/x.key" --key ed25519 2>&1)
check_eq "ed25519: exit 2 ($out)" 2 $?
check "ed25519: no key file" test ! -e "$W/x.key"
out=$(p11e escrow officer-init --key-file "$W/x.key" --ca "local:$CA_DIR" 2>&1)
check_eq "--ca without --email: exit 2 ($out)" 2 $?

# --- the vault refuses certificates that cannot decrypt, naming file and certificate ---
refused() { # refused WHAT CERTFILE NEEDLE: a vault on officers.pem + CERTFILE is refused
	cat "$W/officers.pem" "$2" >"$W/bad.pem"
	conf bad.pem
	out=$(p11e escrow list 2>&1)
	check_eq "$1: exit 8 ($out)" 8 $?
	check_contains "$1: names the file" "$out" "$W/bad.pem"
	check_contains "$1: says why" "$out" "$3"
	check_eq "$1: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	out=$(p11e enroll --software --email refused@example.com 2>&1)
	check "$1: no enrollment escrows to it ($out)" test $? -ne 0
	conf officers.pem
}
refused "the embedded CA's certificate" "$CA_DIR/ca.pem" "lacks keyUsage"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/sig.key" -out "$W/sig.pem" -days 30 \
	-subj "/CN=Signer" -addext basicConstraints=critical,CA:FALSE \
	-addext keyUsage=critical,digitalSignature 2>/dev/null
refused "a signing-only certificate" "$W/sig.pem" "CN=Signer"
refused "a signing-only certificate (why)" "$W/sig.pem" "lacks keyUsage keyEncipherment"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/ca2.key" -out "$W/ca2.pem" -days 30 \
	-subj "/CN=Some CA" 2>/dev/null
refused "a CA certificate without keyUsage" "$W/ca2.pem" "is a CA certificate"
# openssl req -x509 marks CA:TRUE by default: limited to keyEncipherment it is an officer.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/ok.key" -out "$W/ok.pem" -days 30 \
	-subj "/CN=Req Officer" -addext keyUsage=critical,keyEncipherment 2>/dev/null
cat "$W/officers.pem" "$W/ok.pem" >"$W/good.pem"
conf good.pem
out=$(p11e escrow list 2>&1)
check_eq "a keyEncipherment-only openssl req -x509 officer: accepted ($out)" 0 $?
finish
