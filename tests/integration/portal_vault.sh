# The portal's password reveal through the vaults that read with their own
# credentials (docs/portal.md, "The officer key"; issue 13): for vault-kv2
# (tests/stubs/vault_kv2_stub.py) and cyberark (tests/stubs/cyberark_stub.py),
# each over HTTPS on a kernel-picked port, a software client-auth identity is
# enrolled (its password escrowed in that vault), `serve` is started with no
# portal.officer_key, and the identity's holder, signed in by the client
# certificate from its PFX, sees it in /api/v1/me and reveals exactly the
# password the vault holds (read back from the stub), audited with the user;
# neither the password nor the vault's own credentials reach the stub's
# request log (methods, paths, queries) or the server's log.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
setup_ca
W=$TEST_TMP/portal_vault
mkdir -p "$W"
cd "$W" || exit 1

STUB=""
SERVE_PID=""
PWS=()
cleanup() { kill $STUB $SERVE_PID 2>/dev/null; }
trap cleanup EXIT

# The portal's TLS certificate, and one CA and certificate for both stubs.
portal_tls_cert
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout stub-ca.key \
	-out stub-ca.pem -days 2 -subj "/CN=Stub vault CA" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout stub.key \
	-out stub.csr -subj /CN=127.0.0.1 2>/dev/null
openssl x509 -req -in stub.csr -CA stub-ca.pem -CAkey stub-ca.key -CAcreateserial -days 2 \
	-extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out stub.pem 2>/dev/null

# start_stub SCRIPT ARGS...: the stub on a port it has the kernel pick; sets STUB and
# SURL. Python starts slowly on a loaded machine: up to a minute.
start_stub() {
	local script=$1
	shift
	rm -f port
	python3 "$TESTS_DIR/stubs/$script" --port-file port --tls-cert stub.pem --tls-key stub.key \
		"$@" &
	STUB=$!
	local port
	port=$(stub_wait "$script" "$STUB" port /dev/null) || { bad "$script did not start"; finish; }
	SURL=https://127.0.0.1:$port
}
stub() { curl -sf --max-time 60 --cacert stub-ca.pem "$@"; }

# write_config FILE VAULT-JSON: the embedded CA, the software client-auth profile,
# the portal without officer_key.
write_config() {
	cat >"$1" <<JSON
{ "default_ca": "local:$CA_DIR",
  "vault": $2,
  "profiles": { "soft-auth": { "base": "client-auth", "key_store": "software" } },
  "portal": { "tls_cert": "$W/tls.pem", "tls_key": "$W/tls.key",
    "client_cas": "$CA_DIR/ca.pem", "self_service_profiles": [], "workers": 2 } }
JSON
}

# req OUT [curl args...] URL: the body into OUT, the status on stdout.
req() {
	local out=$1
	shift
	curl -sS --max-time 120 --cacert tls.pem -o "$out" -w '%{http_code}' "$@" 2>>curl.err
}

# reveal_flow LABEL EMAIL VAULT-PASSWORD-COMMAND: enroll EMAIL, serve, /me, reveal,
# audit; sets PW (the vault's) and GOT (the portal's answer).
reveal_flow() {
	local label=$1 email=$2 out
	shift 2
	out=$(p11e enroll --software --profile soft-auth --email "$email" 2>&1)
	check_eq "$label: enroll --software ($out)" 0 $?
	PW=$("$@")
	check "$label: the vault holds a password" test -n "$PW"
	PW="$PW" openssl pkcs12 -in "$(store_pfx_file "$(record "$email" | jq -r .pfx_path)")" -passin env:PW -nodes \
		-out "$label.pem" 2>/dev/null
	check "$label: the PFX opens with it: a client certificate" test -s "$label.pem"
	check_eq "$label: p11enroll escrow show agrees" "$PW" "$(p11e escrow show "$email" 2>/dev/null)"

	LOG_N=$(stub "$SURL/_stub/log" | jq length)
	portal_serve
	trap cleanup EXIT # portal_serve set its own
	check_eq "$label: /me with the certificate: 200" 200 \
		"$(req "$label-me.json" --cert "$label.pem" "$URL/api/v1/me")"
	check_eq "$label: /me names the user" "$email" "$(jq -r .user "$label-me.json")"
	check_eq "$label: the identity listed" "$email software done" \
		"$(jq -r '.identities[0] | "\(.identity) \(.kind) \(.step)"' "$label-me.json")"
	local csrf
	csrf=$(jq -r .csrf "$label-me.json")
	check_eq "$label: reveal without the CSRF token: 403" 403 \
		"$(req x --cert "$label.pem" -X POST "$URL/api/v1/identities/$email/password")"
	local code
	code=$(req "$label-pw.json" --cert "$label.pem" -X POST -H "X-CSRF-Token: $csrf" \
		"$URL/api/v1/identities/$email/password")
	check_eq "$label: reveal with no officer key: 200 ($(jq -r .error "$label-pw.json" 2>/dev/null))" \
		200 "$code"
	GOT=$(jq -r .password "$label-pw.json" 2>/dev/null)
	check_eq "$label: exactly the password the vault holds" "$PW" "$GOT"
	check_eq "$label: the reveal audited with the user and outcome ok" 1 \
		"$(grep '"action":"portal-reveal"' <(audit_lines) |
			grep -c "\"portal_user\":\"$email\".*\"outcome\":\"ok\"")"
	check_not_contains "$label: no password in the server's log" "$(cat serve.log)" "$PW"
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID"
	check_eq "$label: serve stops on SIGTERM, exit 0" 0 $?
	mv serve.log "$label-serve.log"
	SERVE_PID=""
	PWS+=("$PW")
	# What the stub saw while the portal served: its requests only.
	SERVED_LOG=$(stub "$SURL/_stub/log" | jq -c ".[$LOG_N:]")
}

