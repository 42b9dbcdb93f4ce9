# The self-service portal, `p11enroll serve` (docs/portal.md), on 127.0.0.1
# with a port the kernel picks (--listen 127.0.0.1:0: no race over a port):
# client certificates from a PFX and from the SoftHSM token (curl with the
# pkcs11 engine) sign their holders in; no certificate, another CA's, an
# expired or a revoked one, another user's identity in the URL, a reused or
# expired invitation code and a POST without the CSRF token are refused as
# documented and reveal nothing (the sign-in limits, cross-site requests,
# sign-out and reloads: portal_auth.sh); a new user's whole
# flow (invited, requests a software identity, reveals its password,
# downloads the PFX, opens it with openssl and pk12util; renews a due one
# through the API and through the page's Renew form) works, audited before
# anything is sent; SIGTERM stops it cleanly.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
setup_ca
W=$TEST_TMP/portal
mkdir -p "$W"
cd "$W" || exit 1

# The server's own TLS certificate (a CA of its own: not the users' CA).
portal_tls_cert
file_vault "$W" '"profiles": {
    "soft": { "base": "smime", "key_store": "software", "renew_within_days": 400 },
    "soft-auth": { "base": "client-auth", "key_store": "software" } },
  "portal": { "tls_cert": "tls.pem", "tls_key": "tls.key",
    "client_cas": "'"$CA_DIR"'/ca.pem", "client_crl": "crl.pem",
    "self_service_profiles": ["soft"], "session_minutes": 10,
    "officer_key": "officer.key", "workers": 3 }'
p11e config check >/dev/null 2>&1
check_eq "config check knows the portal section" 0 $?

pfx_of() { store_pfx_file "$(record "$1" | jq -r .pfx_path)"; }
# client_pem EMAIL: a software client-auth identity as one PEM (key + certificate).
client_pem() {
	p11e enroll --software --profile soft-auth --email "$1" >/dev/null 2>&1 &&
		PW=$(escrowed "$1") openssl pkcs12 -in "$(pfx_of "$1")" -passin env:PW -nodes \
			-out "$1.pem" 2>/dev/null
}
client_pem alice@example.com
check "alice: a client certificate in a PFX" test -s alice@example.com.pem
client_pem carol@example.com
check "carol: a client certificate in a PFX" test -s carol@example.com.pem
# An expired one from the same CA (openssl ca can date it in the past).
mkdir -p db && : >db/index.txt && echo 01 >db/serial
cat >ca.cnf <<CNF
[ca]
default_ca = d
[d]
database = db/index.txt
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = p
[p]
commonName = supplied
[ext]
subjectAltName = email:eve@example.com
extendedKeyUsage = clientAuth
CNF
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout eve.key -subj /CN=Eve \
	-out eve.csr 2>/dev/null
openssl ca -batch -config ca.cnf -cert "$CA_DIR/ca.pem" -keyfile "$CA_DIR/ca.key" -in eve.csr \
	-out eve.crt -startdate 20200101000000Z -enddate 20210101000000Z -extensions ext -notext \
	>/dev/null 2>&1
cat eve.key eve.crt >eve@example.com.pem
check "eve: a client certificate" test -s eve.crt
openssl x509 -in eve.crt -noout -checkend 0 >/dev/null 2>&1
check_eq "eve: it has expired" 1 $?
# Another CA's certificate for alice's address, with clientAuth.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key \
	-out other-ca.pem -subj /CN=Other-CA -days 2 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mallory.key \
	-subj /CN=Alice -out mallory.csr 2>/dev/null
printf 'subjectAltName=email:alice@example.com\nextendedKeyUsage=clientAuth\n' >mallory.ext
openssl x509 -req -in mallory.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
	-days 2 -extfile mallory.ext -out mallory.pem 2>/dev/null
# bob's key is on the token (profile client-auth).
p11e enroll "$TEST_TOKEN_URI" --email bob@example.com --profile client-auth \
	--pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "bob: enrolled on the token" done "$(record bob@example.com | jq -r .step)"
