# No core dumps (finding 17): a crash must not leave a PIN, a PFX password or a
# private key in a core file. p11enroll is started with `ulimit -c unlimited`
# and kept waiting on a config file that is a FIFO; meanwhile its
# /proc/PID/limits must show a core size of 0 (soft and hard), and, run as
# another user (nobody), its /proc/PID files must belong to root: what the
# kernel does for a process that is not dumpable (PR_SET_DUMPABLE 0), which
# also keeps other processes of that user from ptrace or /proc/PID/mem.
. "$TESTS_DIR/lib/common.sh"
if [ "$(id -u)" != 0 ]; then
	echo "skipped: needs root to run p11enroll as another user"
	exit 0
fi
D=$(mktemp -d)
chmod 755 "$D"
mkfifo -m 666 "$D/config.json"
# A copy nobody can run: the build tree may be under a private directory
# (CI clones into /root inside its fresh root).
cp "$P11ENROLL" "$D/p11enroll"
chmod 755 "$D/p11enroll"
(
	ulimit -c unlimited
	exec setpriv --reuid=65534 --regid=65534 --clear-groups -- \
		env P11ENROLL_CONFIG="$D/config.json" HOME="$D" "$D/p11enroll" status
) >"$D/out" 2>&1 &
pid=$!
# Blocked opening the FIFO means main has long passed its first line. Generous:
# an ASan build on a loaded machine starts slowly.
blocked=0
for _ in $(seq 1200); do
	case "$(cat "/proc/$pid/wchan" 2>/dev/null)" in *fifo* | *partner*) blocked=1 && break ;; esac
	kill -0 "$pid" 2>/dev/null || break # it ended: its output says why
	sleep 0.1
done
check_eq "p11enroll waits on the FIFO ($(cat "$D/out"))" 1 "$blocked"
limits=$(grep "Max core file size" "/proc/$pid/limits")
check_eq "RLIMIT_CORE soft 0 ($limits)" 0 "$(echo "$limits" | awk '{print $5}')"
check_eq "RLIMIT_CORE hard 0 ($limits)" 0 "$(echo "$limits" | awk '{print $6}')"
check_eq "not dumpable: /proc/PID owned by root" 0 "$(stat -c %u "/proc/$pid/environ")"
# Never blocks the test: with no reader left, the write gives up.
timeout 60 sh -c "echo '{}' >'$D/config.json'"
wait "$pid"
check_eq "it goes on and works once the config comes ($(cat "$D/out"))" 0 $?
rm -rf "$D"
finish
