# A CA that fails: down, a 500 (before and after it took the order), slower
# than the config's timeout, killed in the middle of an order and restarted.
# Each time enroll (or poll) fails or goes pending with a clear message and
# its documented exit code, and once the CA is back a rerun ends with exactly
# one private key and one certificate on the token and one issued
# certificate at the CA. The CA is the CertCentral stub
# (tests/stubs/digicert_stub.py), whose failures are injected by mode.json.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/stubs/digicert.sh"
dc_start || { bad "the digicert stub did not start"; finish; }

# Timeouts with room for a loaded CI machine: an answer the stub does not
# delay must come within "timeout" however slow the machine is (the "slow" CAs:
# 6 s), and a delayed one well after it (12 s, 15 s). "dc" retries for a minute
# (1 s, 2 s ... 32 s) while the stub is restarted.
cat >"$TEST_TMP/p11enroll.json" <<JSON
{ "cas": {
    "dc0":        { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$DC/api.key",
                    "retries": 0, "connect_timeout": 60, "timeout": 120 },
    "dc":         { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$DC/api.key",
                    "retries": 6, "timeout": 120 },
    "slow":       { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$DC/api.key",
                    "retries": 0, "timeout": 6 },
    "slow-retry": { "type": "digicert", "url": "$(dc_url)", "api_key_source": "file:$DC/api.key",
                    "retries": 2, "timeout": 6 } } }
JSON
export P11ENROLL_CONFIG=$TEST_TMP/p11enroll.json

