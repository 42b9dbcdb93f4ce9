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
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "ca_cmp needs a build with -DP11ENROLL_TEST_HOOKS=ON (it stops enroll after the CSR)"
	finish
fi
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
ca_entry env
ca_entry signed
for point in cmp-saved cmp-answered cmp-cert-kept cmp-confirmed ca-answered; do
	ca_entry "$point"
done
printf '{ "cas": { %s } }\n' "$entries" | jq '
	.cas.env |= (del(.secret_file) + {"secret_source": "env:CMP_SECRET"}) |
	.cas.signed |= (del(.reference, .secret_file) + {"cert_file": "ra.pem", "key_file": "ra.key",
		"srv_cert_file": "srv.pem"}) |
	.cas.noprot = (.cas.ir | del(.reference, .secret_file)) |
	.cas.cmdsecret = (.cas.ir | del(.secret_file) + {"secret_source": "Cmp-s3cret!"})' >p11enroll.json
# The signature-protected entry: an RA certificate from the embedded CA for
# the requests, a self-signed signer for the server's answers (pinned).
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ra.key \
	-subj /CN=cmp-ra -out ra.csr 2>/dev/null
openssl x509 -req -in ra.csr -CA "$CA_DIR/ca.pem" -CAkey "$CA_DIR/ca.key" -days 30 \
	-out ra.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key \
	-subj /CN=cmp-server -days 30 -out srv.pem 2>/dev/null
export P11ENROLL_CONFIG=$CMP_DIR/p11enroll.json
export CMP_SECRET; CMP_SECRET=$(cat secret)

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
	[ "$rc" = 86 ] || bad "prepare $1: enroll did not stop after its CSR ($rc: $out)"
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

# serve_signed NAME EMAIL [options]: a server whose answers are signed by
# srv.pem and who checks signed requests against the embedded CA.
serve_signed() {
	local name=$1 email=$2
	shift 2
	CMP_PORT=${PORT[$name]} cmp_start "$name" -srv_cert srv.pem -srv_key srv.key \
		-srv_trusted "$CA_DIR/ca.pem" -rsp_cert "$email.pem" -rsp_capubs "$CA_DIR/ca.pem" "$@"
}
keys_total() { p11tool_opensc --list-objects --type privkey | grep -c "^Private Key Object"; }
fpr() { openssl x509 -in "$1" -noout -fingerprint -sha256; }

# ir under PBM: the certificate issued for the token key, certConf sent, the
# chain from caPubs.
email=alice@example.com
prepare "$email" ir
serve ir "$email"
enroll "$email" ir
check_eq "ir: enroll ($out)" 0 "$rc"
id=$(key_id "$email")
check "ir: certificate on the token under the key's ID" token_cert "$id" "$TEST_TMP/alice.pem"
check_eq "ir: the server's certificate for our key" "$(fpr "$email.pem")" "$(fpr "$TEST_TMP/alice.pem")"
check_eq "ir: one IR, one certConf" "1 1" "$(cmp_requests ir IR) $(cmp_requests ir CERTCONF)"
check_eq "ir: record done" done "$(record "$email" | jq -r .step)"
check_contains "ir: request id" "$(record "$email" | jq -r .request_id)" "cmp:"
check_eq "ir: chain from caPubs" "$(fpr "$CA_DIR/ca.pem")" \
	"$(record "$email" | jq -r .chain_pem | openssl x509 -noout -fingerprint -sha256)"
check_eq "ir: one private key under the ID" 1 "$(count_objects privkey "$id")"
# enroll again: done already, nothing sent
enroll "$email" ir
check_eq "ir: enroll again sends nothing" "1 1" "$(cmp_requests ir IR) $(cmp_requests ir CERTCONF)"
cmp_stop

# p10cr: the CSR as signed on the token.
email=bob@example.com
prepare "$email" p10cr
serve p10cr "$email"
enroll "$email" p10cr
check_eq "p10cr: enroll ($out)" 0 "$rc"
check_eq "p10cr: one P10CR, one certConf, no IR" "1 1 0" \
	"$(cmp_requests p10cr P10CR) $(cmp_requests p10cr CERTCONF) $(cmp_requests p10cr IR)"
