# Software keys delivered as PKCS#12: `enroll --software` makes the key in
# memory and writes a PFX whose password is generated and escrowed in the
# file vault. Every client here reads the PFX with the password an escrow
# officer gets back from the vault with plain `openssl cms -decrypt`:
# OpenSSL (default and legacy files), NSS (pk12util into a fresh certutil
# database, the certificate paired with its key), GnuTLS certtool and
# Debian's python3-cryptography. S/MIME round trips with the key from the
# PFX. The password appears in no file of the state dir, no record, and no
# output of p11enroll.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/sw
mkdir -p "$W"
LOG=$W/p11enroll.log # every p11enroll stdout and stderr, searched for passwords at the end
: >"$LOG"
PASSWORDS=()

file_vault "$W" '"profiles": {
    "soft": { "base": "smime", "key_store": "software" },
    "soft-long": { "base": "smime", "key_store": "software", "pfx_password_length": 40,
                   "pfx_password_alphabet": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" },
    "soft-sign": { "base": "smime-sign", "key_store": "software" } }'
pfx_of() { echo "$P11ENROLL_STATE_DIR/pfx/${1,,}.p12"; }
mode_of() { stat -c %a "$1"; }

# --- the default PFX: AES-256, PBKDF2-HMAC-SHA256, SHA-256 MAC ---
A=alice@example.com
p11e_logged enroll --software --email "$A" --name "Alice Example"
check_eq "enroll --software: exit 0 ($OUT)" 0 $?
check_contains "enroll says the PFX is kept in the store" "$OUT" "kept in the store"
check_contains "  and how to get it out" "$OUT" "p11enroll export $A --out FILE.p12"
check_eq "record: the PFX is a document of the store" "store:$A" "$(record $A | jq -r .pfx_path)"
p11e export $A --out "$W/a-export.p12" 2>/dev/null
check "export writes out the very PFX the file store keeps in its layout" \
	cmp "$W/a-export.p12" "$(pfx_of $A)"
check_eq "record: key_store software" software "$(record $A | jq -r .key_store)"
check_eq "record: pfx_format aes-256" aes-256 "$(record $A | jq -r .pfx_format)"
check_eq "record: done" done "$(record $A | jq -r .step)"
check_eq "record: no token" null "$(record $A | jq -r .token_serial)"
check_eq "PFX is 0600" 600 "$(mode_of "$(pfx_of $A)")"
check_eq "no key file left in the state dir" 0 "$(find "$P11ENROLL_STATE_DIR/keys" -type f | wc -l)"
check_eq "no temp file left" 0 "$(find "$P11ENROLL_STATE_DIR" -name '*.tmp*' | wc -l)"
check_eq "escrow entry is 0600" 600 "$(mode_of "$W/escrow/$A.cms")"
PA=$(escrowed $A)
PASSWORDS+=("$PA")
check_eq "password: 24 characters" 24 "${#PA}"
check_eq "password: only the unambiguous alphabet" "" \
	"$(printf '%s' "$PA" | tr -d 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789')"
export PFXPASS=$PA
info=$(openssl pkcs12 -info -noout -in "$(pfx_of $A)" -passin env:PFXPASS 2>&1)
check_eq "openssl pkcs12 -info opens it" 0 $?
check_contains "MAC is SHA-256" "$info" "MAC: sha256"
check_contains "key bag: PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256" "$info" \
	"Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256"
check_contains "cert bags: PBES2 AES-256-CBC" "$info" \
	"PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256"
full=$(openssl pkcs12 -info -nokeys -in "$(pfx_of $A)" -passin env:PFXPASS 2>/dev/null)
check_eq "two certificates: the user's and the CA (the full chain)" 2 \
	"$(grep -c 'BEGIN CERTIFICATE' <<<"$full")"
check_contains "friendly name is the name" "$full" "friendlyName: Alice Example"
check_contains "localKeyID pairs key and certificate" "$full" "localKeyID:"
check_eq "the certificate is the recorded one" "$(record $A | jq -r .cert_sha256)" \
	"$(openssl pkcs12 -in "$(pfx_of $A)" -passin env:PFXPASS -clcerts -nokeys 2>/dev/null |
		openssl x509 -outform DER | sha256sum | cut -d' ' -f1)"
