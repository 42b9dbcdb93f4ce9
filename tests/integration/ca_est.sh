# The est backend (RFC 7030) against tests/stubs/est_stub.py (Debian 12 has no
# EST server; the stub issues with `openssl x509 -req`), over TLS on 127.0.0.1
# with a port the kernel picks. Enrollment on SoftHSM (HTTP Basic, the
# server's explicit trust anchor), strongSwan's `pki --est` as an
# independent client against the same stub, pending (202 Retry-After) then
# `p11enroll poll`, renewal by simplereenroll with the old certificate and
# its token key as the TLS client identity, hostile answers, the CA down or
# slow, a crash at every point with the rerun never sending a second request
# for one key, and revocation refused in words (EST has none).
. "$TESTS_DIR/lib/common.sh"

D=$TEST_TMP/est
mkdir -p "$D/stub"
cd "$D" || exit 1
umask 077
printf '%s\n' 'Est-pass-9f3a!' >password
printf '%s\n' 'not-the-password' >wrong-password
printf 'issue\n' >stub/mode

python3 "$TESTS_DIR/stubs/est_stub.py" --dir stub --user enroller --password-file password \
	>stub/out.log 2>&1 &
stub=$!
trap 'kill $stub 2>/dev/null' EXIT
# Up to a minute: a loaded CI machine.
for _ in $(seq 600); do [ -s stub/port ] && break; sleep 0.1; done
[ -s stub/port ] || { bad "the EST stub did not start: $(tail -3 stub/out.log)"; finish; }
port=$(cat stub/port)
url="https://127.0.0.1:$port/.well-known/est"
dead=$(free_port)

ca() { # ca NAME [MORE JSON MEMBERS]
	printf '"%s": { "type": "est", "url": "%s", "ca_bundle": "stub/ca.pem", "username": "enroller", "password_source": "file:%s/password", "poll_interval": 1%s }' \
		"$1" "$url" "$D" "${2:+, $2}"
}
cat >p11enroll.json <<JSON
{ "cas": { $(ca est), $(ca est-resend '"resend_unanswered": true'),
           $(ca est-slow '"timeout": 2, "retries": 0'),
           "est-wrongpw": { "type": "est", "url": "$url", "ca_bundle": "stub/ca.pem",
                            "username": "enroller", "password_source": "file:$D/wrong-password" },
           "est-nota": { "type": "est", "url": "$url", "username": "enroller",
                         "password_source": "file:$D/password" },
           "est-otherta": { "type": "est", "url": "$url", "ca_bundle": "/etc/ssl/certs/ca-certificates.crt",
                            "username": "enroller", "password_source": "file:$D/password" },
           "est-tls": { "type": "est", "url": "$url", "ca_bundle": "stub/ca.pem",
                        "username": "enroller", "password_source": "file:$D/password",
                        "client_cert_file": "station.pem", "client_key_file": "station.key" },
           "est-down": { "type": "est", "url": "https://127.0.0.1:$dead/.well-known/est",
                         "ca_bundle": "stub/ca.pem", "retries": 0 } } }
