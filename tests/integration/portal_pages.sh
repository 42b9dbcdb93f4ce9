# The portal's pages as a person meets them (docs/portal.md, Pages), over
# curl on 127.0.0.1 (a port the kernel picks): the organisation's name, logo
# and help contact on every page; the stylesheet, script and logo served by
# the portal itself (right types, cacheable, no inline script or style);
# HTML error pages on page routes and JSON under /api/; dates and states in
# plain words; when a code's session ends; the issuing CA chain; every
# generation in the history; "I lost my laptop": a user revokes their own
# software certificate through the confirmation page (CSRF token and a
# ticked box needed; revoked at the CA with reason keyCompromise, in the
# CRL, recorded, audited portal-revoke) and through the API ({"confirm":
# "revoke"} and X-CSRF-Token), then requests a new one: generation 2, the
# revoked generation 1 kept in the history.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
export LC_ALL=C
setup_ca
W=$TEST_TMP/portal
mkdir -p "$W"
cd "$W" || exit 1
portal_tls_cert
# A 1x1 PNG for the logo.
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\b\6\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\xdac\xf8\xff\xff?\0\5\xfe\2\xfe\xa7\xd6\xa4\xcf\0\0\0\0IEND\xaeB`\x82' >logo.png
file_vault "$W" '"profiles": { "soft": { "base": "smime", "key_store": "software" },
    "soft-b": { "base": "smime", "key_store": "software" }, "card": { "base": "smime" } },
  "portal": { "tls_cert": "tls.pem", "tls_key": "tls.key", "client_cas": "'"$CA_DIR"'/ca.pem",
    "self_service_profiles": ["soft", "soft-b"], "session_minutes": 10, "officer_key": "officer.key",
    "organisation": "Example & Sons", "logo": "logo.png", "help_contact": "help@example.com",
    "workers": 2 }'
# A logo that is neither PNG nor SVG stops serve before it listens.
cp "$P11ENROLL_CONFIG" good.json
sed 's/"logo.png"/"tls.pem"/' good.json >bad-logo.json
P11ENROLL_CONFIG=$W/bad-logo.json "$P11ENROLL" serve --listen 127.0.0.1:0 >/dev/null 2>badlogo.err
check_eq "a logo that is not PNG or SVG: exit 8 (config)" 8 $?
check_contains "it names the key" "$(cat badlogo.err)" "portal.logo"

portal_serve
req() {
	local out=$1
	shift
	curl -sS --max-time 120 --cacert tls.pem -o "$out" -w '%{http_code}' "$@" 2>>curl.err
}
# hdr OUT URL: the headers of a GET into OUT.h
hdr() { curl -sS --max-time 120 --cacert tls.pem -D "$1.h" -o "$1" "$2" 2>>curl.err; }
text() { sed 's/<[^>]*>//g' "$1"; }
csrf_of() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$1" | head -1; }

# --- the frame, static files, error pages ---
hdr si.html "$URL/"
check_contains "sign-in page: the organisation's name, escaped" "$(cat si.html)" '<span class="org">Example &amp; Sons</span>'
check_contains "sign-in page: the logo" "$(cat si.html)" '<img class="logo" src="/static/logo" alt="">'
check_contains "sign-in page: the help contact as a mail link" "$(cat si.html)" '<a href="mailto:help@example.com">help@example.com</a>'
check_contains "sign-in page: how to get a new code" "$(text si.html)" "No code, or has it expired? Ask help@example.com for a new one."
check_contains "sign-in page: the portal's stylesheet" "$(cat si.html)" '<link rel="stylesheet" href="/static/portal.css">'
check_not_contains "no inline script" "$(cat si.html)" "<script>"
check_not_contains "no inline style" "$(cat si.html)" "style"=
check_not_contains "no external asset" "$(cat si.html)" '="http'
check_contains "the CSP stays default-src 'self'" "$(cat si.html.h)" "default-src 'self'"
hdr css "$URL/static/portal.css"
check_contains "stylesheet: text/css" "$(cat css.h)" "Content-Type: text/css"
check_contains "stylesheet: cacheable" "$(cat css.h)" "Cache-Control: public, max-age=3600"
check_contains "stylesheet: nosniff" "$(cat css.h)" "X-Content-Type-Options: nosniff"
check_contains "stylesheet: the password's monospace font" "$(cat css)" "monospace"
hdr js "$URL/static/portal.js"
check_contains "script: text/javascript" "$(cat js.h)" "Content-Type: text/javascript"
check_contains "script: the copy button" "$(cat js)" "clipboard"
hdr logo "$URL/static/logo"
check_contains "logo: image/png" "$(cat logo.h)" "Content-Type: image/png"
check "logo: the configured file" cmp logo logo.png
check_contains "pages stay uncached" "$(cat si.html.h)" "Cache-Control: no-store"
check_eq "an unknown page: 404" 404 "$(req nf.html -D nf.h "$URL/no/such/page")"
check_contains "as an HTML page" "$(cat nf.h)" "Content-Type: text/html"
check_contains "that says so" "$(cat nf.html)" "<h1>Page not found</h1>"
check_eq "an unknown API path: 404" 404 "$(req nf.json -D nfj.h "$URL/api/v1/nope")"
check_contains "as JSON" "$(cat nfj.h)" "Content-Type: application/json"
check_eq "a page route with the wrong method: 405" 405 "$(req m.html -D m.h -X POST "$URL/")"
check_contains "as an HTML page" "$(cat m.h)" "Content-Type: text/html"
check_eq "the CA chain needs a sign-in: 401" 401 "$(req x.html "$URL/ca-chain.pem")"

# --- ivy signs in with a code (the form), requests, sees her certificate ---
IVY=ivy@example.com
CODE=$(p11e invite $IVY)
req si.html -c jar "$URL/" >/dev/null
check_eq "the sign-in form: 303" 303 \
	"$(req x -b jar -c jar --data-urlencode "csrf=$(csrf_of si.html)" --data-urlencode "email=$IVY" --data-urlencode "code=$CODE" "$URL/signin")"
check_eq "ivy's page" 200 "$(req i.html -b jar "$URL/")"
check_contains "no certificate yet" "$(text i.html)" "You have no certificate yet."
check_contains "her session's end, and how to get a new code" "$(text i.html)" "Your session ends at"
check_contains "... in 10 minutes" "$(text i.html)" "(in 10 minutes). To sign in after that, ask help@example.com for a new invitation code."
check_contains "a Sign out button (a form with the CSRF token)" "$(cat i.html)" \
	"<form method=\"post\" action=\"/signout\"><input type=\"hidden\" name=\"csrf\" value=\"$(csrf_of i.html)\"><button id=\"sign-out\""
C=$(csrf_of i.html)
check_eq "the request form: 303" 303 "$(req x -b jar --data-urlencode "csrf=$C" --data-urlencode profile=soft "$URL/identities")"
check_eq "ivy's page again" 200 "$(req i.html -b jar "$URL/")"
check_contains "Ready" "$(cat i.html)" '<span id="state" class="badge ok">Ready</span>'
NA=$(record $IVY | jq -r .not_after)
days=$((($(date -u -d "$NA" +%s) - $(date -u +%s) + 43200) / 86400))
check_contains "valid until, in words and days" "$(cat i.html)" \
	"<dd id=\"valid-until\">$(date -u -d "$NA" '+%-d %B %Y') (in $days days)</dd>"
check_contains "the file in plain words" "$(text i.html)" "Key and certificate file (for Outlook, Thunderbird, macOS Keychain"
check_contains "the certificate in plain words" "$(text i.html)" "Certificate for your mail program"
check_contains "how to install it" "$(cat i.html)" "<summary>Thunderbird</summary>"
check_contains "the history: generation 1, Ready" "$(cat i.html)" "<tbody><tr><td>1</td><td>Ready</td>"
check_contains "a way to revoke" "$(cat i.html)" "id=\"revoke\" class=\"button danger\" href=\"/identities/$IVY/revoke\""
check_eq "the CA chain" 200 "$(req chain.pem -b jar "$URL/ca-chain.pem")"
check_eq "it is the issuing CA's" "$(record $IVY | jq -r .chain_pem | openssl x509 -noout -fingerprint)" \
	"$(openssl x509 -in chain.pem -noout -fingerprint)"
check_eq "the password page" 200 "$(req pw.html -b jar --data-urlencode "csrf=$C" "$URL/identities/$IVY/password")"
check_contains "the password, whole once tags are gone" "$(text pw.html)" "$(escrowed $IVY)"
check_contains "in groups of four" "$(cat pw.html)" "<code><span>$(escrowed $IVY | cut -c1-4)</span><span>$(escrowed $IVY | cut -c5-8)</span>"
check_contains "a copy button, shown by the script" "$(cat pw.html)" 'data-copy="password"'

# --- ivy lost her laptop: the confirmation page, then the revocation ---
SERIAL=$(record $IVY | jq -r .cert_pem | openssl x509 -noout -serial | cut -d= -f2)
check_eq "the confirmation page" 200 "$(req rc.html -b jar "$URL/identities/$IVY/revoke")"
check_contains "a box to tick" "$(cat rc.html)" 'name="confirm" value="revoke" required'
check_eq "without the ticked box: 400" 400 "$(req r.html -b jar --data-urlencode "csrf=$C" "$URL/identities/$IVY/revoke")"
check_contains "says nothing was revoked" "$(text r.html)" "Nothing was revoked"
check_eq "without the CSRF token: 403" 403 "$(req r.html -b jar --data confirm=revoke "$URL/identities/$IVY/revoke")"
check_eq "nothing revoked so far" null "$(record $IVY | jq -r .revoked_reason)"
check_eq "revoked" 200 \
	"$(req r.html -b jar --data-urlencode "csrf=$C" --data confirm=revoke "$URL/identities/$IVY/revoke")"
check_contains "the page says so" "$(text r.html)" "Revoked: nobody can use your old certificate any more."
check_contains "and offers a new one" "$(cat r.html)" '<input type="hidden" name="profile" value="soft">'
check_eq "the record: keyCompromise" keyCompromise "$(record $IVY | jq -r .revoked_reason)"
p11e ca crl --dir "$CA_DIR" --out crl.pem >/dev/null 2>&1
check_contains "the CA's CRL lists it" "$(openssl crl -in crl.pem -noout -text)" "Serial Number: $SERIAL"
check_eq "audited portal-revoke, with the user" 1 \
	"$(grep -c '"action":"portal-revoke".*"portal_user":"ivy@example.com".*"outcome":"ok"' <(audit_lines))"
check_eq "revoking again: 409" 409 \
	"$(req r2.html -b jar --data-urlencode "csrf=$C" --data confirm=revoke "$URL/identities/$IVY/revoke")"
check_eq "her page" 200 "$(req i.html -b jar "$URL/")"
check_contains "Revoked" "$(cat i.html)" '<span id="state" class="badge bad">Revoked</span>'
check_contains "revoked on today" "$(text i.html)" "Revoked on$(date -u '+%-d %B %Y')"
check_contains "the history: 1 Revoked, no days to go" "$(cat i.html)" "<tr><td>1</td><td>Revoked</td><td>$(date -u -d "$NA" '+%-d %B %Y')</td>"
check_not_contains "no download of the revoked one" "$(cat i.html)" 'id="download-pfx"'
check_eq "another kind for the new one: 409" 409 \
	"$(req x.html -b jar --data-urlencode "csrf=$C" --data-urlencode profile=soft-b "$URL/identities")"
check_contains "says why" "$(text x.html)" "A new certificate is of the same kind as the revoked one."
check_eq "a new certificate: 303" 303 "$(req x -b jar --data-urlencode "csrf=$C" --data-urlencode profile=soft "$URL/identities")"
check_eq "generation 2, done, not revoked" "2 done null" \
	"$(record $IVY | jq -r '"\(.generation) \(.step) \(.revoked_reason)"')"
check_eq "generation 1 kept, revoked" "1 revoked keyCompromise" \
	"$(record $IVY | jq -r '.history[0] | "\(.number) \(.state) \(.revoked_reason)"')"
check_eq "audited portal-request" 2 \
	"$(grep -c '"action":"portal-request".*"portal_user":"ivy@example.com".*"outcome":"ok"' <(audit_lines))"
check_eq "her page" 200 "$(req i.html -b jar "$URL/")"
check_contains "Ready again" "$(cat i.html)" '<span id="state" class="badge ok">Ready</span>'
check_contains "the history: 2 Ready, then 1 Revoked" "$(cat i.html)" "<tbody><tr><td>2</td><td>Ready</td>"
check_contains "... 1 Revoked" "$(cat i.html)" "<tr><td>1</td><td>Revoked</td>"
check_eq "the new PFX" 200 "$(req ivy2.p12 -b jar "$URL/api/v1/identities/$IVY/pfx")"
check "opens with generation 2's password" sh -c \
	"PW='$(escrowed "$IVY%232")' openssl pkcs12 -in ivy2.p12 -passin env:PW -nokeys -clcerts -out /dev/null"

# --- judy through the API ---
JUDY=judy@example.com
JCODE=$(p11e invite $JUDY)
J=(-H 'Content-Type: application/json')
req s.json -c jjar "${J[@]}" -d "{\"email\":\"$JUDY\",\"code\":\"$JCODE\"}" "$URL/api/v1/session" >/dev/null
JC=$(jq -r .csrf s.json)
check_eq "judy requests one" 201 "$(req n.json -b jjar "${J[@]}" -H "X-CSRF-Token: $JC" -d '{"profile":"soft"}' "$URL/api/v1/identities")"
check_eq "revoke without X-CSRF-Token: 403" 403 "$(req x -b jjar "${J[@]}" -d '{"confirm":"revoke"}' "$URL/api/v1/identities/$JUDY/revoke")"
check_eq "revoke without the confirmation: 400" 400 "$(req x.json -b jjar "${J[@]}" -H "X-CSRF-Token: $JC" -d '{"confirm":"yes"}' "$URL/api/v1/identities/$JUDY/revoke")"
check_contains "says what to send" "$(cat x.json)" 'send {\"confirm\": \"revoke\"}'
check_eq "ivy may not revoke judy's: 403" 403 \
	"$(req x -b jar "${J[@]}" -H "X-CSRF-Token: $C" -d '{"confirm":"revoke"}' "$URL/api/v1/identities/$JUDY/revoke")"
check_eq "judy is not revoked" null "$(record $JUDY | jq -r .revoked_reason)"
check_eq "judy revokes hers" 200 "$(req rv.json -b jjar "${J[@]}" -H "X-CSRF-Token: $JC" -d '{"confirm":"revoke"}' "$URL/api/v1/identities/$JUDY/revoke")"
check_eq "the answer" "1 keyCompromise" "$(jq -r '"\(.generation) \(.reason)"' rv.json)"
check_eq "/me says when" "$(record $JUDY | jq -r .revoked_at)" \
	"$(req me.json -b jjar "$URL/api/v1/me" >/dev/null; jq -r '.identities[0].revoked_at' me.json)"
check_eq "and a new one: 201" 201 "$(req n2.json -b jjar "${J[@]}" -H "X-CSRF-Token: $JC" -d '{"profile":"soft"}' "$URL/api/v1/identities")"
check_eq "generation 2 after a revoked 1" "2 revoked" "$(record $JUDY | jq -r '"\(.generation) \(.history[0].state)"')"
check_eq "a second request now: 409 (she has one)" 409 \
	"$(req x -b jjar "${J[@]}" -H "X-CSRF-Token: $JC" -d '{"profile":"soft"}' "$URL/api/v1/identities")"

# --- uma's address keeps its case (RFC 5321 local parts are case-sensitive):
# invited as Uma.Case@Example.COM, she signs in lower-cased; the record and the
# certificate carry "Uma.Case@example.com", the identity is lower-cased.
UMA=uma.case@example.com
UCODE=$(p11e invite Uma.Case@Example.COM)
req s.json -c ujar "${J[@]}" -d "{\"email\":\"$UMA\",\"code\":\"$UCODE\"}" "$URL/api/v1/session" >/dev/null
UC=$(jq -r .csrf s.json)
check_eq "uma (any case) requests one" 201 "$(req n.json -b ujar "${J[@]}" -H "X-CSRF-Token: $UC" -d '{"profile":"soft"}' "$URL/api/v1/identities")"
check_eq "her record: the identity lower-cased, the address as invited" "$UMA Uma.Case@example.com" \
	"$(record $UMA | jq -r '"\(.identity) \(.email)"')"
check_contains "her certificate's rfc822Name as invited" \
	"$(record $UMA | jq -r .cert_pem | openssl x509 -noout -ext subjectAltName 2>/dev/null)" "email:Uma.Case@example.com"

# --- lena's request has not come back from the CA (the enrollment stopped there) ---
LENA=lena@example.com
P11ENROLL_TEST_CRASH_AFTER=ca-answered p11e enroll --software --profile soft --email $LENA >/dev/null 2>&1
check_eq "lena: stopped before the CA's answer was kept" csr-built "$(record $LENA | jq -r .step)"
LCODE=$(p11e invite $LENA)
req s.json -c ljar "${J[@]}" -d "{\"email\":\"$LENA\",\"code\":\"$LCODE\"}" "$URL/api/v1/session" >/dev/null
check_eq "lena's page" 200 "$(req l.html -b ljar "$URL/")"
check_contains "her request, plainly" "$(cat l.html)" '<span id="state" class="badge wait">Waiting for the certificate authority</span>'
check_contains "and that nothing is to be done" "$(text l.html)" "Nothing to do: come back to this page later."
check_contains "when she asked" "$(text l.html)" "Requested on$(date -u '+%-d %B %Y') (today)"
check_not_contains "nothing to download yet" "$(cat l.html)" 'id="download-'
check_not_contains "nothing to revoke yet" "$(cat l.html)" 'id="revoke"'

# --- ken's key is on a card: revoked by an officer, renewed where the card is ---
KEN=ken@example.com
p11e enroll "$TEST_TOKEN_URI" --email $KEN --profile card --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "ken: enrolled on the token" "done token" "$(record $KEN | jq -r '"\(.step) \(.key_store // "token")"')"
KCODE=$(p11e invite $KEN)
req s.json -c kjar "${J[@]}" -d "{\"email\":\"$KEN\",\"code\":\"$KCODE\"}" "$URL/api/v1/session" >/dev/null
KC=$(jq -r .csrf s.json)
check_eq "ken's page" 200 "$(req k.html -b kjar "$URL/")"
check_not_contains "no revoke button for a card's key" "$(cat k.html)" 'id="revoke"'
check_eq "the confirmation page for a card's key: 409" 409 "$(req kr.html -b kjar "$URL/identities/$KEN/revoke")"
check_contains "as a page that says why" "$(text kr.html)" "Your key is on your card"
check_eq "the API for a card's key: 409" 409 \
	"$(req x -b kjar "${J[@]}" -H "X-CSRF-Token: $KC" -d '{"confirm":"revoke"}' "$URL/api/v1/identities/$KEN/revoke")"
p11e revoke $KEN --reason keyCompromise --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "an officer revoked it" keyCompromise "$(record $KEN | jq -r .revoked_reason)"
check_eq "a new one from the portal: 409 (made where the card is)" 409 \
	"$(req x.json -b kjar "${J[@]}" -H "X-CSRF-Token: $KC" -d '{"profile":"soft-b"}' "$URL/api/v1/identities")"
check_contains "says so" "$(cat x.json)" "your key is on your card"
check_eq "nothing new made" 1 "$(record $KEN | jq -r '.generation // 1')"

check "the audit chain verifies" p11e audit verify
portal_stop
finish
