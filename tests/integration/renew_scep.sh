# `p11enroll renew` through the scep backend. Against Debian's scepserver
# (micromdm's, which lists "Renewal" in GetCACaps and treats a RenewalReq as a
# PKCSReq): a RenewalReq signed with the old certificate issues a certificate
# for the new key (scepserver's debug log names the message type), also with
# --reuse-key; scepserver with its default -allowrenew 14 refuses a renewal
# of a fresh certificate (FAILURE badRequest: exit 6 in one line, the old
# certificate kept). Against tests/stubs/scep_pending_stub.py (a stub: no
# real server answers PENDING): a pending RenewalReq whose GetCertInitial
# polls are signed with the old certificate too; a CA without "Renewal" gets
# a PKCSReq through a self-signed certificate; a CA that answers a renewal
# with a certificate for the old key is refused (exit 1, one line). Runs in
# a private network namespace, as ca_scep.sh (scepserver binds every
# interface), so its fixed ports cannot race with anything.
if [ -z "${SCEP_NETNS:-}" ]; then
	userns=$([ "$(id -u)" -eq 0 ] || echo --map-root-user)
	exec unshare --net $userns env SCEP_NETNS=1 bash "$0" "$@"
fi
. "$TESTS_DIR/lib/common.sh"
ip link set lo up || { bad "no loopback in the private network namespace"; finish; }

SC=$TEST_TMP/scep
mkdir -p "$SC"
cd "$SC" || exit 1
umask 077
printf '%s\n' 'Sc3p-renewal!' >challenge
scepserver ca -init -depot depot -keySize 2048 -organization "SCEP Renew" >ca-init.log 2>&1 ||
	{ bad "scepserver ca -init: $(tail -2 ca-init.log)"; finish; }
cp -r depot depot-strict
pids=""
trap 'kill $pids 2>/dev/null' EXIT
up() { # up PORT: waits up to a minute (CI is slow) for GetCACaps to answer
	for _ in $(seq 600); do
		curl -sf --max-time 10 "http://127.0.0.1:$1/scep?operation=GetCACaps" >/dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	bad "nothing answers on port $1: $(tail -3 ./*.log 2>/dev/null)"
	finish
}
# -allowrenew 0: scepserver issues for a subject it already holds a certificate for.
scepserver -depot depot -port 18180 -challenge "$(cat challenge)" -allowrenew 0 -debug \
	>server.log 2>&1 &
pids+=" $!"
scepserver -depot depot-strict -port 18181 -challenge "$(cat challenge)" -debug \
	>server-strict.log 2>&1 &
pids+=" $!"
stub() { # stub NAME PORT [options]
	local name=$1 port=$2
	shift 2
	mkdir -p "$name"
	python3 "$TESTS_DIR/stubs/scep_pending_stub.py" --dir "$name" --port "$port" \
		--challenge-file challenge "$@" >"$name/out.log" 2>&1 &
	pids+=" $!"
}
stub stub 18182 --pending-polls 1
stub stub-norenew 18183 --pending-polls 0 --no-renewal
stub stub-wrongkey 18184 --pending-polls 0 --wrong-key-cert
for p in 18180 18181 18182 18183 18184; do up $p; done

ca() { printf '"%s": { "type": "scep", "url": "http://127.0.0.1:%s/scep", "challenge_password_file": "challenge", "poll_interval": 1 }' "$1" "$2"; }
cat >p11enroll.json <<JSON
{ "cas": { $(ca scep 18180), $(ca scep-strict 18181), $(ca stub 18182),
           $(ca stub-norenew 18183), $(ca stub-wrongkey 18184) } }
JSON
export P11ENROLL_CONFIG=$SC/p11enroll.json
all_out=""
run() { # run CMD...: p11enroll's exit code in $rc, its output in $out
	out=$(p11e "$@" --pin-source "$PIN_SRC" 2>&1)
	rc=$?
	all_out+="$out"$'\n'
}
enroll() { run enroll "$TEST_TOKEN_URI" --email "$1" --key rsa:2048 --profile client-auth --ca "$2"; }
renew() { run renew "$@" --force; }
renewals() { grep -c 'scep_message_type="RenewalReq (17)"' "$1"; }
pkcsreqs() { grep -c 'scep_message_type="PKCSReq (19)"' "$1"; }
serial() { openssl x509 -in "$1" -noout -serial; }
curl -s "http://127.0.0.1:18180/scep?operation=GetCACert" -o cacert.der
openssl x509 -inform DER -in cacert.der -out cacert.pem

# scepserver: a RenewalReq, signed with the old certificate, for a new key.
enroll alice@example.com scep
check_eq "enroll alice by PKCSReq ($out)" 0 "$rc"
old=$(key_id alice@example.com)
token_cert "$old" old-alice.pem
check_eq "scepserver saw one PKCSReq" "1 0" "$(pkcsreqs server.log) $(renewals server.log)"
renew alice@example.com
check_eq "renew alice: exit 0 ($out)" 0 "$rc"
check_eq "scepserver saw a RenewalReq (17), no second PKCSReq" "1 1" \
	"$(pkcsreqs server.log) $(renewals server.log)"
new=$(key_id alice@example.com)
check "renew alice: a new key" test "$new" != "$old"
check "renew alice: the new certificate on the token under the new key" \
	token_cert "$new" new-alice.pem