JSON
export P11ENROLL_CONFIG=$D/p11enroll.json
all_out=""
run() { # run CMD...: p11enroll's exit code in $rc, its output in $out
	out=$(p11e "$@" --pin-source "$PIN_SRC" 2>&1)
	rc=$?
	all_out+="$out"$'\n'
}
enroll() { # enroll EMAIL CA [more options]
	local email=$1 ca=$2
	shift 2
	run enroll "$TEST_TOKEN_URI" --email "$email" --key "${KEY:-ec:P-256}" --profile client-auth --ca "$ca" "$@"
}
mode() { printf '%s\n' "$*" >stub/mode; }
# POSTs the stub saw for the key whose certificate request has SPKI hash $1
posts() { grep -c "enroll spki=$1 " stub/requests.log || true; }
spki_of_key() { # the SHA-256 of the SPKI of the record's CSR
	record "$1" | jq -r .csr_pem | openssl req -noout -pubkey |
		openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

# 1. An EC key on the token, certified by the stub's CA over EST.
enroll alice@example.com est
check_eq "enroll by EST ($out)" 0 "$rc"
id=$(key_id alice@example.com)
check "the certificate on the token under the key's ID" token_cert "$id" alice.pem
check "openssl verify against the stub's CA" \
	openssl verify -CAfile stub/ca.pem -purpose sslclient alice.pem
check_eq "record done" done "$(record alice@example.com | jq -r .step)"
check_eq "one simpleenroll, HTTP Basic" 1 \
	"$(grep -c "^simpleenroll spki=$(spki_of_key alice@example.com) auth=basic answer=200" stub/requests.log)"

check_eq "ca cert --ca est prints the CA from /cacerts" \
	"$(openssl x509 -in stub/ca.pem -noout -fingerprint -sha256)" \
	"$(p11e ca cert --ca est 2>&1 | openssl x509 -noout -fingerprint -sha256 2>&1)"

# A station's own TLS client certificate (PEM files, relative to the config) beside HTTP Basic.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout station.key \
	-subj /CN=station -out station.csr 2>/dev/null
openssl x509 -req -in station.csr -CA stub/ca.pem -CAkey stub/ca.key -days 2 -out station.pem 2>/dev/null
enroll bea@example.com est-tls
check_eq "enroll with a TLS client certificate and HTTP Basic ($out)" 0 "$rc"
check_eq "the stub saw both" 1 \
	"$(grep -c "^simpleenroll spki=$(spki_of_key bea@example.com) auth=basic+cert answer=200" stub/requests.log)"

# 2. An independent client: strongSwan's pki --est sends the very CSR p11enroll sent
# to the same stub (it takes the server's base URL and adds /.well-known/est/...).
# The stub accepts both requests alike, and the two certificates are of one kind:
# same subject, issuer, extensions and public key; only serial and dates differ.
record alice@example.com | jq -r .csr_pem | openssl req -outform DER -out alice-csr.der
if pki --est --url "https://127.0.0.1:$port" --in alice-csr.der --cacert stub/ca.pem \
	--userpass "enroller:$(cat password)" --outform pem >pki-alice.pem 2>pki.log; then
	ok
	shape() { openssl x509 -in "$1" -noout -subject -issuer -pubkey -ext \
		subjectAltName,keyUsage,extendedKeyUsage,basicConstraints 2>/dev/null; }
	check_eq "pki --est and p11enroll get the same kind of certificate" "$(shape alice.pem)" \
		"$(shape pki-alice.pem)"
	check "pki's certificate verifies against the same CA" \
		openssl verify -CAfile stub/ca.pem -purpose sslclient pki-alice.pem
	check_eq "the stub took pki's request as it took p11enroll's (HTTP Basic, 200)" 2 \
		"$(grep -c "^simpleenroll spki=$(spki_of_key alice@example.com) auth=basic answer=200" stub/requests.log)"
else
	bad "pki --est against the stub failed: $(grep -v "^plugin '" pki.log | tail -3)"
fi

# 3. Pending: 202 with Retry-After, then `p11enroll poll` repeats the request
# (RFC 7030 4.2.3) until the stub issues.
mode pending 2
enroll carol@example.com est
check_eq "pending: enroll exits 7 ($out)" 7 "$rc"
check_eq "pending: record at submitted" submitted "$(record carol@example.com | jq -r .step)"
check_eq "pending: the request id is the request key" \
	"$(record carol@example.com | jq -r .request_key)" "$(record carol@example.com | jq -r .request_id)"
run poll
check_eq "poll while still pending: exit 7 ($out)" 7 "$rc"
run poll
check_eq "poll once issued: exit 0 ($out)" 0 "$rc"
check "pending then poll: the certificate on the token" token_cert "$(key_id carol@example.com)" carol.pem
check_eq "pending then poll: three POSTs of one request (202, 202, 200)" "202 202 200" \
	"$(grep "^simpleenroll spki=$(spki_of_key carol@example.com) " stub/requests.log |
		sed 's/.*answer=//' | tr '\n' ' ' | sed 's/ $//')"
