# The audit log cannot be edited or deleted without a trace (finding 21):
# `audit verify` checks the hash chain and names the first bad line (exit 1);
# `escrow show` refuses to append to a broken chain and never recreates a
# deleted log; the escrowed-password fetch of a resumed software enrollment is
# audited; each entry also goes to syslog (a stub /dev/log socket in a private
# mount namespace, root only). No password reaches the log.
. "$TESTS_DIR/lib/common.sh"
setup_ca
W=$TEST_TMP/audit
mkdir -p "$W"
file_vault "$W"
AUDIT=$P11ENROLL_STATE_DIR/audit.jsonl
HEAD=$P11ENROLL_STATE_DIR/audit.head

out=$(p11e audit verify 2>&1)
check_eq "verify without a log: exit 0 ($out)" 0 $?
check_contains "  says there is none" "$out" "no audit log yet"

out=$(p11e enroll --software --email sam@example.com 2>&1)
check_eq "a software identity ($out)" 0 $?
PW=$(escrowed sam@example.com)
show() { p11e escrow show sam@example.com --officer-key "$W/officer.key" 2>&1; }
for _ in 1 2 3; do
	out=$(show)
	check_eq "escrow show" "$PW" "$out"
done
out=$(p11e audit verify 2>&1)
check_eq "verify: exit 0 ($out)" 0 $?
check_contains "  three entries" "$out" "3 chained entries"
json=$(p11e audit verify --json)
check_eq "verify --json: intact" true "$(jq -r .intact <<<"$json")"
check_eq "  entries" 3 "$(jq -r .entries <<<"$json")"
check_eq "seq counts from 1" "1 2 3" "$(jq -r .seq "$AUDIT" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the first prev is zeros" "$(printf '0%.0s' $(seq 64))" "$(head -1 "$AUDIT" | jq -r .prev)"
check_eq "line 2's prev is line 1's SHA-256" \
	"$(head -1 "$AUDIT" | tr -d '\n' | sha256sum | cut -d' ' -f1)" "$(sed -n 2p "$AUDIT" | jq -r .prev)"
check_eq "head file 0600" 600 "$(stat -c %a "$HEAD")"

# An entry edited: verify names the line after it; show refuses; nothing appended.
cp "$AUDIT" "$W/good.jsonl"
sed -i '2s/"outcome":"ok"/"outcome":"usage"/' "$AUDIT"
out=$(p11e audit verify 2>&1)
check_eq "edited: verify exit 1" 1 $?
check_contains "  names line 3" "$out" "line 3"
json=$(p11e audit verify --json 2>/dev/null)
check_eq "  --json: not intact" false "$(jq -r .intact <<<"$json")"
check_eq "  --json: bad_line" 3 "$(jq -r .bad_line <<<"$json")"
before=$(md5sum <"$AUDIT")
out=$(show)
check_eq "edited: escrow show refused" 1 $?
check_not_contains "  no password shown" "$out" "$PW"
check_eq "  log unchanged" "$before" "$(md5sum <"$AUDIT")"
# Entries deleted from the end.
head -1 "$W/good.jsonl" >"$AUDIT"
out=$(p11e audit verify 2>&1)
check_eq "cut at the end: verify exit 1" 1 $?
check_contains "  says entries were removed" "$out" "held 3"
# Deleted whole: never recreated silently.
rm "$AUDIT"
out=$(show)
check_eq "deleted: escrow show refused" 1 $?
check_contains "  says the log is missing" "$out" "missing"
check "  not recreated" test ! -e "$AUDIT"
out=$(p11e audit verify 2>&1)
check_eq "deleted: verify exit 1" 1 $?
cp -p "$W/good.jsonl" "$AUDIT"
out=$(show)
check_eq "restored: show works again" "$PW" "$out"