check "renew alice: verifies against the CA from GetCACert" \
	openssl verify -CAfile cacert.pem -purpose sslclient new-alice.pem
check "renew alice: a certificate other than the old one" \
	test "$(serial new-alice.pem)" != "$(serial old-alice.pem)"
check_eq "renew alice: generation 2" 2 "$(record alice@example.com | jq -r .generation)"
check_contains "renew alice: the request id says renewal" \
	"$(record alice@example.com | jq -r .request_id)" ":renewal"

# --reuse-key: a RenewalReq again, signed with the (same) old key.
renew alice@example.com --reuse-key
check_eq "renew alice --reuse-key: exit 0 ($out)" 0 "$rc"
check_eq "scepserver saw a second RenewalReq" 2 "$(renewals server.log)"
check_eq "--reuse-key: the same key" "$new" "$(key_id alice@example.com)"
check "--reuse-key: a third certificate on the token" token_cert "$new" reuse-alice.pem
check "--reuse-key: not the second one" \
	test "$(serial reuse-alice.pem)" != "$(serial new-alice.pem)"

# scepserver's default -allowrenew 14 refuses to renew a fresh certificate:
# a RenewalReq answered FAILURE badRequest, exit 6 in one line, the old
# certificate kept.
enroll bob@example.com scep-strict
check_eq "enroll bob at the strict scepserver ($out)" 0 "$rc"
bob=$(key_id bob@example.com)
renew bob@example.com
check_eq "strict scepserver: renewal refused, exit 6 ($out)" 6 "$rc"
check_eq "strict scepserver: it was a RenewalReq" 1 "$(renewals server-strict.log)"
check_contains "refusal named" "$out" "badRequest"
check_eq "refusal in one line ($out)" 1 "$(printf '%s\n' "$out" | grep -c .)"
check_contains "scepserver's reason (its log)" "$(cat server-strict.log)" "already exists"
check "bob's old certificate still on the token" token_cert "$bob" bob.pem

# The stub: a RenewalReq pending, polled (GetCertInitial) with the old
# certificate's signature, then issued.
enroll carol@example.com stub
check_eq "stub: enroll carol pending ($out)" 7 "$rc"
run poll carol@example.com
run poll carol@example.com
check_eq "stub: carol issued ($out)" 0 "$rc"
carol=$(key_id carol@example.com)
renew carol@example.com
check_eq "stub: renewal pending, exit 7 ($out)" 7 "$rc"
run poll carol@example.com
check_eq "stub: first poll of the renewal still pending ($out)" 7 "$rc"
run poll carol@example.com
check_eq "stub: second poll issues ($out)" 0 "$rc"
check_eq "stub: one RenewalReq signed by the CA's certificate" 1 \
	"$(grep -c 'type=17 status=3 signer=issued-by-ca' stub/requests.log)"
check_eq "stub: both polls of the renewal signed by it too" 2 \
	"$(grep -c 'type=20 .* signer=issued-by-ca' stub/requests.log)"
check "stub: carol's new certificate on the token" token_cert "$(key_id carol@example.com)" carol2.pem
check "stub: for the new key" test "$(key_id carol@example.com)" != "$carol"
check "stub: verifies against the stub CA" openssl verify -CAfile stub/ca.pem carol2.pem

# No "Renewal" in GetCACaps: renew sends a PKCSReq, self-signed with the new key.
enroll dave@example.com stub-norenew
run poll dave@example.com
check_eq "no Renewal: dave enrolled ($out)" 0 "$rc"
renew dave@example.com
run poll dave@example.com
check_eq "no Renewal: renewed by PKCSReq ($out)" 0 "$rc"
check_eq "no Renewal: two PKCSReq, self-signed, no RenewalReq" "2 0" \
	"$(grep -c 'type=19 status=3 signer=self-signed' stub-norenew/requests.log) $(grep -c 'type=17' stub-norenew/requests.log)"
check_eq "no Renewal: generation 2" 2 "$(record dave@example.com | jq -r .generation)"

# A hostile answer to a renewal: the certificate issued is for the old key
# (the signer's), not the CSR's. Refused in one line; nothing stored.
enroll erin@example.com stub-wrongkey
run poll erin@example.com
check_eq "wrong-key stub: erin enrolled ($out)" 0 "$rc"
erin=$(key_id erin@example.com)
renew erin@example.com
run poll erin@example.com
check_eq "certificate for the old key: exit 1 ($out)" 1 "$rc"
check_contains "certificate for the old key: said so" "$out" "no certificate for our key"
# (poll adds its summary line after the identity's one-line error)
check_eq "certificate for the old key: one line says it ($out)" 1 \
	"$(printf '%s\n' "$out" | grep -c 'ca scep')"
check "erin's old certificate still on the token" token_cert "$erin" erin.pem

# SCEP (RFC 8894) has no revocation message: revoke says so, exit 11, and
# records nothing.
run revoke dave@example.com --reason superseded
check_eq "revoke through SCEP: exit 11 ($out)" 11 "$rc"
check_contains "revoke through SCEP: says to revoke at the CA" "$out" "revoke at the CA itself"
check_eq "revoke through SCEP: nothing recorded" null "$(record dave@example.com | jq -r .revoked_reason)"

check_not_contains "challenge password never shown" "$all_out" "Sc3p-renewal!"
finish
