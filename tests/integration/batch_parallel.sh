# batch --jobs: several workers, several sessions on one token, two tokens at
# once. OpenSC's pkcs11-spy (a module no one here wrote, between p11enroll and
# SoftHSM) logs every PKCS#11 call, so the test counts what happened: one
# C_Login per token for the whole batch, one session per worker per token,
# and no search for every private key (the enumeration libp11 would do).
. "$TESTS_DIR/lib/common.sh"
setup_ca
SPY=/usr/lib/x86_64-linux-gnu/pkcs11-spy.so
export PKCS11SPY=$SOFTHSM_MODULE PKCS11SPY_OUTPUT=$TEST_TMP/spy.log
# Fixture only: softhsm2-util takes PINs as arguments; p11enroll never does.
softhsm2-util --init-token --free --label second --so-pin 12345678 --pin 123456 >/dev/null

{
	echo "email,name,token"
	for i in $(seq 1 12); do echo "w$i@example.com,Worker $i,"; done
	for i in $(seq 1 6); do echo "s$i@example.com,Second $i,pkcs11:token=second"; done
} >"$TEST_TMP/roster.csv"
json=$(p11e batch "$TEST_TMP/roster.csv" --jobs 4 --module "$SPY" --token "$TEST_TOKEN_URI" \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" --json)
check_eq "jobs 4, two tokens: exit 0" 0 $?
check_eq "all 18 enrolled" 18 "$(jq .enrolled <<<"$json")"
check_eq "the report keeps roster order" "w1@example.com s6@example.com" \
	"$(jq -r '[.rows[0].email, .rows[17].email] | join(" ")' <<<"$json")"
check_eq "one C_Login per token for the whole batch" 2 "$(grep -c '^[0-9]*: C_Login$' "$TEST_TMP/spy.log")"
sessions=$(grep -c '^[0-9]*: C_OpenSession$' "$TEST_TMP/spy.log")
check "sessions reused: per token one to log in and at most one per worker ($sessions)" \
	test "$sessions" -ge 3 -a "$sessions" -le 10
# libp11 finds a key by reading every private key (C_FindObjectsInit with
# CKA_CLASS alone); every search of ours names the CKA_ID too. The spy prints
# a template as "pTemplate[N]:".
enumerations() { grep -A3 'C_FindObjectsInit' "$TEST_TMP/spy.log" | grep -c 'pTemplate\[1\]:'; }
check_eq "no search over every private key" 0 "$(enumerations)"
finds=$(grep -c 'C_FindObjectsInit$' "$TEST_TMP/spy.log")
check "no search per enrollment: one per worker and token, for the CA certificate ($finds)" \
	test "$finds" -le 8
for t in test second; do
	n=$(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label $t --login --pin env:TEST_PIN \
		--list-objects --type cert 2>/dev/null | grep -c '^Certificate Object')
	want=$([ $t = test ] && echo 12 || echo 6)
	# each identity's certificate plus the CA certificate once per token
	check_eq "token $t: $want certificates and the CA's" $((want + 1)) "$n"
done
for e in w1 w7 w12 s1 s6; do
	rec=$(record "$e@example.com")
	check_eq "$e done" done "$(jq -r .step <<<"$rec")"
	tok=$([ ${e:0:1} = s ] && echo second || echo test)
	check_eq "$e: one key on token $tok" 1 "$(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label $tok \
		--login --pin env:TEST_PIN --list-objects --type privkey 2>/dev/null |
		grep -ci "ID: *$(jq -r .key_id <<<"$rec")\$")"
done

# One worker, six rows on one token: one search for the CA certificate in all. Each
# enrollment remembers its key pair and certificate; the CA certificate found by the
# first stays remembered (before, the fourth row's objects pushed it out and the row
# searched again: a worker handed four rows of one token, as one was over PostgreSQL).
printf 'email\n' >"$TEST_TMP/one.csv"
for i in $(seq 1 6); do echo "o$i@example.com" >>"$TEST_TMP/one.csv"; done
: >"$TEST_TMP/spy.log"
json=$(p11e batch "$TEST_TMP/one.csv" --jobs 1 --module "$SPY" --token "$TEST_TOKEN_URI" \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" --json)
check_eq "one worker, six rows: exit 0" 0 $?
check_eq "one worker, six rows: one search, for the CA certificate" 1 \
	"$(grep -c 'C_FindObjectsInit$' "$TEST_TMP/spy.log")"

# The check above can fail: a single enroll signs through libp11, which reads
# every key of the token to find one.
: >"$TEST_TMP/spy.log"
out=$(p11e enroll "$TEST_TOKEN_URI" --email single@example.com --module "$SPY" \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" 2>&1)
check_eq "single enroll through libp11 ($out)" 0 $?
check "libp11's enumeration is visible to the check" test "$(enumerations)" -ge 1

# Rerun: everything is already done, without a single login.
: >"$TEST_TMP/spy.log"
json=$(p11e batch "$TEST_TMP/roster.csv" --jobs 4 --module "$SPY" --token "$TEST_TOKEN_URI" \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" --json)
check_eq "rerun: exit 0" 0 $?
check_eq "rerun: 18 already done" 18 "$(jq '."already-done"' <<<"$json")"
check_eq "rerun: no login at all" 0 "$(grep -c '^[0-9]*: C_Login$' "$TEST_TMP/spy.log")"

# A wrong PIN with 4 workers: exactly one C_Login, then the batch stops.
echo 000000 | tr -d '\n' >"$TEST_TMP/wrong.pin"
printf 'email\n' >"$TEST_TMP/pin.csv"
for i in $(seq 1 10); do echo "p$i@example.com" >>"$TEST_TMP/pin.csv"; done
: >"$TEST_TMP/spy.log"
json=$(p11e batch "$TEST_TMP/pin.csv" --jobs 4 --module "$SPY" --token "$TEST_TOKEN_URI" \
	--ca "local:$CA_DIR" --pin-source "file:$TEST_TMP/wrong.pin" --json 2>/dev/null)
check_eq "wrong PIN: exit 3" 3 $?
check_eq "wrong PIN: one C_Login in all" 1 "$(grep -c '^[0-9]*: C_Login$' "$TEST_TMP/spy.log")"
failed=$(jq .failed <<<"$json")
check "wrong PIN: only rows already handed to a worker failed ($failed)" test "$failed" -ge 1 -a "$failed" -le 4
check_eq "wrong PIN: the others not tried" $((10 - failed)) "$(jq '."not-tried"' <<<"$json")"
check_eq "wrong PIN: no key made" 0 "$(p11tool_opensc --list-objects --type privkey | grep -ci 'label: *p[0-9]*@')"

# One identity twice in a roster: the second row is refused, never raced.
printf 'email\ndup@example.com\nDUP@example.com\n' >"$TEST_TMP/dup.csv"
json=$(p11e batch "$TEST_TMP/dup.csv" --jobs 2 --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" --json)
check_eq "duplicate: exit 1" 1 $?
check_eq "duplicate: one enrolled" 1 "$(jq .enrolled <<<"$json")"
check_contains "duplicate: names the first line" "$(jq -r '.rows[1].error' <<<"$json")" "already on line 2"

out=$(p11e batch "$TEST_TMP/dup.csv" --jobs 0 2>&1)
check_eq "--jobs 0: usage" 2 $?
check_contains "--jobs names the field" "$out" "jobs:"
out=$(p11e batch "$TEST_TMP/dup.csv" --jobs 65 2>&1)
check_eq "--jobs 65: usage" 2 $?
finish