# An append takes the chain from audit.head while the log is exactly as the
# last append left it (its device, inode, size and change time in "file"),
# and walks the whole log otherwise: an edit in place that keeps the size and
# the inode is still caught, because only the kernel sets the change time.
check_eq "the head records the log file" 5 "$(jq '.file | length' "$HEAD")"
check_eq "  its size" "$(stat -c %s "$AUDIT")" "$(jq '.file[2]' "$HEAD")"
cp -p "$AUDIT" "$W/good.jsonl"
python3 -c '
import sys
f = open(sys.argv[1], "r+b")
lines = f.read().split(b"\n")
lines[1] = lines[1].replace(b"\"outcome\":\"ok\"", b"\"outcome\":\"OK\"")
f.seek(0)
f.write(b"\n".join(lines))
' "$AUDIT"
check_eq "edited in place: same size" "$(stat -c %s "$W/good.jsonl")" "$(stat -c %s "$AUDIT")"
before=$(md5sum <"$AUDIT")
out=$(show)
check_eq "edited in place: escrow show refused" 1 $?
check_contains "  names line 3" "$out" "line 3"
check_eq "  log unchanged" "$before" "$(md5sum <"$AUDIT")"
cp -p "$W/good.jsonl" "$AUDIT"
# A head from before the print (no "file"): the append walks, and works.
jq -c 'del(.file)' "$HEAD" >"$W/head" && cat "$W/head" >"$HEAD"
out=$(show)
check_eq "a head without the print: show works" "$PW" "$out"
check_eq "  the head has the print again" 5 "$(jq '.file | length' "$HEAD")"
check "  chain intact" p11e audit verify

# The head deleted after the log was cut (issue 20, B): `head -n 3 audit.jsonl
# > x; mv x audit.jsonl; rm audit.head` must not make a cut log look intact,
# and no append recreates the head; only `audit reset-head` does, saying what
# it now trusts, in an audited entry of its own.
cp -p "$AUDIT" "$W/before-cut.jsonl"
head -n 3 "$AUDIT" >"$W/x" && mv "$W/x" "$AUDIT" && chmod 600 "$AUDIT"
rm "$HEAD"
out=$(p11e audit verify 2>&1)
check_eq "head deleted: verify exit 1 ($out)" 1 $?
check_contains "  says the head is missing" "$out" "$HEAD is missing"
check_contains "  names the fix" "$out" "p11enroll audit reset-head"
check_eq "  --json: not intact" false "$(p11e audit verify --json 2>/dev/null | jq -r .intact)"
before=$(md5sum <"$AUDIT")
out=$(show)
check_eq "head deleted: escrow show refused" 1 $?
check_not_contains "  no password shown" "$out" "$PW"
check_contains "  names the fix" "$out" "reset-head"
check_eq "  log unchanged" "$before" "$(md5sum <"$AUDIT")"
check "  head not recreated" test ! -e "$HEAD"
last=$(tail -n 1 "$AUDIT" | tr -d '\n' | sha256sum | cut -d' ' -f1)
out=$(p11e audit reset-head 2>&1)
check_eq "reset-head: exit 0 ($out)" 0 $?
check_contains "  says what the head was" "$out" "it was missing"
check_contains "  names the entries it trusts" "$out" "3 chained entries in 3 lines"
check_contains "  and the last hash" "$out" "sha256 $last"
entry=$(tail -n 1 "$AUDIT")
check_eq "  audited: who, what it trusts" "audit-reset-head 4 $(id -un) 3 $last missing ok" \
	"$(jq -r '"\(.action) \(.seq) \(.user) \(.trusted_entries) \(.trusted_sha256) \(.previous_head) \(.outcome)"' <<<"$entry")"
out=$(p11e audit verify 2>&1)
check_eq "  verify: intact again ($out)" 0 $?
check_contains "  4 entries" "$out" "4 chained entries"
out=$(p11e audit reset-head 2>&1)
check_eq "reset-head again: exit 0" 0 $?
check_contains "  nothing to reset" "$out" "nothing reset"
check_eq "  nothing appended" 4 "$(wc -l <"$AUDIT")"
out=$(show)
check_eq "after the reset: show works" "$PW" "$out"
# A broken chain is not something a head can vouch for.
cp -p "$AUDIT" "$W/reset.jsonl"
sed -i '2s/"outcome":"ok"/"outcome":"usage"/' "$AUDIT"
rm "$HEAD"
out=$(p11e audit reset-head 2>&1)
check_eq "reset-head on an edited log: exit 1" 1 $?
check_contains "  names the bad line" "$out" "line 3"
check "  head not written" test ! -e "$HEAD"
cp -p "$W/reset.jsonl" "$AUDIT"
p11e audit reset-head >/dev/null 2>&1
check "  restored and reset: intact" p11e audit verify

# A resumed software enrollment fetches the escrowed password: audited.
if [ "${TEST_HOOKS:-0}" = 1 ]; then
	P11ENROLL_TEST_CRASH_AFTER=key-deleted p11e enroll --software --email rita@example.com \
		>/dev/null 2>&1
	check_eq "crash after key-deleted" 86 $?
	out=$(p11e enroll --software --email rita@example.com --officer-key "$W/officer.key" 2>&1)
	check_eq "resumed with --officer-key ($out)" 0 $?
	check_eq "the fetch is audited" "escrow-fetch rita@example.com ok" \
		"$(jq -r 'select(.action == "escrow-fetch") | "\(.action) \(.identity) \(.outcome)"' "$AUDIT")"
	check "  chain intact" p11e audit verify
