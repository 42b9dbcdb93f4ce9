# `p11enroll renew` through the digicert backend, against the stub of
# CertCentral (tests/stubs/digicert_stub.py: its documented Reissue
# certificate and List reissues): the old order's certificate reissued for
# the new key (never a second order), at once or pending until `poll` finds
# it in the order's list (the order's old certificate is never taken for
# the new one), a reissue taken and then answered 500 (looked up, not sent
# again), a rejected reissue, an order that is expired (exit 6 in one line,
# no new paid order), and a CA that keeps failing (exit 1, rerun later).
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/stubs/digicert.sh"
dc_start || { bad "the digicert stub did not start"; finish; }
OUT=$TEST_TMP/outputs
: >"$OUT"
run() { # run CMD...: exit code in $rc, output in $out (and $OUT)
	out=$(p11e "$@" --pin-source "$PIN_SRC" 2>&1)
	rc=$?
	printf '%s\n' "$out" >>"$OUT"
}
cat >"$TEST_TMP/p11enroll.json" <<JSON
{ "cas": { "dc": { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$DC/api.key",
                   "poll_interval": 1, "retries": 1 } } }
JSON
export P11ENROLL_CONFIG=$TEST_TMP/p11enroll.json
enroll() { # enroll EMAIL [options]
	local email=$1
	shift
	run enroll "$TEST_TOKEN_URI" --email "$email" --ca dc "$@"
}
order_of() { jq -r --arg e "$1" '.orders[] | select(.certificate.emails | index($e)) | .id' "$DC/orders.json"; }
reissues() { jq -r --arg e "$1" '[.orders[] | select(.certificate.emails | index($e)) | .reissues // [] | .[]] | length' "$DC/orders.json"; }
posts() { grep -c "POST /services/v2/order/certificate/$1/reissue " "$DC/requests.log"; }
serial() { openssl x509 -in "$1" -noout -serial; }
renewed_ok() { # renewed_ok EMAIL OLD_KEY_ID WHAT
	local email=$1 old=$2 what=$3 id
	id=$(key_id "$email")
	check_eq "$what: generation 2" 2 "$(record "$email" | jq -r .generation)"
	check "$what: a new key" test "$id" != "$old"
	if token_cert "$id" "$TEST_TMP/$email.2.pem"; then
		ok
		check "$what: verifies (stub root, intermediate)" openssl verify -CAfile "$DC/root.pem" \
			-untrusted "$DC/intermediate.pem" -purpose smimesign "$TEST_TMP/$email.2.pem"
		check "$what: not the old certificate" \
			test "$(serial "$TEST_TMP/$email.2.pem")" != "$(serial "$TEST_TMP/$email.1.pem")"
	else
		bad "$what: no certificate under the new key $id"
	fi
	check_eq "$what: still one order, no new one" 1 "$(dc_orders "$email")"
	check_eq "$what: request id ORDER:reissue:SHA-256 of the CSR" \
		"$(order_of "$email"):reissue:$(record "$email" | jq -r .csr_pem |
			openssl req -outform DER | sha256sum | cut -d' ' -f1)" \
		"$(record "$email" | jq -r .request_id)"
}
enrolled() { # enrolled EMAIL: enrolls at once, keeps the first certificate
	dc_mode '{"immediate": true}'
	enroll "$1"
	check_eq "enroll $1 ($out)" 0 "$rc"
	token_cert "$(key_id "$1")" "$TEST_TMP/$1.1.pem"
	dc_mode '{}'
}

# Issued at once: the reissue's certificate_chain.
enrolled alice@example.com
old=$(key_id alice@example.com)
dc_mode '{"immediate": true}'
run renew alice@example.com --force
check_eq "renew alice, reissued at once ($out)" 0 "$rc"
check_eq "one reissue POSTed for alice's order" 1 "$(posts "$(order_of alice@example.com)")"
check_eq "the stub holds one reissue, issued" 1 "$(reissues alice@example.com)"
renewed_ok alice@example.com "$old" "reissued at once"

