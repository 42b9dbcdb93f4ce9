# The card registry on a second PKCS#11 implementation, NSS softokn (Debian's libnss3),
# loaded directly with its init arguments: register (in stock, serial, manufacturer and
# model as softokn says them), issue, suspend (the certificate on hold: openssl verify
# -crl_check fails), resume (it passes again), with the audit. softokn's token is
# "NSS Certificate DB" with an empty PIN.
SOFTOKN=/usr/lib/x86_64-linux-gnu/libsoftokn3.so
. "$TESTS_DIR/lib/common.sh"
if [ ! -e "$SOFTOKN" ] || ! command -v certutil >/dev/null; then
	bad "needs libnss3 and certutil (libnss3-tools, scripts/deps.sh --test)"
	finish
fi
# softokn and the NSS libraries keep allocations until exit: theirs, not ours.
lsan_suppress libsoftokn3 libnss3 libnssutil3 libnspr4 libplc4 libplds4 libsqlite3 \
	libfreeblpriv3 libfreebl3
LOG=$TEST_TMP/all-output.log
: >"$LOG"
NSSDB=$TEST_TMP/nssdb
mkdir -p "$NSSDB"
certutil -N -d "sql:$NSSDB" --empty-password || { bad "certutil -N"; finish; }
ARGS="configdir='sql:$NSSDB' certPrefix='' keyPrefix='' secmod='secmod.db' flags="
NSS_URI="pkcs11:token=NSS%20Certificate%20DB"
setup_ca
: >"$TEST_TMP/empty-pin"
nss() { p11e_logged "$@" --module "$SOFTOKN" --module-args "$ARGS"; }

nss pin status "$NSS_URI" --json
check_eq "pin status on softokn: exit 0 ($OUT)" 0 $?
SERIAL=$(jq -r .serial <<<"$OUT")
card() { p11e card show "$SERIAL" --json; }
nss card register "$NSS_URI" --no-personalise --operator desk
check_eq "register softokn's token: exit 0 ($OUT)" 0 $?
check_eq "in stock, as softokn describes itself" "in-stock Mozilla Foundation NSS 3" \
	"$(card | jq -r '"\(.state) \(.manufacturer) \(.model)"')"
nss enroll "$NSS_URI" --email nss@example.org --key ec:P-256 --ca "local:$CA_DIR" \
	--pin-source "file:$TEST_TMP/empty-pin"
check_eq "enroll onto softokn: exit 0 ($OUT)" 0 $?
record nss@example.org | jq -r .cert_pem >"$TEST_TMP/nss.pem"
p11e ca cert --ca "local:$CA_DIR" >"$TEST_TMP/ca.pem"
verify() {
	p11e ca crl --dir "$CA_DIR" --out "$TEST_TMP/crl.pem" >/dev/null 2>&1 &&
		openssl verify -crl_check -CAfile "$TEST_TMP/ca.pem" -CRLfile "$TEST_TMP/crl.pem" \
			"$TEST_TMP/nss.pem" 2>&1
}
check_eq "show: the identity on the card" nss@example.org "$(card | jq -r '.generations[0].identity')"
p11e_logged card issue "$SERIAL"
check_contains "issued: verifies" "$(verify)" ": OK"
p11e_logged card suspend "$SERIAL" --reason leave --operator desk
check_eq "suspend: exit 0 ($OUT)" 0 $?
check_contains "suspended: -crl_check fails" "$(verify)" "certificate revoked"
p11e_logged card resume "$SERIAL" --operator desk
check_eq "resume: exit 0 ($OUT)" 0 $?
check_contains "resumed: verifies again" "$(verify)" ": OK"
check_eq "audited: register, issue, suspend, resume" "card-register card-issue card-suspend card-resume" \
	"$(audit_lines | jq -r --arg s "$SERIAL" 'select(.serial == $s) | .action' | tr '\n' ' ' | sed 's/ $//')"
finish
