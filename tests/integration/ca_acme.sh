# The acme backend (RFC 8555) against real Pebble servers (Debian's pebble)
# on 127.0.0.1 over TLS:
#  - dns identities enrolled onto token keys, chains verified against
#    Pebble's root; the account (software or token key, EC or RSA) reused;
#  - 4xx problem documents shown with type and detail; a CA down leaves the
#    identity resumable; a pending order resumed by a later run;
#  - external account binding, and its key never printed or stored;
#  - with real validation (no PEBBLE_VA_ALWAYS_VALID, DNS from
#    pebble-challtestsrv): Pebble fetches the http-01 answer from the built-in
#    responder, and from a webroot served by another web server.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/pebble.sh"
W=$TEST_TMP/acme
mkdir -p "$W"
cd "$W" || exit 1
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done' EXIT

# --- Pebble 1: always valid, one blocked name ---
mkdir -p pb1
pebble_start "$W/pb1" '{"domainBlocklist": ["blocked.example.org"]}' || { bad "pebble 1"; finish; }
PIDS+=("$PEBBLE_PID")
pebble_root "$W/pb1" || bad "pebble 1 root"
URL1=$PEBBLE_URL
LOG1=$PEBBLE_LOG

# --- Pebble 2: external account binding required; 30% of good nonces refused
# as bad, so its enrollments pass only if badNonce answers are retried
# (P(no refusal in the ~20 signed requests) < 0.1%) ---
mkdir -p pb2
EAB_KEY=$(openssl rand 32 | basenc --base64url | tr -d '=')
WRONG_KEY=$(openssl rand 32 | basenc --base64url | tr -d '=')
printf '%s\n' "$EAB_KEY" >eab.key
printf '%s\n' "$WRONG_KEY" >eab-wrong.key
chmod 600 eab.key eab-wrong.key
pebble_start "$W/pb2" "{\"externalAccountBindingRequired\": true,
	\"externalAccountMACKeys\": {\"kid-1\": \"$EAB_KEY\"}}" PEBBLE_WFE_NONCEREJECT=30 ||
	{ bad "pebble 2"; finish; }
PIDS+=("$PEBBLE_PID")
pebble_root "$W/pb2" || bad "pebble 2 root"
URL2=$PEBBLE_URL
LOG2=$PEBBLE_LOG

# --- Pebble 3: real http-01 validation; names resolve to 127.0.0.1 ---
mkdir -p pb3
HTTP01_PORT=$(free_port)
DNS_PORT=$(free_port)
pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
	-management "127.0.0.1:$(free_port)" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
	>pb3/challtestsrv.log 2>&1 &
PIDS+=("$!")
PEBBLE_DNS=127.0.0.1:$DNS_PORT pebble_start "$W/pb3" "{\"httpPort\": $HTTP01_PORT}" \
	PEBBLE_VA_ALWAYS_VALID=0 || { bad "pebble 3"; finish; }
PIDS+=("$PEBBLE_PID")
pebble_root "$W/pb3" || bad "pebble 3 root"
URL3=$PEBBLE_URL
LOG3=$PEBBLE_LOG

