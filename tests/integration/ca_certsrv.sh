# The certsrv backend (Microsoft AD CS web enrollment) against a stub of
# certsrv's pages (tests/stubs/certsrv_stub.py: no AD CS exists outside
# Windows; what the stub cannot prove is in its header and in
# docs/config.md, certsrv): issued at once, pending until `p11enroll poll`,
# denied, refused credentials, a lost answer never followed by a second
# request, a crash after the answer, the CA down, hostile answers; and the
# password never in output, records or the stub's log.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/stubs/certsrv.sh"
cs_start || { bad "the certsrv stub did not start"; finish; }
OUT=$TEST_TMP/outputs # everything p11enroll printed, for the password grep
: >"$OUT"
run() { # run CMD...: p11enroll's exit code in $rc, its output in $out (and in $OUT)
	out=$(p11e "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" >>"$OUT"
}
enroll() { # enroll EMAIL [CA] [OPTIONS]
	local email=$1 ca=${2:-adcs}
	shift $(($# >= 2 ? 2 : 1))
	run enroll "$TEST_TOKEN_URI" --email "$email" --ca "$ca" --pin-source "$PIN_SRC" "$@"
}
reqkey() { record "$1" | jq -r .request_key; }
openssl rand -hex 16 >"$TEST_TMP/wrong.pw"
cat >"$TEST_TMP/p11enroll.json" <<JSON
{ "cas": {
    "adcs":       { "type": "certsrv", "url": "$(cs_url)", "template": "User", "auth": "basic",
                    "username": "$(printf '%s' "$CS_USER" | sed 's/\\/\\\\/g')",
                    "password_source": "file:$CS/password", "ca_bundle": "$CS/root.pem",
                    "poll_interval": 120, "timeout": 20 },
    "adcs-wrong": { "type": "certsrv", "url": "$(cs_url)", "template": "User", "auth": "basic",
                    "username": "someone", "password_source": "file:$TEST_TMP/wrong.pw",
                    "ca_bundle": "$CS/root.pem", "retries": 0 },
    "adcs-tpl":   { "type": "certsrv", "url": "$(cs_url)", "template": "NoSuchTemplate",
                    "auth": "basic", "username": "$(printf '%s' "$CS_USER" | sed 's/\\/\\\\/g')",
                    "password_source": "file:$CS/password", "ca_bundle": "$CS/root.pem" },
    "adcs-ntlm":  { "type": "certsrv", "url": "$(cs_url)", "template": "User", "auth": "ntlm",
                    "username": "$(printf '%s' "$CS_USER" | sed 's/\\/\\\\/g')",
                    "password_source": "file:$CS/password", "ca_bundle": "$CS/root.pem" },
    "adcs-ntlm-wrong": { "type": "certsrv", "url": "$(cs_url)", "template": "User", "auth": "ntlm",
                    "username": "$(printf '%s' "$CS_USER" | sed 's/\\/\\\\/g')",
                    "password_source": "file:$TEST_TMP/wrong.pw", "ca_bundle": "$CS/root.pem" },
    "adcs-slow":  { "type": "certsrv", "url": "$(cs_url)", "template": "User", "auth": "basic",
                    "username": "$(printf '%s' "$CS_USER" | sed 's/\\/\\\\/g')",
                    "password_source": "file:$CS/password", "ca_bundle": "$CS/root.pem",
                    "timeout": 3, "retries": 0 },
    "adcs-resend": { "type": "certsrv", "url": "$(cs_url)", "template": "User", "auth": "basic",
                    "username": "$(printf '%s' "$CS_USER" | sed 's/\\/\\\\/g')",
                    "password_source": "file:$CS/password", "ca_bundle": "$CS/root.pem",
                    "resend_unanswered": true },
    "adcs-notls": { "type": "certsrv", "url": "$(cs_url)", "template": "User", "auth": "basic",
                    "username": "u", "password_source": "file:$CS/password" } } }
JSON
export P11ENROLL_CONFIG=$TEST_TMP/p11enroll.json

enrolled_ok() { # enrolled_ok EMAIL WHAT: one key, one certificate, verifies, one request
	local email=$1 what=$2 id
	id=$(key_id "$email")
	check_eq "$what: record done" done "$(record "$email" | jq -r .step)"
	check_eq "$what: one private key" 1 "$(count_objects privkey "$id")"
	check_eq "$what: one certificate under the key's ID" 1 "$(count_objects cert "$id")"
	if token_cert "$id" "$TEST_TMP/$email.pem"; then
		ok
		check "$what: openssl verify (stub root, issuing CA)" \
			openssl verify -CAfile "$CS/root.pem" -untrusted "$CS/issuing.pem" "$TEST_TMP/$email.pem"
		check_contains "$what: rfc822Name SAN from the CSR" \
			"$(openssl x509 -in "$TEST_TMP/$email.pem" -noout -ext subjectAltName)" "email:$email"
	else
		bad "$what: no certificate readable under $id"
	fi
	check_eq "$what: exactly one request at the CA for this CSR" 1 "$(cs_requests "$(reqkey "$email")")"
	check_eq "$what: the request id is the CA's" \
		"$(jq -r --arg k "$(reqkey "$email")" '.requests | to_entries[] | select(.value.attributes["p11enroll-request"] == $k) | .key' "$CS/requests.json")" \
		"$(record "$email" | jq -r .request_id)"
}

# Issued at once: the template and our request key travel as attributes.
enroll alice@example.com
check_eq "issued at once: enroll ($out)" 0 "$rc"
enrolled_ok alice@example.com "issued at once"
check_eq "the request named the template" User "$(jq -r '.requests["17"].template' "$CS/requests.json")"
check_eq "the issuing CA stored on the token" 1 \
	"$(p11tool_opensc --list-objects --type cert | grep -c 'label: *certsrv Stub Issuing CA')"

# Pending: enroll stops at submitted (exit 7); poll finishes it.
cs_mode '{"pending_polls": 1}'
enroll carol@example.com
check_eq "pending: enroll exits 7 ($out)" 7 "$rc"
check_eq "pending: record at submitted" submitted "$(record carol@example.com | jq -r .step)"
check_eq "pending: no certificate yet" 0 "$(count_objects cert "$(key_id carol@example.com)")"
enroll carol@example.com
check_eq "enroll again while pending: exit 7 ($out)" 7 "$rc"
cs_mode '{}'
run poll --pin-source "$PIN_SRC"
check_eq "poll once issued: exit 0 ($out)" 0 "$rc"
enrolled_ok carol@example.com "pending, then poll"

# Denied, with the CA's words; a template the CA does not offer.
cs_mode '{"deny": "Denied by Policy Module  0x80094012, The permissions on the certificate template do not allow the current user to enroll"}'
enroll dave@example.com
check_eq "denied: exit 6" 6 "$rc"
check_contains "denied: the CA's words" "$out" "do not allow the current user to enroll"
check_eq "denied: no certificate" 0 "$(count_objects cert "$(key_id dave@example.com)")"
cs_mode '{}'
enroll tpl@example.com adcs-tpl
check_eq "unknown template: exit 6" 6 "$rc"
check_contains "unknown template: the CA's words" "$out" "NoSuchTemplate"

# Refused credentials: exit 8 saying what to check; nothing taken, so the
# same CSR goes out with the right password.
enroll erin@example.com adcs-wrong
check_eq "wrong password: exit 8 ($out)" 8 "$rc"
check_contains "wrong password: says what to check" "$out" "password_source"
k=$(reqkey erin@example.com)
check_eq "wrong password: no request at the CA" 0 "$(cs_requests "$k")"
enroll erin@example.com
check_eq "right password then: exit 0 ($out)" 0 "$rc"
enrolled_ok erin@example.com "after refused credentials"

# A lost answer: the CA took the request and the connection dropped. The
# rerun sends nothing and says how to find the request in the CA.
cs_mode '{"drop_after_accept": true}'
enroll frank@example.com
check "lost answer: enroll fails" test "$rc" -ne 0
k=$(reqkey frank@example.com)
check_eq "lost answer: the CA holds the request" 1 "$(cs_requests "$k")"
cs_mode '{}'
enroll frank@example.com
check_eq "lost answer, rerun: exit 6 ($out)" 6 "$rc"
check_contains "lost answer, rerun: names the attribute to look for" "$out" "p11enroll-request:$k"
check_eq "lost answer, rerun: still one request" 1 "$(cs_requests "$k")"
run forget frank@example.com --pin-source "$PIN_SRC"
check_eq "forget: exit 0 ($out)" 0 "$rc"
enroll frank@example.com
check_eq "forget, then a new key's request: exit 0 ($out)" 0 "$rc"

# p11enroll killed while the CA holds the request (before its answer): the
# same as a lost answer, never a second request.
cs_mode '{"delay": 30}'
before=$(cs_requests)
"$P11ENROLL" enroll "$TEST_TOKEN_URI" --email gina@example.com --ca adcs --pin-source "$PIN_SRC" >/dev/null 2>&1 &
pid=$!
# Up to a minute for the request to reach the stub on a loaded machine.
for _ in $(seq 600); do [ "$(cs_requests)" -gt "$before" ] && break; sleep 0.1; done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
cs_mode '{}'
k=$(reqkey gina@example.com)
check_eq "killed mid-request: the CA holds one request" 1 "$(cs_requests "$k")"
enroll gina@example.com
check_eq "killed mid-request, rerun: exit 6 ($out)" 6 "$rc"
check_eq "killed mid-request, rerun: still one request" 1 "$(cs_requests "$k")"

# A crash after the answer (the request id kept): the rerun asks about that
# request and finishes.
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	P11ENROLL_TEST_CRASH_AFTER=ca-answered enroll hank@example.com
	check_eq "crash after the answer: exit 86" 86 "$rc"
	enroll hank@example.com
	check_eq "crash after the answer, rerun: exit 0 ($out)" 0 "$rc"
	enrolled_ok hank@example.com "crash after the answer"
fi

# A CA slower than the entry's timeout: the request reached it, so the rerun
# sends nothing; once the operator found none at the CA, resend_unanswered
# sends the same CSR again (the stub shows two requests for that key, as
# the operator accepted).
cs_mode '{"delay": 8}'
enroll slow@example.com adcs-slow
check_eq "CA slower than the timeout: exit 1" 1 "$rc"
check_contains "CA slower than the timeout: names the timeout" "$out" "imed out"
cs_mode '{}'
k=$(reqkey slow@example.com)
enroll slow@example.com adcs-slow
check_eq "timed out, rerun: exit 6, nothing sent ($out)" 6 "$rc"
check_contains "timed out, rerun: offers resend_unanswered" "$out" "resend_unanswered"
check_eq "timed out, rerun: one request at the CA" 1 "$(cs_requests "$k")"
enroll slow@example.com adcs-resend
check_eq "resend_unanswered: exit 0 ($out)" 0 "$rc"
check_eq "resend_unanswered: the second request for this CSR" 2 "$(cs_requests "$k")"

# The CA down: nothing could be taken, so the rerun sends it.
cs_stop
enroll ivan@example.com
check_eq "CA down: exit 1" 1 "$rc"
check_contains "CA down: asks whether the CA is up" "$out" "is the CA up?"
cs_start || bad "the stub did not restart"
enroll ivan@example.com
check_eq "CA back: exit 0 ($out)" 0 "$rc"
enrolled_ok ivan@example.com "after the CA was down"

# Hostile answers: one line each, never a crash.
posts() { grep -c '^POST /certsrv/certfnsh.asp' "$CS/requests.log"; }
p0=$(posts)
cs_mode '{"fail_next": 1}'
enroll jack@example.com
check_eq "HTTP 500 to the request: exit 1" 1 "$rc"
check_contains "HTTP 500: says it is unknown whether the CA took it" "$out" "unknown"
check_eq "HTTP 500: the request sent once, never retried" $((p0 + 1)) "$(posts)"
enroll jack@example.com
check_eq "HTTP 500, rerun: exit 6, nothing sent again ($out)" 6 "$rc"
check_eq "HTTP 500, rerun: no second request" $((p0 + 1)) "$(posts)"
cs_mode '{"garbage": true}'
enroll kim@example.com
check_eq "not certsrv's answer: exit 1" 1 "$rc"
check_contains "not certsrv's answer: says so" "$out" "not certsrv's answer"
cs_mode '{"cert_ctype": "text/plain"}'
enroll lee@example.com
check_eq "certificate with a wrong type: exit 1" 1 "$rc"
check_contains "wrong type: says so" "$out" "neither a certificate"
cs_mode '{"truncate_cert": true}'
enroll mo@example.com
check_eq "truncated certificate: exit 1" 1 "$rc"
cs_mode '{"huge": true}'
enroll ned@example.com
check_eq "5 MB answer: exit 1" 1 "$rc"
check_contains "5 MB answer: too large" "$out" "too large"
cs_mode '{}'
# The truncated and wrong-type ones were issued: a rerun fetches them.
enroll lee@example.com
check_eq "wrong type, then a good answer: exit 0 ($out)" 0 "$rc"
enrolled_ok lee@example.com "wrong type, then a good answer"

# Config: an unknown key, Basic without a bundle is still TLS-verified.
enroll notls@example.com adcs-notls
check_eq "TLS not trusted (no ca_bundle): exit 1" 1 "$rc"
check_eq "TLS not trusted: nothing reached the CA" 0 "$(cs_requests "$(reqkey notls@example.com)")"
jq '.cas.adcs.colour = "blue"' "$P11ENROLL_CONFIG" >"$TEST_TMP/bad.json"
out=$(P11ENROLL_CONFIG=$TEST_TMP/bad.json p11e enroll "$TEST_TOKEN_URI" --email x@example.com \
	--ca adcs --pin-source "$PIN_SRC" 2>&1)
check_eq "unknown config key: exit 8" 8 $?
check_contains "unknown config key: named" "$out" "colour"
jq '.cas.adcs.url = "http://ca.example.com/certsrv"' "$P11ENROLL_CONFIG" >"$TEST_TMP/bad.json"
out=$(P11ENROLL_CONFIG=$TEST_TMP/bad.json p11e enroll "$TEST_TOKEN_URI" --email x@example.com \
	--ca adcs --pin-source "$PIN_SRC" 2>&1)
check_eq "Basic over plain http: exit 8" 8 $?
check_contains "Basic over plain http: says why" "$out" "only over https"

# Revocation is not part of web enrollment: says so.
run revoke alice@example.com --reason superseded
check "revoke through certsrv: refused" test "$rc" -ne 0
check_contains "revoke through certsrv: names the CA type" "$out" "certsrv"

# Renewal: an ordinary new request with the new generation's CSR (certsrv's
# pages take no renewal signed with the old key).
old_id=$(key_id alice@example.com)
n0=$(cs_requests)
run renew alice@example.com --force --pin-source "$PIN_SRC"
check_eq "renew: exit 0 ($out)" 0 "$rc"
check_eq "renew: generation 2" 2 "$(record alice@example.com | jq -r .generation)"
check "renew: a new key" test "$(key_id alice@example.com)" != "$old_id"
check_eq "renew: one new request at the CA" $((n0 + 1)) "$(cs_requests)"
check_eq "renew: that request carries the new CSR's key" 1 "$(cs_requests "$(reqkey alice@example.com)")"
if token_cert "$(key_id alice@example.com)" "$TEST_TMP/alice.2.pem"; then
	check "renew: the new certificate verifies" openssl verify -CAfile "$CS/root.pem" \
		-untrusted "$CS/issuing.pem" "$TEST_TMP/alice.2.pem"
else
	bad "renew: no certificate under the new key"
fi

# NTLM (the stub checks the NTLMv2 response against the password): the
# password never crosses the wire, and a wrong one is refused.
cs_stop
CS_NTLM=1 cs_start || bad "the stub did not restart with NTLM"
enroll ntlm@example.com adcs-ntlm
check_eq "NTLM: enroll ($out)" 0 "$rc"
enrolled_ok ntlm@example.com "NTLM"
check "NTLM: the stub verified the NTLMv2 response" grep -q "^NTLM authenticated" "$CS/requests.log"
enroll ntlm2@example.com adcs-ntlm-wrong
check_eq "NTLM, wrong password: exit 8 ($out)" 8 "$rc"
enroll ntlm2@example.com adcs
check_eq "Basic against an NTLM-only server: exit 8" 8 "$rc"

check_not_contains "the password never printed" "$(cat "$OUT")" "$(cat "$CS/password")"
check "the password not in the stub's log" bash -c "! grep -qF '$(cat "$CS/password")' '$CS/requests.log'"
finish
