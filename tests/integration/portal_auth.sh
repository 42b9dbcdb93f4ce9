# The portal's sign-in against a hostile network (issue 19; docs/portal.md, Security model),
# on 127.0.0.1 with a kernel-picked port; distinct clients are distinct loopback source
# addresses (curl --interface 127.0.0.N):
# - failed code sign-ins wait per (client, address) with growing delays (429 + Retry-After)
#   and per client (20 in 15 minutes), but the right code from another client is taken
#   during someone else's failures for that address, and an invalid address is a 400 that
#   is not counted;
# - one CSRF rule for every POST: a JSON body only as application/json (415), a member
#   given twice refused, a cross-site Origin or Sec-Fetch-Site refused (403), also for the
#   sign-in;
# - sign-out (the form and DELETE /api/v1/session) ends the session on the server: the old
#   cookie is refused after it; a certificate user is told there is no session;
# - the certificate rules: the first rfc822Name only, never a CA's certificate, an address
#   with '/' reaches its own identity;
# - trust reloaded without a restart: a CA removed from client_cas and SIGHUP refuses its
#   users, a changed file is picked up without a signal, a new TLS certificate is served,
#   a broken client_cas keeps the old state and logs one line.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
setup_ca
W=$TEST_TMP/portal-auth
mkdir -p "$W"
cd "$W" || exit 1

portal_tls_cert
cp tls.pem tls-ca.pem # what curl trusts: each server certificate is its own CA
# A second users' CA, trusted next to the first until it is removed.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca2.key \
	-out ca2.pem -subj /CN=Second-Users-CA -days 2 2>/dev/null
cat "$CA_DIR/ca.pem" ca2.pem >cas.pem
file_vault "$W" '"profiles": {
    "soft": { "base": "smime", "key_store": "software" },
    "soft-auth": { "base": "client-auth", "key_store": "software" } },
  "portal": { "tls_cert": "tls.pem", "tls_key": "tls.key", "client_cas": "cas.pem",
    "self_service_profiles": ["soft"], "session_minutes": 10,
    "officer_key": "officer.key", "workers": 2 }'

# user_cert CA_PEM CA_KEY NAME EXTENSIONS: NAME.pem, a key and a certificate for curl.
user_cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$3.key" \
		-subj "/CN=$3" -out "$3.csr" 2>/dev/null &&
		printf '%b\n' "$4" >"$3.ext" &&
		openssl x509 -req -in "$3.csr" -CA "$1" -CAkey "$2" -set_serial "0x$(openssl rand -hex 8)" \
			-days 2 -extfile "$3.ext" -out "$3.crt" 2>/dev/null &&
		cat "$3.key" "$3.crt" >"$3.pem"
}
CA1=("$CA_DIR/ca.pem" "$CA_DIR/ca.key")
user_cert "${CA1[@]}" alice 'subjectAltName=email:alice@example.com\nextendedKeyUsage=clientAuth'
user_cert ca2.pem ca2.key zed 'subjectAltName=email:zed@example.com\nextendedKeyUsage=clientAuth'
# A malformed first rfc822Name, then alice's address: must not become alice.
user_cert "${CA1[@]}" twonames \
	'subjectAltName=email:not-an-address,email:alice@example.com\nextendedKeyUsage=clientAuth'
# A CA's certificate with clientAuth and an address, issued under client_cas.
user_cert "${CA1[@]}" subca \
	'basicConstraints=critical,CA:TRUE\nsubjectAltName=email:alice@example.com\nextendedKeyUsage=clientAuth'
for c in alice zed twonames subca; do check "$c: a client certificate" test -s $c.pem; done
# An address with '/' (valid in an RFC 5321 local part): a software identity whose
# certificate signs its holder in.
SLASH='x/y@example.com'
SLASH_URL='x%2Fy@example.com'
# Its record and escrow entry are escaped file names (the helpers lower-case "%2F").
slash_record() { "$STORE_PROBE" "" get identity "$SLASH"; }
p11e enroll --software --profile soft-auth --email "$SLASH" >enroll.out 2>&1
check_eq "enrolled $SLASH ($(cat enroll.out))" done "$(slash_record | jq -r .step)"
PW=$(openssl cms -decrypt -inform DER -in "$W/escrow/$SLASH_URL.cms" -recip officers.pem \
	-inkey officer.key 2>/dev/null) openssl pkcs12 -in "$(store_pfx_file "$(slash_record | jq -r .pfx_path)")" \
	-passin env:PW -nodes -out slash.pem 2>/dev/null
