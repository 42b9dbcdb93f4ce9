# Logon cards for an Active Directory domain, identities from the directory,
# proven against a real Samba 4.17 AD DC (tests/lib/samba.sh, in a network
# namespace of its own) whose KDC (Heimdal, inside Samba) does PKINIT:
#   - 50 domain users made with samba-tool enrol in one `batch` (with its
#     progress line on a terminal) with the profile's identity_from: every
#     certificate's UPN otherName and SID extension, read back from the
#     token with openssl, are what Samba answers (ldbsearch on its sam.ldb,
#     and samba-tool user show for one);
#   - `kinit` (MIT) by PKINIT with a user's card, the key on SoftHSM, against
#     Samba's KDC gets a TGT for that domain user (klist); the same card
#     asking for another user is refused;
#   - a user renamed in the domain (userPrincipalName replaced): the renewal
#     certifies the new UPN, the same SID, and the new card gets a TGT;
#   - an address no user has, and one two users share: refused, nothing made.
# Samba 4.17 can do PKINIT here: its KDC reads [kdc] enable-pkinit,
# pkinit_identity and pkinit_anchors from the krb5.conf beside smb.conf
# (measured, see tests/lib/samba.sh); it maps the card to the account by the
# UPN otherName (the lower-case domain UPN samba-tool gives, alice@p11e.test).
# The KDC's certificate is p11enroll's too: profile kdc from the embedded CA
# (an RSA CA: Heimdal's), id-pkinit-KPKdc and id-pkinit-san
# krbtgt/P11E.TEST@P11E.TEST, as MIT's client wants.
#
# Slow (ctest label slow, timeout 1800 s): 160 s to 317 s measured on a
# 2-core machine at load average 18-21 (the DC up in 28 s, 50 samba-tool user
# create in 62 s, the batch of 50 RSA-2048 enrollments with their lookups in
# 109 s). Root only (tests/lib/samba.sh says why).
. "$TESTS_DIR/lib/samba.sh"
samba_netns "$0" "$@"
. "$TESTS_DIR/lib/common.sh"
# LeakSanitizer's tracer and libldap's TLS blocks: publish_ad.sh says why.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}intercept_tls_get_addr=0"
for need in samba samba-tool ldbsearch ldapsearch kinit klist ip jq script; do
	if ! command -v "$need" >/dev/null; then
		bad "needs $need (samba, samba-dsdb-modules, ldb-tools, ldap-utils, krb5-user, iproute2, bsdutils: scripts/deps.sh --test)"
		finish
	fi
done
N=50
p11e ca init --dir "$CA_DIR" --key rsa:2048 >/dev/null
check_eq "embedded CA (RSA)" 0 $?

# The KDC's certificate: profile kdc from the embedded CA, a software key
# delivered as a PFX (converted with openssl for pkinit_identity), its
# principal krbtgt/P11E.TEST@P11E.TEST from kerberos_realm.
W=$TEST_TMP/w
mkdir -p "$W"
file_vault "$W" '"kerberos_realm": "P11E.TEST"'
out=$(p11e enroll --software --profile kdc --dns dc.p11e.test 2>&1)
check_eq "the KDC's certificate ($out)" 0 $?
check_eq "its principal" "krbtgt/P11E.TEST@P11E.TEST" "$(record dc.p11e.test | jq -r .principal)"
pfx=$(store_pfx_file "$(record dc.p11e.test | jq -r .pfx_path)")
escrowed dc.p11e.test >"$W/kdc.pass"
openssl pkcs12 -in "$pfx" -passin "file:$W/kdc.pass" -nokeys -clcerts -out "$TEST_TMP/kdc.pem" 2>/dev/null
openssl pkcs12 -in "$pfx" -passin "file:$W/kdc.pass" -nocerts -nodes -out "$TEST_TMP/kdc.key" 2>/dev/null
check "the KDC's key and certificate out of the PFX" test -s "$TEST_TMP/kdc.key" -a -s "$TEST_TMP/kdc.pem"
export SAMBA_PKINIT_IDENTITY=$TEST_TMP/kdc.pem,$TEST_TMP/kdc.key SAMBA_PKINIT_ANCHORS=$CA_DIR/ca.pem

trap samba_stop EXIT
started=$SECONDS
samba_start "$TEST_TMP/samba" || { bad "samba did not start"; finish; }
ok
echo "samba AD DC (LDAP, KDC) up after $((SECONDS - started)) s"
USERS=CN=Users,$SAMBA_BASE