# --- vault-kv2: a token from a file, a namespace, the stub's CA ---
printf 'root-token\n' >token
start_stub vault_kv2_stub.py --token root-token --namespace team/pki
write_config kv2.json '{ "type": "vault-kv2", "url": "'"$SURL"'", "mount": "secret",
    "path": "p11enroll", "namespace": "team/pki", "ca_bundle": "stub-ca.pem",
    "token_source": "file:token", "retries": 0, "timeout": 30 }'
export P11ENROLL_CONFIG=$W/kv2.json
kv2_secret() {
	stub -H 'X-Vault-Token: root-token' -H 'X-Vault-Namespace: team/pki' \
		"$SURL/v1/secret/data/p11enroll/alice@example.com" | jq -r .data.data.secret
}
reveal_flow kv2 alice@example.com kv2_secret
log=$(stub "$SURL/_stub/log")
check_eq "kv2: the portal read the secret through the KV v2 data endpoint, with the namespace" \
	"GET /v1/secret/data/p11enroll/alice@example.com team/pki" \
	"$(jq -r '.[] | select(.token) | "\(.method) \(.path) \(.namespace)"' <<<"$SERVED_LOG")"
check_not_contains "kv2: no password in a URL the stub saw" "$log" "$PW"
check_not_contains "kv2: no token in a URL the stub saw" "$log" "root-token"
check_not_contains "kv2: no token in the server's log" "$(cat kv2-serve.log)" "root-token"
kill $STUB
wait $STUB 2>/dev/null

# --- cyberark: a PVWA logon with the vault user's own password ---
LOGON_PW='Pvwa-Logon-9c1e!q'
printf '%s\n' "$LOGON_PW" >pvwa-password
chmod 600 pvwa-password
start_stub cyberark_stub.py --user svc-p11e --password-file "$W/pvwa-password" --safe PKI-Escrow
write_config cyberark.json '{ "type": "cyberark", "url": "'"$SURL"'", "auth": "CyberArk",
    "username": "svc-p11e", "password_source": "file:pvwa-password", "safe": "PKI-Escrow",
    "platform_id": "P11EnrollPFX", "ca_bundle": "stub-ca.pem", "timeout": 30, "retries": 1 }'
export P11ENROLL_CONFIG=$W/cyberark.json
# The account's secret, asked of the PVWA as an officer would (logon, find, retrieve).
ca_secret() {
	local tok id
	tok=$(stub -H 'Content-Type: application/json' \
		-d "{\"username\":\"svc-p11e\",\"password\":\"$LOGON_PW\"}" \
		"$SURL/PasswordVault/API/auth/CyberArk/Logon" | jq -r .) &&
		id=$(stub -H "Authorization: $tok" "$SURL/PasswordVault/API/Accounts?search=carol@example.com" |
			jq -r '.value[] | select(.name == "carol@example.com") | .id') &&
		stub -H "Authorization: $tok" -H 'Content-Type: application/json' -d '{"reason":"test"}' \
			"$SURL/PasswordVault/API/Accounts/$id/Password/Retrieve" | jq -r .
}
reveal_flow cyberark carol@example.com ca_secret
log=$(stub "$SURL/_stub/log")
check_eq "cyberark: the portal logged on to the PVWA and retrieved the password" 1 \
	"$(jq '[.[] | select(.path | test("/Password/Retrieve$"))] | length' <<<"$SERVED_LOG")"
check_eq "  with a logon of its own" 1 \
	"$(jq '[.[] | select(.path | test("/auth/cyberark/logon$"; "i"))] | length' <<<"$SERVED_LOG")"
check_not_contains "cyberark: no password in a URL the stub saw" "$log" "$PW"
check_not_contains "cyberark: no logon password in a URL the stub saw" "$log" "$LOGON_PW"
check_not_contains "cyberark: no logon password in the server's log" \
	"$(cat cyberark-serve.log)" "$LOGON_PW"
kill $STUB
wait $STUB 2>/dev/null
STUB=""

check_eq "two reveals, two passwords" 2 "${#PWS[@]}"
check_eq "no password, token or logon password in the audit log" 0 \
	"$(grep -cF -e "root-token" -e "$LOGON_PW" -e "${PWS[0]}" -e "${PWS[1]}" <(audit_lines))"
check "the audit chain verifies" p11e audit verify
trap - EXIT
finish
