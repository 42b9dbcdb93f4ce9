# issue 22, proof by SSSD (sssd-common, sssd-tools): sssd's p11_child, what pam_sss
# runs at a smartcard login (it needs no running sssd), finds the smartcard-logon
# certificate on the card valid against the embedded CA, drops it once revoked with
# the CRL given to it, and ignores a card's certificates another CA issued; a
# certificate mapping rule (sss_certmap, through `sssctl cert-eval-rule`) matches the
# logon certificate by its key purpose and UPN and maps it to the user by UPN,
# Kerberos principal or mail, and does not match an S/MIME certificate.
# p11_child looks only at removable slots (SoftHSM: slots.removable = true) of modules
# registered with p11-kit (tests/with-softhsm.sh's private registry, which has
# SoftHSM's); sssctl reads /etc/sssd/sssd.conf, so the test binds its own over
# /etc/sssd in its private mount namespace (as root, as CI runs it).
. "$TESTS_DIR/lib/common.sh"
if [ -z "${P11E_TEST_MNTNS:-}" ]; then
	bad "logon_sssd needs root and a private mount namespace (tests/with-softhsm.sh as root)"
	finish
fi
P11_CHILD=/usr/libexec/sssd/p11_child
setup_ca
sed 's/^slots.removable = .*/slots.removable = true/' "$SOFTHSM2_CONF" >"$TEST_TMP/removable.conf"
export SOFTHSM2_CONF=$TEST_TMP/removable.conf

out=$(p11e enroll "$TEST_TOKEN_URI" --profile smartcard-logon --email alice@example.org \
	--upn alice@corp.example.org --principal alice@EXAMPLE.ORG --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "enroll alice's logon card ($out)" 0 $?
record alice@example.org | jq -r .cert_pem >"$TEST_TMP/alice.pem"
alice_b64=$(openssl x509 -in "$TEST_TMP/alice.pem" -outform DER | base64 -w0)
p11e ca cert --ca "local:$CA_DIR" >"$TEST_TMP/ca.pem"

# p11_child --pre: the certificates a login could use, each as token, module, key
# ID, label and the certificate in base64.
out=$("$P11_CHILD" --pre --ca_db="$TEST_TMP/ca.pem" --verify=no_ocsp --uri=pkcs11:token=test 2>&1)
check_eq "p11_child --pre ($out)" 0 $?
check_contains "p11_child lists alice's certificate" "$out" "$alice_b64"
check_contains "with its key ID" "$out" "$(key_id alice@example.org | tr a-f A-F)"

# Against another CA's anchors: not valid, not listed.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=Other CA" \
	-keyout "$TEST_TMP/other.key" -out "$TEST_TMP/other.pem" 2>/dev/null
out=$("$P11_CHILD" --pre --ca_db="$TEST_TMP/other.pem" --verify=no_ocsp --uri=pkcs11:token=test 2>&1)
check_not_contains "another CA: alice's certificate not listed" "$out" "$alice_b64"

# Revoked, and the CRL given to p11_child: dropped.
p11e ca crl --ca "local:$CA_DIR" --out "$TEST_TMP/crl0.pem"
out=$("$P11_CHILD" --pre --ca_db="$TEST_TMP/ca.pem" --verify="no_ocsp,crl_file=$TEST_TMP/crl0.pem" \
	--uri=pkcs11:token=test 2>&1)
check_contains "with the CRL before the revocation: listed" "$out" "$alice_b64"
out=$(p11e revoke alice@example.org --reason keyCompromise 2>&1)
check_eq "revoke alice ($out)" 0 $?
p11e ca crl --ca "local:$CA_DIR" --out "$TEST_TMP/crl.pem"
out=$("$P11_CHILD" --pre --ca_db="$TEST_TMP/ca.pem" --verify="no_ocsp,crl_file=$TEST_TMP/crl.pem" \
	--uri=pkcs11:token=test 2>&1)
check_not_contains "revoked, with the CRL: not listed" "$out" "$alice_b64"

# Mapping rules (sss_certmap), evaluated by sssctl with a configuration of its own.
mkdir -p "$TEST_TMP/etc-sssd"
printf '[sssd]\nservices = nss\ndomains = example\n[domain/example]\nid_provider = files\n' \
	>"$TEST_TMP/etc-sssd/sssd.conf"
chmod 600 "$TEST_TMP/etc-sssd/sssd.conf"
mount --bind "$TEST_TMP/etc-sssd" /etc/sssd
eval_rule() { sssctl cert-eval-rule "$1" --match="$2" --map="$3" 2>&1; }
match='&&<EKU>1.3.6.1.4.1.311.20.2.2<SAN:ntPrincipalName>alice@corp.example.org'
out=$(eval_rule "$alice_b64" "$match" 'LDAP:(userPrincipalName={subject_nt_principal})')
check_contains "match by smartcard logon EKU and UPN" "$out" "Certificate matches rule."
check_contains "map by UPN" "$out" "(userPrincipalName=alice@corp.example.org)"
out=$(eval_rule "$alice_b64" '<SAN:pkinit>alice@EXAMPLE.ORG' 'LDAP:(krbPrincipalName={subject_pkinit_principal})')
check_contains "match and map by the Kerberos principal" "$out" "(krbPrincipalName=alice@EXAMPLE.ORG)"
out=$(eval_rule "$alice_b64" '<EKU>1.3.6.1.5.2.3.4' 'LDAP:(mail={subject_rfc822_name})')
check_contains "map by mail" "$out" "(mail=alice@example.org)"
out=$(eval_rule "$alice_b64" '<SAN:ntPrincipalName>bob@corp.example.org' 'LDAP:(userPrincipalName={subject_nt_principal})')
check_contains "another user's UPN: no match" "$out" "Certificate does not match rule."

# An S/MIME certificate does not match the logon rule.
out=$(p11e enroll "$TEST_TOKEN_URI" --email bob@example.org --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "enroll bob's S/MIME certificate ($out)" 0 $?
bob_b64=$(record bob@example.org | jq -r .cert_pem | openssl x509 -outform DER | base64 -w0)
out=$(eval_rule "$bob_b64" '<EKU>1.3.6.1.4.1.311.20.2.2' 'LDAP:(mail={subject_rfc822_name})')
check_contains "S/MIME: no match" "$out" "Certificate does not match rule."
finish
