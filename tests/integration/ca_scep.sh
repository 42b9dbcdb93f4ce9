# The scep backend against a real SCEP server (Debian's scep package:
# micromdm's scepserver). scepserver has no bind flag and listens on every
# interface, so the whole test runs in a private network namespace where only
# loopback exists: enroll an RSA token key for client-auth, check the
# certificate on the token against the CA from GetCACert, refuse a wrong
# challenge password (exit 6, named in words), and a CA that is down leaves
# the identity resumable with one key. The pending path (CertRep PENDING,
# GetCertInitial), which scepserver never takes, runs against
# tests/stubs/scep_pending_stub.py.
if [ -z "${SCEP_NETNS:-}" ]; then
	# As root (CI) a plain network namespace; otherwise a user namespace too.
	userns=$([ "$(id -u)" -eq 0 ] || echo --map-root-user)
	exec unshare --net $userns env SCEP_NETNS=1 bash "$0" "$@"
fi
. "$TESTS_DIR/lib/common.sh"
ip link set lo up || { bad "no loopback in the private network namespace"; finish; }

SC=$TEST_TMP/scep
mkdir -p "$SC"
cd "$SC" || exit 1
umask 077
printf '%s\n' 'Sc3p-challenge!' >challenge
printf '%s\n' 'not-the-challenge' >wrong-challenge

scepserver ca -init -depot depot -keySize 2048 -organization "SCEP Test" >ca-init.log 2>&1 ||
	{ bad "scepserver ca -init: $(tail -2 ca-init.log)"; finish; }
port=18080
start_server() {
	scepserver -depot depot -port "$port" -challenge "$(cat challenge)" >>server.log 2>&1 &
	server=$!
	# Up to a minute: Go programs start slowly on a loaded CI machine.
	for _ in $(seq 600); do
		curl -sf --max-time 10 "http://127.0.0.1:$port/scep?operation=GetCACaps" >/dev/null 2>&1 &&
			return 0
		kill -0 "$server" 2>/dev/null || break
		sleep 0.1
	done
	bad "scepserver did not start: $(tail -3 server.log)"
	finish
}
start_server
trap 'kill $server 2>/dev/null' EXIT
url="http://127.0.0.1:$port/scep"
fp=$(openssl x509 -in depot/ca.pem -noout -fingerprint -sha256 | cut -d= -f2)

stub_port=18081
stub_ra_port=18082
mkdir -p stub stub-ra
python3 "$TESTS_DIR/stubs/scep_pending_stub.py" --dir stub --port $stub_port \
	--challenge-file challenge --pending-polls 1 >stub/out.log 2>&1 &
stub=$!
python3 "$TESTS_DIR/stubs/scep_pending_stub.py" --dir stub-ra --port $stub_ra_port \
	--challenge-file challenge --pending-polls 0 --ra --get-only >stub-ra/out.log 2>&1 &
stub_ra=$!
trap 'kill $server $stub $stub_ra 2>/dev/null' EXIT
for p in $stub_port $stub_ra_port; do
	for _ in $(seq 600); do
		curl -sf --max-time 10 "http://127.0.0.1:$p/scep?operation=GetCACaps" >/dev/null 2>&1 && break
		sleep 0.1
	done
done

cat >p11enroll.json <<JSON
{ "cas": {
    "scep":       { "type": "scep", "url": "$url", "challenge_password_file": "challenge",
                    "ca_fingerprint": "$fp" },
    "scep-wrong": { "type": "scep", "url": "$url", "challenge_password_file": "wrong-challenge" },
    "scep-pin":   { "type": "scep", "url": "$url", "challenge_password_file": "challenge",
                    "ca_fingerprint": "$(printf '%064d' 0)" },
    "scep-remote": { "type": "scep", "url": "http://scep.example.com/scep",
                     "challenge_password_file": "challenge" },
    "scep-127":   { "type": "scep", "url": "http://127.example.com/scep",
                    "challenge_password_file": "challenge" },
    "scep-nopw":  { "type": "scep", "url": "$url", "challenge_password_file": "missing" },
    "stub":       { "type": "scep", "url": "http://127.0.0.1:$stub_port/scep",
                    "challenge_password_source": "env:SCEP_CHALLENGE", "poll_interval": 42 },
    "stub-wrong": { "type": "scep", "url": "http://127.0.0.1:$stub_port/scep",
                    "challenge_password_file": "wrong-challenge" },
    "stub-ra":    { "type": "scep", "url": "http://127.0.0.1:$stub_ra_port/scep",
                    "challenge_password_file": "challenge" } } }