record bob@example.com | jq -r .cert_pem >bob.pem
printf '%s' "$TEST_PIN" >engine.pin
BOB_KEY="pkcs11:token=test;id=$(pct_id "$(key_id bob@example.com)");type=private?pin-source=file:$W/engine.pin"
p11e ca crl --dir "$CA_DIR" --out crl.pem >/dev/null 2>&1
check "an empty CRL to start with" test -s crl.pem

# --- start: port 0, the address read from the log ---
portal_serve

# req OUT [curl args...] URLPATH: the body into OUT, the status on stdout.
req() {
	local out=$1
	shift
	curl -sS --max-time 120 --cacert tls.pem -o "$out" -w '%{http_code}' "$@" 2>>curl.err
}
A=(--cert alice@example.com.pem)

# --- who is it: certificates ---
check_eq "no certificate: 401" 401 "$(req me.json "$URL/api/v1/me")"
check_contains "no certificate: says how to sign in" "$(cat me.json)" "invitation code"
check_eq "alice (PFX certificate): 200" 200 "$(req me.json "${A[@]}" "$URL/api/v1/me")"
check_eq "alice: /me names her" alice@example.com "$(jq -r .user me.json)"
check_eq "alice: her software identity" software "$(jq -r '.identities[0].kind' me.json)"
check_eq "alice: done" done "$(jq -r '.identities[0].step' me.json)"
check_eq "alice: not due" false "$(jq -r '.identities[0].renewal_due' me.json)"
ACSRF=$(jq -r .csrf me.json)
check_eq "bob (token key through the pkcs11 engine): 200" 200 \
	"$(req bobme.json --engine pkcs11 --key-type ENG --key "$BOB_KEY" --cert bob.pem "$URL/api/v1/me")"
check_eq "bob: /me names him" bob@example.com "$(jq -r .user bobme.json 2>/dev/null)"
check_eq "bob: his token identity" token "$(jq -r '.identities[0].kind' bobme.json 2>/dev/null)"
check_eq "another CA's certificate for alice's address: 401" 401 \
	"$(req m.json --cert mallory.pem --key mallory.key "$URL/api/v1/me")"
check_contains "another CA: says why" "$(cat m.json)" "client certificate not accepted"
check_eq "expired certificate: 401" 401 "$(req e.json --cert eve@example.com.pem "$URL/api/v1/me")"
check_contains "expired: says why" "$(cat e.json)" "expired"
check_eq "carol before revocation: 200" 200 "$(req c.json --cert carol@example.com.pem "$URL/api/v1/me")"
serial=$(openssl x509 -in carol@example.com.pem -noout -serial | cut -d= -f2)
p11e ca revoke --dir "$CA_DIR" --serial "$serial" --reason keyCompromise >/dev/null 2>&1 &&
	p11e ca crl --dir "$CA_DIR" --out crl.pem >/dev/null 2>&1
check_eq "carol revoked (the CRL re-read at once): 401" 401 \
	"$(req c.json --cert carol@example.com.pem "$URL/api/v1/me")"
check_contains "revoked: says why" "$(cat c.json)" "revoked"
check_not_contains "a refused certificate reveals nothing" "$(cat c.json e.json m.json)" "identities"

# --- TLS: 1.2 and up only ---
openssl s_client -connect "$ADDR" -tls1_1 </dev/null >/dev/null 2>&1
check "TLS 1.1 is refused" test $? -ne 0
check "TLS 1.2 works" sh -c "openssl s_client -connect '$ADDR' -tls1_2 -CAfile tls.pem </dev/null 2>/dev/null | grep -q 'Verify return code: 0'"

# --- only one's own identity ---
AP=alice@example.com
check_eq "alice: her certificate (PEM)" 200 \
	"$(req a.pem "${A[@]}" "$URL/api/v1/identities/$AP/certificate?format=pem")"
