# Key archival: `enroll URI --archive` makes an encryption key in software,
# escrows its PFX (password in the file vault), then imports the key onto the
# token (sensitive, not extractable) with the certificate under the same
# CKA_ID. S/MIME round trips: openssl cms -encrypt to the issued certificate,
# decrypted through the pkcs11 engine with the token key and with the key
# from the PFX (its password read back with `escrow show`), then again with
# the key `recover` put onto a second SoftHSM token. A crash around the
# import and a rerun end with one key, one certificate, one PFX and one
# escrow entry. Refusals have their documented exit codes; the password is
# in no state file, output or audit record.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/ar
mkdir -p "$W"
LOG=$W/p11enroll.log # every p11enroll output, searched for passwords at the end
: >"$LOG"
PASSWORDS=()
S=$P11ENROLL_STATE_DIR
file_vault "$W"
printf '%s' "$TEST_PIN" >"$W/engine.pin" # the engine reads it verbatim
echo "for the archive's eyes only" >"$W/msg.txt"
# on_token LABEL ARGS...: pkcs11-tool logged in to the token labelled LABEL.
on_token() {
	local label=$1
	shift
	pkcs11-tool --module "$PKCS11_TOOL_MODULE" --token-label "$label" --login \
		--pin env:TEST_PIN "$@" 2>/dev/null
}
count_on() { # count_on LABEL TYPE ID
	on_token "$1" --list-objects --type "$2" | grep -ci "^ *ID: *$3\$" || true
}
engine_decrypt() { # engine_decrypt TOKENLABEL ID CERT P7M
	openssl cms -decrypt -binary -engine pkcs11 -keyform engine \
		-inkey "pkcs11:token=$1;id=$(pct_id "$2");type=private?pin-source=file:$W/engine.pin" \
		-recip "$3" -in "$4" 2>/dev/null
}
# The lines of the one object with CKA_ID $1 in a pkcs11-tool --list-objects
# listing (its --id does not filter the listing).
object_block() {
	awk -v id="$1" '/^[^ ]/ { if (hit) printf "%s", blk; blk = ""; hit = 0 }
		{ blk = blk $0 "\n"; if ($1 == "ID:" && tolower($2) == tolower(id)) hit = 1 }
		END { if (hit) printf "%s", blk }'
}
# The attributes pkcs11-tool shows for the private key under ID on a token.
# An imported key is sensitive and not extractable; CKA_ALWAYS_SENSITIVE and
# CKA_NEVER_EXTRACTABLE are false (its value was outside the token once),
# and it is not "local" (not generated there): so "Access: sensitive" alone,
# where a key generated on the token shows "sensitive, always sensitive,
# never extractable, local".
check_token_key() { # check_token_key WHAT LABEL ID KT
	local what=$1 label=$2 id=$3 kt=$4 objs usage access flags
	objs=$(on_token "$label" --list-objects --type privkey | object_block "$id")
	access=$(grep -i "Access:" <<<"$objs" | sed 's/^ *Access: *//')
	usage=$(grep -i "Usage:" <<<"$objs" | sed 's/^ *Usage: *//')
	check_eq "$what: private key sensitive, not extractable" "sensitive" "$access"
	if [ "${kt%%:*}" = rsa ]; then
		check_eq "$what: usage decrypt, unwrap (keyEncipherment), no sign" "decrypt, unwrap" "$usage"
	else
		check_eq "$what: usage derive (keyAgreement), no sign" "derive" "$usage"
	fi
	# GnuTLS's p11tool names the flags set: CKA_EXTRACTABLE would be one.
	flags=$(p11tool --provider "$SOFTHSM_MODULE" --login --list-all-privkeys \
		"pkcs11:token=$label;id=$(pct_id "$id")" 2>/dev/null | grep "Flags:" | grep -o 'CKA_[A-Z_/]*' | sort | tr '\n' ' ')
	check_eq "$what: p11tool: private, sensitive, not extractable" "CKA_PRIVATE CKA_SENSITIVE " \
		"${flags//CKA_WRAP\/UNWRAP /}"
	check_eq "$what: one private key under the ID" 1 "$(count_on "$label" privkey "$id")"
	check_eq "$what: one public key under the ID" 1 "$(count_on "$label" pubkey "$id")"
	check_eq "$what: one certificate under the ID" 1 "$(count_on "$label" cert "$id")"
}