fi
check_eq "no password in the log" 0 "$(grep -cF "$PW" "$AUDIT")"

# audit head: the chain's end as the head vouches for it, to pin elsewhere;
# audit show: the entries, filtered, as a table or the stored lines.
n=$(wc -l <"$AUDIT")
last=$(tail -n 1 "$AUDIT" | tr -d '\n' | sha256sum | cut -d' ' -f1)
out=$(p11e audit head 2>&1)
check_eq "head: exit 0 ($out)" 0 $?
check_contains "  seq and sha256" "$out" "head at entry $n, sha256 $last"
check_eq "head --json" "$n $last" "$(p11e audit head --json | jq -r '"\(.seq) \(.sha256)"')"
out=$(p11e audit show 2>&1)
check_eq "show: exit 0" 0 $?
check_eq "  a header and a line per entry" $((n + 1)) "$(wc -l <<<"$out")"
check_contains "  the columns" "$(head -1 <<<"$out")" "SEQ    TIME"
check_eq "show --json: the stored lines" "$(cat "$AUDIT")" "$(p11e audit show --json)"
check_eq "show --identity (any case)" "$(grep -c '"identity":"sam@example.com"' "$AUDIT")" \
	"$(p11e audit show --json --identity SAM@example.com | wc -l)"
check_eq "show --since tomorrow: nothing" "" "$(p11e audit show --json --since "$(date -u -d tomorrow +%F)")"
check_eq "show --since an hour ago, with an offset: all" "$n" \
	"$(p11e audit show --json --since "$(date -d '1 hour ago' +%FT%H:%M%:z)" | wc -l)"
p11e audit show --since 22/11/2026 >/dev/null 2>&1
check_eq "show --since not a date: exit 2" 2 $?
p11e audit verify --identity sam@example.com >/dev/null 2>&1
check_eq "--identity is for show: exit 2" 2 $?
cp -p "$AUDIT" "$W/shown.jsonl"
sed -i '2s/"outcome":"ok"/"outcome":"usage"/' "$AUDIT"
out=$(p11e audit show --json 2>&1)
check_eq "show on an edited log: exit 1" 1 $?
check_contains "  names the bad line" "$out" "line 3"
check_eq "  shows the entries before it only" 2 "$(grep -c '^{"seq"' <<<"$out")"
cp -p "$W/shown.jsonl" "$AUDIT"
head -n $((n - 1)) "$W/shown.jsonl" >"$AUDIT"
p11e audit head >/dev/null 2>&1
check_eq "head on a log cut at its end: exit 1" 1 $?
cp -p "$W/shown.jsonl" "$AUDIT"
check "  restored: head works" p11e audit head

# syslog: a stub /dev/log (a Unix datagram socket, read by python3) in a private
# mount namespace whose /dev is a small tmpfs with the few device nodes bound in.
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	D=$TEST_TMP/devlog
	mkdir -p "$D"
	unshare -m bash -c '
		set -e
		D=$1; shift
		mount --make-rprivate /
		mount -t tmpfs -o mode=755 tmpfs "$D"
		mkdir "$D/dev"
		for n in null zero random urandom; do
			touch "$D/dev/$n" && mount --bind "/dev/$n" "$D/dev/$n"
		done
		python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1] + \"/dev/log\")
s.settimeout(120)
open(sys.argv[1] + \"/ready\", \"w\").close()
open(sys.argv[1] + \"/got\", \"wb\").write(s.recv(65536))
" "$D" &
		for _ in $(seq 1200); do [ -e "$D/ready" ] && break; sleep 0.1; done
		mount --rbind "$D/dev" /dev
		"$@" >/dev/null 2>&1 || true
		wait
		cp "$D/got" "$D/../syslog.got"
	' _ "$D" "$P11ENROLL" escrow show sam@example.com --officer-key "$W/officer.key"
	got=$(cat "$TEST_TMP/syslog.got" 2>/dev/null)
	check_contains "syslog got the entry" "$got" '"action":"escrow-show"'
	# <85> is LOG_AUTHPRIV (10 << 3) | LOG_NOTICE (5).
	check_contains "  as authpriv.notice" "$got" "<85>"
	check_not_contains "  without the password" "$got" "$PW"
fi
finish
