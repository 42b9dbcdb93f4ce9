# kill -9 anywhere in an enrollment, then rerun: every identity ends done with
# exactly one private key, one public key and one certificate on the token
# (counted by pkcs11-tool), one CA certificate, and one issuance at the CA.
# First the states a kill inside a token operation leaves, made by hand so
# each is proven every time; then batch --jobs 2 killed at random moments
# (a fixed seed; kills aimed at a row in flight, at key generation and at
# certificate writes, whose windows the test hook P11ENROLL_TEST_PAUSE_MS
# widens), rerun after each kill. The test prints where the kills landed.
. "$TESTS_DIR/lib/common.sh"
# Leaks are other tests' business; the slow unwinder that attributes them
# makes every key generation in SoftHSM many times slower.
export ASAN_OPTIONS=detect_leaks=0:fast_unwind_on_malloc=1
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "kill tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca
ARGS=(--ca "local:$CA_DIR" --pin-source "$PIN_SRC")
IDS=$P11ENROLL_STATE_DIR/identities

# Every object of the token as "type id" lines (privkey, pubkey, cert).
objects() {
	p11tool_opensc --list-objects | awk '
		/^Private Key Object/ { t = "privkey" } /^Public Key Object/ { t = "pubkey" }
		/^Certificate Object/ { t = "cert" }
		/^ *ID:/ { print t, tolower($2) }'
}
# count TYPE ID [LISTING]
count() { grep -c "^$1 $2\$" <<<"$3" || true; }

# An enrollment stopped right after the record chose its temporary ID.
stopped_at_key_pending() {
	P11ENROLL_TEST_CRASH_AFTER=key-pending p11e enroll "$TEST_TOKEN_URI" --email "$1" \
		--key ec:P-256 "${ARGS[@]}" >/dev/null 2>&1
	check_eq "$1: stopped at key-pending" 86 $?
	record "$1" | jq -r .temp_id
}
resumes_to_one_key() { # EMAIL TEMP_ID WHAT
	local out listing id
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$1" "${ARGS[@]}" 2>&1)
	check_eq "$3: the rerun finishes ($out)" 0 $?
	check_eq "$3: done" done "$(record "$1" | jq -r .step)"
	id=$(key_id "$1")
	listing=$(objects)
	check_eq "$3: one private key, one public key, one certificate" "1 1 1" \
		"$(count privkey "$id" "$listing") $(count pubkey "$id" "$listing") $(count cert "$id" "$listing")"
	check_eq "$3: nothing left under the temporary ID" 0 "$(grep -c " $2\$" <<<"$listing")"
}

# 1. Half a key pair: SoftHSM's C_GenerateKeyPair writes the public key, then
# the private one; a kill between leaves the public key alone.
temp=$(stopped_at_key_pending half@example.com)
p11tool_opensc --keypairgen --key-type EC:prime256v1 --usage-sign --id "$temp" \
	--label half@example.com >/dev/null
p11tool_opensc --delete-object --type privkey --id "$temp" >/dev/null
listing=$(objects)
check_eq "half pair: the public key alone" "0 1" \
	"$(count privkey "$temp" "$listing") $(count pubkey "$temp" "$listing")"
resumes_to_one_key half@example.com "$temp" "half pair"

# 2. Both halves, but not finished by C_GenerateKeyPair (SoftHSM writes each
# half's template, then its key and CKA_LOCAL): a key pair written with
# C_CreateObject has CKA_LOCAL false, as such a half-made pair does.
temp=$(stopped_at_key_pending unfinished@example.com)
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -outform DER \
	-out "$TEST_TMP/planted.der" 2>/dev/null
openssl pkey -inform DER -in "$TEST_TMP/planted.der" -pubout -outform DER -out "$TEST_TMP/planted.pub"
p11tool_opensc --write-object "$TEST_TMP/planted.der" --type privkey --id "$temp" --usage-sign >/dev/null
p11tool_opensc --write-object "$TEST_TMP/planted.pub" --type pubkey --id "$temp" >/dev/null
resumes_to_one_key unfinished@example.com "$temp" "pair without CKA_LOCAL"
token_cert "$(key_id unfinished@example.com)" "$TEST_TMP/unfinished.pem"
check "pair without CKA_LOCAL: made again, not certified" test \
	"$(openssl x509 -in "$TEST_TMP/unfinished.pem" -noout -pubkey | openssl pkey -pubin -outform DER | md5sum)" \
	!= "$(md5sum <"$TEST_TMP/planted.pub")"

# 3. A rename cut in half: p11e_token_set_id moves the private key first. The
# hook holds the run after the final ID is recorded, before the rename.
P11ENROLL_TEST_PAUSE_MS=15000 "$P11ENROLL" enroll "$TEST_TOKEN_URI" --email split@example.com \
	--key ec:P-256 "${ARGS[@]}" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
	# One read: a missing file reads as "", which must not count as an ID.
	k=$(record split@example.com 2>/dev/null | jq -r .key_id 2>/dev/null)
	[ -n "$k" ] && [ "$k" != null ] && break
	sleep 0.1
done
kill -9 $pid
wait $pid 2>/dev/null
temp=$(record split@example.com | jq -r .temp_id)
final=$(key_id split@example.com)
p11tool_opensc --set-id "$final" --id "$temp" --type privkey >/dev/null
listing=$(objects)
check_eq "split rename: private key under the final ID, public under the temporary ($listing)" \
	"1 1" "$(count privkey "$final" "$listing") $(count pubkey "$temp" "$listing")"
