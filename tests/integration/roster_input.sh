# Rosters as people write them: an HR export with extra columns, Excel's
# byte-order mark, broken quoting. Each bad file is one line and exit 2 (never
# a crash: "email,department" was a double free, exit 134), and nothing is
# enrolled from it.
. "$TESTS_DIR/lib/common.sh"
setup_ca

# out: what it printed (with --json: stdout only, the JSON report).
run_batch() {
	out=$(p11e batch "$1" --token "$TEST_TOKEN_URI" --ca "local:$CA_DIR" --pin-source "$PIN_SRC" \
		"${@:2}" 2>"$TEST_TMP/stderr")
	rc=$?
	[[ " $* " == *" --json "* ]] || out=$(cat "$TEST_TMP/stderr")
}

printf 'email,department\nx@example.com,X\n' >"$TEST_TMP/dept.csv"
run_batch "$TEST_TMP/dept.csv"
check_eq "unknown second column: usage, not a crash ($out)" 2 "$rc"
check_contains "the column named" "$out" "line 1: unknown column 'department'"
check_contains "the way out named" "$out" "--allow-extra-columns"
check_eq "one line" 1 "$(printf '%s\n' "$out" | wc -l)"
printf 'email,nmae\nx@example.com,X\n' >"$TEST_TMP/typo.csv"
run_batch "$TEST_TMP/typo.csv"
check_eq "misspelt column: usage ($out)" 2 "$rc"
check_contains "the typo named" "$out" "'nmae'"
check_eq "nothing enrolled from refused rosters" "" "$(ls "$P11ENROLL_STATE_DIR/identities" 2>/dev/null)"

# The HR export goes through with --allow-extra-columns; Excel's BOM and CRLF too.
printf '\xef\xbb\xbfDepartment,email,name,Cost centre\r\nIT,ann@example.com,Ann Example,42\r\n' \
	>"$TEST_TMP/hr.csv"
run_batch "$TEST_TMP/hr.csv" --allow-extra-columns --json
check_eq "extra columns allowed: exit 0 ($out)" 0 "$rc"
check_eq "ann enrolled" done "$(record ann@example.com | jq -r .step)"
printf '\xef\xbb\xbfemail,name\r\nbo@example.com,Bo\r\n' >"$TEST_TMP/bom.csv"
run_batch "$TEST_TMP/bom.csv" --json
check_eq "byte-order mark: exit 0 ($out)" 0 "$rc"
check_eq "bo enrolled" done "$(record bo@example.com | jq -r .step)"

printf 'email,name\ncy@example.com,Cy\ndee@example.com,"Dee\n' >"$TEST_TMP/quote.csv"
run_batch "$TEST_TMP/quote.csv"
check_eq "unterminated quote: usage ($out)" 2 "$rc"
check_contains "line and problem named" "$out" "line 3: unterminated quote in field 2"
check_eq "cy not enrolled from a broken file" "" "$(record cy@example.com 2>/dev/null | jq -r .step 2>/dev/null)"

printf '%s\n' '{"email":"eve@example.com","department":"IT"}' >"$TEST_TMP/extra.jsonl"
run_batch "$TEST_TMP/extra.jsonl" --json
check_eq "jsonl unknown key: the row fails ($out)" 1 "$rc"
check_eq "the key named, the line given" "1 unknown key 'department'" \
	"$(jq -r 'select(.rows) | .rows[0] | "\(.line) \(.error)"' <<<"$out" | cut -d' ' -f1-4)"
run_batch "$TEST_TMP/extra.jsonl" --json --allow-extra-columns
check_eq "jsonl extra key allowed: exit 0 ($out)" 0 "$rc"
finish
