# A power loss after every step of the pipeline (issue 21 item 6): the saves
# the pipeline does not make durable are dropped (P11ENROLL_TEST_LOSE_UNSYNCED,
# as if the machine lost its page cache), then the run is killed at a crash
# point. The record on disk is the last durable one, behind what the token and
# the CA already hold; a rerun finishes with one key, one certificate and one
# CA issuance, nothing orphaned (docs/store.md#durability).
. "$TESTS_DIR/lib/common.sh"
if [ "${TEST_HOOKS:-0}" != 1 ]; then
	bad "power-loss tests need a build with -DP11ENROLL_TEST_HOOKS=ON (scripts/test.sh does that)"
	finish
fi
setup_ca

# point:the step the record on disk shows after the loss ("none": no record)
# The CSR is signed before the key's rename and saved durably with its final
# ID, so csr-built is not durable itself: every point from the final ID to
# stored leaves key-pending, with the key's final ID and its CSR.
points=(new:none key-pending:key-pending key-made:key-pending key-renaming:key-pending
	key-renamed:key-pending key-generated:key-pending csr-built:key-pending
	ca-answered:key-pending issued:key-pending cert-written:key-pending stored:key-pending)
# The record is written in place into one of two checksummed slots: "torn"
# tears the saves that are not durable (half their bytes reach the file)
# instead of dropping them; the slot a durable save wrote is never the one
# written after it, so the older, durable slot is what is read.
torn=(new:none key-generated:key-pending issued:key-pending stored:key-pending)
n=0
for entry in "${points[@]}" "${torn[@]/#/torn-}"; do
	point=${entry%%:*} left=${entry#*:} lose=1
	case $point in torn-*) point=${point#torn-} lose=torn ;; esac
	n=$((n + 1))
	email="lost-$lose-$point@example.com"
	P11ENROLL_TEST_LOSE_UNSYNCED=$lose P11ENROLL_TEST_CRASH_AFTER=$point p11e enroll \
		"$TEST_TOKEN_URI" --email "$email" --key ec:P-256 --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" >/dev/null 2>&1
	check_eq "$lose $point: the injected crash happened" 86 $?
	# A file whose slots hold nothing whole nor durable reads as no record.
	on_disk=$(record "$email" 2>/dev/null | jq -r .step 2>/dev/null)
	on_disk=${on_disk:-none}
	point="$lose $point"
	check_eq "$point: the record on disk is the last durable one" "$left" "$on_disk"
	out=$(p11e enroll "$TEST_TOKEN_URI" --email "$email" --ca "local:$CA_DIR" \
		--pin-source "$PIN_SRC" 2>&1)
	check_eq "$point: rerun finishes ($out)" 0 $?
	check_eq "$point: record is done" done "$(record "$email" | jq -r .step)"
	id=$(key_id "$email")
	check_eq "$point: one private key" 1 "$(count_objects privkey "$id")"
	check_eq "$point: one public key" 1 "$(count_objects pubkey "$id")"
	check_eq "$point: one certificate" 1 "$(count_objects cert "$id")"
	check_eq "$point: the CA issued once for $email" 1 \
		"$(grep -c "\"request_key\": *\"$(record "$email" | jq -r .request_key)\"" "$CA_DIR/index.jsonl")"
	check_eq "$point: the CA issued nothing else for $email" 1 \
		"$(grep -c "CN=$email" "$CA_DIR/index.jsonl")"
	# Nothing orphaned: the token holds exactly one key pair per identity so far.
	check_eq "$point: private keys on the token" "$n" \
		"$(p11tool_opensc --list-objects --type privkey | grep -c '^Private Key Object')"
done

# A record in the format before (a station that ran an older p11enroll): read
# as it is; the saves after it, torn, leave it whole; the rerun finishes and
# upgrades it to two slots.
rec_file=$P11ENROLL_STATE_DIR/identities/old@example.com.json
P11ENROLL_TEST_CRASH_AFTER=csr-built p11e enroll "$TEST_TOKEN_URI" --email old@example.com \
	--key ec:P-256 --ca "local:$CA_DIR" --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "old format: stopped at csr-built" 86 $?
record old@example.com >"$TEST_TMP/old.json"
record_remove old@example.com
record_put old@example.com <"$TEST_TMP/old.json"
check_eq "old format: a plain JSON file" "{" "$(head -c 1 "$rec_file")"
P11ENROLL_TEST_LOSE_UNSYNCED=torn P11ENROLL_TEST_CRASH_AFTER=stored p11e enroll \
	"$TEST_TOKEN_URI" --email old@example.com --ca "local:$CA_DIR" --pin-source "$PIN_SRC" \
	>/dev/null 2>&1
check_eq "old format: the injected crash happened" 86 $?
check_eq "old format: still the old file, at csr-built" "{ csr-built" \
	"$(head -c 1 "$rec_file") $(record old@example.com | jq -r .step)"
out=$(p11e enroll "$TEST_TOKEN_URI" --email old@example.com --ca "local:$CA_DIR" \
	--pin-source "$PIN_SRC" 2>&1)