# Pending: renew exits 7; the order still shows its old, issued certificate,
# which the first poll must not take; the second finds the reissue issued.
enrolled bob@example.com
old=$(key_id bob@example.com)
dc_mode '{"pending_polls": 1}'
run renew bob@example.com --force
check_eq "renew bob: reissue pending, exit 7 ($out)" 7 "$rc"
check_eq "pending: the order is still issued (its old certificate)" issued \
	"$(jq -r --arg e bob@example.com '.orders[] | select(.certificate.emails | index($e)) | .status' "$DC/orders.json")"
run poll bob@example.com
check_eq "first poll: still pending, the old certificate not taken ($out)" 7 "$rc"
run poll bob@example.com
check_eq "second poll: issued ($out)" 0 "$rc"
renewed_ok bob@example.com "$old" "pending reissue"

# The reissue taken, then HTTP 500: the list is looked at, nothing sent twice.
enrolled carol@example.com
old=$(key_id carol@example.com)
dc_mode '{"fail_after_create": 1}'
run renew carol@example.com --force
check_eq "reissue answered 500 after it was taken: renewed ($out)" 0 "$rc"
check_eq "one reissue POST, one reissue at the stub" "1 1" \
	"$(posts "$(order_of carol@example.com)") $(reissues carol@example.com)"
renewed_ok carol@example.com "$old" "500 after the reissue"

# A rejected reissue: exit 6 at the poll, in words.
enrolled dave@example.com
dc_mode '{"reject": "not approved"}'
run renew dave@example.com --force
check_eq "renew dave: pending first ($out)" 7 "$rc"
run poll dave@example.com
check_eq "rejected reissue: exit 6 ($out)" 6 "$rc"
check_contains "rejected reissue: said so" "$out" "rejected the reissue"
dc_mode '{}'

# An expired order cannot be reissued: exit 6 in one line naming its status;
# no new (paid) order, no reissue asked for.
enrolled erin@example.com
eid=$(key_id erin@example.com)
dc_stop
jq --arg e erin@example.com '(.orders[] | select(.certificate.emails | index($e)) | .status) = "expired"' \
	"$DC/orders.json" >"$DC/orders.new" && mv "$DC/orders.new" "$DC/orders.json"
dc_start || { bad "the digicert stub did not restart"; finish; }
run renew erin@example.com --force
check_eq "expired order: exit 6 ($out)" 6 "$rc"
check_contains "expired order: its status named" "$out" "is expired"
check_contains "expired order: no new order placed, said so" "$out" "no new (paid) order"
check_eq "expired order: the error is one line" 1 "$(printf '%s\n' "$out" | grep -c 'ca digicert')"
check_eq "expired order: still one order, no reissue POSTed" "1 0" \
	"$(dc_orders erin@example.com) $(posts "$(order_of erin@example.com)")"
check "expired order: the old certificate still on the token" token_cert "$eid" "$TEST_TMP/erin.now.pem"

# --reuse-key with an RSA key: PKCS#1 v1.5 signatures are deterministic, so
# the third generation's CSR is the second's, byte for byte. The order's
# list then holds a reissue with our very CSR: the certificate being
# renewed, which must not be taken for the new one.
dc_mode '{"immediate": true}'
enroll grace@example.com --key rsa:2048
check_eq "enroll grace, RSA ($out)" 0 "$rc"
gid=$(key_id grace@example.com)
run renew grace@example.com --force --reuse-key
check_eq "grace generation 2, --reuse-key ($out)" 0 "$rc"
token_cert "$gid" "$TEST_TMP/grace.2.pem"
rid2=$(record grace@example.com | jq -r .request_id)
run renew grace@example.com --force --reuse-key
check_eq "grace generation 3, --reuse-key ($out)" 0 "$rc"
check_eq "generation 3: the same CSR as generation 2 (the case this tests)" "$rid2" \
	"$(record grace@example.com | jq -r .request_id)"
