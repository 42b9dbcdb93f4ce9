# The portal's pages in a real browser: Debian's headless Chromium with alice's
# client certificate (imported from her PFX) in the NSS database
# $HOME/.pki/nssdb and a managed AutoSelectCertificateForUrls policy for the
# portal's URL, so that it signs in by itself. It loads the home page and
# follows "Download certificate", then clicks "Show me my password" on the home
# page (over the DevTools protocol: tests/lib/chromium_click.js), and posts the
# same form's fields from a local page, which Chromium sends as cross-site
# (Origin: null, Sec-Fetch-Site: cross-site) and the portal refuses, CSRF token
# or not (docs/portal.md, CSRF);
# the test reads each resulting DOM (--dump-dom) and saves a screenshot of
# each page (copied to $P11E_SCREENSHOTS when set: docs/ for the README).
# Without a certificate Chromium waits at the selection (also with the policy),
# so the sign-in page is left to portal.sh (curl).
# The policy directory is this test's, bind-mounted in a private mount
# namespace over /etc/chromium/policies/managed: the machine's is untouched.
if [ -z "${PORTAL_MNTNS:-}" ]; then
	userns=$([ "$(id -u)" -eq 0 ] || echo --map-root-user)
	exec unshare --mount --propagation private $userns env PORTAL_MNTNS=1 bash "$0" "$@"
fi
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ] || ! command -v pk12util >/dev/null || ! command -v node >/dev/null; then
	bad "needs chromium, pk12util and node (scripts/deps.sh --test)"
	finish
fi
setup_ca
W=$TEST_TMP/portal
mkdir -p "$W"
cd "$W" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key \
	-out tls.pem -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-addext basicConstraints=critical,CA:TRUE -days 2 2>/dev/null
file_vault "$W" '"profiles": { "soft-auth": { "base": "client-auth", "key_store": "software" } },
  "portal": { "tls_cert": "tls.pem", "tls_key": "tls.key", "client_cas": "'"$CA_DIR"'/ca.pem",
    "officer_key": "officer.key", "workers": 2 }'
A=alice@example.com
p11e enroll --software --profile soft-auth --email $A --name "Alice Example" >/dev/null 2>&1
check_eq "alice: a client certificate in a PFX" done "$(record $A | jq -r .step)"
escrowed $A >alice.pw

# Alice's browser profile: her certificate and key, and trust in the portal's TLS CA.
NSSDB=$HOME/.pki/nssdb
mkdir -p "$NSSDB"
certutil -N -d "sql:$NSSDB" --empty-password >/dev/null 2>&1
check "pk12util imports alice's PFX into the browser's NSS database" \
	pk12util -i "$P11ENROLL_STATE_DIR/pfx/$A.p12" -d "sql:$NSSDB" -w alice.pw
certutil -A -d "sql:$NSSDB" -n portal-tls -t "C,," -i tls.pem >/dev/null 2>&1

portal_serve

# A private copy of /etc/chromium with the policy, mounted over it.
ETC=$TEST_TMP/etc-chromium
cp -a /etc/chromium "$ETC" 2>/dev/null || mkdir -p "$ETC"
mkdir -p "$ETC/policies/managed"
printf '{"AutoSelectCertificateForUrls": ["{\\"pattern\\":\\"%s\\",\\"filter\\":{}}"]}\n' "$URL" \
	>"$ETC/policies/managed/p11enroll-test.json"
mount --bind "$ETC" /etc/chromium || { bad "cannot mount the policy over /etc/chromium"; finish; }

# browse OUT URL [flags]: the DOM after load into OUT.dom, a screenshot OUT.png.
browse() {
	local out=$1 url=$2
	shift 2
	timeout 180 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$TEST_TMP/chromium-profile" --window-size=900,600 \
		--virtual-time-budget=5000 "$@" --dump-dom "$url" >"$out.dom" 2>>chromium.err
	timeout 180 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$TEST_TMP/chromium-profile" --window-size=900,600 \
		--virtual-time-budget=5000 "$@" --screenshot="$W/$out.png" "$url" >/dev/null 2>>chromium.err
}
browse home "$URL/"
check_contains "home page: signed in by the card's certificate" "$(cat home.dom)" "Signed in as <strong>$A</strong>"
check_contains "home page: Download certificate" "$(cat home.dom)" 'id="download-certificate"'
check_contains "home page: Show me my password" "$(cat home.dom)" 'id="show-password"'
check "home page: a screenshot" test -s home.png