LISTEN=127.0.0.1:$(free_port)
common1="\"url\": \"$URL1\", \"ca_bundle\": \"pb1/tls-ca.pem\", \"terms_agreed\": true"
cat >p11enroll.json <<JSON
{ "cas": {
  "pebble":     { "type": "acme", $common1, "dir": "state/soft-ec", "http01_listen": "$LISTEN",
                  "contact": "ops@example.org" },
  "pebble-rsa": { "type": "acme", $common1, "dir": "state/soft-rsa", "http01_listen": "$LISTEN",
                  "account_key_type": "rsa:2048" },
  "pebble-tok": { "type": "acme", $common1, "dir": "state/tok-ec", "http01_listen": "$LISTEN",
                  "account_key_uri": "pkcs11:token=test;object=acme-account",
                  "pin_source": "file:$TEST_PIN_FILE" },
  "pebble-tok-rsa": { "type": "acme", $common1, "dir": "state/tok-rsa", "http01_listen": "$LISTEN",
                  "account_key_uri": "pkcs11:token=test;object=acme-rsa", "account_key_type": "rsa:2048",
                  "pin_source": "file:$TEST_PIN_FILE" },
  "pebble-nowait": { "type": "acme", $common1, "dir": "state/soft-ec", "http01_listen": "$LISTEN",
                  "wait": 0 },
  "pebble-email": { "type": "acme", $common1, "dir": "state/soft-ec", "http01_listen": "$LISTEN",
                  "email_identifiers": true },
  "pebble-notos": { "type": "acme", "url": "$URL1", "ca_bundle": "pb1/tls-ca.pem", "dir": "state/notos" },
  "pebble-notls": { "type": "acme", "url": "$URL1", "terms_agreed": true, "retries": 0, "dir": "state/notls" },
  "pebble-down":  { "type": "acme", "url": "https://127.0.0.1:1/dir", "retries": 0, "dir": "state/down" },
  "eab":        { "type": "acme", "url": "$URL2", "ca_bundle": "pb2/tls-ca.pem", "terms_agreed": true,
                  "dir": "state/eab", "http01_listen": "$LISTEN",
                  "eab_kid": "kid-1", "eab_hmac_key_file": "eab.key" },
  "eab-none":   { "type": "acme", "url": "$URL2", "ca_bundle": "pb2/tls-ca.pem", "terms_agreed": true,
                  "dir": "state/eab-none" },
  "eab-wrong":  { "type": "acme", "url": "$URL2", "ca_bundle": "pb2/tls-ca.pem", "terms_agreed": true,
                  "dir": "state/eab-wrong", "eab_kid": "kid-1", "eab_hmac_key_file": "eab-wrong.key" },
  "real":       { "type": "acme", "url": "$URL3", "ca_bundle": "pb3/tls-ca.pem", "terms_agreed": true,
                  "dir": "state/real", "http01_listen": "127.0.0.1:$HTTP01_PORT" },
  "real-webroot": { "type": "acme", "url": "$URL3", "ca_bundle": "pb3/tls-ca.pem", "terms_agreed": true,
                  "dir": "state/real", "webroot": "webroot" } } }
JSON
export P11ENROLL_CONFIG=$W/p11enroll.json
enr() { p11e enroll "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" "$@"; }

accounts() { grep -c "There are now [0-9]* accounts" "$1"; }
orders() { grep -c "POST /order-plz" "$1"; }

# enrolled NAME CA ROOT: enrolls NAME, then checks it (verify_enrolled).
enrolled() {
	local out
	out=$(enr --dns "$1" --ca "$2" 2>&1)
	check_eq "$2: enroll $1 ($out)" 0 $?
	verify_enrolled "$@"
}
# verify_enrolled NAME CA ROOT: certificate on the token under the key's ID,
# verified with its chain against ROOT as a TLS server for NAME.
verify_enrolled() {
	local name=$1 ca=$2 root=$3 id
	id=$(key_id "$name")
	check "$ca: $name: certificate on the token under the key's ID" token_cert "$id" "$W/$name.pem"
	record "$name" | jq -r .chain_pem >"$W/$name.chain"
	check "$ca: $name: chain verifies against Pebble's root" \
		openssl verify -CAfile "$root" -untrusted "$W/$name.chain" -purpose sslserver \
		-verify_hostname "$name" "$W/$name.pem"
	check_contains "$ca: $name: dNSName" \
		"$(openssl x509 -in "$W/$name.pem" -noout -ext subjectAltName)" "DNS:$name"
	check_eq "$ca: $name: one private key" 1 "$(count_objects privkey "$id")"
}
kid() { jq -r .account "state/$1/account.json"; }

# --- enrollment, account made once and reused ---
n0=$(accounts "$LOG1")
enrolled www.example.org pebble pb1/root.pem
check_eq "one account made" $((n0 + 1)) "$(accounts "$LOG1")"
check_eq "account key 0600" 600 "$(stat -c %a state/soft-ec/account.key)"
check_eq "account state 0600" 600 "$(stat -c %a state/soft-ec/account.json)"
kid1=$(kid soft-ec)
check_contains "account URL kept" "$kid1" "/my-account/"
check_contains "request_id is the order URL" "$(record www.example.org | jq -r .request_id)" "/my-order/"
enrolled api.example.org pebble pb1/root.pem
check_eq "second enrollment: no new account" $((n0 + 1)) "$(accounts "$LOG1")"
check_eq "second enrollment: same account" "$kid1" "$(kid soft-ec)"
out=$(p11e ca cert --ca pebble 2>&1)
check_contains "ca cert: the chain of the last issuance" "$out" "BEGIN CERTIFICATE"
# The file store keeps the ACME documents where they always were in "dir"
# (docs/store.md#acme-account-state), the lock beside them in the store's locks/.
check_eq "dir: orders/REQUEST_KEY.json, chain.pem, the store's lock" \
	"chain.pem|locks/acme/$(printf '%s' "$URL1" | sha256sum | cut -c1-16).lock|orders/" \
	"$(cd state/soft-ec && { ls chain.pem; ls locks/acme/*.lock; ls orders/*.json | sed -E 's|^orders/[0-9a-f]{64}\.json$|orders/|' | sort -u; } | paste -sd'|')"