check "p10cr: certificate on the token" token_cert "$(key_id "$email")" "$TEST_TMP/bob.pem"
cmp_stop

# The secret from the environment (secret_source env:).
email=bea@example.com
prepare "$email" env
serve env "$email"
enroll "$email" env
check_eq "secret_source env: enroll ($out)" 0 "$rc"
cmp_stop

# Polling: the server says "waiting" (ip, then pollRep) until its poll count;
# wait 0 hands back pending (exit 7), `p11enroll poll` from new processes goes
# on with the same transaction (the kept answers replayed, then real
# pollReqs), a crash just after a pollRep was kept (cmp-waiting) loses
# nothing.
email=carol@example.com
prepare "$email" poll
serve poll "$email" -poll_count 4 -check_after 0
enroll "$email" poll
check_eq "poll: pending, exit 7 ($out)" 7 "$rc"
check_eq "poll: record at submitted" submitted "$(record "$email" | jq -r .step)"
pout=$(P11ENROLL_TEST_CRASH_AFTER=cmp-waiting p11e poll "$email" --pin-source "$PIN_SRC" 2>&1)
check_eq "poll: crash after a pollRep is kept ($pout)" 86 $?
for _ in 1 2 3 4 5; do
	pout=$(p11e poll "$email" --pin-source "$PIN_SRC" 2>&1)
	prc=$?
	all_out+="$pout"$'\n'
	[ "$prc" = 7 ] || break
done
check_eq "poll: issued in the end ($pout)" 0 "$prc"
check_eq "poll: one IR, four pollReqs, one certConf" "1 4 1" \
	"$(cmp_requests poll IR) $(cmp_requests poll POLLREQ) $(cmp_requests poll CERTCONF)"
check "poll: certificate on the token" token_cert "$(key_id "$email")" "$TEST_TMP/carol.pem"
check_eq "poll: one key" 1 "$(count_objects privkey "$(key_id "$email")")"
cmp_stop

# Polling inside one run: "wait" 30 and checkAfter 1.
email=cathy@example.com
prepare "$email" pollwait
serve pollwait "$email" -poll_count 2 -check_after 1
enroll "$email" pollwait
check_eq "poll within wait: enroll ($out)" 0 "$rc"
check_eq "poll within wait: two pollReqs" 2 "$(cmp_requests pollwait POLLREQ)"
cmp_stop

# The CA's rejection: exit 6 with its status, failInfo and words.
email=eve@example.com
prepare "$email" rejected
serve rejected "$email" -pkistatus 2 -failure 2 -statusstring "denied by the test CA"
enroll "$email" rejected
check_eq "rejection: exit 6 ($out)" 6 "$rc"
check_contains "rejection: status named" "$out" "rejection"
check_contains "rejection: failInfo named" "$out" "badRequest"
check_contains "rejection: the CA's words" "$out" "denied by the test CA"
check_eq "rejection: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
check_eq "rejection: no certificate" 0 "$(count_objects cert "$(key_id "$email")")"
cmp_stop

# An error message instead of an answer: exit 6, in words.
email=erin@example.com
prepare "$email" error
serve error "$email" -send_error
enroll "$email" error
check_eq "error message: exit 6 ($out)" 6 "$rc"
check_contains "error message: said so" "$out" "CMP"
cmp_stop

# Answers under another secret: refused (exit 1, one line), the identity
# resumable; the right server then finishes the same transaction with the same key.
email=frank@example.com
prepare "$email" wrongsecret
fid=$(key_id "$email")
CMP_PORT=${PORT[wrongsecret]} cmp_start wrongsecret -srv_ref 4711 -srv_secret pass:not-the-secret \
	-rsp_cert "$email.pem"
enroll "$email" wrongsecret
check_eq "wrong secret: exit 1 ($out)" 1 "$rc"
check_eq "wrong secret: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
check_eq "wrong secret: record at csr-built" csr-built "$(record "$email" | jq -r .step)"
cmp_stop
serve wrongsecret "$email"
enroll "$email" wrongsecret
check_eq "right secret again: enroll resumes ($out)" 0 "$rc"
check_eq "right secret again: the same key" "$fid" "$(key_id "$email")"
cmp_stop

