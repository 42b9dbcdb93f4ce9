# Bash completion (contrib/bash-completion/p11enroll), driven the way bash
# drives it (COMP_WORDS, COMP_CWORD): verbs, actions (ca init, pin status...)
# and options come from the binary's own --help, CA and profile names from the
# config it is pointed at.
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
	[ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
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
check_eq "profile names: built-in and the config's" "smartcard-logon smime smime-encrypt smime-sign staff " \
	"$(complete_line p11enroll --config "$TEST_TMP/etc/c.json" enroll --profile s)"
check_eq "revocation reasons" "keyCompromise " "$(complete_line p11enroll ca revoke --reason key)"
check_eq "export formats" "p7b pem pfx " "$(complete_line p11enroll export x --format p)"
check_eq "key types" "ec:P-256 ec:P-384 ec:P-521 " "$(complete_line p11enroll enroll --key ec)"
# Second-level verbs (actions), from the command table through --help.
check_eq "ca <TAB>: its actions, not files" "cert crl init revoke " "$(complete_line p11enroll ca '')"
check_eq "ca r<TAB>" "revoke " "$(complete_line p11enroll ca r)"
check_eq "escrow <TAB>" "list officer-init show " "$(complete_line p11enroll escrow '')"
check_eq "audit <TAB>" "head reset-head show verify " "$(complete_line p11enroll audit '')"
check_eq "store <TAB>" "init migrate status " "$(complete_line p11enroll store '')"
check_eq "store migrate --fr<TAB>" "--from " "$(complete_line p11enroll store migrate --fr)"
check_eq "config <TAB>" "cas check profiles " "$(complete_line p11enroll config '')"
check_eq "pin <TAB>" "change status unblock " "$(complete_line p11enroll pin '')"
check_eq "after global options, ca <TAB>" "cert crl init revoke " \
	"$(complete_line p11enroll --config "$TEST_TMP/etc/c.json" ca '')"
check_eq "after an option and its value, still the action" "cert crl init revoke " \
	"$(complete_line p11enroll ca --days 30 '')"
check_eq "after the action: nothing to guess (a URI)" "" "$(complete_line p11enroll pin status '')"
check_eq "an action's options" "--days --dir " "$(complete_line p11enroll ca init --d)"
check_eq "after an action and an option value, options again" "--key --key-uri " \
	"$(complete_line p11enroll ca init --dir x --ke)"
# Every action the table lists is offered: read from each command's --help.
for verb in $("$P11ENROLL" --help | awk '/^Commands:/ { f = 1; next } /^$/ { f = 0 } f { print $1 }'); do
	acts=$("$P11ENROLL" "$verb" --help | awk '/^Actions:/ { $1 = ""; print }' | tr ' ' '\n' | sort | tr '\n' ' ')
	[ -n "${acts// /}" ] || continue
	check_eq "$verb <TAB>: every action" "${acts# }" "$(complete_line p11enroll "$verb" '')"
done
check_contains "actions are in the table: a word not among them is a usage error" \
	"$("$P11ENROLL" ca nosuch 2>&1; echo "exit $?")" "unknown action 'nosuch' (init, cert, revoke or crl)"
check_contains "... before the config is read" \
	"$("$P11ENROLL" --config /nonexistent pin nosuch 2>&1; echo "exit $?")" "exit 2"
touch "$TEST_TMP/etc/roster.csv"
cd "$TEST_TMP/etc" || exit 1
check_eq "a FILE option completes files" "roster.csv " "$(complete_line p11enroll ca revoke --cert ros)"
check_eq "after the verb, a file" "roster.csv " "$(complete_line p11enroll batch ro)"
finish
