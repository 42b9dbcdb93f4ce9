# The portal's pages in a real browser: Debian's headless Chromium driven by
# puppeteer-core (tests/browser/portal.js), every page checked by axe-core
# for WCAG 2.1 AA and photographed at desktop (1280 px) and phone (390 px)
# widths (copied to $P11E_SCREENSHOTS when set: docs/ for the README and
# docs/portal.md). Flows: a user with an invitation code signs in, requests,
# downloads, reveals and copies the password, renews, revokes, requests a
# new one, meets an error page and signs out; alice is signed in by her
# client certificate and downloads it; dan, whose key is on a card, sees his
# cards and reports his card lost.
# The npm packages come from tests/browser/package-lock.json through `npm ci`
# into the build tree (browser-test-deps/, reused while the lock is
# unchanged; P11E_BROWSER_DEPS=DIR elsewhere). Without npm or the registry
# the test fails: it never skips.
# Alice's certificate and key are in the NSS database of her browser's HOME
# with a managed AutoSelectCertificateForUrls policy for the portal's URL, so
# that Chromium presents it by itself; the code user's browser has a HOME of
# its own with no certificate. The policy directory is this test's,
# bind-mounted in a private mount namespace over /etc/chromium/policies/
# managed: the machine's is untouched.
if [ -z "${PORTAL_MNTNS:-}" ]; then
	userns=$([ "$(id -u)" -eq 0 ] || echo --map-root-user)
	exec unshare --mount --propagation private $userns env PORTAL_MNTNS=1 bash "$0" "$@"
fi
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/portal.sh"
CHROMIUM=$(command -v chromium || true)
for tool in "$CHROMIUM" pk12util certutil node npm; do
	if [ -z "$tool" ] || ! command -v "$tool" >/dev/null; then
		bad "needs chromium, pk12util, node and npm (scripts/deps.sh --test)"
		finish
	fi
done

# --- the npm packages, from the committed lock ---
DEPS=${P11E_BROWSER_DEPS:-$(dirname "$P11ENROLL")/browser-test-deps}
LOCK_HASH=$(cat "$TESTS_DIR/browser/package.json" "$TESTS_DIR/browser/package-lock.json" | sha256sum | cut -c1-64)
mkdir -p "$DEPS"
(
	flock 9
	if [ "$(cat "$DEPS/stamp" 2>/dev/null)" != "$LOCK_HASH" ]; then
		rm -rf "$DEPS/node_modules" "$DEPS/stamp"
		cp "$TESTS_DIR/browser/package.json" "$TESTS_DIR/browser/package-lock.json" "$DEPS/"
		(cd "$DEPS" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund \
			--cache "$DEPS/npm-cache" >npm.log 2>&1) && echo "$LOCK_HASH" >"$DEPS/stamp"
	fi
) 9>"$DEPS/lock"
if [ "$(cat "$DEPS/stamp" 2>/dev/null)" != "$LOCK_HASH" ]; then
	bad "npm ci of tests/browser/package-lock.json failed: $(tail -5 "$DEPS/npm.log" 2>/dev/null)"
	finish
fi
ok

setup_ca
W=$TEST_TMP/portal
mkdir -p "$W"
cd "$W" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key \
	-out tls.pem -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-addext basicConstraints=critical,CA:TRUE -days 2 2>/dev/null
cat >logo.svg <<'SVG'
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40" width="40" height="40"><rect width="40" height="40" rx="8" fill="#1f3a5f"/><path d="M10 21l7 7 13-15" fill="none" stroke="#fff" stroke-width="4"/></svg>
SVG
file_vault "$W" '"profiles": {
    "mail": { "base": "smime", "key_store": "software", "renew_within_days": 400 },
    "soft-auth": { "base": "client-auth", "key_store": "software" } },
  "portal": { "tls_cert": "tls.pem", "tls_key": "tls.key", "client_cas": "'"$CA_DIR"'/ca.pem",
    "self_service_profiles": ["mail"], "officer_key": "officer.key", "workers": 2,
    "organisation": "Example Ltd", "logo": "logo.svg", "help_contact": "help@example.com" }'
A=alice@example.com
p11e enroll --software --profile soft-auth --email $A --name "Alice Example" >/dev/null 2>&1
check_eq "alice: a client certificate in a PFX" done "$(record $A | jq -r .step)"
escrowed $A >alice.pw

# Alice's browser: her certificate and key, and trust in the portal's TLS CA.
NSSDB=$HOME/.pki/nssdb
mkdir -p "$NSSDB"
certutil -N -d "sql:$NSSDB" --empty-password >/dev/null 2>&1
check "pk12util imports alice's PFX into the browser's NSS database" \
	pk12util -i "$P11ENROLL_STATE_DIR/pfx/$A.p12" -d "sql:$NSSDB" -w alice.pw