check "dir: no flock file of its own any more" test ! -e state/soft-ec/.lock
# A chain.pem from before the store (0644, as it was written then) is still read,
# and the next certificate replaces it 0600, as the store writes every document.
chmod 644 state/soft-ec/chain.pem
out=$(p11e ca cert --ca pebble 2>&1)
check_contains "ca cert: an older 0644 chain.pem is read ($out)" "$out" "BEGIN CERTIFICATE"
enrolled api2.example.org pebble pb1/root.pem
check_eq "chain.pem: rewritten 0600" 600 "$(stat -c %a state/soft-ec/chain.pem)"

# Rerunning a done identity asks the CA nothing.
o=$(orders "$LOG1")
out=$(enr --dns www.example.org --ca pebble 2>&1)
check_eq "rerun of a done identity ($out)" 0 $?
check_eq "rerun: no new order" "$o" "$(orders "$LOG1")"

# RSA account key in software (RS256); EC and RSA account keys on the token.
enrolled rsa.example.org pebble-rsa pb1/root.pem
check_contains "RSA account key" "$(openssl pkey -in state/soft-rsa/account.key -noout -text 2>&1)" "2048 bit"
for ca in pebble-tok pebble-tok-rsa; do
	n=$(accounts "$LOG1")
	enrolled "$ca-1.example.org" "$ca" pb1/root.pem
	enrolled "$ca-2.example.org" "$ca" pb1/root.pem
	check_eq "$ca: one account for two enrollments" $((n + 1)) "$(accounts "$LOG1")"
	check "$ca: account.json has no key file" test ! -e "state/${ca#pebble-}/account.key"
done
check_eq "token account keys: made on the token, once each" 2 \
	"$(p11tool_opensc --list-objects --type privkey | grep -c -E 'label: *acme-(account|rsa)$')"
check_contains "token account keys: not extractable" \
	"$(p11tool_opensc --list-objects --type privkey | grep -A8 'label: *acme-account')" "never extractable"

# --- problems from the CA: type and detail, one line, resumable ---
out=$(enr --dns blocked.example.org --ca pebble 2>&1)
check_eq "blocked name: rejected" 6 $?
check_contains "blocked name: the problem type" "$out" "urn:ietf:params:acme:error:rejectedIdentifier"
check_contains "blocked name: the CA's detail" "$out" "forbidden by policy"
check_eq "blocked name: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
check_eq "blocked name: identity resumable at csr-built" csr-built "$(record blocked.example.org | jq -r .step)"

out=$(enr --email mail@example.org --ca pebble 2>&1)
check_eq "email identity to a CA without RFC 8823: rejected" 6 $?
check_contains "says why" "$out" "RFC 8823"
out=$(enr --email mail2@example.org --ca pebble-email 2>&1)
check_eq "email identifier sent anyway: Pebble refuses it" 6 $?
check_contains "Pebble's problem shown" "$out" "urn:ietf:params:acme:error:malformed"

out=$(enr --dns tos.example.org --ca pebble-notos 2>&1)
check_eq "terms of service not agreed: config error" 8 $?
check_contains "names the setting" "$out" "terms_agreed"
# A typo is refused when the config is loaded, whatever CA is used: a file of its own.
printf '{ "cas": { "pebble-typo": { "type": "acme", "url": "%s", "http01_listne": "%s" } } }\n' \
	"$URL1" "$LISTEN" >"$W/typo.json"