resumes_to_one_key split@example.com "$temp" "split rename"

# 4. batch --jobs 2, killed at random moments. EC keys, and the hook's pauses
# between token actions: RSA generation alone would make a kill land inside
# it more often, but takes half a minute per key on a loaded test machine.
ROWS=18
{
	echo "email,key"
	for i in $(seq 1 $ROWS); do echo "k$i@example.com,ec:P-256"; done
} >"$TEST_TMP/roster.csv"
# Started by path, not through a shell function: kill must reach p11enroll.
batch() { exec "$P11ENROLL" batch "$TEST_TMP/roster.csv" --jobs 2 --token "$TEST_TOKEN_URI" "${ARGS[@]}"; }
# wait_for STEP: until a record the running batch saved is at STEP (a fresh
# save, newer than the marker; "" any step), up to 30 s; 1 if the batch
# ended first.
wait_for() {
	for _ in $(seq 1 1500); do
		find "$IDS" -name '*.json' -newer "$TEST_TMP/marker" 2>/dev/null |
			xargs -r grep -lE "\"step\": ?\"$1" | grep -q . && return 0
		kill -0 $pid 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}
RANDOM=20261129
declare -A landed=()
kills=0 half=0 tries=0
export P11ENROLL_TEST_PAUSE_MS=100
while [ $kills -lt 20 ] && [ $tries -lt 36 ]; do
	tries=$((tries + 1))
	touch "$TEST_TMP/marker"
	sleep 0.01
	(batch >/dev/null 2>&1) &
	pid=$!
	r=$((RANDOM % 900)) # drawn here: a subshell would not advance the seed
	case $((tries % 3)) in
	0) wait_for "" && sleep "0.$(printf %03d $r)" ;;                  # any moment of a row
	1) wait_for key-pending && sleep "0.$(printf %03d $((r / 4)))" ;; # key generation
	2) wait_for issued && sleep "0.$(printf %03d $((r / 4)))" ;;      # certificate writes
	esac
	if kill -9 $pid 2>/dev/null; then
		kills=$((kills + 1))
	else
		# The batch finished every row before the kill: new rows, so the
		# next try has work in flight to be killed in.
		for _ in 1 2 3 4; do
			ROWS=$((ROWS + 1))
			echo "k$ROWS@example.com,ec:P-256" >>"$TEST_TMP/roster.csv"
		done
	fi
	wait $pid 2>/dev/null
	# Where it landed: the steps of the rows left unfinished, and half-made pairs.
	listing=$(objects)
	for f in "$IDS"/k*.json; do
		[ -e "$f" ] || continue
		rec=$(record "$(basename "$f" .json)" 2>/dev/null) || continue
		step=$(jq -r .step <<<"$rec")
		[ "$step" = done ] && continue
		landed[$step]=$((${landed[$step]:-0} + 1))
		t=$(jq -r .temp_id <<<"$rec")
		if [ "$step" = key-pending ] && [ "$t" != null ]; then
			n=$(($(count privkey "$t" "$listing") + $(count pubkey "$t" "$listing")))
			[ $n = 1 ] && half=$((half + 1))
		fi
	done
done
unset P11ENROLL_TEST_PAUSE_MS
report=""
for s in "${!landed[@]}"; do report+=" $s:${landed[$s]}"; done
echo "batch_kill: $kills kills in $tries runs; unfinished rows by step:$report; half-made key pairs seen: $half"
check "at least 20 kills landed in a running batch ($kills)" test $kills -ge 20
check "kills landed during key generation (key-pending: ${landed[key-pending]:-0})" \
	test "${landed[key-pending]:-0}" -ge 1
check "kills landed during certificate writes (issued: ${landed[issued]:-0})" \
	test "${landed[issued]:-0}" -ge 1

out=$( (batch) 2>&1)
check_eq "the last rerun finishes every row ($out)" 0 $?
listing=$(objects)
bad_rows=0
for i in $(seq 1 $ROWS); do
	e=k$i@example.com
	rec=$(record $e)
	id=$(jq -r .key_id <<<"$rec")
	got="$(jq -r .step <<<"$rec") $(count privkey "$id" "$listing") $(count pubkey "$id" "$listing") $(count cert "$id" "$listing")"
	[ "$got" = "done 1 1 1" ] || { bad "$e: expected 'done 1 1 1', got '$got'"; bad_rows=$((bad_rows + 1)); }
	issued=$(grep -c "\"request_key\": *\"$(jq -r .request_key <<<"$rec")\"" "$CA_DIR/index.jsonl")
	[ "$issued" = 1 ] || { bad "$e: issued $issued times"; bad_rows=$((bad_rows + 1)); }
done
check_eq "every row: done, one key pair, one certificate, one issuance" 0 $bad_rows
all=$((ROWS + 3))
check_eq "no orphan private key on the token" $all "$(grep -c '^privkey ' <<<"$listing")"
check_eq "no orphan public key on the token" $all "$(grep -c '^pubkey ' <<<"$listing")"
check_eq "the certificates and the CA's, once" $((all + 1)) "$(grep -c '^cert ' <<<"$listing")"
check_eq "the CA issued once per identity" $all "$(wc -l <"$CA_DIR/index.jsonl")"
finish