check_eq "old format: rerun finishes ($out)" 0 $?
check_eq "old format: upgraded to two slots, done" "p11eslot done" \
	"$(head -c 8 "$rec_file") $(record old@example.com | jq -r .step)"
id=$(key_id old@example.com)
check_eq "old format: one key pair and one certificate" "1 1 1" \
	"$(count_objects privkey "$id") $(count_objects pubkey "$id") $(count_objects cert "$id")"
check_eq "old format: the CA issued once" 1 "$(grep -c "CN=old@example.com" "$CA_DIR/index.jsonl")"

# Without the loss, a finished run leaves its record durable and done: the
# last save of a run is always durable, so nothing is dropped at the end.
P11ENROLL_TEST_LOSE_UNSYNCED=1 p11e enroll "$TEST_TOKEN_URI" --email kept@example.com \
	--key ec:P-256 --ca "local:$CA_DIR" --pin-source "$PIN_SRC" >/dev/null 2>&1
check_eq "a run that ends: exit 0" 0 $?
check_eq "a run that ends: its record is done on disk" done "$(record kept@example.com | jq -r .step)"

# The embedded CA's index entry (ca-cert) is written after the request's
# document and not durably: kept's was dropped above. Its index.jsonl line is
# never synced either: with both lost, the serial is still the CA's (the
# request's document, durable, names it), so it can be revoked.
kept_serial=$(record kept@example.com | jq -r .cert_pem | openssl x509 -noout -serial |
	sed 's/^serial=//' | tr A-F a-f)
grep -v 'CN=kept@example.com' "$CA_DIR/index.jsonl" >"$TEST_TMP/index.jsonl"
cat "$TEST_TMP/index.jsonl" >"$CA_DIR/index.jsonl"
out=$(p11e ca revoke --dir "$CA_DIR" --serial "$kept_serial" --reason superseded 2>&1)
check_eq "a serial whose index entries were lost: revoked ($out)" 0 $?
p11e ca crl --dir "$CA_DIR" --out "$TEST_TMP/crl.pem" >/dev/null 2>&1
check_contains "  and on the CRL" "$(openssl crl -in "$TEST_TMP/crl.pem" -noout -text)" \
	"$(tr a-f A-F <<<"$kept_serial")"

# What the disk is asked (strace -f -y): the record is saved after every step,
# but waited for only at its three durable points: key-pending, the final key
# ID with the CSR, and done, each one fdatasync of the record written in place
# into one of its two slots, and its directory fsync'd once, when the file is
# new. Before issue 21 it was all eight saves, two fsyncs each; then four saves,
# two fsyncs each, and a write-out wait (sync_file_range) for each of the other
# four; then four saves (csr-built apart from the final key ID), one wait each.
# LeakSanitizer cannot run under ptrace: leaks are checked by the runs above.
if ! command -v strace >/dev/null; then
	bad "strace is missing: bash scripts/deps.sh --test installs it"
	finish
fi
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	strace -f -y -o "$TEST_TMP/sync" \
	-e trace=fsync,fdatasync,syncfs,sync,msync,sync_file_range,rename,pwrite64 \
	"$P11ENROLL" enroll "$TEST_TOKEN_URI" --email synced@example.com --key ec:P-256 \
	--ca "local:$CA_DIR" --pin-source "$PIN_SRC" >/dev/null 2>"$TEST_TMP/strace.err"
rc=$?
check_eq "under strace: exit 0 ($(tail -3 "$TEST_TMP/strace.err"))" 0 "$rc"
rec_calls() { grep -c "$1([0-9]*<[^>]*identities/synced@example.com.json>" "$TEST_TMP/sync"; }
check_eq "the record made once (a rename)" 1 \
	"$(grep -c 'rename(.*identities/synced@example.com.json"' "$TEST_TMP/sync")"
# Seven saves in place, and the "confirmed" byte after each of the three durable ones.
check_eq "record saves in place (pwrite)" 10 "$(rec_calls pwrite64)"
check_eq "record saves made durable (fdatasync)" 3 "$(rec_calls fdatasync)"
check_eq "no other wait on the record (fsync, sync_file_range)" 0 \
	"$(grep -c '\(fsync\|sync_file_range\)([0-9]*<[^>]*identities/synced' "$TEST_TMP/sync")"
check_eq "the directory fsync'd once, for the new file" 1 \
	"$(grep -c 'fsync([0-9]*<[^>]*/identities>' "$TEST_TMP/sync")"
# The embedded CA: its request's document durable (file and directory), its
# index entry (ca-cert) not: nothing else waits.
check_eq "the CA's waits: the request's document and its directory" 2 \
	"$(grep -cE '(^|[0-9] +)(fsync|fdatasync|sync_file_range)\([0-9]*<[^>]*/ca-(requests|certs)' "$TEST_TMP/sync")"
check_eq "every wait of the enrollment (at most 6)" 6 \
	"$(grep -cE '(^|[0-9] +)(fsync|fdatasync|syncfs|sync|msync|sync_file_range)\(' "$TEST_TMP/sync")"
check_eq "nothing syncs a whole file system" 0 "$(grep -cE '(^|[0-9] +)(syncfs|sync)\(' "$TEST_TMP/sync")"
finish