openssl pkcs12 -in "$(pfx_of $A)" -passin env:PFXPASS -nocerts -nodes -out "$W/a.key" 2>/dev/null
openssl pkcs12 -in "$(pfx_of $A)" -passin env:PFXPASS -clcerts -nokeys -out "$W/a.pem" 2>/dev/null
check_eq "key type is the profile's (ec:P-256)" "ASN1 OID: prime256v1" \
	"$(openssl pkey -in "$W/a.key" -text -noout | grep 'ASN1 OID')"
check_eq "the key is the certificate's" "$(openssl x509 -in "$W/a.pem" -pubkey -noout)" \
	"$(openssl pkey -in "$W/a.key" -pubout)"
check_eq "a wrong password does not open it" 1 \
	"$(openssl pkcs12 -info -noout -in "$(pfx_of $A)" -passin pass:wrong >/dev/null 2>&1; echo $?)"

# S/MIME: encrypt to the issued certificate, decrypt with the key from the PFX (ECDH).
echo "to Alice, for her eyes" >"$W/msg.txt"
openssl cms -encrypt -binary -aes256 -in "$W/msg.txt" -out "$W/msg.p7m" "$W/a.pem" 2>/dev/null
check_eq "cms -encrypt to the EC certificate" 0 $?
check_eq "cms -decrypt with the PFX's EC key" "to Alice, for her eyes" \
	"$(openssl cms -decrypt -binary -in "$W/msg.p7m" -recip "$W/a.pem" -inkey "$W/a.key" 2>/dev/null)"

# NSS: a fresh database, pk12util -i, the certificate listed with its key (u,u,u).
nss_import() { # nss_import PFX PASSWORD -> $NSSDB
	NSSDB=$W/nss-$RANDOM
	mkdir -p "$NSSDB"
	: >"$W/empty"
	printf '%s\n' "$2" >"$W/pk12pw"
	certutil -N -d "sql:$NSSDB" --empty-password &&
		pk12util -i "$1" -d "sql:$NSSDB" -w "$W/pk12pw" -k "$W/empty" >/dev/null 2>&1
	local rc=$?
	rm -f "$W/pk12pw"
	return $rc
}
nss_import "$(pfx_of $A)" "$PA"
check_eq "NSS pk12util -i imports the PFX" 0 $?
check_eq "NSS certutil -L: Alice's certificate, paired with its key (u,u,u)" "u,u,u" \
	"$(certutil -L -d "sql:$NSSDB" | grep '^Alice Example ' | awk '{print $NF}')"
check_contains "NSS certutil -L: the CA came along" "$(certutil -L -d "sql:$NSSDB")" \
	"p11enroll local CA"
check_contains "NSS certutil -K: the key, under the friendly name" \
	"$(certutil -K -d "sql:$NSSDB" -f "$W/empty" 2>&1)" "Alice Example"

# GnuTLS: certtool --p12-info, the password from a template file.
gnutls_info() { # gnutls_info PFX PASSWORD
	printf 'password = "%s"\n' "$2" >"$W/tmpl"
	certtool --p12-info --inder --infile "$1" --template "$W/tmpl" </dev/null 2>&1
	rm -f "$W/tmpl"
}
g=$(gnutls_info "$(pfx_of $A)" "$PA")
check_not_contains "certtool: MAC verifies" "$g" "verification failed"
check_not_contains "certtool: bags decrypt" "$g" "errors parsing"
check_contains "certtool: SHA-256 MAC" "$g" "MAC: SHA256"
check_contains "certtool: PBES2 AES-256" "$g" "Schema: PBES2-AES256-CBC"
check_contains "certtool: the key" "$g" "PKCS #8 Encrypted key"
check_contains "certtool: the friendly name" "$g" "Friendly name: Alice Example"