check "the PEM is her certificate and its chain" sh -c \
	"openssl verify -CAfile '$CA_DIR/ca.pem' a.pem >/dev/null && grep -c 'BEGIN CERTIFICATE' a.pem | grep -q 2"
check_eq "alice: her certificate (P7B)" 200 \
	"$(req a.p7b "${A[@]}" "$URL/api/v1/identities/$AP/certificate?format=p7b")"
check "the P7B holds two certificates" sh -c \
	"openssl pkcs7 -inform DER -in a.p7b -print_certs | grep -c 'BEGIN CERT' | grep -q 2"
check_eq "format=der: 400" 400 "$(req x "${A[@]}" "$URL/api/v1/identities/$AP/certificate?format=der")"
for other in carol@example.com CAROL@example.com carol%40example.com bob@example.com nobody@example.com; do
	check_eq "alice asks for $other's certificate: 403" 403 \
		"$(req x "${A[@]}" "$URL/api/v1/identities/$other/certificate")"
	check_eq "alice asks for $other's PFX: 403" 403 "$(req x "${A[@]}" "$URL/api/v1/identities/$other/pfx")"
	check_eq "alice asks for $other's password: 403" 403 \
		"$(req x "${A[@]}" -X POST -H "X-CSRF-Token: $ACSRF" "$URL/api/v1/identities/$other/password")"
done
# %2F is part of the identity (an address may hold a '/'): not a path, not hers.
check_eq "a path that smuggles a slash: 403, another identity" 403 \
	"$(req x "${A[@]}" "$URL/api/v1/identities/alice%2F..%2Fcarol@example.com/pfx")"
check_eq "bob: his token key has no PFX: 404" 404 \
	"$(req x --engine pkcs11 --key-type ENG --key "$BOB_KEY" --cert bob.pem "$URL/api/v1/identities/bob@example.com/pfx")"

# --- the password: POST with the CSRF token only ---
check_eq "reveal without X-CSRF-Token: 403" 403 "$(req x "${A[@]}" -X POST "$URL/api/v1/identities/$AP/password")"
check_eq "reveal with a wrong token: 403" 403 \
	"$(req x "${A[@]}" -X POST -H "X-CSRF-Token: x$ACSRF" "$URL/api/v1/identities/$AP/password")"
check_eq "reveal by GET: 405" 405 "$(req x "${A[@]}" "$URL/api/v1/identities/$AP/password")"
check_eq "alice reveals her password" 200 \
	"$(req pw.json "${A[@]}" -X POST -H "X-CSRF-Token: $ACSRF" "$URL/api/v1/identities/$AP/password")"
check_eq "it is the escrowed one" "$(escrowed $AP)" "$(jq -r .password pw.json)"
check_eq "a reveal is audited with the user, the client and the outcome" 1 \
	"$(grep '"action":"portal-reveal"' <(audit_lines) | grep -c '"portal_user":"alice@example.com".*"client":"127.0.0.1".*"outcome":"ok"')"
curl -sS --max-time 120 --cacert tls.pem "${A[@]}" -D headers.txt -o /dev/null -X POST \
	-H "X-CSRF-Token: $ACSRF" "$URL/api/v1/identities/$AP/password"
H=$(tr -d '\r' <headers.txt)
check_contains "no-store" "$H" "Cache-Control: no-store"
check_contains "CSP" "$H" "Content-Security-Policy: default-src 'self'"
check_contains "HSTS" "$H" "Strict-Transport-Security: max-age="

# --- the HTML pages, with a certificate ---
check_eq "home page" 200 "$(req home.html "${A[@]}" "$URL/")"
check_contains "home: download certificate" "$(cat home.html)" 'id="download-certificate"'
check_contains "home: show me my password" "$(cat home.html)" 'Show me my password'
check_not_contains "home: no inline script" "$(cat home.html)" "<script>"
check_not_contains "home: no inline style" "$(cat home.html)" "style="
check_not_contains "home: alice is not due: no Renew button" "$(cat home.html)" "/renew"
FCSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' home.html | head -1)
check_eq "the password page (form POST with its CSRF token)" 200 \
	"$(req pw.html "${A[@]}" --data-urlencode "csrf=$FCSRF" "$URL/identities/$AP/password")"
