# Software keys survive a crash anywhere: crash after every step of the
# software pipeline (and in the windows between writing the escrow entry, the
# key file or the PFX and the record that notes it), then rerun. Each
# identity ends with one key (the public key seen before the crash is the
# certificate's), one PFX, one escrowed password that opens it, one CA
# issuance and no key file left. While the key waits, it is encrypted
# (PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256) under the escrowed password, and
# the password is in no file of the state dir and no output.
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "resume tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
W=$TEST_TMP/sw
mkdir -p "$W"
LOG=$W/p11enroll.log
: >"$LOG"
file_vault "$W"
S=$P11ENROLL_STATE_DIR
pfx_pub() { # pfx_pub PFX PASSWORD: the certificate's public key
	PW=$2 openssl pkcs12 -in "$1" -passin env:PW -clcerts -nokeys 2>/dev/null |
		openssl x509 -pubkey -noout 2>/dev/null
}
pfx_key_pub() { # the PFX key's public half
	PW=$2 openssl pkcs12 -in "$1" -passin env:PW -nocerts -nodes 2>/dev/null |
		openssl pkey -pubout 2>/dev/null
}

points=(new key-pending password-escrowed key-made key-generated csr-built ca-answered issued
	pfx-written key-deleted stored)
PASSWORDS=()
n=0
for point in "${points[@]}"; do
	n=$((n + 1))
	e="sw-$point@example.com"
	P11ENROLL_TEST_CRASH_AFTER=$point p11e enroll --software --email "$e" >>"$LOG" 2>&1
	check_eq "$point: the injected crash happened" 86 $?

	# What the crash left: the key, if one exists yet, from wherever it is.
	before=""
	pw=""
	[ -f "$W/escrow/$e.cms" ] && pw=$(escrowed "$e")
	keyfile=$S/keys/$e.p8
	if [ -f "$keyfile" ]; then
		check_eq "$point: key file 0600" 600 "$(stat -c %a "$keyfile")"
		check_eq "$point: key file is encrypted PKCS#8" "-----BEGIN ENCRYPTED PRIVATE KEY-----" \
			"$(head -1 "$keyfile")"
		parsed=$(openssl asn1parse -in "$keyfile" 2>&1)
		check_contains "$point: key file PBES2" "$parsed" ":PBES2"
		check_contains "$point: key file PBKDF2" "$parsed" ":PBKDF2"
		check_contains "$point: key file HMAC-SHA256" "$parsed" ":hmacWithSHA256"
		check_contains "$point: key file AES-256-CBC" "$parsed" ":aes-256-cbc"
		check_eq "$point: the key file opens only with the escrowed password" 1 \
			"$(openssl pkey -in "$keyfile" -passin pass:wrong -noout >/dev/null 2>&1; echo $?)"
		before=$(PW=$pw openssl pkey -in "$keyfile" -passin env:PW -pubout 2>/dev/null)
		check "$point: the escrowed password opens the key file" test -n "$before"
	fi
	csr=$(record "$e" | jq -r '.csr_pem // empty')
	if [ -n "$csr" ]; then
		csr_pub=$(openssl req -pubkey -noout <<<"$csr")
		[ -n "$before" ] && check_eq "$point: the CSR is for the key file's key" "$before" "$csr_pub"
		before=$csr_pub
	fi
	if [ -f "$S/pfx/$e.p12" ]; then
		pfx_before=$(pfx_pub "$S/pfx/$e.p12" "$pw")
		[ -n "$before" ] && check_eq "$point: the PFX is for that key" "$before" "$pfx_before"
		before=$pfx_before
	fi
	case $point in
	new | key-pending | password-escrowed) check_eq "$point: no key yet" "" "$before" ;;
	*) check "$point: the key is there to compare" test -n "$before" ;;
	esac

	# Resuming a key that exists needs its password back: the officer's key.
	if [ "$point" = key-made ]; then
		out=$(p11e enroll --software --email "$e" 2>&1)
		check_eq "$point: rerun without --officer-key: usage" 2 $?
		printf '%s\n' "$out" >>"$LOG"
		check_contains "$point: says to give --officer-key" "$out" "--officer-key"
		check_eq "$point: the key file is untouched" "$before" \
			"$(PW=$pw openssl pkey -in "$keyfile" -passin env:PW -pubout 2>/dev/null)"
	fi
	out=$(p11e enroll --software --email "$e" --officer-key "$W/officer.key" 2>&1)
	check_eq "$point: rerun resumes and finishes ($out)" 0 $?
	printf '%s\n' "$out" >>"$LOG"
	check_eq "$point: record is done" done "$(record "$e" | jq -r .step)"

	pw=$(escrowed "$e")
	PASSWORDS+=("$pw")
	pfx=$S/pfx/$e.p12
	check "$point: the escrowed password opens the PFX" \
		env PW="$pw" openssl pkcs12 -info -noout -in "$pfx" -passin env:PW
	after=$(pfx_pub "$pfx" "$pw")
	check_eq "$point: the PFX key is the certificate's" "$after" "$(pfx_key_pub "$pfx" "$pw")"
	[ -n "$before" ] && check_eq "$point: one key: the same before and after the crash" \
		"$before" "$after"
	check_eq "$point: PFX 0600" 600 "$(stat -c %a "$pfx")"
	check_eq "$point: one PFX per identity so far" "$n" "$(find "$S/pfx" -type f | wc -l)"
	check_eq "$point: one escrow entry per identity so far" "$n" \
		"$(find "$W/escrow" -type f -name '*.cms' | wc -l)"
	check_eq "$point: no key file left" 0 "$(find "$S/keys" -type f 2>/dev/null | wc -l)"
	check_eq "$point: no temp file left" 0 "$(find "$S" "$W/escrow" -name '*.tmp*' | wc -l)"
	check_eq "$point: the CA issued once for $e" 1 \
		"$(grep -c "\"request_key\": *\"$(record "$e" | jq -r .request_key)\"" \
			"$CA_DIR/index.jsonl")"
	check_eq "$point: the PFX holds the recorded certificate" \
		"$(record "$e" | jq -r .cert_sha256)" \
		"$(PW=$pw openssl pkcs12 -in "$pfx" -passin env:PW -clcerts -nokeys 2>/dev/null |
			openssl x509 -outform DER | sha256sum | cut -d' ' -f1)"
