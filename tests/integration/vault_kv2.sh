# The vault-kv2 vault through the CLI, over HTTPS to tests/stubs/vault_kv2_stub.py
# (a stub of Vault's documented KV v2 and AppRole API; no Vault server can be
# installed here): `escrow show` and `escrow list` with a token and with
# AppRole, the namespace header, TLS verified against the configured CA bundle
# only, and the error answers (403, 404, 5xx, nobody listening) as one-line
# errors with documented exit codes, each recorded in the audit log without
# the password or the token. The library's put/get/list/delete round trip is
# in tests/unit/test_vault_kv2.c.
. "$TESTS_DIR/lib/common.sh"
W=$TEST_TMP/w
mkdir -p "$W"
STATE=$P11ENROLL_STATE_DIR
mkdir -p "$STATE/identities"

# --- TLS for the stub: its own CA, a certificate for 127.0.0.1 ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tls-ca.key" \
	-out "$W/vault-ca.pem" -days 2 -subj "/CN=Stub Vault CA" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tls.key" \
	-out "$W/tls.csr" -subj "/CN=127.0.0.1" 2>/dev/null
openssl x509 -req -in "$W/tls.csr" -CA "$W/vault-ca.pem" -CAkey "$W/tls-ca.key" -CAcreateserial \
	-days 2 -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n') \
	-out "$W/tls.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/other-ca.key" \
	-out "$W/other-ca.pem" -days 2 -subj "/CN=Some Other CA" 2>/dev/null

printf 'root-token\n' >"$W/token"
export STUB_SECRET_ID=sid-42
python3 "$TESTS_DIR/stubs/vault_kv2_stub.py" --port-file "$W/port" --token root-token \
	--role-id role-42 --secret-id "$STUB_SECRET_ID" --namespace team/pki \
	--tls-cert "$W/tls.pem" --tls-key "$W/tls.key" &
STUB=$!
trap 'kill $STUB 2>/dev/null' EXIT
# Python starts slowly on a loaded machine (ctest -j): wait up to a minute.
for _ in $(seq 600); do [ -s "$W/port" ] || ! kill -0 $STUB 2>/dev/null && break; sleep 0.1; done
[ -s "$W/port" ] || { echo "FAIL: the stub did not start" >&2; exit 1; }
PORT=$(cat "$W/port")
URL=https://127.0.0.1:$PORT
stub() { curl -sf --cacert "$W/vault-ca.pem" "$@"; }
mode() { stub -X POST -d "{\"mode\":\"$1\"}" "$URL/_stub/mode"; }

# config: token from a file named relative to the config, namespace, CA bundle
conf() { # conf FILE EXTRA-JSON (which may set mount or retries: a key appears once)
	local mount='"mount": "secret", ' retries='"retries": 0, '
	[[ $2 == *'"mount"'* ]] && mount=
	[[ $2 == *'"retries"'* ]] && retries=
	cat >"$1" <<EOF
{ "vault": { "type": "vault-kv2", "url": "$URL", ${mount}"path": "p11enroll",
             ${retries}"timeout": 10 $2 },
  "audit_log": "audit.jsonl" }
EOF
}
conf "$W/config.json" ', "namespace": "team/pki", "ca_bundle": "vault-ca.pem", "token_source": "file:token"'
export P11ENROLL_CONFIG=$W/config.json
AUDIT=$W/audit.jsonl

# A software identity whose password the software path escrowed (here: as it
# would, a check-and-set put straight to the stub).
PW='kv2-Pfx-pass-3e9c'
jq -n '{version: 1, identity: "sam@example.com", step: "done", key_store: "software",
        pfx_path: "/nonexistent/sam.p12"}' >"$STATE/identities/sam@example.com.json"
stub -H 'X-Vault-Token: root-token' -H 'X-Vault-Namespace: team/pki' \
	-d "{\"options\":{\"cas\":0},\"data\":{\"secret\":\"$PW\"}}" \
	"$URL/v1/secret/data/p11enroll/sam@example.com" >/dev/null
check_eq "seeded the stub" 0 $?

# --- show and list ---
out=$(p11e escrow show sam@example.com 2>"$W/err")
check_eq "show over HTTPS with a token ($(cat "$W/err"))" 0 $?
check_eq "  prints the password alone" "$PW" "$out"
out=$(p11e escrow show sam@example.com --officer-key /dev/null 2>"$W/err")
check_eq "an officer key is not needed" "$PW" "$out"
check_contains "  and is said to be unused" "$(cat "$W/err")" "not used by a vault-kv2 vault"
out=$(p11e escrow list)
check_eq "escrow list" "sam@example.com" "$out"
conf "$W/config-approle.json" ', "namespace": "team/pki", "ca_bundle": "vault-ca.pem",
	"approle": { "role_id": "role-42", "secret_id_source": "env:STUB_SECRET_ID" }'
out=$(p11e escrow show sam@example.com --config "$W/config-approle.json" 2>"$W/err")
check_eq "show with an AppRole login ($(cat "$W/err"))" "$PW" "$out"
out=$(STUB_SECRET_ID=wrong p11e escrow show sam@example.com --config "$W/config-approle.json" 2>&1)
check_eq "a wrong secret_id: exit 1" 1 $?
check_contains "  one clear line" "$out" "invalid role or secret ID"