check_contains "the page shows the password" "$(sed 's/<[^>]*>//g' pw.html)" "$(escrowed $AP)"
check_eq "the form without its token: 403" 403 "$(req x "${A[@]}" --data "csrf=nope" "$URL/identities/$AP/password")"
check_eq "the Renew form before alice is due: 409" 409 \
	"$(req rn.html "${A[@]}" --data-urlencode "csrf=$FCSRF" "$URL/identities/$AP/renew")"
check_contains "a page that says why" "$(cat rn.html)" "Not due yet: renewal opens"
check_eq "alice still in generation 1" 1 "$(record $AP | jq -r ".generation // 1")"
check_eq "sign-in page without a certificate" 200 "$(req si.html "$URL/")"
check_contains "sign-in page: a code field" "$(cat si.html)" 'name="code"'

# --- invitation codes ---
DAVE=dave@example.com
CODE=$(p11e invite "$DAVE" --hours 2)
check_eq "invite: a 256-bit code" 43 "${#CODE}"
check_eq "invite: the code is not on disk" 0 "$(grep -rl -- "$CODE" "$P11ENROLL_STATE_DIR" | wc -l)"
check_eq "another address with dave's code: 401" 401 \
	"$(req x -H 'Content-Type: application/json' -d "{\"email\":\"eve@example.com\",\"code\":\"$CODE\"}" "$URL/api/v1/session")"
check_eq "dave signs in with his code" 200 \
	"$(req s.json -c jar -H 'Content-Type: application/json' -d "{\"email\":\"$DAVE\",\"code\":\"$CODE\"}" "$URL/api/v1/session")"
check_contains "the cookie is Secure, HttpOnly, SameSite=Strict" "$(grep -i p11e_session jar)" "#HttpOnly_"
check_eq "the code again: 401 (single use)" 401 \
	"$(req x -H 'Content-Type: application/json' -d "{\"email\":\"$DAVE\",\"code\":\"$CODE\"}" "$URL/api/v1/session")"
check_eq "dave: /me by his cookie" 200 "$(req d.json -b jar "$URL/api/v1/me")"
check_eq "dave has no identity yet" 0 "$(jq '.identities | length' d.json)"
DCSRF=$(jq -r .csrf d.json)
check_eq "dave: a profile not offered: 403" 403 \
	"$(req x -b jar -H "X-CSRF-Token: $DCSRF" -H 'Content-Type: application/json' -d '{"profile":"soft-auth"}' "$URL/api/v1/identities")"
check_eq "dave: a request without the CSRF token: 403" 403 \
	"$(req x -b jar -H 'Content-Type: application/json' -d '{"profile":"soft"}' "$URL/api/v1/identities")"
check_eq "dave requests a software identity: 201" 201 \
	"$(req n.json -b jar -H "X-CSRF-Token: $DCSRF" -H 'Content-Type: application/json' -d '{"profile":"soft"}' "$URL/api/v1/identities")"
check_eq "dave: done" done "$(jq -r .step n.json)"
check_eq "dave: due at once (his profile's renew_within_days 400 > its validity)" true \
	"$(jq -r .renewal_due n.json)"
check_eq "dave: a second request: 409" 409 \
	"$(req x -b jar -H "X-CSRF-Token: $DCSRF" -H 'Content-Type: application/json' -d '{"profile":"soft"}' "$URL/api/v1/identities")"
check_eq "dave reveals his password" 200 \
	"$(req dpw.json -b jar -X POST -H "X-CSRF-Token: $DCSRF" "$URL/api/v1/identities/$DAVE/password")"
