# issue 22, proof by pam_pkcs11 (libpam-pkcs11): its tools pkcs11_inspect and
# pklogin_finder, with the card (SoftHSM) and a pam_pkcs11.conf of the test's own
# (config_file=), find the smartcard-logon certificate, verify it against the
# embedded CA (cert_policy ca,signature: the card signs a challenge) and map it to
# the user by UPN (mapper ms, the UPN's domain) or by mail; once revoked, with the
# CRL in crl_dir (crl_offline), no user is found; a card with only an S/MIME
# certificate has no UPN for the ms mapper.
. "$TESTS_DIR/lib/common.sh"
setup_ca
P=$TEST_TMP/pam
mkdir -p "$P/cacerts" "$P/crls"
pam_conf() { # pam_conf MAPPERS CERT_POLICY
	cat >"$P/pam_pkcs11.conf" <<CONF
pam_pkcs11 {
  debug = false;
  use_pkcs11_module = softhsm;
  pkcs11_module softhsm {
    module = $SOFTHSM_MODULE;
    description = "SoftHSM";
    slot_description = "none";
    ca_dir = $P/cacerts;
    crl_dir = $P/crls;
    support_threads = false;
    cert_policy = $2;
  }
  use_mappers = $1;
  mapper ms {
    debug = false;
    module = internal;
    ignorecase = false;
    ignoredomain = false;
    domainname = "corp.example.org";
  }
  mapper mail {
    debug = false;
    module = internal;
    mapfile = file://$P/mail_mapping;
    ignorecase = true;
    ignoredomain = true;
  }
}
CONF
}
# The tools ask for the PIN on their terminal or stdin.
inspect() { pkcs11_inspect "config_file=$P/pam_pkcs11.conf" <"$TEST_PIN_FILE" 2>&1; }
finder() { pklogin_finder "config_file=$P/pam_pkcs11.conf" <"$TEST_PIN_FILE" 2>&1; }

out=$(p11e enroll "$TEST_TOKEN_URI" --profile smartcard-logon --email alice@example.org \
	--upn alice@corp.example.org --ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll alice's logon card ($out)" 0 $?
p11e ca cert --ca "local:$CA_DIR" >"$P/cacerts/ca.pem"
openssl rehash "$P/cacerts" >/dev/null 2>&1

pam_conf "ms, mail" "ca,signature"
out=$(inspect)
check_contains "pkcs11_inspect: the UPN (mapper ms)" "$out" "alice@corp.example.org"
check_contains "pkcs11_inspect: the mail (mapper mail)" "$out" "alice@example.org"
out=$(finder)
check_eq "pklogin_finder by UPN: alice ($out)" "alice" "$(printf '%s\n' "$out" | tail -1)"
printf 'alice@example.org -> alice-by-mail\n' >"$P/mail_mapping"
pam_conf "mail" "ca,signature"
out=$(finder)
check_eq "pklogin_finder by mail, through a mapfile ($out)" "alice-by-mail" "$(printf '%s\n' "$out" | tail -1)"

# Not trusted: another CA in ca_dir.
mkdir -p "$P/other"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=Other CA" \
	-keyout "$P/other/ca.key" -out "$P/other/ca.pem" 2>/dev/null
mv "$P/cacerts" "$P/cacerts.ours"
mv "$P/other" "$P/cacerts"
openssl rehash "$P/cacerts" >/dev/null 2>&1
pam_conf "ms" "ca,signature"
out=$(finder)
check_eq "another CA: pklogin_finder fails ($out)" 1 $?
check_not_contains "another CA: no user" "$out" "alice"
rm -rf "$P/cacerts"
mv "$P/cacerts.ours" "$P/cacerts"

# Revoked: the CRL in crl_dir, checked offline. First the CRL from before the
# revocation: the same policy finds alice.
p11e ca crl --ca "local:$CA_DIR" --out "$P/crls/ca.crl.pem"
openssl rehash "$P/crls" >/dev/null 2>&1
pam_conf "ms" "ca,signature,crl_offline"
out=$(finder)
check_eq "crl_offline, not revoked: alice ($out)" "alice" "$(printf '%s\n' "$out" | tail -1)"
out=$(p11e revoke alice@example.org --reason keyCompromise 2>&1)
check_eq "revoke alice ($out)" 0 $?
p11e ca crl --ca "local:$CA_DIR" --out "$P/crls/ca.crl.pem"
openssl rehash "$P/crls" >/dev/null 2>&1
out=$(finder)
check_eq "revoked, crl_offline: pklogin_finder fails ($out)" 1 $?
check_not_contains "revoked, crl_offline: no user" "$out" "alice"

# A card with only an S/MIME certificate (a token of its own): no UPN to map.
mkdir -p "$TEST_TMP/tokens2"
sed "s|^directories.tokendir = .*|directories.tokendir = $TEST_TMP/tokens2|" "$SOFTHSM2_CONF" \
	>"$TEST_TMP/softhsm2-smime.conf"
export SOFTHSM2_CONF=$TEST_TMP/softhsm2-smime.conf
softhsm2-util --init-token --free --label smime --so-pin 12345678 --pin 123456 >/dev/null # fixture
out=$(p11e enroll pkcs11:token=smime --email bob@example.org --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "enroll bob's S/MIME card ($out)" 0 $?
pam_conf "ms" "ca,signature"
out=$(inspect)
check_not_contains "pkcs11_inspect: no UPN on an S/MIME card" "$out" "@corp.example.org"
out=$(finder)
check_eq "pklogin_finder on an S/MIME card fails ($out)" 1 $?
check_not_contains "pklogin_finder: no user for an S/MIME card" "$out" "bob"
finish