# The directory reader: an ordinary domain user (authenticated users read
# userPrincipalName, objectSid and displayName).
READER_PW='Read3r-Test-Pw!'
samba_tool user create p11read "$READER_PW" >/dev/null
check_eq "reader user created" 0 $?
started=$SECONDS
for i in $(seq -w 1 $N); do
	samba_tool user create "u$i" "Us3r-$i-Test-Pw!" --mail-address="u$i@example.org" \
		--given-name="User" --surname="Number $i" >/dev/null || bad "user u$i not created"
done
ok
echo "$N users created in $((SECONDS - started)) s"

printf '%s\n' "$READER_PW" >"$TEST_TMP/bind.pw"
chmod 600 "$TEST_TMP/bind.pw"
CONF=$W/config.json
jq --arg url "$SAMBA_LDAPS" --arg ca "$SAMBA_CA" --arg dn "CN=p11read,$USERS" \
	--arg pw "file:$TEST_TMP/bind.pw" --arg base "$SAMBA_BASE" '. + {
	publishers: {
		ad: {type: "ldap", url: $url, ca_bundle: $ca, bind_dn: $dn,
		     bind_password_source: $pw, base_dn: $base, directory: "ad",
		     filter: "(&(objectClass=user)(mail=%s))", timeout: 60}
	},
	profiles: {adlogon: {base: "smartcard-logon", identity_from: "ad", publish: []}}
	}' "$W/config.json" >"$W/config.new" && mv "$W/config.new" "$CONF"

# One batch of N, on a terminal (script(1)) so that it shows its progress.
{
	echo email
	for i in $(seq -w 1 $N); do echo "u$i@example.org"; done
} >"$TEST_TMP/roster.csv"
started=$SECONDS
script -qefc "$P11ENROLL --config $CONF batch $TEST_TMP/roster.csv --token $TEST_TOKEN_URI --profile adlogon --pin-source $PIN_SRC" \
	"$TEST_TMP/batch.typescript" >/dev/null 2>&1
check_eq "batch of $N: exit 0 ($(tail -c 400 "$TEST_TMP/batch.typescript"))" 0 $?
echo "batch of $N enrolled in $((SECONDS - started)) s"
check_contains "batch: progress shown" "$(tr '\r' '\n' <"$TEST_TMP/batch.typescript")" "$N/$N"

# What Samba says: mail, UPN and SID of every user, from its database.
ldbsearch -H "$SAMBA_DIR/dc/private/sam.ldb" '(mail=*@example.org)' mail userPrincipalName objectSid 2>/dev/null |
	awk '/^mail:/ { m = $2 } /^userPrincipalName:/ { u = $2 } /^objectSid:/ { s = $2 }
	     /^$/ && m != "" { print m, u, s; m = u = s = "" }' | sort >"$TEST_TMP/samba.txt"
check_eq "Samba lists $N users" $N "$(wc -l <"$TEST_TMP/samba.txt")"
one_sid=$(samba_tool user show u01 --attributes=objectSid | awk '/^objectSid:/ { print $2 }')
check_eq "samba-tool and ldbsearch agree on u01's SID" "$one_sid" "$(awk '$1 == "u01@example.org" { print $3 }' "$TEST_TMP/samba.txt")"

