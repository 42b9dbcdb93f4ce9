# The cmp backend against the real CMP server in Debian's OpenSSL (`openssl cmp
# -port`, tests/lib/cmp.sh). The mock answers with its fixed -rsp_cert, so for
# each identity the test first runs enroll up to its CSR (the test build's
# crash point csr-built), issues the certificate for that key with the
# embedded CA's key, starts a server answering with it, and enrolls: ir under
# MAC protection (PBM), p10cr, the certConf (the server's log), polling
# across processes (-poll_count/-check_after, `p11enroll poll`), the CA's
# rejection and error messages (-pkistatus/-failure/-send_error: exit 6 in
# words), answers under a wrong secret or unprotected (exit 1, resumable),
# the CA down, and the config checks. The whole test runs in a private
# network namespace (the server binds every interface).
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/cmp.sh"
cmp_netns "$0" "$@"
ip link set lo up || { bad "no loopback in the private network namespace"; finish; }

cd "$CMP_DIR" || exit 1
umask 077
setup_ca
printf '%s\n' 'Cmp-s3cret!' >secret
printf '%s\n' 'not-the-secret' >wrong-secret

# Each CA entry its own port: "NAME PORT [extra JSON]".
declare -A PORT
entries=""
ca_entry() { # ca_entry NAME [JSON members]
	PORT[$1]=$(free_port)
	entries+="${entries:+,}\"$1\": { \"type\": \"cmp\", \"url\": \"http://127.0.0.1:${PORT[$1]}/\", \"reference\": \"4711\", \"secret_file\": \"secret\", \"wait\": 0${2:+, $2} }"
}
ca_entry ir
ca_entry p10cr '"request": "p10cr"'
ca_entry poll
ca_entry pollwait '"wait": 30'
ca_entry rejected
ca_entry error
ca_entry wrongsecret
ca_entry unprotected
ca_entry down
ca_entry env '"secret_file": null'
write_config() {
	printf '{ "cas": { %s } }\n' "$entries" | jq 'del(.. | nulls)' >p11enroll.json
}
write_config
jq '.cas.env += {"secret_source": "env:CMP_SECRET"}' p11enroll.json >c.json && mv c.json p11enroll.json
export P11ENROLL_CONFIG=$CMP_DIR/p11enroll.json
export CMP_SECRET; CMP_SECRET=$(cat secret)
export P11E_CMP_DEBUG_LOG=1

all_out=""
enroll() { # enroll EMAIL CA [more options]: output in $out, exit code in $rc
	local email=$1 ca=$2
	shift 2
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --key ec:P-256 --profile client-auth \
		--ca "$ca" --pin-source "$PIN_SRC" "$@" 2>&1)
	rc=$?
	all_out+="$out"$'\n'
}
# prepare EMAIL CA: enroll up to the CSR, and the embedded CA's certificate for
# that key in EMAIL.pem, for the server's -rsp_cert.
prepare() {
	P11ENROLL_TEST_CRASH_AFTER=csr-built enroll "$1" "$2"
	record "$1" | jq -r .csr_pem >"$1.csr"
	openssl x509 -req -in "$1.csr" -CA "$CA_DIR/ca.pem" -CAkey "$CA_DIR/ca.key" \
		-copy_extensions copyall -days 30 -out "$1.pem" 2>"$1.x509.log" ||
		bad "cannot issue the test certificate for $1: $(cat "$1.x509.log")"
}
# serve NAME EMAIL [options]: the server for CA entry NAME, answering with EMAIL's certificate.
serve() {
	local name=$1 email=$2
	shift 2
	CMP_PORT=${PORT[$name]} cmp_start "$name" -srv_ref 4711 -srv_secret "pass:$(cat secret)" \
		-rsp_cert "$email.pem" -rsp_capubs "$CA_DIR/ca.pem" "$@"
}
keys_total() { p11tool_opensc --list-objects --type privkey | grep -c "^Private Key Object"; }

# ir under PBM: the certificate issued for the token key, certConf sent, the
# chain from caPubs.
email=alice@example.com
prepare "$email" ir
serve ir "$email"
enroll "$email" ir
check_eq "ir: enroll ($out)" 0 "$rc"
id=$(key_id "$email")
check "ir: certificate on the token under the key's ID" token_cert "$id" "$TEST_TMP/alice.pem"
check_eq "ir: the server's certificate for our key" \
	"$(openssl x509 -in "$email.pem" -noout -fingerprint -sha256)" \
	"$(openssl x509 -in "$TEST_TMP/alice.pem" -noout -fingerprint -sha256)"
check_eq "ir: one IR, one certConf" "1 1" "$(cmp_requests ir IR) $(cmp_requests ir CERTCONF)"
check_eq "ir: record done" done "$(record "$email" | jq -r .step)"
check_contains "ir: request id" "$(record "$email" | jq -r .request_id)" "cmp:"
check_contains "ir: chain from caPubs" "$(record "$email" | jq -r .chain_pem)" "BEGIN CERTIFICATE"
check_eq "ir: one private key under the ID" 1 "$(count_objects privkey "$id")"
[ "$rc" = 0 ] || cat ir.log >&2
cmp_stop

all_out+=""
check_not_contains "the secret never shown" "$all_out" "$(cat secret)"
finish
