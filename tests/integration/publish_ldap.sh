# The LDAP publisher against a real OpenLDAP slapd (tests/lib/slapd.sh: TLS
# from a test CA, ldaps and StartTLS): `p11enroll publish` adds the token's
# certificate to the address's entry beside the values already there, read
# back byte for byte with ldapsearch; twice is one value; --remove takes out
# exactly that value; a directory that is down leaves it pending and a rerun
# publishes; a refused bind, no entry and two entries are clear errors.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/slapd.sh"
setup_ca
trap slapd_stop EXIT
D=$TEST_TMP/slapd
slapd_start "$D" || { bad "slapd did not start"; finish; }
ok
PEOPLE=ou=people,$SLAPD_BASE

# A certificate that is not ours, already in bob's entry: it must survive.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=bob old" -keyout "$TEST_TMP/old.key" -outform DER -out "$TEST_TMP/old.der" 2>/dev/null
openssl crl2pkcs7 -nocrl -certfile <(openssl x509 -inform DER -in "$TEST_TMP/old.der") \
	-outform DER -out "$TEST_TMP/old.p7"
person() { # person CN MAIL [extra LDIF lines]
	printf 'dn: cn=%s,%s\nobjectClass: inetOrgPerson\ncn: %s\nsn: %s\nmail: %s\n%s\n\n' \
		"$1" "$PEOPLE" "$1" "$1" "$2" "${3:-}"
}
{
	person alice alice@example.org
	person bob bob@example.org "userCertificate;binary:: $(base64 -w0 "$TEST_TMP/old.der")
userSMIMECertificate:: $(base64 -w0 "$TEST_TMP/old.p7")"
	person carol carol@example.org
	person dave dave@example.org
	person erin erin@example.org
	person twin1 twin@example.org
	person twin2 twin@example.org
	person frank frank@example.org
	person grace grace@example.org
	person henry henry@example.org
} | slapd_add >/dev/null
check_eq "entries added" 0 $?