# Debian's python3-cryptography.
pyread() { # pyread PFX: "KEYTYPE|friendly name|number of extra certs|key matches cert"
	PYTHONIOENCODING=utf-8 /usr/bin/python3 - "$1" <<'PY'
import os, sys
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.serialization import pkcs12
data = open(sys.argv[1], "rb").read()
key, cert, extra = pkcs12.load_key_and_certificates(data, os.environb[b"PFXPASS"])
p = pkcs12.load_pkcs12(data, os.environb[b"PFXPASS"])
pub = lambda k: k.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
print("%s|%s|%d|%s" % (type(key).__name__.lstrip("_"), p.cert.friendly_name.decode(), len(extra),
                      pub(key.public_key()) == pub(cert.public_key())))
PY
}
check_eq "python3-cryptography load_key_and_certificates" \
	"EllipticCurvePrivateKey|Alice Example|1|True" "$(pyread "$(pfx_of $A)")"

# --- --pfx-legacy: 3DES and a SHA-1 MAC, RSA, --out ---
B=bob@example.com
mkdir -p "$W/out"
(cd "$W/out" && p11e_logged enroll --software --pfx-legacy --email "$B" --key rsa:2048 \
	--out bob.p12 && printf '%s\n' "$OUT" >"$W/bob.out")
check_eq "enroll --software --pfx-legacy --out (relative): exit 0" 0 $?
cat "$W/bob.out" >>"$LOG" 2>/dev/null
check_eq "--out relative to where enroll ran, recorded absolute" "$W/out/bob.p12" \
	"$(record $B | jq -r .pfx_path)"
check_eq "--out file is 0600" 600 "$(mode_of "$W/out/bob.p12")"
check_eq "record: pfx_format legacy" legacy "$(record $B | jq -r .pfx_format)"
PB=$(escrowed $B)
PASSWORDS+=("$PB")
export PFXPASS=$PB
info=$(openssl pkcs12 -info -noout -legacy -in "$W/out/bob.p12" -passin env:PFXPASS 2>&1)
check_eq "openssl pkcs12 -info -legacy opens it" 0 $?
check_contains "legacy: SHA-1 MAC" "$info" "MAC: sha1, Iteration 2048"
check_contains "legacy: key bag 3DES" "$info" "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC"
check_contains "legacy: cert bags 3DES (no RC2)" "$info" \
	"PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC"
check "OpenSSL 3 reads it without the legacy provider too (3DES, not RC2)" \
	openssl pkcs12 -info -noout -in "$W/out/bob.p12" -passin env:PFXPASS
nss_import "$W/out/bob.p12" "$PB"
check_eq "NSS imports the legacy PFX" 0 $?
check_eq "NSS: Bob's certificate paired with its key" "u,u,u" \
	"$(certutil -L -d "sql:$NSSDB" | grep "^$B " | awk '{print $NF}')"
g=$(gnutls_info "$W/out/bob.p12" "$PB")
check_not_contains "certtool reads the legacy PFX" "$g" "verification failed"
check_contains "certtool: SHA-1 MAC" "$g" "MAC: SHA1"
check_contains "certtool: 3DES" "$g" "PKCS12-3DES-SHA1"
check_eq "python3-cryptography reads the legacy PFX" "RSAPrivateKey|$B|1|True" \
	"$(pyread "$W/out/bob.p12")"
openssl pkcs12 -in "$W/out/bob.p12" -passin env:PFXPASS -nocerts -nodes -out "$W/b.key" 2>/dev/null
openssl pkcs12 -in "$W/out/bob.p12" -passin env:PFXPASS -clcerts -nokeys -out "$W/b.pem" 2>/dev/null
check_eq "legacy PFX: rsa:2048 key" "Private-Key: (2048 bit, 2 primes)" \
	"$(openssl pkey -in "$W/b.key" -text -noout | head -1)"
echo "to Bob" | openssl cms -encrypt -binary -aes256 -out "$W/bob.p7m" "$W/b.pem" 2>/dev/null
check_eq "S/MIME round trip with RSA (key transport)" "to Bob" \
	"$(openssl cms -decrypt -binary -in "$W/bob.p7m" -recip "$W/b.pem" -inkey "$W/b.key" 2>/dev/null)"