check "$SLASH: its PFX opens" test -s slash.pem

portal_serve

# req OUT CLIENT_N [curl args...] URL: from 127.0.0.CLIENT_N; the body into OUT, the
# status on stdout (headers into OUT.h).
req() {
	local out=$1 n=$2
	shift 2
	curl -sS --max-time 120 --cacert tls-ca.pem --interface "127.0.0.$n" -D "$out.h" -o "$out" \
		-w '%{http_code}' "$@" 2>>curl.err
}
JSON=(-H 'Content-Type: application/json')
# sign CLIENT_N EMAIL CODE [curl args]: POST /api/v1/session.
sign() {
	local n=$1 email=$2 code=$3
	shift 3
	req s.json "$n" "${JSON[@]}" "$@" -d "{\"email\":\"$email\",\"code\":\"$code\"}" \
		"$URL/api/v1/session"
}
header() { tr -d '\r' <"$1.h" | sed -n "s/^$2: //Ip" | head -1; }

check_eq "a client from 127.0.0.2 is served" 200 "$(req x 2 --cert alice.pem "$URL/api/v1/me")"

# --- failed sign-ins: no targeted lockout ---
GRACE=grace@example.com
GOOD=$(p11e invite $GRACE)
# Five clients fail for grace's address once each (five failures for the address).
codes=""
for n in 4 5 6 7 8; do codes="$codes $(sign $n $GRACE wrong$n)"; done
check_eq "wrong codes from five clients: 401 each" " 401 401 401 401 401" "$codes"
# Client .2 keeps failing for her address: after its n-th failure it waits 2^(n-1) s
# (429 + Retry-After, whole seconds rounded up, so 2^(n-1) or, on a slow machine, one
# less); each time the test waits what Retry-After says, then fails again.
check_eq "client .2, a wrong code: 401" 401 "$(sign 2 $GRACE wrong)"
check_eq "client .2 at once again: 429" 429 "$(sign 2 $GRACE wrong)"
check_eq "Retry-After: the first failure waits 1 s" 1 "$(header s.json Retry-After)"
check_contains "the answer says to wait" "$(cat s.json)" "wait 1 seconds"
for n in 2 3 4; do
	sleep "$(header s.json Retry-After).2"
	check_eq "client .2 after the delay: tried again, 401" 401 "$(sign 2 $GRACE wrong)"
	check_eq "client .2 at once: 429" 429 "$(sign 2 $GRACE wrong)"
	ra=$(header s.json Retry-After) full=$((1 << (n - 1)))
	check "Retry-After after failure $n: $full s (got $ra)" test "${ra:-0}" -le $full -a "${ra:-0}" -ge $((full - 1))
done
# During all that, grace herself, from another client, with the right code.
check_eq "the right code from client .3 during the others' failures: 200" 200 \
	"$(sign 3 $GRACE "$GOOD")"
check_eq "it is grace's session" $GRACE "$(jq -r .user s.json)"
check_eq "the sign-in is audited with its client" 1 \
	"$(grep '"action":"portal-sign-in","identity":"grace@example.com"' <(audit_lines) | grep -c '"client":"127.0.0.3".*"outcome":"ok"')"
check_eq "and each failure with its own" 4 \
	"$(grep '"action":"portal-sign-in","identity":"grace@example.com"' <(audit_lines) | grep -c '"client":"127.0.0.2".*"outcome":"not-found"')"
# The per-client cap: 20 failures in 15 minutes over any addresses, then 429 for
# everything from that client (a valid code included), never for another client.
HEIDI=$(p11e invite heidi@example.com)
codes=""
for i in $(seq 1 20); do codes="$codes $(sign 9 u$i@example.com wrong)"; done
check_eq "client .9: 20 failures over 20 addresses, each 401" \
	"$(printf ' 401%.0s' $(seq 1 20))" "$codes"