mode issue

# 4. Renewal: /simplereenroll, the old certificate and its key on the token as
# the TLS client identity (no password asked for), a new key, generation 2.
run renew alice@example.com --force
check_eq "renew alice: exit 0 ($out)" 0 "$rc"
new=$(key_id alice@example.com)
check "renew alice: a new key" test "$new" != "$id"
check_eq "renew alice: generation 2" 2 "$(record alice@example.com | jq -r .generation)"
check "renew alice: the new certificate on the token" token_cert "$new" alice2.pem
check "renew alice: verifies against the CA" openssl verify -CAfile stub/ca.pem alice2.pem
check_eq "renew alice: one simplereenroll, by TLS client certificate" 1 \
	"$(grep -c "^simplereenroll spki=$(spki_of_key alice@example.com) auth=cert answer=200" stub/requests.log)"

# A renewal the CA holds pending: poll repeats the simplereenroll, again with the old
# certificate and its token key for TLS.
mode pending 1
run renew carol@example.com --force
check_eq "renew carol, pending: exit 7 ($out)" 7 "$rc"
run poll
check_eq "renew carol, poll: exit 0 ($out)" 0 "$rc"
check_eq "renew carol: simplereenroll 202 then 200, both by TLS client certificate" "202 200" \
	"$(grep "^simplereenroll spki=$(spki_of_key carol@example.com) auth=cert " stub/requests.log |
		sed 's/.*answer=//' | tr '\n' ' ' | sed 's/ $//')"
check_eq "renew carol: generation 2" 2 "$(record carol@example.com | jq -r .generation)"
mode issue

# --reuse-key with an RSA key (deterministic PKCS#1 v1.5 signatures: the renewal's
# CSR could repeat the first one's bytes, and so its request key): the renewal gets a
# certificate of its own, by one simplereenroll, never the one kept for the first request.
KEY=rsa:2048 enroll dora@example.com est
check_eq "enroll dora (RSA) ($out)" 0 "$rc"
token_cert "$(key_id dora@example.com)" dora1.pem
run renew dora@example.com --force --reuse-key
check_eq "renew dora --reuse-key: exit 0 ($out)" 0 "$rc"
token_cert "$(key_id dora@example.com)" dora2.pem
check "renew dora --reuse-key: a new certificate, not the kept first one" \
	test "$(openssl x509 -in dora1.pem -noout -serial)" != "$(openssl x509 -in dora2.pem -noout -serial)"
check_eq "renew dora --reuse-key: one simplereenroll" 1 \
	"$(grep -c "^simplereenroll spki=$(spki_of_key dora@example.com) auth=cert answer=200" stub/requests.log)"

# 5. Hostile answers: a certificate is never taken from them, and since the CA
# answered 200 (it may have issued), the request is never sent again.
for m in ctype truncated oversized otherkey; do
	mode "$m"
	enroll "$m@example.com" est
	check_eq "$m: exit 1 ($out)" 1 "$rc"
	check_eq "$m: nothing on the token but the key" 0 "$(count_objects cert "$(key_id "$m@example.com")")"
	enroll "$m@example.com" est
	check_eq "$m: the rerun refuses (exit 1)" 1 "$rc"
	check_contains "$m: the rerun says why" "$out" "answer is unknown"
	check_eq "$m: one POST, never a second" 1 "$(posts "$(spki_of_key "$m@example.com")")"