check_eq "generation 3: a reissue of its own (two POSTs, two reissues)" "2 2" \
	"$(posts "$(order_of grace@example.com)") $(reissues grace@example.com)"
check "generation 3: stored" token_cert "$gid" "$TEST_TMP/grace.3.pem"
check "generation 3: a new certificate, not generation 2's" \
	test "$(serial "$TEST_TMP/grace.3.pem")" != "$(serial "$TEST_TMP/grace.2.pem")"
dc_mode '{}'

# A CA that keeps failing (5xx on every try): exit 1, rerun later; no reissue made.
enrolled frank@example.com
dc_mode '{"fail_next": 20}'
run renew frank@example.com --force
check_eq "5xx throughout: exit 1 ($out)" 1 "$rc"
check_contains "5xx: rerun later" "$out" "rerun later"
check_eq "5xx: no reissue at the stub" 0 "$(reissues frank@example.com)"
dc_mode '{}'

# Hostile answers to the reissue: one line each, nothing stored, resumable.
hostile() { # hostile WHAT EXIT NEEDLE MODE
	dc_mode "$4"
	run renew henry@example.com --force
	check_eq "$1: exit $2 ($out)" "$2" "$rc"
	check_contains "$1: said so" "$out" "$3"
	check_eq "$1: one line" 1 "$(printf '%s\n' "$out" | grep -c .)"
}
enrolled henry@example.com
hid=$(key_id henry@example.com)
hostile "201 naming another order" 1 "another order" \
	'{"reissue_answer": {"status": 201, "body": {"id": 1, "requests": []}}}'
hostile "201 with the order id as a list" 1 "another order" \
	'{"reissue_answer": {"status": 201, "body": {"id": [1000001], "certificate_chain": "x"}}}'
hostile "201 that is not JSON" 1 "another order" \
	'{"reissue_answer": {"status": 201, "body": "<html>ok</html>"}}'
hostile "a 400 in DigiCert's words" 6 "DigiCert refused the reissue" \
	'{"reissue_answer": {"status": 400, "body": {"errors": [{"code": "invalid_csr", "message": "bad CSR"}]}}}'
hostile "a 503 throughout" 1 "rerun later" \
	'{"reissue_answer": {"status": 503, "body": {"errors": [5, {"code": []}]}}}'
check_eq "hostile answers: no reissue made" 0 "$(reissues henry@example.com)"
check "hostile answers: the old certificate still on the token" token_cert "$hid" "$TEST_TMP/henry.now.pem"
# A CA too slow to answer: exit 1 (the timeout), then the same renewal resumes.
cat >"$TEST_TMP/slow.json" <<JSON
{ "cas": { "dc": { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$DC/api.key",
                   "poll_interval": 1, "retries": 0, "timeout": 2 } } }
JSON
dc_mode '{"delay": 5}'
out=$(P11ENROLL_CONFIG=$TEST_TMP/slow.json p11e renew henry@example.com --force --pin-source "$PIN_SRC" 2>&1)
rc=$?
printf '%s\n' "$out" >>"$OUT"
check_eq "timeout: exit 1 ($out)" 1 "$rc"
check_eq "timeout: one line" 1 "$(printf '%s\n' "$out" | grep -c .)"
dc_mode '{"immediate": true}'
run renew henry@example.com --force
check_eq "after the hostile answers, the renewal goes through ($out)" 0 "$rc"
check_eq "one reissue in the end" 1 "$(reissues henry@example.com)"
dc_mode '{}'

check_not_contains "the API key never shown" "$(cat "$OUT")" "$DC_KEY"
check_not_contains "the API key not in any record" "$(cat "$P11ENROLL_STATE_DIR"/identities/*.json | tr -d '\000')" "$DC_KEY"
finish