check_eq "client .9, a 21st address: 429" 429 "$(sign 9 u21@example.com wrong)"
ra=$(header s.json Retry-After)
check "Retry-After: the rest of the window (about 900 s; got $ra)" test "${ra:-0}" -gt 800 -a "${ra:-0}" -le 900
check_eq "client .9, a valid code: 429 (the code is not even looked at)" 429 \
	"$(sign 9 heidi@example.com "$HEIDI")"
check_eq "heidi from client .10: 200" 200 "$(sign 10 heidi@example.com "$HEIDI")"
# An invalid address: 400 naming the field, not counted.
codes=""
for i in $(seq 1 25); do codes="$codes $(sign 11 "not-an-address$i" wrong)"; done
check_eq "25 invalid addresses from client .11: 400 each" \
	"$(printf ' 400%.0s' $(seq 1 25))" "$codes"
check_contains "the answer names the field" "$(cat s.json)" "email"
check_eq "then a valid address with a wrong code: 401 (nothing was counted)" 401 \
	"$(sign 11 ok@example.com wrong)"

# --- one CSRF rule for every POST ---
IVAN=ivan@example.com
ICODE=$(p11e invite $IVAN)
check_eq "sign-in as text/plain (what a cross-site form can send): 415" 415 \
	"$(req x 12 -H 'Content-Type: text/plain' -d "{\"email\":\"$IVAN\",\"code\":\"$ICODE\"}" "$URL/api/v1/session")"
check_contains "415 names Content-Type" "$(cat x)" "Content-Type"
check_eq "sign-in as a form body: 415" 415 \
	"$(req x 12 -d "{\"email\":\"$IVAN\",\"code\":\"$ICODE\"}" "$URL/api/v1/session")"
check_eq "sign-in without Content-Type: 415" 415 \
	"$(req x 12 -H 'Content-Type:' -d "{\"email\":\"$IVAN\",\"code\":\"$ICODE\"}" "$URL/api/v1/session")"
check_eq "from Origin: https://evil.example: 403" 403 \
	"$(sign 12 $IVAN "$ICODE" -H 'Origin: https://evil.example')"
check_contains "403 says why" "$(cat s.json)" "cross-site"
check_eq "Sec-Fetch-Site: cross-site: 403" 403 "$(sign 12 $IVAN "$ICODE" -H 'Sec-Fetch-Site: cross-site')"
check_eq "Sec-Fetch-Site: same-site (another origin): 403" 403 \
	"$(sign 12 $IVAN "$ICODE" -H 'Sec-Fetch-Site: same-site')"
check_eq "Origin: http:// (not https) of the portal: 403" 403 \
	"$(sign 12 $IVAN "$ICODE" -H "Origin: http://$ADDR")"
check_eq "a member given twice (json-c would keep the last): 400" 400 \
	"$(req x 12 "${JSON[@]}" -d "{\"email\":\"$IVAN\",\"code\":\"$ICODE\",\"email\":\"$IVAN\"}" "$URL/api/v1/session")"
check_contains "400 names the member" "$(cat x)" "'email' given twice"
check_eq "none of that used the code: from the portal's own origin it signs in" 200 \
	"$(sign 12 $IVAN "$ICODE" -c ijar -H "Origin: https://$ADDR" -H 'Sec-Fetch-Site: same-origin')"
check_eq "a JSON route takes charset=utf-8" 200 \
	"$(req x 12 -b ijar -H 'Content-Type: application/json; charset=utf-8' "$URL/api/v1/me")"
ICSRF=$(jq -r .csrf x)
# Signed-in POSTs: a cross-site Origin is refused even with the right token.
check_eq "a request with the right X-CSRF-Token from Origin evil.example: 403" 403 \
	"$(req x 12 -b ijar -H "X-CSRF-Token: $ICSRF" "${JSON[@]}" -H 'Origin: https://evil.example' \
		-d '{"profile":"soft"}' "$URL/api/v1/identities")"
check_eq "the same as text/plain: 415" 415 \
	"$(req x 12 -b ijar -H "X-CSRF-Token: $ICSRF" -H 'Content-Type: text/plain' \
		-d '{"profile":"soft"}' "$URL/api/v1/identities")"
