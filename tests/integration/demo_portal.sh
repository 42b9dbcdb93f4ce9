# scripts/demo-portal.sh, the README's portal demo, on a demo directory made
# the way scripts/demo.sh makes one (its own SoftHSM token 'demo', an embedded
# CA in demo/ca, alice enrolled on the token, demo/alice.pem) with this build's
# binary (P11E_BIN) and a kernel-picked port (PORTAL_LISTEN=127.0.0.1:0): the
# printed code signs bob in over TLS verified against the demo CA alone; he
# requests a software identity, reveals its password and opens the downloaded
# PFX with it; alice's S/MIME-only card certificate does not sign her in, as
# the script says; SIGTERM stops it cleanly; a second run reuses the TLS
# certificate and the officer key, so bob's escrowed password still reads.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
W=$TEST_TMP/w
D=$W/demo
mkdir -p "$D/tokens"
cd "$W" || exit 1
SCRIPT=$SOURCE_DIR/scripts/demo-portal.sh

out=$(P11E_DEMO_DIR=$W/nodemo P11E_BIN=$P11ENROLL bash "$SCRIPT" 2>&1)
check_eq "no demo yet: exit 1" 1 $?
check_contains "no demo yet: says to run demo.sh" "$out" "run 'bash scripts/demo.sh' first"

# The demo's data, as scripts/demo.sh makes it (without its deps and build).
sed "s|@TOKENDIR@|$D/tokens|" "$SOURCE_DIR/softhsm-conf/softhsm2.conf.in" >"$D/softhsm2.conf"
openssl rand -hex 4 >"$D/user.pin"
openssl rand -hex 8 >"$D/so.pin"
demo_p11e() { SOFTHSM2_CONF=$D/softhsm2.conf P11ENROLL_STATE_DIR=$D/state "$P11ENROLL" "$@"; }
demo_p11e init-token "pkcs11:model=SoftHSM%20v2" --label demo \
	--so-pin-source "file:$D/so.pin" --pin-source "file:$D/user.pin" >/dev/null 2>&1
check_eq "demo token" 0 $?
demo_p11e ca init --dir "$D/ca" --subject "/O=Example/CN=Example Mail CA" >/dev/null 2>&1
check_eq "demo CA" 0 $?
demo_p11e enroll "pkcs11:token=demo" --email alice@example.com --name "Alice Example" \
	--ca "local:$D/ca" --pin-source "file:$D/user.pin" >/dev/null 2>&1
check_eq "alice enrolled on the demo token" 0 $?
demo_p11e export alice@example.com --format pem 2>/dev/null | openssl x509 -out "$D/alice.pem"
check "demo/alice.pem" openssl verify -CAfile "$D/ca/ca.pem" "$D/alice.pem"

# start RUN: demo-portal.sh in the background; its stdout in RUN.out, serve's log in
# RUN.log, the bound address in ADDR (serve is the script's exec'd process: $PID).
start() {
	P11E_DEMO_DIR=$D P11E_BIN=$P11ENROLL PORTAL_LISTEN=127.0.0.1:0 bash "$SCRIPT" \
		>"$1.out" 2>"$1.log" &
	PID=$!
	portal_wait "$PID" "$1.log" ||
		{ bad "demo-portal.sh did not start serve: $(cat "$1.out" "$1.log")"; finish; }
	CODE=$(sed -n 's/^  Code  *//p' "$1.out")
}
# stop RUN: SIGTERM, a clean exit.
stop() {
	kill -TERM $PID
	wait $PID
	check_eq "$1: SIGTERM: exit 0" 0 $?
	check_contains "$1: stopped cleanly" "$(cat "$1.log")" "p11enroll serve: stopped"
}
trap 'kill $PID 2>/dev/null' EXIT
# req OUT [curl args...] URL: the body into OUT, the status on stdout; only the
# demo CA is trusted.
req() {
	local out=$1
	shift
	curl -sS --max-time 120 --cacert "$D/ca/ca.pem" -o "$out" -w '%{http_code}' "$@" 2>>curl.err
}
# signin: bob's session with the printed code (the body from a file: no code on argv).
signin() {
	printf '{"email":"bob@example.com","code":"%s"}' "$CODE" >body.json
	req s.json -c jar -H 'Content-Type: application/json' --data @body.json "$URL/api/v1/session"
}

start run1
P=$D/portal
check_eq "the code: 256 bits, base64url" 43 "${#CODE}"
check_contains "prints who signs in" "$(cat run1.out)" "Sign in as  bob@example.com"
check_contains "prints how to trust the demo CA" "$(cat run1.out)" "curl --cacert $D/ca/ca.pem"
check_contains "serve warns about the officer key file" "$(cat run1.log)" \
	"portal.officer_key is a key file"
check "the config passes config check" env P11ENROLL_CONFIG="$P/config.json" \
	P11ENROLL_STATE_DIR="$D/state" "$P11ENROLL" config check
