# The cfssl backend against a real CFSSL server (Debian's golang-cfssl) on
# 127.0.0.1 over TLS: sign and authsign for RSA and EC token keys, the chain
# from /info, and the CA's refusals as clear errors.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/cfssl.sh"
CF=$TEST_TMP/cfssl
mkdir -p "$CF"
cd "$CF" || exit 1

# TLS for the server: a throwaway CA and a certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=tls test CA" \
	-keyout tls-ca.key -out tls-ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
	-keyout tls.key -out tls.csr 2>/dev/null
openssl x509 -req -in tls.csr -CA tls-ca.pem -CAkey tls-ca.key -CAcreateserial -days 1 \
	-extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out tls.pem 2>/dev/null

# The issuing CA and its signing profiles; the default profile is NOT S/MIME.
echo '{"CN":"CFSSL Test CA","key":{"algo":"ecdsa","size":256},"names":[{"O":"Example"}]}' >ca-csr.json
cfssl gencert -initca ca-csr.json 2>/dev/null | cfssljson -bare ca
openssl rand -hex 16 >auth.key
openssl rand -hex 16 >wrong.key
cat >config.json <<JSON
{"signing":{"default":{"expiry":"8760h","usages":["digital signature","client auth"]},
 "profiles":{
  "smime":{"expiry":"8760h","usages":["digital signature","key encipherment","email protection"]},
  "smime-auth":{"expiry":"8760h","usages":["digital signature","email protection"],"auth_key":"k1"}}},
 "auth_keys":{"k1":{"type":"standard","key":"$(cat auth.key)"}}}
JSON
cfssl_start serve.log tls-ca.pem -ca ca.pem -ca-key ca-key.pem -config config.json \
	-tls-cert tls.pem -tls-key tls.key || { bad "cfssl serve"; finish; }
port=$CFSSL_PORT
pid=$CFSSL_PID # restarted below
trap 'kill $pid 2>/dev/null' EXIT
url="https://127.0.0.1:$port"

# cfssl-notls trusts the system's CA bundle (about 140 certificates). curl's
# connect timeout (default 10 s) covers loading it, and the test builds' ASan
# (fast_unwind_on_malloc=0, tests/with-softhsm.sh) makes OpenSSL's PEM decoding
# slow: 8-9 s on a loaded 2-core machine, measured. Past 10 s the case failed
# with "SSL connection timeout" instead of the certificate error it checks.
cat >p11enroll.json <<JSON
{ "cas": {
    "cfssl":       { "type": "cfssl", "url": "$url", "ca_bundle": "$CF/tls-ca.pem", "profile": "smime" },
    "cfssl-auth":  { "type": "cfssl", "url": "$url", "ca_bundle": "$CF/tls-ca.pem", "profile": "smime-auth",
                     "auth_key_file": "$CF/auth.key" },
    "cfssl-wrong": { "type": "cfssl", "url": "$url", "ca_bundle": "$CF/tls-ca.pem", "profile": "smime-auth",
                     "auth_key_file": "$CF/wrong.key" },
    "cfssl-typo":  { "type": "cfssl", "url": "$url", "ca_bundle": "$CF/tls-ca.pem", "profile": "smiem" },
    "cfssl-notls": { "type": "cfssl", "url": "$url", "retries": 0, "connect_timeout": 300, "timeout": 300 },
    "cfssl-http":  { "type": "cfssl", "url": "http://ca.example.com:8888" },
    "cfssl-down":  { "type": "cfssl", "url": "https://127.0.0.1:1", "retries": 0 } } }
JSON
export P11ENROLL_CONFIG=$CF/p11enroll.json

n=0
for ca in cfssl cfssl-auth; do
	for kt in ec:P-256 rsa:2048; do
		n=$((n + 1))
		email="$ca-${kt//:/-}@example.com"
		email=${email,,}
		out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --key "$kt" --profile smime-sign \
			--ca "$ca" --pin-source "$PIN_SRC" 2>&1)
		check_eq "$ca $kt: enroll ($out)" 0 $?
		id=$(key_id "$email")
		check "$ca $kt: certificate on the token" token_cert "$id" "$TEST_TMP/$n.pem"
		check "$ca $kt: openssl verify -purpose smimesign against the CFSSL CA" \
			openssl verify -CAfile "$CF/ca.pem" -purpose smimesign "$TEST_TMP/$n.pem"
		check_contains "$ca $kt: email SAN" \
			"$(openssl x509 -in "$TEST_TMP/$n.pem" -noout -ext subjectAltName)" "email:$email"
	done
