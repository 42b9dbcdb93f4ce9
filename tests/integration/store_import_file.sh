# store migrate --from file:DIR into a file store (docs/store.md, "Importing a
# station"), so that the import runs without PostgreSQL too
# (store_import.sh does it into PostgreSQL): a station with records at every
# step, software keys, a PFX, a counter and a record whose name is too long
# for a file (hashed) is imported byte for byte, its directory left exactly
# as it was; status reads the same; a rerun imports nothing; a crash
# mid-import and the rerun finish the job; a half-done identity resumes on
# the target; a second station merges, its conflicting record and a
# document whose name cannot be known refused by name; two imports at once.
# The audit chain: re-chained into the target's (audit verify intact, audit
# show has the source's lines), a rerun and a source that went on, a second
# station's chain, a crash mid-audit-import and the rerun (each entry once),
# a broken source refused, a log elsewhere (--audit-log), a station into
# its own store.
. "$TESTS_DIR/lib/common.sh"
. "$TESTS_DIR/lib/station.sh"
import_workdir store_import_file
target() { # target NAME: a file store W/NAME/state, initialised, config W/NAME.json
	mkdir -p "$W/$1" && chmod 700 "$W/$1"
	printf '{ "state_dir": "%s/%s/state", "store": { "type": "file" }, "default_ca": "local:%s" }\n' \
		"$W" "$1" "$CA_DIR" >"$W/$1.json"
	p11e --config "$W/$1.json" store init >/dev/null
}

# --- the source station ---
station "$W/s1"
S1=$W/s1/station.json
station_fill "$W/s1" s1
LONG=$(printf 'l%.0s' $(seq 1 250))@example.com
probe "$S1" get identity s1-done@example.com | jq -c --arg n "$LONG" '.identity = $n | .email = $n' |
	probe "$S1" put identity "$LONG"
printf 'a key in progress' | probe "$S1" put key "$LONG"
check_eq "the long name is hashed in the file store" 2 \
	"$(ls "$W/s1/state/identities" "$W/s1/state/keys" | grep -c '^SHA256-')"
N=$(docs "$S1" | wc -l)
check_eq "the source holds 16 documents (records, keys, a PFX, vault entries)" 16 "$N"
before=$(tree_sum "$W/s1/state")

# --- the import ---
target t
out=$(p11e --config t.json store migrate --from "file:$W/s1/state" 2>&1)
check_eq "store migrate --from: exit 0 ($out)" 0 $?
check_contains "text: the kinds' counts" "$out" "identity               9              0          0"
check_contains "text: the counter" "$out" "counter                1              0          0"
check_eq "every document in the target, byte for byte" "$((N - 2))" "$(same_docs "$S1" t.json)"
check_eq "the hashed record under its own name" "$(probe "$S1" get identity "$LONG")" \
	"$(probe t.json get identity "$LONG")"
check_eq "the hashed key under its own name" "a key in progress" "$(probe t.json get key "$LONG")"
check_eq "the source left as it was" "$before" "$(tree_sum "$W/s1/state")"
check_eq "the counter raised to the source's" "s1-serial 5" "$(probe t.json counters)"
check_eq "... so the target's next value is past it" 6 "$(probe t.json counter s1-serial 1 1)"
check_eq "target documents 0600" "" "$(find "$W/t/state" -type f ! -perm 600 ! -path '*/locks/*')"
status_same "$S1" t.json 9 "on the target"

# --- a rerun imports nothing ---
rerun_imports_nothing t.json "$W/s1/state" "$N"

# --- a crash mid-import, then the rerun ---
target c
P11ENROLL_TEST_CRASH_AFTER=import-3 p11e --config c.json store migrate --from "file:$W/s1/state" \
	>/dev/null 2>&1
check_eq "crash after the third document" 86 $?
check_eq "... three documents in" 3 "$(docs c.json | wc -l)"
out=$(p11e --config c.json --json store migrate --from "file:$W/s1/state" 2>&1)
check_eq "the rerun after the crash: exit 0 ($out)" 0 $?
check_eq "... imports the rest" "$((N + 1 - 3)) 3 0" "$(imported "$out")"
check_eq "... every document, byte for byte" "$((N - 2))" "$(same_docs "$S1" c.json)"

# --- a half-done identity resumes on the target ---
resumed_on t.json s1-key-pending@example.com "resume on the target"

