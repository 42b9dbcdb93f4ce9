# The cyberark vault through the CLI, over HTTPS to tests/stubs/cyberark_stub.py
# (a stub of CyberArk's documented PVWA REST API; no CyberArk server can run
# here): `enroll --software` escrows the PFX password as an account of the
# safe with the P11eIdentity and CertCreated properties, the certificate's
# CertExpires and CertSHA256 added after issuance, `escrow show` retrieves it
# with the reason, `escrow list --json` shows the dates; an expired session is
# renewed once; `escrow show` through the Central Credential Provider (AppID and
# client certificate, no PVWA logon; refused AppID, untrusted certificate, no
# such object); 403, 5xx, bad logon and hostile answers are one clean line
# with documented exit codes; a lost or slow Add answer never makes a second
# account; an account someone else made first is never overwritten (exit 9);
# a safe the user is not a member of (CyberArk's 400 "Safe [X] was not found",
# its reason in the answer's Details) and a safe name with '&' are exit 8;
# the logon password and token appear in no output.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/w
mkdir -p "$W"
LOG=$W/p11enroll.log
: >"$LOG"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tls-ca.key" \
	-out "$W/pvwa-ca.pem" -days 2 -subj "/CN=Stub PVWA CA" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tls.key" \
	-out "$W/tls.csr" -subj "/CN=127.0.0.1" 2>/dev/null
openssl x509 -req -in "$W/tls.csr" -CA "$W/pvwa-ca.pem" -CAkey "$W/tls-ca.key" -CAcreateserial \
	-days 2 -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') -out "$W/tls.pem" 2>/dev/null

# The Central Credential Provider's client certificates: one from the CA the
# provider trusts, one from another.
for who in ccp other; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$who-ca.key" \
		-out "$W/$who-ca.pem" -days 2 -subj "/CN=$who client CA" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$who-client.key" \
		-out "$W/$who-client.csr" -subj "/CN=p11enroll app" 2>/dev/null
	openssl x509 -req -in "$W/$who-client.csr" -CA "$W/$who-ca.pem" -CAkey "$W/$who-ca.key" \
		-CAcreateserial -days 2 -out "$W/$who-client.pem" 2>/dev/null
	chmod 600 "$W/$who-client.key"
done

LOGON_PW='Pvwa-Logon-7f3a!x'
printf '%s\n' "$LOGON_PW" >"$W/pvwa-password"
chmod 600 "$W/pvwa-password"
python3 "$TESTS_DIR/stubs/cyberark_stub.py" --port-file "$W/port" --user svc-p11e \
	--password-file "$W/pvwa-password" --safe PKI-Escrow \
	--tls-cert "$W/tls.pem" --tls-key "$W/tls.key" \
	--ccp-app-id P11enroll --ccp-client-ca "$W/ccp-ca.pem" &
STUB=$!
trap 'kill $STUB 2>/dev/null' EXIT
for _ in $(seq 600); do [ -s "$W/port" ] || ! kill -0 $STUB 2>/dev/null && break; sleep 0.1; done
[ -s "$W/port" ] || { echo "FAIL: the stub did not start" >&2; exit 1; }
URL=https://127.0.0.1:$(cat "$W/port")
stub() { curl -sf --cacert "$W/pvwa-ca.pem" "$@"; }
mode() { stub -X POST -d "{\"mode\":\"$1\"}" "$URL/_stub/mode" >/dev/null; }
accounts() { stub "$URL/_stub/accounts"; }

conf() { # conf EXTRA-JSON
	cat >"$W/config.json" <<JSON
{ "default_ca": "local:$CA_DIR",

  "vault": { "type": "cyberark", "url": "$URL", "auth": "CyberArk", "username": "svc-p11e",
             "password_source": "file:pvwa-password", "safe": "PKI-Escrow",
             "platform_id": "P11EnrollPFX", "ca_bundle": "pvwa-ca.pem",
             "timeout": 4, "retries": 1 $1 } }
JSON
}
conf ''
export P11ENROLL_CONFIG=$W/config.json

