# The digicert backend against a stub of CertCentral's API v2
# (tests/stubs/digicert_stub.py): an order issued at once, an order pending
# until `p11enroll poll` finds it issued, a rejected order, a wrong or missing
# API key; and the API key never shows in output, records or logs.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/stubs/digicert.sh"
dc_start || { bad "the digicert stub did not start"; finish; }
OUT=$TEST_TMP/outputs # everything p11enroll printed, for the API key grep
: >"$OUT"
run() { # run CMD...: p11enroll's exit code in $rc, its output in $out (and in $OUT)
	out=$(p11e "$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" >>"$OUT"
}

openssl rand -hex 24 >"$TEST_TMP/wrong.key"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TEST_TMP/officer.key" \
	-out "$TEST_TMP/officers.pem" -subj "/CN=Escrow Officer" -days 30 \
	-addext keyUsage=critical,keyEncipherment 2>/dev/null
cat >"$TEST_TMP/p11enroll.json" <<JSON
{ "vault": { "type": "file", "dir": "escrow", "officer_certs_file": "officers.pem" },
  "cas": {
    "dc":       { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$DC/api.key",
                  "poll_interval": 900 },
    "dc-env":   { "type": "digicert", "url": "$(dc_url)", "api_key_source": "env:DC_TEST_KEY",
                  "product": "secure_email_sponsor", "organization_id": 4242 },
    "dc-noorg": { "type": "digicert", "url": "$(dc_url)", "api_key_source": "env:DC_TEST_KEY",
                  "product": "secure_email_sponsor" },
    "dc-wrong": { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$TEST_TMP/wrong.key",
                  "retries": 0 },
    "dc-unset": { "type": "digicert", "url": "$(dc_url)", "api_key_source": "env:DC_NO_SUCH_VAR" } } }
JSON
export P11ENROLL_CONFIG=$TEST_TMP/p11enroll.json
export DC_TEST_KEY=$DC_KEY

enrolled_ok() { # enrolled_ok EMAIL WHAT: one key, one certificate, S/MIME, verifies
	local email=$1 what=$2 id
	id=$(key_id "$email")
	check_eq "$what: record done" done "$(record "$email" | jq -r .step)"
	check_eq "$what: one private key" 1 "$(count_objects privkey "$id")"
	check_eq "$what: one certificate under the key's ID" 1 "$(count_objects cert "$id")"
	if token_cert "$id" "$TEST_TMP/$email.pem"; then
		ok
		check "$what: openssl verify -purpose smimesign (stub root, intermediate)" \
			openssl verify -CAfile "$DC/root.pem" -untrusted "$DC/intermediate.pem" \
			-purpose smimesign "$TEST_TMP/$email.pem"
		check_contains "$what: rfc822Name SAN" \
			"$(openssl x509 -in "$TEST_TMP/$email.pem" -noout -ext subjectAltName)" "email:$email"
	else
		bad "$what: no certificate readable under $id"
	fi
	check_eq "$what: the request id is the stub's order id" \
		"$(jq -r --arg e "$email" '.orders[] | select(.certificate.emails | index($e)) | .id' "$DC/orders.json")" \
		"$(record "$email" | jq -r .request_id)"
	check_eq "$what: exactly one order at the CA, issued" "1 1" "$(dc_orders "$email") $(dc_orders "$email" issued)"
}

# Issued at once: on the first look at the order ...
run enroll "$TEST_TOKEN_URI" --email alice@example.com --name "Alice Example" --ca dc --pin-source "$PIN_SRC"
check_eq "issued on the first poll: enroll ($out)" 0 "$rc"
enrolled_ok alice@example.com "issued on the first poll"
check_eq "the order asked for dual use (smime)" dual_use \
	"$(jq -r '.orders[0].certificate.usage_designation.primary_usage' "$DC/orders.json")"
check_contains "the order carries our request key" "$(jq -r '.orders[0].comments' "$DC/orders.json")" \
	"$(record alice@example.com | jq -r .request_key)"
check_eq "the intermediate CA stored on the token" 1 \
	"$(p11tool_opensc --list-objects --type cert | grep -c 'label: *DigiCert Stub Secure Email CA')"
# ... and in the order's own answer (certificate_chain), an RSA key, signing only.
dc_mode '{"immediate": true}'
run enroll "$TEST_TOKEN_URI" --email bob@example.com --key rsa:2048 --profile smime-sign --ca dc \
	--pin-source "$PIN_SRC"
check_eq "issued in the order's answer: enroll ($out)" 0 "$rc"
enrolled_ok bob@example.com "issued in the order's answer"
check_contains "smime-sign: digitalSignature only" \
	"$(openssl x509 -in "$TEST_TMP/bob@example.com.pem" -noout -ext keyUsage)" "Digital Signature"
check_not_contains "smime-sign: no keyEncipherment" \
	"$(openssl x509 -in "$TEST_TMP/bob@example.com.pem" -noout -ext keyUsage)" "Key Encipherment"
dc_mode '{}'
# Another product, key from the environment, the organization sent along.
run enroll "$TEST_TOKEN_URI" --email emp@example.com --ca dc-env --pin-source "$PIN_SRC"
check_eq "secure_email_sponsor with organization_id: enroll ($out)" 0 "$rc"
check_eq "secure_email_sponsor: the organization id sent" 4242 \
	"$(jq '.orders[] | select(.certificate.emails[0] == "emp@example.com") | .organization.id' "$DC/orders.json")"
run enroll "$TEST_TOKEN_URI" --email noorg@example.com --ca dc-noorg --pin-source "$PIN_SRC"
check_eq "secure_email_sponsor without organization: rejected" 6 "$rc"
check_contains "without organization: DigiCert's words" "$out" "organization.id is required"

# Pending: enroll stops at submitted (exit 7); poll asks, then stores.
dc_mode '{"pending_polls": 2}'
run enroll "$TEST_TOKEN_URI" --email carol@example.com --ca dc --pin-source "$PIN_SRC"
check_eq "pending: enroll exits 7 ($out)" 7 "$rc"
check_eq "pending: record at submitted" submitted "$(record carol@example.com | jq -r .step)"
check_eq "pending: the order id recorded" "$(jq -r '.orders[-1].id' "$DC/orders.json")" \
	"$(record carol@example.com | jq -r .request_id)"
check_eq "pending: no certificate on the token yet" 0 "$(count_objects cert "$(key_id carol@example.com)")"
dc_mode '{}'
# Still pending: answered by the CA alone, so no token login (no PIN source here).
out=$(p11e poll --json 2>>"$OUT" </dev/null)
rc=$?
printf '%s\n' "$out" >>"$OUT"
check_eq "poll while pending: exit 7, without a PIN" 7 "$rc"
check_eq "poll --json: carol pending" pending "$(jq -r '.[] | select(.identity == "carol@example.com") | .result' <<<"$out")"
check_eq "poll --json: the CA's retry interval" 900 "$(jq -r '.[0].retry_after' <<<"$out")"
check_contains "poll --json: next retry time" "$(jq -r '.[0].next_retry' <<<"$out")" "Z"
check_eq "poll --json: only the pending identity" 1 "$(jq length <<<"$out")"
run poll --pin-source "$PIN_SRC"
check_eq "poll once issued: exit 0 ($out)" 0 "$rc"
check_contains "poll: says enrolled" "$out" "carol@example.com: enrolled"
enrolled_ok carol@example.com "pending, then poll"
run poll --pin-source "$PIN_SRC"
check_eq "poll with nothing pending: exit 0" 0 "$rc"
check_contains "poll with nothing pending: says so" "$out" "nothing to poll"

# enroll on a pending identity polls the order it has; it never orders again.
dc_mode '{"pending_polls": 2}'
run enroll "$TEST_TOKEN_URI" --email dave@example.com --ca dc --pin-source "$PIN_SRC"
check_eq "enroll pending: exit 7" 7 "$rc"
run enroll "$TEST_TOKEN_URI" --email dave@example.com --ca dc --pin-source "$PIN_SRC"
check_eq "enroll again while pending: exit 7 ($out)" 7 "$rc"
check_eq "enroll again while pending: still one order" 1 "$(dc_orders dave@example.com)"
dc_mode '{}'
run poll Dave@Example.com --pin-source "$PIN_SRC"
check_eq "poll IDENTITY (any case): exit 0 ($out)" 0 "$rc"
enrolled_ok dave@example.com "enroll pending twice, then poll IDENTITY"
run poll nobody@example.com
check_eq "poll of an unknown identity: exit 10" 10 "$rc"
check_contains "poll of an unknown identity: says so" "$out" "no enrollment record"

# Rejected at once: exit 6 with the CA's words; and rejected while pending.
dc_mode '{"reject": "the mailbox owner declined the validation email"}'
run enroll "$TEST_TOKEN_URI" --email erin@example.com --ca dc --pin-source "$PIN_SRC"
check_eq "rejected: enroll exits 6" 6 "$rc"
check_contains "rejected: the stub's reason" "$out" "the mailbox owner declined the validation email"
check_eq "rejected: no certificate" 0 "$(count_objects cert "$(key_id erin@example.com)")"
dc_mode '{"pending_polls": 1, "reject": "validation email expired"}'
run enroll "$TEST_TOKEN_URI" --email frank@example.com --ca dc --pin-source "$PIN_SRC"
check_eq "rejected later: enroll pending first" 7 "$rc"
dc_mode '{}'
run poll
check_eq "rejected later: poll exits 6 ($out)" 6 "$rc"
check_contains "rejected later: poll reports it" "$out" "frank@example.com: rejected"
check_contains "rejected later: the stub's reason" "$out" "validation email expired"
check_contains "rejected later: kept for status" "$(record frank@example.com | jq -r .last_error)" \
	"validation email expired"

# The API key: a wrong one is a clear configuration error; a missing one
# stops enroll before a key is made; one inline in the config is refused.
run enroll "$TEST_TOKEN_URI" --email wrong@example.com --ca dc-wrong --pin-source "$PIN_SRC"
check_eq "wrong API key: exit 8" 8 "$rc"
check_contains "wrong API key: says so" "$out" "API key was refused"
check_contains "wrong API key: DigiCert's words" "$out" "access_denied"
check_eq "wrong API key: identity resumable at csr-built" csr-built "$(record wrong@example.com | jq -r .step)"
keys_before=$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')
run enroll "$TEST_TOKEN_URI" --email unset@example.com --ca dc-unset --pin-source "$PIN_SRC"
check_eq "API key source unset: exit 8" 8 "$rc"
check_contains "API key source unset: names the variable" "$out" "DC_NO_SUCH_VAR"
check_eq "API key source unset: no key made" "$keys_before" \
	"$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')"
# A typo is refused when the config is loaded, whatever CA is used: a file of its own.
printf '{ "cas": { "dc-typo": { "type": "digicert", "url": "%s", "api_key_source": "env:DC_TEST_KEY", "api_key": "never here" } } }\n' \
	"$(dc_url)" >"$TEST_TMP/typo.json"
P11ENROLL_CONFIG=$TEST_TMP/typo.json
run enroll "$TEST_TOKEN_URI" --email typo@example.com --ca dc-typo --pin-source "$PIN_SRC"
P11ENROLL_CONFIG=$TEST_TMP/p11enroll.json
check_eq "unknown config key: exit 8" 8 "$rc"
check_contains "unknown config key: named" "$out" "api_key"
run ca cert --ca dc
check_eq "ca cert: unsupported, the chain comes with each certificate" 11 "$rc"

# A crash after DigiCert took the order but before the record knew its id:
# the rerun finds the order by its CSR and never orders twice.
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	P11ENROLL_TEST_CRASH_AFTER=ca-answered p11e enroll "$TEST_TOKEN_URI" --email gina@example.com \
		--ca dc --pin-source "$PIN_SRC" >>"$OUT" 2>&1
	check_eq "crash after the order: the injected crash happened" 86 $?
	check_eq "crash after the order: the record has no order id" null \
		"$(record gina@example.com | jq -r .request_id)"
	run enroll "$TEST_TOKEN_URI" --email gina@example.com --ca dc --pin-source "$PIN_SRC"
	check_eq "crash after the order: rerun finishes ($out)" 0 "$rc"
	enrolled_ok gina@example.com "crash after the order"
fi

# The API key appears nowhere: not in what p11enroll printed, the records,
# HOME, or the stub's request log.
check_eq "the API key is in no output" 0 "$(grep -cF "$DC_KEY" "$OUT")"
check_eq "the API key is in no record or file of p11enroll" "" \
	"$(grep -rlF "$DC_KEY" "$P11ENROLL_STATE_DIR" "$HOME" "$TEST_TMP/p11enroll.json" 2>/dev/null
	store_grep "$DC_KEY")"
