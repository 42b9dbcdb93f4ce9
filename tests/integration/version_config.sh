# --version (text and JSON: our version, the git revision, the libraries it
# runs with) and the config verb (check, cas, profiles), with the example
# config that is installed (contrib/config.example.json) checked valid and
# kept the same as the one docs/config.md explains.
. "$TESTS_DIR/lib/common.sh"
out=$(p11e --version)
check_eq "--version: exit 0" 0 $?
check_contains "--version: our name and version" "$(head -1 <<<"$out")" "p11enroll 0."
check_contains "--version: OpenSSL it runs with" "$out" "OpenSSL 3."
check_contains "--version: json-c" "$out" "json-c 0."
check_contains "--version: libp11 built with" "$out" "libp11 0.4"
j=$(p11e --json --version)
check_eq "--json --version: exit 0" 0 $?
check_eq "version in JSON" "$(p11e --version | head -1 | cut -d' ' -f2)" "$(jq -r .version <<<"$j")"
check_contains "libcurl in JSON" "$(jq -r '.libraries.libcurl' <<<"$j")" "libcurl/"
if git -C "$SOURCE_DIR" rev-parse HEAD >/dev/null 2>&1; then
	check_contains "the git revision it was built from" \
		"$(jq -r .git_revision <<<"$j")" "$(git -C "$SOURCE_DIR" rev-parse --short=12 HEAD)"
fi

example=$SOURCE_DIR/contrib/config.example.json
out=$(p11e --config "$example" config check 2>&1)
check_eq "the installed example config is valid ($out)" 0 $?
check_contains "config check names the file" "$out" "config.example.json: valid"
sed -n '/^```json$/,/^```$/p' "$SOURCE_DIR/docs/config.md" | sed '1d;$d' >"$TEST_TMP/doc.json"
check_eq "the example is the one docs/config.md explains" "$(jq -S . "$TEST_TMP/doc.json")" \
	"$(jq -S . "$example")"
check_eq "config cas" "corp" "$(p11e --config "$example" config cas)"
check_eq "config profiles: built-in, then the config's" \
	"smime smime-sign smime-encrypt client-auth tls-server smartcard-logon kdc staff signing" \
	"$(p11e --config "$example" --json config profiles | jq -r 'join(" ")')"
echo '{"cas": {"c": {"type": "local", "dir": "x", "dri": "y"}}}' >"$TEST_TMP/bad.json"
out=$(p11e --config "$TEST_TMP/bad.json" config check 2>&1)
check_eq "config check of a bad config: exit 8" 8 $?
check_contains "names the key" "$out" "cas.c.dri"
out=$(p11e config frob 2>&1)
check_eq "config frob: exit 2" 2 $?
finish