check "the TLS certificate is the demo CA's, for localhost" openssl verify -CAfile "$D/ca/ca.pem" \
	-purpose sslserver -verify_hostname localhost "$P/tls.pem"
check "... and for 127.0.0.1" openssl verify -CAfile "$D/ca/ca.pem" -verify_ip 127.0.0.1 "$P/tls.pem"
check_eq "sign-in page over TLS trusting only the demo CA" 200 "$(req home.html "$URL/")"
check_contains "the sign-in page asks for the code" "$(cat home.html)" 'name="code"'

# Alice's card (profile smime: emailProtection only): refused, as the script says.
check_contains "says alice's card does not sign her in" "$(cat run1.out)" "does not sign her in"
printf '%s' "$(cat "$D/user.pin")" >engine.pin
AKEY="pkcs11:token=demo;id=$(pct_id "$(demo_p11e status alice@example.com --json | jq -r '.[0].key_id')");type=private?pin-source=file:$W/engine.pin"
code=$(SOFTHSM2_CONF=$D/softhsm2.conf req a.json --engine pkcs11 --key-type ENG --key "$AKEY" \
	--cert "$D/alice.pem" "$URL/api/v1/me")
check_eq "alice's card certificate: 401" 401 "$code"
check_contains "and why" "$(cat a.json)" "client certificate not accepted"

# Bob: the code, a software identity of the offered profile, its password and PFX.
check_eq "bob signs in with the printed code" 200 "$(signin)"
check_eq "bob: /me" 200 "$(req me.json -b jar "$URL/api/v1/me")"
check_eq "bob: signed in" bob@example.com "$(jq -r .user me.json)"
check_eq "bob: no identity yet" 0 "$(jq '.identities | length' me.json)"
CSRF=$(jq -r .csrf me.json)
check_eq "the offered profile is demo-soft" 200 "$(req page.html -b jar "$URL/")"
check_contains "the request form offers it" "$(cat page.html)" "<option>demo-soft</option>"
check_eq "bob requests a software identity: 201" 201 \
	"$(req n.json -b jar -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' -d '{"profile":"demo-soft"}' "$URL/api/v1/identities")"
check_eq "bob: done" "done" "$(jq -r .step n.json)"
check_eq "bob reveals his password" 200 \
	"$(req pw.json -b jar -X POST -H "X-CSRF-Token: $CSRF" "$URL/api/v1/identities/bob@example.com/password")"
jq -j .password pw.json >pw.txt
check "a password" test -s pw.txt
check_eq "bob downloads his PFX" 200 "$(req bob.p12 -b jar "$URL/api/v1/identities/bob@example.com/pfx")"
openssl pkcs12 -in bob.p12 -passin file:pw.txt -nokeys -clcerts -out bob.pem 2>/dev/null
check_eq "openssl opens the PFX with the revealed password" 0 $?
check "it holds a key" sh -c "openssl pkcs12 -in bob.p12 -passin file:pw.txt -nocerts -nodes 2>/dev/null | grep -q 'PRIVATE KEY'"
check "bob's certificate is the demo CA's, for S/MIME" \
	openssl verify -CAfile "$D/ca/ca.pem" -purpose smimesign bob.pem
check_contains "for his address" "$(openssl x509 -in bob.pem -noout -ext subjectAltName 2>&1)" \
	"email:bob@example.com"
check_not_contains "no password in serve's log" "$(cat run1.log)" "$(cat pw.txt)"
check_not_contains "no code in serve's log" "$(cat run1.log)" "$CODE"
stop run1

# Again: the same TLS certificate and officer key, a new code; bob's password still reads.
tls_sum=$(sha256sum <"$P/tls.pem")
officer_sum=$(sha256sum <"$P/officer.key")
start run2
check_eq "run 2: the same TLS certificate" "$tls_sum" "$(sha256sum <"$P/tls.pem")"
check_eq "run 2: the same officer key" "$officer_sum" "$(sha256sum <"$P/officer.key")"
check_eq "run 2: a new code" 43 "${#CODE}"
check_eq "run 2: bob signs in with it" 200 "$(signin)"
req me.json -b jar "$URL/api/v1/me" >/dev/null
check_eq "run 2: bob's identity is there" "done" "$(jq -r '.identities[0].step' me.json)"
CSRF=$(jq -r .csrf me.json)
check_eq "run 2: bob reveals his password" 200 \
	"$(req pw2.json -b jar -X POST -H "X-CSRF-Token: $CSRF" "$URL/api/v1/identities/bob@example.com/password")"
check_eq "run 2: the same password" "$(cat pw.txt)" "$(jq -j .password pw2.json)"
stop run2
trap - EXIT
check "the audit chain verifies" env P11ENROLL_CONFIG="$P/config.json" \
	P11ENROLL_STATE_DIR="$D/state" "$P11ENROLL" audit verify
finish
