# A card's suspension and the directory (issue 23): a held certificate is withdrawn from the
# publishers its record names (a real OpenLDAP slapd, tests/lib/slapd.sh), and published
# again when the hold is lifted; a directory that is down does not stop the suspension.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/slapd.sh"
setup_ca
trap slapd_stop EXIT
D=$TEST_TMP/slapd
slapd_start "$D" || { bad "slapd did not start"; finish; }
PEOPLE=ou=people,$SLAPD_BASE
printf 'dn: cn=ann,%s\nobjectClass: inetOrgPerson\ncn: ann\nsn: ann\nmail: ann@example.org\n\n' \
	"$PEOPLE" | slapd_add >/dev/null
check_eq "entry added" 0 $?
printf 'publisher-secret\n' >"$TEST_TMP/bind.pw"
chmod 600 "$TEST_TMP/bind.pw"
export P11ENROLL_CONFIG=$TEST_TMP/config.json
jq -n --arg url "$SLAPD_LDAPS" --arg ca "$D/tls-ca.pem" --arg dn "cn=publisher,$SLAPD_BASE" \
	--arg pw "file:$TEST_TMP/bind.pw" --arg base "$PEOPLE" --arg cadir "local:$CA_DIR" '{
	default_ca: $cadir,
	publishers: {gal: {type: "ldap", url: $url, ca_bundle: $ca, bind_dn: $dn,
	                   bind_password_source: $pw, base_dn: $base, directory: "openldap",
	                   timeout: 30}},
	profiles: {smime: {publish: ["gal"]}}}' >"$P11ENROLL_CONFIG"
U=$TEST_TOKEN_URI
SERIAL=$(p11e pin status "$U" --json | jq -r .serial)
in_directory() { slapd_search "(mail=ann@example.org)" "userCertificate;binary" | grep -c '^userCertificate;binary::'; }

out=$(p11e enroll "$U" --email ann@example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll: exit 0 ($out)" 0 $?
[ "$(in_directory)" = 1 ] || p11e publish ann@example.org >/dev/null 2>&1
check_eq "published before" 1 "$(in_directory)"
p11e card register "$U" --no-personalise >/dev/null && p11e card issue "$SERIAL" >/dev/null
out=$(p11e card suspend "$SERIAL" 2>&1)
check_eq "suspend: exit 0 ($out)" 0 $?
check_eq "suspended: withdrawn from the directory" 0 "$(in_directory)"
check_eq "the card says where from" gal "$(p11e card show "$SERIAL" --json | jq -r '.held[0].withdrawn')"
out=$(p11e card resume "$SERIAL" 2>&1)
check_eq "resume: exit 0 ($out)" 0 $?
check_eq "resumed: published again" 1 "$(in_directory)"
slapd_search "(mail=ann@example.org)" "userCertificate;binary" |
	awk '/^userCertificate;binary::/ { print $2 }' | base64 -d >"$TEST_TMP/dir.der"
record ann@example.org | jq -r .cert_pem | openssl x509 -outform DER >"$TEST_TMP/rec.der"
check "the same certificate is back" cmp -s "$TEST_TMP/dir.der" "$TEST_TMP/rec.der"

# The directory down: the hold still happens, the message says what to run; resume then
# leaves the directory alone (it was never withdrawn).
slapd_stop
out=$(p11e card suspend "$SERIAL" 2>&1)
check_eq "directory down: suspend still exit 0 ($out)" 0 $?
check_contains "directory down: says what to run" "$out" "p11enroll publish ann@example.org --remove"
check_eq "directory down: suspended" suspended "$(p11e card show "$SERIAL" --json | jq -r .state)"
check_eq "directory down: not marked withdrawn" null "$(p11e card show "$SERIAL" --json | jq -r '.held[0].withdrawn')"
finish