# --- a second station merges; conflicts refused by name ---
second_station "$W/s2" "$S1"
S2=$W/s2/station.json
probe "$S1" get identity s1-issued@example.com | probe "$S2" put identity s1-issued@example.com
ORPHAN=$(printf 'o%.0s' $(seq 1 250))@example.com
printf 'no record names me' | probe "$S2" put pfx "$ORPHAN"
kept=$(probe t.json get identity s1-done@example.com)
p11e --config t.json --json store migrate --from "file:$W/s2/state" >out 2>err
check_eq "merge with conflicts: exit 9" 9 $?
check_eq "a line per conflict, and the summary" 3 "$(wc -l <err)"
check_contains "the conflicting record named" "$(cat err)" \
	"conflict: identity s1-done@example.com: differs from the one in the target"
check_contains "the document without a name named by its file" "$(cat err)" "conflict: pfx SHA256-"
check_eq "the target's record left as it was" "$kept" "$(probe t.json get identity s1-done@example.com)"
check_eq "counts: 15 imported, the same record there, 2 conflicts" "15 1 2" "$(imported "$(cat out)")"
check_eq "every s2 document there" "" \
	"$(docs "$S2" | grep '^[a-z]* s2-' | while read -r k n _; do
		cmp -s <(probe "$S2" get "$k" "$n") <(probe t.json get "$k" "$n") || echo "$k $n"
	done)"
check_eq "both counters" "s1-serial 6,s2-serial 5" "$(probe t.json counters | paste -sd,)"

# --- two imports at once take turns ---
target two
for i in 1 2; do
	p11e --config two.json --json store migrate --from "file:$W/s1/state" >"two$i.out" 2>&1 &
	pids[$i]=$!
done
for i in 1 2; do
	wait "${pids[$i]}"
	check_eq "import $i at once: exit 0 ($(cat "two$i.out"))" 0 $?
done
check_eq "one imported everything, the other found it there" \
	"$((N + 1)) $((N + 1))" \
	"$(($(imported "$(cat two1.out)" | cut -d' ' -f1) + $(imported "$(cat two2.out)" | cut -d' ' -f1))) $(($(imported "$(cat two1.out)" | cut -d' ' -f2) + $(imported "$(cat two2.out)" | cut -d' ' -f2)))"

# --- bad input ---
p11e --config t.json store migrate --from "$W/s1/state" >/dev/null 2>err
check_eq "--from without file: exit 2" 2 $?
check_contains "... naming the option" "$(cat err)" "--from"
p11e --config t.json store migrate --from "file:$W/nowhere" >/dev/null 2>err
check_eq "--from a directory that is not there: exit 10" 10 $?
check_eq "... nothing made" no "$([ -e "$W/nowhere" ] && echo yes || echo no)"
p11e --config t.json store status --from "file:$W/s1/state" >/dev/null 2>&1
check_eq "--from with status: exit 2" 2 $?
# --- the audit chain: re-chained into the target's, never twice ---
shows() { # shows STATION N: N escrow shows at STATION, each an audit entry
	local i
	for i in $(seq 1 "$2"); do
		p11e --config "$W/$1/station.json" escrow show "$1-soft@example.com" \
			--officer-key "$W/$1/officer.key" >/dev/null 2>&1 || echo "show $i failed"
	done
}
audit_n() { p11e --config "$1" --json audit verify | jq -r '"\(.intact) \(.entries)"'; }
kind_n() { jq -r --arg k "$1" '.kinds[] | select(.kind == $k) | "\(.imported) \(.already_there)"' <<<"$2"; }
check_eq "three audited shows at s1" "" "$(shows s1 3)"
check_eq "... s1's chain: 3 entries" "true 3" "$(audit_n "$S1")"
# (t's s1-key-pending resumed there above: exit 9 for that conflict)
out=$(p11e --config t.json --json store migrate --from "file:$W/s1/state" 2>/dev/null)
check_eq "the audit chain imported (the resumed record a conflict: exit 9)" 9 $?
check_eq "... three entries appended" "3 0" "$(kind_n audit "$out")"
check_eq "... the target's chain intact: 3 and the head entry" "true 4" "$(audit_n t.json)"
check_eq "... audit show has the source's lines, whole" "$(cat "$W/s1/state/audit.jsonl")" \
	"$(p11e --config t.json --json audit show | jq -r 'select(.action == "audit-import") | .source_line')"
check_eq "... with their seqs and hashes" "1 2 3 $(tail -1 "$W/s1/state/audit.head" | jq -r .sha256)" \
	"$(p11e --config t.json --json audit show | jq -r 'select(.action == "audit-import") | .source_seq' | paste -sd' ') $(p11e --config t.json --json audit show | jq -r 'select(.action == "audit-import") | .source_sha256' | tail -1)"