# "Download certificate": its link, followed (a PEM is shown as text).
href=$(sed -n 's/.*id="download-certificate" href="\([^"]*\)".*/\1/p' home.dom | sed 's/&amp;/\&/g')
check_contains "the link is alice's certificate" "$href" "/api/v1/identities/$A/certificate"
# A download never finishes a page load: Chromium saves the file, then waits on
# until something ends it (measured: always the timeout, the file saved). So
# it runs in the background and is stopped once the file is whole (no
# .crdownload beside it), or after 90 s.
timeout 90 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --no-first-run \
	--user-data-dir="$TEST_TMP/chromium-profile" --window-size=900,600 \
	--virtual-time-budget=5000 --dump-dom "$URL$href" >cert.dom 2>>chromium.err &
chromium_pid=$!
got=""
for _ in $(seq 900); do
	got=$(find "$HOME" "$W" -name 'certificate*.pem' 2>/dev/null | head -1)
	[ -n "$got" ] && [ -z "$(find "$HOME" "$W" -name '*.crdownload' 2>/dev/null)" ] && break
	kill -0 $chromium_pid 2>/dev/null || break
	sleep 0.1
done
kill $chromium_pid 2>/dev/null
wait $chromium_pid 2>/dev/null
check "Chromium saved the certificate ($(ls "$HOME"/Downloads 2>&1))" test -n "$got"
check_eq "the downloaded certificate is alice's" \
	"$(record $A | jq -r .cert_pem | openssl x509 -noout -fingerprint -sha256)" \
	"$(openssl x509 -in "${got:-/dev/null}" -noout -fingerprint -sha256 2>/dev/null)"
grep -q '"action":"portal-download-pem".*"portal_user":"alice@example.com"' \
	"$P11ENROLL_STATE_DIR/audit.jsonl"
check_eq "the download is audited" 0 $?

# "Show me my password", clicked on the portal's own page: a same-origin POST.
CHROMIUM_FLAGS=(--headless=new --no-sandbox --disable-gpu --no-first-run
	--user-data-dir="$TEST_TMP/chromium-profile" --window-size=900,600)
node "$TESTS_DIR/lib/chromium_click.js" "$CHROMIUM" "$URL/" '#show-password' password \
	"${CHROMIUM_FLAGS[@]}" 2>>chromium.err
check_contains "the password page shows alice's escrowed password" "$(cat password.dom 2>/dev/null)" "$(cat alice.pw)"
check "password page: a screenshot" test -s password.png
check_eq "Chromium sent it as same-origin ($(cat password.headers 2>/dev/null))" same-origin \
	"$(jq -r '."sec-fetch-site" // ."Sec-Fetch-Site"' password.headers 2>/dev/null)"
# The same form's fields (its action and CSRF token), posted from another origin (a
# local file) by the browser: refused as cross-site.
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' home.dom | head -1)
action=$(sed -n 's/.*<form method="post" action="\([^"]*\)".*/\1/p' home.dom | head -1)
cat >post.html <<HTML
<!DOCTYPE html><html><body><form method="post" action="$URL$action">
<input type="hidden" name="csrf" value="$csrf"></form>
<script>document.forms[0].submit()</script></body></html>
HTML
browse crosssite "file://$W/post.html"
check_contains "a cross-site post of the form is refused" "$(cat crosssite.dom)" \
	"cross-site request refused (Origin: null, Sec-Fetch-Site: cross-site)"
check_not_contains "no password in it" "$(cat crosssite.dom)" "$(cat alice.pw)"
check_eq "and only the same-origin reveal audited" 1 \
	"$(grep -c '"action":"portal-reveal"' "$P11ENROLL_STATE_DIR/audit.jsonl")"
kill -TERM $SERVE_PID
wait $SERVE_PID
check_eq "SIGTERM: exit 0" 0 $?
trap - EXIT
if [ -n "${P11E_SCREENSHOTS:-}" ]; then
	for p in home password; do cp "$p.png" "$P11E_SCREENSHOTS/portal-$p.png"; done
fi
finish
