# issue 22, proof by a real KDC: MIT Kerberos 1.20 (krb5-kdc, krb5-pkinit) in a
# private realm on 127.0.0.1 (tests/lib/krb5.sh). The KDC's certificate comes
# from p11enroll's embedded CA with profile kdc (its key a software key: a PFX
# converted with openssl for pkinit_identity); the embedded CA is the anchor on
# both sides. A user's card enrolled with smartcard-logon on SoftHSM gets a TGT
# with `kinit -X X509_user_identity=PKCS11:...` (klist shows the principal, named
# by id-pkinit-san from kerberos_realm), while the same with an EC key on the token
# does not (hence the profile's rsa:2048 and the warning); after `p11enroll revoke` and the CRL
# handed to the KDC (pkinit_revoke) the same card is refused; a card with only
# an S/MIME certificate is refused. The certificate's logon names are checked
# byte for byte with `openssl asn1parse` against DER written out by hand.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/krb5.sh"
setup_ca
W=$TEST_TMP/w
mkdir -p "$W/krb5"
file_vault "$W" '"kerberos_realm": "example.org"' # upper-cased by p11enroll
REALM=EXAMPLE.ORG
trap 'krb5_stop' EXIT

# The KDC's certificate: profile kdc, principal krbtgt/EXAMPLE.ORG@EXAMPLE.ORG from
# kerberos_realm, a software key delivered as a PFX.
out=$(p11e enroll --software --profile kdc --dns kdc.example.org 2>&1)
check_eq "enroll the KDC's certificate ($out)" 0 $?
check_eq "its principal" "krbtgt/EXAMPLE.ORG@EXAMPLE.ORG" "$(record kdc.example.org | jq -r .principal)"
pfx=$(store_pfx_file "$(record kdc.example.org | jq -r .pfx_path)")
escrowed kdc.example.org >"$W/kdc.pass"
openssl pkcs12 -in "$pfx" -passin "file:$W/kdc.pass" -nokeys -clcerts -out "$W/kdc.pem" 2>/dev/null
openssl pkcs12 -in "$pfx" -passin "file:$W/kdc.pass" -nocerts -nodes -out "$W/kdc-key.pem" 2>/dev/null
check "the KDC's key and certificate out of the PFX" test -s "$W/kdc-key.pem" -a -s "$W/kdc.pem"
p11e ca cert --ca "local:$CA_DIR" >"$W/ca.pem"
p11e ca crl --ca "local:$CA_DIR" --out "$W/crl.pem"

if ! krb5_start "$W/krb5" "$REALM" "$W/kdc.pem" "$W/kdc-key.pem" "$W/ca.pem" "$W/crl.pem"; then
	bad "the KDC did not start: $(tail -5 "$W/krb5/kdc.log" "$W/krb5/krb5kdc.out" 2>&1)"
	finish
fi
krb5_addprinc alice
krb5_addprinc bob

