# Bash completion (contrib/bash-completion/p11enroll), driven the way bash
# drives it (COMP_WORDS, COMP_CWORD): verbs and options come from the binary's
# own --help, CA and profile names from the config it is pointed at.
. "$TESTS_DIR/lib/common.sh"
bc=/usr/share/bash-completion/bash_completion
[ -r "$bc" ] || { bad "bash-completion is not installed: scripts/deps.sh --test"; finish; }
# bash_completion reads unset variables and fails commands on purpose.
set +u +o pipefail
. "$bc"
. "$SOURCE_DIR/contrib/bash-completion/p11enroll"
PATH=$(dirname "$P11ENROLL"):$PATH
complete_line() { # complete_line WORD...: the completions for the last word
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_p11enroll p11enroll "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
mkdir -p "$TEST_TMP/etc"
cat >"$TEST_TMP/etc/c.json" <<JSON
{"cas": {"corp": {"type": "local", "dir": "ca"}, "corp-acme": {"type": "local", "dir": "ca2"}},
 "profiles": {"staff": {"base": "smime"}}}
JSON
check_contains "verbs" "$(complete_line p11enroll en)" "enroll "
check_contains "verbs: every one" "$(complete_line p11enroll '')" "audit batch ca config csr"
check_contains "global options" "$(complete_line p11enroll --ver)" "--version"
check_eq "enroll's options" "--email " "$(complete_line p11enroll enroll --ema)"
check_eq "ca names from --config" "corp corp-acme " \
	"$(complete_line p11enroll --config "$TEST_TMP/etc/c.json" enroll --ca co)"
check_eq "ca names from \$P11ENROLL_CONFIG" "corp corp-acme " \
	"$(P11ENROLL_CONFIG=$TEST_TMP/etc/c.json complete_line p11enroll enroll --ca '')"
check_eq "profile names: built-in and the config's" "smime smime-encrypt smime-sign staff " \
	"$(complete_line p11enroll --config "$TEST_TMP/etc/c.json" enroll --profile s)"
check_eq "revocation reasons" "keyCompromise " "$(complete_line p11enroll ca revoke --reason key)"
check_eq "key types" "ec:P-256 ec:P-384 ec:P-521 " "$(complete_line p11enroll enroll --key ec)"
touch "$TEST_TMP/etc/roster.csv"
cd "$TEST_TMP/etc" || exit 1
check_eq "a FILE option completes files" "roster.csv " "$(complete_line p11enroll ca revoke --cert ros)"
check_eq "after the verb, a file" "roster.csv " "$(complete_line p11enroll batch ro)"
finish