check "nothing was requested" no_record $IVAN
# The sign-in form: its csrf field is bound to the client's address, and a cross-site
# Origin is refused before it is looked at.
JUDY=judy@example.com
JCODE=$(p11e invite $JUDY)
req si.html 13 "$URL/" >/dev/null
SCSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' si.html | head -1)
check "the sign-in form has a csrf field" test -n "$SCSRF"
check_eq "the sign-in form from Origin evil.example: 403" 403 \
	"$(req x 13 -H 'Origin: https://evil.example' --data-urlencode "csrf=$SCSRF" \
		--data-urlencode "email=$JUDY" --data-urlencode "code=$JCODE" "$URL/signin")"
check_eq "its csrf field from another client address: 400" 400 \
	"$(req x 14 --data-urlencode "csrf=$SCSRF" --data-urlencode "email=$JUDY" \
		--data-urlencode "code=$JCODE" "$URL/signin")"
check_eq "from its own client and origin (Origin: null + same-origin, as a browser under no-referrer): 303" 303 \
	"$(req x 13 -c jjar -H 'Origin: null' -H 'Sec-Fetch-Site: same-origin' --data-urlencode "csrf=$SCSRF" \
		--data-urlencode "email=$JUDY" --data-urlencode "code=$JCODE" "$URL/signin")"

# --- sign-out ---
# The API: DELETE /api/v1/session with the X-CSRF-Token.
ISESSION=$(awk '$6 == "p11e_session" {print $7}' ijar)
check "ivan's session cookie" test -n "$ISESSION"
check_eq "sign-out without X-CSRF-Token: 403" 403 "$(req x 12 -b ijar -X DELETE "$URL/api/v1/session")"
check_eq "the session still works" 200 "$(req x 12 -b ijar "$URL/api/v1/me")"
check_eq "sign-out from Origin evil.example: 403" 403 \
	"$(req x 12 -b ijar -X DELETE -H "X-CSRF-Token: $ICSRF" -H 'Origin: https://evil.example' "$URL/api/v1/session")"
check_eq "sign-out: 200" 200 \
	"$(req so.json 12 -b ijar -c ijar -X DELETE -H "X-CSRF-Token: $ICSRF" "$URL/api/v1/session")"
check_eq "it names who signed out" $IVAN "$(jq -r .signed_out so.json)"
check_contains "the cookie is cleared with the same attributes" "$(header so.json Set-Cookie)" \
	"p11e_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"
check_eq "the old cookie, sent again: 401" 401 \
	"$(req x 12 -H "Cookie: p11e_session=$ISESSION" "$URL/api/v1/me")"
check_eq "DELETE anywhere else: 405" 405 \
	"$(req x 12 -H "Cookie: p11e_session=$ISESSION" -X DELETE "$URL/api/v1/identities/$IVAN/pfx")"
check_eq "a second sign-out with it: 401" 401 \
	"$(req x 12 -H "Cookie: p11e_session=$ISESSION" -X DELETE -H "X-CSRF-Token: $ICSRF" "$URL/api/v1/session")"
check_eq "the sign-out is audited" 1 \
	"$(grep -c '"action":"portal-sign-out","identity":"ivan@example.com".*"outcome":"ok"' <(audit_lines))"
# The form: POST /signout with the page's csrf field; 303 to / with the cookie cleared.
JSESSION=$(awk '$6 == "p11e_session" {print $7}' jjar)
check_eq "judy's page" 200 "$(req j.html 13 -b jjar "$URL/")"
JCSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' j.html | head -1)
check_eq "the sign-out form without its csrf field: 403" 403 "$(req x 13 -b jjar -d x=1 "$URL/signout")"
check_eq "the sign-out form by GET: 405" 405 "$(req x 13 -b jjar "$URL/signout")"
check_eq "the sign-out form: 303" 303 "$(req x 13 -b jjar --data-urlencode "csrf=$JCSRF" "$URL/signout")"
check_eq "to /" / "$(header x Location)"
check_contains "the cookie cleared" "$(header x Set-Cookie)" "p11e_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"
check_eq "judy's old cookie: 401" 401 "$(req x 13 -H "Cookie: p11e_session=$JSESSION" "$URL/api/v1/me")"
check_eq "and the page shows the sign-in form again" 200 \
	"$(req x 13 -H "Cookie: p11e_session=$JSESSION" "$URL/")"