# The certificate's UPN otherName and SID extension, as openssl reads them.
cert_upn() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | sed -n 's/.*othername: *UPN::*\([^,]*\).*/\1/p' | tr -d ' '; }
cert_sid() { # the SID string in extension 1.3.6.1.4.1.311.25.2: its otherName 1.3.6.1.4.1.311.25.2.1
	local off inner
	off=$(openssl asn1parse -in "$1" 2>/dev/null | awk '/:1.3.6.1.4.1.311.25.2$/ { getline; split($1, a, ":"); print a[1]; exit }')
	[ -n "$off" ] || return 1
	inner=$(openssl asn1parse -in "$1" -strparse "$off" 2>/dev/null)
	printf '%s\n' "$inner" | grep -q ':1.3.6.1.4.1.311.25.2.1$' || return 1
	printf '%s\n' "$inner" | awk '/OCTET STRING/ { sub(/.*OCTET STRING *:/, ""); print; exit }' |
		{ read -r v; case $v in "[HEX DUMP]:"*) printf '%b' "$(printf '%s' "${v#\[HEX DUMP\]:}" | sed 's/../\\x&/g')" ;; *) printf '%s' "$v" ;; esac; }
}
mismatches=0
while read -r mail upn sid; do
	token_cert "$(key_id "$mail")" "$TEST_TMP/c.pem" || { bad "$mail: no certificate on the token"; continue; }
	got_upn=$(cert_upn "$TEST_TMP/c.pem")
	got_sid=$(cert_sid "$TEST_TMP/c.pem")
	if [ "$got_upn" != "$upn" ] || [ "$got_sid" != "$sid" ]; then
		mismatches=$((mismatches + 1))
		echo "$mail: certificate UPN '$got_upn' SID '$got_sid'; Samba: '$upn' '$sid'" >&2
	fi
done <"$TEST_TMP/samba.txt"
check_eq "every certificate carries its user's UPN and SID" 0 "$mismatches"

# PKINIT: u01's card gets u01 a TGT from Samba's KDC; asking for u02 with
# it is refused.
pkinit() { # pkinit EMAIL PRINCIPAL
	printf '%s\n' 123456 | KRB5_CONFIG=$SAMBA_KRB5_CONF KRB5CCNAME=FILE:$TEST_TMP/cc kinit \
		-X "X509_user_identity=PKCS11:module_name=$SOFTHSM_MODULE:token=test:certid=$(key_id "$1")" \
		-X "X509_anchors=FILE:$CA_DIR/ca.pem" "$2" 2>&1
}
out=$(pkinit u01@example.org u01@P11E.TEST)
check_eq "kinit by PKINIT with u01's card ($out)" 0 $?
out=$(KRB5CCNAME=FILE:$TEST_TMP/cc klist 2>&1)
check_contains "klist: u01's ticket" "$out" "Default principal: u01@P11E.TEST"
check_contains "klist: a TGT" "$out" "krbtgt/P11E.TEST@P11E.TEST"
rm -f "$TEST_TMP/cc"
out=$(pkinit u01@example.org u02@P11E.TEST)
check "u01's card for u02: refused ($out)" test $? -ne 0
check "u01's card for u02: no ticket" test ! -s "$TEST_TMP/cc"

# A user renamed in the domain: the renewal reads the new UPN from Samba,
# the new card certifies it, and Samba's KDC still maps the card to the user.
# (samba-tool named the entry by the full name: its DN from Samba.)
u02_dn=$(samba_search "(sAMAccountName=u02)" dn | sed -n 's/^dn: //p')
samba_modify >/dev/null <<LDIF
dn: $u02_dn
changetype: modify
replace: userPrincipalName
userPrincipalName: u02.renamed@p11e.test
LDIF
check_eq "u02 renamed in the domain" 0 $?
out=$(p11e --config "$CONF" renew u02@example.org --force --pin-source "$PIN_SRC" 2>&1)
check_eq "u02 renewed ($out)" 0 $?
token_cert "$(key_id u02@example.org)" "$TEST_TMP/u02.pem"
check_eq "u02's new certificate: the new UPN" u02.renamed@p11e.test "$(cert_upn "$TEST_TMP/u02.pem")"
check_eq "u02's new certificate: the same SID" "$(awk '$1 == "u02@example.org" { print $3 }' "$TEST_TMP/samba.txt")" \
	"$(cert_sid "$TEST_TMP/u02.pem")"
rm -f "$TEST_TMP/cc"
out=$(pkinit u02@example.org u02@P11E.TEST)
check_eq "kinit by PKINIT with u02's renewed card ($out)" 0 $?
check_contains "klist: u02's ticket" "$(KRB5CCNAME=FILE:$TEST_TMP/cc klist 2>&1)" "Default principal: u02@P11E.TEST"

# Samba's answers that stop an enrollment: an address no user has, and one
# two users share. Nothing is made.
samba_tool user create twin1 "Us3r-twin1-Test-Pw!" --mail-address=twin@example.org >/dev/null &&
	samba_tool user create twin2 "Us3r-twin2-Test-Pw!" --mail-address=twin@example.org >/dev/null
check_eq "two users with one address" 0 $?
keys=$(p11tool_opensc --list-objects --type privkey | grep -c "ID:")
for who in twin nobody; do
	out=$(p11e --config "$CONF" enroll "$TEST_TOKEN_URI" --email "$who@example.org" --profile adlogon \
		--pin-source "$PIN_SRC" 2>&1)
	rc=$?
	case $who in
	twin) check_eq "two AD users for one address: exit 2 ($out)" 2 $rc
		check_contains "two AD users: says so" "$out" "several entries" ;;
	nobody) check_eq "no AD user for the address: exit 10 ($out)" 10 $rc
		check_contains "no AD user: says so" "$out" "no entry matches" ;;
	esac
	check "$who: no record" no_record "$who@example.org"
done
check_eq "no key made for them" "$keys" "$(p11tool_opensc --list-objects --type privkey | grep -c "ID:")"
finish
