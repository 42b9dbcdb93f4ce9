# Identities from the directory (profile "identity_from") against a real
# OpenLDAP slapd (tests/lib/slapd.sh) given Active Directory's attribute
# types (userPrincipalName, objectSid as octet string, with AD's OIDs): the
# enrollment takes the UPN, the SID (decoded from its binary form) and the
# display name into the record and the CN before any key is made. Hostile
# and missing answers (no entry, two entries, no objectSid, an objectSid of
# the wrong length, a UPN with a control character, two UPN values) are each
# a one-line error naming the field, exit code documented, with no key on
# the token and no record left behind; a directory that is down likewise.
# The card's certificate (profile smartcard-logon) carries them: its UPN
# otherName and SID extension read back with openssl. A renamed user's
# renewal takes the new UPN, in the record and the new certificate. About 15 s.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/slapd.sh"
setup_ca
trap slapd_stop EXIT
D=$TEST_TMP/slapd
mkdir -p "$D"
# AD's attribute types, multi-valued here so that a hostile entry can hold
# two UPNs (AD itself would not): OpenLDAP's experimental arc for the class.
SLAPD_SCHEMA=$D/ad.schema
cat >"$SLAPD_SCHEMA" <<'SCHEMA'
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.2.840.113556.1.4.146 NAME 'objectSid'
	EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )
objectclass ( 1.3.6.1.4.1.4203.666.22.1 NAME 'p11eTestAdUser' AUXILIARY
	MAY ( userPrincipalName $ objectSid ) )
SCHEMA
slapd_start "$D" || { bad "slapd did not start"; finish; }
ok
PEOPLE=ou=people,$SLAPD_BASE

# sid_b64 RID [BYTES]: S-1-5-21-1-2-3-RID in binary (revision 1, five
# sub-authorities, authority 5 big-endian, the rest little-endian), base64;
# BYTES cuts it to that many bytes.
sid_b64() {
	local r=$1 le
	le=$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((r & 255)) $((r >> 8 & 255)) $((r >> 16 & 255)) $((r >> 24 & 255)))
	printf "\\x01\\x05\\x00\\x00\\x00\\x00\\x00\\x05\\x15\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00\\x03\\x00\\x00\\x00$le" |
		head -c "${2:-28}" | base64 -w0
}
person() { # person CN MAIL [extra LDIF lines]
	printf 'dn: cn=%s,%s\nobjectClass: inetOrgPerson\nobjectClass: p11eTestAdUser\ncn: %s\nsn: %s\nmail: %s\n%s\n\n' \
		"$1" "$PEOPLE" "$1" "$1" "$2" "${3:-}"
}
{
	person alice alice@example.org "userPrincipalName: alice@corp.example
objectSid:: $(sid_b64 1001)
displayName: Alice Example"
	person bob bob@example.org "userPrincipalName: bob@corp.example"
	person carol carol@example.org "userPrincipalName: carol@corp.example
objectSid:: $(sid_b64 1003 27)"
	person dave dave@example.org "userPrincipalName:: $(printf 'dave\n@corp.example' | base64 -w0)
objectSid:: $(sid_b64 1004)"
	person twin1 twin@example.org "userPrincipalName: twin1@corp.example
objectSid:: $(sid_b64 1005)"
	person twin2 twin@example.org "userPrincipalName: twin2@corp.example
objectSid:: $(sid_b64 1006)"
	person gina gina@example.org "userPrincipalName: gina@corp.example
userPrincipalName: gina.other@corp.example
objectSid:: $(sid_b64 1007)"
	person hank hank@example.org "objectSid:: $(sid_b64 1008)"
} | slapd_add >/dev/null
check_eq "entries added" 0 $?

printf 'publisher-secret\n' >"$TEST_TMP/bind.pw"
chmod 600 "$TEST_TMP/bind.pw"
CONF=$TEST_TMP/config.json
jq -n --arg url "$SLAPD_LDAPS" --arg ca "$D/tls-ca.pem" --arg dn "cn=publisher,$SLAPD_BASE" \
	--arg pw "file:$TEST_TMP/bind.pw" --arg base "$PEOPLE" --arg cadir "local:$CA_DIR" '{
	default_ca: $cadir,
	kerberos_realm: "CORP.EXAMPLE",
	publishers: {
		gal: {type: "ldap", url: $url, ca_bundle: $ca, bind_dn: $dn,
		      bind_password_source: $pw, base_dn: $base, directory: "openldap",
		      timeout: 30}
	},
	profiles: {logon: {base: "smartcard-logon", identity_from: "gal", publish: []}}
	}' >"$CONF"

enroll() { # enroll EMAIL [options]
	local who=$1
	shift
	p11e --config "$CONF" enroll "$TEST_TOKEN_URI" --email "$who" --profile logon \
		--pin-source "$PIN_SRC" "$@"
}
keys_on_token() { p11tool_opensc --list-objects --type privkey 2>/dev/null | grep -c "ID:" || true; }