out=$(export P11ENROLL_CONFIG=$W/typo.json; enr --dns typo.example.org --ca pebble-typo 2>&1)
check_eq "unknown key: config error" 8 $?
check_contains "names the key" "$out" "cas.pebble-typo.http01_listne"
out=$(enr --dns notls.example.org --ca pebble-notls 2>&1)
check_eq "Pebble's TLS certificate not trusted: failure" 1 $?
check_contains "says so" "$out" "certificate"

# --- CA down: resumable, same key, nothing made twice ---
out=$(enr --dns down.example.org --ca pebble-down 2>&1)
check_eq "CA down: failure" 1 $?
check_contains "CA down: says so" "$out" "is the CA up?"
check_eq "CA down: identity waits at csr-built" csr-built "$(record down.example.org | jq -r .step)"
key_before=$(key_id down.example.org)
enrolled down.example.org pebble pb1/root.pem
check_eq "CA back: same key" "$key_before" "$(key_id down.example.org)"

# --- pending: the order outlives the process and is finished by a later run ---
o=$(orders "$LOG1")
out=$(enr --dns later.example.org --ca pebble-nowait 2>&1)
check_eq "wait 0: pending ($out)" 7 $?
check_eq "pending: recorded as submitted" submitted "$(record later.example.org | jq -r .step)"
rid=$(record later.example.org | jq -r .request_id)
check_contains "pending: request_id is the order URL" "$rid" "/my-order/"
# Later runs poll the same order (one pass each with "wait": 0) until issued.
# Up to two minutes of passes: Pebble validates at its own pace on a loaded machine.
for _ in $(seq 120); do
	out=$(enr --dns later.example.org 2>&1)
	rc=$?
	[ "$rc" = 7 ] || break
	sleep 1
done
check_eq "pending: a later run finishes ($out)" 0 "$rc"
verify_enrolled later.example.org pebble-nowait pb1/root.pem
check_eq "resumed: one order in all" $((o + 1)) "$(orders "$LOG1")"
check_eq "resumed: the same order" "$rid" "$(record later.example.org | jq -r .request_id)"

# --- external account binding ---
n=$(accounts "$LOG2")
enrolled eab.example.org eab pb2/root.pem
enrolled eab2.example.org eab pb2/root.pem
check_eq "EAB: one account" $((n + 1)) "$(accounts "$LOG2")"
out=$(enr --dns noeab.example.org --ca eab-none 2>&1)
check_eq "EAB required, none configured: config error" 8 $?
check_contains "names the settings" "$out" "eab_kid"
out=$(enr --dns wrongeab.example.org --ca eab-wrong 2>&1)
check_eq "EAB with a wrong key: refused" 6 $?
check_contains "the CA's problem" "$out" "urn:ietf:params:acme:error:"
check_not_contains "the key is not shown" "$out" "$WRONG_KEY"
leaks=$(grep -rlF -e "$EAB_KEY" -e "$WRONG_KEY" "$P11ENROLL_STATE_DIR" state 2>/dev/null)
check_eq "no EAB key in any state or record file" "" "$leaks"

# --- real validation: Pebble fetches the answer ---
enrolled real.example.org real pb3/root.pem
check "Pebble fetched the built-in responder's answer" \
	grep -q "validate w/ HTTP: http://real.example.org:$HTTP01_PORT/.well-known/acme-challenge/" "$LOG3"
check "the responder stopped with the process" \
	bash -c "! curl -s http://127.0.0.1:$HTTP01_PORT/"
mkdir -p webroot
python3 -m http.server --bind 127.0.0.1 --directory webroot "$HTTP01_PORT" >webroot.log 2>&1 &
web=$!
PIDS+=("$web")
# Up to a minute: Python starts slowly on a loaded CI machine.
for _ in $(seq 600); do curl -s --max-time 10 "http://127.0.0.1:$HTTP01_PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
enrolled webroot.example.org real-webroot pb3/root.pem
check_contains "the web server served the answer" "$(cat webroot.log)" "GET /.well-known/acme-challenge/"
check_eq "webroot answers removed afterwards" 0 "$(find webroot -type f | wc -l)"
kill "$web"
wait "$web" 2>/dev/null
# Nothing answers now: the CA's validation error, as it said it.
out=$(enr --dns nobody.example.org --ca real-webroot 2>&1)
check_eq "validation fails: rejected" 6 $?
check_contains "the challenge's problem type" "$out" "urn:ietf:params:acme:error:connection"
finish