declare -A ID
# P-521: the private scalar goes in as 66 bytes whatever its leading zeros.
for kt in rsa:2048 ec:P-256 ec:P-521; do
	e="arch-${kt//:/-}@example.com"
	e=${e,,}
	p11e_logged enroll "$TEST_TOKEN_URI" --archive --email "$e" --key "$kt" \
		--profile smime-encrypt --pin-source "$PIN_SRC"
	check_eq "$kt: enroll --archive: exit 0 ($OUT)" 0 $?
	check_contains "$kt: says archived and imported" "$OUT" "imported onto token"
	check_eq "$kt: record key_store archived" archived "$(record "$e" | jq -r .key_store)"
	check_eq "$kt: record done" done "$(record "$e" | jq -r .step)"
	id=$(key_id "$e")
	ID[$kt]=$id
	check_eq "$kt: the PFX is kept in the store" "store:$e" "$(record "$e" | jq -r .pfx_path)"
	pfx=$(store_pfx_file "$(record "$e" | jq -r .pfx_path)")
	check_eq "$kt: the PFX stays in the state dir" "$S/pfx/$e.p12" "$pfx"
	check_eq "$kt: PFX 0600" 600 "$(stat -c %a "$pfx")"
	check_eq "$kt: no key file left" 0 "$(find "$S/keys" -type f 2>/dev/null | wc -l)"
	check_token_key "$kt" test "$id" "$kt"
	token_cert "$id" "$W/$kt.pem"
	check_eq "$kt: the token's certificate is the recorded one" "$(record "$e" | jq -r .cert_sha256)" \
		"$(openssl x509 -in "$W/$kt.pem" -outform DER | sha256sum | cut -d' ' -f1)"
	check_eq "$kt: CKA_ID is the certificate's SKI" "$id" \
		"$(openssl x509 -in "$W/$kt.pem" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' :' | tr A-F a-f)"
	check_eq "$kt: the token's public key is the certificate's" \
		"$(openssl x509 -in "$W/$kt.pem" -pubkey -noout)" \
		"$(on_token test --read-object --type pubkey --id "$id" | openssl pkey -pubin -inform DER 2>/dev/null)"

	# (a) through the pkcs11 engine with the token key.
	openssl cms -encrypt -binary -aes256 -in "$W/msg.txt" -out "$W/$kt.p7m" "$W/$kt.pem" 2>/dev/null
	check_eq "$kt: cms -encrypt to the certificate" 0 $?
	check_eq "$kt: decrypted through the pkcs11 engine with the token key" \
		"$(cat "$W/msg.txt")" "$(engine_decrypt test "$id" "$W/$kt.pem" "$W/$kt.p7m")"
	# (b) with the key from the PFX, its password from `escrow show`.
	p11e escrow show "$e" --officer-key "$W/officer.key" >"$W/pw" 2>>"$LOG"
	check_eq "$kt: escrow show: exit 0" 0 $?
	pw=$(cat "$W/pw")
	rm -f "$W/pw"
	PASSWORDS+=("$pw")
	PW=$pw openssl pkcs12 -in "$pfx" -passin env:PW -nocerts -nodes -out "$W/$kt.key" 2>/dev/null
	check_eq "$kt: the PFX opens with the escrowed password" 0 $?
	check_eq "$kt: decrypted with the key from the PFX" "$(cat "$W/msg.txt")" \
		"$(openssl cms -decrypt -binary -in "$W/$kt.p7m" -recip "$W/$kt.pem" -inkey "$W/$kt.key" 2>/dev/null)"
	rm -f "$W/$kt.key"
	# A rerun finds it done.
	p11e_logged enroll "$TEST_TOKEN_URI" --email "$e" --pin-source "$PIN_SRC"
	check_eq "$kt: rerun when done: exit 0" 0 $?
	check_eq "$kt: still one private key" 1 "$(count_on test privkey "$id")"
done

# --- the card is lost: recover onto a second token ---
# Fixture only: softhsm2-util takes PINs as arguments; p11enroll never does.
softhsm2-util --init-token --free --label second --so-pin 12345678 --pin "$TEST_PIN" >/dev/null
for kt in rsa:2048 ec:P-256 ec:P-521; do
	e="arch-${kt//:/-}@example.com"
	id=${ID[$kt]}
	p11e_logged recover "$e" "pkcs11:token=second" --officer-key "$W/officer.key" --pin-source "$PIN_SRC"
	check_eq "$kt: recover onto token 'second': exit 0 ($OUT)" 0 $?
	check_contains "$kt: recover says imported" "$OUT" "imported onto token 'second'"
	check_token_key "$kt recovered" second "$id" "$kt"
	check_eq "$kt: decrypted through the pkcs11 engine with the recovered key" \
		"$(cat "$W/msg.txt")" "$(engine_decrypt second "$id" "$W/$kt.pem" "$W/$kt.p7m")"
	check_contains "$kt: the chain came along" \
		"$(on_token second --list-objects --type cert)" "p11enroll local CA"
	p11e_logged recover "$e" "pkcs11:token=second" --officer-key "$W/officer.key" --pin-source "$PIN_SRC"
	check_eq "$kt: recover again: exit 0" 0 $?
	check_contains "$kt: says it was already there" "$OUT" "already on token 'second'"
	check_eq "$kt: still one private key on 'second'" 1 "$(count_on second privkey "$id")"
	check_eq "$kt: still one certificate on 'second'" 1 "$(count_on second cert "$id")"