enroll() { # enroll EMAIL CA: exit code in $rc, output in $out
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$1" --ca "$2" --pin-source "$PIN_SRC" 2>&1)
	rc=$?
}
# One key, one certificate on the token under its ID; one order at the CA, issued.
one_of_each() {
	local email=$1 what=$2 id
	id=$(key_id "$email")
	check_eq "$what: record done" done "$(record "$email" | jq -r .step)"
	check_eq "$what: one private key" 1 "$(count_objects privkey "$id")"
	check_eq "$what: one public key" 1 "$(count_objects pubkey "$id")"
	check_eq "$what: one certificate" 1 "$(count_objects cert "$id")"
	check_eq "$what: one order at the CA, issued" "1 1" "$(dc_orders "$email") $(dc_orders "$email" issued)"
}
privkeys() { p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object'; }

# CA down: a connection refused is exit 1 saying so; the identity waits at
# csr-built with its key; the rerun after the CA is back finishes.
dc_stop
enroll down@example.com dc0
check_eq "CA down: exit 1" 1 "$rc"
check_contains "CA down: says the CA is unreachable" "$out" "is the CA up?"
check_eq "CA down: identity waits at csr-built" csr-built "$(record down@example.com | jq -r .step)"
check_contains "CA down: last error kept for status" "$(p11e status)" "is the CA up?"
dc_start
enroll down@example.com dc0
check_eq "CA back: enroll finishes ($out)" 0 "$rc"
one_of_each down@example.com "CA down, then back"

# A 500 once: retried (1 s backoff) within the same run ...
dc_mode '{"fail_next": 1}'
enroll retry500@example.com dc
check_eq "500 once, with retries: enroll finishes ($out)" 0 "$rc"
check_eq "500 once, with retries: the stub did answer 500" 1 "$(grep -c ' 500$' "$DC/requests.log")"
one_of_each retry500@example.com "500 once, with retries"
# ... or, without retries, exit 1 with DigiCert's words; the rerun finishes.
dc_mode '{"fail_next": 1}'
enroll once500@example.com dc0
check_eq "500 once, no retries: exit 1" 1 "$rc"
check_contains "500 once, no retries: the CA's error" "$out" "HTTP 500: internal_error"
check_contains "500 once, no retries: says rerun" "$out" "rerun later"
enroll once500@example.com dc0
check_eq "500 once, no retries: rerun finishes ($out)" 0 "$rc"
one_of_each once500@example.com "500 once, then rerun"
# A 500 after DigiCert took the order: the rerun finds that order (by the
# CSR), it does not place a second one.
dc_mode '{"fail_after_create": 1}'
enroll taken500@example.com dc0
check_eq "500 after the order was taken: exit 1" 1 "$rc"
check_eq "500 after the order was taken: the CA has the order" 1 "$(dc_orders taken500@example.com)"
enroll taken500@example.com dc0
check_eq "500 after the order was taken: rerun finishes ($out)" 0 "$rc"
one_of_each taken500@example.com "500 after the order was taken"
dc_mode '{"fail_after_create": 1}'
enroll taken500r@example.com dc
check_eq "500 after the order was taken, with retries: finishes in one run ($out)" 0 "$rc"
one_of_each taken500r@example.com "500 after the order was taken, with retries"

# Slower than "timeout": the order is taken, the answer comes too late.
dc_mode '{"delay_order": 15}'
enroll slow@example.com slow
check_eq "slow CA past the timeout: exit 1" 1 "$rc"
check_contains "slow CA past the timeout: says it timed out" "$out" "timed out"
dc_mode '{}'
enroll slow@example.com slow
check_eq "slow CA: rerun finishes with the order already taken ($out)" 0 "$rc"
one_of_each slow@example.com "slow CA, then rerun"
dc_mode '{"delay_order": 15}'
enroll slowr@example.com slow-retry
check_eq "slow CA, with retries: finishes in one run ($out)" 0 "$rc"
one_of_each slowr@example.com "slow CA, with retries"
# Every answer too late: nothing ordered, the rerun orders once.
dc_mode '{"delay": 12}'
enroll slowall@example.com slow
check_eq "every answer past the timeout: exit 1" 1 "$rc"
check_eq "every answer past the timeout: identity waits at csr-built" csr-built \
	"$(record slowall@example.com | jq -r .step)"
dc_mode '{}'
sleep 12 # the stub's late answers drain
enroll slowall@example.com slow
check_eq "every answer past the timeout: rerun finishes ($out)" 0 "$rc"
one_of_each slowall@example.com "every answer past the timeout"

# Killed in the middle of an order (after taking it, before answering) and
# restarted on the same port while enroll backs off: one run finishes.
dc_mode '{"delay_order": 5}'
p11e enroll "$TEST_TOKEN_URI" --email killed@example.com --ca dc --pin-source "$PIN_SRC" \
	>"$TEST_TMP/killed.out" 2>&1 &
enroll_pid=$!
for _ in $(seq 600); do
	[ "$(dc_orders killed@example.com)" -ge 1 ] && break
	sleep 0.05
done
dc_stop KILL
dc_mode '{}'
sleep 1
dc_start
wait "$enroll_pid"
check_eq "CA killed mid-order and restarted: enroll finishes ($(cat "$TEST_TMP/killed.out"))" 0 $?
one_of_each killed@example.com "CA killed mid-order and restarted"

# Killed while an order is pending: poll fails (exit 1) while it is down,
# and finishes once it is back; the key is never made twice.
dc_mode '{"pending_polls": 1}'
enroll pending@example.com dc0
check_eq "pending: exit 7" 7 "$rc"
dc_stop KILL
dc_mode '{}'
keys=$(privkeys)
out=$(p11e poll --pin-source "$PIN_SRC" 2>&1)
check_eq "poll while the CA is down: exit 1" 1 $?
check_contains "poll while the CA is down: says so" "$out" "pending@example.com: failed"
check_contains "poll while the CA is down: the reason" "$out" "is the CA up?"
dc_start
out=$(p11e poll --pin-source "$PIN_SRC" 2>&1)
check_eq "poll after the restart: exit 0 ($out)" 0 $?
one_of_each pending@example.com "pending, CA killed, then poll"
check_eq "no key was made by polling" "$keys" "$(privkeys)"
check_eq "nothing left to poll" 0 "$(p11e poll --json | jq length)"
finish
