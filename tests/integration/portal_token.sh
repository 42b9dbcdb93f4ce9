# The portal's own TLS key on a token: portal.tls_key is a pkcs11: URI, opened
# through the project's token layer (p11e_session_open, p11e_token_signing_key:
# libp11's EVP_PKEY under SSL_CTX_use_PrivateKey). Many handshakes at once,
# from several worker threads, each signed on the SoftHSM token; then SIGTERM.
# A wrong PIN stops `serve` before it listens (exit 3).
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
setup_ca
W=$TEST_TMP/portal
mkdir -p "$W"
cd "$W" || exit 1
out=$(p11e enroll "$TEST_TOKEN_URI" --dns portal.example.org --profile tls-server \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "enroll the portal's server identity ($out)" 0 $?
check_eq "the portal's server key and certificate on the token" done "$(record portal.example.org | jq -r .step)"
record portal.example.org | jq -r '.cert_pem, .chain_pem' >tls.pem
KEY_URI="pkcs11:token=test;id=$(pct_id "$(key_id portal.example.org)");type=private?pin-source=file:$TEST_PIN_FILE"
cat >config.json <<JSON
{ "default_ca": "local:$CA_DIR",
  "portal": { "tls_cert": "tls.pem", "tls_key": "$KEY_URI", "client_cas": "$CA_DIR/ca.pem",
              "workers": 3 } }
JSON
export P11ENROLL_CONFIG=$W/config.json

portal_serve --module "$SOFTHSM_MODULE"
PORT=${ADDR##*:}

# Twelve clients at once, each its own handshake (no session resumption).
for i in $(seq 1 12); do
	curl -sS --max-time 120 --cacert "$CA_DIR/ca.pem" --resolve "portal.example.org:$PORT:127.0.0.1" \
		-o "me$i.json" -w '%{http_code}' "https://portal.example.org:$PORT/api/v1/me" >"code$i" 2>"err$i" &
done
wait_all=0
for job in $(jobs -p); do
	[ "$job" = "$SERVE_PID" ] && continue
	wait "$job" || wait_all=1
done
codes=$(for f in code*; do cat "$f"; echo; done | sort | uniq -c | tr -s ' ')
check_eq "12 concurrent handshakes signed on the token, each answered 401 (no client certificate)" \
	" 12 401" "$codes"
check_eq "each client verified the token-held server key against the CA" 0 "$(cat err* | wc -c)"
check "the server is still up" kill -0 $SERVE_PID
portal_stop

# A wrong PIN: no server, the PIN's exit code, one login attempt.
printf '%s\n' 999999 >wrong.pin
sed -i "s|pin-source=file:[^\"]*|pin-source=file:$W/wrong.pin|" config.json
out=$("$P11ENROLL" serve --listen 127.0.0.1:0 --module "$SOFTHSM_MODULE" 2>&1)
check_eq "a wrong PIN for tls_key: exit 3 ($out)" 3 $?
check_not_contains "no listening after a failed login" "$out" "listening"
finish