done

# A rerun of a finished identity changes nothing (but its lock file's note of the last
# holder) and needs no officer.
before=$(find "$S" "$W/escrow" -type f -exec sha256sum {} + | grep -v '/identities/\|/locks/' | sort)
p11e enroll --software --email sw-new@example.com >>"$LOG" 2>&1
check_eq "rerun when done: exit 0" 0 $?
check_eq "rerun when done: nothing changed" "$before" \
	"$(find "$S" "$W/escrow" -type f -exec sha256sum {} + | grep -v '/identities/\|/locks/' | sort)"

# A key file that does not open with the escrowed password is refused.
e=sw-tampered@example.com
P11ENROLL_TEST_CRASH_AFTER=key-made p11e enroll --software --email "$e" >>"$LOG" 2>&1
PW=other openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -aes-256-cbc \
	-pass env:PW -out "$W/other.p8" 2>/dev/null
cp "$W/other.p8" "$S/keys/$e.p8"
out=$(p11e enroll --software --email "$e" --officer-key "$W/officer.key" 2>&1)
check_eq "a key file under another password: refused as a wrong password" 3 $?
printf '%s\n' "$out" >>"$LOG"
check_contains "says the escrowed password does not open it" "$out" "does not open"
check "no PFX from it" test ! -e "$S/pfx/$e.p12"

for pw in "${PASSWORDS[@]}"; do
	[ -n "$pw" ] || { bad "an empty password was collected"; continue; }
	check_eq "password in no state dir file" "" "$(grep -rlF -- "$pw" "$S")"
	check_eq "password in no p11enroll output" "" "$(grep -F -- "$pw" "$LOG")"
done
finish