certutil -A -d "sql:$NSSDB" -n portal-tls -t "C,," -i tls.pem >/dev/null 2>&1
# dan's key is on a card (the test token), registered and issued: his cards page.
D=dan@example.com
p11e enroll "$TEST_TOKEN_URI" --email $D --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "dan: a key on a card" done "$(record $D | jq -r .step)"
DSERIAL=$(p11e pin status "$TEST_TOKEN_URI" --json | jq -r .serial)
p11e card register "$TEST_TOKEN_URI" --no-personalise >/dev/null 2>&1
p11e card issue "$DSERIAL" >/dev/null 2>&1
check_eq "dan's card registered and issued" issued "$(p11e card show "$DSERIAL" --json | jq -r .state)"

# The code user's browser: the TLS trust only.
CODE_HOME=$TEST_TMP/home-code
mkdir -p "$CODE_HOME/.pki/nssdb"
certutil -N -d "sql:$CODE_HOME/.pki/nssdb" --empty-password >/dev/null 2>&1
certutil -A -d "sql:$CODE_HOME/.pki/nssdb" -n portal-tls -t "C,," -i tls.pem >/dev/null 2>&1

portal_serve

# A private copy of /etc/chromium with the policy, mounted over it.
ETC=$TEST_TMP/etc-chromium
cp -a /etc/chromium "$ETC" 2>/dev/null || mkdir -p "$ETC"
mkdir -p "$ETC/policies/managed"
printf '{"AutoSelectCertificateForUrls": ["{\\"pattern\\":\\"%s\\",\\"filter\\":{}}"]}\n' "$URL" \
	>"$ETC/policies/managed/p11enroll-test.json"
mount --bind "$ETC" /etc/chromium || { bad "cannot mount the policy over /etc/chromium"; finish; }

IVY=ivy@example.com
OUT=$W/browser
mkdir -p "$OUT"
start=$(date +%s)
CODE=$(p11e invite $IVY) CARD_CODE=$(p11e invite $D) CARD_EMAIL=$D CHROMIUM=$CHROMIUM PORTAL_URL=$URL OUT=$OUT CODE_HOME=$CODE_HOME \
	CERT_HOME=$HOME CODE_EMAIL=$IVY CERT_EMAIL=$A NODE_PATH=$DEPS/node_modules \
	timeout 900 node "$TESTS_DIR/browser/portal.js" >browser.log 2>&1
rc=$?
grep -v '^ok: ' browser.log
check_eq "every check in the browser passed ($(grep -c '^ok: ' browser.log) of them; $(($(date +%s) - start)) s)" 0 $rc

# What the browser got, checked outside it.
check "the downloaded file opens with the password the page showed" sh -c \
	"PW=\$(cat '$OUT/code.pw') openssl pkcs12 -in '$OUT/code.p12' -passin env:PW -nokeys -clcerts -out /dev/null"
check_eq "alice's downloaded certificate is hers" \
	"$(record $A | jq -r .cert_pem | openssl x509 -noout -fingerprint -sha256)" \
	"$(openssl x509 -in "$OUT/cert-download.pem" -noout -fingerprint -sha256 2>/dev/null)"
check_eq "ivy's generations: 3, done; 2 revoked (keyCompromise), 1 superseded" \
	"3 done keyCompromise superseded" \
	"$(record $IVY | jq -r '"\(.generation) \(.step) \(.history[1].revoked_reason) \(.history[0].state)"')"
for action in portal-sign-in portal-download-pfx portal-reveal portal-renew portal-revoke portal-request; do
	check "audited: $action by ivy" grep -q "\"action\":\"$action\".*\"portal_user\":\"$IVY\".*\"outcome\":\"ok\"" \
		"$P11ENROLL_STATE_DIR/audit.jsonl"
done
check "audited: alice's certificate download" grep -q \
	"\"action\":\"portal-download-pem\".*\"portal_user\":\"$A\"" "$P11ENROLL_STATE_DIR/audit.jsonl"
check_eq "dan's card reported lost in the browser: lost, by portal:dan, with his note" \
	"lost portal:$D reported lost in the portal: left it on the bus" \
	"$(p11e card show "$DSERIAL" --json | jq -r '"\(.state) \(.history[-1].operator) \(.history[-1].reason)"')"
check_not_contains "no password in the server's log" "$(cat serve.log)" "$(cat "$OUT/code.pw")"
portal_stop
if [ -n "${P11E_SCREENSHOTS:-}" ]; then
	cp "$OUT"/portal-*.png "$P11E_SCREENSHOTS/"
fi
finish
