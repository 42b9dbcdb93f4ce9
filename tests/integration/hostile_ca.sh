# Hostile CA answers through the binary (findings 16, 22, 23): a stub
# (tests/stubs/hostile_ca_stub.py) answers CFSSL's {"errors":1}, an error
# message full of terminal escapes, ACME orders whose authorizations are a
# string or [null], an authorization whose challenges are an object, and a
# Retry-After of 2^63. enroll must end with a documented code and one clean
# line, never an abort (134); after the CA is fixed (a real CFSSL server),
# the rerun enrolls with the same key. `ca revoke` meets the same answers.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/cfssl.sh"
H=$TEST_TMP/hostile
mkdir -p "$H"
python3 "$TESTS_DIR/stubs/hostile_ca_stub.py" --dir "$H" >"$H/stub.out" 2>&1 &
stub=$!
trap 'kill $stub 2>/dev/null; [ -n "${cf:-}" ] && kill $cf 2>/dev/null' EXIT
port=$(stub_wait "the hostile CA" "$stub" "$H/port" "$H/stub.out") || { bad "no stub"; finish; }
url="http://127.0.0.1:$port"
cat >"$H/p11enroll.json" <<JSON
{ "cas": {
    "cf":   { "type": "cfssl", "url": "$url", "profile": "smime", "retries": 0 },
    "acme": { "type": "acme", "url": "$url/dir", "retries": 0, "wait": 5,
              "dir": "$H/acme-state" } } }
JSON
export P11ENROLL_CONFIG=$H/p11enroll.json
keys() { p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object'; }

# one_clean_line WHAT OUTPUT: a single line, no ESC, BEL or other control.
one_clean_line() {
	check_eq "$1: one line" 1 "$(printf '%s\n' "$2" | wc -l)"
	if printf '%s' "$2" | LC_ALL=C grep -q '[[:cntrl:]]'; then
		bad "$1: control characters reached the terminal: $(printf '%s' "$2" | od -c | head -3)"
	else
		ok
	fi
}

# --- CFSSL ---
echo cfssl-errors-int >"$H/mode"
out=$(p11e enroll "$TEST_TOKEN_URI" --email alice@example.com --ca cf --pin-source "$PIN_SRC" 2>&1)
rc=$?
check_eq "cfssl {\"errors\":1}: refused, not aborted ($out)" 6 "$rc"
one_clean_line "cfssl {\"errors\":1}" "$out"
check_contains "cfssl {\"errors\":1}: says what the CA answered" "$out" "HTTP 400"
check_eq "one key made" 1 "$(keys)"

echo cfssl-escapes >"$H/mode"
out=$(p11e enroll "$TEST_TOKEN_URI" --email bob@example.com --ca cf --pin-source "$PIN_SRC" 2>&1)
check_eq "cfssl escapes: refused" 6 $?
one_clean_line "cfssl escapes" "$out"
check_contains "cfssl escapes: the CA's words, cleaned" "$out" "bad csr ?[2J?]0;pwned? second line"

# --- ACME ---
acme_case() { # acme_case MODE HOST WHAT
	echo "$1" >"$H/mode"
	out=$(p11e enroll "$TEST_TOKEN_URI" --dns "$2" --ca acme --pin-source "$PIN_SRC" 2>&1)
	rc=$?
	check_eq "acme $3: a failure, not an abort ($out)" 1 "$rc"
	one_clean_line "acme $3" "$out"
}
acme_case acme-authz-string s.example.org "authorizations a string"
check_contains "acme authorizations a string: says so" "$out" "authorizations"
acme_case acme-authz-null n.example.org "authorizations [null]"
check_contains "acme authorizations [null]: says so" "$out" "authorization 1 is not a URL"
acme_case acme-challenges-obj c.example.org "challenges an object"
check_contains "acme challenges an object: says so" "$out" "challenges"
# 2^63 seconds: bounded to a day, so it is past "wait" (5 s): pending (7), never a tight loop.
echo acme-retry-huge >"$H/mode"
out=$(p11e enroll "$TEST_TOKEN_URI" --dns r.example.org --ca acme --pin-source "$PIN_SRC" 2>&1)
check_eq "acme Retry-After 2^63: pending ($out)" 7 $?
check_eq "acme Retry-After 2^63: the order was read once, not polled in a loop" 1 \
	"$(awk '/^POST \/new-order/ { n = 0 } /^POST \/order\/1/ { n++ } END { print n }' "$H/requests.log")"

# --- revocation: the same hostile answers to ca revoke ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=r \
	-keyout "$H/r.key" -out "$H/r.pem" 2>/dev/null
revoke_case() { # revoke_case MODE CA WHAT
	echo "$1" >"$H/mode"
	out=$(p11e ca revoke --ca "$2" --cert "$H/r.pem" --reason superseded 2>&1)
	check_eq "revoke, $3: refused, not aborted ($out)" 6 $?
	one_clean_line "revoke, $3" "$out"
}
revoke_case cfssl-errors-int cf 'cfssl {"errors":1}'
revoke_case cfssl-escapes cf "cfssl escapes"
revoke_case acme-revoke-escapes acme "acme escapes in the problem"
check_contains "revoke, acme escapes: the CA's words, cleaned" "$out" "not yours"
revoke_case acme-revoke-typeless acme "acme problem of the wrong types"

# --- the CA fixed: a real CFSSL server (plain HTTP on 127.0.0.1) ---
if command -v cfssl >/dev/null; then
	(
		cd "$H" || exit 1
		echo '{"CN":"CFSSL Test CA","key":{"algo":"ecdsa","size":256}}' >ca-csr.json
		cfssl gencert -initca ca-csr.json 2>/dev/null | cfssljson -bare ca
		cat >config.json <<JSON
{"signing":{"default":{"expiry":"8760h","usages":["digital signature","client auth"]},
 "profiles":{"smime":{"expiry":"8760h","usages":["digital signature","key encipherment","email protection"]}}}}
JSON
	)
	if ! cfssl_start "$H/serve.log" "" -ca "$H/ca.pem" -ca-key "$H/ca-key.pem" \
		-config "$H/config.json"; then
		bad "cfssl serve did not start"
	else
		cf=$CFSSL_PID
		port=$CFSSL_PORT
		sed -i "s|\"url\": \"$url\", \"profile\"|\"url\": \"http://127.0.0.1:$port\", \"profile\"|" \
			"$H/p11enroll.json"
		keys_before=$(keys)
		out=$(p11e enroll "$TEST_TOKEN_URI" --email alice@example.com --ca cf \
			--pin-source "$PIN_SRC" 2>&1)
		check_eq "cfssl fixed: the rerun enrolls ($out)" 0 $?
		check_eq "cfssl fixed: the same key, no second one" "$keys_before" "$(keys)"
		check_eq "cfssl fixed: one key under the record's ID" 1 \
			"$(count_objects privkey "$(key_id alice@example.com)")"
		check_eq "cfssl fixed: record done" done "$(record alice@example.com | jq -r .step)"
	fi
else
	bad "cfssl (golang-cfssl) is not installed: scripts/deps.sh"
fi
finish