DPW=$(jq -r .password dpw.json)
check_eq "dave downloads his PFX" 200 "$(req dave.p12 -b jar "$URL/api/v1/identities/$DAVE/pfx")"
check "openssl opens it with the revealed password" sh -c \
	"PW='$DPW' openssl pkcs12 -in dave.p12 -passin env:PW -nodes -noout"
mkdir -p nss && certutil -N -d sql:nss --empty-password >/dev/null 2>&1
printf '%s' "$DPW" >dpw.txt
check "pk12util imports it with the revealed password" pk12util -i dave.p12 -d sql:nss -w dpw.txt
check_contains "NSS has dave's key and certificate" "$(certutil -L -d sql:nss 2>/dev/null)" "u,u,u"
# Renewal: dave is due (renew_within_days 400); alice is not.
check_eq "alice: renew before it is due: 409" 409 \
	"$(req x "${A[@]}" -X POST -H "X-CSRF-Token: $ACSRF" "$URL/api/v1/identities/$AP/renew")"
check_eq "dave: renew without the CSRF token: 403" 403 \
	"$(req x -b jar -X POST "$URL/api/v1/identities/$DAVE/renew")"
code=$(req rn.json -b jar -X POST -H "X-CSRF-Token: $DCSRF" "$URL/api/v1/identities/$DAVE/renew")
check_eq "dave renews his due identity: 201 ($(grep 'renew for' serve.log))" 201 "$code"
check_eq "dave: generation 2" 2 "$(jq -r .generation rn.json)"
check_eq "dave reveals the new password" 200 \
	"$(req dpw2.json -b jar -X POST -H "X-CSRF-Token: $DCSRF" "$URL/api/v1/identities/$DAVE/password")"
DPW2=$(jq -r .password dpw2.json)
check "a new password for the new PFX" test -n "$DPW2" -a "$DPW2" != "$DPW"
check_eq "dave downloads the new PFX" 200 "$(req dave2.p12 -b jar "$URL/api/v1/identities/$DAVE/pfx")"
check "the new PFX opens with the new password" sh -c \
	"PW='$DPW2' openssl pkcs12 -in dave2.p12 -passin env:PW -nodes -noout"
check "and holds the renewed certificate" sh -c \
	"PW='$DPW2' openssl pkcs12 -in dave2.p12 -passin env:PW -nokeys -clcerts | openssl x509 -noout -serial | grep -q '$(record $DAVE | jq -r .cert_pem | openssl x509 -noout -serial)'"
check_eq "the renewal is audited" 1 \
	"$(grep -c '"action":"portal-renew".*"portal_user":"dave@example.com".*"outcome":"ok"' <(audit_lines))"
check_eq "dave cannot reach alice's certificate: 403" 403 \
	"$(req x -b jar "$URL/api/v1/identities/$AP/certificate")"
check_eq "a made-up session cookie: 401" 401 \
	"$(req x -H 'Cookie: p11e_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' "$URL/api/v1/me")"
# The same flow through the pages (no script): sign-in form, request form, password form.
IVAN=ivan@example.com
ICODE=$(p11e invite "$IVAN")
req si.html -c ijar "$URL/" >/dev/null
SCSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' si.html | head -1)
check_eq "sign-in form: 303 to /" 303 "$(req x -c ijar --data-urlencode "csrf=$SCSRF" \
	--data-urlencode "email=$IVAN" --data-urlencode "code=$ICODE" "$URL/signin")"
check_eq "ivan's page" 200 "$(req i.html -b ijar "$URL/")"
check_contains "no identity yet: a request form with the offered profile" "$(cat i.html)" "<option>soft</option>"
ICSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' i.html | head -1)
check_eq "request form without its token: 403" 403 "$(req x -b ijar --data "profile=soft" "$URL/identities")"
check_eq "request form: 303 to /" 303 \
	"$(req x -b ijar --data-urlencode "csrf=$ICSRF" --data "profile=soft" "$URL/identities")"