check_eq "the API key is not in the stub's request log" 0 "$(grep -cF "$DC_KEY" "$DC/requests.log")"
check "p11enroll status still reads every record" p11e status
# A software key whose order is pending: poll finishes it, writing the PFX,
# with an escrow officer's key to read the password back (the file vault).
dc_mode '{"pending_polls": 1}'
run enroll --software --email soft@example.com --ca dc
check_eq "software key, order pending: exit 7 ($out)" 7 "$rc"
dc_mode '{}'
run poll soft@example.com
check_eq "poll without the officer key: exit 2 ($out)" 2 "$rc"
check_contains "poll says what it needs" "$out" "--officer-key"
run poll soft@example.com --officer-key "$TEST_TMP/officer.key"
check_eq "poll with the officer key: exit 0 ($out)" 0 "$rc"
check_eq "software identity done" done "$(record soft@example.com | jq -r .step)"
pass=$(openssl cms -decrypt -inform DER -in "$TEST_TMP/escrow/soft@example.com.cms" \
	-recip "$TEST_TMP/officers.pem" -inkey "$TEST_TMP/officer.key" 2>/dev/null)
check "the PFX opens with the escrowed password" \
	env PW="$pass" openssl pkcs12 -in "$(store_pfx_file "$(record soft@example.com | jq -r .pfx_path)")" -noout -passin env:PW
check_eq "one order for it" 1 "$(dc_orders soft@example.com)"
finish