# --- the profile chooses: key_store software, the password's length and alphabet ---
C=carol@example.com
p11e_logged enroll --profile soft-long --email "$C" --name "Zoë Ångström"
check_eq "profile key_store software, no --software: exit 0 ($OUT)" 0 $?
check "the profile's PFX exists" test -f "$(pfx_of $C)"
PC=$(escrowed $C)
PASSWORDS+=("$PC")
check_eq "profile: password of 40 characters" 40 "${#PC}"
check_eq "profile: from its alphabet only" "" \
	"$(printf '%s' "$PC" | tr -d 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789')"
export PFXPASS=$PC
check "the profile's PFX opens with its password" \
	openssl pkcs12 -info -noout -in "$(pfx_of $C)" -passin env:PFXPASS
check_eq "a UTF-8 name is the friendly name, read back intact" \
	"EllipticCurvePrivateKey|Zoë Ångström|1|True" "$(pyread "$(pfx_of $C)")"
nss_import "$(pfx_of $C)" "$PC"
check_eq "NSS: the UTF-8 nickname, paired with its key" "u,u,u" \
	"$(certutil -L -d "sql:$NSSDB" | grep '^Zoë Ångström ' | awk '{print $NF}')"

# --- every key type of the token path ---
for kt in rsa:3072 ec:P-384 ec:P-521 ed25519; do
	e="kt-${kt//:/-}@example.com"
	prof=soft
	[ "$kt" = ed25519 ] && prof=soft-sign
	p11e_logged enroll --profile "$prof" --email "$e" --key "$kt"
	check_eq "$kt: enroll exit 0 ($OUT)" 0 $?
	p=$(escrowed "$e")
	PASSWORDS+=("$p")
	export PFXPASS=$p
	openssl pkcs12 -in "$(pfx_of "$e")" -passin env:PFXPASS -nocerts -nodes -out "$W/k.pem" 2>/dev/null
	openssl pkcs12 -in "$(pfx_of "$e")" -passin env:PFXPASS -clcerts -nokeys -out "$W/c.pem" 2>/dev/null
	check_eq "$kt: the PFX key is the certificate's" "$(openssl x509 -in "$W/c.pem" -pubkey -noout)" \
		"$(openssl pkey -in "$W/k.pem" -pubout)"
	case $kt in
	rsa:*) want="Private-Key: (${kt#rsa:} bit, 2 primes)" ;;
	ec:P-384) want="Private-Key: (384 bit)" ;;
	ec:P-521) want="Private-Key: (521 bit)" ;;
	ed25519) want="ED25519 Private-Key:" ;;
	esac
	check_eq "$kt: key type" "$want" "$(openssl pkey -in "$W/k.pem" -text -noout | head -1)"
	[ "$kt" = ed25519 ] || continue
	# Ed25519 signs only (OpenSSL 3.0's CMS cannot: no S/MIME here): a
	# signature by the PFX key verifies with the certificate.
	echo "signed by ed25519" >"$W/signed.txt"
	openssl pkeyutl -sign -rawin -inkey "$W/k.pem" -in "$W/signed.txt" -out "$W/sig" 2>/dev/null
	check_contains "ed25519: signs, verified with the certificate" \
		"$(openssl pkeyutl -verify -rawin -certin -inkey "$W/c.pem" -in "$W/signed.txt" \
			-sigfile "$W/sig" 2>&1)" "Signature Verified Successfully"
done
rm -f "$W/a.key" "$W/b.key" "$W/k.pem"

# --- a server identity in software ---
p11e_logged enroll --software --dns www.example.org
check_eq "enroll --software --dns: exit 0 ($OUT)" 0 $?
PS=$(escrowed www.example.org)
PASSWORDS+=("$PS")
export PFXPASS=$PS
check_contains "tls-server PFX holds a serverAuth certificate" \
	"$(openssl pkcs12 -in "$(pfx_of www.example.org)" -passin env:PFXPASS -clcerts -nokeys 2>/dev/null |
		openssl x509 -noout -ext extendedKeyUsage)" "TLS Web Server Authentication"

