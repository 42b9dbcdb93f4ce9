# Batch enrollment from a roster: CSV and JSON lines, bad rows reported with
# their line numbers while the batch goes on, a rerun skips what is done, a
# PIN failure stops the batch (never a retry per row).
. "$TESTS_DIR/lib/common.sh"
setup_ca
serial=$(p11e tokens --module "$SOFTHSM_MODULE" --json | jq -r '.modules[0].tokens[] | select(.label=="test") | .serial')

cat >"$TEST_TMP/roster.csv" <<CSV
email,name,profile,key,token
ann@example.com,Ann Example,smime,ec:P-256,
"bo@example.com","Bo, the Second",smime-sign,rsa:2048,$serial

not-an-email,Nobody,smime,ec:P-256,
cy@example.com,Cy,smime,rsa:1024,
dee@example.com,"Dee ""D"" Example",client-auth,,
CSV
out=$(p11e batch "$TEST_TMP/roster.csv" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "batch with bad rows: exit code 1" 1 $?
check_contains "summary" "$out" "5 rows: 3 enrolled, 0 already done, 0 pending, 2 failed"
check_contains "error line counts the rows" "$out" "2 of 5 rows failed"
check_contains "bad email reported with its line" "$out" "line 5 (not-an-email)"
check_contains "bad key type reported with its line" "$out" "line 6 (cy@example.com): key type"
for e in ann bo dee; do
	check_eq "$e enrolled" done "$(record "$e@example.com" | jq -r .step)"
	id=$(key_id "$e@example.com")
	check_eq "$e: one certificate on the token" 1 "$(count_objects cert "$id")"
done
token_cert "$(key_id bo@example.com)" "$TEST_TMP/bo.pem"
check_contains "quoted CSV name with a comma" "$(openssl x509 -in "$TEST_TMP/bo.pem" -noout -subject)" "Bo, the Second"
check "rows by serial reach the token" openssl verify -CAfile "$CA_DIR/ca.pem" -purpose smimesign "$TEST_TMP/bo.pem"

# Fix the bad rows and rerun: done rows are skipped, the fixed ones enrolled.
sed -i 's/^not-an-email/eve@example.com/; s/rsa:1024/rsa:2048/' "$TEST_TMP/roster.csv"
before=$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')
json=$(p11e batch "$TEST_TMP/roster.csv" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" --json)
check_eq "rerun: exit code 0" 0 $?
check_eq "rerun: 3 already done" 3 "$(jq '."already-done"' <<<"$json")"
check_eq "rerun: 2 enrolled" 2 "$(jq .enrolled <<<"$json")"
check_eq "rerun: the report gives line numbers" 6 "$(jq '.rows[] | select(.email=="cy@example.com") | .line' <<<"$json")"
check_eq "rerun: only two new keys" $((before + 2)) \
	"$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')"

# JSON lines.
printf '%s\n' '{"email":"fin@example.com","key":"ec:P-384"}' 'not json' \
	'{"email":"gus@example.com","colour":"red"}' >"$TEST_TMP/roster.jsonl"
json=$(p11e batch "$TEST_TMP/roster.jsonl" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" --json)
check_eq "jsonl: exit code 1" 1 $?
check_eq "jsonl: one enrolled" 1 "$(jq .enrolled <<<"$json")"
check_eq "jsonl: bad line 2" failed "$(jq -r '.rows[] | select(.line==2) | .result' <<<"$json")"
check_contains "jsonl: unknown key on line 3, named" "$(jq -r '.rows[] | select(.line==3) | .error' <<<"$json")" "unknown key 'colour'"

# A wrong PIN stops the batch at the first row: one attempt, the rest not tried.
echo 000000 >"$TEST_TMP/wrong.pin"
printf 'email\nh1@example.com\nh2@example.com\nh3@example.com\n' >"$TEST_TMP/pin.csv"
json=$(p11e batch "$TEST_TMP/pin.csv" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source "file:$TEST_TMP/wrong.pin" --json 2>/dev/null)
check_eq "wrong PIN: exit code 3" 3 $?
check_eq "wrong PIN: one row failed" 1 "$(jq .failed <<<"$json")"
check_eq "wrong PIN: the others not tried" 2 "$(jq '."not-tried"' <<<"$json")"

out=$(p11e batch "$TEST_TMP/missing.csv" 2>&1)
check_eq "missing roster: usage" 2 $?
printf 'mail,name\nx@example.com,X\n' >"$TEST_TMP/nohdr.csv"
out=$(p11e batch "$TEST_TMP/nohdr.csv" --token "$TEST_TOKEN_URI" 2>&1)
check_eq "unknown column: usage" 2 $?
check_contains "unknown column: named" "$out" "'mail'"
finish