done
audit=$(grep '"action":"recover"' "$S/audit.jsonl")
check_eq "recover: six runs, two audit records each" 12 "$(wc -l <<<"$audit")"
check_contains "audit: names the officer" "$audit" '"officer":"/CN=Escrow Officer"'
check_contains "audit: names the token" "$audit" '"token_label":"second"'
check_contains "audit: the import's outcome" "$audit" '"stage":"imported","outcome":"ok"'

# --- the PFX from elsewhere: --pfx ---
softhsm2-util --init-token --free --label third --so-pin 12345678 --pin "$TEST_PIN" >/dev/null
e=arch-ec-p-256@example.com
id=${ID[ec:P-256]}
mv "$S/pfx/$e.p12" "$W/moved.p12"
p11e_logged recover "$e" "pkcs11:token=third" --officer-key "$W/officer.key" --pin-source "$PIN_SRC"
check_eq "recover with the PFX gone: not found" 10 $?
check_contains "says to give --pfx" "$OUT" "--pfx FILE"
p11e_logged recover "$e" "pkcs11:token=third" --officer-key "$W/officer.key" --pin-source "$PIN_SRC" \
	--pfx "$S/pfx/arch-rsa-2048@example.com.p12"
check_eq "recover with another identity's PFX: refused" 1 $?
check_contains "says it is not this identity's PFX" "$OUT" "not this identity's PFX"
check_eq "nothing went onto 'third'" 0 "$(count_on third privkey "$id")"
p11e_logged recover "$e" "pkcs11:token=third" --officer-key "$W/officer.key" --pin-source "$PIN_SRC" \
	--pfx "$W/moved.p12"
check_eq "recover --pfx FILE: exit 0 ($OUT)" 0 $?
check_eq "the key is on 'third'" 1 "$(count_on third privkey "$id")"
check_eq "decrypted with the key on 'third'" "$(cat "$W/msg.txt")" \
	"$(engine_decrypt third "$id" "$W/ec:P-256.pem" "$W/ec:P-256.p7m")"
mv "$W/moved.p12" "$S/pfx/$e.p12"

# --- a dual-use key (profile smime): archived, and it signs as its certificate allows ---
e=dual@example.com
p11e_logged enroll "$TEST_TOKEN_URI" --archive --email "$e" --key rsa:2048 --profile smime \
	--pin-source "$PIN_SRC"
check_eq "smime --archive: exit 0 ($OUT)" 0 $?
id=$(key_id "$e")
usage=$(on_token test --list-objects --type privkey | object_block "$id" | grep -i "Usage:")
check_contains "smime: the key decrypts" "$usage" "decrypt"
check_contains "smime: and signs (digitalSignature)" "$usage" "sign"
token_cert "$id" "$W/dual.pem"
openssl cms -sign -binary -engine pkcs11 -keyform engine -signer "$W/dual.pem" \
	-inkey "pkcs11:token=test;id=$(pct_id "$id");type=private?pin-source=file:$W/engine.pin" \
	-in "$W/msg.txt" -out "$W/dual.sig" 2>/dev/null
check_eq "smime: cms -sign with the imported key" 0 $?
check "smime: the signature verifies" openssl cms -verify -binary -in "$W/dual.sig" \
	-CAfile "$CA_DIR/ca.pem" -out /dev/null

# --- refusals ---
p11e_logged recover nobody@example.com "pkcs11:token=second" --officer-key "$W/officer.key" \
	--pin-source "$PIN_SRC"
check_eq "recover an unknown identity: not found" 10 $?
check_contains "says there is no record" "$OUT" "no enrollment record"
p11e_logged enroll "$TEST_TOKEN_URI" --email tok@example.com --profile smime-encrypt --pin-source "$PIN_SRC"
check_eq "a token-only enrollment: exit 0" 0 $?
p11e_logged recover tok@example.com "pkcs11:token=second" --officer-key "$W/officer.key" \
	--pin-source "$PIN_SRC"
check_eq "recover a never-archived identity: not found" 10 $?
check_contains "says it was never archived" "$OUT" "never archived"
check_contains "audit: the refusal is recorded" "$(tail -1 "$S/audit.jsonl")" '"outcome":"not-found"'
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out "$W/stranger.key" 2>/dev/null
p11e_logged recover arch-rsa-2048@example.com "pkcs11:token=second" --officer-key "$W/stranger.key" \
	--pin-source "$PIN_SRC"