done
mode ctype
enroll ctype2@example.com est
check_contains "wrong content type: named" "$out" "Content-Type text/plain"
mode truncated
enroll trunc2@example.com est
check_contains "truncated DER: named" "$out" "truncated"
mode otherkey
enroll other2@example.com est
check_contains "a certificate for another key: named" "$out" "another key"
# resend_unanswered: the operator's choice to send it again, once the CA is checked.
enroll erin@example.com est-resend
check_eq "otherkey with resend_unanswered: exit 1" 1 "$rc"
check_contains "otherkey with resend_unanswered: says a rerun sends again" "$out" "a rerun sends the request again"
mode issue
enroll erin@example.com est-resend
check_eq "resend_unanswered: the rerun sends again and finishes ($out)" 0 "$rc"
check_eq "resend_unanswered: two POSTs" 2 "$(posts "$(spki_of_key erin@example.com)")"

# 6. Refusals: the stub's 401 for a wrong password (exit 6), a 400 in its words
# (exit 6), a 5xx (exit 1, rerun later: it settled nothing, so the rerun sends).
enroll frank@example.com est-wrongpw
check_eq "wrong password: exit 6 ($out)" 6 "$rc"
check_contains "wrong password: said in words" "$out" "HTTP 401"
mode status 400
enroll gina@example.com est
check_eq "HTTP 400: exit 6 ($out)" 6 "$rc"
check_contains "HTTP 400: the CA's words" "$out" "told to answer 400"
mode status 503
enroll hank@example.com est
check_eq "HTTP 503: exit 1 ($out)" 1 "$rc"
check_contains "HTTP 503: rerun later" "$out" "rerun later"
mode issue
enroll hank@example.com est
check_eq "after a 503 the rerun finishes ($out)" 0 "$rc"

# 7. The CA down: nothing sent, the rerun may send. Slow: no answer in time, so
# unknown: never sent again.
enroll ivan@example.com est-down
check_eq "CA down: exit 1 ($out)" 1 "$rc"
check_contains "CA down: said" "$out" "is the CA up?"
mode hang
enroll judy@example.com est-slow
check_eq "CA slow: exit 1 ($out)" 1 "$rc"
check_contains "CA slow: no answer" "$out" "no answer to simpleenroll"
mode issue
enroll judy@example.com est-slow
check_eq "CA slow: the rerun refuses ($out)" 1 "$rc"
check_eq "CA slow: one POST" 1 "$(posts "$(spki_of_key judy@example.com)")"

# A server that takes the connection and never answers the TLS handshake: nothing
# left, so nothing is unsettled: the rerun tries again (and says the CA may be down).
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
while True:
    held.append(s.accept()[0])
' tarpit.port &
tarpit=$!
trap 'kill $stub $tarpit 2>/dev/null' EXIT
for _ in $(seq 600); do [ -s tarpit.port ] && break; sleep 0.1; done
jq --arg u "https://127.0.0.1:$(cat tarpit.port)/.well-known/est" \
	'.cas["est-tarpit"] = (.cas.est + {url: $u, timeout: 2, connect_timeout: 2, retries: 0})' \
	p11enroll.json >tarpit.json
P11ENROLL_CONFIG=$D/tarpit.json enroll kate@example.com est-tarpit
check_eq "TLS never answered: exit 1 ($out)" 1 "$rc"
P11ENROLL_CONFIG=$D/tarpit.json enroll kate@example.com est-tarpit
check_eq "TLS never answered: the rerun tries again (exit 1)" 1 "$rc"
check_not_contains "TLS never answered: nothing left unsettled" "$out" "answer is unknown"
kill $tarpit 2>/dev/null