check_eq "... the last naming the source's head" "audit-import-head 3 3" \
	"$(p11e --config t.json --json audit show | tail -1 | jq -r '"\(.action) \(.source_entries) \(.source_head_seq)"')"
out=$(p11e --config t.json --json store migrate --from "file:$W/s1/state" 2>/dev/null)
check_eq "rerun: exit 9 (the conflict)" 9 $?
check_eq "... appends nothing" "0 3 true 4" "$(kind_n audit "$out") $(audit_n t.json)"
check_eq "the source goes on: one more show" "" "$(shows s1 1)"
out=$(p11e --config t.json --json store migrate --from "file:$W/s1/state" 2>/dev/null)
check_eq "... a rerun appends that one and a new head entry" "1 3 true 6" \
	"$(kind_n audit "$out") $(audit_n t.json)"
check_eq "s2's chain: one show" "" "$(shows s2 1)"
out=$(p11e --config t.json --json store migrate --from "file:$W/s2/state" 2>/dev/null)
check_eq "a second station's chain follows (its documents' conflicts: exit 9)" "9 1 0" \
	"$? $(kind_n audit "$out")"
check_eq "... one chain in the target" "true 8" "$(audit_n t.json)"

target ac
P11ENROLL_TEST_CRASH_AFTER=audit-2 p11e --config ac.json store migrate --from "file:$W/s1/state" \
	>/dev/null 2>&1
check_eq "crash after the second audit entry appended" "86 true 2" "$? $(audit_n ac.json)"
out=$(p11e --config ac.json --json store migrate --from "file:$W/s1/state" 2>&1)
check_eq "the rerun after the crash: exit 0 ($out)" 0 $?
check_eq "... appends the other two and the head entry" "2 2 true 5" \
	"$(kind_n audit "$out") $(audit_n ac.json)"
check_eq "... each source entry once" "1 2 3 4" \
	"$(p11e --config ac.json --json audit show | jq -r 'select(.action == "audit-import") | .source_entry' | paste -sd' ')"

cp -a "$W/s1" "$W/s3"
sed -i '2s/escrow-show/escrow-sh0w/' "$W/s3/state/audit.jsonl"
target ab
p11e --config ab.json store migrate --from "file:$W/s3/state" >/dev/null 2>err
check_eq "a broken source chain: exit 1" 1 $?
check_contains "... saying so, naming the line" "$(cat err)" "audit chain is broken"
check_contains "... and the line after the edited one" "$(cat err)" "line 3 does not chain"
check_eq "... nothing imported" "0 true 0" "$(docs ab.json | wc -l) $(audit_n ab.json)"

cp -a "$W/s1" "$W/s4"
mkdir -m 700 "$W/s4/elsewhere" && mv "$W/s4/state/audit.jsonl" "$W/s4/elsewhere/audit.jsonl"
jq --arg l "$W/s4/elsewhere/audit.jsonl" '.state_dir = "'"$W"'/s4/state" | .audit_log = $l' \
	"$W/s4/station.json" >"$W/s4/s4.json"
p11e --config "$W/s4/s4.json" audit reset-head >/dev/null 2>&1
check_eq "a station whose audit_log is elsewhere (reset-head there)" "true 5" "$(audit_n "$W/s4/s4.json")"
target al
p11e --config al.json store migrate --from "file:$W/s4/state" >/dev/null 2>err
check_eq "... without --audit-log: exit 10" 10 $?
check_contains "... saying to give it" "$(cat err)" "--audit-log FILE"
out=$(p11e --config al.json --json store migrate --from "file:$W/s4/state" \
	--audit-log "$W/s4/elsewhere/audit.jsonl" 2>&1)
check_eq "... with it: exit 0, five entries" "0 5 0" "$? $(kind_n audit "$out")"
check_eq "... the target's chain" "true 6" "$(audit_n al.json)"
out=$(p11e --config "$S1" --json store migrate --from "file:$W/s1/state" 2>/dev/null)
check_eq "a station's STATE_DIR into its own store: its chain is there, nothing appended" \
	"0 0 4 true 4" "$? $(kind_n audit "$out") $(audit_n "$S1")"
p11e --config al.json store status --audit-log x >/dev/null 2>&1
check_eq "--audit-log without --from: exit 2" 2 $?
finish
