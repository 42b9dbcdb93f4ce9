# The logon identities (issue 22) from the command line and a roster into the
# record: --upn, --principal (realm upper-cased), --sid kept, so a rerun and a
# renewal reuse them; bad ones refused with a one-line error naming the field
# (exit 2) before anything exists; a rerun contradicting a certified one
# refused (exit 9); the config's kerberos_realm checked at load (exit 8).
. "$TESTS_DIR/lib/common.sh"
setup_ca
SID=S-1-5-21-1004336348-1177238915-682003330-1106

out=$(p11e enroll "$TEST_TOKEN_URI" --profile smartcard-logon --email alice@example.org \
	--upn alice@corp.example.org \
	--principal alice@example.org --sid "$SID" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll with --upn --principal --sid ($out)" 0 $?
check_eq "recorded, the realm upper-cased" "alice@corp.example.org alice@EXAMPLE.ORG $SID" \
	"$(record alice@example.org | jq -r '"\(.upn) \(.principal) \(.sid)"')"
check_eq "status --json shows them" "alice@corp.example.org" \
	"$(p11e status alice@example.org --json | jq -r '(.[0] // .).upn')"

out=$(p11e enroll "$TEST_TOKEN_URI" --email alice@example.org --upn alice2@corp.example.org \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "a rerun with another UPN once certified: exit 9" 9 $?
check_contains "names the field" "$out" "upn: identity alice@example.org was started with"

out=$(p11e renew alice@example.org --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew ($out)" 0 $?
check_eq "the renewal kept them" "2 alice@corp.example.org alice@EXAMPLE.ORG $SID" \
	"$(record alice@example.org | jq -r '"\(.generation) \(.upn) \(.principal) \(.sid)"')"

# Bad values: exit 2, one line naming the field, nothing made.
keys() { p11tool_opensc --list-objects --type privkey | grep -c "ID:"; }
keys_before=$(keys)
for args in "--sid S-1-5" "--sid s-1-5-21-1" "--principal bob" "--principal bob@EX:AMPLE" \
	"--upn bob"; do
	# shellcheck disable=SC2086
	out=$(p11e enroll "$TEST_TOKEN_URI" --email bob@example.org $args --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
	check_eq "enroll $args: exit 2 ($out)" 2 $?
	check_eq "enroll $args: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
		field=${args%% *}
	check_contains "enroll $args: names the field" "$out" "enroll: ${field#--}: "
done
out=$(p11e enroll "$TEST_TOKEN_URI" --email bob@example.org --upn "$(printf 'bob\033[2J@corp')" \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "a UPN with control characters: exit 2" 2 $?
check_contains "names the field" "$out" "upn: a control character at byte 4"
check_not_contains "the escape not echoed" "$out" "$(printf '\033')"
check "nothing made for bob" no_record bob@example.org
check_eq "no key made on the token" "$keys_before" "$(keys)"

# A roster: the columns reach the record; a bad row is reported, the rest go on.
cat >"$TEST_TMP/roster.csv" <<CSV
email,upn,principal,sid
carol@example.org,carol@corp.example.org,carol@corp.example.org,S-1-5-21-1-2-3-1107
dave@example.org,dave@corp.example.org,,S-1-5-21-1-2-x
CSV
out=$(p11e batch "$TEST_TMP/roster.csv" --profile smartcard-logon --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "batch with a bad row: exit 1 ($out)" 1 $?
check_eq "carol's row recorded" "carol@corp.example.org carol@CORP.EXAMPLE.ORG S-1-5-21-1-2-3-1107" \
	"$(record carol@example.org | jq -r '"\(.upn) \(.principal) \(.sid)"')"
check_contains "dave's row: the SID named" "$out" "sid: 'S-1-5-21-1-2-x' is not a SID"
check "nothing made for dave" no_record dave@example.org

# Logon names for a profile that certifies none: refused, nothing made.
keys_before=$(keys)
out=$(p11e enroll "$TEST_TOKEN_URI" --email erin@example.org --upn erin@corp.example.org \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "--upn with profile smime: exit 2" 2 $?
check_contains "says which profiles" "$out" "upn: profile 'smime' puts no logon names in a certificate"
# smartcard-logon without a UPN or principal (and no realm): refused.
out=$(p11e enroll "$TEST_TOKEN_URI" --profile smartcard-logon --email erin@example.org \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "smartcard-logon with no UPN or principal: exit 2" 2 $?
check_contains "names the options" "$out" "give --upn or --principal"
check "nothing made for erin" no_record erin@example.org
out=$(p11e enroll "$TEST_TOKEN_URI" --profile smartcard-logon --dns host.example.org \
	--upn host@corp.example.org --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "smartcard-logon for a host: exit 2" 2 $?
check_contains "says to use --email" "$out" "dns: profile 'smartcard-logon' certifies a person"
out=$(p11e enroll "$TEST_TOKEN_URI" --profile kdc --dns kdc.example.org --upn kdc@corp.example.org \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "kdc with --upn: exit 2" 2 $?
check_contains "kdc: no UPN" "$out" "upn: profile 'kdc' certifies a KDC"
out=$(p11e enroll "$TEST_TOKEN_URI" --profile kdc --dns kdc.example.org --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "kdc without a principal or realm: exit 2" 2 $?
check_contains "kdc: names --principal" "$out" "principal: profile 'kdc' needs the KDC's principal"
check_eq "no key made" "$keys_before" "$(keys)"

# An EC logon key: made, with one line of warning naming MIT's limit; not repeated
# by a rerun of the done identity.
out=$(p11e enroll "$TEST_TOKEN_URI" --profile smartcard-logon --email frank@example.org \
	--upn frank@corp.example.org --key ec:P-256 --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1 >/dev/null)
check_eq "EC logon key: enrolled" "ec:P-256 done" "$(record frank@example.org | jq -r '"\(.key_type) \(.step)"')"
check_eq "EC logon key: one line on stderr" 1 "$(printf '%s\n' "$out" | wc -l)"
check_contains "EC logon key: the warning" "$out" \
	"warning: identity frank@example.org: an EC logon key: MIT krb5 1.20's PKINIT signs with a token's key only through RSA"
out=$(p11e enroll "$TEST_TOKEN_URI" --profile smartcard-logon --email frank@example.org \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1 >/dev/null)
check_eq "EC logon key: no warning on a rerun" "" "$out"

# csr for an existing key: the logon names in the request, checked the same way.
uri="pkcs11:token=test;id=$(pct_id "$(key_id alice@example.org)")"
out=$(p11e csr "$uri" --profile smartcard-logon --email alice@example.org --upn alice@corp.example.org \
	--principal alice@example.org --sid "$SID" --pin-source "$PIN_SRC" 2>/dev/null |
	openssl req -noout -text 2>&1)
check_contains "csr: the UPN" "$out" "UPN::alice@corp.example.org"
check_contains "csr: the SID extension" "$out" "1.3.6.1.4.1.311.25.2"
check_contains "csr: the realm upper-cased" "$(p11e csr "$uri" --profile smartcard-logon \
	--email alice@example.org --principal alice@example.org --pin-source "$PIN_SRC" 2>/dev/null |
	openssl req -outform DER | od -An -tx1 | tr -d ' \n')" "4558414d504c452e4f5247" # EXAMPLE.ORG
out=$(p11e csr "$uri" --profile smartcard-logon --email alice@example.org --sid S-1-5 \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "csr with a bad --sid: exit 2 ($out)" 2 $?

# kerberos_realm in the config: checked at load.
printf '{ "kerberos_realm": "EXAMPLE ORG" }\n' >"$TEST_TMP/bad.json"
out=$(p11e --config "$TEST_TMP/bad.json" status 2>&1)
check_eq "a bad kerberos_realm: exit 8" 8 $?
check_contains "names it" "$out" "kerberos_realm: 'EXAMPLE ORG' is not a Kerberos realm"
finish