# 8. A crash at every point of an EST enrollment: the rerun finishes, and never
# sends a second request for one key. Crashed after the request was noted as
# sent (est-sent: before it went out; est-answered: its answer lost), the
# rerun refuses until the operator says to resend.
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	n=0
	for point in locked new key-generated csr-built est-sent est-answered est-kept \
		ca-answered issued cert-written stored; do
		n=$((n + 1))
		who=crash$n@example.com
		P11ENROLL_TEST_CRASH_AFTER=$point p11e enroll "$TEST_TOKEN_URI" --email "$who" \
			--key ec:P-256 --profile client-auth --ca est --pin-source "$PIN_SRC" >/dev/null 2>&1
		check_eq "crash at $point: the injected crash happened" 86 $?
		enroll "$who" est
		case $point in
		est-sent | est-answered)
			check_eq "crash at $point: the rerun refuses ($out)" 1 "$rc"
			check_contains "crash at $point: says the answer is unknown" "$out" "answer is unknown"
			jq '.cas.est.resend_unanswered = true' p11enroll.json >resend.json
			P11ENROLL_CONFIG=$D/resend.json enroll "$who" est
			check_eq "crash at $point: resent when told to ($out)" 0 "$rc" ;;
		*) check_eq "crash at $point: the rerun finishes ($out)" 0 "$rc"
			posted=$(posts "$(spki_of_key "$who")")
			[ "$point" = est-sent ] || check "crash at $point: at most one POST ($posted)" \
				test "$posted" -le 1 ;;
		esac
		check_eq "crash at $point: one certificate under the key" 1 \
			"$(count_objects cert "$(key_id "$who")")"
	done
	check_eq "crash at est-sent: the request went out once, when told" 1 "$(posts "$(spki_of_key crash5@example.com)")"
fi

# 9. Revocation: EST has none; refused in words, nothing sent.
cert_serial=$(openssl x509 -in alice2.pem -noout -serial | cut -d= -f2)
out=$(p11e ca revoke --ca est --serial "$cert_serial" --reason keyCompromise 2>&1)
check_eq "revoke: exit 11 ($out)" 11 $?
check_contains "revoke: EST has none, said" "$out" "EST (RFC 7030) has no revocation"

# 10. Config: the trust anchor is required; a server not under it is never sent
# the request; an unknown key is refused, named.
before=$(grep -c enroll stub/requests.log)
enroll kim@example.com est-nota
check_eq "no ca_bundle: exit 8 ($out)" 8 "$rc"
check_contains "no ca_bundle: named" "$out" "ca_bundle"
enroll kim@example.com est-otherta
check_eq "a server not under the trust anchor: exit 1 ($out)" 1 "$rc"
check_eq "nothing sent to a server not trusted" "$before" "$(grep -c enroll stub/requests.log)"
enroll kim@example.com est
check_eq "the same identity on the trusted entry then finishes ($out)" 0 "$rc"
printf '{ "cas": { "typo": { "type": "est", "url": "%s", "ca_bundle": "stub/ca.pem", "pasword_source": "env:X" } } }\n' \
	"$url" >typo.json
P11ENROLL_CONFIG=$D/typo.json enroll lee@example.com typo
check_eq "unknown key: exit 8 ($out)" 8 "$rc"
check_contains "unknown key: named" "$out" "pasword_source"

# The password never shows: not in any output, not in the store's request notes.
check_not_contains "the password is in no output" "$all_out" "$(cat password)"
# The kept requests (kind est-request), in whichever store.
est_docs() {
	if on_pg; then
		local n
		for n in $("$STORE_PROBE" "" list est-request | cut -d' ' -f1); do
			"$STORE_PROBE" "" get est-request "$n"
		done
	else
		cat "$P11ENROLL_STATE_DIR"/ca/est/requests/*.json
	fi
}
docs=$(est_docs)
check "the requests are kept in the store, issued ones with their certificate" \
	grep -Eq '"state": *"issued"' <<<"$docs"
check_contains "an issued request keeps its certificate" "$docs" "BEGIN CERTIFICATE"
check_not_contains "the password is in no kept request" "$docs" "$(cat password)"
check_eq "the password is in no file of the state dir" "" \
	"$(grep -rl "$(cat password)" "$P11ENROLL_STATE_DIR" 2>/dev/null)"
state_layout_check "est"

finish
