# Key history with NSS (issue 11 item 3): an S/MIME identity (profile smime,
# rsa:2048) on the SoftHSM token; mail encrypted by NSS's cmsutil to
# generation 1 (a sender's own NSS database holding the recipient's
# certificate); `renew --force`; then the recipient's NSS database, with the
# SoftHSM module added by modutil, decrypts that mail (NSS finds the old key
# from the recipient's issuer and serial), signs new mail with generation 2
# by its nickname, and verifies it. certutil -L lists both certificates under
# their labels, the old one relabelled "ADDR (YYYY-MM)"; pkcs11-tool finds
# both key pairs. Every NSS tool reads the token PIN from a file (-f) with
# stdin closed, under a timeout, so nothing can wait on a prompt.
. "$TESTS_DIR/lib/common.sh"
if ! command -v cmsutil >/dev/null || ! command -v modutil >/dev/null; then
	bad "needs cmsutil, modutil and certutil (libnss3-tools, scripts/deps.sh --test)"
	finish
fi
setup_ca
export P11ENROLL_CONFIG=$TEST_TMP/config.json
echo "{\"default_ca\": \"local:$CA_DIR\"}" >"$P11ENROLL_CONFIG"
ADDR=mail@example.com
PWFILE=$TEST_TMP/nss.pw # the token PIN, for NSS's -f (its internal token has none)
printf '%s\n' "$TEST_PIN" >"$PWFILE"
nss() { timeout 120 "$@" </dev/null; }
gen() { record "$ADDR" | jq -r "$1"; }

out=$(p11e enroll "$TEST_TOKEN_URI" --email "$ADDR" --profile smime --key rsa:2048 \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "enroll $ADDR (smime, rsa:2048) ($out)" 0 $?
id1=$(key_id "$ADDR")
token_cert "$id1" "$TEST_TMP/gen1.pem"

# The sender: an NSS database of its own with the recipient's certificate.
SENDER=$TEST_TMP/sender
mkdir -p "$SENDER"
nss certutil -N -d "sql:$SENDER" --empty-password
nss certutil -A -d "sql:$SENDER" -n recipient -t ",," -i "$TEST_TMP/gen1.pem"
check_eq "sender knows the recipient's certificate" 1 \
	"$(nss certutil -L -d "sql:$SENDER" | grep -c '^recipient ')"
echo "sent to generation 1" >"$TEST_TMP/msg1.txt"
out=$(nss cmsutil -E -d "sql:$SENDER" -r "$ADDR" -i "$TEST_TMP/msg1.txt" \
	-o "$TEST_TMP/gen1.p7m" 2>&1)
check_eq "cmsutil -E to $ADDR, generation 1 ($out)" 0 $?
# Serial numbers as integers (openssl prints them in decimal or as 0x hex).
serial1=$(openssl x509 -in "$TEST_TMP/gen1.pem" -noout -serial | cut -d= -f2)
rid=$(openssl cms -cmsout -print -inform DER -in "$TEST_TMP/gen1.p7m" 2>/dev/null |
	sed -n 's/^ *serialNumber: *//p')
check_eq "the mail is enveloped to generation 1's serial" "$(python3 -c "print(int('$serial1', 16))")" \
	"$(python3 -c "print(int('$rid', 0))" 2>/dev/null)"

out=$(p11e renew "$ADDR" --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew --force ($out)" 0 $?
id2=$(key_id "$ADDR")
check "a new key ID" test "$id2" != "$id1"
check_eq "generation 1 kept on the token" "superseded kept" \
	"$(gen '.history[0] | "\(.state) \(.on_token)"')"
month=$(openssl x509 -in "$TEST_TMP/gen1.pem" -noout -startdate | cut -d= -f2)
old_label="$ADDR ($(date -u -d "$month" +%Y-%m))"
check_eq "generation 1 relabelled" "$old_label" "$(gen .history[0].label)"
token_cert "$id2" "$TEST_TMP/gen2.pem"

# pkcs11-tool finds both key pairs and both certificates.
for t in privkey pubkey cert; do
	check_eq "pkcs11-tool: generation 1's $t" 1 "$(count_objects "$t" "$id1")"
	check_eq "pkcs11-tool: generation 2's $t" 1 "$(count_objects "$t" "$id2")"
done

# The recipient: an NSS database with the SoftHSM module added by modutil.
RCPT=$TEST_TMP/recipient
mkdir -p "$RCPT"
nss certutil -N -d "sql:$RCPT" --empty-password
out=$(nss modutil -dbdir "sql:$RCPT" -add softhsm -libfile "$SOFTHSM_MODULE" -force 2>&1)
check_eq "modutil -add softhsm ($out)" 0 $?
check_contains "modutil lists the token" "$(nss modutil -dbdir "sql:$RCPT" -list 2>&1)" \
	"token: test"
# The CA trusted for mail, so the signature of generation 2 verifies.
nss certutil -A -d "sql:$RCPT" -n "p11enroll test CA" -t "C,C,C" -i "$CA_DIR/ca.pem"

# certutil -L: both certificates under their labels.
listing=$(nss certutil -L -d "sql:$RCPT" -h test -f "$PWFILE" 2>&1)
echo "$listing"
check_contains "certutil -L: generation 2 as test:$ADDR" "$listing" "test:$ADDR "
check_contains "certutil -L: generation 1 as test:$old_label" "$listing" "test:$old_label "
check_eq "certutil -L: both paired with their keys (u,u,u)" 2 \
	"$(echo "$listing" | grep -c "^test:$ADDR.*u,u,u")"

out=$(nss cmsutil -D -d "sql:$RCPT" -f "$PWFILE" -i "$TEST_TMP/gen1.p7m" \
	-o "$TEST_TMP/gen1.out" 2>&1)
check_eq "cmsutil -D: mail to generation 1 decrypts after renewal ($out)" 0 $?
check_eq "generation 1 round trip" "sent to generation 1" "$(cat "$TEST_TMP/gen1.out" 2>/dev/null)"

echo "signed by generation 2" >"$TEST_TMP/msg2.txt"
out=$(nss cmsutil -S -d "sql:$RCPT" -f "$PWFILE" -N "test:$ADDR" -i "$TEST_TMP/msg2.txt" \
	-o "$TEST_TMP/gen2.p7s" 2>&1)
check_eq "cmsutil -S -N test:$ADDR ($out)" 0 $?
# -h 0: the verification's header before the content.
out=$(nss cmsutil -D -d "sql:$RCPT" -h 0 -i "$TEST_TMP/gen2.p7s" 2>&1)
check_eq "cmsutil -D verifies generation 2's signature ($out)" 0 $?
check_contains "cmsutil -D: a good signature" "$out" "signer0.status=GoodSignature"
check_eq "signed content round trip" "signed by generation 2" "$(echo "$out" | tail -1)"
# And openssl agrees, and names generation 2's certificate as the signer.
check "openssl cms -verify of NSS's signature" \
	openssl cms -verify -inform DER -in "$TEST_TMP/gen2.p7s" -CAfile "$CA_DIR/ca.pem" \
	-signer "$TEST_TMP/signer.pem" -out /dev/null
check_eq "NSS signed with generation 2's certificate" \
	"$(openssl x509 -in "$TEST_TMP/gen2.pem" -noout -fingerprint -sha256)" \
	"$(openssl x509 -in "$TEST_TMP/signer.pem" -noout -fingerprint -sha256 2>&1)"
finish