# --- refusals, before anything is made ---
p11e_logged enroll --software "$TEST_TOKEN_URI" --email d@example.com
check_eq "--software with a token URI: usage" 2 $?
p11e_logged enroll --software --email d@example.com --id 01
check_eq "--software with --id: usage" 2 $?
p11e_logged enroll "$TEST_TOKEN_URI" --pfx-legacy --email d@example.com --pin-source "$PIN_SRC"
check_eq "--pfx-legacy for a token key: usage" 2 $?
p11e_logged enroll --email d@example.com
check_eq "no URI and no software key store: usage" 2 $?
check_contains "says what to give" "$OUT" "--software"
echo "someone's file" >"$W/taken.p12"
p11e_logged enroll --software --email e@example.com --out "$W/taken.p12"
check_eq "--out an existing file: exists" 9 $?
check_eq "the existing file is untouched" "someone's file" "$(cat "$W/taken.p12")"
check "nothing escrowed for it" test ! -e "$W/escrow/e@example.com.cms"
check "no key file for it" test ! -e "$P11ENROLL_STATE_DIR/keys/e@example.com.p8"
p11e_logged enroll --software --email "$A"
check_eq "rerun of a finished software identity: exit 0" 0 $?
check_eq "its PFX is unchanged" "$(record $A | jq -r .cert_sha256)" \
	"$(PFXPASS=$PA openssl pkcs12 -in "$(pfx_of $A)" -passin env:PFXPASS -clcerts -nokeys 2>/dev/null |
		openssl x509 -outform DER | sha256sum | cut -d' ' -f1)"
# A new enrollment of an identity whose password is still escrowed: refused.
mv "$P11ENROLL_STATE_DIR/identities/$A.json" "$W/a-record.json"
mv "$(pfx_of $A)" "$W/a-old.p12"
p11e_logged enroll --software --email "$A"
check_eq "an escrowed password is never replaced: exists" 9 $?
check_contains "says why" "$OUT" "already holds a PFX password"
check_eq "the escrowed password is still the old one" "$PA" "$(escrowed $A)"
check "no PFX was made" test ! -e "$(pfx_of $A)"
# No vault configured: refused before a key exists.
jq 'del(.vault)' "$W/config.json" >"$W/novault.json"
P11ENROLL_CONFIG=$W/novault.json p11e_logged enroll --software --email f@example.com
check_eq "no vault: config error" 8 $?
check "no key file without a vault" test ! -e "$P11ENROLL_STATE_DIR/keys/f@example.com.p8"
check "no record without a vault" test ! -e "$P11ENROLL_STATE_DIR/identities/f@example.com.json"
# Profile checks at load.
jq '.profiles.weak = {"key_store": "software", "pfx_password_length": 8,
                      "pfx_password_alphabet": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"}' \
	"$W/config.json" >"$W/weak.json"
P11ENROLL_CONFIG=$W/weak.json p11e_logged status
check_eq "a profile password under 64 bits: config error" 8 $?
check_contains "names the bits" "$OUT" "40.0 bits"
jq '.profiles.amb = {"key_store": "software", "pfx_password_alphabet": "ABC0123456789xyz"}' \
	"$W/config.json" >"$W/amb.json"
P11ENROLL_CONFIG=$W/amb.json p11e_logged status
check_eq "an alphabet with 0 O 1 l I: config error" 8 $?
jq '.profiles.bad = {"key_store": "disk"}' "$W/config.json" >"$W/bad.json"
P11ENROLL_CONFIG=$W/bad.json p11e_logged status
check_eq "key_store neither token nor software: config error" 8 $?

state_layout_check "software enrollments"

# --- the passwords are nowhere but in the vault ---
check_eq "passwords collected" 8 "${#PASSWORDS[@]}"
for pw in "${PASSWORDS[@]}"; do
	[ -n "$pw" ] || { bad "an empty password was collected"; continue; }
	check_eq "password in no state dir file" "" "$(grep -rlF -- "$pw" "$P11ENROLL_STATE_DIR")"
	check_eq "password not in plain in the vault or the config" "" \
		"$(grep -rlF -- "$pw" "$W/escrow" "$W"/*.json)"
	check_eq "password in no p11enroll output" "" "$(grep -F -- "$pw" "$LOG")"
done
finish