# Unprotected answers: refused, exit 1.
email=gina@example.com
prepare "$email" unprotected
serve unprotected "$email" -send_unprotected
enroll "$email" unprotected
check_eq "unprotected answer: exit 1 ($out)" 1 "$rc"
check_eq "unprotected answer: no certificate" 0 "$(count_objects cert "$(key_id "$email")")"
cmp_stop

# The CA down: exit 1, resumable; up again: the same key certified.
email=hank@example.com
prepare "$email" down
hid=$(key_id "$email")
enroll "$email" down
check_eq "CA down: exit 1 ($out)" 1 "$rc"
check_eq "CA down: record at csr-built" csr-built "$(record "$email" | jq -r .step)"
serve down "$email"
enroll "$email" down
check_eq "CA up: enroll resumes ($out)" 0 "$rc"
check_eq "CA up: the same key" "$hid" "$(key_id "$email")"
check_eq "CA up: one key" 1 "$(count_objects privkey "$hid")"
cmp_stop

# A crash at every point of the transaction, then a rerun: one key, one
# certificate, and no second request except where the first one's answer was
# not kept yet (cmp-answered: the same transaction's ir again, the first
# certificate never confirmed).
declare -A WANT=([cmp-saved]="1 1" [cmp-answered]="2 1" [cmp-cert-kept]="1 1"
	[cmp-confirmed]="1 1" [ca-answered]="1 1")
n=0
for point in cmp-saved cmp-answered cmp-cert-kept cmp-confirmed ca-answered; do
	n=$((n + 1))
	email="crash$n@example.com"
	prepare "$email" "$point"
	serve "$point" "$email"
	P11ENROLL_TEST_CRASH_AFTER=$point enroll "$email" "$point"
	check_eq "crash at $point: the run stops there ($out)" 86 "$rc"
	enroll "$email" "$point"
	check_eq "crash at $point: rerun finishes ($out)" 0 "$rc"
	check_eq "crash at $point: IRs and certConfs" "${WANT[$point]}" \
		"$(cmp_requests "$point" IR) $(cmp_requests "$point" CERTCONF)"
	check_eq "crash at $point: one key" 1 "$(count_objects privkey "$(key_id "$email")")"
	check_eq "crash at $point: one certificate" 1 "$(count_objects cert "$(key_id "$email")")"
	cmp_stop
done