# alice: UPN, SID and display name into the record, the display name the CN.
out=$(enroll alice@example.org 2>&1)
check_eq "alice enrolled ($out)" 0 $?
check_eq "alice: the record's UPN is the directory's" alice@corp.example "$(record alice@example.org | jq -r .upn)"
check_eq "alice: the principal from the UPN and kerberos_realm" alice@CORP.EXAMPLE "$(record alice@example.org | jq -r .principal)"
check_eq "alice: the record's SID decoded from objectSid" S-1-5-21-1-2-3-1001 "$(record alice@example.org | jq -r .sid)"
token_cert "$(key_id alice@example.org)" "$TEST_TMP/alice.pem"
check_contains "alice: the CN is the display name" \
	"$(openssl x509 -in "$TEST_TMP/alice.pem" -noout -subject -nameopt RFC2253)" "CN=Alice Example"
check_contains "alice: the certificate's UPN otherName is the directory's" \
	"$(openssl x509 -in "$TEST_TMP/alice.pem" -noout -ext subjectAltName)" "othername: UPN::alice@corp.example"
check_contains "alice: the certificate's SID extension holds the decoded SID" \
	"$(openssl asn1parse -in "$TEST_TMP/alice.pem" -strparse "$(openssl asn1parse -in "$TEST_TMP/alice.pem" |
		awk '/:1.3.6.1.4.1.311.25.2$/ { getline; split($1, a, ":"); print a[1]; exit }')")" ":S-1-5-21-1-2-3-1001"
keys=$(keys_on_token)
check_eq "one key on the token" 1 "$keys"

# refused WHO CODE FIELD WHAT: exit CODE, one line naming FIELD, no record,
# no key made.
refused() {
	local out rc
	out=$(enroll "$1" 2>&1)
	rc=$?
	check_eq "$4: exit $2 ($out)" "$2" "$rc"
	check_contains "$4: names $3" "$out" "$3"
	check_eq "$4: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	check "$4: no record" no_record "$1"
	check_eq "$4: no key made" "$keys" "$(keys_on_token)"
}
refused bob@example.org 10 objectSid "no objectSid"
refused hank@example.org 10 userPrincipalName "no userPrincipalName"
refused carol@example.org 2 objectSid "objectSid of 27 bytes"
refused dave@example.org 2 userPrincipalName "a UPN with a line break"
refused gina@example.org 2 "userPrincipalName has several values" "two UPN values"
refused twin@example.org 2 "several entries" "two entries"
refused nobody@example.org 10 "no entry matches" "no entry"
out=$(enroll dave@example.org 2>&1)
check_not_contains "the UPN's bytes are not echoed" "$out" "corp.example"

# The options the directory answers are not given twice.
out=$(enroll alice2@example.org --upn x@corp.example 2>&1)
check_eq "--upn with identity_from: exit 2 ($out)" 2 $?
check_contains "--upn with identity_from: says why" "$out" "identity_from"

# The entry fixed, the same enrollment goes through (nothing was left to
# resume or forget).
slapd_modify() {
	LDAPTLS_CACERT=$D/tls-ca.pem ldapmodify -x -ZZ -H "$SLAPD_LDAP" \
		-D "cn=admin,$SLAPD_BASE" -y "$D/admin.pw" -o nettimeout=30 >/dev/null
}
printf 'dn: cn=bob,%s\nchangetype: modify\nadd: objectSid\nobjectSid:: %s\n' "$PEOPLE" "$(sid_b64 1002)" | slapd_modify
out=$(enroll bob@example.org 2>&1)
check_eq "bob, his entry fixed: enrolled ($out)" 0 $?
check_eq "bob: SID" S-1-5-21-1-2-3-1002 "$(record bob@example.org | jq -r .sid)"
check_eq "bob: no displayName, the CN stays the default" bob@example.org \
	"$(record bob@example.org | jq -r .name)"
keys=$(keys_on_token)

# A directory that is down: exit 1, nothing made.
slapd_stop
out=$(enroll erin@example.org 2>&1)
check_eq "directory down: exit 1 ($out)" 1 $?
check_contains "directory down: names the publisher" "$out" "publisher gal"
check_contains "directory down: nothing made" "$out" "nothing was made, enroll again"
check "directory down: no record" no_record erin@example.org
check_eq "directory down: no key made" "$keys" "$(keys_on_token)"
slapd_restart || bad "slapd did not restart"

# Renamed: the renewal looks the person up again and certifies the new UPN.
printf 'dn: cn=alice,%s\nchangetype: modify\nreplace: userPrincipalName\nuserPrincipalName: alice.new@corp.example\n' "$PEOPLE" | slapd_modify
out=$(p11e --config "$CONF" renew alice@example.org --force --pin-source "$PIN_SRC" 2>&1)
check_eq "alice renewed ($out)" 0 $?
check_eq "alice renewed: the new UPN" alice.new@corp.example "$(record alice@example.org | jq -r .upn)"
check_eq "alice renewed: the principal follows" alice.new@CORP.EXAMPLE "$(record alice@example.org | jq -r .principal)"
check_eq "alice renewed: generation 2" 2 "$(record alice@example.org | jq -r .generation)"
token_cert "$(key_id alice@example.org)" "$TEST_TMP/alice2.pem"
check_contains "alice renewed: the new certificate's UPN" \
	"$(openssl x509 -in "$TEST_TMP/alice2.pem" -noout -ext subjectAltName)" "othername: UPN::alice.new@corp.example"
finish