# --- the errors ---
expect() { # expect "what" EXIT NEEDLE [p11enroll args...]
	local what=$1 code=$2 needle=$3 out rc
	shift 3
	out=$(p11e escrow show "$@" 2>"$W/err")
	rc=$?
	check_eq "$what: exit $code" "$code" "$rc"
	check_eq "  nothing on stdout" "" "$out"
	check_contains "  says so" "$(cat "$W/err")" "$needle"
	check_eq "  in one line" 1 "$(wc -l <"$W/err")"
	[ -n "${SHOW_ERRORS:-}" ] && cat "$W/err" >&2
}
expect "unknown identity" 10 "no secret escrowed for 'nobody@example.com'" nobody@example.com
conf "$W/config-sys.json" ', "namespace": "team/pki", "token_source": "file:token"'
expect "TLS without the CA bundle (the system's CAs do not know the stub)" 1 \
	"vault TLS check failed" sam@example.com --config "$W/config-sys.json"
conf "$W/config-other.json" ', "namespace": "team/pki", "ca_bundle": "other-ca.pem", "token_source": "file:token"'
expect "TLS against another CA" 1 "check \"ca_bundle\"" sam@example.com --config "$W/config-other.json"
conf "$W/config-nons.json" ', "ca_bundle": "vault-ca.pem", "token_source": "file:token"'
expect "no namespace header" 1 "permission denied" sam@example.com --config "$W/config-nons.json"
conf "$W/config-mount.json" ', "namespace": "team/pki", "ca_bundle": "vault-ca.pem", "token_source": "file:token", "mount": "kv"'
expect "unknown mount (404 with an error)" 8 "no such mount" sam@example.com --config "$W/config-mount.json"
mode 403
expect "403" 1 "check the token's policy" sam@example.com
mode 500
expect "500" 1 "HTTP 500" sam@example.com
mode 503
expect "503" 1 "sealed" sam@example.com
mode normal
out=$(p11e escrow show sam@example.com)
check_eq "and back" "$PW" "$out"
conf "$W/config-retry.json" ', "namespace": "team/pki", "ca_bundle": "vault-ca.pem", "token_source": "file:token", "retries": 1'
mode 503
start=$(date +%s)
expect "503 after a retry" 1 "sealed" sam@example.com --config "$W/config-retry.json"
check "  retried after a pause" test $(($(date +%s) - start)) -ge 1
mode normal
conf "$W/config-http.json" ', "url": "http://vault.example.org:8200", "token_source": "file:token"'
sed -i 's|"url": "https://127.0.0.1:[0-9]*", ||' "$W/config-http.json"
expect "plain http to another machine" 8 "use https://" sam@example.com --config "$W/config-http.json"

# End to end: a software enrollment escrows through this vault (put with
# check-and-set 0), and the password shows and opens the exported PFX.
setup_ca
out=$(p11e enroll --software --email zoe@example.com --ca "local:$CA_DIR" 2>&1)
check_eq "enroll --software ($out)" 0 $?
ZPW=$(p11e escrow show zoe@example.com)
check_eq "  its password shows" 0 $?
printf '%s\n' "$ZPW" >"$W/zpw"
p11e export zoe@example.com --out "$W/zoe.p12" 2>/dev/null
check "  the exported PFX opens with it" openssl pkcs12 -in "$W/zoe.p12" -passin "file:$W/zpw" -noout
check_eq "  stored as KV v2 data.secret" "$ZPW" \
	"$(stub -H 'X-Vault-Token: root-token' -H 'X-Vault-Namespace: team/pki' \
		"$URL/v1/secret/data/p11enroll/zoe@example.com" | jq -r .data.data.secret)"

# Requests as Vault wants them; nothing secret in a URL.
log=$(stub "$URL/_stub/log")
check_eq "every KV request had the namespace (but the one configured without)" 1 \
	"$(jq '[.[] | select(.path | startswith("/v1/secret/")) | select(.token and .namespace != "team/pki")] | length' <<<"$log")"
check_not_contains "no password in the stub's log" "$log" "$PW"
check_not_contains "  nor the generated one" "$log" "$ZPW"
check_contains "the software path wrote through the KV v2 data endpoint" "$(jq -r '.[] | select(.method == "POST") | .path' <<<"$log")" \
	"/v1/secret/data/p11enroll/zoe@example.com"
check_not_contains "no token in the stub's log" "$log" "root-token"

kill $STUB
wait $STUB 2>/dev/null
expect "nobody listening" 1 "vault unreachable" sam@example.com

# --- the audit log ---
check "every line is JSON" jq -e . "$AUDIT"
check_eq "no line holds the password" 0 "$(grep -cF "$PW" "$AUDIT")"
check_eq "no line holds the token" 0 "$(grep -cF root-token "$AUDIT")"
check_eq "nor the generated password" 0 "$(grep -cF "$ZPW" "$AUDIT")"
check_eq "one line per show and export" 18 "$(wc -l <"$AUDIT")"
check_eq "the successes" 6 "$(jq -r 'select(.outcome == "ok") | .action' "$AUDIT" | wc -l)"
check_eq "a 404 is not-found" 1 "$(jq -r 'select(.outcome == "not-found") | .identity' "$AUDIT" | grep -c nobody)"
finish