JSON
export P11ENROLL_CONFIG=$SC/p11enroll.json
export SCEP_CHALLENGE; SCEP_CHALLENGE=$(cat challenge)
all_out=""
enroll() { # enroll EMAIL CA [more options]: output in $out, exit code in $rc
	local email=$1 ca=$2
	shift 2
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --key rsa:2048 --profile client-auth \
		--ca "$ca" --pin-source "$PIN_SRC" "$@" 2>&1)
	rc=$?
	all_out+="$out"$'\n'
}
keys_total() { p11tool_opensc --list-objects --type privkey | grep -c "^Private Key Object"; }

# An RSA key on the token, certified for client-auth by scepserver.
email=alice@example.com
enroll "$email" scep
check_eq "enroll by SCEP ($out)" 0 "$rc"
id=$(key_id "$email")
check "certificate on the token under the key's ID" token_cert "$id" "$TEST_TMP/alice.pem"
curl -s "$url?operation=GetCACert" -o cacert.der
openssl x509 -inform DER -in cacert.der -out cacert.pem
check "openssl verify against the CA from GetCACert" \
	openssl verify -CAfile cacert.pem -purpose sslclient "$TEST_TMP/alice.pem"
check_contains "issued for the CSR's subject" \
	"$(openssl x509 -in "$TEST_TMP/alice.pem" -noout -subject)" "CN = $email"
check_eq "one private key under the ID" 1 "$(count_objects privkey "$id")"
check_eq "record done" "done" "$(record "$email" | jq -r .step)"
check_contains "request id: transaction id and subject" "$(record "$email" | jq -r .request_id)" \
	"$(record "$email" | jq -r .request_key):"
check_eq "the SCEP CA on the token" 1 \
	"$(p11tool_opensc --list-objects --type cert | grep -c 'label: */C=US/O=SCEP Test')"
check_eq "ca cert --ca scep prints the CA from GetCACert" \
	"$(openssl x509 -in cacert.pem -noout -fingerprint -sha256)" \
	"$(p11e ca cert --ca scep 2>&1 | openssl x509 -noout -fingerprint -sha256 2>&1)"

# A wrong challenge password: scepserver answers FAILURE badRequest; exit 6, in words.
enroll bob@example.com scep-wrong
check_eq "wrong challenge password: exit 6 ($out)" 6 "$rc"
check_contains "wrong challenge password: failInfo named" "$out" "badRequest"
check_contains "wrong challenge password: said in words" "$out" "challenge password"
check_eq "wrong challenge: nothing on the token but the key" 0 \
	"$(count_objects cert "$(key_id bob@example.com)")"

# Before any key: a remote plain-http url, a missing password, an unknown key.
before=$(keys_total)
enroll carol@example.com scep-remote
check_eq "plain http to another host: exit 8 ($out)" 8 "$rc"
check_contains "plain http refused in words" "$out" "use https://"
enroll carol@example.com scep-127
check_eq "plain http to a host named 127.*: exit 8 ($out)" 8 "$rc"
enroll carol@example.com scep-nopw
check_eq "missing challenge password file: exit 8 ($out)" 8 "$rc"
# A typo is refused when the config is loaded, whatever CA is used: a file of its own.
printf '{ "cas": { "scep-typo": { "type": "scep", "url": "%s", "challange_password_file": "challenge" } } }\n' \
	"$url" >"$SC/typo.json"
P11ENROLL_CONFIG=$SC/typo.json
enroll carol@example.com scep-typo
P11ENROLL_CONFIG=$SC/p11enroll.json
check_eq "unknown config key: exit 8 ($out)" 8 "$rc"
check_contains "unknown key named" "$out" "challange_password_file"
check_eq "no key made for them" "$before" "$(keys_total)"

