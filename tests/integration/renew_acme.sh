# p11enroll renew through ACME, against a real Pebble (Debian's 2.4) on
# 127.0.0.1 over TLS:
#  - a token identity enrolled through Pebble, renewed with --force (a new key:
#    the new certificate on the token under the new key's CKA_ID, the old
#    signing key and certificate removed) and with --reuse-key (the same key,
#    a new certificate in place of the old one); Pebble 2.4 offers no
#    renewalInfo, so the due window is the configured one;
#  - RFC 9773 through tests/stubs/acme_ari_stub.py, a STUB in front of
#    that Pebble that adds only what Pebble 2.4 lacks (a renewalInfo resource
#    answering what this test sets, and a log of each newOrder's payload):
#    a CA window that has begun makes the certificate due (the configured one
#    says not), a future one keeps it not due, an invalid one falls back to
#    the configured window; the renewal's newOrder "replaces" the old
#    certificate's certID, computed here from openssl's AKI and serial;
#    alreadyReplaced (409) is ordered again without "replaces".
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/pebble.sh"
W=$TEST_TMP/renew-acme
mkdir -p "$W/pb" "$W/webroot"
cd "$W" || exit 1
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done' EXIT

pebble_start "$W/pb" || { bad "pebble"; finish; }
PIDS+=("$PEBBLE_PID")
pebble_root "$W/pb" || bad "pebble root"
python3 "$TESTS_DIR/stubs/acme_ari_stub.py" --port-file stub.port --upstream "$PEBBLE_URL" \
	--upstream-ca pb/tls-ca.pem --tls-cert pb/tls.pem --tls-key pb/tls.key >stub.log 2>&1 &
PIDS+=("$!")
for _ in $(seq 600); do [ -s stub.port ] && break; sleep 0.1; done
STUB=https://127.0.0.1:$(cat stub.port 2>/dev/null)
check "the stub listens" test -s stub.port

cat >p11enroll.json <<JSON
{ "cas": {
  "pebble": { "type": "acme", "url": "$PEBBLE_URL", "ca_bundle": "pb/tls-ca.pem",
              "terms_agreed": true, "dir": "state/pebble", "webroot": "$W/webroot" },
  "ari":    { "type": "acme", "url": "$STUB/dir", "ca_bundle": "pb/tls-ca.pem",
              "terms_agreed": true, "dir": "state/ari", "webroot": "$W/webroot" } } }
