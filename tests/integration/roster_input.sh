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
check_eq "nothing enrolled from refused rosters" "" "$(record_names)"

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

# A 10 MB roster line is not echoed whole (issue 20, C): the row's address is
# shown capped, in the text and in --json's report.
python3 -c 'print("email\n" + "a" * (10 << 20) + "@example.com")' >"$TEST_TMP/huge.csv"
run_batch "$TEST_TMP/huge.csv"
check_eq "10 MB line: the row fails (exit 1)" 1 "$rc"
line=$(grep '^line 2 ' <<<"$out")
check "10 MB line: its error line is short (${#line} characters)" test "${#line}" -lt 600
check_contains "10 MB line: says how long the field was" "$line" "...(10485772 bytes)"
check "10 MB line: nothing longer anywhere on stderr" \
	test "$(wc -L <"$TEST_TMP/stderr")" -lt 600
run_batch "$TEST_TMP/huge.csv" --json
check "10 MB line: --json's email capped too" \
	test "$(jq -r '.rows[0].email | length' <<<"$out")" -lt 200

# A big roster: the first row's address again on the last line (in other
# case) is still found. No token: every other row fails at once.
python3 -c '
n = 50000
print("email")
for i in range(n):
    print("big%d@example.com" % i)
print("BIG0@Example.com")' >"$TEST_TMP/big.csv"
p11e batch "$TEST_TMP/big.csv" --ca "local:$CA_DIR" >/dev/null 2>"$TEST_TMP/big.err"
check_eq "big roster: rows fail (no token), exit 1" 1 $?
check_contains "big roster: the last row repeats the first" \
	"$(grep '^line 50002 ' "$TEST_TMP/big.err")" \
	"line 50002 (BIG0@Example.com): email: BIG0@Example.com is already on line 2 of the roster"
check_eq "big roster: no other row is a repeat" 1 "$(grep -c 'is already on line' "$TEST_TMP/big.err")"
finish