done
check_eq "the CFSSL CA certificate stored on the token once" 1 \
	"$(p11tool_opensc --list-objects --type cert | grep -c 'label: *CFSSL Test CA')"

out=$(p11e enroll "$TEST_TOKEN_URI" --email wrong@example.com --ca cfssl-wrong --pin-source "$PIN_SRC" 2>&1)
check_eq "wrong auth key: rejected" 6 $?
check_contains "wrong auth key: the CA's words" "$out" "invalid token"
check_eq "wrong auth key: identity resumable at csr-built" csr-built "$(record wrong@example.com | jq -r .step)"

out=$(p11e enroll "$TEST_TOKEN_URI" --email typo@example.com --ca cfssl-typo --pin-source "$PIN_SRC" 2>&1)
check_eq "unknown CFSSL profile: rejected" 6 $?
check_contains "unknown CFSSL profile: says why" "$out" "without emailProtection"
check_eq "unknown CFSSL profile: nothing stored" 0 "$(count_objects cert "$(key_id typo@example.com)")"

out=$(p11e enroll "$TEST_TOKEN_URI" --email notls@example.com --ca cfssl-notls --pin-source "$PIN_SRC" 2>&1)
check_eq "server certificate not trusted: failure" 1 $?
check_contains "server certificate not trusted: says so" "$out" "certificate"

out=$(p11e enroll "$TEST_TOKEN_URI" --email http@example.com --ca cfssl-http --pin-source "$PIN_SRC" 2>&1)
check_eq "plain http to another host: refused" 8 $?

out=$(p11e enroll "$TEST_TOKEN_URI" --email down@example.com --ca cfssl-down --pin-source "$PIN_SRC" 2>&1)
check_eq "CA down: failure" 1 $?
check_eq "CA down: identity waits at csr-built" csr-built "$(record down@example.com | jq -r .step)"
# The same identity, the CA back (here: another CA name), finishes with the same key.
key_before=$(key_id down@example.com)
out=$(p11e enroll "$TEST_TOKEN_URI" --email down@example.com --ca cfssl --pin-source "$PIN_SRC" 2>&1)
check_eq "CA back: enroll finishes ($out)" 0 $?
check_eq "CA back: same key" "$key_before" "$(key_id down@example.com)"
check_eq "CA back: one private key" 1 "$(count_objects privkey "$key_before")"
# CFSSL killed, then restarted while an enrollment is backing off between
# retries (1 s, 2 s, 4 s ... 32 s: a minute for the server to come back, however
# slow the machine): the enrollment finishes, one key, one certificate.
kill "$pid"
wait "$pid" 2>/dev/null
jq --arg url "$url" '.cas["cfssl-retry"] = (.cas.cfssl + {"retries": 6})' p11enroll.json >p.json &&
	mv p.json p11enroll.json
p11e enroll "$TEST_TOKEN_URI" --email restart@example.com --ca cfssl-retry --pin-source "$PIN_SRC" \
	>"$TEST_TMP/restart.out" 2>&1 &
enroll_pid=$!
# The CSR is recorded just before it is sent: from then on the enrollment is
# trying the CA (a fixed sleep could end before a slow process got there).
for _ in $(seq 1200); do
	[ "$(record restart@example.com 2>/dev/null | jq -r .step 2>/dev/null)" = csr-built ] && break
	kill -0 "$enroll_pid" 2>/dev/null || break
	sleep 0.1
done
sleep 1.5
cfssl serve -address 127.0.0.1 -port "$port" -ca ca.pem -ca-key ca-key.pem -config config.json \
	-tls-cert tls.pem -tls-key tls.key >>serve.log 2>&1 &
pid=$!
wait "$enroll_pid"
check_eq "CA restarted during retries: enroll finishes ($(cat "$TEST_TMP/restart.out"))" 0 $?
id=$(key_id restart@example.com)
check_eq "CA restarted: one private key" 1 "$(count_objects privkey "$id")"
check_eq "CA restarted: one certificate" 1 "$(count_objects cert "$id")"
finish