JSON
export P11ENROLL_CONFIG=$W/p11enroll.json
enr() { p11e enroll "$TEST_TOKEN_URI" --pin-source "$PIN_SRC" "$@" >/dev/null 2>&1; }
gen() { record "$1" | jq -r "$2"; }
stub() { curl -sf --max-time 60 --cacert pb/tls-ca.pem "$@"; }
mode() { stub -o /dev/null -d "{\"mode\":\"$1\"}" "$STUB/_stub/mode"; }
# The newOrder payloads the stub has seen, one JSON per line.
orders() { stub "$STUB/_stub/log" | jq -c '.[] | select(.payload.identifiers) | .payload'; }
# RFC 9773 4.1 by hand: base64url(AKI keyIdentifier) "." base64url(serial's
# DER content octets: a 00 in front of a first byte >= 0x80).
cert_id() {
	local aki serial
	aki=$(openssl x509 -in "$1" -noout -ext authorityKeyIdentifier | sed -n 2p | tr -d ' :')
	serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2)
	[ $((${#serial} % 2)) -eq 1 ] && serial=0$serial
	case $serial in [89A-Fa-f]*) serial=00$serial ;; esac
	python3 -c 'import base64,sys
b = lambda h: base64.urlsafe_b64encode(bytes.fromhex(h)).decode().rstrip("=")
print(b(sys.argv[1]) + "." + b(sys.argv[2]))' "$aki" "$serial"
}
# answer CERTID START END: the stub's RenewalInfo for CERTID.
answer() {
	local body
	body=$(jq -nc --arg s "$2" --arg e "$3" '{suggestedWindow: {start: $s, end: $e},
		explanationURL: "https://acme.example.com/docs/ari"}')
	stub -o /dev/null -d "$(jq -nc --arg id "$1" --arg b "$body" \
		'{cert_id: $id, status: 200, retry_after: "21600", body: $b}')" "$STUB/_stub/answer"
}
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# --- Pebble 2.4 itself: no renewalInfo ---
enr --dns renew.example.org --ca pebble
check_eq "enroll renew.example.org through Pebble" 0 $?
old=$(key_id renew.example.org)
token_cert "$old" old.pem
out=$(p11e --json renew renew.example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "not forced: exit 0 ($out)" 0 $?
check_eq "not due by the configured window (Pebble has no renewalInfo)" "not-due config" \
	"$(echo "$out" | jq -r '.[0] | "\(.outcome) \(.window)"')"

out=$(p11e renew renew.example.org --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew --force (rekey) ($out)" 0 $?
new=$(key_id renew.example.org)
check "a new key ID" test -n "$new" -a "$new" != "$old"
check_eq "generation 2" 2 "$(gen renew.example.org .generation)"
check_eq "the new certificate under the new key's CKA_ID" 1 "$(count_objects cert "$new")"
token_cert "$new" new.pem
curl -sf --cacert pb/tls-ca.pem "$PEBBLE_MGMT/intermediates/0" >pb/inter.pem
check "the new certificate chains to Pebble's root" \
	openssl verify -CAfile pb/root.pem -untrusted pb/inter.pem new.pem
pub_cert=$(openssl x509 -in new.pem -noout -pubkey 2>/dev/null | sha256sum)
pub_key=$(p11tool_opensc --read-object --type pubkey --id "$new" -o new.pub.der &&
	openssl pkey -pubin -inform DER -in new.pub.der -pubout 2>/dev/null | sha256sum)
check_eq "the new certificate is the new key's" "$pub_key" "$pub_cert"
check "a new certificate" test "$(cert_id old.pem)" != "$(cert_id new.pem)"
check_eq "the old signing key is removed" 0 "$(count_objects privkey "$old")"
check_eq "the old certificate is removed" 0 "$(count_objects cert "$old")"
check_eq "history: generation 1 removed" "1 removed" \
	"$(gen renew.example.org '.history[0] | "\(.number) \(.on_token)"')"

before=$(gen renew.example.org .cert_sha256)
out=$(p11e renew renew.example.org --force --reuse-key --pin-source "$PIN_SRC" 2>&1)
check_eq "renew --force --reuse-key ($out)" 0 $?
check_eq "--reuse-key: the same key" "$new" "$(key_id renew.example.org)"
check "--reuse-key: a new certificate" test "$(gen renew.example.org .cert_sha256)" != "$before"
check_eq "--reuse-key: one certificate under the key's ID" 1 "$(count_objects cert "$new")"
token_cert "$new" reused.pem
check_eq "--reuse-key: the certificate on the token is the new one" \
	"$(gen renew.example.org .cert_sha256)" \
	"$(openssl x509 -in reused.pem -outform DER | sha256sum | cut -d' ' -f1)"

# --- RFC 9773 through the stub: mode plain is Pebble 2.4 as it is ---
mode plain
enr --dns ari.example.org --ca ari
check_eq "enroll ari.example.org through the stub" 0 $?
out=$(p11e renew ari.example.org --force --pin-source "$PIN_SRC" 2>&1)
check_eq "renew --force without renewalInfo ($out)" 0 $?
check_eq "no renewalInfo: the renewal's newOrder has no replaces" "null" \
	"$(orders | tail -1 | jq -r .replaces)"

mode ari
token_cert "$(key_id ari.example.org)" ari1.pem
id1=$(cert_id ari1.pem)
now=$(date +%s)
answer "$id1" "$(iso $((now + 86400)))" "$(iso $((now + 2 * 86400)))"
out=$(p11e --json renew ari.example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "a CA window from tomorrow: not due, by the CA's window" "not-due ca $(iso $((now + 86400)))" \
	"$(echo "$out" | jq -r '.[0] | "\(.outcome) \(.window) \(.due_from)"')"
stub "$STUB/_stub/log" | jq -r '.[].path' >paths
check "the renewalInfo GET named the certificate by its certID" grep -qx "/renewal-info/$id1" paths
# An invalid answer (ends before it starts): the configured window instead.
answer "$id1" "$(iso $((now - 3600)))" "$(iso $((now - 7200)))"
out=$(p11e --json renew ari.example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "an invalid CA window: the configured one, not due" "not-due config" \
	"$(echo "$out" | jq -r '.[0] | "\(.outcome) \(.window)"')"
# A window that has begun: due although the configured window says not.
answer "$id1" "$(iso $((now - 3600)))" "$(iso $((now + 3600)))"
out=$(p11e --json renew ari.example.org --pin-source "$PIN_SRC" 2>&1)
check_eq "a CA window that has begun: renewed ($out)" "renewed ca" \
	"$(echo "$out" | jq -r '.[0] | "\(.outcome) \(.window)"')"
check_eq "the renewal's newOrder replaces the old certificate" "$id1" \
	"$(orders | tail -1 | jq -r .replaces)"
token_cert "$(key_id ari.example.org)" ari2.pem
check "a new certificate on the token" test "$(cert_id ari2.pem)" != "$id1"

# alreadyReplaced (409): the newOrder again, without replaces; renewed.
mode already-replaced-once
id2=$(cert_id ari2.pem)
n=$(orders | wc -l)
out=$(p11e renew ari.example.org --force --pin-source "$PIN_SRC" 2>&1)
check_eq "alreadyReplaced: renewed anyway ($out)" 0 $?
check_eq "two newOrders: with replaces, then without" "$id2 null" \
	"$(orders | tail -n +$((n + 1)) | jq -r .replaces | tr '\n' ' ' | sed 's/ $//')"
check_eq "generation 4" 4 "$(gen ari.example.org .generation)"
finish