check_contains "the sign-in form" "$(cat x)" 'name="code"'
# A certificate has no session to end.
check_eq "alice's /me" 200 "$(req a.json 2 --cert alice.pem "$URL/api/v1/me")"
check_eq "alice (certificate) signs out by the API: 409" 409 \
	"$(req x 2 --cert alice.pem -X DELETE -H "X-CSRF-Token: $(jq -r .csrf a.json)" "$URL/api/v1/session")"
check_contains "it says how to sign out" "$(cat x)" "close the browser"
req ah.html 2 --cert alice.pem "$URL/" >/dev/null
check_eq "alice's sign-out form: 409, a page that says so" 409 \
	"$(req x 2 --cert alice.pem --data-urlencode "csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' ah.html | head -1)" "$URL/signout")"
check_contains "close your browser or remove your card" "$(cat x)" "remove your card"

# --- the certificate rules ---
check_eq "a malformed first rfc822Name, alice's second: 401" 401 \
	"$(req x 2 --cert twonames.pem "$URL/api/v1/me")"
check_contains "it says why" "$(cat x)" "first email address"
check_not_contains "and is not alice" "$(cat x)" '"user"'
check_eq "a CA certificate (CA:TRUE, clientAuth, alice's address): 401" 401 \
	"$(req x 2 --cert subca.pem "$URL/api/v1/me")"
check_contains "it says why" "$(cat x)" "CA certificate"
check_eq "$SLASH signs in by certificate" 200 "$(req x 2 --cert slash.pem "$URL/api/v1/me")"
check_eq "as $SLASH" "$SLASH" "$(jq -r .user x)"
check_eq "and reaches its own certificate as $SLASH_URL" 200 \
	"$(req c.pem 2 --cert slash.pem "$URL/api/v1/identities/$SLASH_URL/certificate")"
check "it is the record's certificate" cmp -s <(openssl x509 -in c.pem) \
	<(slash_record | jq -r .cert_pem | openssl x509)
check_eq "and its PFX" 200 "$(req x 2 --cert slash.pem "$URL/api/v1/identities/$SLASH_URL/pfx")"
check_eq "x%2Fz@example.com (not its own): 403" 403 \
	"$(req x 2 --cert slash.pem "$URL/api/v1/identities/x%2Fz@example.com/certificate")"
check_eq "x/y@example.com with a raw '/': 404 (another path)" 404 \
	"$(req x 2 --cert slash.pem "$URL/api/v1/identities/$SLASH/certificate")"
check_eq "alice cannot reach it: 403" 403 \
	"$(req x 2 --cert alice.pem "$URL/api/v1/identities/$SLASH_URL/certificate")"
req h.html 2 --cert slash.pem "$URL/" >/dev/null
LINK=$(sed -n 's/.*id="download-certificate" href="\([^"]*\)".*/\1/p' h.html)
check_contains "the page links it escaped" "$LINK" "/api/v1/identities/$SLASH_URL/certificate"
check_eq "the page's link works" 200 "$(req x 2 --cert slash.pem "$URL$LINK")"