printf 'publisher-secret\n' >"$TEST_TMP/bind.pw"
printf 'wrong-secret\n' >"$TEST_TMP/wrong.pw"
chmod 600 "$TEST_TMP"/*.pw
CONF=$TEST_TMP/config.json
jq -n --arg url "$SLAPD_LDAPS" --arg plain "$SLAPD_LDAP" --arg ca "$D/tls-ca.pem" \
	--arg dn "cn=publisher,$SLAPD_BASE" --arg pw "file:$TEST_TMP/bind.pw" \
	--arg wrong "file:$TEST_TMP/wrong.pw" --arg base "$PEOPLE" --arg cadir "local:$CA_DIR" '{
	default_ca: $cadir,
	publishers: {
		gal: {type: "ldap", url: $url, ca_bundle: $ca, bind_dn: $dn,
		      bind_password_source: $pw, base_dn: $base, directory: "openldap",
		      timeout: 30}
	},
	profiles: {
		tls: {base: "smime", publish: ["tls"]},
		nopub: {base: "smime", publish: []}
	}}' >"$CONF"
# The same directory over StartTLS, and one with the wrong password.
jq --arg plain "$SLAPD_LDAP" --arg wrong "file:$TEST_TMP/wrong.pw" '
	.publishers.tls = (.publishers.gal + {url: $plain, starttls: true}) |
	.publishers.badpw = (.publishers.gal + {bind_password_source: $wrong}) |
	.profiles.badpw = {base: "smime", publish: ["badpw"]} |
	.profiles.smime = {publish: ["gal"]}' "$CONF" >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"

pub() { p11e --config "$CONF" publish "$@"; }
enroll() { # enroll EMAIL [OPTIONS]
	local email=$1; shift
	p11e --config "$CONF" enroll "$TEST_TOKEN_URI" --email "$email" --pin-source "$PIN_SRC" "$@" >/dev/null
}
# The DER values of an attribute of the entry for MAIL, one file each: $TEST_TMP/v.N
values() { # values MAIL ATTR -> prints the count
	rm -f "$TEST_TMP"/v.*
	slapd_search "(mail=$1)" "$2" | awk -v a="$2:: " 'index($0, a) == 1 { print substr($0, length(a) + 1) }' |
		{ n=0; while read -r b64; do n=$((n + 1)); echo "$b64" | base64 -d >"$TEST_TMP/v.$n"; done; echo $n; }
}
token_der() { p11tool_opensc --read-object --type cert --id "$(key_id "$1")" -o "$2"; }

# `publish` by hand first: these enroll with a profile that publishes nowhere,
# then their records are pointed at the publishing one (smime, or tls).
retarget() { # retarget EMAIL PROFILE
	record_edit "$1" ".profile = \"$2\" | del(.publish_pending, .published, .publish_sha256)"
}
for who in alice bob carol dave twin nobody; do
	enroll "$who@example.org" --profile nopub
	check_eq "enroll $who" 0 $?
	retarget "$who@example.org" smime
done
enroll erin@example.org --profile nopub
check_eq "enroll erin" 0 $?
retarget erin@example.org tls

# Publishing: the token's certificate, byte for byte, in userCertificate;binary ...
out=$(pub alice@example.org 2>&1)
check_eq "publish alice: exit 0 ($out)" 0 $?
check_contains "publish alice: says so" "$out" "published to 1 publisher"
token_der alice@example.org "$TEST_TMP/alice.der"
check_eq "alice: one userCertificate;binary" 1 "$(values alice@example.org 'userCertificate;binary')"
check "alice: the value is the token's certificate" cmp "$TEST_TMP/v.1" "$TEST_TMP/alice.der"
# ... and as a certs-only PKCS#7 in userSMIMECertificate, holding exactly it.
check_eq "alice: one userSMIMECertificate" 1 "$(values alice@example.org userSMIMECertificate)"
openssl pkcs7 -inform DER -in "$TEST_TMP/v.1" -print_certs -out "$TEST_TMP/p7.pem" 2>/dev/null
check_eq "alice: the PKCS#7 holds one certificate" 1 "$(grep -c 'BEGIN CERT' "$TEST_TMP/p7.pem")"
openssl x509 -in "$TEST_TMP/p7.pem" -outform DER -out "$TEST_TMP/p7.der"
check "alice: the PKCS#7's certificate is the token's" cmp "$TEST_TMP/p7.der" "$TEST_TMP/alice.der"
check_eq "alice: record says published" gal "$(record alice@example.org | jq -r .published)"
check_eq "alice: nothing pending" "" "$(record alice@example.org | jq -r .publish_pending)"

# Twice (and --retry, which publishes again to those done) leaves one value.
out=$(pub alice@example.org --retry 2>&1)
check_eq "publish alice --retry: exit 0 ($out)" 0 $?
check_contains "publish alice --retry: already there" "$out" "1 already had it"
check_eq "alice: still one value" 1 "$(values alice@example.org 'userCertificate;binary')"
check_eq "alice: still one PKCS#7" 1 "$(values alice@example.org userSMIMECertificate)"
out=$(pub alice@example.org 2>&1)
check_eq "publish alice again (nothing pending): exit 0" 0 $?

# Bob's entry keeps the certificate it had.
out=$(pub bob@example.org 2>&1)
check_eq "publish bob: exit 0 ($out)" 0 $?
token_der bob@example.org "$TEST_TMP/bob.der"
check_eq "bob: two values" 2 "$(values bob@example.org 'userCertificate;binary')"
check "bob: the old value is intact" bash -c "cmp -s '$TEST_TMP/v.1' '$TEST_TMP/old.der' || cmp -s '$TEST_TMP/v.2' '$TEST_TMP/old.der'"
check "bob: the new value is the token's" bash -c "cmp -s '$TEST_TMP/v.1' '$TEST_TMP/bob.der' || cmp -s '$TEST_TMP/v.2' '$TEST_TMP/bob.der'"
# userSMIMECertificate has no equality rule in slapd's schema: a second value
# is written beside the first all the same.
check_eq "bob: two PKCS#7 values" 2 "$(values bob@example.org userSMIMECertificate)"
check "bob: the old PKCS#7 is intact" bash -c "cmp -s '$TEST_TMP/v.1' '$TEST_TMP/old.p7' || cmp -s '$TEST_TMP/v.2' '$TEST_TMP/old.p7'"

# --remove (a revocation): exactly bob's new value goes; the old one, and alice, stay.
out=$(pub --remove bob@example.org 2>&1)
check_eq "remove bob: exit 0 ($out)" 0 $?
check_eq "bob: one value left" 1 "$(values bob@example.org 'userCertificate;binary')"
check "bob: the one left is the old one" cmp "$TEST_TMP/v.1" "$TEST_TMP/old.der"
check_eq "bob: one PKCS#7 left" 1 "$(values bob@example.org userSMIMECertificate)"
check "bob: the PKCS#7 left is the old one" cmp "$TEST_TMP/v.1" "$TEST_TMP/old.p7"
check_eq "alice untouched" 1 "$(values alice@example.org 'userCertificate;binary')"
check "alice's value untouched" cmp "$TEST_TMP/v.1" "$TEST_TMP/alice.der"
out=$(pub --remove bob@example.org 2>&1)
check_eq "remove bob again: exit 0 ($out)" 0 $?
check_contains "remove bob again: already gone" "$out" "1 already without it"
out=$(pub bob@example.org 2>&1)
check_eq "publish bob after remove: no-op exit 0" 0 $?
check_eq "bob: a removed certificate is not put back" 1 "$(values bob@example.org 'userCertificate;binary')"

# A directory that is down: a clear error, exit 1, nothing lost; later, a rerun publishes.
slapd_stop
out=$(pub carol@example.org 2>&1)
check_eq "directory down: exit 1 ($out)" 1 $?
check_contains "directory down: says so" "$out" "cannot reach or bind"
check_contains "directory down: says what to do" "$out" "publish --retry"
check_eq "directory down: still pending" gal "$(record carol@example.org | jq -r .publish_pending)"
check_eq "directory down: certificate still recorded" 1 "$(record carol@example.org | jq '.cert_pem != null' | grep -c true)"
slapd_restart || bad "slapd did not come back"
out=$(pub carol@example.org 2>&1)
check_eq "directory back: exit 0 ($out)" 0 $?
token_der carol@example.org "$TEST_TMP/carol.der"
check_eq "carol: published after the retry" 1 "$(values carol@example.org 'userCertificate;binary')"
check "carol: the token's certificate" cmp "$TEST_TMP/v.1" "$TEST_TMP/carol.der"

# StartTLS (ldap:// + "starttls": true), through a profile's "publish".
out=$(pub erin@example.org 2>&1)
check_eq "publish over StartTLS: exit 0 ($out)" 0 $?
token_der erin@example.org "$TEST_TMP/erin.der"
check_eq "erin: one value" 1 "$(values erin@example.org 'userCertificate;binary')"
check "erin: the token's certificate" cmp "$TEST_TMP/v.1" "$TEST_TMP/erin.der"
check_eq "erin: record says tls" tls "$(record erin@example.org | jq -r .published)"

# A wrong bind password: exit 8 naming the config, the password nowhere, nothing lost.
record_edit dave@example.org '.profile = "badpw" | del(.publish_pending, .published, .publish_sha256)'
out=$(pub dave@example.org 2>&1)
check_eq "wrong bind password: exit 8 ($out)" 8 $?
check_contains "wrong bind password: says so" "$out" "refused bind_dn"
check_not_contains "wrong bind password: not shown" "$out" "wrong-secret"
check_eq "wrong bind password: still pending" badpw "$(record dave@example.org | jq -r .publish_pending)"
check_eq "wrong bind password: nothing published" 0 "$(values dave@example.org 'userCertificate;binary')"

# No entry, and two entries.
out=$(pub nobody@example.org 2>&1)
check_eq "no entry: exit 10 ($out)" 10 $?
check_contains "no entry: says so" "$out" "no entry matches (mail=nobody@example.org)"
out=$(pub twin@example.org 2>&1)
check_eq "two entries: exit 2 ($out)" 2 $?
check_contains "two entries: says so" "$out" "several entries match"
check_eq "two entries: nothing published" 0 "$(values twin@example.org 'userCertificate;binary')"

# Several identities in one run: each tried, the first failure is the exit code.
out=$(pub alice@example.org nobody@example.org 2>&1)
check_eq "two identities, one failing: exit 10" 10 $?

# A certificate before it exists.
out=$(pub nosuch@example.org 2>&1)
check_eq "no record: exit 10" 10 $?

# Every publish and unpublish is in the audit log, intact, without the password.
AUDIT=$P11ENROLL_STATE_DIR/audit.jsonl
check_eq "audit: publish entries" 1 "$(grep -c '"action":"publish".*"identity":"alice@example.org".*"result":"added"' "$AUDIT")"
check_contains "audit: unpublish of bob" "$(cat "$AUDIT")" '"action":"unpublish","identity":"bob@example.org"'
check_contains "audit: the failure too" "$(grep carol "$AUDIT")" '"outcome":"fail'
check_not_contains "audit: no password" "$(cat "$AUDIT")" "publisher-secret"
check "audit chain intact" p11e audit verify

# Publishing as the pipeline's last step: enroll publishes; a directory that is
# down leaves the identity done with "publish pending" (exit 7) and poll
# finishes it; a renewal adds the new certificate and keeps the old encryption
# one (keep_encryption_history); a signing-only renewal withdraws the old value;
# revoke withdraws exactly the revoked one.
jq '.profiles.signpub = {base: "smime-sign", publish: ["gal"]}' "$CONF" >"$CONF.tmp" &&
	mv "$CONF.tmp" "$CONF"
enroll frank@example.org
check_eq "enroll frank publishes: exit 0" 0 $?
token_der frank@example.org "$TEST_TMP/frank1.der"
check_eq "frank: published by enroll" 1 "$(values frank@example.org 'userCertificate;binary')"
check "frank: the token's certificate" cmp "$TEST_TMP/v.1" "$TEST_TMP/frank1.der"
check_eq "frank: record says published" gal "$(record frank@example.org | jq -r .published)"
slapd_stop
out=$(p11e --config "$CONF" enroll "$TEST_TOKEN_URI" --email grace@example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "directory down: enroll exits 7 ($out)" 7 $?
check_contains "directory down: says what to do" "$out" "publish --retry"
check_eq "directory down: the card is done" done "$(record grace@example.org | jq -r .step)"
check_eq "directory down: certificate on the token" 1 "$(count_objects cert "$(key_id grace@example.org)")"
check_contains "status: publish pending" "$(p11e --config "$CONF" status grace@example.org)" "publish pending"
slapd_restart || bad "slapd did not come back"
out=$(p11e --config "$CONF" poll grace@example.org 2>&1)
check_contains "poll: says published" "$out" "publishing finished"
check_eq "poll finishes the publishing ($out)" 0 $?
check_eq "grace: published by poll" 1 "$(values grace@example.org 'userCertificate;binary')"
check_eq "grace: nothing pending" "" "$(record grace@example.org | jq -r '.publish_pending // ""')"
out=$(p11e --config "$CONF" renew frank@example.org --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew frank (smime) ($out)" 0 $?
token_der frank@example.org "$TEST_TMP/frank2.der"
check_eq "frank: old and new encryption certificates" 2 "$(values frank@example.org 'userCertificate;binary')"
check "frank: the new one is there" bash -c "cmp -s '$TEST_TMP/v.1' '$TEST_TMP/frank2.der' || cmp -s '$TEST_TMP/v.2' '$TEST_TMP/frank2.der'"
enroll henry@example.org --profile signpub
check_eq "enroll henry (signing, published)" 0 $?
out=$(p11e --config "$CONF" renew henry@example.org --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew henry (signing) ($out)" 0 $?
token_der henry@example.org "$TEST_TMP/henry2.der"
check_eq "henry: only the new signing certificate" 1 "$(values henry@example.org 'userCertificate;binary')"
check "henry: it is generation 2's" cmp "$TEST_TMP/v.1" "$TEST_TMP/henry2.der"
out=$(p11e --config "$CONF" revoke frank@example.org --generation 1 --reason superseded 2>&1)
check_eq "revoke frank's generation 1 ($out)" 0 $?
check_eq "frank: only generation 2 left" 1 "$(values frank@example.org 'userCertificate;binary')"
check "frank: generation 2's" cmp "$TEST_TMP/v.1" "$TEST_TMP/frank2.der"

# The AD form (plain userCertificate) as far as slapd allows: slapd refuses it,
# with a message pointing at "directory".
jq '.publishers.ad = (.publishers.gal + {directory: "ad"})' "$CONF" >"$CONF.ad"
record_edit dave@example.org 'del(.publish_pending, .published, .publish_sha256) | .profile = "adp"'
jq '.profiles.adp = {base: "smime", publish: ["ad"]}' "$CONF.ad" >"$CONF.ad2"
out=$(p11e --config "$CONF.ad2" publish dave@example.org 2>&1)
check_eq "AD forms on slapd: exit 1 ($out)" 1 $?
check_contains "AD forms on slapd: names the attribute" "$out" "userCertificate"

finish