# --- escrow at enrollment; dates beside it ---
A=alice@example.com
p11e_logged enroll --software --email "$A"
check_eq "enroll --software with the cyberark vault: exit 0 ($OUT)" 0 $?
check_eq "one account" 1 "$(accounts | jq length)"
check_eq "its name is the identity" "$A" "$(accounts | jq -r '.[0].name')"
check_eq "secretType password" password "$(accounts | jq -r '.[0].secretType')"
check_eq "CPM management off" false "$(accounts | jq -r '.[0].secretManagement.automaticManagementEnabled')"
props=$(accounts | jq -c '.[0].platformAccountProperties')
check_eq "P11eIdentity" "$A" "$(jq -r .P11eIdentity <<<"$props")"
check "CertCreated is an ISO time" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' <<<"$(jq -r .CertCreated <<<"$props")"
PFX=$(store_pfx_file "$(record $A | jq -r .pfx_path)")
want_na=$(date -u -d "$(openssl pkcs12 -in "$PFX" -nokeys -passin "pass:$(p11e escrow show $A)" 2>/dev/null |
	openssl x509 -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
check_eq "CertExpires is the certificate's notAfter" "$want_na" "$(jq -r .CertExpires <<<"$props")"
want_sha=$(openssl pkcs12 -in "$PFX" -nokeys -passin "pass:$(p11e escrow show $A)" 2>/dev/null |
	openssl x509 -outform DER | sha256sum | cut -d' ' -f1)
check_eq "CertSHA256 is the certificate's" "$want_sha" "$(jq -r .CertSHA256 <<<"$props")"

PW=$(p11e escrow show $A)
check_eq "escrow show: exit 0" 0 $?
check "the PFX opens with the retrieved password" openssl pkcs12 -in "$PFX" -noout -passin "pass:$PW"
check_contains "Retrieve was asked with a reason" "$(stub "$URL/_stub/log" | jq -r '.[].path')" \
	"/Password/Retrieve"
lj=$(p11e escrow list --json)
check_eq "escrow list --json: identity" "$A" "$(jq -r '.[0].identity' <<<"$lj")"
check_eq "escrow list --json: not_after" "$want_na" "$(jq -r '.[0].not_after' <<<"$lj")"
check_eq "escrow list --json: cert_sha256" "$want_sha" "$(jq -r '.[0].cert_sha256' <<<"$lj")"
check_eq "escrow list --json: created" "$(jq -r .CertCreated <<<"$props")" "$(jq -r '.[0].created' <<<"$lj")"
check_eq "escrow list (text)" "$A" "$(p11e escrow list)"

# --- reading through the Central Credential Provider: AppID and client
# certificate, no PVWA logon (the vault user's password is not even there) ---
ccp_conf() { # ccp_conf APP CERT-NAME
	conf ", \"ccp_app_id\": \"$1\", \"ccp_cert_file\": \"$2-client.pem\", \"ccp_key_file\": \"$2-client.key\""
	sed -i 's/file:pvwa-password/file:no-such-password-file/' "$W/config.json"
}
ccp_conf P11enroll ccp
n_before=$(stub "$URL/_stub/log" | jq length)
OUT=$(p11e escrow show $A 2>&1) # the password itself: kept out of $LOG
check_eq "CCP: escrow show exit 0" 0 $?
check_eq "CCP: the same password" "$PW" "$OUT"
ccp_log=$(stub "$URL/_stub/log" | jq -c ".[$n_before:]")
check_eq "CCP: one GetPassword request" 1 "$(jq '[.[] | select(.path == "/AIMWebService/api/Accounts")] | length' <<<"$ccp_log")"
check_eq "CCP: no PVWA request at all (no logon)" 0 "$(jq '[.[] | select(.path | test("PasswordVault"))] | length' <<<"$ccp_log")"
check_contains "CCP: AppID, safe, object and reason asked for" "$(jq -r '.[0].query' <<<"$ccp_log")" \
	"AppID=P11enroll&Safe=PKI-Escrow&Folder=Root&Object=alice@example.com&Reason=p11enroll%20escrow"
p11e_logged escrow show nobody@example.com
check_eq "CCP: no such object: exit 10 ($OUT)" 10 $?
check_contains "CCP: not found names the provider's reason" "$OUT" "APPAP004E"
ccp_conf Someone-Else ccp
p11e_logged escrow show $A
check_eq "CCP: AppID refused: exit 8 ($OUT)" 8 $?
check_contains "CCP: says what to check" "$OUT" "ccp_app_id"
check_eq "CCP refused: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
ccp_conf P11enroll other
# The refusal surfaces as the timing falls (a TLS alert read, a reset, a send
# into a closed socket, getpeername's errno 107): each try must name the files.
for try in 1 2 3 4 5; do
	p11e_logged escrow show $A
	check_eq "CCP: a certificate the provider does not trust: exit 1 (try $try: $OUT)" 1 $?
	check_contains "CCP: untrusted certificate: names the files (try $try)" "$OUT" \
		"\"ccp_cert_file\" $W/other-client.pem"
	check_contains "CCP: untrusted certificate: says why (try $try)" "$OUT" \
		"does not accept the client certificate"
done
conf ', "ccp_app_id": "P11enroll"'
p11e_logged escrow show $A
check_eq "CCP without a client certificate: refused at config, exit 8" 8 $?
conf ', "ccp_cert_file": "ccp-client.pem"'
p11e_logged escrow show $A
check_eq "ccp_cert_file without ccp_app_id: exit 8" 8 $?
conf ''

# --- an expired session is renewed once ---
mode expire-session
check_eq "after the session expired: show still works" "$PW" "$(p11e escrow show $A)"
n_logon=$(stub "$URL/_stub/log" | jq '[.[] | select(.path | test("Logon$"))] | length')

# --- a lost Add answer: searched before any retry, never a second account ---
B=bob@example.com
mode lose-next-add
p11e_logged enroll --software --email "$B"
check_eq "lost Add answer: enroll still succeeds ($OUT)" 0 $?
check_eq "lost Add answer: one account for bob" 1 "$(accounts | jq "[.[] | select(.name == \"$B\")] | length")"
C=carol@example.com
mode slow-next-add
p11e_logged enroll --software --email "$C"
check_eq "Add answer too slow (timeout): enroll still succeeds ($OUT)" 0 $?
check_eq "timeout: one account for carol" 1 "$(accounts | jq "[.[] | select(.name == \"$C\")] | length")"
PWC=$(p11e escrow show $C)
check "carol's PFX opens with the escrowed password" openssl pkcs12 -in "$(store_pfx_file "$(record $C | jq -r .pfx_path)")" -noout -passin "pass:$PWC"

# --- a crash right after the dates were set: the rerun sets them again, once ---
if [ -n "${TEST_HOOKS:-}" ]; then
	D=dave@example.com
	P11ENROLL_TEST_CRASH_AFTER=escrow-meta p11e enroll --software --email "$D" >/dev/null 2>&1
	check_eq "crash after escrow-meta: exit 86" 86 $?
	p11e_logged enroll --software --email "$D"
	check_eq "rerun after escrow-meta: exit 0 ($OUT)" 0 $?
	check_eq "rerun: done" done "$(record $D | jq -r .step)"
	check_eq "rerun: one account for dave" 1 "$(accounts | jq "[.[] | select(.name == \"$D\")] | length")"
	check "rerun: CertExpires set" grep -qE '^20[0-9]{2}-' <<<"$(accounts | jq -r ".[] | select(.name == \"$D\") | .platformAccountProperties.CertExpires")"
fi

# --- a long identity: hashed account name, the identity kept as a property ---
L="lee@$(printf 'a%.0s' $(seq 63)).$(printf 'b%.0s' $(seq 63)).example.com" # 143 characters
p11e_logged enroll --software --email "$L"
rc=$?
if [ $rc -eq 0 ]; then
	check_eq "long identity: SHA256 account name" \
		"SHA256-$(printf '%s' "$L" | sha256sum | cut -d' ' -f1)" \
		"$(accounts | jq -r ".[] | select(.platformAccountProperties.P11eIdentity == \"$L\") | .name")"
	check "long identity: listed by identity" grep -qx "$L" <<<"$(p11e escrow list)"
else
	# an address longer than RFC 5321 allows is refused before the vault
	check_eq "long identity refused as usage (exit 2: $OUT)" 2 $rc
fi

# --- pages: a PVWA that caps them below the limit asked for (its
# MaxDisplayedRecords): every page is read, by the list and by the search for
# one name, which also matches names that contain it (bob@ finds ob@) ---
stub -X POST -d '{"records": 1}' "$URL/_stub/max-records" >/dev/null
O=ob@example.com
p11e_logged enroll --software --email "$O"
check_eq "pages of one: enroll ob (search also finds bob) ($OUT)" 0 $?
check_eq "pages of one: one account for ob" 1 "$(accounts | jq "[.[] | select(.name == \"$O\")] | length")"
PWO=$(p11e escrow show "$O")
check_eq "pages of one: ob's password found on the second page" 0 $?
check "pages of one: ob's PFX opens with it" openssl pkcs12 -in "$(store_pfx_file "$(record $O | jq -r .pfx_path)")" -noout -passin "pass:$PWO"
check_eq "pages of one: escrow list has every account" "$(accounts | jq length)" "$(p11e escrow list | wc -l)"
stub -X POST -d '{"records": 1000}' "$URL/_stub/max-records" >/dev/null

# --- the Logon methods as CyberArk's Logon page spells them, in any case ---
logons() { stub "$URL/_stub/log" | jq -r '[.[] | select(.path | test("Logon$")) | .path] | last'; }
for m in cyberark Cyberark LDAP radius RADIUS; do
	conf ''
	sed -i "s/\"auth\": \"CyberArk\"/\"auth\": \"$m\"/" "$W/config.json"
	p11e_logged escrow list
	check_eq "auth $m: exit 0 ($OUT)" 0 $?
done
check_eq "auth radius: the documented path" /PasswordVault/API/auth/RADIUS/Logon "$(logons)"
conf ''
sed -i 's/"auth": "CyberArk"/"auth": "cyberark"/' "$W/config.json"
p11e_logged escrow list
check_eq "auth cyberark: the documented path" /PasswordVault/API/auth/Cyberark/Logon "$(logons)"
for m in Windows windows; do
	conf ''
	sed -i "s/\"auth\": \"CyberArk\"/\"auth\": \"$m\"/" "$W/config.json"
	p11e_logged escrow list
	check_eq "auth $m: refused at config, exit 8 ($OUT)" 8 $?
	check_contains "auth $m: says it is not supported and what to use" "$OUT" "not supported; log on with \"LDAP\""
	check_eq "auth $m: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
done
conf ''
sed -i 's/"auth": "CyberArk"/"auth": "Kerberos"/' "$W/config.json"
p11e_logged escrow list
check_eq "auth Kerberos: exit 8" 8 $?
check_contains "auth Kerberos: names the methods" "$OUT" "\"RADIUS\" (any case)"
conf ''

# --- the platform as a PVWA enforces it: the stub's platform defines only the
# properties docs/config.md tells the admin to add, and requires the
# account's address and user name (its default) ---
check_eq "the account has the default address" p11enroll "$(accounts | jq -r ".[] | select(.name == \"$A\") | .address")"
conf ', "address": "escrow.example.org"'
p11e_logged enroll --software --email hal@example.com
check_eq "address from the config: exit 0 ($OUT)" 0 $?
check_eq "address from the config: on the account" escrow.example.org \
	"$(accounts | jq -r '.[] | select(.name == "hal@example.com") | .address')"
conf ', "address": ""'
p11e_logged escrow list
check_eq "an empty address: exit 8" 8 $?
conf ''
platform() { stub -X POST -d "$1" "$URL/_stub/platform" >/dev/null; }
# A platform without CertSHA256: the Add goes through, the property after
# issuance is refused: exit 8 with CyberArk's reason; defined, a rerun ends it.
platform '{"required":["address","userName"],"optional":["P11eIdentity","CertCreated","CertExpires"]}'
p11e_logged enroll --software --email ivy@example.com
check_eq "a property the platform does not define: exit 8 ($OUT)" 8 $?
check_contains "undefined property: CyberArk's reason" "$OUT" "Property [CertSHA256] is not defined for platform [P11EnrollPFX]"
check_contains "undefined property: says what to check" "$OUT" "platform_id"
check_eq "undefined property: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
platform '{"required":["address","userName"],"optional":["P11eIdentity","CertCreated","CertExpires","CertSHA256"]}'
p11e_logged enroll --software --email ivy@example.com
check_eq "platform fixed: the rerun finishes ($OUT)" 0 $?
check_eq "platform fixed: one account for ivy" 1 "$(accounts | jq '[.[] | select(.name == "ivy@example.com")] | length')"
check "platform fixed: CertSHA256 set" grep -qE '^[0-9a-f]{64}$' <<<"$(accounts | jq -r '.[] | select(.name == "ivy@example.com") | .platformAccountProperties.CertSHA256')"
# A platform that requires a property p11enroll does not send: the Add is refused.
platform '{"required":["address","userName","Location"],"optional":["P11eIdentity","CertCreated","CertExpires","CertSHA256"]}'
p11e_logged enroll --software --email jay@example.com
check_eq "a required property missing: exit 8 ($OUT)" 8 $?
check_contains "required property missing: CyberArk's reason" "$OUT" "Mandatory property [Location]"
check_eq "required property missing: no account" 0 "$(accounts | jq '[.[] | select(.name == "jay@example.com")] | length')"
platform '{"required":["address","userName"],"optional":["P11eIdentity","CertCreated","CertExpires","CertSHA256"]}'

# --- errors: one line, documented exit codes ---
mode 403
p11e_logged escrow show $A
check_eq "403: exit 8" 8 $?
check_contains "403 names the safe and membership" "$OUT" "member of the safe"
check_eq "403: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
mode 500
p11e_logged escrow show $A
check_eq "500: exit 1" 1 $?
check_contains "500 says try again" "$OUT" "try again"
mode hostile
p11e_logged escrow list --json
check_eq "hostile list (wrong types skipped): exit 0" 0 $?
mode hostile-403
p11e_logged escrow show $A
check_eq "hostile 403: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
check_not_contains "hostile 403: no escape character" "$OUT" $'\x1b'
mode normal
# An Add that finds the name taken by someone else (409): searched, never
# overwritten, exit 9.
mode dup-race
p11e_logged enroll --software --email frank@example.com
check_eq "duplicate made by someone else: exit 9 ($OUT)" 9 $?
check_contains "duplicate: says it is never overwritten" "$OUT" "never overwritten"
check_eq "duplicate: one account for frank" 1 "$(accounts | jq '[.[] | select(.name == "frank@example.com")] | length')"
mode normal
# A safe the user is not a member of: CyberArk calls it "not found" (400
# PASWS167E, the reason in its Details): exit 8, the reason shown, no account.
conf ''
sed -i 's/"safe": "PKI-Escrow"/"safe": "Other-Safe"/' "$W/config.json"
p11e_logged enroll --software --email gina@example.com
check_eq "not a member of the safe: exit 8 ($OUT)" 8 $?
check_contains "not a member: CyberArk's reason from Details" "$OUT" "PASWS031E: Safe [Other-Safe] was not found"
check_contains "not a member: says what to do" "$OUT" "members must include 'svc-p11e'"
check_eq "not a member: one line" 1 "$(printf '%s\n' "$OUT" | wc -l)"
check_eq "not a member: no account" 0 "$(accounts | jq '[.[] | select(.name == "gina@example.com")] | length')"
# URL values cannot hold + & % (the REST API documentation): refused at once.
conf ''
sed -i 's/"safe": "PKI-Escrow"/"safe": "PKI\&Escrow"/' "$W/config.json"
p11e_logged escrow list
check_eq "safe name with '&': exit 8" 8 $?
check_contains "safe name with '&': says why" "$OUT" "cannot hold '+', '&' or '%'"
conf ''
p11e_logged escrow show nobody@example.com
check_eq "no such account: exit 10" 10 $?
printf 'wrong\n' >"$W/wrong-pw"; chmod 600 "$W/wrong-pw"
conf ''
sed -i 's/file:pvwa-password/file:wrong-pw/' "$W/config.json"
p11e_logged escrow list
check_eq "logon refused: exit 8" 8 $?
check_contains "logon refused names the user and password_source" "$OUT" "password_source"
conf ''
sed -i 's/"safe": "PKI-Escrow"/"safe": "PKI-Escrow", "colour": "red"/' "$W/config.json"
p11e_logged escrow list
check_eq "unknown vault key: exit 8" 8 $?
conf ''
kill $STUB; wait $STUB 2>/dev/null
p11e_logged escrow show $A
check_eq "nobody listening: exit 1" 1 $?
check_contains "says unreachable" "$OUT" "unreachable"

# --- no secret in any output ---
check_eq "logon password in no output" 0 "$(grep -cF "$LOGON_PW" "$LOG")"
for p in "$PW" "$PWC" "$PWO"; do check_eq "a PFX password in no logged output" 0 "$(grep -cF "$p" "$LOG")"; done
finish
