# docs/p11enroll.1 as man(1) shows it: no roff warnings (groff -ww, mandoc's
# lint at warning level), every command of `p11enroll --help` and every
# action of `p11enroll VERB --help` with a paragraph of its own (a tag line at
# the paragraph indent: a missing .TP runs a command into the one before), and
# no word glued to an option (".BR \-\-json \ (before \-\-version )" rendered
# "before--version").
. "$TESTS_DIR/lib/common.sh"
page=$SOURCE_DIR/docs/p11enroll.1
for tool in mandoc groff man col; do
	command -v $tool >/dev/null || { bad "$tool is not installed: scripts/deps.sh --test"; finish; }
done
check_eq "groff -man -ww: no warnings" "" "$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>&1)"
check_eq "mandoc -T lint -W warning: nothing" "" "$(mandoc -T lint -W warning "$page" 2>&1)"
text=$(MANWIDTH=80 MAN_KEEP_FORMATTING= man -l "$page" 2>/dev/null | col -b)
check "man -l renders it" test -n "$text"
# A paragraph's tag: the 7-column indent of .TP, the command first.
tags=$(grep -E '^       [a-z-]' <<<"$text")
for verb in $("$P11ENROLL" --help | awk '/^Commands:/ { f = 1; next } /^$/ { f = 0 } f { print $1 }'); do
	check "'$verb' has a paragraph of its own" grep -qE "^       $verb( |$)" <<<"$tags"
	for act in $("$P11ENROLL" "$verb" --help | awk '/^Actions:/ { $1 = ""; print }'); do
		check "'$verb $act' has a paragraph" grep -qE "^       $verb .*\\b$act\\b" <<<"$tags"
	done
done
glued=$(grep -nE '[[:alpha:]]--[[:alpha:]]' <<<"$text")
check_eq "no word glued to an option" "" "$glued"
finish