# Signature protection with an existing certificate (ir), then renewal: a kur
# signed with the old certificate's key, for the new key; then revocation (rr).
email=dave@example.com
prepare "$email" signed
serve_signed signed "$email"
enroll "$email" signed
check_eq "signed ir: enroll ($out)" 0 "$rc"
# That server has no secret: it took the ir by its signature.
check_eq "signed ir: one IR, one certConf" "1 1" "$(cmp_requests signed IR) $(cmp_requests signed CERTCONF)"
old=$(key_id "$email")
cmp_stop
out=$(P11ENROLL_TEST_CRASH_AFTER=csr-built p11e renew "$email" --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew: up to the new CSR ($out)" 86 $?
record "$email" | jq -r .csr_pem >dave2.csr
# The mock takes a kur only when its oldCertID names the -rsp_cert's issuer
# and serial (and an rr only for those): the new certificate gets the old
# one's serial, so that the mock can answer a kur at all.
openssl x509 -req -in dave2.csr -CA "$CA_DIR/ca.pem" -CAkey "$CA_DIR/ca.key" \
	-set_serial "0x$(openssl x509 -in "$email.pem" -noout -serial | cut -d= -f2)" \
	-copy_extensions copyall -days 30 -out dave2.pem 2>/dev/null
serve_signed signed dave2
out=$(p11e renew "$email" --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew: kur ($out)" 0 "$?"
check_eq "renew: one KUR, no second IR" "1 1" "$(cmp_requests signed KUR) $(cmp_requests signed IR)"
new=$(key_id "$email")
check "renew: a new key" test "$new" != "$old"
check "renew: the new certificate on the token" token_cert "$new" "$TEST_TMP/dave2.pem"
check_eq "renew: it is the server's" "$(fpr dave2.pem)" "$(fpr "$TEST_TMP/dave2.pem")"
check_eq "renew: generation 2" 2 "$(record "$email" | jq -r .generation)"
out=$(p11e revoke "$email" --reason keyCompromise 2>&1)
check_eq "revoke: rr ($out)" 0 "$?"
check_eq "revoke: one RR" 1 "$(cmp_requests signed RR)"
cmp_stop

# Hostile bytes (tests/stubs/cmp_hostile_stub.py, a stub: the real server
# never sends them): each refused in one line naming what is wrong, exit 1,
# the identity resumable with its one key.
tail -c +2 "$TESTS_DIR/fuzz/corpus/cmp/answer-ip-cert" >real-answer.der
python3 "$TESTS_DIR/stubs/cmp_hostile_stub.py" --port-file stub.port --answer real-answer.der \
	--log stub.log >stub.out 2>&1 &
CMP_PIDS+=" $!"
for _ in $(seq 600); do [ -s stub.port ] && break; sleep 0.1; done
stub_port=$(cat stub.port)
email=judy@example.com
jq --arg p "$stub_port" '.cas += ([ "ctype", "truncated", "oversized", "other", "garbage", "500" ] |
	map({key: ("stub-" + .), value: {type: "cmp", url: ("http://127.0.0.1:" + $p + "/" + .),
		reference: "4711", secret_file: "secret", wait: 0}}) | from_entries)' \
	p11enroll.json >stub.json
jq --arg p "$stub_port" '.cas."stub-hang" = {type: "cmp", url: ("http://127.0.0.1:" + $p + "/hang"),
	reference: "4711", secret_file: "secret", wait: 0, timeout: 2, retries: 0}' stub.json >s.json &&
	mv s.json stub.json
for path in ctype truncated oversized other garbage 500 hang; do
	P11ENROLL_CONFIG=$CMP_DIR/stub.json enroll "$email" "stub-$path"
	check_eq "hostile $path: exit 1 ($out)" 1 "$rc"
	check_eq "hostile $path: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
	case $path in
	ctype) check_contains "hostile ctype: named" "$out" "Content-Type text/html" ;;
	truncated | garbage) check_contains "hostile $path: named" "$out" "not a PKIMessage" ;;
	oversized) check_contains "hostile oversized: named" "$out" "too large" ;;
	other) check_contains "hostile other: named" "$out" "another transaction" ;;
	500) check_contains "hostile 500: named" "$out" "HTTP 500" ;;
	hang) check_contains "hostile hang: the url named" "$out" "/hang" ;;
	esac
done
check_eq "hostile: record at csr-built" csr-built "$(record "$email" | jq -r .step)"
check_eq "hostile: one key" 1 "$(count_objects privkey "$(key_id "$email")")"

# Config: an unknown key, no protection, a secret on the command line; no key made.
before=$(keys_total)
# A typo is refused when the config is loaded, whatever CA is used: a file of its own.
jq '.cas.typo = (.cas.ir + {"refrence": "4711"})' p11enroll.json >typo.json
P11ENROLL_CONFIG=$CMP_DIR/typo.json enroll ivy@example.com typo
check_eq "unknown key: exit 8 ($out)" 8 "$rc"
check_contains "unknown key named" "$out" "refrence"
enroll ivy@example.com noprot
check_eq "no protection: exit 8 ($out)" 8 "$rc"
enroll ivy@example.com cmdsecret
check_eq "a secret in the config: exit 8 ($out)" 8 "$rc"
check_not_contains "the secret not repeated" "$out" "Cmp-s3cret!"
check_eq "no key made for them" "$before" "$(keys_total)"

check_not_contains "the secret never shown" "$all_out" "$(cat secret)"
# (the file store: this test cannot run over PostgreSQL, whose server is outside its namespace)
check_eq "the secret in no state file" "" "$(grep -rl -- "$(cat secret)" "$P11ENROLL_STATE_DIR" 2>/dev/null)"
finish