check_eq "ivan's page again" 200 "$(req i.html -b ijar "$URL/")"
check_contains "now with the password button" "$(cat i.html)" 'id="show-password"'
check_eq "ivan's password page" 200 \
	"$(req ipw.html -b ijar --data-urlencode "csrf=$ICSRF" "$URL/identities/$IVAN/password")"
check_contains "shows ivan's escrowed password" "$(sed 's/<[^>]*>//g' ipw.html)" "$(escrowed $IVAN)"
# The Renew form: ivan is due at once (soft: renew_within_days 400).
check_contains "ivan is due: the Renew button" "$(cat i.html)" \
	"action=\"/identities/$IVAN/renew\"><input type=\"hidden\" name=\"csrf\" value=\"$ICSRF\"><button id=\"renew\" type=\"submit\">Renew my certificate</button>"
check_eq "the Renew form without its token: 403" 403 "$(req x -b ijar --data "csrf=nope" "$URL/identities/$IVAN/renew")"
check_eq "the Renew form for alice's identity: 403" 403 \
	"$(req x -b ijar --data-urlencode "csrf=$ICSRF" "$URL/identities/$AP/renew")"
check_eq "nothing renewed so far" 1 "$(record $IVAN | jq -r ".generation // 1")"
check_eq "the Renew form renews" 200 \
	"$(req irn.html -b ijar --data-urlencode "csrf=$ICSRF" "$URL/identities/$IVAN/renew")"
check_contains "the page says so" "$(cat irn.html)" "Renewed: your new certificate is valid until"
check_eq "ivan's record: generation 2, done" "2 done" "$(record $IVAN | jq -r '"\(.generation) \(.step)"')"
check_eq "the renewal through the page is audited" 1 \
	"$(grep -c '"action":"portal-renew".*"portal_user":"ivan@example.com".*"outcome":"ok"' <(audit_lines))"
RCSRF=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' irn.html | head -1)
check_eq "its password form" 200 \
	"$(req ipw2.html -b ijar --data-urlencode "csrf=$RCSRF" "$URL/identities/$IVAN/password")"
IPW2=$(escrowed "$IVAN%232") # generation 2's entry (the file vault escapes "#")
check "a new password, escrowed for generation 2" test -n "$IPW2" -a "$IPW2" != "$(escrowed $IVAN)"
check_contains "the page shows the new password" "$(sed 's/<[^>]*>//g' ipw2.html)" "$IPW2"
check_eq "the new PFX through the page's link" 200 \
	"$(req ivan2.p12 -b ijar "$URL$(sed -n 's/.*id="download-pfx" href="\([^"]*\)".*/\1/p' irn.html)")"
check "the new password opens it, with the renewed certificate" sh -c \
	"PW='$IPW2' openssl pkcs12 -in ivan2.p12 -passin env:PW -nokeys -clcerts | openssl x509 -noout -serial | grep -q '$(record $IVAN | jq -r .cert_pem | openssl x509 -noout -serial)'"

# An expired invitation (made while the clock said 2020).
OLD=$(P11ENROLL_TEST_NOW=2020-01-01T00:00:00Z p11e invite frank@example.com --hours 1)
check_eq "an expired code: 401" 401 \
	"$(req x -H 'Content-Type: application/json' -d "{\"email\":\"frank@example.com\",\"code\":\"$OLD\"}" "$URL/api/v1/session")"
check_eq "bad JSON: 400" 400 "$(req x -H 'Content-Type: application/json' -d '{"email":1}' "$URL/api/v1/session")"

# --- nothing secret in the log; audit chain intact; SIGTERM ---
check_not_contains "no password in the server's log" "$(cat serve.log)" "$DPW"
check_not_contains "no code in the server's log" "$(cat serve.log)" "$CODE"
check "the audit chain verifies" p11e audit verify
portal_stop
check_contains "SIGTERM: stopped cleanly" "$(cat serve.log)" "stopped"
state_layout_check "the portal's invitations, PFX files and records"
finish