# --- trust reloaded without a restart ---
# served_fp: the SHA-256 fingerprint of the certificate the server shows.
served_fp() {
	openssl s_client -connect "$ADDR" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256
}
# wait_log TEXT N: until serve.log holds TEXT N times (60 s at most).
wait_log() {
	for _ in $(seq 1 600); do
		[ "$(grep -c -- "$1" serve.log)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# wait_status N CERT CODE: until /api/v1/me with CERT answers CODE (60 s at most).
wait_status() {
	for _ in $(seq 1 120); do
		[ "$(req x "$1" --cert "$2" "$URL/api/v1/me")" = "$3" ] && return 0
		sleep 0.5
	done
	return 1
}
check_eq "zed (the second CA) signs in" 200 "$(req x 2 --cert zed.pem "$URL/api/v1/me")"
# The second CA removed from client_cas (replaced atomically), then SIGHUP.
cp "$CA_DIR/ca.pem" cas.new && mv cas.new cas.pem
kill -HUP "$SERVE_PID"
check "SIGHUP: reloaded" wait_log "reloaded the TLS certificate, key and client CAs (SIGHUP)" 1
check_eq "zed after the CA is removed: 401" 401 "$(req x 2 --cert zed.pem "$URL/api/v1/me")"
check_contains "says why" "$(cat x)" "client certificate not accepted"
check_eq "alice still: 200" 200 "$(req x 2 --cert alice.pem "$URL/api/v1/me")"
# Back in the file, no signal: picked up within a few seconds.
cat "$CA_DIR/ca.pem" ca2.pem >cas.new && mv cas.new cas.pem
check "a changed client_cas is picked up without SIGHUP" wait_status 2 zed.pem 200
check_contains "logged as a change of the files" "$(cat serve.log)" "(the files changed)"
# A new TLS certificate and key (written while the server runs), then SIGHUP.
OLD_FP=$(served_fp)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls2.key \
	-out tls2.pem -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 2 2>/dev/null
cat tls.pem tls2.pem >tls-ca.pem # curl trusts both from now on
NEW_FP=$(openssl x509 -in tls2.pem -noout -fingerprint -sha256)
n=$(grep -c "reloaded" serve.log)
cp tls2.key tls.key.new && cp tls2.pem tls.pem.new && mv tls.key.new tls.key && mv tls.pem.new tls.pem
kill -HUP "$SERVE_PID"
check "SIGHUP with a new TLS certificate: reloaded" wait_log "reloaded" $((n + 1))
check "the old certificate was served before" test -n "$OLD_FP" -a "$OLD_FP" != "$NEW_FP"
check_eq "the new certificate is served" "$NEW_FP" "$(served_fp)"
check_eq "and works" 200 "$(req x 2 --cert alice.pem "$URL/api/v1/me")"
# Reloads under requests in flight (each keeps the SSL_CTX and store it took: under
# ASan a use after free would show): every request answered.
n=$(grep -c "reloaded" serve.log)
for i in $(seq 1 24); do req "busy$i" 2 --cert alice.pem "$URL/api/v1/me" >"busy$i.code" & done
for i in $(seq 1 8); do kill -HUP "$SERVE_PID"; sleep 0.1; done
wait $(jobs -p | grep -v "^$SERVE_PID\$") 2>/dev/null
check_eq "24 requests during 8 reloads: each 200" "$(printf '200%.0s' $(seq 1 24))" "$(cat busy*.code | tr -d '\n')"
check "and the reloads happened" wait_log "reloaded" $((n + 1))
check "the server lives" kill -0 "$SERVE_PID"
# A broken client_cas: the old state stays, one line says so (not one per look).
# First every reload asked for above is over (a reload still reading the
# files when they change tries again once they settle: a second line).
a=$(grep -c "reloaded" serve.log)
while sleep 1.5; b=$(grep -c "reloaded" serve.log); [ "$a" != "$b" ]; do a=$b; done
fails=$(grep -c "reload failed" serve.log)
echo "not a certificate" >cas.new && mv cas.new cas.pem
check "a broken client_cas: the reload fails" wait_log "reload failed" $((fails + 1))
sleep 7 # more than three looks
check_eq "one line, once" $((fails + 1)) "$(grep -c "reload failed" serve.log)"
check_contains "it names the file" "$(grep "reload failed" serve.log | tail -1)" "portal.client_cas"
check_eq "zed still signs in (the old client CAs kept)" 200 "$(req x 2 --cert zed.pem "$URL/api/v1/me")"
check_eq "alice still" 200 "$(req x 2 --cert alice.pem "$URL/api/v1/me")"
kill -HUP "$SERVE_PID"
check "SIGHUP retries it: another line" wait_log "reload failed" $((fails + 2))
cp "$CA_DIR/ca.pem" cas.new && mv cas.new cas.pem
check "fixed (only the first CA): zed refused without a signal" wait_status 2 zed.pem 401

check_not_contains "no code in the server's log" "$(cat serve.log)" "$GOOD"
check "the audit chain verifies" p11e audit verify
portal_stop
finish