check_eq "recover with a key that is no officer's: usage" 2 $?
check_contains "says whose key it is not" "$OUT" "not an escrow officer's"
p11e_logged recover arch-rsa-2048@example.com "pkcs11:token=second" --pin-source "$PIN_SRC" </dev/null
rc=$?
check "recover without an officer key (file vault): refused ($rc: $OUT)" test "$rc" -ne 0
p11e_logged enroll --software --archive --email x@example.com
check_eq "--archive with --software: usage" 2 $?
p11e_logged enroll --archive --email x@example.com --profile smime-encrypt
check_eq "--archive without a token URI: usage" 2 $?
p11e_logged enroll "$TEST_TOKEN_URI" --archive --email x@example.com --profile smime-sign \
	--pin-source "$PIN_SRC"
check_eq "--archive of a signing-only key: usage" 2 $?
check_contains "says only encryption keys are archived" "$OUT" "only encryption keys"
check "nothing escrowed for the refused ones" test ! -e "$W/escrow/x@example.com.cms"
p11e_logged enroll "$TEST_TOKEN_URI" --archive --email tok@example.com --pin-source "$PIN_SRC"
check_eq "--archive on a rerun of a token enrollment: exists" 9 $?

# --- a crash around the import, then a rerun ---
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	n=0
	pfx0=$(find "$S/pfx" -type f | wc -l)
	cms0=$(find "$W/escrow" -name '*.cms' | wc -l)
	for point in key-made issued pfx-written key-deleted private-key-imported key-imported \
		cert-written stored; do
		n=$((n + 1))
		e="crash-$point@example.com"
		P11ENROLL_TEST_CRASH_AFTER=$point p11e enroll "$TEST_TOKEN_URI" --archive --email "$e" \
			--profile smime-encrypt --pin-source "$PIN_SRC" >>"$LOG" 2>&1
		check_eq "$point: the injected crash happened" 86 $?
		if [ "$point" = private-key-imported ]; then
			p11e_logged enroll "$TEST_TOKEN_URI" --email "$e" --pin-source "$PIN_SRC"
			check_eq "$point: rerun without --officer-key: usage" 2 $?
			check_contains "$point: says to give --officer-key" "$OUT" "--officer-key"
		fi
		p11e_logged enroll "$TEST_TOKEN_URI" --email "$e" --pin-source "$PIN_SRC" \
			--officer-key "$W/officer.key"
		check_eq "$point: rerun finishes ($OUT)" 0 $?
		check_eq "$point: record done" done "$(record "$e" | jq -r .step)"
		id=$(key_id "$e")
		check_token_key "$point" test "$id" ec:P-256
		token_cert "$id" "$W/c.pem"
		openssl cms -encrypt -binary -aes256 -in "$W/msg.txt" -out "$W/c.p7m" "$W/c.pem" 2>/dev/null
		check_eq "$point: the token key decrypts mail to its certificate" "$(cat "$W/msg.txt")" \
			"$(engine_decrypt test "$id" "$W/c.pem" "$W/c.p7m")"
		pw=$(openssl cms -decrypt -inform DER -in "$W/escrow/$e.cms" -recip "$W/officers.pem" \
			-inkey "$W/officer.key" 2>/dev/null)
		PASSWORDS+=("$pw")
		check_eq "$point: the PFX holds the token's certificate" \
			"$(openssl x509 -in "$W/c.pem" -outform DER | sha256sum)" \
			"$(PW=$pw openssl pkcs12 -in "$S/pfx/$e.p12" -passin env:PW -clcerts -nokeys 2>/dev/null |
				openssl x509 -outform DER | sha256sum)"
		check_eq "$point: one PFX per identity so far" "$((pfx0 + n))" "$(find "$S/pfx" -type f | wc -l)"
		check_eq "$point: one escrow entry per identity so far" "$((cms0 + n))" \
			"$(find "$W/escrow" -name '*.cms' | wc -l)"
		check_eq "$point: no key file left" 0 "$(find "$S/keys" -type f 2>/dev/null | wc -l)"
	done
else
	echo "note: crash injection skipped (needs -DP11ENROLL_TEST_HOOKS=ON)"
fi

# --- the passwords are nowhere but in the vault ---
for pw in "${PASSWORDS[@]}"; do
	[ -n "$pw" ] || { bad "an empty password was collected"; continue; }
	check_eq "password in no state dir file (records, audit log)" "" "$(grep -rlF -- "$pw" "$S")"
	check_eq "password in no p11enroll output" "" "$(grep -F -- "$pw" "$LOG")"
done
finish
