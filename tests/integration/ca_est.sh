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
	run enroll "$TEST_TOKEN_URI" --email "$email" --key ec:P-256 --profile client-auth --ca "$ca" "$@"
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

finish