# A CA certificate that is not the pinned one: nothing sent, exit 8.
enroll dave@example.com scep-pin
check_eq "ca_fingerprint mismatch: exit 8 ($out)" 8 "$rc"
check_contains "ca_fingerprint mismatch named" "$out" "ca_fingerprint"

# An EC key cannot do SCEP: exit 11, and said why.
out=$(p11e enroll "$TEST_TOKEN_URI" --email erin@example.com --key ec:P-256 --profile client-auth \
	--ca scep --pin-source "$PIN_SRC" 2>&1)
check_eq "EC key: exit 11 ($out)" 11 $?
check_contains "EC key: RSA asked for" "$out" "rsa:2048"

# The CA down during enroll: the identity stays resumable with its one key.
kill "$server"
wait "$server" 2>/dev/null
enroll frank@example.com scep
check_eq "CA down: exit 1 ($out)" 1 "$rc"
check_contains "CA down: said so" "$out" "is the CA up?"
check_eq "CA down: record kept at csr-built" csr-built "$(record frank@example.com | jq -r .step)"
fid=$(key_id frank@example.com)
start_server
enroll frank@example.com scep
check_eq "CA back: enroll resumes ($out)" 0 "$rc"
check_eq "CA back: the same key" "$fid" "$(key_id frank@example.com)"
check_eq "CA back: one key under the ID" 1 "$(count_objects privkey "$fid")"
check "CA back: certificate on the token" token_cert "$fid" "$TEST_TMP/frank.pem"

# Pending (stub): PKCSReq answered PENDING, exit 7; GetCertInitial from a
# new process answers PENDING once more, then SUCCESS.
enroll grace@example.com stub
check_eq "stub: pending, exit 7 ($out)" 7 "$rc"
check_eq "stub: record at submitted" submitted "$(record grace@example.com | jq -r .step)"
gid=$(key_id grace@example.com)
pout=$(p11e poll grace@example.com --pin-source "$PIN_SRC" 2>&1)
check_eq "stub: first poll still pending ($pout)" 7 $?
all_out+="$pout"$'\n'
pout=$(p11e poll grace@example.com --json --pin-source "$PIN_SRC" 2>&1)
check_eq "stub: second poll issues ($pout)" 0 $?
all_out+="$pout"$'\n'
check_eq "stub: record done" "done" "$(record grace@example.com | jq -r .step)"
check "stub: certificate on the token" token_cert "$gid" "$TEST_TMP/grace.pem"
check "stub: verifies against the stub CA" \
	openssl verify -CAfile stub/ca.pem -purpose sslclient "$TEST_TMP/grace.pem"
check_eq "stub: one PKCSReq, two GetCertInitial" "1 2" \
	"$(grep -c 'type=19' stub/requests.log) $(grep -c 'type=20' stub/requests.log)"
check_eq "stub: one key" 1 "$(count_objects privkey "$gid")"

# The stub refusing a wrong challenge gives its failInfoText too.
enroll heidi@example.com stub-wrong
check_eq "stub: wrong challenge, exit 6 ($out)" 6 "$rc"
check_contains "stub: failInfoText shown" "$out" "challenge password not accepted"

# An RA (GetCACert gives CA and RA, the request goes to the RA's key) and
# PKIOperation by GET (the CA offers no POST); pending once, then polled by enroll.
enroll ivan@example.com stub-ra
check_eq "stub RA by GET: pending ($out)" 7 "$rc"
enroll ivan@example.com stub-ra
check_eq "stub RA by GET: enroll again polls and stores ($out)" 0 "$rc"
check_eq "stub RA: messages by GET" 2 "$(grep -c 'PKIOperation by GET' stub-ra/requests.log)"
check "stub RA: certificate on the token" token_cert "$(key_id ivan@example.com)" \
	"$TEST_TMP/ivan.pem"
check "stub RA: verifies against the stub CA" \
	openssl verify -CAfile stub-ra/ca.pem "$TEST_TMP/ivan.pem"

# No challenge password in any output or record.
for f in "$P11ENROLL_STATE_DIR"/identities/*.json; do all_out+=$(tr -d '\000' <"$f"); done
check_not_contains "challenge password never shown" "$all_out" "$SCEP_CHALLENGE"
check_not_contains "wrong challenge password never shown" "$all_out" "not-the-challenge"

finish