# alice's card: smartcard-logon, rsa:2048 on the token; principal alice@EXAMPLE.ORG.
out=$(p11e enroll "$TEST_TOKEN_URI" --profile smartcard-logon --email alice@example.org \
	--upn alice@example.org --sid S-1-5-21-1-2-3-1106 --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll alice's logon card ($out)" 0 $?
check_eq "rsa:2048, principal from the realm" "rsa:2048 alice@EXAMPLE.ORG" \
	"$(record alice@example.org | jq -r '"\(.key_type) \(.principal)"')"
alice_id=$(key_id alice@example.org)

# The names byte for byte, as openssl asn1parse reads them from the card's certificate.
token_cert "$alice_id" "$W/alice.pem"
san_hex=$(openssl asn1parse -in "$W/alice.pem" | awk '/X509v3 Subject Alternative Name/ { getline; print }' |
	sed 's/.*\[HEX DUMP\]://')
# rfc822Name alice@example.org; otherName UPN (1.3.6.1.4.1.311.20.2.3) UTF8String
# alice@example.org; otherName id-pkinit-san (1.3.6.1.5.2.2) KRB5PrincipalName
# { [0] "EXAMPLE.ORG", [1] { [0] 1, [1] { "alice" } } }
a=616C696365406578616D706C652E6F7267 r=4558414D504C452E4F5247
check_eq "subjectAltName DER" \
	"30678111${a}A021060A2B060104018237140203A0130C11${a}A02F06062B0601050202A0253023A00D1B0B${r}A1123010A003020101A10930071B05616C696365" \
	"$san_hex"
sid_hex=$(openssl asn1parse -in "$W/alice.pem" | awk '/:1.3.6.1.4.1.311.25.2$/ { getline; print }' |
	sed 's/.*\[HEX DUMP\]://')
# GeneralNames { otherName 1.3.6.1.4.1.311.25.2.1 [0] OCTET STRING "S-1-5-21-1-2-3-1106" }
check_eq "SID extension DER" \
	"3025A023060A2B060104018237190201A0150413532D312D352D32312D312D322D332D31313036" "$sid_hex"
eku=$(openssl x509 -in "$W/alice.pem" -noout -ext extendedKeyUsage | tail -1)
check_contains "EKU" "$eku" "TLS Web Client Authentication, Microsoft Smartcard Login, PKINIT Client Auth"

identity="PKCS11:module_name=$SOFTHSM_MODULE:token=test:certid=$alice_id"
kinit_card() { # kinit_card IDENTITY PRINCIPAL: the PIN on stdin, as kinit reads it
	kinit -X "X509_user_identity=$1" -X "X509_anchors=FILE:$W/ca.pem" "$2" <"$TEST_PIN_FILE" 2>&1
}
out=$(kinit_card "$identity" alice@$REALM)
check_eq "kinit with alice's card ($out)" 0 $?
check_contains "klist shows the principal" "$(klist 2>&1)" "Default principal: alice@$REALM"
check_contains "a TGT" "$(klist 2>&1)" "krbtgt/$REALM@$REALM"
kdestroy >/dev/null 2>&1

# Why the profile's key is RSA: an EC P-256 logon key on the token does not get a
# ticket from MIT krb5 1.20's PKINIT (the client signs only with RSA mechanisms).
krb5_addprinc carol
out=$(p11e enroll "$TEST_TOKEN_URI" --profile smartcard-logon --email carol@example.org \
	--key ec:P-256 --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll carol's EC logon card" 0 $?
check_contains "with the warning" "$out" "warning: identity carol@example.org: an EC logon key"
out=$(kinit_card "PKCS11:module_name=$SOFTHSM_MODULE:token=test:certid=$(key_id carol@example.org)" carol@$REALM)
check_eq "kinit with an EC key on the token: refused ($out)" 1 $?
check_contains "kinit says" "$out" "Preauthentication failed"
kdestroy >/dev/null 2>&1

# A card with only an S/MIME certificate: refused.
softhsm2-util --init-token --free --label smime --so-pin 12345678 --pin 123456 >/dev/null # fixture
out=$(p11e enroll pkcs11:token=smime --email bob@example.org --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "enroll bob's S/MIME card ($out)" 0 $?
out=$(kinit_card "PKCS11:module_name=$SOFTHSM_MODULE:token=smime" bob@$REALM)
check_eq "kinit with an S/MIME-only card: refused ($out)" 1 $?
# MIT's client finds no certificate fit for PKINIT on the card and falls back to a
# password it does not have (stdin is spent): the KDC never sees a PKINIT request.
check_contains "kinit with an S/MIME-only card: no PKINIT" "$out" "Pre-authentication failed"
check "no ticket for bob" bash -c '! klist -s'

# alice's card for another principal: the KDC maps the certificate to alice only.
out=$(kinit_card "$identity" bob@$REALM)
check_eq "kinit as bob with alice's card: refused ($out)" 1 $?
check_contains "the KDC: the certificate does not name bob" "$(cat "$KRB5_LOG")" \
	"PREAUTH_FAILED: bob@$REALM for krbtgt/$REALM@$REALM, Client name mismatch"

# Revoked: the CRL handed to the KDC, which is restarted to read it.
out=$(p11e revoke alice@example.org --reason keyCompromise 2>&1)
check_eq "revoke alice ($out)" 0 $?
p11e ca crl --ca "local:$CA_DIR" --out "$W/crl.pem"
krb5_stop
check "the KDC restarts with the new CRL" krb5_restart
out=$(kinit_card "$identity" alice@$REALM)
check_eq "kinit with the revoked card: refused" 1 $?
check "no ticket for alice" bash -c '! klist -s'
check_contains "the KDC says why" "$(cat "$KRB5_LOG")" "PREAUTH_FAILED: alice@$REALM for krbtgt/$REALM@$REALM, Failed to verify received certificate (depth 0): certificate revoked"
finish
